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
      q.run('t/u', 'p', async () => {
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
    const first = q.run('t/a', 'p', () => held.p);
    assert.equal(await q.run('t/b', 'p', async () => 'b'), 'b');
    const failing = q.run('t/a', 'p', async () => {
      throw new Error('boom');
    });
    const after = q.run('t/a', 'p', async () => 'after');
    held.open();
    await first;
    await assert.rejects(failing, /boom/);
    assert.equal(await after, 'after');
  });

  it('forgets a key once nothing runs or waits on it: the map never grows with keys seen', async () => {
    const q = createWriteQueue();
    for (let i = 0; i < 10_000; i++) await q.run(`t/${i}`, 'p', async () => i);
    assert.equal(q.size(), 0);
    const held = gate();
    const running = q.run('t/x', 'p', () => held.p);
    assert.equal(q.size(), 1);
    held.open();
    await running;
    assert.equal(q.size(), 0);
  });

  it('past maxQueued writes waiting on one key → 503 unavailable with Retry-After', async () => {
    const q = createWriteQueue({ maxQueued: 2 });
    const held = gate();
    const a = q.run('t/u', 'p', () => held.p);
    const b = q.run('t/u', 'q', async () => undefined);
    await assert.rejects(
      q.run('t/u', 'p', async () => undefined),
      (e: unknown) => e instanceof UnavailableError && e.retryAfterSeconds === 1,
    );
    held.open();
    await Promise.all([a, b]);
    assert.equal(q.size(), 0);
  });

  it('one holder past its share of a key → 503 for that holder only; others still queue', async () => {
    const q = createWriteQueue({ maxQueued: 10, maxPerHolder: 2 });
    const held = gate();
    const mine = [q.run('t/u', 'mallory', () => held.p), q.run('t/u', 'mallory', async () => 1)];
    await assert.rejects(
      q.run('t/u', 'mallory', async () => undefined),
      (e: unknown) =>
        e instanceof UnavailableError && e.retryAfterSeconds === 1 && /your writes/.test(e.message),
    );
    // Another holder of the same key, and the same holder on another key, are not refused.
    const owners = q.run('t/u', 'owner', async () => 'owner');
    assert.equal(await q.run('t/v', 'mallory', async () => 'v'), 'v');
    held.open();
    await Promise.all(mine);
    assert.equal(await owners, 'owner');
    // Its places are given back as its writes settle.
    assert.equal(await q.run('t/u', 'mallory', async () => 'again'), 'again');
    assert.equal(q.size(), 0);
  });
});
