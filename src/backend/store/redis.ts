/**
 * The users store on Redis, for several backend replicas sharing one data set (REDIS_URL).
 *
 * The key layout is redis-keys.ts; every write is one Lua script (redis-scripts.ts), atomic with
 * its change event; what is re-read on every (re)connection — the eviction policy and the store
 * generation — is redis-checks.ts; the operations themselves are redis-users.ts. This file opens
 * the connection and says how a call fails: while Redis is unreachable every call fails with
 * UnavailableError (503). Through Sentinel a write that changed something is acknowledged only
 * once a replica holds it (`WAIT`): otherwise 503 with `may_have_been_applied`
 * (`unconfirmedWrite`), for a failover could undo it (docs/scaling.md, Failover).
 */
import type { Logger } from '../../common/logger.js';
import { CedargateError, UnavailableError } from '../../errors.js';
import {
  DEFAULT_KEY_PREFIX,
  closeQuietly,
  connectWithin,
  isConnectionError,
  REPLICA_ACK_TIMEOUT_MS,
  ReplicaUnconfirmedError,
  waitForReplica,
  watchConnection,
  writesWaitForReplica,
} from '../../common/redis-connection.js';
import { DEFAULT_EVENT_STREAM_MAXLEN, eventStreamKey } from '../../common/change-events.js';
import { generationKey } from '../../common/store-generation.js';
import { isOutOfMemoryError } from './redis-health.js';
import { watchStoreChecks, type StoreChecks } from './redis-checks.js';
import { createStoreClient, type StoreClient } from './redis-scripts.js';
import * as users from './redis-users.js';
import type { RedisStoreContext } from './redis-users.js';
import { RETRY_UNCONFIRMED, type UserStore } from './store.js';

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
  const client = createStoreClient(url);
  const logger = options.logger;
  if (logger !== undefined) watchConnection(client, logger, 'users store');
  else client.on('error', () => undefined); // surfaced through each command's rejection
  const checks = watchStoreChecks(client, {
    prefix,
    logger,
    generationCheckMs: options.generationCheckMs ?? GENERATION_CHECK_MS,
  });
  const replicaAckMs =
    options.replicaAckTimeoutMs ?? (writesWaitForReplica(url) ? REPLICA_ACK_TIMEOUT_MS : undefined);
  const ctx: RedisStoreContext = {
    client,
    prefix,
    events: eventStreamKey(prefix),
    maxLen: String(options.eventStreamMaxLen ?? DEFAULT_EVENT_STREAM_MAXLEN),
    generationKey: generationKey(prefix),
    now: options.now ?? (() => new Date()),
    checks,
    replicated: replicatedWrites(client, replicaAckMs),
  };
  try {
    await connectWithin(client, url, options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
  } catch (err) {
    checks.close();
    throw err;
  }
  await checks.settled();
  return storeOf(ctx, guard(client, checks));
}

/** The UserStore: each operation of redis-users.ts, run through `guarded`. */
function storeOf(ctx: RedisStoreContext, guarded: <T>(op: () => Promise<T>) => Promise<T>) {
  let closed = false;
  const store: UserStore = {
    createTenant: (name, owner, o) => guarded(() => users.createTenant(ctx, name, owner, o)),
    getTenant: (tenantId) => guarded(() => users.getTenant(ctx, tenantId)),
    listTenants: () => guarded(() => users.listTenants(ctx)),
    listUsers: (tenantId, o) => guarded(() => users.listUsers(ctx, tenantId, o)),
    getUser: (tenantId, userId) => guarded(() => users.getUser(ctx, tenantId, userId)),
    createUser: (tenantId, input) => guarded(() => users.createUser(ctx, tenantId, input)),
    updateUser: (tenantId, userId, patch, version, generation) =>
      guarded(() => users.updateUser(ctx, { tenantId, userId }, patch, version, generation)),
    deleteUser: (tenantId, userId, version, generation) =>
      guarded(() => users.deleteUser(ctx, { tenantId, userId }, version, generation)),
    // /readyz asks often enough to notice a policy changed without a reconnect, and to serve
    // again as soon as it is fixed.
    ping: async () => {
      await ctx.checks.recheck();
      await guarded(async () => {
        await ctx.client.ping();
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      ctx.checks.close();
      await closeQuietly(ctx.client);
    },
  };
  return store;
}

/**
 * Runs one store operation once the connection's checks ran: refused while Redis evicts; a lost
 * connection becomes 503, contract errors pass through.
 */
function guard(client: StoreClient, checks: StoreChecks) {
  return async <T>(op: () => Promise<T>): Promise<T> => {
    await checks.settled();
    const refusal = checks.refusal();
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
  };
}

/**
 * Runs a write script and, when writes wait for a replica and the script did write (`wrote`),
 * returns only once a replica holds it: otherwise 503 (`unconfirmedWrite`). A WAIT on another
 * connection than the write's (a reconnect, a new master in between) would confirm nothing about
 * the write, so it counts as unconfirmed too.
 */
function replicatedWrites(
  client: StoreClient,
  replicaAckMs: number | undefined,
): RedisStoreContext['replicated'] {
  /** Counts (re)connections, master changes included: a write and its WAIT must share one. */
  let connection = 0;
  client.on('ready', () => {
    connection += 1;
  });
  return async (write, wrote) => {
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
  };
}
