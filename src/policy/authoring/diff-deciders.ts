/**
 * How `policy diff` (diff.ts) decides: each side's compiled decider asked once per atom
 * signature (atoms.ts), and the role relevance both sides' atoms share (role-relevance.ts).
 */
import type { LoadedPolicySet, LoadedSetDecider } from '../policy-set.js';
import type { AuthzRequest, Decision } from '../types.js';
import type { Signer } from './atoms.js';
import type { DecisionSummary, DiffDecider } from './diff.js';
import type { RoleRelevance } from './role-relevance.js';

export type Decider = (request: AuthzRequest) => DecisionSummary;

/**
 * `relevance` with each of `roles` counting in every role set (principal, resource, every
 * context attribute of both schemas): under the quotient a one-sided role's membership must
 * stay exact, since it decides whether a request is accepted at all.
 */
export function everywhere(
  relevance: RoleRelevance | null,
  roles: readonly string[],
  sets: readonly LoadedPolicySet[],
): RoleRelevance | null {
  if (relevance === null || roles.length === 0) return relevance;
  const names = new Set(['principal', 'resource']);
  for (const set of sets)
    for (const ctx of Object.values(set.schema.shapes.contexts))
      for (const k of Object.keys(ctx)) names.add(k);
  const perRole = { ...relevance.perRole };
  for (const r of roles) perRole[r] = [...names].sort();
  return { ...relevance, perRole };
}

/** Both sides' relevance together, or null when either side's is unknown. */
export function unionRelevance(sides: (RoleRelevance | null)[]): RoleRelevance | null {
  if (sides.some((s) => s === null)) return null;
  const perRole: Record<string, string[]> = {};
  const allRoles = new Set<string>();
  for (const s of sides as RoleRelevance[]) {
    for (const p of s.allRoles) allRoles.add(p);
    for (const [r, ps] of Object.entries(s.perRole))
      perRole[r] = [...new Set([...(perRole[r] ?? []), ...ps])].sort();
  }
  return { perRole, allRoles: [...allRoles].sort() };
}

/**
 * Decides with `compiled`, asking it once per signature. An answer with errors is not
 * spread: it decides each request of that signature itself. Memory holds one answer per
 * distinct signature, however many requests share it.
 */
export function memoizedDecider(
  compiled: LoadedSetDecider,
  signer: Signer | null,
  counted: () => void,
): Decider {
  const answers = new Map<string, DecisionSummary>();
  const ask = (request: AuthzRequest) => {
    counted();
    return summarize(compiled.authorize(request));
  };
  if (signer === null) return ask;
  return (request) => {
    const sig = signer(request);
    if (sig === null) return ask(request);
    const known = answers.get(sig);
    if (known !== undefined) return known;
    const d = ask(request);
    if (d.errors === undefined) answers.set(sig, d);
    return d;
  };
}

export function deciderOf(set: LoadedSetDecider): DiffDecider {
  return { engine: set.decider, reason: set.reason };
}

export function summarize(d: Omit<Decision, 'cached'>): DecisionSummary {
  const out: DecisionSummary = {
    decision: d.allowed ? 'allow' : 'deny',
    policies: d.policies,
    notices: d.notices,
  };
  if (d.errors.length > 0) out.errors = d.errors;
  return out;
}
