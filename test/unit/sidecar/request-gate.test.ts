/**
 * Fair admission of whole requests (issue 22, item 4): while the loop is busy and more than one
 * tenant is present, each tenant has at most its share of the places; the others wait in their
 * own bounded queue, let in round robin; alone, or while the loop is not busy, nobody waits. A
 * tenant stays present a moment after its last request, so a one-connection client keeps its
 * place between two requests.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UnavailableError } from '../../../src/errors.js';
import {
  createBusyWindow,
  createRequestGate,
  type Leave,
} from '../../../src/sidecar/request-gate.js';

const settle = () => new Promise((r) => setImmediate(r));

/** The places taken and waited for, without the refusal counts. */
function counts(gate: ReturnType<typeof createRequestGate>): { inside: number; waiting: number } {
  const { inside, waiting } = gate.stats();
  return { inside, waiting };
}

/** Enters and records the order in which requests got past the gate. */
function tracked(gate: ReturnType<typeof createRequestGate>, order: string[]) {
  return (tenant: string, label: string): Promise<Leave> =>
    gate.enter(tenant).then((leave) => {
      order.push(label);
      return leave;
    });
}

describe('request gate', () => {
  it('a tenant alone is never held, however many it sends, busy or not', async () => {
    const gate = createRequestGate({ concurrency: 4, queueMax: 2, busy: () => true });
    const leaves = await Promise.all(Array.from({ length: 50 }, () => gate.enter('a')));
    assert.deepEqual(counts(gate), { inside: 50, waiting: 0 });
    leaves.forEach((l) => l());
    assert.deepEqual(counts(gate), { inside: 0, waiting: 0 });
  });

  it('while busy and shared: the flooding tenant keeps its share, the other goes straight in', async () => {
    const order: string[] = [];
    let clock = 0;
    const gate = createRequestGate({
      concurrency: 4,
      queueMax: 64,
      busy: () => true,
      lingerMs: 1000,
      now: () => clock,
    });
    const enter = tracked(gate, order);
    const victim = await enter('victim', 'v0');
    const noisy = Array.from({ length: 8 }, (_, i) => enter('noisy', `n${i}`));
    await settle();
    // Two tenants in: a share of 4 / 2 = 2 each.
    assert.deepEqual(order, ['v0', 'n0', 'n1']);
    assert.deepEqual(counts(gate), { inside: 3, waiting: 6 });
    // Between two of its requests the victim stays present; its next one passes at once,
    // ahead of the six waiting.
    victim();
    await settle();
    assert.equal(order.length, 3);
    const v1 = await enter('victim', 'v1');
    assert.deepEqual(order, ['v0', 'n0', 'n1', 'v1']);
    // A noisy request done lets in the next of its own queue, one for one.
    (await noisy[0])?.();
    await settle();
    assert.deepEqual(order.slice(4), ['n2']);
    // The victim gone for longer than the linger: the noisy tenant alone is let in whole.
    v1();
    clock += 999;
    gate.tick();
    await settle();
    assert.equal(order.length, 5, 'still present: the noisy tenant keeps to its share');
    clock += 1;
    gate.tick();
    await settle();
    assert.equal(order.length, 10);
    assert.deepEqual(counts(gate), { inside: 7, waiting: 0 }, 'n0 has left');
  });

  it('while the loop is not busy nobody waits; once it is, the share holds, and drain lets in', async () => {
    let busy = false;
    const order: string[] = [];
    const gate = createRequestGate({ concurrency: 2, queueMax: 64, busy: () => busy });
    const enter = tracked(gate, order);
    await enter('victim', 'v');
    await Promise.all([enter('noisy', 'n0'), enter('noisy', 'n1'), enter('noisy', 'n2')]);
    assert.equal(order.length, 4);
    busy = true;
    const held = enter('noisy', 'n3');
    await settle();
    assert.equal(order.length, 4, 'held while busy: noisy has 3 inside, its share is 1');
    busy = false;
    gate.tick();
    await held;
    assert.deepEqual(order.slice(4), ['n3']);
  });

  it('past its queue a tenant is refused 503 with Retry-After; the other tenant is not', async () => {
    const rejected: string[] = [];
    const gate = createRequestGate({
      concurrency: 2,
      queueMax: 2,
      busy: () => true,
      onRejected: (t) => rejected.push(t),
    });
    const victimLeaves = await gate.enter('victim');
    await gate.enter('noisy');
    void gate.enter('noisy');
    void gate.enter('noisy');
    await assert.rejects(
      gate.enter('noisy'),
      (err: unknown) =>
        err instanceof UnavailableError &&
        err.code === 'unavailable' &&
        /too many requests from this tenant are waiting/.test(err.message),
    );
    assert.deepEqual(rejected, ['noisy']);
    // Counted by reason since start, for /status and cedargate_requests_shed_total.
    assert.deepEqual(gate.stats().shed, { tenant_queue_full: 1 });
    assert.equal(gate.stats().busy, true);
    await assert.rejects(gate.enter('noisy'), UnavailableError);
    assert.deepEqual(gate.stats().shed, { tenant_queue_full: 2 });
    victimLeaves();
    assert.ok(await gate.enter('victim'));
    assert.deepEqual(counts(gate), { inside: 2, waiting: 2 });
  });

  it('a leave called twice frees one place', async () => {
    const gate = createRequestGate({ concurrency: 2, queueMax: 8, busy: () => true });
    const a = await gate.enter('a');
    await gate.enter('b');
    a();
    a();
    assert.deepEqual(counts(gate), { inside: 1, waiting: 0 });
  });
});

describe('busy window', () => {
  it('a sample past the threshold, of the loop or of one core, keeps it busy for the hold', () => {
    let clock = 0;
    const w = createBusyWindow({ threshold: 0.8, holdMs: 1000, now: () => clock });
    assert.equal(w.busy(), false);
    w.record({ loop: 0.5, cores: 0.3 });
    assert.equal(w.busy(), false, 'neither past the threshold');
    w.record({ loop: 0.85, cores: 0.3 });
    assert.equal(w.busy(), true);
    // The gate holds the flood back, so the next samples are quiet: still busy within the hold.
    clock += 500;
    w.record({ loop: 0.4, cores: 0.4 });
    assert.equal(w.busy(), true, 'a quiet sample within the hold does not let go');
    clock += 501;
    assert.equal(w.busy(), false, 'a whole hold without a busy sample lets go');
    // Work off the loop (ES256 on libuv's threads): the loop is idle, the process is not.
    w.record({ loop: 0.1, cores: 1.2 });
    assert.equal(w.busy(), true);
  });
});
