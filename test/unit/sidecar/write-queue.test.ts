import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UnavailableError } from '../../../src/errors.js';
import { createWriteQueue } from '../../../src/sidecar/write-queue.js';

/** A promise the test settles by hand. */
function gate<T = void>() {
  let open!: (v: T) => void;
  const p = new Promise<T>((r) => (open = r));
  return { p, open };
}

describe('write queue: one write per user at a time, bounded in memory', () => {
  it('runs the writes to one key in arrival order, one at a time', async () => {
    const q = createWriteQueue();
    const log: string[] = [];
    const gates = [gate(), gate(), gate()];
    const runs = gates.map((g, i) =>
      q.run('t/u', async () => {
        log.push(`start ${i}`);
        await g.p;
        log.push(`end ${i}`);
        return i;
      }),
    );
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(log, ['start 0']);
    gates[2]!.open();
    gates[1]!.open();
    gates[0]!.open();
    assert.deepEqual(await Promise.all(runs), [0, 1, 2]);
    assert.deepEqual(log, ['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2']);
  });

  it('other keys do not wait, and a failed write does not stop the ones after it', async () => {
    const q = createWriteQueue();
    const held = gate();
    const first = q.run('t/a', () => held.p);
    assert.equal(await q.run('t/b', async () => 'b'), 'b');
    const failing = q.run('t/a', async () => {
      throw new Error('boom');
    });
    const after = q.run('t/a', async () => 'after');
    held.open();
    await first;
    await assert.rejects(failing, /boom/);
    assert.equal(await after, 'after');
  });

  it('forgets a key once nothing runs or waits on it: the map never grows with keys seen', async () => {
    const q = createWriteQueue();
    for (let i = 0; i < 10_000; i++) await q.run(`t/${i}`, async () => i);
    assert.equal(q.size(), 0);
    const held = gate();
    const running = q.run('t/x', () => held.p);
    assert.equal(q.size(), 1);
    held.open();
    await running;
    assert.equal(q.size(), 0);
  });

  it('past maxQueued writes waiting on one key → 503 unavailable with Retry-After', async () => {
    const q = createWriteQueue({ maxQueued: 2 });
    const held = gate();
    const a = q.run('t/u', () => held.p);
    const b = q.run('t/u', async () => undefined);
    await assert.rejects(
      q.run('t/u', async () => undefined),
      (e: unknown) => e instanceof UnavailableError && e.retryAfterSeconds === 1,
    );
    held.open();
    await Promise.all([a, b]);
    assert.equal(q.size(), 0);
  });
});
