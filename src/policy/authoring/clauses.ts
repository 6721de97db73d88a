/**
 * Which clause of each policy held on one request: its scope, then each `when`/`unless` in
 * Cedar's order, up to the first that stopped it, each placed at `file:line`. What `policy
 * explain` tells of a default deny (the permits whose scope matched, and the condition that was
 * false) and what `policy test --coverage` counts (conditions seen true and false). Evaluated by
 * the atom analysis (atoms.ts), not by Cedar, which names only the policies that determined a
 * decision; a policy that analysis cannot read is named with the reason.
 */
import { join } from 'node:path';
import { policyTreesOf } from '../cedar-adapter.js';
import type { EstValue, Expr } from '../est.js';
import type { PolicyInfo } from '../policy-set.js';
import { actionGroupsOf } from '../schema-json.js';
import { conditionLinesOf } from '../text-scanners.js';
import type { AuthzRequest, ParsedSchema } from '../types.js';
import { compileClauses, type ClauseValues } from './atom-clauses.js';

/** What tracing needs of a loaded set. */
export interface TracedSet {
  policies: readonly PolicyInfo[];
  texts: Readonly<Record<string, string>>;
  schema: ParsedSchema;
}

/** One `when` or `unless` of a policy. */
export interface ClauseTrace {
  kind: 'when' | 'unless';
  /** `file:line`, the file joined to the policy directory. */
  location: string;
  /**
   * The clause on this request: `held` (a `when` true, an `unless` false), `failed` (it stopped
   * the policy), `unreached` (an earlier clause stopped it: Cedar never evaluates it) or
   * `unknown` (Cedar errs on it, or the analysis cannot tell).
   */
  outcome: 'held' | 'failed' | 'unreached' | 'unknown';
  /** Its atoms in Cedar's syntax, each with its value where Cedar's short-circuits reached it. */
  atoms: { text: string; value: boolean | null | undefined }[];
}

/** One policy on one request. */
export interface PolicyTrace {
  id: string;
  effect: 'permit' | 'forbid';
  location: string;
  /** Whether principal, action and resource scope matched; null when it cannot be told. */
  scope: boolean | null;
  /** Empty when the scope did not match (Cedar reads no condition then). */
  clauses: ClauseTrace[];
}

/** An analysed policy's clauses and their atoms, before any request. */
export interface PolicyShape {
  id: string;
  effect: 'permit' | 'forbid';
  location: string;
  clauses: { kind: 'when' | 'unless'; location: string; atoms: string[] }[];
}

/** Traces requests under one set. */
export interface ClauseTracer {
  /** Per policy the analysis cannot read, why (`policy P uses ...`). */
  unanalysed: ReadonlyMap<string, string>;
  /** Every analysed policy, in the set's (file, line) order. */
  shapes: readonly PolicyShape[];
  /** Every analysed policy on `request`, in the set's (file, line) order. */
  trace(request: AuthzRequest): PolicyTrace[];
}

/** Compiles `set` (policies of directory `dir`) for tracing. */
export function clauseTracerOf(dir: string, set: TracedSet): ClauseTracer {
  const trees = policyTreesOf(set.texts);
  const groups = actionGroupsOf(set.schema.json);
  const evaluators = compileClauses(trees, set.schema, groups);
  const unanalysed = new Map<string, string>();
  const kindsOf = new Map(
    Object.entries(trees).map(([id, est]) => [id, est.conditions.map((c) => c.kind)]),
  );
  const analysed = [...set.policies]
    .sort((a, b) => (a.file !== b.file ? (a.file < b.file ? -1 : 1) : a.line - b.line))
    .flatMap((p) => {
      const e = evaluators[p.id];
      if (e === undefined) return [];
      if (!e.ok) {
        unanalysed.set(p.id, `policy ${p.id} ${e.reason}`);
        return [];
      }
      const at = (line: number) => `${join(dir, p.file)}:${line}`;
      const lines = conditionLinesOf(set.texts[p.id] ?? '').map((l) => at(p.line + l));
      const atoms = e.atoms.map((list) => list.map(textOf));
      const shape: PolicyShape = {
        id: p.id,
        effect: p.effect,
        location: at(p.line),
        clauses: atoms.map((texts, i) => ({
          kind: kindsOf.get(p.id)?.[i] ?? 'when',
          location: lines[i] ?? at(p.line),
          atoms: texts,
        })),
      };
      return [{ p, evaluate: e.evaluate, at, atoms, lines, shape }];
    });
  return {
    unanalysed,
    shapes: analysed.map((a) => a.shape),
    trace: (request) => analysed.map((a) => tracePolicy(a, kindsOf.get(a.p.id) ?? [], request)),
  };
}

