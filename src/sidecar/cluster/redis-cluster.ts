/**
 * The sidecar's cluster channel on Redis: it follows the change-event stream (every user write,
 * appended by the store's own scripts, and every revocation) and keeps the revocation mirror.
 *
 * Two connections. The reader (`cedargate-sidecar-events`) does nothing but XINFO, the
 * revocation load and blocking XREADs from the last id it applied: after any disconnect it
 * resumes from that id, so nothing acknowledged is missed; if the stream was trimmed past it (or
 * came back shorter) it drops the user and decision caches, reloads the revocations and says so.
 * The command connection (`cedargate-sidecar`) asks for the stream's newest id: once a second
 * for the lag, and — with EVENT_CHECK_EACH_REQUEST — before each decision (`catchUp`), so that a
 * change acknowledged through any replica is enforced by this one on its very next request.
 *
 * The revocation mirror is trusted only while the reader follows the stream; otherwise the check
 * fails closed with 503 `unavailable`, unless REVOCATION_FAIL_OPEN chose availability. The reader
 * down, the command connection down, or a lag past EVENT_MAX_LAG_MS tells the sidecar to keep its
 * caches short (`onDegraded`) until all three are well again (`onRecovered`). node-redis
 * reconnects with backoff forever; nothing here ever crashes the process.
 */
import type { Logger } from '../../common/logger.js';
import { UnauthenticatedError, UnavailableError } from '../../errors.js';
import type { VerifiedCredential } from '../authn/verifier.js';
import type { ClusterStatus, SidecarCluster } from '../server.js';
import { clusterKeys } from './keys.js';
import {
  closeQuietly,
  createPlainClient,
  describeRedisUrl,
  type PlainRedisClient,
  reconnectDelayMs,
  watchConnection,
  writesWaitForReplica,
} from '../../common/redis-connection.js';
import { compareStreamIds, decodeChangeEvent, isStreamId } from '../../common/change-events.js';
import {
  createRevocationMirror,
  revocationsMissingFrom,
  type RevocationMirror,
} from './revocation-mirror.js';
import { decodeRevocation, loadRevocations, recordRevocation } from './revocations.js';
import {
  ensureGeneration,
  logGenerationChange,
  rotateGeneration,
} from '../../common/store-generation.js';

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
  /** CLOCK_TOLERANCE_SECONDS: subject cut-offs cover tokens stamped this far ahead. */
  clockToleranceSeconds?: number;
  /** How long `start` waits for the first sync before going on degraded (default 3000 ms). */
  startTimeoutMs?: number;
  /** EVENT_MAX_LAG_MS (default 2000). */
  maxLagMs?: number;
  /** EVENT_CHECK_EACH_REQUEST (default true). */
  checkEachRequest?: boolean;
  /** Connections to use instead of ones made from `url` (Sentinel: src/cli builds them). */
  clients?: { commands: PlainRedisClient; events: PlainRedisClient };
}

/** The Redis cluster channel plus what tests may want to look at. */
export interface RedisCluster extends SidecarCluster {
  readonly mirror: Pick<RevocationMirror, 'size' | 'check'>;
}

type ReaderState = 'idle' | 'connecting' | 'following' | 'down' | 'closed';

type Handlers = Parameters<SidecarCluster['start']>[0];

/** Entries one XREAD returns at most; a full batch means we are behind, so check for a trim. */
const READ_BATCH = 500;
/** How long one XREAD blocks: the loop notices `close` and a silent server this often. */
const BLOCK_MS = 2_000;
const PROBE_EVERY_MS = 1_000;
/**
 * A probe (it writes: the generation's SET NX) unanswered this long means the store cannot
 * write now — a dead master that Sentinel has not replaced yet holds commands rather than
 * failing them — and /readyz says so until one answers.
 */
const WRITE_ANSWER_MS = 1_000;

