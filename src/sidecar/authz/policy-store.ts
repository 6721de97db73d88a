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
 */
import { watch, type FSWatcher } from 'node:fs';
import type { Logger } from '../../common/logger.js';
import {
  compilePolicySetInTurns,
  onEngineReplaced,
  type CompiledPolicySet,
} from '../../policy/cedar-adapter.js';
import {
  createDecisionCache,
  decisionKeysFor,
  type DecisionCache,
  type DecisionKeys,
  type DecisionSource,
} from './decision-cache.js';
import { listWatchDirs, readPolicySources } from '../../policy/policy-files.js';
import { formatProblem, loadPolicySet, PolicyLoadError } from '../../policy/policy-set.js';
import type { PolicySources } from '../../policy/policy-files.js';
import type { LoadedPolicySet, PolicyInfo, PolicyProblem } from '../../policy/policy-set.js';
import { createRequestAbstraction } from '../../policy/request-abstraction.js';
import type { AuthzRequest, Decision } from '../../policy/types.js';
import {
  createEngineWorker,
  LOAD_LIMITS,
  type Canary,
  type LoadedForStore,
} from './isolated-engine.js';

export { loadPolicySet, PolicyLoadError, formatProblem };
export type { LoadedPolicySet, PolicyInfo, PolicyProblem };

/** What is live now. */
export interface PolicySnapshot {
  /** Content hash of the schema and the policy files. */
  version: string;
  loadedAt: Date;
  /** Sorted. */
  policyIds: string[];
  /** The schema's Role enum. */
  roles: readonly string[];
  /** Policy files, relative to the policy directory. */
  files: string[];
  /** Where each policy lives and its notice (for explain and /status). */
  policies: readonly PolicyInfo[];
}

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
}

/** The outcome of one reload. */
export type ReloadResult = 'success' | 'failure' | 'unchanged';

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
   * The decision `decide(request, source)` would answer from the cache now, or undefined: the
   * caller then waits for its tenant's turn before paying for the decision (fair-scheduler.ts).
   */
  cached(request: AuthzRequest, source?: DecisionSource): Decision | undefined;
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
  /** Stops watchers and timers. */
  close(): void;
}

/** The canary check's last outcome. */
export interface EngineHealth {
  ok: boolean;
  detail: string;
}

/** Options of {@link createPolicyStore}. */
export interface PolicyStoreOptions {
  dir: string;
  logger: Logger;
  /** Watch the directory with fs.watch. */
  watch: boolean;
  /** Content-hash check period in ms; 0 turns it off. */
  pollMs: number;
  /** Quiet time after the last file event before reloading (default 200 ms). */
  debounceMs?: number;
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
}

/**
 * Parses and validates sets in an isolated engine that stays up between reloads; each call
 * throws {@link PolicyLoadError} for a set that does not load.
 */
export function createIsolatedLoader(): {
  load: (dir: string, sources: PolicySources) => Promise<LoadedForStore>;
  close: () => Promise<void>;
} {
  const engine = createEngineWorker(LOAD_LIMITS);
  return {
    async load(dir, sources) {
      let result;
      try {
        result = await engine.run({ kind: 'load', dir, sources });
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        throw new PolicyLoadError([{ file: dir, line: 1, column: 1, message }]);
      }
      if (!result.ok) throw new PolicyLoadError(result.problems);
      if (result.kind !== 'load') throw new Error(`the isolated engine answered ${result.kind}`);
      return result.loaded;
    },
    close: () => engine.close(),
  };
}

interface Live {
  set: LoadedPolicySet;
  compiled: CompiledPolicySet;
  /** Built with the set, not per request: the abstraction collects the set's literals. */
  keys: DecisionKeys;
  snapshot: PolicySnapshot;
  slot: string;
  canaries: Canary[];
}

/** What one store keeps between calls: the live set, the reload outcomes and the reload chain. */
interface StoreState {
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
  lastReload: PolicyStatus['lastReload'];
  lastRefusedVersion: string | null;
  retiredRoles: Set<string>;
  reloads: { success: number; failure: number };
  chain: Promise<unknown>;
  closed: boolean;
  load: (dir: string, sources: PolicySources) => Promise<LoadedForStore>;
  compile: typeof compilePolicySetInTurns;
  health: EngineHealth;
}

let storeCounter = 0;

