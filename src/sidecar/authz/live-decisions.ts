/**
 * Deciding on the live set through its decision caches: a hit is handed out frozen, a miss is
 * decided and kept under the widest key its answer allows.
 */
import type { AuthzRequest, Decision } from '../../policy/types.js';
import type { DecisionCache } from './decision-cache.js';
import type { Live } from './live-set.js';

/** The cached decision of `request` under `serving`, or undefined. */
export function cachedDecision(
  serving: Live,
  request: AuthzRequest,
  cache: DecisionCache,
): Decision | undefined {
  const shared = serving.keys.shared(request);
  // A hit is handed out as it is kept: frozen, so no caller can change it for the next one,
  // and with nothing copied on the path that answers almost every request.
  const sharedHit = shared === undefined ? undefined : cache.get(shared);
  if (sharedHit !== undefined) return sharedHit;
  return cache.get(serving.keys.exact(request));
}

/** Decides `request` on `serving` (read once by the caller), from `cache` when it can. */
export function decideOn(serving: Live, request: AuthzRequest, cache: DecisionCache): Decision {
  const hit = cachedDecision(serving, request, cache);
  if (hit !== undefined) return hit;
  const shared = serving.keys.shared(request);
  const exact = serving.keys.exact(request);
  const decision: Decision = { ...serving.decider.authorize(request), cached: false };
  // Error messages may name the request's own ids (they go to its log line): such a decision
  // is kept for exactly this request, never handed to another one of its class.
  cache.set(
    shared !== undefined && decision.errors.length === 0 ? shared : exact,
    frozenCopyOf(decision),
  );
  return decision;
}

/** A live set's decider, bound to that set, its decisions kept nowhere. */
export interface DirectDecider {
  /** The version of the set it decides on. */
  version: string;
  /** That set's schema roles. */
  roles: readonly string[];
  /** The decision as the decider made it: no `cached` flag, as it is never kept. */
  decide: (request: AuthzRequest) => Omit<Decision, 'cached'>;
}

/**
 * `serving`'s decider without the caches, when the compiled decider decides it: a compiled
 * decision (a few µs) costs less than building the keys it would be kept under and looking
 * them up (a profile of permissions answers at 20 roles: keys and LRU ~37% of the sidecar's
 * CPU, the compiled decisions ~5%). Undefined when cedar-wasm decides: keeping its decisions
 * pays. Each decision is handed over as made: a copy of each of an answer's 25 cost it more
 * than the decisions' own bookkeeping.
 */
export function directDeciderOf(serving: Live): DirectDecider | undefined {
  if (serving.decider.status().engine !== 'compiled') return undefined;
  const { decider } = serving;
  return {
    version: serving.snapshot.version,
    roles: serving.snapshot.roles,
    decide: (request) => decider.authorize(request),
  };
}

/** The decision as the cache hands it out: `cached`, and frozen throughout. */
function frozenCopyOf(d: Decision): Decision {
  const out: Decision = {
    allowed: d.allowed,
    policies: Object.freeze(d.policies.slice()) as string[],
    notices: Object.freeze(d.notices.slice()) as string[],
    errors: Object.freeze(d.errors.slice()) as string[],
    cached: true,
  };
  if (d.ignoredRoles !== undefined)
    out.ignoredRoles = Object.freeze(d.ignoredRoles.slice()) as string[];
  return Object.freeze(out);
}
