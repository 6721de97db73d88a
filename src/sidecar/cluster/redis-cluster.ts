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
import type { VerifiedCredential } from '../authn/verifier.js';
import type { SidecarCluster } from '../server.js';
import { decodeUserChanged, encodeUserChanged } from './invalidation.js';
import { clusterKeys } from './keys.js';
import {
  closeQuietly,
  createPlainClient,
  describeRedisUrl,
  type PlainRedisClient,
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

/** Everything the channel's parts share: its configuration, its two connections and its state. */
interface Channel {
  readonly options: RedisClusterOptions;
  readonly url: string;
  readonly logger: Logger;
  readonly failOpen: boolean;
  readonly keys: ReturnType<typeof clusterKeys>;
  readonly mirror: RevocationMirror;
  readonly data: PlainRedisClient;
  readonly subscriber: PlainRedisClient;
  state: State;
  handlers: Handlers | undefined;
  subscribed: boolean;
  syncing: Promise<void> | undefined;
  retryTimer: NodeJS.Timeout | undefined;
  retries: number;
  /** Bumped whenever the subscriber drops: a sync that began before must not declare success. */
  epoch: number;
  onSynced: (() => void) | undefined;
  failOpenWarned: boolean;
}

/** Builds the channel; nothing connects until `start`. */
export function createRedisCluster(options: RedisClusterOptions): RedisCluster {
  const ch = createChannel(options);
  listenForConnectionChanges(ch);
  return {
    mirror: ch.mirror,
    start: (h) => startChannel(ch, h),
    publishUserChanged: (tenantId, userId) => publishUserChanged(ch, tenantId, userId),
    revocation: { assertNotRevoked: (cred) => assertNotRevoked(ch, cred) },
    health: () => health(ch),
    close: () => closeChannel(ch),
  };
}

/** The mirror, the two clients (watched for logging) and the initial, idle state. */
function createChannel(options: RedisClusterOptions): Channel {
  const { url, logger, failOpen } = options;
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
  return {
    options,
    url,
    logger,
    failOpen,
    keys: clusterKeys(options.prefix),
    mirror,
    data,
    subscriber,
    state: 'idle',
    handlers: undefined,
    subscribed: false,
    syncing: undefined,
    retryTimer: undefined,
    retries: 0,
    epoch: 0,
    onSynced: undefined,
    failOpenWarned: false,
  };
}

/** Either client becoming ready (re)starts a sync; the subscriber dropping marks the channel down. */
function listenForConnectionChanges(ch: Channel): void {
  const { data, subscriber } = ch;
  subscriber.on('ready', () => sync(ch));
  data.on('ready', () => sync(ch));
  for (const event of ['error', 'end', 'reconnecting'] as const) {
    subscriber.on(event, () => {
      if (!subscriber.isReady) markDown(ch);
    });
  }
}

function onMessage(ch: Channel, message: string, channel: string): void {
  const { keys, logger } = ch;
  if (channel === keys.userChangedChannel) {
    const ids = decodeUserChanged(message);
    if (ids === undefined) return void logger.warn('ignored a malformed user-changed message');
    ch.handlers?.onUserChanged(ids.tenantId, ids.userId);
  } else if (channel === keys.revocationsChannel) {
    const r = decodeRevocation(message);
    if (r === undefined) return void logger.warn('ignored a malformed revocation message');
    ch.mirror.apply(r);
    logger.info({ kind: r.kind }, 'revocation received');
  }
}

function markDown(ch: Channel): void {
  ch.epoch += 1;
  if (ch.state === 'closed' || ch.state === 'degraded') return;
  ch.state = 'degraded';
  ch.logger.warn(
    ch.failOpen
      ? 'revocation list unreachable: REVOCATION_FAIL_OPEN is set, tokens are accepted unchecked'
      : 'revocation list unreachable: requests are refused with 503 until Redis is back',
  );
  ch.handlers?.onDegraded();
}

function markSynced(ch: Channel): void {
  const was = ch.state;
  ch.state = 'synced';
  ch.retries = 0;
  ch.failOpenWarned = false;
  ch.onSynced?.();
  if (was === 'degraded') {
    ch.logger.info({ revoked: ch.mirror.size() }, 'revocation list reloaded: cluster channel back');
    ch.handlers?.onRecovered();
  }
}

function scheduleSync(ch: Channel): void {
  if (ch.state === 'closed' || ch.retryTimer !== undefined) return;
  ch.retryTimer = setTimeout(() => {
    ch.retryTimer = undefined;
    sync(ch);
  }, reconnectDelayMs(ch.retries++));
  ch.retryTimer.unref();
}

/** Subscribes (once; node-redis resubscribes after reconnects), then loads the whole list. */
function sync(ch: Channel): void {
  if (ch.state === 'closed' || ch.state === 'synced' || ch.syncing !== undefined) return;
  if (!ch.subscriber.isReady) return; // its 'ready' event calls again
  const startedAt = ch.epoch;
  ch.syncing = (async () => {
    try {
      if (!ch.subscribed) {
        await ch.subscriber.subscribe(
          [ch.keys.userChangedChannel, ch.keys.revocationsChannel],
          (message: string, channel: string) => onMessage(ch, message, channel),
        );
        ch.subscribed = true;
      }
      ch.mirror.merge(await loadRevocations(ch.data, ch.keys));
      if (ch.epoch === startedAt && ch.subscriber.isReady) markSynced(ch);
      else scheduleSync(ch);
    } catch (err) {
      ch.logger.debug({ err: (err as Error).message }, 'revocation list load failed; retrying');
      scheduleSync(ch);
    } finally {
      ch.syncing = undefined;
    }
  })();
}

async function startChannel(ch: Channel, h: Handlers): Promise<void> {
  const { url, logger } = ch;
  ch.handlers = h;
  const firstSync = new Promise<void>((resolve) => (ch.onSynced = resolve));
  // connect() retries until it succeeds (or close() stops it): never awaited unbounded.
  for (const client of [ch.data, ch.subscriber]) client.connect().catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    firstSync.then(() => false),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), ch.options.startTimeoutMs ?? 3_000);
    }),
  ]);
  clearTimeout(timer);
  ch.onSynced = undefined;
  if (timedOut) {
    logger.warn(
      { redis: describeRedisUrl(url) },
      'Redis not reachable at start; carrying on degraded',
    );
    markDown(ch);
  } else {
    logger.info(
      { redis: describeRedisUrl(url), revoked: ch.mirror.size() },
      'cluster channel ready',
    );
  }
}

