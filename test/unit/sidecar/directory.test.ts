import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { etagOf } from '../../../src/common/user.js';
import { createUserDirectory } from '../../../src/sidecar/directory.js';
import { createFairScheduler } from '../../../src/sidecar/fair-scheduler.js';
import type { UpstreamClient } from '../../../src/sidecar/upstream.js';
import type { UserFacts, UserRecord } from '../../../src/sidecar/user-facts.js';

const T = 'AAAAAAAA-0000-4000-8000-000000000000';
const U = 'BBBBBBBB-0000-4000-8000-000000000000';

function record(version: number, roles: string[] = ['user'], id = U): UserRecord {
  const user: UserFacts = {
    id,
    tenant_id: T,
    name: `v${version}`,
    roles,
    is_owner: false,
    avatar_digest: null,
  };
  return { user, etag: etagOf({ id, version }) };
}

const userId = (n: number) => `BBBBBBBB-0000-4000-8000-${String(n).padStart(12, '0')}`;

/** A backend stand-in whose answers the test releases by hand. */
function fakeUpstream() {
  const pending: Array<(r: UserRecord | null) => void> = [];
  let calls = 0;
  let next: UserRecord | null = record(1);
  const upstream = {
    fetchUser: () => {
      calls++;
      return new Promise<UserRecord | null>((resolve) => pending.push(resolve));
    },
  } as unknown as UpstreamClient;
  return {
    upstream,
    calls: () => calls,
    setNext: (r: UserRecord | null) => void (next = r),
    release: () => {
      for (const p of pending.splice(0)) p(next);
    },
  };
}

