/**
 * security.md 28 and 36 through the running `start`: a request's head is checked when it
 * arrives, but the decision waits for the body, so the facts must be read again at the moment
 * of the decision — a sender demoted, deleted, revoked or expired while its body was in flight
 * is refused, and nothing of it reaches the backend. A body that does not arrive within
 * BODY_TIMEOUT_MS is 408; past the in-flight body budget new bodies are 503 at once, and the
 * bodies already accepted are not harmed.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { User } from '../../src/common/user.js';
import { waitFor } from '../helpers/net.js';
import { runCli } from '../helpers/process.js';
import { rawRequestText } from '../helpers/raw-http.js';
import { skipWithoutRedis, startRedis, type RunningRedis } from '../helpers/redis.js';
import type { Stack } from '../helpers/stack.js';
import { startTenantStack } from '../helpers/tenant-stack.js';
import { holdRequest } from '../helpers/held-request.js';
import { adminJson, assertError } from '../helpers/contract.js';
import { jtiOf } from '../helpers/tokens.js';

const BODY_LIMIT_BYTES = 16_384;
const BODY_BUDGET_BYTES = 40_000;

/** How many principal look-ups the sidecar has made: one more means a head was checked. */
async function lookups(s: Stack): Promise<number> {
  const status = await adminJson(s.adminUrl, '/status');
  const users = status.caches.users as { hits: number; misses: number };
  return users.hits + users.misses;
}

/** Sends a request's head (and `partial` of its body); resolves once the sidecar checked the head. */
async function holdAfterHeadCheck(
  s: Stack,
  head: string,
): Promise<Awaited<ReturnType<typeof holdRequest>>> {
  const before = await lookups(s);
  const held = await holdRequest(Number(new URL(s.url).port), head);
  await waitFor(async () => (await lookups(s)) > before, 5000, 'the head to be checked');
  return held;
}

function head(
  method: string,
  path: string,
  token: string,
  tenant: string,
  framing: [string, string],
): string {
  return rawRequestText(method, path, [
    ['Host', 'x'],
    ['Authorization', `Bearer ${token}`],
    ['X-Tenant-ID', tenant],
    ['Content-Type', 'application/json'],
    framing,
    ['Connection', 'close'],
  ]);
}