/**
 * Loads the policy set of `options.dir` and serves it. Throws {@link PolicyLoadError} (problems
 * with file:line:column) when the set at start is broken: a sidecar must not start without one.
 */
export async function createPolicyStore(options: PolicyStoreOptions): Promise<PolicyStore> {
  const { dir, logger } = options;
  const now = options.now ?? (() => new Date());
  const cache = createDecisionCache(options.decisionCacheMax ?? 10_000);
  const permissionsCache = createDecisionCache(options.permissionsCacheMax ?? 2_000);
  const slots = [
    `cedargate-${process.pid}-${++storeCounter}-a`,
    `cedargate-${process.pid}-${storeCounter}-b`,
  ] as const;

  const loader = options.load === undefined ? createIsolatedLoader() : null;
  const load = options.load ?? (loader as NonNullable<typeof loader>).load;
  const compile = options.compile ?? compilePolicySetInTurns;
  const sources = await readPolicySources(dir).catch((err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    throw new PolicyLoadError([
      { file: dir, line: 1, column: 1, message: `cannot read: ${message}` },
    ]);
  });
  const live = await activate(logger, now, await load(dir, sources), slots[0], compile).catch(
    async (err: unknown) => {
      await loader?.close();
      throw err;
    },
  );
  logWarnings(logger, live.set);
  logger.info(
    { version: live.snapshot.version, policies: live.snapshot.policyIds.length, dir },
    'policies loaded',
  );

  const state: StoreState = {
    dir,
    logger,
    now,
    cache,
    permissionsCache,
    slots,
    live,
    lastReload: null,
    lastRefusedVersion: null,
    retiredRoles: new Set<string>(),
    reloads: { success: 0, failure: 0 },
    chain: Promise.resolve(),
    closed: false,
    load,
    compile,
    health: { ok: true, detail: 'ok' },
  };
  const reload = (reason: string): Promise<ReloadResult> => reloadInOrder(state, options, reason);
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
    decide: (request, source) => decide(state, request, cacheOf(state, source)),
    cached: (request, source) => cachedDecision(state.live, request, cacheOf(state, source)),
    reload,
    status: () => statusOf(state),
    dropDecisions: () => {
      state.cache.clear();
      state.permissionsCache.clear();
    },
    engineHealth: () => ({ ...state.health }),
    close() {
      state.closed = true;
      watching.close();
      stopListening();
      clearInterval(periodic);
      void loader?.close();
    },
  };
}

/** Builds what serving `set` needs: the compiled set in `slot`, its decision keys, its snapshot. */
async function activate(
  logger: Logger,
  now: () => Date,
  loaded: LoadedForStore,
  slot: string,
  compile: typeof compilePolicySetInTurns,
): Promise<Live> {
  const { set } = loaded;
  const meta = Object.fromEntries(
    set.policies.map((p) => [p.id, { effect: p.effect, notice: p.notice }]),
  );
  const abstraction = createRequestAbstraction(set, undefined, loaded.literals);
  if (abstraction.refusal !== null) {
    logger.warn(
      { version: set.version, reason: abstraction.refusal },
      `decisions are cached per concrete request only: ${abstraction.refusal}`,
    );
  }
  const compiled = await compile(slot, set.schema, set.texts, meta, {
    callShape: loaded.callShape,
  });
  logger.debug(
    {
      version: set.version,
      tenantEntities: compiled.callShape?.tenantEntities,
      reason: compiled.callShape?.tenantReason,
    },
    'cedar call shape',
  );
  return {
    set,
    slot,
    canaries: loaded.canaries,
    compiled,
    keys: decisionKeysFor(set.version, abstraction),
    snapshot: {
      version: set.version,
      loadedAt: now(),
      policyIds: set.policies.map((p) => p.id),
      roles: set.schema.roles,
      files: set.files,
      policies: set.policies,
    },
  };
}

function cacheOf(state: StoreState, source: DecisionSource | undefined): DecisionCache {
  return source === 'permissions' ? state.permissionsCache : state.cache;
}

