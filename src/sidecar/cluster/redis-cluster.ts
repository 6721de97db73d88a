/**
 * The sidecar's cluster channel on Redis: cross-replica cache invalidation and token revocation.
 *
 * Two connections: one for commands (publish, loading the revocation list) and one subscribed to
 * the two channels. The revocation check on the hot path is a look-up in a local mirror; the
 * mirror is trusted only while the subscriber is connected and has been (re)loaded since it last
 * connected ("synced"). Otherwise the check fails closed with 503 `unavailable`, unless
 * REVOCATION_FAIL_OPEN chose availability. Losing the channel also tells the sidecar to keep its
 * caches short (`onDegraded`); getting it back reloads the mirror and restores them
 * (`onRecovered`). node-redis reconnects with backoff forever; nothing here ever crashes the
 * process.
 */
import type { Logger } from '../../common/logger.js';
import { UnauthenticatedError, UnavailableError } from '../../errors.js';
import type { SidecarCluster } from '../server.js';
import { decodeUserChanged, encodeUserChanged } from './invalidation.js';
import { clusterKeys } from './keys.js';
import {
  closeQuietly,
  createPlainClient,
  describeRedisUrl,
  reconnectDelayMs,
  watchConnection,
} from '../../common/redis-connection.js';
import { createRevocationMirror, type RevocationMirror } from './revocation-mirror.js';
import { decodeRevocation, loadRevocations } from './revocations.js';

/** Options of `createRedisCluster`. */
export interface RedisClusterOptions {
  url: string;
  logger: Logger;
  /** REVOCATION_FAIL_OPEN: while Redis is unreachable, accept tokens the mirror does not list. */
  failOpen: boolean;
  /** Key and channel prefix (default `cedargate:`). */
  prefix?: string;
  /** Clock in ms since the epoch (the mirror drops expired jti entries by it). */
  now?: () => number;
  /** CLOCK_TOLERANCE_SECONDS: subject cut-offs cover tokens stamped this far ahead. */
  clockToleranceSeconds?: number;
  /** How long `start` waits for the first sync before going on degraded (default 3000 ms). */
  startTimeoutMs?: number;
}

/** The Redis cluster channel plus what tests and /status may want to look at. */
export interface RedisCluster extends SidecarCluster {
  /** Resolves (never rejects) once Redis has accepted the message, or at once when it cannot. */
  publishUserChanged(tenantId: string, userId: string): Promise<void>;
  readonly mirror: Pick<RevocationMirror, 'size' | 'check'>;
}

type State = 'idle' | 'synced' | 'degraded' | 'closed';

type Handlers = Parameters<SidecarCluster['start']>[0];

