/**
 * The live policy set: loaded and validated at start, decided on synchronously, and replaced
 * atomically when the files change (fs.watch, debounced; a content-hash poll as a fallback;
 * `reload()` for SIGHUP). A candidate that does not parse or validate never replaces the live
 * set: the last good one keeps serving and the problems are logged and kept for `status()`.
 *
 * Parsing and validating a set happen in an isolated engine (a worker: isolated-engine.ts), and
 * preparsing it in the live instance one chunk per turn of the event loop, so a set of thousands
 * of policies never holds the requests being decided meanwhile (issue 22 item 6). Whether the
 * live engine still decides is checked by canaries (a request the set allows and one it denies,
 * found at load): at start, after each reload, after any engine trap and periodically.
 *
 * This file is the store's entry; its parts: live-set.ts (what serving one set needs),
 * live-decisions.ts (deciding through the caches), policy-reload.ts, policy-watch.ts,
 * canaries.ts, and store-state.ts (the state they share and its /status view).
 */
import type { Logger } from '../../common/logger.js';
import { compilePolicySetInTurns, onEngineReplaced } from '../../policy/cedar-adapter.js';
import { readPolicySources } from '../../policy/policy-files.js';
import type { PolicySources } from '../../policy/policy-files.js';
import { formatProblem, loadPolicySet, PolicyLoadError } from '../../policy/policy-set.js';
import type { LoadedPolicySet, PolicyInfo, PolicyProblem } from '../../policy/policy-set.js';
import type { AuthzRequest, Decision } from '../../policy/types.js';
import { checkCanaries } from './canaries.js';
import { createDecisionCache, type DecisionCache, type DecisionSource } from './decision-cache.js';
import { createIsolatedLoader, type LoadedForStore } from './isolated-engine.js';
import {
  decideAt,
  decideOn,
  directDeciderOf,
  lookUp,
  placeOf,
  requestKeyOf,
  type DecisionPlace,
  type DirectDecider,
} from './live-decisions.js';
import type { CompileDecider, CrosscheckCounts } from './decider.js';
import { activate, logWarnings, type Activation, type PolicySnapshot } from './live-set.js';
import { reloadInOrder } from './policy-reload.js';
import { startWatching, type WatchOptions } from './policy-watch.js';
import {
  statusOf,
  type EngineHealth,
  type PolicyStatus,
  type ReloadResult,
  type StoreState,
} from './store-state.js';

export { loadPolicySet, PolicyLoadError, formatProblem, createIsolatedLoader };
export type { LoadedPolicySet, PolicyInfo, PolicyProblem };
export type { PolicySnapshot } from './live-set.js';
export type { DirectDecider } from './live-decisions.js';
export type { EngineHealth, PolicyStatus, ReloadResult } from './store-state.js';
export type { CompileDecider, CompiledDecider, DeciderStatus } from './decider.js';

/** The live policy set of one directory. */
export interface PolicyStore {
  current(): PolicySnapshot;
  /**
   * Synchronous; one request sees one whole set. Never throws: anything odd denies. A
   * permissions answer's decisions (`source` 'permissions') are kept in a cache of their own,
   * so that however many it asks, they never evict the request path's.
   */
  decide(request: AuthzRequest, source?: DecisionSource): Decision;
  /**
   * `request` put to the live set now: the decision its cache keeps, if any (`hit`); on a miss
   * the caller waits for its tenant's turn (fair-scheduler.ts) before `decide()`. The keys are
   * built once, here, and used again by `decide()` and `again()` while the set is the same.
   */
  ask(request: AuthzRequest, source?: DecisionSource): AskedDecision;
  /**
   * The live set's own decider, uncached, when its decisions cost less than a cache look-up
   * would (the compiled decider: a few µs, and no key to build); undefined when cedar-wasm
   * decides the set (each of its decisions is worth keeping). Bound to the set live now: a
   * permissions answer decides all its entries with it in one synchronous step, on one set.
   */
  directDecider?(): DirectDecider | undefined;
  /** Re-reads the directory; `reason` is logged (e.g. 'SIGHUP', 'watch', 'poll'). Never throws. */
  reload(reason: string): Promise<ReloadResult>;
  status(): PolicyStatus;
  /**
   * Forgets every cached decision. Decisions are keyed by the facts they read, so a changed user
   * never meets a stale one; this is for a replica that lost change events and trusts nothing.
   */
  dropDecisions(): void;
  /** Whether the live engine decides its canaries as the set says (/readyz). */
  engineHealth?: () => EngineHealth;
  /** The compiled decider's cross-checks over every set this store served (the metrics). */
  crosschecks?: () => CrosscheckCounts;
  /**
   * The texts of the set in force (its version is `current().version`), kept when the files on
   * disk have changed since: the playground traces a live default deny over them.
   */
  sources?: () => PolicySources;
  /** Stops watchers and timers. */
  close(): void;
}

