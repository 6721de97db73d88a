import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { etagOf, type User } from '../../../src/common/user.js';
import { createUserDirectory } from '../../../src/sidecar/directory.js';
import type { UpstreamClient, UserRecord } from '../../../src/sidecar/upstream.js';

const T = 'AAAAAAAA-0000-4000-8000-000000000000';
const U = 'BBBBBBBB-0000-4000-8000-000000000000';

function record(version: number, roles: string[] = ['user']): UserRecord {
  const user: User = {
    id: U,
    tenant_id: T,
    name: `v${version}`,
    email: 'u@x.test',
    roles,
    is_owner: false,
    avatar: null,
    auth_provider: 'local',
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: '2026-01-01T00:00:00.000Z',
  };
  return { user, etag: etagOf({ id: U, version }) };
}

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
    d.remember(T, U, record(4, ['viewer']), d.mark()); // an older answer arriving late
    assert.deepEqual((await d.get(T, U))?.user.roles, ['admin']);
    assert.equal(b.calls(), 0);
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
});