/** The cached decision of `request` under `serving`, or undefined. */
function cachedDecision(
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

function decide(state: StoreState, request: AuthzRequest, cache: DecisionCache): Decision {
  const serving = state.live; // read once: this request sees this set, whatever happens next
  const hit = cachedDecision(serving, request, cache);
  if (hit !== undefined) return hit;
  const shared = serving.keys.shared(request);
  const exact = serving.keys.exact(request);
  const decision: Decision = { ...serving.compiled.authorize(request), cached: false };
  // Error messages may name the request's own ids (they go to its log line): such a decision
  // is kept for exactly this request, never handed to another one of its class.
  cache.set(
    shared !== undefined && decision.errors.length === 0 ? shared : exact,
    frozenCopyOf(decision),
  );
  return decision;
}

function statusOf(state: StoreState): PolicyStatus {
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
  };
}

// --- reloading --------------------------------------------------------------------------------

function reloadInOrder(
  state: StoreState,
  options: PolicyStoreOptions,
  reason: string,
): Promise<ReloadResult> {
  // One reload at a time, in order: a later trigger sees the files after an earlier one.
  const run = state.chain.then(async () => {
    const result = await reloadNow(state, reason);
    try {
      options.onReload?.(result);
    } catch (err) {
      state.logger.warn({ err }, 'onReload callback threw');
    }
    return result;
  });
  state.chain = run.catch(() => undefined);
  return run;
}

async function reloadNow(state: StoreState, reason: string): Promise<ReloadResult> {
  const automatic = reason === 'watch' || reason === 'poll';
  let candidateVersion: string | null = null;
  try {
    const sources = await readPolicySources(state.dir);
    candidateVersion = sources.version;
    if (sources.version === state.live.snapshot.version) {
      // The files are the live set again (a broken edit was reverted): a refusal recorded
      // before must not be reported forever, and an operator watching the log is told.
      if (state.lastReload?.ok === false) recover(state, reason);
      return 'unchanged';
    }
    // A broken version already refused and reported: polling it again adds nothing.
    if (automatic && sources.version === state.lastRefusedVersion) return 'unchanged';
    const loaded = await state.load(state.dir, sources);
    await swapIn(state, loaded, reason);
    checkCanaries(state, `reload (${reason})`);
    return 'success';
  } catch (err) {
    refuse(state, err, candidateVersion, reason);
    return 'failure';
  }
}

/** Makes `set` live (it may throw while preparsing, before the swap) and records the reload. */
async function swapIn(state: StoreState, loaded: LoadedForStore, reason: string): Promise<void> {
  const { logger, slots } = state;
  const { set } = loaded;
  const slot = state.live.slot === slots[0] ? slots[1] : slots[0];
  const next = await activate(logger, state.now, loaded, slot, state.compile);
  const live = state.live;
  const retired = live.snapshot.roles.filter((r) => !next.snapshot.roles.includes(r)).sort();
  state.live = next; // the swap: one assignment, between two synchronous decide() calls
  state.cache.clear();
  state.permissionsCache.clear();
  state.lastRefusedVersion = null;
  state.reloads.success++;
  for (const r of retired) state.retiredRoles.add(r);
  for (const r of next.snapshot.roles) state.retiredRoles.delete(r);
  state.lastReload = { at: state.now(), ok: true, reason, problems: [], retiredRoles: retired };
  logWarnings(logger, set);
  const fields = {
    reason,
    version: set.version,
    policies: next.snapshot.policyIds.length,
    roles: next.snapshot.roles,
    retiredRoles: retired,
  };
  // Retiring a role is worth a warning: users who hold it lose whatever it gave them.
  if (retired.length === 0) logger.info(fields, 'policies reloaded');
  else
    logger.warn(
      fields,
      `policies reloaded; roles no longer in the schema: ${retired.join(', ')} (their holders are decided as if they did not hold them)`,
    );
}

/** The files on disk are the live set again after a refusal: /status and the log say so. */
function recover(state: StoreState, reason: string): void {
  const { version } = state.live.snapshot;
  state.lastRefusedVersion = null;
  state.lastReload = { at: state.now(), ok: true, reason, problems: [], retiredRoles: [] };
  state.logger.info(
    { reason, version },
    `policy files are good again: they match the live set ${version}, which kept serving`,
  );
}

/** Records a refused candidate; the live set stays as it was. */
function refuse(
  state: StoreState,
  err: unknown,
  candidateVersion: string | null,
  reason: string,
): void {
  const problems =
    err instanceof PolicyLoadError
      ? err.problems
      : [
          {
            file: state.dir,
            line: 1,
            column: 1,
            message: err instanceof Error ? err.message : String(err),
          },
        ];
  const liveVersion = state.live.snapshot.version;
  state.lastRefusedVersion = candidateVersion;
  state.reloads.failure++;
  state.lastReload = { at: state.now(), ok: false, reason, problems, retiredRoles: [] };
  state.logger.error(
    { reason, problems: problems.map(formatProblem), liveVersion },
    `policy reload refused, still serving ${liveVersion}: ${problems.map(formatProblem).join('; ')}`,
  );
}

