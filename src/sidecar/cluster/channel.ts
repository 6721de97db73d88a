/**
 * The state the Redis cluster channel's parts share (the reader in ./stream-reader.ts, the
 * request-path freshness in ./catch-up.ts, the losses in ./store-losses.ts, the facade in
 * ./redis-cluster.ts), and how the channel decides whether its caches can be trusted.
 */
import type { EventConsistency } from '../../config.js';
import type { Logger } from '../../common/logger.js';
import {
  createPlainClient,
  type PlainRedisClient,
  watchConnection,
} from '../../common/redis-connection.js';
import type { SidecarCluster } from './cluster.js';
import { clusterKeys } from './keys.js';
import { createRevocationMirror, type RevocationMirror } from './revocation-mirror.js';

/** Options of `createRedisCluster`. */
export interface RedisClusterOptions {
  url: string;
  logger: Logger;
  /** REVOCATION_FAIL_OPEN: while Redis is unreachable, accept tokens the mirror does not list. */
  failOpen: boolean;
  /** Key prefix (default `cedargate:`). */
  prefix?: string;
  /** Clock in ms since the epoch (the mirror drops expired jti entries by it; lag). */
  now?: () => number;
  /**
   * A monotonic clock in ms (default `performance.now`): what `bounded` measures its staleness
   * with. It runs on while the process is paused, and never steps with the wall clock.
   */
  monotonic?: () => number;
  /** CLOCK_TOLERANCE_SECONDS: subject cut-offs cover tokens stamped this far ahead. */
  clockToleranceSeconds?: number;
  /** How long `start` waits for the first sync before going on degraded (default 3000 ms). */
  startTimeoutMs?: number;
  /** EVENT_MAX_LAG_MS (default 2000). */
  maxLagMs?: number;
  /** EVENT_CHECK_EACH_REQUEST (default true; `next-request` only). */
  checkEachRequest?: boolean;
  /** EVENT_CONSISTENCY (default `next-request`). */
  consistency?: EventConsistency;
  /** EVENT_MAX_STALENESS_MS (default 100; `bounded` only). */
  maxStalenessMs?: number;
  /** Connections to use instead of ones made from `url` (Sentinel: src/cli builds them). */
  clients?: { commands: PlainRedisClient; events: PlainRedisClient };
}

export type ReaderState = 'idle' | 'connecting' | 'following' | 'down' | 'closed';

export type Handlers = Parameters<SidecarCluster['start']>[0];

/** Everything the channel's parts share. */
export interface Channel {
  readonly options: RedisClusterOptions;
  readonly logger: Logger;
  readonly now: () => number;
  readonly monotonic: () => number;
  readonly maxLagMs: number;
  readonly consistency: EventConsistency;
  readonly maxStalenessMs: number;
  readonly keys: ReturnType<typeof clusterKeys>;
  readonly mirror: RevocationMirror;
  readonly commands: PlainRedisClient;
  readonly events: PlainRedisClient;
  reader: ReaderState;
  /** Since when the reader has not been following (for the lag while it is down). */
  downSince: number;
  handlers: Handlers | undefined;
  /** The last stream id applied; undefined until the first sync. */
  lastId: string | undefined;
  /** The newest id a probe saw. */
  newestId: string;
  /** When a probe first saw an id newer than `lastId` (cleared once caught up). */
  behindSince: number | undefined;
  /**
   * `bounded`: the monotonic time at which the last XREAD whose reply has been fully applied was
   * sent (every event acknowledged before that send was in its reply, or its loss handled).
   */
  caughtUpAsOf: number | undefined;
  /** Requests waiting for `caughtUpAsOf` to reach `since`. */
  freshWaiters: { since: number; resolve: () => void }[];
  /** The revocation load a request behind the bound waits for, and the one queued after it. */
  revocationReload: { running: Promise<void>; queued?: Promise<void> } | undefined;
  degraded: boolean;
  cachesDropped: number;
  lastLoss: { at: string; reason: string } | undefined;
  waiters: { id: string; resolve: () => void }[];
  probing: Promise<string> | undefined;
  /** When the request probe in flight was sent (`now`); undefined while none is. */
  probingSince: number | undefined;
  queuedProbe: Promise<string> | undefined;
  probeTimer: NodeJS.Timeout | undefined;
  loop: Promise<void> | undefined;
  onFollowing: (() => void) | undefined;
  failOpenWarned: boolean;
  /** The store generation this replica read at start (src/common/store-generation.ts). */
  generation: string | undefined;
  generationChanges: number;
  lastGenerationChange: { at: string; old: string; new: string; reason: string } | undefined;
  /** The revocations still have to be re-asserted after a change (a failed attempt retries). */
  restorePending: boolean;
  /**
   * Moves when a check starts acting on a change and when it is done: a check whose reads began
   * at another epoch compares against a cursor that was moved on purpose, and stands down.
   */
  generationEpoch: number;
  /** When the probe in flight was sent (undefined: none in flight). */
  probeSentAt: number | undefined;
  /** The last probe failed: since when probes fail, and how. */
  writeFailure: { since: number; error: string } | undefined;
}

