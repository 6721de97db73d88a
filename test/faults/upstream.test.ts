/**
 * security.md line 22: the backend resets, hangs or refuses → JSON 502/504 within the upstream
 * timeout, in the contract's format; a write is never retried (the recorder counts what arrived);
 * the sidecar keeps serving and recovers when the backend does.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { User } from '../../src/common/user.js';
import type { Stack } from '../helpers/stack.js';
import { startTenantStack } from '../helpers/tenant-stack.js';
import { assertError } from '../helpers/contract.js';

const UPSTREAM_TIMEOUT_MS = 800;
/** Far above the timeout: only proves that nothing hung. */
const DID_NOT_HANG_MS = 8000;

describe('backend refused, reset or hanging (security.md 22)', () => {
  let s: Stack;
  let tA: string;
  let user: User;
  let tok: string;

  before(async () => {
    // Long-lived user cache: the failures below hit the forward itself, not a lookup.
    const t = await startTenantStack('acme', {
      env: { UPSTREAM_TIMEOUT_MS: String(UPSTREAM_TIMEOUT_MS), USER_CACHE_TTL_MS: '600000' },
    });
    ({ stack: s, tenantId: tA, ownerToken: tok } = t);
    [{ user }] = await t.seed(['Uma', ['user']]);
    // Warm the caches.
    assert.equal(
      (await s.call('GET', `/v1/users/${user.id}`, { token: tok, tenant: tA })).status,
      200,
    );
  });
  after(async () => s?.stop());
  beforeEach(() => {
    s.recorder.setMode('pass');
    s.recorder.clear();
  });

  const writes: [string, () => string, unknown][] = [
    ['PUT', () => `/v1/users/${user.id}`, { name: 'Uma 2' }],
    ['POST', () => '/v1/users', { name: 'New', email: 'new@acme.test', roles: ['user'] }],
    ['DELETE', () => `/v1/users/${user.id}`, undefined],
  ];

  it('reset: 502 upstream_unavailable, and no write is retried', async () => {
    s.recorder.setMode('reset');
    for (const [method, path, body] of writes) {
      s.recorder.clear();
      const o: Parameters<Stack['call']>[2] = { token: tok, tenant: tA };
      if (body !== undefined) o.body = body;
      assertError(await s.call(method, path(), o), 502, 'upstream_unavailable', method);
      const got = s.recorder.forwarded().filter((f) => f.method === method);
      assert.equal(got.length, 1, `${method} reached the backend ${got.length} times`);
    }
    s.recorder.clear();
    assertError(
      await s.call('GET', `/v1/users/${user.id}`, { token: tok, tenant: tA }),
      502,
      'upstream_unavailable',
    );
    assert.ok(s.recorder.forwarded().length <= 2, 'an idempotent read may be retried at most once');
  });

  it('hanging: 504 upstream_timeout within the timeout, and no write is retried', async () => {
    s.recorder.setMode('hang');
    for (const [method, path, body] of writes) {
      s.recorder.clear();
      const o: Parameters<Stack['call']>[2] = { token: tok, tenant: tA };
      if (body !== undefined) o.body = body;
      const t0 = Date.now();
      const r = await s.call(method, path(), o);
      const took = Date.now() - t0;
      assertError(r, 504, 'upstream_timeout', method);
      assert.ok(
        took >= UPSTREAM_TIMEOUT_MS * 0.5 && took < DID_NOT_HANG_MS,
        `${method}: answered after ${took} ms`,
      );
      assert.equal(
        s.recorder.forwarded().filter((f) => f.method === method).length,
        1,
        `${method} retried`,
      );
    }
  });

  it('recovers by itself when the backend answers again', async () => {
    const r = await s.call('PUT', `/v1/users/${user.id}`, {
      token: tok,
      tenant: tA,
      body: { name: 'Uma 3' },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.name, 'Uma 3');
  });

  it('refused (nothing listening): 502 upstream_unavailable, for forwards and for lookups', async () => {
    await s.recorder.close(); // the sidecar's upstream is now a closed port
    const t0 = Date.now();
    assertError(
      await s.call('PUT', `/v1/users/${user.id}`, { token: tok, tenant: tA, body: { name: 'x' } }),
      502,
      'upstream_unavailable',
    );
    // A principal the sidecar has not cached must be looked up: that fails the same way, not as a 401 or a 500.
    const other = await s.token(tA, '00000000-0000-4000-8000-000000000001');
    assertError(
      await s.call('GET', '/v1/users', { token: other, tenant: tA }),
      502,
      'upstream_unavailable',
    );
    assert.ok(Date.now() - t0 < DID_NOT_HANG_MS);
    const ready = await fetch(`${s.adminUrl}/readyz`);
    assert.equal(ready.status, 503, 'not ready without a backend');
    assert.equal(((await ready.json()) as { code: string }).code, 'unavailable');
    assert.equal(s.process.child.exitCode, null, 'the sidecar is still up');
  });
});
