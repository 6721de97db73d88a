/**
 * The users store on Redis, for several backend replicas sharing one data set (REDIS_URL).
 *
 * Keys, all under one hash tag per tenant (`{<TENANT>}`), so every script touches a single
 * slot and the layout also fits Redis Cluster:
 *
 *   <prefix>{T}:tenant   hash    id, name, created_at
 *   <prefix>{T}:users    zset    every member scored 0: `<created_at>|<USER>`, so BYLEX order is
 *                                (created_at, id) — the SQLite store's order — and a cursor is a
 *                                position that stays valid when users are deleted
 *   <prefix>{T}:emails   hash    lower-cased email → user id (unique email per tenant)
 *   <prefix>{T}:user:U   hash    the user's fields, `version`, and `email_key`
 *
 * Every write is one Lua script (EVALSHA through node-redis `defineScript`), so it is atomic:
 * the email check and the insert, the version check and the update (optimistic concurrency, 412
 * when `expectedVersion` is stale), the delete and its index entries — and, in the same script,
 * the change event XADDed to `<prefix>events` (src/common/change-events.ts), so no acknowledged
 * write can exist without the event every sidecar follows. That one stream key is outside the
 * tenant's hash tag: the scripts are single-node (Redis Cluster is out of scope, docs/scaling.md).
 * Only UUID-shaped ids ever become part of a key. While Redis is unreachable every call fails
 * with UnavailableError (503). Through Sentinel a write that changed something is acknowledged
 * only once a replica holds it (`WAIT`): otherwise 503 with `may_have_been_applied`
 * (`unconfirmedWrite`), for a failover could undo it (docs/scaling.md, Failover).
 */
import { decodeCursor, encodeCursor, type CursorPosition } from './cursor.js';
import { DEFAULT_PAGE_MAX_BYTES, fitsInPage, pageBytesOf } from './page-budget.js';
import { defineScript } from 'redis';
import type { Logger } from '../../common/logger.js';
import { canonicalId, isIdShaped, newUserId } from '../../common/ids.js';
import {
  OWNER_ROLE,
  type NewUser,
  type StoredUser,
  type Tenant,
  type UserPatch,
} from '../../common/user.js';
import {
  CedargateError,
  ConflictError,
  NotFoundError,
  PreconditionFailedError,
  UnavailableError,
} from '../../errors.js';
import {
  DEFAULT_KEY_PREFIX,
  closeQuietly,
  connectWithin,
  isConnectionError,
  createRedisClient,
  REPLICA_ACK_TIMEOUT_MS,
  ReplicaUnconfirmedError,
  waitForReplica,
  watchConnection,
  writesWaitForReplica,
} from '../../common/redis-connection.js';
import { checkPageLimit } from '../../common/list-query.js';
import { DEFAULT_EVENT_STREAM_MAXLEN, eventStreamKey } from '../../common/change-events.js';
import {
  ensureGeneration,
  generationKey,
  logGenerationChange,
} from '../../common/store-generation.js';
import {
  checkEvictionPolicy,
  evictionRefusal,
  isOutOfMemoryError,
  SAFE_EVICTION_POLICY,
} from './redis-health.js';
import {
  newTenantIdFor,
  tenantExists,
  type ListOptions,
  type UserPage,
  type UserStore,
} from './store.js';

/** What a user's fields other than the avatar take in a page, at most in practice. */
const FIELDS_ALLOWANCE_BYTES = 1024;
const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
/**
 * How often the store re-reads the generation besides each reconnect and each /readyz: the
 * bound on how long it goes on stamping ETags of a generation that is gone (a conditional write
 * is checked against the generation in its own script, so none is ever accepted meanwhile).
 */
export const GENERATION_CHECK_MS = 1_000;

