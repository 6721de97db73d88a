/**
 * A bounded LRU of decisions. The key holds EVERYTHING a decision reads (policy set version,
 * action, every principal and resource fact, the whole context): a key that left something out
 * would hand one request's answer to another.
 */
import { LRUCache } from 'lru-cache';
import type { AuthzRequest, Decision } from '../../policy/types.js';

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
