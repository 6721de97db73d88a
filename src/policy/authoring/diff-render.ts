/** `policy diff`'s report as text for a person. */
import type { ChangeClass, DecisionSummary, DiffReport } from './diff.js';
import type { SchemaDifference } from './schema-diff.js';

/** Effects of a one-sided role shown in the text report. */
const EFFECTS_SHOWN = 8;

/**
 * The report's parts, each as the text tells it: the CLI joins them (renderDiff), the playground
 * lays them out (each schema difference, each class with its example), so both read the same.
 */
export interface DiffSections {
  /** `policy diff BASE → CANDIDATE: N requests (M representatives) decided … (exhaustive)`. */
  head: string;
  /** Each schema difference's lines: what differs, the requests kept apart with an example. */
  schema: string[][];
  /** How many requests both APIs accept change, in how many classes (or that none does). */
  changed: string;
  /** Each class's lines: summary, count, facts, before, after, and last its example. */
  classes: string[][];
  notes: string[];
}

/** The report's sections, as {@link renderDiff} prints them. */
export function diffSections(r: DiffReport): DiffSections {
  const both = r.oneSided === 0 ? '' : ` of the ${r.requests - r.oneSided} both APIs accept`;
  const n = r.classes.length;
  return {
    head: headOf(r),
    schema: r.schema.map(schemaLines),
    changed:
      n === 0
        ? `no request${both} changes its decision`
        : `${r.changed} request${plural(r.changed)}${both} change, in ${n} class${n === 1 ? '' : 'es'}:`,
    classes: r.classes.map((c, i) => classLines(c, i + 1)),
    notes: r.notes,
  };
}

/** The report as text for a person. */
export function renderDiff(r: DiffReport): string {
  const s = diffSections(r);
  const lines = [s.head];
  if (s.schema.length > 0) lines.push('', 'the schemas differ:', ...s.schema.flat(), '');
  lines.push(s.changed);
  for (const c of s.classes) lines.push('', ...c);
  if (s.notes.length > 0) lines.push('', 'notes:', ...s.notes.map((n) => `  - ${n}`));
  return lines.join('\n') + '\n';
}

function headOf(r: DiffReport): string {
  const seconds = (r.ms / 1000).toFixed(1);
  return (
    `policy diff ${r.base} → ${r.candidate}: ${r.requests} requests` +
    (r.decided === r.requests ? '' : ` (${r.decided} representatives)`) +
    ` decided by both sets in ${seconds} s` +
    (!r.exhaustive
      ? ' (NOT exhaustive)'
      : r.expanded
        ? ' (exhaustive)'
        : ' (exhaustive up to role symmetry)')
  );
}

/** One schema difference; for a one-sided role, the requests it keeps apart and its effects. */
function schemaLines(d: SchemaDifference): string[] {
  const lines = [`  - ${d.text}`];
  if (d.role === undefined) return lines;
  const side = d.kind === 'role-added' ? 'candidate' : 'base';
  lines.push(
    `    ${d.requests} request${plural(d.requests)} only the ${side}'s API accepts, kept out of the classes` +
      (d.example === null ? '' : `; e.g. ${JSON.stringify(d.example)}`),
  );
  const changes = d.effects.reduce((n, g) => n + g.count, 0);
  const role = `\`${d.role}\``;
  if (changes === 0)
    return [...lines, `    carrying ${role} changes none of the ${side}'s answers`];
  lines.push(
    `    carrying ${role} changes the ${side}'s answer for ${changes} of them (against the same request without it):`,
  );
  const effects = [...d.effects].sort((x, y) => y.count - x.count);
  for (const g of effects.slice(0, EFFECTS_SHOWN)) {
    const by = (a: (typeof g)['with']) =>
      `${a.decision} by ${a.policies.length === 0 ? '(no policy permits)' : a.policies.join(', ')}`;
    lines.push(
      `      ${g.action}: ${by(g.with)}, without it ${by(g.without)}: ${g.count}; e.g. ${JSON.stringify(g.example)}`,
    );
  }
  if (effects.length > EFFECTS_SHOWN)
    lines.push(`      and ${effects.length - EFFECTS_SHOWN} more (--json lists them)`);
  return lines;
}

function classLines(c: ChangeClass, n: number): string[] {
  const list = (xs: string[]) => (xs.length === 0 ? 'any' : xs.join('; '));
  return [
    `${n}. ${c.summary}`,
    `   ${c.count} request${plural(c.count)}` +
      (c.matching === c.count
        ? ', exactly the requests this description covers'
        : `, ${c.count} of the ${c.matching} this description covers`),
    `   principal: ${list(c.description.principal)}`,
    `   resource:  ${list(c.description.resource)}`,
    `   context:   ${list(c.description.context)}`,
    `   before:    ${sideText(c.before)}`,
    `   after:     ${sideText(c.after)}`,
    `   example:   ${JSON.stringify(c.example)}`,
  ];
}

const plural = (n: number) => (n === 1 ? '' : 's');

function sideText(s: DecisionSummary): string {
  const policies = s.policies.length === 0 ? '(no policy permits)' : s.policies.join(', ');
  const notices =
    s.notices.length === 0 ? '' : ` — ${s.notices.map((n) => JSON.stringify(n)).join(' ')}`;
  const errors = s.errors === undefined ? '' : ` [errors: ${s.errors.join('; ')}]`;
  return `${s.decision} by ${policies}${notices}${errors}`;
}