describe('user directory', () => {
  it("a look-up waits for its tenant's turn to start, not to finish: a slow backend holds no turn", async () => {
    // One turn at a time: were a look-up to hold its turn while the backend answers, the second
    // user's look-up could not start until the first user's answer came (mix and put-role-dozen
    // ran at FAIR_CONCURRENCY ÷ backend latency with the CPU idle).
    const scheduler = createFairScheduler({ concurrency: 1, queueMax: 10 });
    const slow = fakeUpstream();
    const other = userId(2);
    const upstream = {
      fetchUser: (_t: string, id: string) =>
        id === other ? Promise.resolve(record(3, ['user'], other)) : slow.upstream.fetchUser(T, id),
    } as unknown as UpstreamClient;
    const d = createUserDirectory({
      upstream,
      ttlMs: 60_000,
      schedule: (tenantId, work) => scheduler.run(tenantId, 1, work),
    });
    const first = d.get(T, U);
    const second = d.get(T, other);
    const winner = await Promise.race([
      second.then((r) => r?.user.name),
      new Promise((resolve) => setTimeout(() => resolve('still waiting'), 500)),
    ]);
    assert.equal(winner, 'v3', 'the second look-up started while the first waited on the backend');
    assert.equal(scheduler.stats().running, 0, 'no turn is held while the backend answers');
    slow.release();
    assert.equal((await first)?.user.name, 'v1');
  });

  it('shares one in-flight lookup between concurrent misses, then answers from the cache', async () => {
    const b = fakeUpstream();
    const d = createUserDirectory({ upstream: b.upstream, ttlMs: 60_000 });
    const both = Promise.all([d.get(T, U), d.get(T, U)]);
    b.release();
    const [x, y] = await both;
    assert.equal(b.calls(), 1);
    assert.equal(x, y);
    assert.equal((await d.get(T, U))?.user.name, 'v1');
    assert.equal(b.calls(), 1);
  });

  it('a lookup that started before an invalidation does not put the old user back', async () => {
    const b = fakeUpstream();
    const d = createUserDirectory({ upstream: b.upstream, ttlMs: 60_000 });
    const stale = d.get(T, U);
    d.invalidate(T, U); // a write lands while the read is in flight
    b.release();
    assert.equal((await stale)?.user.name, 'v1');
    b.setNext(record(2));
    const fresh = d.get(T, U);
    b.release();
    assert.equal((await fresh)?.user.name, 'v2');
    assert.equal(b.calls(), 2, 'the in-flight answer was not cached');
  });

  it('remembers what a write answered, but never over a newer version', async () => {
    const b = fakeUpstream();
    const d = createUserDirectory({ upstream: b.upstream, ttlMs: 60_000 });
    d.remember(T, U, record(5, ['admin']), d.mark());
    assert.deepEqual((await d.get(T, U))?.user.roles, ['admin']);
    // An older answer arriving late (its write replaced v3): never served over v5.
    d.remember(T, U, record(4, ['viewer']), d.mark(), record(3).etag);
    b.setNext(record(5, ['admin']));
    const after = d.get(T, U);
    b.release();
    assert.deepEqual((await after)?.user.roles, ['admin']);
    assert.equal(b.calls(), 1, 'forgotten, then read again from the backend');
  });

  // A backend that is not ours may name versions with any strong ETag (docs/backend-contract.md):
  // the directory must not read an order into them.
  it('after a write to a backend with opaque ETags, never keeps serving the version it replaced', async () => {
    const b = fakeUpstream();
    const d = createUserDirectory({ upstream: b.upstream, ttlMs: 60_000 });
    const before = { ...record(1, ['admin']), etag: '"k7Qz"' };
    const after = { ...record(2, ['viewer']), etag: '"a01"' };
    b.setNext(before);
    const first = d.get(T, U);
    b.release();
    await first;
    d.remember(T, U, after, d.mark()); // the backend's answer to a PUT
    b.setNext(after);
    const now = d.get(T, U);
    b.release();
    assert.deepEqual((await now)?.user.roles, ['viewer'], 'the roles the write set');
  });

  it('keeps the answer of a write conditioned on the cached version, whatever its ETags look like', async () => {
    const b = fakeUpstream();
    const d = createUserDirectory({ upstream: b.upstream, ttlMs: 60_000 });
    const before = { ...record(1, ['admin']), etag: '"zz"' };
    const after = { ...record(2, ['viewer']), etag: '"aa"' };
    b.setNext(before);
    const first = d.get(T, U);
    b.release();
    await first;
    d.remember(T, U, after, d.mark(), before.etag);
    assert.deepEqual((await d.get(T, U))?.user.roles, ['viewer']);
    assert.equal(b.calls(), 1, 'answered from what the write returned');
    // An answer to a write conditioned on some other version cannot be ordered: forgotten.
    d.remember(T, U, { ...record(3, ['user']), etag: '"mm"' }, d.mark(), '"old"');
    b.setNext(record(9, ['admin']));
    const fresh = d.get(T, U);
    b.release();
    assert.deepEqual((await fresh)?.user.roles, ['admin'], 'read from the backend');
    assert.equal(b.calls(), 2);
  });

  it('forgets instead of remembering when another replica changed the user during the write', async () => {
    const b = fakeUpstream();
    const d = createUserDirectory({ upstream: b.upstream, ttlMs: 60_000 });
    const since = d.mark();
    d.invalidate(T, U); // another replica's invalidation arrives while our write is in flight
    d.remember(T, U, record(5), since);
    const answer = d.get(T, U);
    b.setNext(record(6));
    b.release();
    assert.equal((await answer)?.user.name, 'v6', 'read from the backend, not our answer');
    assert.equal(b.calls(), 1);
  });

  it('holds at most maxBytes of users', () => {
    const b = fakeUpstream();
    const d = createUserDirectory({ upstream: b.upstream, ttlMs: 60_000, maxBytes: 8192 });
    for (let i = 0; i < 200; i++)
      d.remember(T, userId(i), record(1, ['user'], userId(i)), d.mark());
    const { size, bytes } = d.stats();
    assert.ok(bytes <= 8192, `${bytes} bytes held`);
    assert.ok(size > 0 && size < 200, `${size} users held`);
    d.close();
  });

  it('drops expired users by itself, not only when they are asked for again', () => {
    mock.timers.enable({ apis: ['setInterval'] });
    try {
      let now = 1_000;
      const b = fakeUpstream();
      const d = createUserDirectory({
        upstream: b.upstream,
        ttlMs: 5_000,
        perf: { now: () => now },
      });
      for (let i = 0; i < 50; i++)
        d.remember(T, userId(i), record(1, ['user'], userId(i)), d.mark());
      assert.equal(d.stats().size, 50);
      now += 5_001;
      mock.timers.tick(5_000);
      assert.equal(d.stats().size, 0, 'expired users are still held');
      assert.equal(d.stats().bytes, 0);
      d.close();
    } finally {
      mock.timers.reset();
    }
  });

  it('never keeps a record under the key of another user or tenant', async () => {
    const b = fakeUpstream();
    const d = createUserDirectory({ upstream: b.upstream, ttlMs: 60_000 });
    d.remember(T, U, record(5, ['admin'], userId(7)), d.mark());
    const answer = d.get(T, U);
    b.release();
    assert.equal((await answer)?.user.id, U, 'read from the backend');
    assert.equal(b.calls(), 1);
    d.close();
  });

  describe('a look-up that overlaps a write', () => {
    const A = userId(1);
    const B = userId(2);

    /** A backend whose answers the test releases one user at a time. */
    function perUserUpstream() {
      const pending = new Map<string, Array<(r: UserRecord | null) => void>>();
      const calls = new Map<string, number>();
      const upstream = {
        fetchUser: (_tenant: string, id: string) => {
          calls.set(id, (calls.get(id) ?? 0) + 1);
          return new Promise<UserRecord | null>((resolve) =>
            pending.set(id, [...(pending.get(id) ?? []), resolve]),
          );
        },
      } as unknown as UpstreamClient;
      return {
        upstream,
        calls: (id: string) => calls.get(id) ?? 0,
        release(id: string, r: UserRecord) {
          for (const p of pending.get(id) ?? []) p(r);
          pending.delete(id);
        },
      };
    }

    /** Starts a look-up of A, runs `during` while it is in flight, and answers it. */
    async function lookUpAround(during: (d: ReturnType<typeof createUserDirectory>) => void) {
      const b = perUserUpstream();
      const d = createUserDirectory({ upstream: b.upstream, ttlMs: 60_000 });
      const first = d.get(T, A);
      during(d);
      b.release(A, record(1, ['admin'], A));
      assert.equal((await first)?.user.id, A);
      const again = d.get(T, A);
      b.release(A, record(2, ['user'], A));
      const answer = await again;
      d.close();
      return { fetches: b.calls(A), answer };
    }

    it('of another user is cached: the principal is not fetched again under writes to others', async () => {
      const { fetches, answer } = await lookUpAround((d) => {
        d.remember(T, B, record(3, ['viewer'], B), d.mark()); // a PUT of B through this replica
        d.invalidate(T, B); // and its invalidation from the bus
      });
      assert.equal(fetches, 1, 'A was fetched again after a write to B');
      assert.deepEqual(answer?.user.roles, ['admin']);
    });

    const overlapping: [string, (d: ReturnType<typeof createUserDirectory>) => void, string][] = [
      ['an invalidation of the same user', (d) => d.invalidate(T, A), 'fetched'],
      [
        'a write to the same user',
        (d) => d.remember(T, A, record(5, ['viewer'], A), d.mark()),
        'the write',
      ],
      ['a clear()', (d) => d.clear(), 'fetched'],
    ];
    for (const [name, during, expected] of overlapping) {
      it(`is not cached when it overlaps ${name}`, async () => {
        const { fetches, answer } = await lookUpAround(during);
        // The look-up's answer (version 1) was read before the write: never kept.
        if (expected === 'fetched') {
          assert.equal(fetches, 2, 'the stale look-up was cached');
          assert.equal(answer?.user.name, 'v2');
        } else {
          assert.equal(fetches, 1);
          assert.equal(answer?.user.name, 'v5', 'the stale look-up replaced the write');
        }
      });
    }

    it('the per-user guard holds only the look-ups in flight', async () => {
      const b = perUserUpstream();
      const d = createUserDirectory({ upstream: b.upstream, ttlMs: 60_000, max: 10 });
      for (let i = 0; i < 2_000; i++) {
        const id = userId(100 + i);
        const p = d.get(T, id);
        d.invalidate(T, userId(5000 + i));
        b.release(id, record(1, ['user'], id));
        await p;
      }
      assert.ok(d.stats().size <= 10);
      assert.equal(d.lookupsInFlight(), 0);
      // Look-ups that have not landed yet: held while in flight, dropped once overtaken.
      const hanging = Array.from({ length: 100 }, (_, i) => d.get(T, userId(9000 + i)));
      assert.equal(d.lookupsInFlight(), 100);
      for (let i = 0; i < 100; i++) d.invalidate(T, userId(9000 + i));
      assert.equal(d.lookupsInFlight(), 0);
      for (let i = 0; i < 100; i++)
        b.release(userId(9000 + i), record(1, ['user'], userId(9000 + i)));
      await Promise.all(hanging);
      d.close();
    });
  });
});
