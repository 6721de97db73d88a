/**
 * The fair scheduler with a manual `defer` (no timers, no sleeps): tenants are served in turn
 * whatever order their work arrived in, a step's cost counts against its tenant's share, at
 * most `concurrency` steps run at once, and a tenant past its queue's bound is refused 503
 * `unavailable` with Retry-After while the others are not.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UnavailableError } from '../../../src/errors.js';
import { createFairScheduler, type Release } from '../../../src/sidecar/fair-scheduler.js';

/** A `defer` whose callbacks run only when the test says so. */
function manualDefer(): { defer: (fn: () => void) => void; flush: () => Promise<void> } {
  const pending: (() => void)[] = [];
  return {
    defer: (fn) => void pending.push(fn),
    async flush() {
      // Let granted promises settle between dispatches, as the event loop would.
      for (let guard = 0; guard < 10_000; guard++) {
        await new Promise<void>((r) => queueMicrotask(r));
        const fn = pending.shift();
        if (fn === undefined) return;
        fn();
      }
      throw new Error('defer never settled');
    },
  };
}

/** Queues `count` steps of `cost` for `tenant`; each logs its tenant when it runs, and releases. */
function enqueue(
  scheduler: ReturnType<typeof createFairScheduler>,
  tenant: string,
  count: number,
  order: string[],
  cost = 1,
): Promise<void>[] {
  return Array.from({ length: count }, () =>
    scheduler.run(tenant, cost, () => {
      order.push(tenant);
    }),
  );
}

describe('fair scheduler', () => {
  it('serves tenants in turn, not in arrival order', async () => {
    const { defer, flush } = manualDefer();
    const s = createFairScheduler({ concurrency: 1, queueMax: 100, defer });
    const order: string[] = [];
    const all = [...enqueue(s, 'noisy', 20, order), ...enqueue(s, 'victim', 3, order)];
    await flush();
    await Promise.all(all);
    // The victim's three came in after twenty of the noisy tenant's, and ran within its first six.
    const victimAt = order.flatMap((t, i) => (t === 'victim' ? [i] : []));
    assert.deepEqual(victimAt, [1, 3, 5]);
    assert.equal(order.length, 23);
  });

  it("counts a step's cost against its tenant's share (deficit round robin)", async () => {
    const { defer, flush } = manualDefer();
    const s = createFairScheduler({ concurrency: 1, queueMax: 100, defer });
    const order: string[] = [];
    const all = [...enqueue(s, 'heavy', 3, order, 25), ...enqueue(s, 'light', 60, order, 1)];
    await flush();
    await Promise.all(all);
    // While the heavy tenant earns 25, the light one runs about 25 steps of 1: work is shared
    // evenly, not steps.
    const heavyAt = order.flatMap((t, i) => (t === 'heavy' ? [i] : []));
    assert.equal(heavyAt.length, 3);
    const gaps = [heavyAt[0] ?? 0, (heavyAt[1] ?? 0) - (heavyAt[0] ?? 0) - 1];
    for (const gap of gaps)
      assert.ok(gap >= 23 && gap <= 25, `light ran ${gap} between heavy ones`);
  });

  it('lets a tenant alone run steps of any cost without going round for them', async () => {
    const { defer, flush } = manualDefer();
    const s = createFairScheduler({ concurrency: 1, queueMax: 100, defer });
    const order: string[] = [];
    const all = enqueue(s, 'heavy', 3, order, 1_000_000);
    await flush();
    await Promise.all(all);
    assert.deepEqual(order, ['heavy', 'heavy', 'heavy']);
  });

  it('runs at most `concurrency` steps at once, and the next only after a release', async () => {
    const { defer, flush } = manualDefer();
    const s = createFairScheduler({ concurrency: 2, queueMax: 10, defer });
    const releases: Release[] = [];
    const acquired = Array.from({ length: 5 }, () =>
      s.acquire('t', 1).then((r) => releases.push(r)),
    );
    await flush();
    assert.equal(releases.length, 2);
    assert.deepEqual(s.stats(), { running: 2, queued: 3, tenantsWaiting: 1, rejected: 0 });
    releases[0]?.();
    releases[0]?.(); // a second release of the same place frees nothing more
    await flush();
    assert.equal(releases.length, 3);
    assert.equal(s.stats().running, 2);
    for (const r of releases.slice(1)) r();
    await flush();
    for (const r of releases.slice(3)) r();
    await Promise.all(acquired);
    assert.deepEqual(s.stats(), { running: 0, queued: 0, tenantsWaiting: 0, rejected: 0 });
  });

  it('refuses a tenant past its own queue with 503 unavailable and Retry-After, not the others', async () => {
    const { defer, flush } = manualDefer();
    const rejectedTenants: string[] = [];
    const s = createFairScheduler({
      concurrency: 1,
      queueMax: 3,
      retryAfterSeconds: 2,
      defer,
      onRejected: (t) => rejectedTenants.push(t),
    });
    const held = s.acquire('noisy', 1);
    await flush(); // running: no longer in the queue
    const waiting = [1, 2, 3].map(() => s.acquire('noisy', 1));
    await assert.rejects(s.acquire('noisy', 1), (e: unknown) => {
      assert.ok(e instanceof UnavailableError);
      assert.equal(e.code, 'unavailable');
      assert.equal(e.status, 503);
      assert.equal(e.retryAfterSeconds, 2);
      return true;
    });
    const victim = s.acquire('victim', 1);
    assert.equal(s.depth('victim'), 1);
    assert.deepEqual(rejectedTenants, ['noisy']);
    assert.equal(s.stats().rejected, 1);
    // Each place, once granted, is given back at once; the victim's one step is among the
    // first two served, however many the noisy tenant had queued before it.
    const served: string[] = [];
    const track = (tenant: string, p: Promise<() => void>) =>
      p.then((release) => {
        served.push(tenant);
        release();
      });
    const done = [...waiting.map((w) => track('noisy', w)), track('victim', victim)];
    (await held)();
    await flush();
    await Promise.all(done);
    assert.ok(served.indexOf('victim') <= 1, served.join(','));
    assert.equal(s.stats().queued, 0);
  });

  it('releases the place of a step that throws, and passes its error on', async () => {
    const { defer, flush } = manualDefer();
    const s = createFairScheduler({ concurrency: 1, queueMax: 4, defer });
    const failing = s.run('t', 1, () => {
      throw new Error('boom');
    });
    const next = s.run('t', 1, () => 'ok');
    await flush();
    await assert.rejects(failing, /boom/);
    await flush();
    assert.equal(await next, 'ok');
  });

  it('refuses a concurrency or a queue bound under 1', () => {
    assert.throws(() => createFairScheduler({ concurrency: 0, queueMax: 1 }), /concurrency/);
    assert.throws(() => createFairScheduler({ concurrency: 1, queueMax: 0 }), /queueMax/);
  });
});