/** Everything the channel's parts share. */
interface Channel {
  readonly options: RedisClusterOptions;
  readonly logger: Logger;
  readonly now: () => number;
  readonly maxLagMs: number;
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
  degraded: boolean;
  cachesDropped: number;
  lastLoss: { at: string; reason: string } | undefined;
  waiters: { id: string; resolve: () => void }[];
  probing: Promise<string> | undefined;
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

/** Builds the channel; nothing connects until `start`. */
export function createRedisCluster(options: RedisClusterOptions): RedisCluster {
  const ch = createChannel(options);
  listenForConnectionChanges(ch);
  return {
    mirror: ch.mirror,
    start: (h) => startChannel(ch, h),
    catchUp: () => catchUp(ch),
    revocation: { assertNotRevoked: (cred) => assertNotRevoked(ch, cred) },
    health: () => health(ch),
    status: () => status(ch),
    close: () => closeChannel(ch),
  };
}

function createChannel(options: RedisClusterOptions): Channel {
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
    maxLagMs: options.maxLagMs ?? 2_000,
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
    degraded: false,
    cachesDropped: 0,
    lastLoss: undefined,
    waiters: [],
    probing: undefined,
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
function listenForConnectionChanges(ch: Channel): void {
  for (const event of ['error', 'end', 'reconnecting'] as const) {
    ch.events.on(event, () => {
      if (!ch.events.isReady && ch.reader === 'following') setReader(ch, 'down');
    });
    ch.commands.on(event, () => evaluate(ch));
  }
  ch.commands.on('ready', () => evaluate(ch));
}

function setReader(ch: Channel, state: ReaderState): void {
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

function lagMs(ch: Channel): number {
  if (ch.reader !== 'following') return Math.max(0, ch.now() - ch.downSince);
  return ch.behindSince === undefined ? 0 : Math.max(0, ch.now() - ch.behindSince);
}

/** Why the caches cannot be trusted now, or undefined when they can. */
function degradedReason(ch: Channel): string | undefined {
  if (ch.reader !== 'following') return 'the change stream is not being read';
  if (!ch.commands.isReady) return 'the Redis command connection is down';
  if (lagMs(ch) > ch.maxLagMs) return `the change stream is ${lagMs(ch)} ms behind`;
  return undefined;
}

/** Tells the sidecar when its caches stop (or start again) being trustworthy. */
function evaluate(ch: Channel): void {
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

/** The stream's state as XINFO STREAM tells it (a missing stream is an empty one). */
interface StreamInfo {
  lastGenerated: string;
  /** Entries ever added, and entries there now: more added than there are means some went. */
  entriesAdded: number;
  length: number;
  /** The oldest entry still there; undefined when the stream is empty. */
  firstEntry: string | undefined;
}

async function readStreamInfo(client: PlainRedisClient, key: string): Promise<StreamInfo> {
  let reply: unknown;
  try {
    reply = await client.sendCommand(['XINFO', 'STREAM', key]);
  } catch (err) {
    if (/no such key/i.test((err as Error).message)) {
      return { lastGenerated: '0-0', entriesAdded: 0, length: 0, firstEntry: undefined };
    }
    throw err;
  }
  const pairs = Array.isArray(reply) ? (reply as unknown[]) : [];
  const field = (name: string): unknown => pairs[pairs.indexOf(name) + 1];
  const first = field('first-entry');
  const idOf = (v: unknown): string | undefined =>
    typeof v === 'string' && isStreamId(v) ? v : undefined;
  return {
    lastGenerated: idOf(field('last-generated-id')) ?? '0-0',
    entriesAdded: pairs.includes('entries-added') ? Number(field('entries-added')) : Infinity,
    length: Number(field('length') ?? 0),
    firstEntry: Array.isArray(first) ? idOf(first[0]) : undefined,
  };
}

/**
 * Whether events after `lastId` may be gone: the stream came back older than us, or it holds
 * newer events than ours and none of its surviving entries is as old as ours. (Trimming does not
 * move XINFO's max-deleted-entry-id, so this is the test; it errs towards dropping the caches
 * once too often — when the trim stopped exactly at our last id — never towards missing a loss.)
 */
function eventsLost(info: StreamInfo, lastId: string): string | undefined {
  if (compareStreamIds(info.lastGenerated, lastId) < 0) return 'the stream is older than us';
  if (compareStreamIds(info.lastGenerated, lastId) === 0) return undefined;
  // Nothing trimmed at all (Redis 7 counts entries added); also what a replica that started on
  // an empty stream, at 0-0, relies on.
  if (info.entriesAdded <= info.length) return undefined;
  if (info.firstEntry === undefined || compareStreamIds(info.firstEntry, lastId) > 0) {
    return 'trimmed past us';
  }
  return undefined;
}

/** Where to read from after a (re)connect: from the last applied id, or fresh after a loss. */
async function resync(ch: Channel): Promise<void> {
  const info = await readStreamInfo(ch.events, ch.keys.events);
  if (ch.lastId === undefined) {
    // First sync: begin at the stream's end. Anything older is already in Redis's records (the
    // revocation load below) or in no cache of ours; later events are replayed by XREAD.
    ch.generation = await ensureGeneration(ch.events, ch.options.prefix);
    ch.mirror.merge(await loadRevocations(ch.events, ch.keys));
    ch.lastId = info.lastGenerated;
    return;
  }
  const found = await ensureGeneration(ch.events, ch.options.prefix);
  await checkGeneration(ch, ch.events, {
    epoch: ch.generationEpoch,
    known: ch.generation,
    found,
    newest: info.lastGenerated,
    applied: ch.lastId,
  });
  const lost = eventsLost(info, ch.lastId);
  if (lost === undefined) return;
  ch.mirror.merge(await loadRevocations(ch.events, ch.keys));
  if (compareStreamIds(info.lastGenerated, ch.lastId) < 0) ch.lastId = '0-0';
  dropCaches(ch, lost);
}

/**
 * Whether the store still holds the data this replica has seen: its generation is the one read
 * at start, and its change stream is not older than the last event applied here (an older
 * snapshot keeps its generation; then this replica writes a new one, so every other process
 * learns of the rollback too). `found`: the generation (`ensureGeneration`) and `newest`: the
 * stream's newest id, both read on `client` after `applied` was applied here and while the
 * generation known here was `known` (an id applied since may be newer than `newest` without any
 * rollback; a change handled since has moved the cursor back on purpose).
 */
async function checkGeneration(
  ch: Channel,
  client: PlainRedisClient,
  read: {
    epoch: number;
    known: string | undefined;
    found: string;
    newest: string;
    applied: string | undefined;
  },
): Promise<void> {
  const { known, newest, applied } = read;
  if (known === undefined || read.epoch !== ch.generationEpoch || ch.generation !== known) return;
  const wentBack = applied !== undefined && compareStreamIds(newest, applied) < 0;
  if (read.found === known && !wentBack) {
    if (ch.restorePending) await restoreRevocations(ch, client);
    return;
  }
  ch.generationEpoch += 1;
  try {
    if (read.found !== known) {
      const reason = 'the store generation is not the one read';
      await onGenerationChanged(ch, client, { old: known, next: read.found, reason, newest });
    } else {
      const fresh = await rotateGeneration(client, known, ch.options.prefix);
      const reason = `the change stream went back (newest ${newest}, applied here ${applied})`;
      await onGenerationChanged(ch, client, { old: known, next: fresh, reason, newest });
    }
  } finally {
    ch.generationEpoch += 1;
  }
}

/**
 * The store came back with less than it had: drop every cache, restart the stream cursor at
 * the new data's end (`newest`, as the check read it), and re-read the revocations — writing
 * back those it lost — on `client`, the connection that noticed (the other may not be back yet).
 * Nothing here needs the network before the cursor is moved, so a connection lost meanwhile
 * cannot leave the cursor ahead of the stream (which would look like a second rollback).
 */
async function onGenerationChanged(
  ch: Channel,
  client: PlainRedisClient,
  change: { old: string; next: string; reason: string; newest: string },
): Promise<void> {
  const { old, next, reason, newest } = change;
  ch.generation = next;
  ch.generationChanges += 1;
  ch.lastGenerationChange = { at: new Date(ch.now()).toISOString(), old, new: next, reason };
  logGenerationChange(ch.logger, { old, new: next, reason, component: 'cluster' });
  ch.handlers?.onEventsLost();
  // Nothing before the rollback is worth replaying (the caches are gone); what comes after it
  // is read from here. XREAD replays from an older id, never skips a newer one.
  if (ch.lastId !== undefined && compareStreamIds(newest, ch.lastId) < 0) ch.lastId = newest;
  ch.newestId = newest;
  ch.behindSince = undefined;
  ch.restorePending = true;
  await restoreRevocations(ch, client);
}

/** Writes back what the mirror holds and the store lost, then takes the store's list in. */
async function restoreRevocations(
  ch: Channel,
  client: PlainRedisClient = ch.commands,
): Promise<void> {
  try {
    const stored = await loadRevocations(client, ch.keys);
    const missing = revocationsMissingFrom(ch.mirror.entries(), stored);
    const replicaAck = writesWaitForReplica(ch.options.url);
    for (const r of missing) await recordRevocation(client, ch.keys, r, { replicaAck });
    ch.mirror.merge(stored);
    ch.restorePending = false;
    ch.logger.warn(
      { rewritten: missing.length, revoked: ch.mirror.size() },
      'revocations the store had lost were written back',
    );
  } catch (err) {
    ch.logger.warn(
      { err: (err as Error).message },
      'could not write the lost revocations back yet; retrying at the next check',
    );
  }
}

function dropCaches(ch: Channel, reason: string): void {
  ch.cachesDropped += 1;
  ch.lastLoss = { at: new Date(ch.now()).toISOString(), reason };
  ch.logger.warn(
    { reason, lastId: ch.lastId },
    'change events were lost: dropped the user and decision caches and reloaded revocations',
  );
  ch.handlers?.onEventsLost();
}

/** XREAD's reply as [id, fields] pairs. */
function entriesOf(reply: unknown): [string, string[]][] {
  if (!Array.isArray(reply)) return [];
  const out: [string, string[]][] = [];
  for (const stream of reply as unknown[]) {
    const entries = Array.isArray(stream) ? (stream as unknown[])[1] : undefined;
    if (!Array.isArray(entries)) continue;
    for (const e of entries as unknown[]) {
      if (!Array.isArray(e) || typeof e[0] !== 'string') continue;
      const fields = Array.isArray(e[1]) ? (e[1] as unknown[]).map(String) : [];
      out.push([e[0], fields]);
    }
  }
  return out;
}

function applyEntry(ch: Channel, id: string, fields: string[]): void {
  ch.lastId = id;
  const event = decodeChangeEvent(fields);
  if (event === undefined) return void ch.logger.warn({ id }, 'ignored a malformed change event');
  if (event.kind === 'user') {
    ch.handlers?.onUserChanged(event.tenantId, event.userId);
    return;
  }
  const r = decodeRevocation(event.revocation);
  if (r === undefined) return void ch.logger.warn({ id }, 'ignored a malformed revocation event');
  ch.mirror.apply(r);
  ch.logger.info({ kind: r.kind }, 'revocation received');
}

/** After applying: wake whoever waits for an id now applied, and update the lag. */
function afterApply(ch: Channel): void {
  const last = ch.lastId ?? '0-0';
  if (compareStreamIds(last, ch.newestId) >= 0) ch.behindSince = undefined;
  const still: Channel['waiters'] = [];
  for (const w of ch.waiters) {
    if (compareStreamIds(last, w.id) >= 0) w.resolve();
    else still.push(w);
  }
  ch.waiters = still;
  evaluate(ch);
}

function pause(ch: Channel, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    // A connection back ends the pause early.
    ch.events.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** The reader: resync after each (re)connect, then blocking XREADs, until closed. */
async function runReader(ch: Channel): Promise<void> {
  let failures = 0;
  while (ch.reader !== 'closed') {
    try {
      if (!ch.events.isReady) throw new Error('not connected');
      if (ch.reader !== 'following') {
        await resync(ch);
        setReader(ch, 'following');
      }
      const reply = await ch.events.sendCommand([
        ...['XREAD', 'COUNT', String(READ_BATCH), 'BLOCK', String(BLOCK_MS)],
        ...['STREAMS', ch.keys.events, ch.lastId ?? '$'],
      ]);
      const entries = entriesOf(reply);
      for (const [id, fields] of entries) applyEntry(ch, id, fields);
      if (entries.length === READ_BATCH && ch.lastId !== undefined) {
        const lost = eventsLost(await readStreamInfo(ch.events, ch.keys.events), ch.lastId);
        if (lost !== undefined) dropCaches(ch, lost);
      }
      afterApply(ch);
      failures = 0;
    } catch (err) {
      if ((ch.reader as ReaderState) === 'closed') return;
      if (ch.reader === 'following') setReader(ch, 'down');
      else if (ch.reader === 'connecting' && failures > 0) setReader(ch, 'down');
      ch.logger.debug({ err: (err as Error).message }, 'change stream read failed; retrying');
      await pause(ch, reconnectDelayMs(failures++));
    }
  }
}

/** The stream's newest id, from a probe that began after the call (shared by concurrent callers). */
function probeNewest(ch: Channel): Promise<string> {
  if (ch.probing === undefined) {
    const sentAt = ch.now();
    ch.probeSentAt = sentAt;
    const run = (async () => {
      const applied = ch.lastId;
      const known = ch.generation;
      const epoch = ch.generationEpoch;
      // Sent together (node-redis pipelines them): the generation costs no extra round trip,
      // and a rollback is noticed within a probe (1 s, or before the next decision with
      // EVENT_CHECK_EACH_REQUEST).
      const [reply, found] = await Promise.all([
        ch.commands.sendCommand(['XREVRANGE', ch.keys.events, '+', '-', 'COUNT', '1']),
        ensureGeneration(ch.commands, ch.options.prefix),
      ]);
      const newest = entriesOf([[ch.keys.events, reply]])[0]?.[0] ?? '0-0';
      await checkGeneration(ch, ch.commands, { epoch, known, found, newest, applied });
      if (compareStreamIds(newest, ch.newestId) > 0) ch.newestId = newest;
      if (compareStreamIds(ch.lastId ?? '0-0', newest) < 0) ch.behindSince ??= ch.now();
      else ch.behindSince = undefined;
      return newest;
    })();
    ch.probing = run;
    void run.then(
      () => {
        ch.probing = undefined;
        ch.probeSentAt = undefined;
        ch.writeFailure = undefined;
      },
      (err: unknown) => {
        ch.probing = undefined;
        ch.probeSentAt = undefined;
        ch.writeFailure = { since: ch.writeFailure?.since ?? sentAt, error: errorText(err) };
      },
    );
    return run;
  }
  // One in flight began before this caller: it may predate the write the caller must see.
  ch.queuedProbe ??= ch.probing
    .then(
      () => undefined,
      () => undefined,
    )
    .then(() => {
      ch.queuedProbe = undefined;
      return probeNewest(ch);
    });
  return ch.queuedProbe;
}

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** Why the store cannot write now, as the probes found; undefined while they are answered. */
function writeProblem(ch: Channel): string | undefined {
  if (ch.writeFailure !== undefined) {
    const s = ((ch.now() - ch.writeFailure.since) / 1000).toFixed(1);
    return `failing for ${s} s (${ch.writeFailure.error})`;
  }
  if (ch.probeSentAt !== undefined && ch.now() - ch.probeSentAt > WRITE_ANSWER_MS) {
    return `no answer for ${((ch.now() - ch.probeSentAt) / 1000).toFixed(1)} s`;
  }
  return undefined;
}

/** Waits until `id` is applied, or `ms` passed; resolves to whether it was. */
function waitApplied(ch: Channel, id: string, ms: number): Promise<boolean> {
  if (compareStreamIds(ch.lastId ?? '0-0', id) >= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      ch.waiters = ch.waiters.filter((w) => w !== waiter);
      resolve(false);
    }, ms);
    const waiter = {
      id,
      resolve: () => {
        clearTimeout(timer);
        resolve(true);
      },
    };
    ch.waiters.push(waiter);
  });
}

/**
 * Before a decision: everything Redis held when this was called is applied here first. Never
 * rejects: when it cannot know (a connection down) or the reader is too slow, the channel is
 * degraded and the caches are short; the request goes on.
 */
async function catchUp(ch: Channel): Promise<void> {
  if (ch.options.checkEachRequest === false) return;
  if (ch.reader !== 'following' || !ch.commands.isReady) return;
  let newest: string;
  try {
    newest = await probeNewest(ch);
  } catch {
    evaluate(ch);
    return;
  }
  if (await waitApplied(ch, newest, ch.maxLagMs)) return;
  // Too far behind to wait for: decide on fresh reads instead of on caches that may be stale.
  evaluate(ch);
  ch.handlers?.onDegraded();
}

async function startChannel(ch: Channel, h: Handlers): Promise<void> {
  const { logger, options } = ch;
  ch.handlers = h;
  ch.reader = 'connecting';
  const following = new Promise<void>((resolve) => (ch.onFollowing = resolve));
  // connect() retries until it succeeds (or close() stops it): never awaited unbounded.
  for (const client of [ch.commands, ch.events]) client.connect().catch(() => undefined);
  ch.loop = runReader(ch);
  ch.probeTimer = setInterval(() => {
    if (!ch.commands.isReady) return evaluate(ch);
    probeNewest(ch).then(
      () => evaluate(ch),
      () => evaluate(ch),
    );
  }, PROBE_EVERY_MS);
  ch.probeTimer.unref();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    following.then(() => false),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), options.startTimeoutMs ?? 3_000);
    }),
  ]);
  clearTimeout(timer);
  ch.onFollowing = undefined;
  if (timedOut) {
    logger.warn(
      { redis: describeRedisUrl(options.url) },
      'Redis not reachable at start; carrying on degraded',
    );
    setReader(ch, 'down');
    evaluate(ch);
  } else {
    logger.info(
      { redis: describeRedisUrl(options.url), lastId: ch.lastId, revoked: ch.mirror.size() },
      'cluster channel ready: following the change stream',
    );
  }
}