/** Builds the channel; nothing connects until `start`. */
export function createRedisCluster(options: RedisClusterOptions): RedisCluster {
  const { url, logger, failOpen } = options;
  const keys = clusterKeys(options.prefix);
  const mirror = createRevocationMirror({
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.clockToleranceSeconds === undefined
      ? {}
      : { clockToleranceSeconds: options.clockToleranceSeconds }),
  });
  const data = createPlainClient(url, 'cedargate-sidecar');
  const subscriber = createPlainClient(url, 'cedargate-sidecar-events', { subscriber: true });
  watchConnection(data, logger, 'cluster commands');
  watchConnection(subscriber, logger, 'cluster events');

  let state: State = 'idle';
  let handlers: Handlers | undefined;
  let subscribed = false;
  let syncing: Promise<void> | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let retries = 0;
  /** Bumped whenever the subscriber drops: a sync that began before must not declare success. */
  let epoch = 0;
  let onSynced: (() => void) | undefined;
  let failOpenWarned = false;

  function onMessage(message: string, channel: string): void {
    if (channel === keys.userChangedChannel) {
      const ids = decodeUserChanged(message);
      if (ids === undefined) return void logger.warn('ignored a malformed user-changed message');
      handlers?.onUserChanged(ids.tenantId, ids.userId);
    } else if (channel === keys.revocationsChannel) {
      const r = decodeRevocation(message);
      if (r === undefined) return void logger.warn('ignored a malformed revocation message');
      mirror.apply(r);
      logger.info({ kind: r.kind }, 'revocation received');
    }
  }

  function markDown(): void {
    epoch += 1;
    if (state === 'closed' || state === 'degraded') return;
    state = 'degraded';
    logger.warn(
      failOpen
        ? 'revocation list unreachable: REVOCATION_FAIL_OPEN is set, tokens are accepted unchecked'
        : 'revocation list unreachable: requests are refused with 503 until Redis is back',
    );
    handlers?.onDegraded();
  }

  function markSynced(): void {
    const was = state;
    state = 'synced';
    retries = 0;
    failOpenWarned = false;
    onSynced?.();
    if (was === 'degraded') {
      logger.info({ revoked: mirror.size() }, 'revocation list reloaded: cluster channel back');
      handlers?.onRecovered();
    }
  }

  function scheduleSync(): void {
    if (state === 'closed' || retryTimer !== undefined) return;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      sync();
    }, reconnectDelayMs(retries++));
    retryTimer.unref();
  }

  /** Subscribes (once; node-redis resubscribes after reconnects), then loads the whole list. */
  function sync(): void {
    if (state === 'closed' || state === 'synced' || syncing !== undefined) return;
    if (!subscriber.isReady) return; // its 'ready' event calls again
    const startedAt = epoch;
    syncing = (async () => {
      try {
        if (!subscribed) {
          await subscriber.subscribe([keys.userChangedChannel, keys.revocationsChannel], onMessage);
          subscribed = true;
        }
        mirror.merge(await loadRevocations(data, keys));
        if (epoch === startedAt && subscriber.isReady) markSynced();
        else scheduleSync();
      } catch (err) {
        logger.debug({ err: (err as Error).message }, 'revocation list load failed; retrying');
        scheduleSync();
      } finally {
        syncing = undefined;
      }
    })();
  }

  subscriber.on('ready', () => sync());
  data.on('ready', () => sync());
  for (const event of ['error', 'end', 'reconnecting'] as const) {
    subscriber.on(event, () => {
      if (!subscriber.isReady) markDown();
    });
  }

  return {
    mirror,

    async start(h) {
      handlers = h;
      const firstSync = new Promise<void>((resolve) => (onSynced = resolve));
      // connect() retries until it succeeds (or close() stops it): never awaited unbounded.
      for (const client of [data, subscriber]) client.connect().catch(() => undefined);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        firstSync.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), options.startTimeoutMs ?? 3_000);
        }),
      ]);
      clearTimeout(timer);
      onSynced = undefined;
      if (timedOut) {
        logger.warn(
          { redis: describeRedisUrl(url) },
          'Redis not reachable at start; carrying on degraded',
        );
        markDown();
      } else {
        logger.info(
          { redis: describeRedisUrl(url), revoked: mirror.size() },
          'cluster channel ready',
        );
      }
    },

    publishUserChanged(tenantId, userId) {
      if (state === 'closed') return Promise.resolve();
      // Never rejects: a lost invalidation is bounded by the cache TTL, and a replica that
      // cannot hear the channel has already shortened its TTLs. Resolves once Redis has handed
      // the message to every subscriber, for a caller that wants to answer only after that.
      return data.publish(keys.userChangedChannel, encodeUserChanged(tenantId, userId)).then(
        () => undefined,
        (err: Error) => {
          logger.warn({ err: err.message, tenantId, userId }, 'could not publish a user change');
        },
      );
    },

    revocation: {
      assertNotRevoked(cred) {
        // A revocation the mirror knows of counts even while Redis is away.
        const revokedBy = mirror.check(cred);
        if (revokedBy !== null) throw new UnauthenticatedError(`token revoked (by ${revokedBy})`);
        if (state === 'synced') return;
        if (failOpen) {
          if (!failOpenWarned)
            logger.warn('accepting a token unchecked for revocation (REVOCATION_FAIL_OPEN)');
          failOpenWarned = true;
          return;
        }
        throw new UnavailableError('the revocation list is unavailable; try again shortly');
      },
    },

    health() {
      const { jtis, subjects } = mirror.size();
      if (state === 'synced') {
        return { ok: true, detail: `ok (${jtis} revoked tokens, ${subjects} revoked subjects)` };
      }
      if (state === 'idle') return { ok: false, detail: 'not started' };
      if (state === 'closed') return { ok: false, detail: 'closed' };
      return failOpen
        ? { ok: true, detail: 'unreachable; REVOCATION_FAIL_OPEN: tokens accepted unchecked' }
        : { ok: false, detail: 'unreachable; failing closed (503) until Redis is back' };
    },

    async close() {
      if (state === 'closed') return;
      state = 'closed';
      clearTimeout(retryTimer);
      await Promise.all([closeQuietly(subscriber), closeQuietly(data)]);
    },
  };
}
