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
  createSentinel,
  type RedisClientOptions,
  type RedisScripts,
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

/**
 * REDIS_SENTINELS + REDIS_SENTINEL_NAME, as the one string every Redis user is handed in place
 * of REDIS_URL (`redis-sentinel://host:port,host:port/name`), so that whether a deployment uses
 * Sentinel is decided in config.ts and in `createRedisClient` only.
 */
export const SENTINEL_SCHEME = 'redis-sentinel:';

export interface SentinelTarget {
  readonly name: string;
  readonly nodes: readonly { readonly host: string; readonly port: number }[];
}

export function sentinelTargetUrl(target: SentinelTarget): string {
  const nodes = target.nodes.map((n) => `${n.host}:${n.port}`).join(',');
  return `${SENTINEL_SCHEME}//${nodes}/${target.name}`;
}

/** The target a `sentinelTargetUrl` string names; undefined for an ordinary redis:// URL. */
export function parseSentinelTargetUrl(url: string): SentinelTarget | undefined {
  const prefix = `${SENTINEL_SCHEME}//`;
  if (!url.startsWith(prefix)) return undefined;
  const rest = url.slice(prefix.length);
  const slash = rest.lastIndexOf('/');
  const nodes = rest
    .slice(0, slash)
    .split(',')
    .map((hp) => {
      const colon = hp.lastIndexOf(':');
      return { host: hp.slice(0, colon), port: Number(hp.slice(colon + 1)) };
    });
  return { name: rest.slice(slash + 1), nodes };
}

/**
 * The one way cedargate makes a Redis client: `createClient` for REDIS_URL, or, for a Sentinel
 * target, a node-redis RedisSentinel (one master connection of its own, so a blocking XREAD on
 * one client never holds up another's commands) that follows the master through failovers.
 * `scripts`: the store's Lua scripts, loaded on whichever server is master.
 */
export function createRedisClient<S extends RedisScripts>(
  url: string,
  name: string,
  options: { subscriber?: boolean; scripts: S },
) {
  const { scripts, ...connection } = options;
  const clientOptions = { ...redisClientOptions(url, name, connection), scripts };
  const target = parseSentinelTargetUrl(url);
  if (target === undefined) return createClient(clientOptions);
  // The adapter has every member of the client that cedargate calls (not the whole client).
  return sentinelClient(target, clientOptions, scripts) as ReturnType<typeof scriptedClient<S>>;
}

// eslint-disable-next-line @typescript-eslint/no-unused-vars -- never called: names the type only
function scriptedClient<S extends RedisScripts>(options: RedisClientOptions & { scripts: S }) {
  return createClient(options);
}

/**
 * A RedisSentinel made to look like the part of a node-redis client that cedargate uses: the
 * client's `sendCommand(args)` (the sentinel's takes a read-only flag first), `scanIterator`
 * (which the sentinel lacks), a void `destroy`, and a 'ready' event when connected and after
 * each master change (callers use it to resync sooner than their backoff would).
 */
function sentinelClient(
  target: SentinelTarget,
  clientOptions: RedisClientOptions,
  scripts: RedisScripts | undefined,
): unknown {
  const { url: _url, ...nodeClientOptions } = clientOptions;
  const sentinel = createSentinel({
    name: target.name,
    sentinelRootNodes: target.nodes.map((n) => ({ host: n.host, port: n.port })),
    nodeClientOptions,
    sentinelClientOptions: { socket: nodeClientOptions.socket ?? {} },
    masterPoolSize: 1,
    ...(scripts === undefined ? {} : { scripts }),
  });
  sentinel.on('topology-change', (event: { type?: string }) => {
    if (event.type === 'MASTER_CHANGE') sentinel.emit('ready');
  });
  const sendCommand = (args: string[], opts?: object) => sentinel.sendCommand(false, args, opts);
  async function* scanIterator(o: { MATCH?: string; COUNT?: number } = {}) {
    let cursor = '0';
    do {
      const args = ['SCAN', cursor];
      if (o.MATCH !== undefined) args.push('MATCH', o.MATCH);
      if (o.COUNT !== undefined) args.push('COUNT', String(o.COUNT));
      const [next, keys] = (await sendCommand(args)) as unknown as [string, string[]];
      cursor = next;
      if (keys.length > 0) yield keys;
    } while (cursor !== '0');
  }
  // The store's writes wait for a replica themselves (`waitForReplica`), on this one connection
  // (the pool has one), and only after a script that wrote.
  return new Proxy(sentinel, {
    get(obj, prop, receiver) {
      if (prop === 'sendCommand') return sendCommand;
      if (prop === 'scanIterator') return scanIterator;
      if (prop === 'destroy') return () => void obj.destroy().catch(() => undefined);
      if (prop === 'connect') {
        return async () => {
          await obj.connect();
          obj.emit('ready');
          return receiver as unknown;
        };
      }
      const value: unknown = Reflect.get(obj, prop, obj);
      return typeof value === 'function'
        ? (value as (...a: unknown[]) => unknown).bind(obj)
        : value;
    },
  });
}