function publishUserChanged(ch: Channel, tenantId: string, userId: string): Promise<void> {
  if (ch.state === 'closed') return Promise.resolve();
  // Never rejects: a lost invalidation is bounded by the cache TTL, and a replica that
  // cannot hear the channel has already shortened its TTLs. Resolves once Redis has handed
  // the message to every subscriber, for a caller that wants to answer only after that.
  return ch.data.publish(ch.keys.userChangedChannel, encodeUserChanged(tenantId, userId)).then(
    () => undefined,
    (err: Error) => {
      ch.logger.warn({ err: err.message, tenantId, userId }, 'could not publish a user change');
    },
  );
}

function assertNotRevoked(ch: Channel, cred: VerifiedCredential): void {
  // A revocation the mirror knows of counts even while Redis is away.
  const revokedBy = ch.mirror.check(cred);
  if (revokedBy !== null) throw new UnauthenticatedError(`token revoked (by ${revokedBy})`);
  if (ch.state === 'synced') return;
  if (ch.failOpen) {
    if (!ch.failOpenWarned)
      ch.logger.warn('accepting a token unchecked for revocation (REVOCATION_FAIL_OPEN)');
    ch.failOpenWarned = true;
    return;
  }
  throw new UnavailableError('the revocation list is unavailable; try again shortly');
}

function health(ch: Channel): { ok: boolean; detail: string } {
  const { jtis, subjects } = ch.mirror.size();
  if (ch.state === 'synced') {
    return { ok: true, detail: `ok (${jtis} revoked tokens, ${subjects} revoked subjects)` };
  }
  if (ch.state === 'idle') return { ok: false, detail: 'not started' };
  if (ch.state === 'closed') return { ok: false, detail: 'closed' };
  return ch.failOpen
    ? { ok: true, detail: 'unreachable; REVOCATION_FAIL_OPEN: tokens accepted unchecked' }
    : { ok: false, detail: 'unreachable; failing closed (503) until Redis is back' };
}

async function closeChannel(ch: Channel): Promise<void> {
  if (ch.state === 'closed') return;
  ch.state = 'closed';
  clearTimeout(ch.retryTimer);
  await Promise.all([closeQuietly(ch.subscriber), closeQuietly(ch.data)]);
}
