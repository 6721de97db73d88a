/**
 * A bounded LRU of decisions, and the keys they are kept under.
 *
 * A decision is shared between requests that the request abstraction
 * (src/policy/request-abstraction.ts) puts in one class: a role PUT by an admin on user 17 and
 * one on user 4,211 with the same facts get one decision. Where the abstraction refuses (a schema
 * it cannot model), or a decision carries errors, the key is the whole concrete request instead:
 * it holds EVERYTHING a decision reads, so it is always sound, it only shares less.
 */
import { LRUCache } from 'lru-cache';
import type { RequestAbstraction } from '../../policy/request-abstraction.js';
import type { AuthzRequest, Decision } from '../../policy/types.js';

/**
 * Who asked for a decision: a request on the request path, a permissions answer, or the
 * candidate set in shadow. Counted per source in `cedargate_decisions_total{source}`; the
 * permissions answers keep their decisions in a cache of their own (policy-store.ts).
 */
export type DecisionSource = 'request' | 'permissions' | 'candidate';

/** A decision cache; `max` 0 turns it off. */
export interface DecisionCache {
  get(key: string): Decision | undefined;
  set(key: string, decision: Decision): void;
  clear(): void;
  readonly size: number;
}

/** Creates a cache holding at most `max` decisions. */
export function createDecisionCache(max: number): DecisionCache {
  if (max <= 0) {
    return { get: () => undefined, set: () => undefined, clear: () => undefined, size: 0 };
  }
  const lru = new LRUCache<string, Decision>({ max });
  return {
    get: (key) => lru.get(key),
    set: (key, decision) => void lru.set(key, decision),
    clear: () => lru.clear(),
    get size() {
      return lru.size;
    },
  };
}

/** The keys of one policy set's decisions. Built once when the set is loaded. */
export interface DecisionKeys {
  /**
   * The key shared by every request of the request's abstraction class, or undefined when the
   * abstraction refuses this set's schema.
   */
  shared(request: AuthzRequest): string | undefined;
  /** The key of exactly this request ({@link decisionKeyOf}). */
  exact(request: AuthzRequest): string;
}

/** The keys of the set of `version`, whose abstraction is `abstraction`. */
export function decisionKeysFor(version: string, abstraction: RequestAbstraction): DecisionKeys {
  // The abstraction's key leaves the version out (one abstraction per set); the cache outlives
  // no set today (a reload clears it), but a key without the version would make that clear the
  // only thing standing between one set's answers and the next set's requests.
  // `~` never starts an exact key (a JSON array), so the two kinds cannot collide.
  const prefix = `~${version}`;
  return {
    shared(request) {
      const key = abstraction.keyOf(request);
      return key === undefined ? undefined : prefix + key;
    },
    exact: (request) => decisionKeyOf(version, request),
  };
}

/**
 * The canonical key of a request under policy set `version`. Role lists and context sets are
 * sorted (Cedar sets have no order) and context keys are sorted; types stay distinct (JSON).
 */
export function decisionKeyOf(version: string, request: AuthzRequest): string {
  const { principal: p, resource: r } = request;
  const resource =
    r.type === 'User'
      ? ['User', r.id, r.tenantId, sortedSet(r.roles), r.isOwner]
      : ['Tenant', r.id];
  const context = Object.keys(request.context)
    .sort()
    .map((k) => {
      const v = request.context[k];
      return [k, Array.isArray(v) ? sortedSet(v as readonly string[]) : v];
    });
  return JSON.stringify([
    version,
    request.action,
    [p.id, p.tenantId, sortedSet(p.roles), p.isOwner],
    resource,
    context,
  ]);
}

function sortedSet(values: readonly string[]): string[] {
  return [...new Set(values)].sort();
}