export function createChannel(options: RedisClusterOptions): Channel {
  const { url, logger } = options;
  const now = options.now ?? Date.now;
  const mirror = createRevocationMirror({
    now,
    ...(options.clockToleranceSeconds === undefined
      ? {}
      : { clockToleranceSeconds: options.clockToleranceSeconds }),
  });
  // The reader gets no PING probe: its PING would queue behind a blocking XREAD.
  const commands = options.clients?.commands ?? createPlainClient(url, 'cedargate-sidecar');
  const events =
    options.clients?.events ??
    createPlainClient(url, 'cedargate-sidecar-events', { subscriber: true });
  watchConnection(commands, logger, 'cluster commands');
  watchConnection(events, logger, 'cluster events');
  return {
    options,
    logger,
    now,
    monotonic: options.monotonic ?? (() => performance.now()),
    maxLagMs: options.maxLagMs ?? 2_000,
    consistency: options.consistency ?? 'next-request',
    maxStalenessMs: options.maxStalenessMs ?? 100,
    keys: clusterKeys(options.prefix),
    mirror,
    commands,
    events,
    reader: 'idle',
    downSince: now(),
    handlers: undefined,
    lastId: undefined,
    newestId: '0-0',
    behindSince: undefined,
    caughtUpAsOf: undefined,
    freshWaiters: [],
    revocationReload: undefined,
    degraded: false,
    cachesDropped: 0,
    lastLoss: undefined,
    waiters: [],
    probing: undefined,
    probingSince: undefined,
    queuedProbe: undefined,
    probeTimer: undefined,
    loop: undefined,
    onFollowing: undefined,
    failOpenWarned: false,
    generation: undefined,
    generationChanges: 0,
    lastGenerationChange: undefined,
    restorePending: false,
    generationEpoch: 0,
    probeSentAt: undefined,
    writeFailure: undefined,
  };
}

/** A connection dropping is noticed at once, not when the next command fails. */
export function listenForConnectionChanges(ch: Channel): void {
  for (const event of ['error', 'end', 'reconnecting'] as const) {
    ch.events.on(event, () => {
      if (!ch.events.isReady && ch.reader === 'following') setReader(ch, 'down');
    });
    ch.commands.on(event, () => evaluate(ch));
  }
  ch.commands.on('ready', () => evaluate(ch));
}

export function setReader(ch: Channel, state: ReaderState): void {
  if (ch.reader === 'closed' || ch.reader === state) return;
  const was = ch.reader;
  ch.reader = state;
  if (state === 'following') {
    ch.failOpenWarned = false;
    ch.onFollowing?.();
    if (was === 'down') {
      ch.logger.info(
        { lastId: ch.lastId, revoked: ch.mirror.size() },
        'change stream followed again from the last applied event',
      );
    }
  } else if (was === 'following' || was === 'connecting') {
    ch.downSince = ch.now();
    if (state === 'down') {
      ch.logger.warn(
        ch.options.failOpen
          ? 'change stream unreadable: REVOCATION_FAIL_OPEN is set, tokens are accepted unchecked'
          : 'change stream unreadable: requests are refused with 503 until Redis is back',
      );
    }
  }
  evaluate(ch);
}

/**
 * `bounded`: how long ago (monotonic ms) the reader was last caught up; undefined before its
 * first read. What a request compares with EVENT_MAX_STALENESS_MS.
 */
export function stalenessMs(ch: Channel): number | undefined {
  if (ch.caughtUpAsOf === undefined) return undefined;
  return Math.max(0, ch.monotonic() - ch.caughtUpAsOf);
}

export function lagMs(ch: Channel): number {
  if (ch.reader !== 'following') return Math.max(0, ch.now() - ch.downSince);
  if (ch.consistency === 'bounded') return stalenessMs(ch) ?? 0;
  return ch.behindSince === undefined ? 0 : Math.max(0, ch.now() - ch.behindSince);
}

/**
 * How long the request probe in flight has gone unanswered (0: none in flight): a Redis that
 * holds commands (a dead master not yet replaced) keeps the connection up and answers nothing.
 */
export function commandsHeldMs(ch: Channel): number {
  return ch.probingSince === undefined ? 0 : Math.max(0, Math.round(ch.now() - ch.probingSince));
}

/** Why the caches cannot be trusted now, or undefined when they can. */
export function degradedReason(ch: Channel): string | undefined {
  if (ch.reader !== 'following') return 'the change stream is not being read';
  if (!ch.commands.isReady) return 'the Redis command connection is down';
  const held = commandsHeldMs(ch);
  if (held > ch.maxLagMs) return `the Redis command connection has not answered for ${held} ms`;
  if (lagMs(ch) > ch.maxLagMs) return `the change stream is ${Math.round(lagMs(ch))} ms behind`;
  return undefined;
}

/** Tells the sidecar when its caches stop (or start again) being trustworthy. */
export function evaluate(ch: Channel): void {
  // Until the first sync (or the start's timeout) there is nothing to degrade from.
  if (ch.handlers === undefined || ['closed', 'idle', 'connecting'].includes(ch.reader)) return;
  const reason = degradedReason(ch);
  if (reason !== undefined && !ch.degraded) {
    ch.degraded = true;
    ch.logger.warn({ reason }, 'cluster degraded: caches shortened');
    ch.handlers.onDegraded();
  } else if (reason === undefined && ch.degraded) {
    ch.degraded = false;
    ch.logger.info('cluster well again: caches restored');
    ch.handlers.onRecovered();
  }
}
