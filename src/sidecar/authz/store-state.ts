/**
 * What one policy store keeps between calls — the live set, the outcome of the reloads, the
 * reload chain, the canaries' health — and the /status view of it. The store's parts (reload,
 * watch, canaries, decisions) each work on this one state.
 */
import type { Logger } from '../../common/logger.js';
import type { PolicySources } from '../../policy/policy-files.js';
import type { PolicyProblem } from '../../policy/policy-set.js';
import type { DecisionCache } from './decision-cache.js';
import type { LoadedForStore } from './isolated-engine.js';
import type { DeciderStatus } from './decider.js';
import type { Activation, Live, PolicySnapshot } from './live-set.js';

/** The live set and the outcome of the last reload that tried a new set. */
export interface PolicyStatus {
  live: PolicySnapshot;
  /**
   * The last reload that found new content (`null` until one did), or that found the files back
   * at the live set after a refusal (then `ok`, with no problems): when, whether it went live,
   * what triggered it (`reason`: 'watch', 'poll', 'SIGHUP', ...), why it was refused, and the
   * roles it retired (named by the schema before it, not after; [] when refused).
   */
  lastReload: {
    at: Date;
    ok: boolean;
    reason: string;
    problems: PolicyProblem[];
    retiredRoles: string[];
  } | null;
  reloads: { success: number; failure: number };
  /**
   * Roles that a set live earlier in this process named and the live one does not, sorted. Users
   * may still hold them in the store: they are decided as if they did not (known-roles.ts), and
   * each such decision lists them in `ignoredRoles`. A role the schema names again leaves the list.
   */
  retiredRoles: string[];
  /** Who decides the live set: the compiled decider or cedar-wasm, why, and its cross-checks. */
  decider: DeciderStatus;
}

/** The outcome of one reload. */
export type ReloadResult = 'success' | 'failure' | 'unchanged';

/** The canary check's last outcome. */
export interface EngineHealth {
  ok: boolean;
  detail: string;
}

/** What one store keeps between calls: the live set, the reload outcomes and the reload chain. */
export interface StoreState {
  dir: string;
  logger: Logger;
  now: () => Date;
  cache: DecisionCache;
  /** The permissions answers' decisions: bounded apart, so they cannot evict `cache`'s. */
  permissionsCache: DecisionCache;
  /**
   * Cedar keeps preparsed sets by name. Two slots per store: a candidate is preparsed into the
   * one not serving, so a failed preparse can never touch the live set.
   */
  slots: readonly [string, string];
  live: Live;
  /** The texts of the live set, swapped with it: what a tool explains the live set by. */
  liveSources: PolicySources;
  lastReload: PolicyStatus['lastReload'];
  lastRefusedVersion: string | null;
  retiredRoles: Set<string>;
  reloads: { success: number; failure: number };
  chain: Promise<unknown>;
  closed: boolean;
  load: (dir: string, sources: PolicySources) => Promise<LoadedForStore>;
  /** What activating a set needs (live-set.ts), including the cross-check counts. */
  activation: Activation;
  health: EngineHealth;
}

/** A copy of the store's status that no caller can change the store through. */
export function statusOf(state: StoreState): PolicyStatus {
  const { lastReload } = state;
  return {
    live: state.live.snapshot,
    lastReload:
      lastReload === null
        ? null
        : {
            ...lastReload,
            problems: [...lastReload.problems],
            retiredRoles: [...lastReload.retiredRoles],
          },
    reloads: { ...state.reloads },
    retiredRoles: [...state.retiredRoles].sort(),
    decider: state.live.decider.status(),
  };
}