describe('time of use: the decision is made on the facts at the moment of the decision (security.md 28, 36)', () => {
  let s: Stack;
  let tA: string;
  let ownerTok: string;
  let target: User;

  before(async () => {
    const t = await startTenantStack('acme', {
      env: {
        CLOCK_TOLERANCE_SECONDS: '1',
        BODY_TIMEOUT_MS: '6000',
        BODY_LIMIT_BYTES: String(BODY_LIMIT_BYTES),
        BODY_BUDGET_BYTES: String(BODY_BUDGET_BYTES),
      },
    });
    ({ stack: s, tenantId: tA, ownerToken: ownerTok } = t);
    [{ user: target }] = await t.seed(['Target', ['user']]);
  });
  after(async () => s?.stop());
  beforeEach(() => s.recorder.clear());

  /** An admin with a token whose credential and record the sidecar has already cached. */
  async function warmAdmin(name: string): Promise<{ admin: User; tok: string }> {
    const admin = await s.createUser(tA, ownerTok, name, ['admin']);
    const tok = await s.token(tA, admin.id);
    const r = await s.call('GET', `/v1/users/${admin.id}`, { token: tok, tenant: tA });
    assert.equal(r.status, 200, r.text);
    s.recorder.clear();
    return { admin, tok };
  }

  const forwardedTo = (method: string, path: string) =>
    s.recorder.forwarded().filter((r) => r.method === method && r.path === path);

  it('PUT head sent as an admin, the owner demotes that admin, then the last byte → 403, not forwarded', async () => {
    const { admin, tok } = await warmAdmin('Demoted');
    const body = JSON.stringify({ roles: ['viewer'] });
    const held = await holdAfterHeadCheck(
      s,
      head('PUT', `/v1/users/${target.id}`, tok, tA, ['Content-Length', String(body.length)]) +
        body.slice(0, -1),
    );
    const demote = await s.call('PUT', `/v1/users/${admin.id}`, {
      token: ownerTok,
      tenant: tA,
      body: { roles: ['user'] },
    });
    assert.equal(demote.status, 200, demote.text);
    held.send(body.slice(-1));
    const r = await held.response();
    assert.ok(r !== undefined, 'no response');
    assertError(r, 403, 'forbidden', 'demoted while the body was in flight');
    assert.deepEqual(forwardedTo('PUT', `/v1/users/${target.id}`), []);
    const now = await s.call('GET', `/v1/users/${target.id}`, { token: ownerTok, tenant: tA });
    assert.deepEqual(now.body.roles, ['user']);
  });

  it('PUT head sent as an admin, the owner deletes that admin, then the last byte → 401, not forwarded', async () => {
    const { admin, tok } = await warmAdmin('Deleted');
    const body = JSON.stringify({ name: 'Renamed by a deleted admin' });
    const held = await holdAfterHeadCheck(
      s,
      head('PUT', `/v1/users/${target.id}`, tok, tA, ['Content-Length', String(body.length)]) +
        body.slice(0, -1),
    );
    const del = await s.call('DELETE', `/v1/users/${admin.id}`, { token: ownerTok, tenant: tA });
    assert.equal(del.status, 204, del.text);
    held.send(body.slice(-1));
    const r = await held.response();
    assert.ok(r !== undefined, 'no response');
    assertError(r, 401, 'unauthenticated', 'deleted while the body was in flight');
    assert.match(r.headers['www-authenticate'] ?? '', /^Bearer/);
    assert.deepEqual(forwardedTo('PUT', `/v1/users/${target.id}`), []);
  });

  it('a chunked POST written after its sender was deleted → 401, no user created', async () => {
    const { admin, tok } = await warmAdmin('Creator');
    const held = await holdAfterHeadCheck(
      s,
      head('POST', '/v1/users', tok, tA, ['Transfer-Encoding', 'chunked']),
    );
    const del = await s.call('DELETE', `/v1/users/${admin.id}`, { token: ownerTok, tenant: tA });
    assert.equal(del.status, 204, del.text);
    const body = JSON.stringify({ name: 'Ghost', email: 'ghost@acme.test', roles: ['user'] });
    held.send(`${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`);
    const r = await held.response();
    assert.ok(r !== undefined, 'no response');
    assertError(r, 401, 'unauthenticated', 'chunked body after the sender was deleted');
    assert.deepEqual(forwardedTo('POST', '/v1/users'), []);
    const list = await s.call('GET', '/v1/users?limit=200', { token: ownerTok, tenant: tA });
    assert.equal(list.status, 200, list.text);
    assert.ok(
      !list.body.users.some((u) => u.email === 'ghost@acme.test'),
      'a deleted sender created a user',
    );
  });

  it('a token that expires while its body is held → 401, not forwarded', async () => {
    const { admin } = await warmAdmin('Expiring');
    // A token with one to two seconds left (and CLOCK_TOLERANCE_SECONDS=1), valid at the head.
    const tok = await s.token(tA, admin.id, 2);
    const warm = await s.call('GET', `/v1/users/${admin.id}`, { token: tok, tenant: tA });
    assert.equal(warm.status, 200, `the token must still be valid at the head: ${warm.text}`);
    const body = JSON.stringify({ name: 'Renamed by an expired token' });
    const held = await holdAfterHeadCheck(
      s,
      head('PUT', `/v1/users/${target.id}`, tok, tA, ['Content-Length', String(body.length)]) +
        body.slice(0, -1),
    );
    // The event to wait for: the sidecar itself now refuses the token (exp + tolerance passed).
    await waitFor(
      async () =>
        (await s.call('GET', `/v1/users/${admin.id}`, { token: tok, tenant: tA })).status === 401,
      5000,
      'the token to expire',
    );
    held.send(body.slice(-1));
    const r = await held.response();
    assert.ok(r !== undefined, 'no response');
    assertError(r, 401, 'unauthenticated', 'expired while the body was in flight');
    assert.deepEqual(forwardedTo('PUT', `/v1/users/${target.id}`), []);
  });

  it('a body slower than BODY_TIMEOUT_MS → 408 request_timeout, not forwarded', async () => {
    const body = JSON.stringify({ name: 'Never finished' });
    const held = await holdAfterHeadCheck(
      s,
      head('PUT', `/v1/users/${target.id}`, ownerTok, tA, ['Content-Length', String(body.length)]) +
        body.slice(0, 3),
    );
    const r = await held.response(15_000);
    held.close();
    assert.ok(r !== undefined, 'no response');
    assertError(r, 408, 'request_timeout', 'a body that never arrives');
    assert.deepEqual(forwardedTo('PUT', `/v1/users/${target.id}`), []);
  });

  it('past the in-flight body budget new bodies get 503 unavailable at once; the held ones are not harmed', async () => {
    // Two bodies of ~16 KB held, a third does not fit in 40 000 bytes: refused before its body.
    const size = 16_000;
    const bodyOf = (name: string) => JSON.stringify({ name }).padEnd(size, ' ');
    const path = `/v1/users/${target.id}`;
    const held = [];
    for (const name of ['Held one', 'Held two']) {
      const body = bodyOf(name);
      held.push({
        body,
        req: await holdAfterHeadCheck(
          s,
          head('PUT', path, ownerTok, tA, ['Content-Length', String(size)]) + body.slice(0, 100),
        ),
      });
    }
    await waitFor(
      async () => ((await adminJson(s.adminUrl, '/status')).bodies?.bytes ?? 0) >= 2 * size,
      5000,
      'both bodies to be counted',
    );
    const third = await holdRequest(
      Number(new URL(s.url).port),
      head('PUT', path, ownerTok, tA, ['Content-Length', String(size)]),
    );
    const refused = await third.response(5000);
    third.close();
    assert.ok(refused !== undefined, 'the third body was not refused at once');
    assertError(refused, 503, 'unavailable', 'over the budget');
    assert.ok(refused.headers['retry-after'] !== undefined, 'Retry-After');
    for (const { body, req } of held) {
      req.send(body.slice(100));
      const r = await req.response();
      assert.ok(r !== undefined, 'no response');
      assert.equal(r.status, 200, r.body);
    }
    assert.equal(forwardedTo('PUT', path).length, 2);
    // Released: the budget is whole again.
    await waitFor(
      async () => (await adminJson(s.adminUrl, '/status')).bodies.bytes === 0,
      5000,
      'the budget to be released',
    );
    const after = await s.call('PUT', path, {
      token: ownerTok,
      tenant: tA,
      body: { name: 'After' },
    });
    assert.equal(after.status, 200, after.text);
  });
});

