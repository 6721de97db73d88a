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
import { versionOfEtag } from '../common/user.js';
import type { UpstreamClient, UserRecord } from './upstream.js';

export interface UserDirectory {
  /** The user as the backend knows it (cached for at most the TTL), or null. */
  get(tenantId: string, userId: string, options?: { fresh?: boolean }): Promise<UserRecord | null>;
  /**
   * Keeps what the backend answered to a write through this replica (the user as it now is),
   * unless a newer version is already known.
   */
  remember(tenantId: string, userId: string, record: UserRecord, since: number): void;
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

export function createUserDirectory(options: {
  upstream: UpstreamClient;
  ttlMs: number;
  max?: number;
  /** Bytes the cached users may take at most (default `DEFAULT_DIRECTORY_MAX_BYTES`). */
  maxBytes?: number;
  /** The clock TTLs are measured on (performance.now() by default); for tests. */
  perf?: { now(): number };
}): UserDirectory & GuardedLookups {
  let ttl = options.ttlMs;
  const cache = new LRUCache<string, UserRecord>({
    max: options.max ?? 50_000,
    maxSize: options.maxBytes ?? DEFAULT_DIRECTORY_MAX_BYTES,
    sizeCalculation: sizeOf,
    ttl: Math.max(ttl, 1),
    // Not ttlAutopurge: that arms one timer per entry (tens of thousands at a full cache, re-armed
    // on every set). One sweep per TTL does the same with a single timer; an entry outlives its
    // TTL by at most one TTL, and is never served once expired meanwhile.
    ttlAutopurge: false,
    ...(options.perf === undefined ? {} : { perf: options.perf, ttlResolution: 0 }),
  });
  let sweepMs = 0;
  let sweep: ReturnType<typeof setInterval> | undefined;
  const scheduleSweep = () => {
    const every = Math.max(ttl, 1000);
    if (sweep !== undefined && every === sweepMs) return;
    if (sweep !== undefined) clearInterval(sweep);
    sweepMs = every;
    sweep = setInterval(() => cache.purgeStale(), every);
    sweep.unref();
  };
  scheduleSweep();
  // One look-up in flight per user, shared by concurrent misses. `stale` is set when a write,
  // an invalidation of that user or a clear() happens while it is in flight: its answer may then
  // be older than what the backend now holds, and putting it in the cache would serve the old
  // version for a whole TTL (to a policy decision, too). The guard is per user: a write to B says
  // nothing about A, so the principal (the same owner on every request of a write load) is not
  // fetched again and again while every connection waits for it. A look-up that is no longer in
  // this map is always stale (only the three above and its own end remove it), so the guard
  // needs no memory beyond the look-ups in flight.
  const inflight = new Map<string, { promise: Promise<UserRecord | null>; guard: Guard }>();
  const markStale = (key: string) => {
    const entry = inflight.get(key);
    if (entry === undefined) return;
    entry.guard.stale = true;
    inflight.delete(key);
  };
  // Bumped on every invalidation and write; `mark()`/`remember` measure "did another replica
  // invalidate this user while our write was in flight" on it.
  let generation = 0;
  // The generation at which each recently invalidated user was last invalidated (bounded).
  const invalidatedAt = new LRUCache<string, number>({ max: 10_000 });
  let hits = 0;
  let misses = 0;

  const keyOf = (tenantId: string, userId: string) =>
    `${canonicalId(tenantId)}/${canonicalId(userId)}`;

  function load(key: string, tenantId: string, userId: string): Promise<UserRecord | null> {
    const existing = inflight.get(key);
    if (existing !== undefined) return existing.promise;
    const guard: Guard = { stale: false };
    const promise = options.upstream
      .fetchUser(tenantId, userId)
      .then((record) => {
        if (record !== null && ttl > 0 && !guard.stale) cache.set(key, record, { ttl });
        return record;
      })
      .finally(() => {
        if (inflight.get(key)?.guard === guard) inflight.delete(key);
      });
    inflight.set(key, { promise, guard });
    return promise;
  }

  function invalidate(tenantId: string, userId: string): void {
    const key = keyOf(tenantId, userId);
    invalidatedAt.set(key, generation);
    cache.delete(key);
    markStale(key);
    generation++;
  }

  return {
    async get(tenantId, userId, opts = {}) {
      const key = keyOf(tenantId, userId);
      if (opts.fresh !== true) {
        const hit = cache.get(key);
        if (hit !== undefined) {
          hits++;
          return hit;
        }
      } else {
        cache.delete(key);
      }
      misses++;
      return load(key, tenantId, userId);
    },
    mark: () => generation,
    remember(tenantId, userId, record, since) {
      const key = keyOf(tenantId, userId);
      // Whatever answered, it is kept only under its own key.
      if (keyOf(record.user.tenant_id, record.user.id) !== key) {
        invalidate(tenantId, userId);
        return;
      }
      // Another replica changed the user while our write was in flight: its version may be the
      // newer one, and nothing here can tell. Forget rather than remember.
      if ((invalidatedAt.get(key) ?? -1) >= since) {
        cache.delete(key);
        return;
      }
      const known = cache.get(key);
      // Two writes' answers can arrive out of order: never replace a newer version.
      if (known !== undefined && versionOf(known.etag) >= versionOf(record.etag)) return;
      markStale(key);
      generation++;
      if (ttl > 0) cache.set(key, record, { ttl });
    },
    invalidate,
    clear() {
      cache.clear();
      for (const key of [...inflight.keys()]) markStale(key);
      generation++;
    },
    setTtl(ms) {
      ttl = ms;
      scheduleSweep();
    },
    stats: () => ({ hits, misses, size: cache.size, bytes: cache.calculatedSize }),
    lookupsInFlight: () => inflight.size,
    close() {
      if (sweep !== undefined) clearInterval(sweep);
      sweep = undefined;
    },
  };
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

/** The version an ETag names (see `etagOf`); -1 when it names none, so it never wins. */
function versionOf(etag: string): number {
  return versionOfEtag(etag) ?? -1;
}