/** One request put to the live set: what its cache answered, and how to decide it after all. */
export interface AskedDecision {
  request: AuthzRequest;
  /** The version of the set asked. */
  policyVersion: string;
  /** The decision the cache keeps for the request, or undefined. */
  hit: Decision | undefined;
  /** Names exactly this request on this set: concurrent copies may share one decision by it. */
  key(): string;
  /**
   * Decides the request on the set live now (read in the same synchronous step), from the
   * cache when it can; the version is that set's.
   */
  decide(): { policyVersion: string; decision: Decision };
  /** The same request put to the live set again, later: its keys not built again if unchanged. */
  again(): AskedDecision;
}

/** Options of {@link createPolicyStore}. */
export interface PolicyStoreOptions extends WatchOptions {
  dir: string;
  logger: Logger;
  /** Decision cache entries (default 10 000; 0 turns the cache off). */
  decisionCacheMax?: number;
  /** The permissions answers' decision cache entries (default 2 000; 0 turns it off). */
  permissionsCacheMax?: number;
  onReload?: (result: ReloadResult) => void;
  /** Clock, for tests. */
  now?: () => Date;
  /** Parses and validates a set (default: in an isolated engine, {@link createIsolatedLoader}). */
  load?: (dir: string, sources: PolicySources) => Promise<LoadedForStore>;
  /** Compiles a set into the live instance (default: one chunk per turn; tests wrap it). */
  compile?: typeof compilePolicySetInTurns;
  /** How often the canaries are decided again, in ms (default 30 000; 0: only on events). */
  canaryEveryMs?: number;
  /**
   * Compiles a set to plain JavaScript (default: compileLoadedSet's, src/policy/compiled's
   * compileLoadedDecider); a set it refuses is decided by cedar-wasm.
   */
  compileDecider?: CompileDecider;
  /** DECISION_CROSSCHECK_RATE: the share of compiled decisions judged again (default 0.001). */
  crosscheckRate?: number;
  /** Draws the cross-check sample (default Math.random; tests pin it). */
  random?: () => number;
}

/** DECISION_CROSSCHECK_RATE's default: 1 compiled decision in 1,000 is decided again. */
export const DEFAULT_CROSSCHECK_RATE = 0.001;

let storeCounter = 0;

/**
 * Loads the policy set of `options.dir` and serves it. Throws {@link PolicyLoadError} (problems
 * with file:line:column) when the set at start is broken: a sidecar must not start without one.
 */
