/**
 * What the sidecar knows about users: a bounded, short-lived cache in front of the backend,
 * with one in-flight lookup shared by concurrent misses. Writes through this replica drop the
 * entry at once; writes through other replicas arrive as invalidations (see the Redis bus).
 *
 * It holds only the facts decisions read (`UserFacts`: no avatar, no email), bounded in bytes
 * as well as in count, and expired entries are swept out on a timer: without that, one tenant
 * reading its users could fill the sidecar with images until its container is killed.
 */
import { LRUCache } from 'lru-cache';
import { canonicalId } from '../common/ids.js';
import type { UpstreamClient } from './upstream.js';
import type { UserRecord } from './user-facts.js';

export interface UserDirectory {
  /** The user as the backend knows it (cached for at most the TTL), or null. */
  get(tenantId: string, userId: string, options?: { fresh?: boolean }): Promise<UserRecord | null>;
  /**
   * Keeps what the backend answered to a write through this replica (the user as it now is),
   * when the user cached is the version the write replaced (`replaced`: the ETag it was
   * conditioned on) or none is; otherwise forgets the user. ETags are opaque (any strong tag
   * a backend chooses), so two versions can never be ordered by their tags.
   */
  remember(
    tenantId: string,
    userId: string,
    record: UserRecord,
    since: number,
    replaced?: string,
  ): void;
  /** A mark to pass to `remember`: invalidations of the user after it make `remember` forget instead. */
  mark(): number;
  /** Forgets one user (after a write, or an invalidation from another replica). */
  invalidate(tenantId: string, userId: string): void;
  /** Forgets everything (e.g. after losing the invalidation channel). */
  clear(): void;
  /** Shortens the TTL of new entries (when invalidations cannot be trusted), or restores it. */
  setTtl(ms: number): void;
  /** Hits, misses, users held, and the bytes they take (as `sizeOf` counts them). */
  stats(): { hits: number; misses: number; size: number; bytes: number };
  /** Stops the sweep of expired users. */
  close(): void;
}

/** The default byte bound of the directory: 16 MiB, some 40 000 users of typical size. */
export const DEFAULT_DIRECTORY_MAX_BYTES = 16 * 1024 * 1024;

/** What the per-user guard holds, for tests of its bound. */
export interface GuardedLookups {
  /** Look-ups in flight: the guard keeps one entry per such look-up and nothing else. */
  lookupsInFlight(): number;
}

/** Whether a look-up in flight was overtaken by a write to its user (see `inflight`). */
interface Guard {
  stale: boolean;
}

/** The directory's state, shared by the module-level functions below. */
interface DirectoryState {
  upstream: UpstreamClient;
  /**
   * A look-up that misses waits here for its tenant's turn to start (fair-gate.ts), or starts at
   * once; the turn ends when the request is sent, not when the backend answers.
   */
  schedule: <T>(tenantId: string, work: () => Promise<T>) => Promise<T>;
  /** The TTL of new entries (see `setTtl`). */
  ttl: number;
  cache: LRUCache<string, UserRecord>;
  sweepMs: number;
  sweep: ReturnType<typeof setInterval> | undefined;
  // One look-up in flight per user, shared by concurrent misses. `stale` is set when a write,
  // an invalidation of that user or a clear() happens while it is in flight: its answer may then
  // be older than what the backend now holds, and putting it in the cache would serve the old
  // version for a whole TTL (to a policy decision, too). The guard is per user: a write to B says
  // nothing about A, so the principal (the same owner on every request of a write load) is not
  // fetched again and again while every connection waits for it. A look-up that is no longer in
  // this map is always stale (only the three above and its own end remove it), so the guard
  // needs no memory beyond the look-ups in flight.
  inflight: Map<string, { promise: Promise<UserRecord | null>; guard: Guard }>;
  // Bumped on every invalidation and write; `mark()`/`remember` measure "did another replica
  // invalidate this user while our write was in flight" on it.
  generation: number;
  /** The generation at which each recently invalidated user was last invalidated (bounded). */
  invalidatedAt: LRUCache<string, number>;
  hits: number;
  misses: number;
}

export function createUserDirectory(options: {
  upstream: UpstreamClient;
  ttlMs: number;
  max?: number;
  /** Bytes the cached users may take at most (default `DEFAULT_DIRECTORY_MAX_BYTES`). */
  maxBytes?: number;
  /** The clock TTLs are measured on (performance.now() by default); for tests. */
  perf?: { now(): number };
  /**
   * Starts each look-up that goes to the backend, e.g. in its tenant's turn (fair-gate.ts); the
   * turn is released once the request is sent.
   */
  schedule?: <T>(tenantId: string, work: () => Promise<T>) => Promise<T>;
}): UserDirectory & GuardedLookups {
  const state: DirectoryState = {
    upstream: options.upstream,
    schedule: options.schedule ?? ((_tenantId, work) => work()),
    ttl: options.ttlMs,
    cache: createCache(options),
    sweepMs: 0,
    sweep: undefined,
    inflight: new Map(),
    generation: 0,
    invalidatedAt: new LRUCache<string, number>({ max: 10_000 }),
    hits: 0,
    misses: 0,
  };
  scheduleSweep(state);
  return {
    get: (tenantId, userId, opts) => get(state, tenantId, userId, opts),
    mark: () => state.generation,
    remember: (tenantId, userId, record, since, replaced) =>
      remember(state, tenantId, userId, record, since, replaced),
    invalidate: (tenantId, userId) => invalidate(state, tenantId, userId),
    clear: () => clear(state),
    setTtl(ms) {
      state.ttl = ms;
      scheduleSweep(state);
    },
    stats: () => ({
      hits: state.hits,
      misses: state.misses,
      size: state.cache.size,
      bytes: state.cache.calculatedSize,
    }),
    lookupsInFlight: () => state.inflight.size,
    close() {
      if (state.sweep !== undefined) clearInterval(state.sweep);
      state.sweep = undefined;
    },
  };
}