/** Options of `openRedisStore`. */
export interface RedisStoreOptions {
  /** Key prefix (default `cedargate:`); tests give each store its own. */
  prefix?: string;
  /** The clock for created_at/updated_at. */
  now?: () => Date;
  /** How long opening waits for Redis before failing (default 5000 ms). */
  connectTimeoutMs?: number;
  logger?: Logger;
  /** EVENT_STREAM_MAXLEN: the change stream is trimmed to about this many entries. */
  eventStreamMaxLen?: number;
  /** How often the generation is re-read (default `GENERATION_CHECK_MS`). */
  generationCheckMs?: number;
  /**
   * A write is acknowledged only once a replica holds it (`WAIT 1 <ms>`), waiting at most this
   * long; otherwise it answers 503 (`unconfirmedWrite`). Default: `REPLICA_ACK_TIMEOUT_MS`
   * through Sentinel, no wait on a plain REDIS_URL (nothing would be promoted in its place).
   */
  replicaAckTimeoutMs?: number;
}

/**
 * Inserts a user (and, for `tenant create`, its tenant) if the email is free in the tenant.
 * KEYS: tenant, emails, users index, user, event stream. ARGV: email key, user id, index member,
 * create-tenant flag, tenant id, tenant name, tenant created_at, stream MAXLEN, then the user
 * hash's field/value pairs.
 */
const INSERT_USER = defineScript({
  NUMBER_OF_KEYS: 5,
  SCRIPT: `
    if ARGV[4] == '1' then
      if redis.call('EXISTS', KEYS[1]) == 1 then return 'tenant_exists' end
      redis.call('HSET', KEYS[1], 'id', ARGV[5], 'name', ARGV[6], 'created_at', ARGV[7])
    elseif redis.call('EXISTS', KEYS[1]) == 0 then
      return 'no_tenant'
    end
    if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 0 then return 'email_taken' end
    redis.call('HSET', KEYS[4], unpack(ARGV, 9))
    redis.call('ZADD', KEYS[3], 0, ARGV[3])
    redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[8], '*',
      'kind', 'user', 'tenant', ARGV[5], 'user', ARGV[2], 'version', '1')
    return 'ok'`,
  parseCommand(
    parser,
    keys: readonly [string, string, string, string, string],
    args: readonly string[],
  ): void {
    for (const k of keys) parser.pushKey(k);
    parser.push(...args);
  },
  transformReply: (reply: unknown): unknown => reply,
});

/**
 * Applies a patch if the user exists (and is at the expected version, when one is given, in the
 * expected store generation: the same counter in another generation is another version).
 * KEYS: user, event stream, generation. ARGV: expected version or '', stream MAXLEN, expected
 * generation or '', number of pairs to set, the pairs, then the fields to delete. Returns
 * 'not_found', 'stale', or the whole hash after the update.
 */
const UPDATE_USER = defineScript({
  NUMBER_OF_KEYS: 3,
  SCRIPT: `
    local u = redis.call('HMGET', KEYS[1], 'version', 'tenant_id', 'id')
    if not u[1] then return 'not_found' end
    if ARGV[1] ~= '' and ARGV[1] ~= u[1] then return 'stale' end
    if ARGV[3] ~= '' and redis.call('GET', KEYS[3]) ~= ARGV[3] then return 'stale' end
    local n = tonumber(ARGV[4])
    redis.call('HSET', KEYS[1], unpack(ARGV, 5, 4 + 2 * n))
    for i = 5 + 2 * n, #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]) end
    local v = redis.call('HINCRBY', KEYS[1], 'version', 1)
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*',
      'kind', 'user', 'tenant', u[2], 'user', u[3], 'version', tostring(v))
    return redis.call('HGETALL', KEYS[1])`,
  parseCommand(parser, keys: readonly [string, string, string], args: readonly string[]): void {
    for (const k of keys) parser.pushKey(k);
    parser.push(...args);
  },
  transformReply: (reply: unknown): unknown => reply,
});

/**
 * Deletes a user and its index entries if it exists (at the expected version and generation,
 * when given). KEYS: user, emails, users index, event stream, generation. ARGV: expected
 * version or '', stream MAXLEN, expected generation or ''.
 */