export async function createPolicyStore(options: PolicyStoreOptions): Promise<PolicyStore> {
  const loader = options.load === undefined ? createIsolatedLoader() : null;
  const load = options.load ?? (loader as NonNullable<typeof loader>).load;
  const state = await openState(options, load).catch(async (err: unknown) => {
    await loader?.close();
    throw err;
  });
  const { logger } = state;
  const reload = (reason: string): Promise<ReloadResult> =>
    reloadInOrder(state, reason, options.onReload);
  const watching = await startWatching(state, options, reload);
  checkCanaries(state, 'start');
  const stopListening = onEngineReplaced((why) => {
    logger.error({ reason: why }, `policy engine instance replaced: ${why}`);
    checkCanaries(state, 'engine error');
  });
  const canaryEveryMs = options.canaryEveryMs ?? 30_000;
  const periodic =
    canaryEveryMs > 0
      ? setInterval(() => checkCanaries(state, 'periodic'), canaryEveryMs)
      : undefined;
  periodic?.unref();

  return {
    current: () => state.live.snapshot,
    // state.live is read once per call: this request sees this set, whatever happens next
    decide: (request, source) => decideOn(state.live, request, cacheOf(state, source)),
    ask: (request, source) => askOn(state, request, cacheOf(state, source)),
    directDecider: () => directDeciderOf(state.live),
    reload,
    status: () => statusOf(state),
    dropDecisions: () => {
      state.cache.clear();
      state.permissionsCache.clear();
    },
    engineHealth: () => ({ ...state.health }),
    crosschecks: () => ({ ...state.activation.counts }),
    sources: () => state.liveSources,
    close() {
      state.closed = true;
      watching.close();
      stopListening();
      clearInterval(periodic);
      void loader?.close();
    },
  };
}

/** Reads, loads and activates the set at start; the store's state around it. */
async function openState(
  options: PolicyStoreOptions,
  load: (dir: string, sources: PolicySources) => Promise<LoadedForStore>,
): Promise<StoreState> {
  const { dir, logger } = options;
  const now = options.now ?? (() => new Date());
  const slots = [
    `cedargate-${process.pid}-${++storeCounter}-a`,
    `cedargate-${process.pid}-${storeCounter}-b`,
  ] as const;
  const sources = await readPolicySources(dir).catch((err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    throw new PolicyLoadError([
      { file: dir, line: 1, column: 1, message: `cannot read: ${message}` },
    ]);
  });
  const cache = createDecisionCache(options.decisionCacheMax ?? 10_000);
  const permissionsCache = createDecisionCache(options.permissionsCacheMax ?? 2_000);
  const activation: Activation = {
    logger,
    now,
    compile: options.compile ?? compilePolicySetInTurns,
    crosscheckRate: options.crosscheckRate ?? DEFAULT_CROSSCHECK_RATE,
    counts: { checked: 0, disagreements: 0 },
    onFallback: () => {
      cache.clear();
      permissionsCache.clear();
    },
    ...(options.random !== undefined && { random: options.random }),
    ...(options.compileDecider !== undefined && { compileDecider: options.compileDecider }),
  };
  const live = await activate(activation, await load(dir, sources), slots[0]);
  logWarnings(logger, live.set);
  logger.info(
    { version: live.snapshot.version, policies: live.snapshot.policyIds.length, dir },
    'policies loaded',
  );
  return {
    dir,
    logger,
    now,
    cache,
    permissionsCache,
    slots,
    live,
    liveSources: sources,
    lastReload: null,
    lastRefusedVersion: null,
    retiredRoles: new Set<string>(),
    reloads: { success: 0, failure: 0 },
    chain: Promise.resolve(),
    closed: false,
    load,
    activation,
    health: { ok: true, detail: 'ok' },
  };
}

/**
 * `request` put to the set live now; `known` is its place on an earlier look, used again while
 * that set is still the live one (a reload or a fallback to cedar-wasm changes the set or
 * empties the cache: either way the decision is found or made again on the set now).
 */
function askOn(
  state: StoreState,
  request: AuthzRequest,
  cache: DecisionCache,
  known?: DecisionPlace,
): AskedDecision {
  const serving = state.live;
  const place = known?.serving === serving ? known : placeOf(serving, request, cache);
  return {
    request,
    policyVersion: serving.snapshot.version,
    hit: lookUp(place),
    key: () => requestKeyOf(place),
    decide() {
      const now = state.live;
      const at = now === place.serving ? place : placeOf(now, request, cache);
      return { policyVersion: now.snapshot.version, decision: decideAt(at) };
    },
    again: () => askOn(state, request, cache, place),
  };
}

function cacheOf(state: StoreState, source: DecisionSource | undefined): DecisionCache {
  return source === 'permissions' ? state.permissionsCache : state.cache;
}
