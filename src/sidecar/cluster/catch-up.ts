/**
 * Freshness on the request path (`catchUp`), in the two EVENT_CONSISTENCY modes, and the
 * once-a-second store check beside it.
 *
 * - `next-request`: before deciding, `XREVRANGE cedargate:events + - COUNT 1` on the command
 *   connection (one probe shared by concurrent requests, never one that began before the
 *   request), then wait until the reader has applied that id.
 * - `bounded`: no Redis command at all. The request is decided at once while the reader was
 *   caught up (./stream-reader.ts, `caughtUpAsOf`) no more than EVENT_MAX_STALENESS_MS ago;
 *   otherwise it waits for the reader.
 *
 * Either way, a request that waited EVENT_MAX_LAG_MS in vain is decided on facts read now: the
 * user cache is emptied (`onDegraded`) and the revocations are re-read from Redis by a load that
 * began after the request arrived; if they cannot be, it is refused (503). The store's
 * generation is not read per request: the reader checks it after every read that returned
 * entries, and `checkStore` once a second (docs/scaling.md, "Consistency modes").
 *
 * Nothing here waits on Redis without a bound: a Redis that holds commands rather than failing
 * them (a dead master Sentinel has not replaced yet, `CLIENT PAUSE`) would otherwise hold the
 * request for as long. The probe and the wait for the reader share one EVENT_MAX_LAG_MS from the
 * request's arrival; a probe unanswered by then counts as a wait in vain. The re-read gets one
 * EVENT_MAX_LAG_MS of its own; unanswered, the request is refused (503, Retry-After). So a
 * request is answered within 2 × EVENT_MAX_LAG_MS plus its own scheduling. What was abandoned
 * stays shared and is left to settle by itself (its rejection handled): later requests queue
 * behind it, so a held connection carries at most two probes and two loads.
 */
import { compareStreamIds } from '../../common/change-events.js';
import { ensureGeneration } from '../../common/store-generation.js';
import { within } from '../../common/within.js';
import { UnavailableError } from '../../errors.js';
import { type Channel, evaluate } from './channel.js';
import { loadRevocations } from './revocations.js';
import { checkGeneration } from './store-losses.js';
import { entriesOf } from './stream-reader.js';

/**
 * Before a decision: every change acknowledged early enough is applied here first (see the
 * modes above). Rejects only with UnavailableError, when the reader is too far behind and the
 * revocations cannot be re-read either; when the reader is down it resolves at once and the
 * revocation check fails closed.
 */
export async function catchUp(ch: Channel): Promise<void> {
  if (ch.reader !== 'following') return;
  const caughtUp = ch.consistency === 'bounded' ? await waitBounded(ch) : await waitNextRequest(ch);
  if (caughtUp) return;
  // Too far behind to wait for: decide on fresh reads instead of on caches that may be stale.
  evaluate(ch);
  ch.handlers?.onDegraded();
  try {
    const reloaded = await within(reloadRevocations(ch), ch.maxLagMs);
    if (reloaded === undefined) throw new Error(`no answer within ${ch.maxLagMs} ms`);
  } catch (err) {
    ch.logger.warn({ err: errorText(err) }, 'reader behind and revocations unreadable: refusing');
    throw new UnavailableError('the revocation list is unavailable; try again shortly', {
      retryAfterSeconds: 1,
    });
  }
}

/**
 * `next-request`: whether the stream's newest id was read and applied by the reader within
 * EVENT_MAX_LAG_MS of the call (the probe's round trip included).
 */
async function waitNextRequest(ch: Channel): Promise<boolean> {
  if (ch.options.checkEachRequest === false || !ch.commands.isReady) return true;
  const deadline = ch.monotonic() + ch.maxLagMs;
  let newest: { value: string } | undefined;
  try {
    newest = await within(probeNewest(ch), ch.maxLagMs);
  } catch {
    // Cannot know: the command connection is down, and the channel says so (degraded).
    evaluate(ch);
    return true;
  }
  // Unanswered (Redis holds the command): waited in vain, as for a reader that does not apply.
  if (newest === undefined) return false;
  return waitApplied(ch, newest.value, Math.max(0, deadline - ch.monotonic()));
}

/**
 * `bounded`: whether the reader was caught up as of EVENT_MAX_STALENESS_MS before now, at once
 * or within EVENT_MAX_LAG_MS. Both instants are on the monotonic clock; `now` is taken here,
 * after the request arrived, so the bound holds from the arrival on.
 */
function waitBounded(ch: Channel): Promise<boolean> {
  return waitCaughtUp(ch, ch.monotonic() - ch.maxStalenessMs, ch.maxLagMs);
}

/**
 * For /readyz in `bounded`: waits (at most one bound) for the reader to be caught up within the
 * bound, as a request would, so that one slow turn of a loaded event loop is not "behind".
 */