/**
 * How long a write made through Sentinel waits for one replica to confirm it (WAIT 1 <ms>).
 * With none confirming, the write is on the master only, and a failover may undo it: it is then
 * not acknowledged (`ReplicaUnconfirmedError`).
 */
export const REPLICA_ACK_TIMEOUT_MS = 500;

/** Whether writes through `url` must wait for a replica (`waitForReplica`): Sentinel targets. */
export function writesWaitForReplica(url: string): boolean {
  return parseSentinelTargetUrl(url) !== undefined;
}

/**
 * No replica confirmed a write within its wait: it is on the master (it may have been applied)
 * and would not survive a failover now. Retry it: every write cedargate waits for is one that
 * converges when sent again.
 */
export class ReplicaUnconfirmedError extends Error {
  constructor(
    readonly waitedMs: number,
    options?: { cause?: unknown },
  ) {
    super(`no replica confirmed the write within ${waitedMs} ms`, options);
    this.name = 'ReplicaUnconfirmedError';
  }
}

/**
 * Waits until one replica holds what this connection wrote (`WAIT 1 <ms>`): a write
 * acknowledged after it survives a failover. Throws `ReplicaUnconfirmedError` when `ms` passed
 * with none (WAIT answered 0) or the WAIT itself failed. Call it on the connection that wrote
 * (a Sentinel client's pool has one), only under Sentinel (`writesWaitForReplica`).
 */
export async function waitForReplica(
  client: { sendCommand(args: string[]): Promise<unknown> },
  ms: number = REPLICA_ACK_TIMEOUT_MS,
): Promise<void> {
  let confirmed: unknown;
  try {
    confirmed = await client.sendCommand(['WAIT', '1', String(ms)]);
  } catch (err) {
    throw new ReplicaUnconfirmedError(ms, { cause: err });
  }
  if (!(Number(confirmed) >= 1)) throw new ReplicaUnconfirmedError(ms);
}

/** A plain client (no scripts): the cluster channel and the CLI. */
export function createPlainClient(
  url: string,
  name: string,
  options: { subscriber?: boolean } = {},
) {
  const clientOptions = redisClientOptions(url, name, options);
  const target = parseSentinelTargetUrl(url);
  if (target === undefined) return createClient(clientOptions);
  return sentinelClient(target, clientOptions, undefined) as ReturnType<typeof plainClient>;
}

// eslint-disable-next-line @typescript-eslint/no-unused-vars -- never called: names the type only
function plainClient(options: RedisClientOptions) {
  return createClient(options);
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
  const target = parseSentinelTargetUrl(url);
  if (target !== undefined) {
    return `Sentinel master "${target.name}" via ${target.nodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
  }
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

/**
 * How long a graceful close may wait for the replies still pending (an XREAD that blocks, a
 * WAIT) before they are dropped: a server that went away mid-close never answers them, and
 * node-redis's close() would then wait for ever.
 */
export const CLOSE_TIMEOUT_MS = 1_000;

/**
 * Closes a client whatever its state, within `timeoutMs`; never throws (shutdown paths call it).
 * Past the bound, the commands still pending are rejected, so whoever awaits them ends too.
 */
export async function closeQuietly(
  client: {
    readonly isOpen: boolean;
    readonly isReady: boolean;
    close(): Promise<void>;
    destroy(): void;
  },
  timeoutMs = CLOSE_TIMEOUT_MS,
): Promise<void> {
  if (!client.isOpen) return;
  try {
    // close() waits for pending replies; on a dead connection there is nothing to wait for.
    if (!client.isReady) return client.destroy();
    let timer: NodeJS.Timeout | undefined;
    const closed = await Promise.race([
      client.close().then(
        () => true,
        () => true,
      ),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (!closed) dropPending(client);
  } catch {
    // Already closed by a concurrent caller.
  }
}

/** Rejects a closing client's pending commands (node-redis then refuses its marked-closed socket). */
function dropPending(client: { destroy(): void }): void {
  try {
    client.destroy();
  } catch {
    // The socket was already marked closed by close(): the queue was flushed before it threw.
  }
}