/** A policy of the tracer, with what its trace needs. */
interface Analysed {
  p: PolicyInfo;
  evaluate: (request: AuthzRequest) => ClauseValues;
  at: (line: number) => string;
  atoms: string[][];
  lines: string[];
}

/** One policy on `request`: its scope, then each clause in Cedar's order until one stops it. */
function tracePolicy(
  { p, evaluate, at, atoms, lines }: Analysed,
  kinds: readonly ('when' | 'unless')[],
  request: AuthzRequest,
): PolicyTrace {
  const values = evaluate(request);
  const clauses: ClauseTrace[] = [];
  // Set once a clause stops the policy, or once one cannot be told (Cedar errs and skips
  // the policy, or the analysis cannot say): what follows is unreached, or unknown too.
  let after: 'unreached' | 'unknown' | null = null;
  if (values.scope === true) {
    values.conditions.forEach(({ value, atoms: seen }, i) => {
      const kind = kinds[i] ?? 'when';
      const location = lines[i] ?? at(p.line);
      const base = { kind, location };
      const texts = atoms[i] ?? [];
      if (after !== null) {
        const none = texts.map((text) => ({ text, value: undefined }));
        return clauses.push({ ...base, outcome: after, atoms: none });
      }
      const read = texts.map((text, j) => ({ text, value: seen[j] }));
      if (value === null) {
        after = 'unknown';
        return clauses.push({ ...base, outcome: 'unknown', atoms: read });
      }
      const held = kind === 'when' ? value : !value;
      if (!held) after = 'unreached';
      return clauses.push({ ...base, outcome: held ? 'held' : 'failed', atoms: read });
    });
  }
  return {
    id: p.id,
    effect: p.effect,
    location: at(p.line),
    scope: values.scope,
    clauses,
  };
}

/**
 * An expression of the typed EST in Cedar's syntax, for the forms the atom analysis reads
 * (anything else as its JSON). Names are written as the EST has them (qualified).
 */
export function textOf(e: Expr): string {
  switch (e.op) {
    case 'var':
      return e.name;
    case 'value':
      return valueText(e.value);
    case '.':
      return `${textOf(e.left)}.${e.attr}`;
    case '==':
    case '!=':
    case 'in':
      return `${textOf(e.left)} ${e.op} ${textOf(e.right)}`;
    case 'is':
      return `${textOf(e.left)} is ${e.entityType}${e.in === undefined ? '' : ` in ${textOf(e.in)}`}`;
    case 'contains':
    case 'containsAll':
    case 'containsAny':
      return `${textOf(e.left)}.${e.op}(${textOf(e.right)})`;
    case 'isEmpty':
      return `${textOf(e.arg)}.isEmpty()`;
    case 'set':
      return `[${e.elements.map(textOf).join(', ')}]`;
    default:
      return JSON.stringify(e);
  }
}

function valueText(v: EstValue): string {
  switch (v.kind) {
    case 'entity':
      return `${v.entity.type}::${JSON.stringify(v.entity.id)}`;
    case 'set':
      return `[${v.elements.map(valueText).join(', ')}]`;
    case 'bool':
    case 'long':
    case 'string':
      return JSON.stringify(v.value);
    default:
      return JSON.stringify(v);
  }
}
