/**
 * How Cedar's per-policy results become cedargate's {@link Decision}: any satisfied forbid
 * denies (naming every satisfied forbid), else any satisfied permit allows (naming every one),
 * else deny. Cedar skips a policy whose evaluation errs, even a forbid; cedargate denies then
 * and names it beside the satisfied forbids. Both the wasm path (cedar-policy-set.ts) and the
 * compiled one (compiled/) answer through here, so they cannot word a decision differently.
 */
import type { Decision } from './types.js';

/** What the engine knows of each policy to explain a decision. */
export interface PolicyMeta {
  effect: 'permit' | 'forbid';
  notice: string | null;
}

/** One policy whose evaluation erred, with the error as a decision's `errors` reads it. */
export interface PolicyError {
  policyId: string;
  /** `message (help)` ({@link formatError} in cedar-problems.ts). */
  error: string;
}

/**
 * The decision from the satisfied forbids and permits and the erring policies. Errors are
 * listed by policy id (Cedar's own order is its hash map's, which no other engine can repeat).
 */
export function decisionOf(
  forbids: readonly string[],
  permits: readonly string[],
  erred: readonly PolicyError[],
  meta: Readonly<Record<string, PolicyMeta>>,
): Omit<Decision, 'cached'> {
  const sorted = [...erred].sort((a, b) => compareIds(a.policyId, b.policyId));
  const errors = sorted.map((e) => `policy ${e.policyId}: ${e.error}`);
  if (sorted.length > 0) return deny([...forbids, ...sorted.map((e) => e.policyId)], errors, meta);
  if (forbids.length === 0 && permits.length > 0) {
    return { allowed: true, policies: [...permits].sort(), notices: [], errors };
  }
  return deny(forbids, errors, meta);
}

/** A deny naming `ids` (sorted, without duplicates) and their notices, in that order. */
export function deny(
  ids: readonly string[],
  errors: string[],
  meta: Readonly<Record<string, PolicyMeta>>,
): Omit<Decision, 'cached'> {
  const policies = [...new Set(ids)].sort();
  const notices: string[] = [];
  for (const id of policies) {
    const notice = meta[id]?.notice;
    if (notice !== null && notice !== undefined && !notices.includes(notice)) notices.push(notice);
  }
  return { allowed: false, policies, notices, errors };
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
