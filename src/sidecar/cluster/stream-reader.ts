/**
 * The reader (`cedargate-sidecar-events`): resync after each (re)connect, then blocking XREADs
 * from the last applied id, until closed. Before it applies what a read returned it checks, on
 * the same connection, that nothing between its id and the batch was lost (XINFO STREAM) and that
 * the store is the one it knows (the generation): so a request that waits for the batch is
 * decided only after a loss or a rollback has been handled.
 *
 * `next-request` blocks 2 s per XREAD; `bounded` blocks a fraction of EVENT_MAX_STALENESS_MS
 * (`blockMsFor`), so that an idle stream still answers that often, and after each read whose
 * reply was not cut short by COUNT it records when that XREAD was sent (`caughtUpAsOf`):
 * every event acknowledged before that moment was in the reply.
 */
import { compareStreamIds, decodeChangeEvent, isStreamId } from '../../common/change-events.js';
import { type PlainRedisClient, reconnectDelayMs } from '../../common/redis-connection.js';
import { ensureGeneration } from '../../common/store-generation.js';
import { type Channel, evaluate, type ReaderState, setReader } from './channel.js';
import { decodeRevocation, loadRevocations } from './revocations.js';
import { checkGeneration, dropCaches } from './store-losses.js';

/** Entries one XREAD returns at most. */
export const READ_BATCH = 500;
/** How long one XREAD blocks in `next-request`: the loop notices `close` and a silent server this often. */
const NEXT_REQUEST_BLOCK_MS = 2_000;

/** The XREAD BLOCK of a mode: `bounded` returns at least every quarter of its bound (≥ 5 ms). */
export function blockMsFor(ch: Pick<Channel, 'consistency' | 'maxStalenessMs'>): number {
  if (ch.consistency !== 'bounded') return NEXT_REQUEST_BLOCK_MS;
  return Math.max(5, Math.floor(ch.maxStalenessMs / 4));
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

/**
 * Before anything a read returned is applied, asked on the reader's connection after the read
 * (XINFO's first entry only moves on, so one no newer than our id now was no newer then; a
 * generation found now was there when the read ran): were events after the id we had BEFORE the
 * read removed, and is this still the store we know? Never from an id the batch moved us to. An
 * empty read needs no check: it found nothing after our id, so nothing was lost. A gap drops the
 * caches and reloads the revocations, a new generation is handled (./store-losses.ts), both
 * before the batch is applied and `lastId` moves, so no request waiting for that batch is decided
 * before the loss is handled.
 */
async function checkAfterRead(ch: Channel): Promise<void> {
  const before = ch.lastId;
  if (before === undefined) return;
  const epoch = ch.generationEpoch;
  const known = ch.generation;
  const [info, found] = await Promise.all([
    readStreamInfo(ch.events, ch.keys.events),
    ensureGeneration(ch.events, ch.options.prefix),
  ]);
  await checkGeneration(ch, ch.events, {
    epoch,
    known,
    found,
    newest: info.lastGenerated,
    applied: before,
  });
  // A new generation was handled: the caches are gone and the revocations re-read already.
  if (ch.generationEpoch !== epoch) return;
  const lost = eventsLost(info, before);
  if (lost === undefined) return;
  ch.mirror.merge(await loadRevocations(ch.events, ch.keys));
  dropCaches(ch, lost);
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

/** XREAD's reply as [id, fields] pairs. */
export function entriesOf(reply: unknown): [string, string[]][] {
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

/** `bounded`: the XREAD sent at `sentAt` has been applied; wake the requests it satisfies. */
function markCaughtUp(ch: Channel, sentAt: number): void {
  if (ch.caughtUpAsOf !== undefined && ch.caughtUpAsOf >= sentAt) return;
  ch.caughtUpAsOf = sentAt;
  const still: Channel['freshWaiters'] = [];
  for (const w of ch.freshWaiters) {
    if (sentAt >= w.since) w.resolve();
    else still.push(w);
  }
  ch.freshWaiters = still;
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

/**
 * One XREAD, checked and applied; in `bounded`, the moment it was sent counts as caught up. While
 * requests wait for the reader it does not block: an XREAD that blocks `b` ms on an idle stream
 * would hold them that long for nothing, one that answers at once frees them after a round trip.
 */
async function readOnce(ch: Channel): Promise<void> {
  const sentAt = ch.monotonic();
  const block = ch.freshWaiters.length > 0 ? [] : ['BLOCK', String(blockMsFor(ch))];
  const reply = await ch.events.sendCommand([
    ...['XREAD', 'COUNT', String(READ_BATCH), ...block],
    ...['STREAMS', ch.keys.events, ch.lastId ?? '$'],
  ]);
  const entries = entriesOf(reply);
  if (entries.length > 0) await checkAfterRead(ch);
  for (const [id, fields] of entries) applyEntry(ch, id, fields);
  afterApply(ch);
  // A full batch may have left events out: not caught up until a read returns short.
  if (entries.length < READ_BATCH) markCaughtUp(ch, sentAt);
}

/** The reader: resync after each (re)connect, then XREADs, until closed. */
export async function runReader(ch: Channel): Promise<void> {
  let failures = 0;
  while (ch.reader !== 'closed') {
    try {
      if (!ch.events.isReady) throw new Error('not connected');
      if (ch.reader !== 'following') {
        await resync(ch);
        setReader(ch, 'following');
      }
      await readOnce(ch);
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
