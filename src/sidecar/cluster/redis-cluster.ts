/**
 * The sidecar's cluster channel on Redis: it follows the change-event stream (every user write,
 * appended by the store's own scripts, and every revocation) and keeps the revocation mirror.
 *
 * Two connections. The reader (`cedargate-sidecar-events`, ./stream-reader.ts) does nothing but
 * XINFO, the revocation load, the generation and XREADs from the last id it applied: after any
 * disconnect it resumes from that id, so nothing acknowledged is missed; if the stream was
 * trimmed past it (or came back shorter) it drops the user and decision caches, reloads the
 * revocations and says so (./store-losses.ts). The command connection (`cedargate-sidecar`)
 * checks the store once a second and, in EVENT_CONSISTENCY=next-request, asks for the stream's
 * newest id before each decision (./catch-up.ts); in `bounded` the request path sends nothing.
 *
 * The revocation mirror is trusted only while the reader follows the stream; otherwise the check
 * fails closed with 503 `unavailable`, unless REVOCATION_FAIL_OPEN chose availability. The reader
 * down, the command connection down, or a lag past EVENT_MAX_LAG_MS tells the sidecar to keep its
 * caches short (`onDegraded`) until all three are well again (`onRecovered`). node-redis
 * reconnects with backoff forever; nothing here ever crashes the process.
 */
import { UnauthenticatedError, UnavailableError } from '../../errors.js';
import type { VerifiedCredential } from '../authn/verifier.js';
import type { ClusterStatus, SidecarCluster } from './cluster.js';
import { closeQuietly, describeRedisUrl } from '../../common/redis-connection.js';
import { within } from '../../common/within.js';
import {
  type Channel,
  commandsHeldMs,
  createChannel,
  degradedReason,
  evaluate,
  type Handlers,
  lagMs,
  listenForConnectionChanges,
  type RedisClusterOptions,
  setReader,
  stalenessMs,
} from './channel.js';
import { catchUp, checkStore, settle } from './catch-up.js';
import type { RevocationMirror } from './revocation-mirror.js';
import { blockMsFor, runReader } from './stream-reader.js';

export type { RedisClusterOptions } from './channel.js';

/** The Redis cluster channel plus what tests may want to look at. */
export interface RedisCluster extends SidecarCluster {
  readonly mirror: Pick<RevocationMirror, 'size' | 'check'>;
}

const CHECK_STORE_EVERY_MS = 1_000;
/**
 * A store check (it writes: the generation's SET NX) unanswered this long means the store cannot
 * write now — a dead master that Sentinel has not replaced yet holds commands rather than
 * failing them — and /readyz says so until one answers.
 */
const WRITE_ANSWER_MS = 1_000;

/** Builds the channel; nothing connects until `start`. */
export function createRedisCluster(options: RedisClusterOptions): RedisCluster {
  const ch = createChannel(options);
  listenForConnectionChanges(ch);
  return {
    mirror: ch.mirror,
    start: (h) => startChannel(ch, h),
    catchUp: () => catchUp(ch),
    settle: () => settle(ch),
    revocation: { assertNotRevoked: (cred) => assertNotRevoked(ch, cred) },
    health: () => health(ch),
    status: () => status(ch),
    close: () => closeChannel(ch),
  };
}

/** Why the store cannot write now, as the store checks found; undefined while they are answered. */
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
    void checkStore(ch).then(() => evaluate(ch));
  }, CHECK_STORE_EVERY_MS);
  ch.probeTimer.unref();
  const timedOut = (await within(following, options.startTimeoutMs ?? 3_000)) === undefined;
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
      {
        redis: describeRedisUrl(options.url),
        lastId: ch.lastId,
        revoked: ch.mirror.size(),
        consistency: ch.consistency,
        ...(ch.consistency === 'bounded'
          ? { maxStalenessMs: ch.maxStalenessMs, readerBlockMs: blockMsFor(ch) }
          : {}),
      },
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
    redis_commands: !ch.commands.isReady
      ? 'unreachable'
      : commandsHeldMs(ch) > ch.maxLagMs
        ? `no answer for ${(commandsHeldMs(ch) / 1000).toFixed(1)} s`
        : 'ok',
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
  const behind = behindTheBound(ch);
  if (reason === undefined && behind !== undefined) return { ok: false, detail: behind, checks };
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

/** `bounded`: why the reader is not caught up within EVENT_MAX_STALENESS_MS (not ready). */
function behindTheBound(ch: Channel): string | undefined {
  if (ch.consistency !== 'bounded') return undefined;
  const staleness = stalenessMs(ch);
  if (staleness !== undefined && staleness <= ch.maxStalenessMs) return undefined;
  const as = staleness === undefined ? 'never' : `${Math.round(staleness)} ms ago`;
  return `the change stream reader is behind the bound: caught up ${as}, EVENT_MAX_STALENESS_MS is ${ch.maxStalenessMs}`;
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
    check_each_request: ch.consistency === 'next-request' && ch.options.checkEachRequest !== false,
    consistency: ch.consistency,
    max_staleness_ms: ch.consistency === 'bounded' ? ch.maxStalenessMs : null,
    caught_up_ms_ago: ch.consistency === 'bounded' ? (stalenessMs(ch) ?? null) : null,
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
  for (const w of ch.freshWaiters) w.resolve();
  ch.freshWaiters = [];
  await Promise.all([closeQuietly(ch.events), closeQuietly(ch.commands)]);
  await ch.loop?.catch(() => undefined);
}
