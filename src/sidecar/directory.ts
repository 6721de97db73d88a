/**
 * What the sidecar knows about users: a bounded, short-lived cache in front of the backend,
 * with one in-flight lookup shared by concurrent misses. Writes through this replica drop the
 * entry at once; writes through other replicas arrive as invalidations (see the Redis bus).
 */
import { LRUCache } from 'lru-cache';
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
  stats(): { hits: number; misses: number; size: number };
}

export function createUserDirectory(options: {
  upstream: UpstreamClient;
  ttlMs: number;
  max?: number;
}): UserDirectory {
  let ttl = options.ttlMs;
  const cache = new LRUCache<string, UserRecord>({
    max: options.max ?? 50_000,
    ttl: Math.max(ttl, 1),
    ttlAutopurge: false,
  });
  const inflight = new Map<string, Promise<UserRecord | null>>();
  // Bumped on every invalidation, so a lookup that started before a write cannot put the old
  // version back into the cache when it lands after it. One counter for all keys: always
  // correct, and it costs only a few cache fills while writes are happening.
  let generation = 0;
  // The generation at which each recently invalidated user was last invalidated (bounded).
  const invalidatedAt = new LRUCache<string, number>({ max: 10_000 });
  let hits = 0;
  let misses = 0;

  const keyOf = (tenantId: string, userId: string) => `${tenantId}/${userId}`.toUpperCase();

  function load(key: string, tenantId: string, userId: string): Promise<UserRecord | null> {
    const existing = inflight.get(key);
    if (existing !== undefined) return existing;
    const startGen = generation;
    const p = options.upstream
      .fetchUser(tenantId, userId)
      .then((record) => {
        if (record !== null && ttl > 0 && generation === startGen) cache.set(key, record, { ttl });
        return record;
      })
      .finally(() => {
        if (inflight.get(key) === p) inflight.delete(key);
      });
    inflight.set(key, p);
    return p;
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
      // Another replica changed the user while our write was in flight: its version may be the
      // newer one, and nothing here can tell. Forget rather than remember.
      if ((invalidatedAt.get(key) ?? -1) >= since) {
        cache.delete(key);
        return;
      }
      const known = cache.get(key);
      // Two writes' answers can arrive out of order: never replace a newer version.
      if (known !== undefined && versionOf(known.etag) >= versionOf(record.etag)) return;
      inflight.delete(key);
      generation++;
      if (ttl > 0) cache.set(key, record, { ttl });
    },
    invalidate(tenantId, userId) {
      const key = keyOf(tenantId, userId);
      invalidatedAt.set(key, generation);
      cache.delete(key);
      inflight.delete(key);
      generation++;
    },
    clear() {
      cache.clear();
      inflight.clear();
      generation++;
    },
    setTtl(ms) {
      ttl = ms;
    },
    stats: () => ({ hits, misses, size: cache.size }),
  };
}

/** The version an ETag names (see `etagOf`); -1 when it names none, so it never wins. */
function versionOf(etag: string): number {
  return versionOfEtag(etag) ?? -1;
}