// --- watching ---------------------------------------------------------------------------------

/**
 * Starts the fs watchers (when `options.watch`) and the content-hash poll (when `pollMs` > 0);
 * resolves once the first watchers are set. `close()` stops both; `state.closed` is set first.
 */
async function startWatching(
  state: StoreState,
  options: PolicyStoreOptions,
  reload: (reason: string) => Promise<ReloadResult>,
): Promise<{ close(): void }> {
  const debounceMs = options.debounceMs ?? 200;
  const watchers = new Map<string, FSWatcher>();
  let debounce: NodeJS.Timeout | undefined;
  const onEvent = (): void => {
    if (state.closed) return;
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      void reload('watch').then(sync);
    }, debounceMs);
    debounce.unref();
  };
  const sync = (): Promise<void> => syncWatchers(state, options, watchers, onEvent);
  await sync();

  let poll: NodeJS.Timeout | undefined;
  if (options.pollMs > 0) {
    poll = setInterval(() => {
      void reload('poll').then(sync);
    }, options.pollMs);
    poll.unref();
  }

  return {
    close() {
      clearTimeout(debounce);
      clearInterval(poll);
      for (const w of watchers.values()) w.close();
      watchers.clear();
    },
  };
}

/** Watches exactly the directories that hold policy files now. */
async function syncWatchers(
  state: StoreState,
  options: PolicyStoreOptions,
  watchers: Map<string, FSWatcher>,
  onEvent: () => void,
): Promise<void> {
  const { dir } = state;
  if (!options.watch || state.closed) return;
  const wanted = new Set(await listWatchDirs(dir).catch(() => [dir]));
  for (const [path, w] of watchers) {
    if (!wanted.has(path)) {
      w.close();
      watchers.delete(path);
    }
  }
  for (const path of wanted) {
    if (watchers.has(path) || state.closed) continue;
    try {
      const w = watch(path, { persistent: false }, onEvent);
      // A watched dir that disappears errors; drop it and let the next sync (or poll) recover.
      w.on('error', () => {
        w.close();
        watchers.delete(path);
        onEvent();
      });
      watchers.set(path, w);
    } catch (err) {
      state.logger.warn({ err, path }, 'cannot watch policy directory; relying on polling');
    }
  }
}

/**
 * Decides the live set's canaries straight in the engine (never from the cache): the engine
 * decides iff each gets the answer it got when the set loaded. A change of outcome is logged
 * once, an error line saying why when it fails; /readyz reads {@link StoreState.health}.
 */
function checkCanaries(state: StoreState, when: string): void {
  const { live } = state;
  let failure: string | null = null;
  for (const canary of live.canaries) {
    const d = live.compiled.authorize(canary.request);
    const policies = [...d.policies].sort().join(',');
    if (d.allowed !== canary.allowed || policies !== [...canary.policies].sort().join(',')) {
      const expected = `${canary.allowed ? 'allow' : 'deny'} by [${canary.policies.join(', ')}]`;
      const got = `${d.allowed ? 'allow' : 'deny'} by [${d.policies.join(', ')}]${d.errors.length > 0 ? ` (${d.errors.join('; ')})` : ''}`;
      failure = `canary ${canary.request.action} expected ${expected}, the engine answered ${got}`;
      break;
    }
  }
  const health =
    failure === null
      ? { ok: true, detail: `ok (${live.canaries.length} canaries, ${when})` }
      : { ok: false, detail: `not deciding: ${failure}` };
  if (!health.ok && state.health.ok) {
    state.logger.error(
      { when, version: live.snapshot.version },
      `the policy engine does not decide the live set correctly (${when}): ${failure}`,
    );
  } else if (health.ok && !state.health.ok) {
    state.logger.info({ when }, 'the policy engine decides the live set correctly again');
  }
  state.health = health;
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

function logWarnings(logger: Logger, set: LoadedPolicySet): void {
  for (const w of set.warnings)
    logger.warn({ warning: formatProblem(w) }, 'policy validation warning');
}
