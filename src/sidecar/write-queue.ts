/**
 * Writes to one user through one replica, one after another. Each is decided on the version it
 * changes and applied before the next is decided, so concurrent writers through this replica
 * never race each other to the backend's If-Match (security.md 29); only a write through
 * another replica can still overtake one, and the pipeline re-decides that.
 *
 * Bounded in memory: a key is in the map only while a write to it runs or waits, and at most
 * `maxQueued` writes wait per key; past that the caller gets 503 with Retry-After.
 */
import { UnavailableError } from '../errors.js';

export interface WriteQueue {
  /** Runs `work` once every earlier write to `key` has settled. */
  run<T>(key: string, work: () => Promise<T>): Promise<T>;
  /** Keys with a write running or waiting (for /status and the memory-bound test). */
  size(): number;
}

interface Lane {
  /** Settles when the last write queued on this key has. */
  tail: Promise<void>;
  /** Writes running or waiting on this key. */
  queued: number;
}

export function createWriteQueue(options: { maxQueued?: number } = {}): WriteQueue {
  const maxQueued = options.maxQueued ?? 256;
  const lanes = new Map<string, Lane>();
  return {
    async run(key, work) {
      let lane = lanes.get(key);
      if (lane === undefined) {
        lane = { tail: Promise.resolve(), queued: 0 };
        lanes.set(key, lane);
      } else if (lane.queued >= maxQueued) {
        throw new UnavailableError('too many writes to this user are waiting; try again shortly', {
          retryAfterSeconds: 1,
        });
      }
      const previous = lane.tail;
      let done!: () => void;
      lane.tail = new Promise<void>((resolve) => (done = resolve));
      lane.queued++;
      try {
        await previous;
        return await work();
      } finally {
        done();
        if (--lane.queued === 0) lanes.delete(key);
      }
    },
    size: () => lanes.size,
  };
}