describe(
  'time of use with Redis: a token revoked while its body is held (security.md 28)',
  {
    skip: skipWithoutRedis(),
  },
  () => {
    let redis: RunningRedis;
    let s: Stack;
    let tA: string;
    let target: User;
    let ownerTok: string;

    before(async () => {
      redis = await startRedis();
      const t = await startTenantStack('acme', { env: { REDIS_URL: redis.url } });
      ({ stack: s, tenantId: tA, ownerToken: ownerTok } = t);
      [{ user: target }] = await t.seed(['Target', ['user']]);
    });
    after(async () => {
      await s?.stop();
      await redis?.stop();
    });

    it('token revoke --jti while the body is held → 401, not forwarded', async () => {
      const admin = await s.createUser(tA, ownerTok, 'Revoked', ['admin']);
      const tok = await s.token(tA, admin.id);
      const get = () => s.call('GET', `/v1/users/${admin.id}`, { token: tok, tenant: tA });
      assert.equal((await get()).status, 200);
      s.recorder.clear();
      const body = JSON.stringify({ name: 'Renamed by a revoked token' });
      const held = await holdAfterHeadCheck(
        s,
        head('PUT', `/v1/users/${target.id}`, tok, tA, ['Content-Length', String(body.length)]) +
          body.slice(0, -1),
      );
      const r1 = await runCli(['token', 'revoke', '--jti', jtiOf(tok)], { REDIS_URL: redis.url });
      assert.equal(r1.code, 0, r1.stderr);
      // The event to wait for: the revocation has reached the sidecar.
      await waitFor(async () => (await get()).status === 401, 5000, 'the revocation to arrive');
      held.send(body.slice(-1));
      const r = await held.response();
      assert.ok(r !== undefined, 'no response');
      assertError(r, 401, 'unauthenticated', 'revoked while the body was in flight');
      assert.deepEqual(
        s.recorder.forwarded().filter((x) => x.method === 'PUT'),
        [],
        'a revoked token wrote',
      );
    });
  },
);
