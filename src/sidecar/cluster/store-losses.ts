/**
 * What the channel does when the store holds less than this replica has seen: events trimmed
 * before it read them (drop the caches, reload the revocations, say so), or a store that came
 * back older (a new generation: the same, plus writing back the revocations it lost).
 */
import { rotateGeneration, logGenerationChange } from '../../common/store-generation.js';
import { compareStreamIds } from '../../common/change-events.js';
import {
  type PlainRedisClient,
  ReplicaUnconfirmedError,
  writesWaitForReplica,
} from '../../common/redis-connection.js';
import type { Channel } from './channel.js';
import { revocationsMissingFrom } from './revocation-mirror.js';
import { loadRevocations, recordRevocation } from './revocations.js';

/**
 * Whether the store still holds the data this replica has seen: its generation is the one read
 * at start, and its change stream is not older than the last event applied here (an older
 * snapshot keeps its generation; then this replica writes a new one, so every other process
 * learns of the rollback too). `found`: the generation (`ensureGeneration`) and `newest`: the
 * stream's newest id, both read on `client` after `applied` was applied here and while the
 * generation known here was `known` (an id applied since may be newer than `newest` without any
 * rollback; a change handled since has moved the cursor back on purpose).
 */
export async function checkGeneration(
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
export async function restoreRevocations(
  ch: Channel,
  client: PlainRedisClient = ch.commands,
): Promise<void> {
  try {
    const stored = await loadRevocations(client, ch.keys);
    const missing = revocationsMissingFrom(ch.mirror.entries(), stored);
    const replicaAck = writesWaitForReplica(ch.options.url);
    for (const r of missing) {
      // Best effort past the wait: a write-back no replica confirmed is on the primary, and this
      // replica still remembers it; retrying it each check would hold the command connection
      // (and the probes behind it) in WAIT for as long as no replica is attached.
      await recordRevocation(client, ch.keys, r, { replicaAck }).catch((err: unknown) => {
        if (!(err instanceof ReplicaUnconfirmedError)) throw err;
      });
    }
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

export function dropCaches(ch: Channel, reason: string): void {
  ch.cachesDropped += 1;
  ch.lastLoss = { at: new Date(ch.now()).toISOString(), reason };
  ch.logger.warn(
    { reason, lastId: ch.lastId },
    'change events were lost: dropped the user and decision caches and reloaded revocations',
  );
  ch.handlers?.onEventsLost();
}
