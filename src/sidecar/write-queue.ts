/**
 * Writes to one user through one replica, one after another. Each is decided on the version it
 * changes and applied before the next is decided, so concurrent writers through this replica
 * never race each other to the backend's If-Match (security.md 29); only a write through
 * another replica can still overtake one, and the pipeline re-decides that.
 *
 * Bounded in memory: a key is in the map only while a write to it runs or waits, and at most
 * `maxQueued` writes wait per key; past that the caller gets 503 with Retry-After. Fair between
 * writers: one holder (the principal) has at most `maxPerHolder` of a key's places, so no one
 * writer can fill another user's queue and push the others out (issue 22 item 2). A write the
 * policies deny never gets this far (the pipeline refuses it first).
 */
import { UnavailableError } from '../errors.js';

/** The places one user's queue has on one replica. */
export const MAX_QUEUED_WRITES = 256;
/** The places one principal may hold in one user's queue: a small share of it. */
export const MAX_QUEUED_WRITES_PER_PRINCIPAL = 16;

export interface WriteQueue {
  /** Runs `work` once every earlier write to `key` has settled; `holder` is who asks. */
  run<T>(key: string, holder: string, work: () => Promise<T>): Promise<T>;
  /** Keys with a write running or waiting (for /status and the memory-bound test). */
  size(): number;
}

interface Lane {
  /** Settles when the last write queued on this key has. */
  tail: Promise<void>;
  /** Writes running or waiting on this key. */
  queued: number;
  /** The same, by holder (a holder is in the map only while it has one). */
  byHolder: Map<string, number>;
}

export function createWriteQueue(
  options: { maxQueued?: number; maxPerHolder?: number } = {},
): WriteQueue {
  const maxQueued = options.maxQueued ?? MAX_QUEUED_WRITES;
  const maxPerHolder = options.maxPerHolder ?? MAX_QUEUED_WRITES_PER_PRINCIPAL;
  const lanes = new Map<string, Lane>();
  return {
    async run(key, holder, work) {
      let lane = lanes.get(key);
      if (lane === undefined) {
        lane = { tail: Promise.resolve(), queued: 0, byHolder: new Map() };
        lanes.set(key, lane);
      } else if (lane.queued >= maxQueued) {
        throw new UnavailableError('too many writes to this user are waiting; try again shortly', {
          retryAfterSeconds: 1,
        });
      }
      const held = lane.byHolder.get(holder) ?? 0;
      if (held >= maxPerHolder) {
        throw new UnavailableError(
          'too many of your writes to this user are waiting; try again shortly',
          { retryAfterSeconds: 1 },
        );
      }
      lane.byHolder.set(holder, held + 1);
      const previous = lane.tail;
      let done!: () => void;
      lane.tail = new Promise<void>((resolve) => (done = resolve));
      lane.queued++;
      try {
        await previous;
        return await work();
      } finally {
        done();
        release(lane, holder);
        if (--lane.queued === 0) lanes.delete(key);
      }
    },
    size: () => lanes.size,
  };
}

function release(lane: Lane, holder: string): void {
  const held = (lane.byHolder.get(holder) ?? 1) - 1;
  if (held === 0) lane.byHolder.delete(holder);
  else lane.byHolder.set(holder, held);
}
