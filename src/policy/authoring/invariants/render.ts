/** `policy check`'s report as text: one line per invariant, then each counterexample. */
import type { CheckReport } from './check.js';
import type { Counterexample, ShownStep, ShownUser } from './counterexample.js';

/** The report as lines for a terminal; `ms` is the time the check took. */
export function renderCheck(r: CheckReport, ms: number): string {
  const lines: string[] = [];
  const broken = r.invariants.filter((i) => !i.holds).length;
  lines.push(
    `${r.invariantsFile}: ${r.invariants.length - broken} of ${r.invariants.length} invariants hold ` +
      `(${r.users} users, roles ${r.roles.join(', ')})`,
  );
  for (const inv of r.invariants) {
    lines.push(`  ${inv.holds ? 'ok  ' : 'FAIL'}  ${inv.id}`);
    if (inv.counterexample !== null) lines.push(...renderCounterexample(inv.counterexample));
  }
  lines.push(renderExplored(r, ms));
  return `${lines.join('\n')}\n`;
}

/** `explored S states from N start states (R allowed requests, D distinct decisions) in T s`. */
export function renderExplored(
  r: Pick<CheckReport, 'states' | 'starts' | 'requests' | 'decided'>,
  ms: number,
): string {
  return (
    `explored ${r.states} states from ${r.starts} start state${r.starts === 1 ? '' : 's'} ` +
    `(${r.requests} allowed requests, ${r.decided} distinct decisions) in ${(ms / 1000).toFixed(2)} s`
  );
}

/** A counterexample's lines, indented under its invariant's `FAIL` line. */
export function renderCounterexample(c: Counterexample): string[] {
  const lines = [`        start: ${c.start.map(userText).join(', ')}`];
  c.steps.forEach((s, i) => lines.push(`        ${i + 1}. ${stepText(s)}`));
  if (c.violation === 'users')
    lines.push(`        breaks it: ${c.broken.map(userText).join(', ')}`);
  if (c.violation === 'count') lines.push(`        breaks it: ${c.end.map(userText).join(', ')}`);
  if (c.violation === 'request') lines.push(`        breaks it: request ${c.steps.length}`);
  return lines;
}

function userText(u: ShownUser): string {
  return `${u.id} [${u.roles.join(', ')}]`;
}

/** `u1 [admin] users:update u2 [user] -> [admin, user] (allowed by admins-manage-users)`. */
export function stepText(s: ShownStep): string {
  const by = userText(s.by);
  const allowed = `(allowed by ${s.policies.join(', ') || 'nothing'})`;
  const roles = `[${(s.roles ?? []).join(', ')}]`;
  switch (s.action) {
    case 'users:create':
      return `${by} users:create ${s.created ?? ''} ${roles} ${allowed}`;
    case 'users:delete':
      return `${by} users:delete ${userText(s.on as ShownUser)} ${allowed}`;
    case 'users:update': {
      const renames = s.renames.length === 0 ? '' : ` with ${s.renames.join(', ')}`;
      return `${by} users:update ${userText(s.on as ShownUser)} -> ${roles}${renames} ${allowed}`;
    }
  }
}
