/**
 * The users store's write scripts: each write is one Lua script (EVALSHA through node-redis
 * `defineScript`), so it is atomic — the email check and the insert, the version check and the
 * update, the delete and its index entries — and XADDs its change event in the same script, so
 * no acknowledged write can exist without the event every sidecar follows. The keys they touch
 * are laid out in redis-keys.ts.
 */
import { defineScript } from 'redis';
import { createRedisClient } from '../../common/redis-connection.js';

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

/** A client of the users store, its scripts defined. */
export function createStoreClient(url: string) {
  return createRedisClient(url, 'cedargate-store', {
    scripts: { insertUser: INSERT_USER, updateUser: UPDATE_USER, deleteUser: DELETE_USER },
  });
}

export type StoreClient = ReturnType<typeof createStoreClient>;