const DELETE_USER = defineScript({
  NUMBER_OF_KEYS: 5,
  SCRIPT: `
    local u = redis.call('HMGET', KEYS[1], 'version', 'email_key', 'created_at', 'id', 'tenant_id')
    if not u[1] then return 'not_found' end
    if ARGV[1] ~= '' and ARGV[1] ~= u[1] then return 'stale' end
    if ARGV[3] ~= '' and redis.call('GET', KEYS[5]) ~= ARGV[3] then return 'stale' end
    redis.call('DEL', KEYS[1])
    if redis.call('HGET', KEYS[2], u[2]) == u[4] then redis.call('HDEL', KEYS[2], u[2]) end
    redis.call('ZREM', KEYS[3], u[3] .. '|' .. u[4])
    redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[2], '*',
      'kind', 'user', 'tenant', u[5], 'user', u[4], 'version', '0')
    return 'ok'`,
  parseCommand(
    parser,
    keys: readonly [string, string, string, string, string],
    args: readonly [string, string, string],
  ): void {
    for (const k of keys) parser.pushKey(k);
    parser.push(...args);
  },
  transformReply: (reply: unknown): unknown => reply,
});

function createStoreClient(url: string) {
  return createRedisClient(url, 'cedargate-store', {
    scripts: { insertUser: INSERT_USER, updateUser: UPDATE_USER, deleteUser: DELETE_USER },
  });
}

/** The keys of one tenant. Ids must be canonical and UUID-shaped (see `tenantKeys`). */
interface TenantKeys {
  tenant: string;
  users: string;
  emails: string;
  user(userId: string): string;
}

/** A user's hash fields, as Redis returns them. */
type UserHash = Record<string, string>;

/**
 * Redis hash → the project's type: the one place the stored shape is converted. `generation`:
 * the store generation it was read in.
 */
function toStoredUser(h: UserHash, generation: string): StoredUser {
  const field = (name: string): string => {
    const v = h[name];
    if (v === undefined) throw new Error(`stored user is missing the field "${name}"`);
    return v;
  };
  return {
    id: field('id'),
    tenant_id: field('tenant_id'),
    name: field('name'),
    email: field('email'),
    roles: JSON.parse(field('roles')) as string[],
    is_owner: field('is_owner') === '1',
    avatar: h['avatar'] ?? null,
    auth_provider: field('auth_provider'),
    created_at: field('created_at'),
    updated_at: field('updated_at'),
    version: Number(field('version')),
    generation,
  };
}

/** A flat [field, value, ...] reply (a script's HGETALL) as a record. */
function pairsToHash(reply: unknown): UserHash {
  if (!Array.isArray(reply)) throw new Error('unexpected reply from the update script');
  const h: UserHash = {};
  for (let i = 0; i + 1 < reply.length; i += 2) h[String(reply[i])] = String(reply[i + 1]);
  return h;
}

/** The index member of a user: (created_at, id) in an order BYLEX keeps. */
function indexMember(u: Pick<StoredUser, 'created_at' | 'id'>): string {
  return `${u.created_at}|${u.id}`;
}

function emailTaken(email: string): ConflictError {
  return new ConflictError('the email is already taken in this tenant', {
    details: { field: 'email', email },
  });
}

/** What a client told `unconfirmedWrite` should do (`details.retry`). */
export const RETRY_UNCONFIRMED =
  'send the same request again after Retry-After: a PUT converges on the same user, ' +
  'a DELETE whose first attempt held answers 404, a POST whose first attempt held answers 409';

/**
 * The answer to a write no replica confirmed: the master applied it, but a failover now would
 * undo it, so it is not acknowledged — and not refused either, since it may well hold. Every
 * users API write converges when sent again (`RETRY_UNCONFIRMED`), so the client is told to.
 */
