/**
 * How cedargate talks to Redis, whatever for (the users store, the sidecar's cluster channel,
 * `token revoke`): the same client options everywhere, so every connection reconnects with
 * backoff forever, fails fast while offline instead of queueing, and never throws an unhandled
 * 'error' event.
 */
import {
  ClientClosedError,
  ClientOfflineError,
  createClient,
  type RedisClientOptions,
} from 'redis';
import type { Logger } from './logger.js';

/** Key and channel names start with this unless a caller says otherwise (tests use their own). */
export const DEFAULT_KEY_PREFIX = 'cedargate:';

/** How long a TCP connect may take before it counts as a failed attempt. */
const CONNECT_TIMEOUT_MS = 2_000;
/** Liveness probe on idle connections: a half-open socket is noticed within about this. */
const PING_INTERVAL_MS = 5_000;
const BACKOFF_BASE_MS = 100;
const BACKOFF_MAX_MS = 3_000;

/**
 * Delay before reconnect attempt `retries` (0-based): exponential from 100 ms, capped at 3 s,
 * with jitter so that many replicas do not knock on a restarted Redis at the same instant.
 * Never gives up: a sidecar outlives any Redis outage.
 */
export function reconnectDelayMs(retries: number, random: () => number = Math.random): number {
  const exp = BACKOFF_BASE_MS * 2 ** Math.min(retries, 8);
  return Math.min(exp, BACKOFF_MAX_MS) + Math.floor(random() * BACKOFF_BASE_MS);
}

/**
 * Options of every cedargate Redis client. `subscriber`: a pub/sub connection, which gets no
 * PING probe (a RESP2 subscriber's PING reply looks like a message); it learns of a lost
 * server from the socket closing, and TCP keep-alive covers a silent peer.
 */
export function redisClientOptions(
  url: string,
  name: string,
  { subscriber = false }: { subscriber?: boolean } = {},
): RedisClientOptions {
  const options: RedisClientOptions = {
    url,
    name,
    socket: {
      connectTimeout: CONNECT_TIMEOUT_MS,
      reconnectStrategy: (retries) => reconnectDelayMs(retries),
    },
    // A command sent while disconnected fails at once (and becomes a 503) rather than waiting,
    // unbounded, for a Redis that may not come back soon.
    disableOfflineQueue: true,
  };
  if (!subscriber) options.pingInterval = PING_INTERVAL_MS;
  return options;
}

/** A plain client (no scripts): the cluster channel and the CLI. */
export function createPlainClient(
  url: string,
  name: string,
  options: { subscriber?: boolean } = {},
) {
  return createClient(redisClientOptions(url, name, options));
}

/** What `createPlainClient` returns. */
export type PlainRedisClient = ReturnType<typeof createPlainClient>;

/** The parts of a node-redis client that the helpers below use. */
interface ClientEvents {
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'ready' | 'end' | 'reconnecting', listener: () => void): unknown;
  readonly isReady: boolean;
}

/**
 * Logs a connection's state changes instead of letting node-redis's 'error' events crash the
 * process: one warning when the connection is lost, one line when it is back, the rest at debug.
 */
export function watchConnection(client: ClientEvents, logger: Logger, what: string): void {
  let down = false;
  client.on('error', (err) => {
    // The message only: a stack says nothing about a refused connection, and tells it often.
    const error = `${err.name}: ${err.message}`;
    if (!down) logger.warn({ error }, `${what}: Redis connection lost; reconnecting`);
    else logger.debug({ error }, `${what}: Redis still unreachable`);
    down = true;
  });
  client.on('ready', () => {
    if (down) logger.info(`${what}: Redis connection back`);
    down = false;
  });
}

/**
 * Connects, but gives up (and closes the client) after `timeoutMs`: a command-line tool or a
 * starting backend should say that Redis is unreachable, not hang while the client retries.
 */
export async function connectWithin(
  client: { connect(): Promise<unknown>; destroy(): void; readonly isOpen: boolean },
  url: string,
  timeoutMs: number,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const connecting = client.connect();
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(`Redis at ${describeRedisUrl(url)} did not answer within ${timeoutMs} ms`),
        ),
      timeoutMs,
    );
  });
  try {
    await Promise.race([connecting, timeout]);
  } catch (err) {
    connecting.catch(() => undefined);
    if (client.isOpen) client.destroy();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** The URL without credentials, for logs and messages. */
export function describeRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return '(unparseable REDIS_URL)';
  }
}

/** Whether a failed command failed because the connection is not there (rather than a bug). */
export function isConnectionError(err: unknown, client: { readonly isReady: boolean }): boolean {
  return err instanceof ClientOfflineError || err instanceof ClientClosedError || !client.isReady;
}

/** Closes a client whatever its state; never throws (shutdown paths call it). */
export async function closeQuietly(client: {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  close(): Promise<void>;
  destroy(): void;
}): Promise<void> {
  if (!client.isOpen) return;
  try {
    // close() waits for pending replies; on a dead connection there is nothing to wait for.
    if (client.isReady) await client.close();
    else client.destroy();
  } catch {
    // Already closed by a concurrent caller.
  }
}