function createCache(options: {
  ttlMs: number;
  max?: number;
  maxBytes?: number;
  perf?: { now(): number };
}): LRUCache<string, UserRecord> {
  return new LRUCache<string, UserRecord>({
    max: options.max ?? 50_000,
    maxSize: options.maxBytes ?? DEFAULT_DIRECTORY_MAX_BYTES,
    sizeCalculation: sizeOf,
    ttl: Math.max(options.ttlMs, 1),
    // Not ttlAutopurge: that arms one timer per entry (tens of thousands at a full cache, re-armed
    // on every set). One sweep per TTL does the same with a single timer; an entry outlives its
    // TTL by at most one TTL, and is never served once expired meanwhile.
    ttlAutopurge: false,
    // The clock read on every look-up (a few ns): lru-cache's default caches it for 1 ms behind a
    // new timer each time, one timer per request or so under load.
    ttlResolution: 0,
    ...(options.perf === undefined ? {} : { perf: options.perf }),
  });
}

function scheduleSweep(state: DirectoryState): void {
  const every = Math.max(state.ttl, 1000);
  if (state.sweep !== undefined && every === state.sweepMs) return;
  if (state.sweep !== undefined) clearInterval(state.sweep);
  state.sweepMs = every;
  const { cache } = state;
  state.sweep = setInterval(() => cache.purgeStale(), every);
  state.sweep.unref();
}

function keyOf(tenantId: string, userId: string): string {
  return `${canonicalId(tenantId)}/${canonicalId(userId)}`;
}

function markStale(state: DirectoryState, key: string): void {
  const entry = state.inflight.get(key);
  if (entry === undefined) return;
  entry.guard.stale = true;
  state.inflight.delete(key);
}

async function get(
  state: DirectoryState,
  tenantId: string,
  userId: string,
  opts: { fresh?: boolean } = {},
): Promise<UserRecord | null> {
  const key = keyOf(tenantId, userId);
  if (opts.fresh !== true) {
    const hit = state.cache.get(key);
    if (hit !== undefined) {
      state.hits++;
      return hit;
    }
  } else {
    state.cache.delete(key);
  }
  state.misses++;
  return load(state, key, tenantId, userId);
}

function load(
  state: DirectoryState,
  key: string,
  tenantId: string,
  userId: string,
): Promise<UserRecord | null> {
  const existing = state.inflight.get(key);
  if (existing !== undefined) return existing.promise;
  const guard: Guard = { stale: false };
  // The turn covers starting the look-up, not waiting for the backend: the answer travels
  // boxed, so the turn ends as soon as the request is on its way (a turn is for CPU work).
  const promise = state
    .schedule(tenantId, () =>
      Promise.resolve({ answer: state.upstream.fetchUser(tenantId, userId) }),
    )
    .then(({ answer }) => answer)
    .then((record) => {
      if (record !== null && state.ttl > 0 && !guard.stale) {
        state.cache.set(key, record, { ttl: state.ttl });
      }
      return record;
    })
    .finally(() => {
      if (state.inflight.get(key)?.guard === guard) state.inflight.delete(key);
    });
  state.inflight.set(key, { promise, guard });
  return promise;
}

function remember(
  state: DirectoryState,
  tenantId: string,
  userId: string,
  record: UserRecord,
  since: number,
  replaced: string | undefined,
): void {
  const key = keyOf(tenantId, userId);
  // Whatever answered, it is kept only under its own key.
  if (keyOf(record.user.tenant_id, record.user.id) !== key) {
    invalidate(state, tenantId, userId);
    return;
  }
  // Another replica changed the user while our write was in flight: its version may be the
  // newer one, and nothing here can tell. Forget rather than remember.
  if ((state.invalidatedAt.get(key) ?? -1) >= since) {
    state.cache.delete(key);
    return;
  }
  const known = state.cache.get(key);
  if (known?.etag === record.etag) return;
  // What is cached is neither the version this write replaced nor its result: a newer one, or
  // an older one, and opaque ETags cannot say which. Forget rather than guess.
  if (known !== undefined && known.etag !== replaced) {
    invalidate(state, tenantId, userId);
    return;
  }
  markStale(state, key);
  state.generation++;
  if (state.ttl > 0) state.cache.set(key, record, { ttl: state.ttl });
}

function invalidate(state: DirectoryState, tenantId: string, userId: string): void {
  const key = keyOf(tenantId, userId);
  state.invalidatedAt.set(key, state.generation);
  state.cache.delete(key);
  markStale(state, key);
  state.generation++;
}

function clear(state: DirectoryState): void {
  state.cache.clear();
  for (const key of [...state.inflight.keys()]) markStale(state, key);
  state.generation++;
}

/**
 * What a cached user takes, near enough: its strings at two bytes a character (V8's worst
 * case), plus the key and a fixed overhead for the objects and the cache's own slot.
 */
function sizeOf(record: UserRecord, key: string): number {
  const u = record.user;
  let chars = key.length + record.etag.length + u.id.length + u.tenant_id.length + u.name.length;
  chars += u.avatar_digest?.length ?? 0;
  for (const r of u.roles) chars += r.length + 8;
  return 2 * chars + 256;
}