export function unconfirmedWrite(err: ReplicaUnconfirmedError): UnavailableError {
  return new UnavailableError(
    `the write reached the store's primary, but no replica confirmed it within ${err.waitedMs} ms: ` +
      'it may have been applied, and a failover now could undo it',
    {
      cause: err,
      retryAfterSeconds: 1,
      details: {
        may_have_been_applied: true,
        reason: 'no_replica_confirmed',
        retry: RETRY_UNCONFIRMED,
      },
    },
  );
}

/**
 * Opens the Redis store: connects (failing after `connectTimeoutMs` rather than hanging), then
 * reconnects with backoff by itself whenever the connection drops.
 */
export async function openRedisStore(
  url: string,
  options: RedisStoreOptions = {},
): Promise<UserStore> {
  const prefix = options.prefix ?? DEFAULT_KEY_PREFIX;
  const events = eventStreamKey(prefix);
  const maxLen = String(options.eventStreamMaxLen ?? DEFAULT_EVENT_STREAM_MAXLEN);
  const now = options.now ?? (() => new Date());
  const logger = options.logger;
  const client = createStoreClient(url);
  if (logger !== undefined) watchConnection(client, logger, 'users store');
  else client.on('error', () => undefined); // surfaced through each command's rejection

  /** Why the store refuses to serve (an evicting Redis), re-read on every (re)connect. */
  let refusal: string | undefined;
  let checking: Promise<void> = Promise.resolve();
  let warnedUnknown = false;
  async function checkHealth(): Promise<void> {
    const found = await checkEvictionPolicy(client);
    if (found.kind === 'evicting') {
      const message = evictionRefusal(found.policy);
      if (refusal !== message) {
        logger?.error({ setting: 'maxmemory-policy', value: found.policy }, message);
      }
      refusal = message;
      return;
    }
    if (refusal !== undefined) {
      logger?.info(`users store: Redis maxmemory-policy is ${SAFE_EVICTION_POLICY}; serving again`);
    }
    refusal = undefined;
    if (found.kind === 'unknown' && !warnedUnknown) {
      warnedUnknown = true;
      logger?.warn(
        { setting: 'maxmemory-policy', reason: found.reason },
        `users store: cannot read maxmemory-policy from Redis; serving, but make sure it is ` +
          `${SAFE_EVICTION_POLICY} (an evicting policy loses users and revocations)`,
      );
    }
  }
  /** The generation this store remembers; its users' ETags carry it. */
  let generation = '';
  const genKey = generationKey(prefix);
  async function checkGeneration(): Promise<void> {
    const found = await ensureGeneration(client, prefix);
    if (generation !== '' && found !== generation) {
      logGenerationChange(logger, {
        old: generation,
        new: found,
        reason: 'the store generation is not the one this process read',
        component: 'users store',
      });
    }
    generation = found;
  }
  /** Commands wait for the check of the current connection, so none runs on an unchecked one. */
  function recheck(): Promise<void> {
    // offline: the command itself says so
    checking = Promise.all([checkHealth(), checkGeneration()]).then(
      () => undefined,
      () => undefined,
    );
    return checking;
  }
  /** Counts (re)connections, master changes included: a write and its WAIT must share one. */
  let connection = 0;
  client.on('ready', () => {
    connection += 1;
    void recheck();
  });
  const replicaAckMs =
    options.replicaAckTimeoutMs ?? (writesWaitForReplica(url) ? REPLICA_ACK_TIMEOUT_MS : undefined);
  await connectWithin(client, url, options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
  await checking;
  const generationTimer = setInterval(() => {
    if (client.isReady) checkGeneration().catch(() => undefined);
  }, options.generationCheckMs ?? GENERATION_CHECK_MS);
  generationTimer.unref();

  /** Keys of a tenant, or undefined when the id could not be one (and so names no data). */
  function tenantKeys(rawTenantId: string): TenantKeys | undefined {
    if (!isIdShaped(rawTenantId)) return undefined;
    const base = `${prefix}{${canonicalId(rawTenantId)}}:`;
    return {
      tenant: `${base}tenant`,
      users: `${base}users`,
      emails: `${base}emails`,
      user: (userId) => `${base}user:${userId}`,
    };
  }

  /**
   * Runs a write script and, when writes wait for a replica and the script did write (`wrote`),
   * returns only once a replica holds it: otherwise 503 (`unconfirmedWrite`). A WAIT on another
   * connection than the write's (a reconnect, a new master in between) would confirm nothing
   * about the write, so it counts as unconfirmed too.
   */
  async function replicated<R>(write: () => Promise<R>, wrote: (reply: R) => boolean): Promise<R> {
    const on = connection;
    const reply = await write();
    if (replicaAckMs === undefined || !wrote(reply)) return reply;
    try {
      await waitForReplica(client, replicaAckMs);
      if (connection !== on) throw new ReplicaUnconfirmedError(replicaAckMs);
    } catch (err) {
      if (err instanceof ReplicaUnconfirmedError) throw unconfirmedWrite(err);
      throw err;
    }
    return reply;
  }

  /** Runs one store operation; a lost connection becomes 503, contract errors pass through. */
  async function guarded<T>(op: () => Promise<T>): Promise<T> {
    await checking;
    if (refusal !== undefined) throw new UnavailableError(refusal);
    try {
      return await op();
    } catch (err) {
      if (err instanceof CedargateError) throw err;
      if (isOutOfMemoryError(err)) {
        throw new UnavailableError('the users store (Redis) is out of memory (maxmemory)', {
          cause: err,
        });
      }
      if (isConnectionError(err, client)) {
        throw new UnavailableError('the users store (Redis) is unreachable', { cause: err });
      }
      throw err;
    }
  }

  async function insertUser(
    keys: TenantKeys,
    tenant: { id: string; create?: { name: string; createdAt: string } },
    input: NewUser,
    isOwner: boolean,
  ): Promise<StoredUser> {
    const at = now().toISOString();
    const user: StoredUser = {
      id: newUserId(),
      tenant_id: tenant.id,
      name: input.name,
      email: input.email,
      roles: isOwner ? [OWNER_ROLE] : [...input.roles],
      is_owner: isOwner,
      avatar: input.avatar ?? null,
      auth_provider: input.auth_provider ?? 'local',
      created_at: at,
      updated_at: at,
      version: 1,
      generation,
    };
    const emailKey = input.email.toLowerCase();
    const fields = [
      ...['id', user.id, 'tenant_id', user.tenant_id, 'name', user.name, 'email', user.email],
      ...['roles', JSON.stringify(user.roles), 'is_owner', isOwner ? '1' : '0'],
      ...['auth_provider', user.auth_provider, 'created_at', at, 'updated_at', at],
      ...['version', '1', 'email_key', emailKey],
      ...(user.avatar === null ? [] : ['avatar', user.avatar]),
    ];
    const reply = await replicated(
      () =>
        client.insertUser(
          [keys.tenant, keys.emails, keys.users, keys.user(user.id), events],
          [
            emailKey,
            user.id,
            indexMember(user),
            tenant.create === undefined ? '0' : '1',
            tenant.id,
            tenant.create?.name ?? '',
            tenant.create?.createdAt ?? '',
            maxLen,
            ...fields,
          ],
        ),
      (r) => r === 'ok',
    );
    if (reply === 'no_tenant') throw new NotFoundError('no such tenant');
    if (reply === 'tenant_exists') throw tenantExists(tenant.id);
    if (reply === 'email_taken') throw emailTaken(input.email);
    if (reply !== 'ok') throw new Error(`insert script answered ${String(reply)}`);
    return user;
  }

  /**
   * The first members whose users fit in `maxBytes` by their avatars' sizes (HSTRLEN, a few
   * bytes per reply) and a generous allowance for the other fields: the hashes themselves are
   * then read only for a page that fits, never for all `limit` users.
   */
  async function withinEstimate(
    keys: TenantKeys,
    members: string[],
    maxBytes: number,
  ): Promise<string[]> {
    const avatarBytes = await Promise.all(
      members.map((m) => client.hStrLen(keys.user(userIdOf(m)), 'avatar')),
    );
    let used = 0;
    let n = 0;
    for (const avatar of avatarBytes) {
      const estimate = Number(avatar) + FIELDS_ALLOWANCE_BYTES;
      if (!fitsInPage(n, used, estimate, maxBytes)) break;
      used += estimate;
      n++;
    }
    // One more than the estimate admits: if the allowance was too generous it may still fit.
    return members.slice(0, Math.min(members.length, n + 1));
  }

  /**
   * A refused conditional write may have been refused for the generation: learn the current one
   * now, so the client's next read carries an ETag it can use.
   */
  async function staleAfterCheck(): Promise<PreconditionFailedError> {
    await checkGeneration().catch(() => undefined);
    return new PreconditionFailedError();
  }

  let closed = false;

  return {
    createTenant: (name, owner, options) =>
      guarded(async () => {
        const tenant: Tenant = { id: newTenantIdFor(options), name };
        const keys = tenantKeys(tenant.id);
        if (keys === undefined) throw new Error('checked tenant id is not UUID-shaped');
        const created = await insertUser(
          keys,
          { id: tenant.id, create: { name, createdAt: now().toISOString() } },
          owner,
          true,
        );
        return { tenant, owner: created };
      }),

    getTenant: (tenantId) =>
      guarded(async () => {
        const keys = tenantKeys(tenantId);
        if (keys === undefined) return null;
        const h = await client.hGetAll(keys.tenant);
        return h['id'] === undefined || h['name'] === undefined
          ? null
          : { id: h['id'], name: h['name'] };
      }),

    listTenants: () =>
      guarded(async () => {
        // SCAN, not KEYS: never blocks the server however many tenants there are.
        const found: { id: string; name: string; createdAt: string }[] = [];
        for await (const batch of client.scanIterator({
          MATCH: `${prefix}{*}:tenant`,
          COUNT: 500,
        })) {
          for (const key of ([] as string[]).concat(batch)) {
            const h = await client.hGetAll(key);
            if (h['id'] !== undefined && h['name'] !== undefined)
              found.push({ id: h['id'], name: h['name'], createdAt: h['created_at'] ?? '' });
          }
        }
        found.sort((a, b) =>
          a.createdAt === b.createdAt ? (a.id < b.id ? -1 : 1) : a.createdAt < b.createdAt ? -1 : 1,
        );
        return found.map(({ id, name }) => ({ id, name }));
      }),

    listUsers: (tenantId, options: ListOptions) =>
      guarded(async (): Promise<UserPage> => {
        const { limit, cursor, maxBytes = DEFAULT_PAGE_MAX_BYTES } = options;
        checkPageLimit(limit);
        const after = cursor === undefined ? undefined : memberOf(decodeCursor(cursor));
        const keys = tenantKeys(tenantId);
        if (keys === undefined) return { users: [], nextCursor: null };
        // One extra member tells whether another page exists.
        const members = await client.zRange(
          keys.users,
          after === undefined ? '-' : `(${after}`,
          '+',
          {
            BY: 'LEX',
            LIMIT: { offset: 0, count: limit + 1 },
          },
        );
        const candidates = await withinEstimate(keys, members.slice(0, limit), maxBytes);
        const hashes = await Promise.all(
          candidates.map((m) => client.hGetAll(keys.user(userIdOf(m)))),
        );
        // The estimate is close, not exact (and a user may change between the reads): the
        // exact sizes decide where the page ends.
        const users: StoredUser[] = [];
        let used = 0;
        let taken = 0; // index members consumed, deleted users included
        for (const h of hashes) {
          // A user deleted between the two reads is simply not on this page.
          if (h['id'] !== undefined) {
            const user = toStoredUser(h, generation);
            const bytes = pageBytesOf(user);
            if (!fitsInPage(users.length, used, bytes, maxBytes)) break;
            users.push(user);
            used += bytes;
          }
          taken++;
        }
        const lastMember = members[taken - 1];
        return {
          users,
          nextCursor:
            members.length > taken && lastMember !== undefined
              ? encodeCursor(positionOf(lastMember))
              : null,
        };
      }),

    getUser: (tenantId, userId) =>
      guarded(async () => {
        const keys = tenantKeys(tenantId);
        if (keys === undefined || !isIdShaped(userId)) return null;
        const h = await client.hGetAll(keys.user(canonicalId(userId)));
        return h['id'] === undefined ? null : toStoredUser(h, generation);
      }),

    createUser: (tenantId, input) =>
      guarded(async () => {
        const keys = tenantKeys(tenantId);
        if (keys === undefined) throw new NotFoundError('no such tenant');
        return insertUser(keys, { id: canonicalId(tenantId) }, input, false);
      }),

    updateUser: (tenantId, userId, patch: UserPatch, expectedVersion, expectedGeneration) =>
      guarded(async () => {
        const keys = tenantKeys(tenantId);
        if (keys === undefined || !isIdShaped(userId))
          throw new NotFoundError('no such user in this tenant');
        const set: string[] = ['updated_at', now().toISOString()];
        const del: string[] = [];
        if (patch.name !== undefined) set.push('name', patch.name);
        if (patch.roles !== undefined) set.push('roles', JSON.stringify(patch.roles));
        if (patch.avatar === null) del.push('avatar');
        else if (patch.avatar !== undefined) set.push('avatar', patch.avatar);
        const reply = await replicated(
          () =>
            client.updateUser(
              [keys.user(canonicalId(userId)), events, genKey],
              [
                expectedVersion === undefined ? '' : String(expectedVersion),
                maxLen,
                expectedVersion === undefined ? '' : (expectedGeneration ?? generation),
                String(set.length / 2),
                ...set,
                ...del,
              ],
            ),
          (r) => r !== 'not_found' && r !== 'stale',
        );
        if (reply === 'not_found') throw new NotFoundError('no such user in this tenant');
        if (reply === 'stale') throw await staleAfterCheck();
        return toStoredUser(pairsToHash(reply), generation);
      }),

    deleteUser: (tenantId, userId, expectedVersion, expectedGeneration) =>
      guarded(async () => {
        const keys = tenantKeys(tenantId);
        if (keys === undefined || !isIdShaped(userId))
          throw new NotFoundError('no such user in this tenant');
        const reply = await replicated(
          () =>
            client.deleteUser(
              [keys.user(canonicalId(userId)), keys.emails, keys.users, events, genKey],
              [
                expectedVersion === undefined ? '' : String(expectedVersion),
                maxLen,
                expectedVersion === undefined ? '' : (expectedGeneration ?? generation),
              ],
            ),
          (r) => r === 'ok',
        );
        if (reply === 'not_found') throw new NotFoundError('no such user in this tenant');
        if (reply === 'stale') throw await staleAfterCheck();
      }),

    // /readyz asks often enough to notice a policy changed without a reconnect, and to serve
    // again as soon as it is fixed.
    ping: async () => {
      await recheck();
      await guarded(async () => {
        await client.ping();
      });
    },

    async close() {
      if (closed) return;
      closed = true;
      clearInterval(generationTimer);
      await closeQuietly(client);
    },
  };
}

/** The user id of an index member (`<created_at>|<USER>`). */
function userIdOf(member: string): string {
  return member.slice(member.indexOf('|') + 1);
}

/** The index member a cursor position names. */
function memberOf(p: CursorPosition): string {
  return indexMember({ created_at: p.createdAt, id: p.id });
}

function positionOf(member: string): CursorPosition {
  const [createdAt = '', id = ''] = member.split('|');
  return { createdAt, id };
}