function assertNotRevoked(ch: Channel, cred: VerifiedCredential): void {
  // A revocation the mirror knows of counts even while Redis is away.
  const revokedBy = ch.mirror.check(cred);
  if (revokedBy !== null) {
    throw new UnauthenticatedError(`token revoked (by ${revokedBy})`, { category: 'revoked' });
  }
  if (ch.reader === 'following') return;
  if (ch.options.failOpen) {
    if (!ch.failOpenWarned)
      ch.logger.warn('accepting a token unchecked for revocation (REVOCATION_FAIL_OPEN)');
    ch.failOpenWarned = true;
    return;
  }
  throw new UnavailableError('the revocation list is unavailable; try again shortly');
}

function connectionChecks(ch: Channel): Record<string, string> {
  const lag = (lagMs(ch) / 1000).toFixed(3);
  return {
    redis_writes: writeProblem(ch) ?? 'ok',
    redis_events:
      ch.reader === 'following'
        ? `following (applied ${ch.lastId ?? '-'}, lag ${lag} s)`
        : ch.reader === 'down'
          ? `unreadable for ${lag} s`
          : ch.reader,
    redis_commands: ch.commands.isReady ? 'ok' : 'unreachable',
  };
}

function health(ch: Channel): ReturnType<SidecarCluster['health']> {
  const { jtis, subjects } = ch.mirror.size();
  const checks = connectionChecks(ch);
  if (ch.reader === 'idle') return { ok: false, detail: 'not started', checks };
  if (ch.reader === 'closed') return { ok: false, detail: 'closed', checks };
  const reason = degradedReason(ch);
  const writes = writeProblem(ch);
  if (reason === undefined && writes !== undefined) {
    return { ok: false, detail: `the store cannot write: ${writes}`, checks };
  }
  if (reason === undefined) {
    return {
      ok: true,
      detail: `ok (${jtis} revoked tokens, ${subjects} revoked subjects)`,
      checks,
    };
  }
  if (ch.reader !== 'following') {
    return ch.options.failOpen
      ? { ok: true, detail: 'unreachable; REVOCATION_FAIL_OPEN: tokens accepted unchecked', checks }
      : { ok: false, detail: 'unreachable; failing closed (503) until Redis is back', checks };
  }
  return { ok: false, detail: `degraded: ${reason}; serving from short TTLs`, checks };
}

function status(ch: Channel): ClusterStatus {
  const h = health(ch);
  return {
    ...h,
    reader: ch.reader,
    applied_id: ch.lastId ?? null,
    newest_id: ch.newestId,
    lag_seconds: lagMs(ch) / 1000,
    max_lag_ms: ch.maxLagMs,
    degraded: ch.degraded,
    check_each_request: ch.options.checkEachRequest !== false,
    caches_dropped_for_lost_events: ch.cachesDropped,
    last_loss: ch.lastLoss ?? null,
    store_generation: ch.generation ?? null,
    store_generation_changes: ch.generationChanges,
    last_generation_change: ch.lastGenerationChange ?? null,
    revoked: ch.mirror.size(),
  };
}

async function closeChannel(ch: Channel): Promise<void> {
  if (ch.reader === 'closed') return;
  ch.reader = 'closed';
  clearInterval(ch.probeTimer);
  for (const w of ch.waiters) w.resolve();
  ch.waiters = [];
  await Promise.all([closeQuietly(ch.events), closeQuietly(ch.commands)]);
  await ch.loop?.catch(() => undefined);
}