export async function settle(ch: Channel): Promise<void> {
  if (ch.consistency !== 'bounded' || ch.reader !== 'following') return;
  await waitCaughtUp(ch, ch.monotonic() - ch.maxStalenessMs, ch.maxStalenessMs);
}

/** Whether the reader is caught up as of `since` (monotonic ms), at once or within `ms`. */
function waitCaughtUp(ch: Channel, since: number, ms: number): Promise<boolean> {
  if (ch.caughtUpAsOf !== undefined && ch.caughtUpAsOf >= since) return Promise.resolve(true);
  return new Promise((resolve) => {
    const waiter = {
      since,
      resolve: () => {
        clearTimeout(timer);
        resolve(true);
      },
    };
    const timer = setTimeout(() => {
      ch.freshWaiters = ch.freshWaiters.filter((w) => w !== waiter);
      resolve(false);
    }, ms);
    ch.freshWaiters.push(waiter);
  });
}

/** A load of the revocations that began after the call (shared by concurrent callers). */
function reloadRevocations(ch: Channel): Promise<void> {
  const current = ch.revocationReload;
  if (current === undefined) {
    const entry: NonNullable<Channel['revocationReload']> = {
      running: loadRevocations(ch.commands, ch.keys).then((r) => ch.mirror.merge(r)),
    };
    ch.revocationReload = entry;
    const done = (): void => {
      if (ch.revocationReload === entry) ch.revocationReload = undefined;
    };
    entry.running.then(done, done);
    return entry.running;
  }
  // The one in flight may have begun before this caller arrived: one more runs after it.
  current.queued ??= current.running
    .then(
      () => undefined,
      () => undefined,
    )
    .then(() => reloadRevocations(ch));
  return current.queued;
}

/**
 * The stream's newest id, from a probe that began after the call (shared by concurrent
 * callers). XREVRANGE alone: a stream that went back is a rollback (handled here); the
 * generation is read only while nothing was applied yet (an empty stream cannot show a flush).
 */
function probeNewest(ch: Channel): Promise<string> {
  if (ch.probing === undefined) {
    const run = (async () => {
      const applied = ch.lastId;
      const known = ch.generation;
      const epoch = ch.generationEpoch;
      const withGeneration = applied === undefined || applied === '0-0';
      const [reply, found] = await Promise.all([
        ch.commands.sendCommand(['XREVRANGE', ch.keys.events, '+', '-', 'COUNT', '1']),
        withGeneration ? ensureGeneration(ch.commands, ch.options.prefix) : undefined,
      ]);
      const newest = entriesOf([[ch.keys.events, reply]])[0]?.[0] ?? '0-0';
      const wentBack = applied !== undefined && compareStreamIds(newest, applied) < 0;
      if (found !== undefined || wentBack) {
        await checkGeneration(ch, ch.commands, {
          epoch,
          known,
          found: found ?? known ?? '',
          newest,
          applied,
        });
      }
      noteNewest(ch, newest);
      return newest;
    })();
    ch.probing = run;
    ch.probingSince = ch.now();
    const done = (): void => {
      ch.probing = undefined;
      ch.probingSince = undefined;
    };
    run.then(done, done);
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

function noteNewest(ch: Channel, newest: string): void {
  if (compareStreamIds(newest, ch.newestId) > 0) ch.newestId = newest;
  if (ch.consistency === 'bounded') return;
  if (compareStreamIds(ch.lastId ?? '0-0', newest) < 0) ch.behindSince ??= ch.now();
  else ch.behindSince = undefined;
}

/**
 * Once a second, on the command connection, in both modes: the stream's newest id (the lag in
 * `next-request`) and the store's generation (`SET NX GET`, sent together), which is also a
 * write: unanswered, or failing, it tells /readyz the store cannot write now.
 */
export async function checkStore(ch: Channel): Promise<void> {
  if (ch.probeSentAt !== undefined) return; // the last one is still unanswered
  const sentAt = ch.now();
  ch.probeSentAt = sentAt;
  try {
    const applied = ch.lastId;
    const known = ch.generation;
    const epoch = ch.generationEpoch;
    const [reply, found] = await Promise.all([
      ch.commands.sendCommand(['XREVRANGE', ch.keys.events, '+', '-', 'COUNT', '1']),
      ensureGeneration(ch.commands, ch.options.prefix),
    ]);
    const newest = entriesOf([[ch.keys.events, reply]])[0]?.[0] ?? '0-0';
    await checkGeneration(ch, ch.commands, { epoch, known, found, newest, applied });
    noteNewest(ch, newest);
    ch.writeFailure = undefined;
  } catch (err) {
    ch.writeFailure = { since: ch.writeFailure?.since ?? sentAt, error: errorText(err) };
  } finally {
    ch.probeSentAt = undefined;
  }
}

export function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
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
