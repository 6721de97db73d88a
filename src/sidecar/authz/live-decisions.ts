/**
 * Deciding on the live set through its decision caches: a hit is handed out frozen, a miss is
 * decided and kept under the widest key its answer allows.
 */
import type { AuthzRequest, Decision } from '../../policy/types.js';
import type { DecisionCache } from './decision-cache.js';
import type { Live } from './live-set.js';

/**
 * Where one request's decision is kept in one set's cache: the key its class shares, built once
 * per request and set (for twelve roles a key costs about as much as a compiled decision), then
 * used to look it up, to keep it, and to look it up again.
 */
export interface DecisionPlace {
  serving: Live;
  request: AuthzRequest;
  cache: DecisionCache;
  /** The class's key, or undefined when the abstraction refuses the set's schema. */
  shared: string | undefined;
}

/** The place of `request`'s decision under `serving`, in `cache`. */
export function placeOf(serving: Live, request: AuthzRequest, cache: DecisionCache): DecisionPlace {
  return { serving, request, cache, shared: serving.keys.shared(request) };
}

/**
 * Kept under a class's key when a decision of that class carried errors: that decision is kept
 * under its request's exact key, and so is every other one of the class that carries errors.
 * Without the marker, every miss would build the exact key (a sorted JSON of the whole request)
 * only to find nothing; it is never handed out.
 */
const KEPT_EXACTLY: Decision = Object.freeze({
  allowed: false,
  policies: [],
  notices: [],
  errors: [],
  cached: true,
});

/** The decision kept for `place`, or undefined. */
export function lookUp(place: DecisionPlace): Decision | undefined {
  const { cache, shared } = place;
  // A hit is handed out as it is kept: frozen, so no caller can change it for the next one,
  // and with nothing copied on the path that answers almost every request.
  if (shared !== undefined) {
    const hit = cache.get(shared);
    if (hit !== KEPT_EXACTLY) return hit;
  }
  return cache.get(exactKeyOf(place));
}

/** Decides `place`'s request on its set, from the cache when it can, and keeps a new decision. */
export function decideAt(place: DecisionPlace): Decision {
  const hit = lookUp(place);
  if (hit !== undefined) return hit;
  const { cache, shared } = place;
  const decision: Decision = { ...place.serving.decider.authorize(place.request), cached: false };
  if (shared !== undefined && decision.errors.length === 0) {
    cache.set(shared, frozenCopyOf(decision));
    return decision;
  }
  // Error messages may name the request's own ids (they go to its log line): such a decision
  // is kept for exactly this request, never handed to another one of its class.
  if (shared !== undefined) cache.set(shared, KEPT_EXACTLY);
  cache.set(exactKeyOf(place), frozenCopyOf(decision));
  return decision;
}

/**
 * A key that names exactly `place`'s request on its set, for sharing one decision in flight:
 * the class's key and the ids it abstracts away (with them, the class is one request), or the
 * exact key when there is no class.
 */
export function requestKeyOf(place: DecisionPlace): string {
  const { shared, request } = place;
  if (shared === undefined) return exactKeyOf(place);
  const { principal: p, resource: r } = request;
  const resourceTenant = r.type === 'User' ? r.tenantId : '';
  return `${shared}\n${JSON.stringify([p.id, p.tenantId, r.id, resourceTenant])}`;
}

function exactKeyOf(place: DecisionPlace): string {
  return place.serving.keys.exact(place.request);
}

/** Decides `request` on `serving` (read once by the caller), from `cache` when it can. */
export function decideOn(serving: Live, request: AuthzRequest, cache: DecisionCache): Decision {
  return decideAt(placeOf(serving, request, cache));
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
