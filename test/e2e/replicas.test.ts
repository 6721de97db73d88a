/**
 * Two sidecar replicas and one backend on one Redis, as real processes on free ports: a role
 * removed through replica A is enforced by replica B on the next request (after B's cache was
 * warmed), a token revoked with `bin/cedargate token revoke` is refused by both, and a Redis
 * killed mid-run costs 503 `unavailable` while it is down and nothing after it returns — no
 * crash, no restart of any cedargate process.
 *
 * Redis runs with an fsync-always append-only file here, as it should in production when it
 * holds the users: the restart keeps the tenant, the users and the revocations.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { User } from '../../src/common/user.js';
import { waitFor } from '../helpers/net.js';
import { runCli, tempDir } from '../helpers/process.js';
import {
  skipWithoutRedis,
  startRedis,
  startRedisCutter,
  type RedisCutter,
  type RunningRedis,
} from '../helpers/redis.js';
import { assertError } from '../helpers/contract.js';
import { startReplicaSet, type Replica, type ReplicaSet } from '../helpers/replica-set.js';
import { createUserOnPort } from '../helpers/stack.js';
import { jtiOf } from '../helpers/tokens.js';

describe('two sidecar replicas on Redis', { skip: skipWithoutRedis() }, () => {
  const dir = tempDir('cedargate-replicas-redis-');
  const redisDir = join(dir.path, 'redis');
  let redis: RunningRedis;
  /** Replica A reaches Redis through it, so a test can cut one of A's connections. */
  let cutter: RedisCutter;
  let set: ReplicaSet;
  let replicas: Replica[];
  let backend: ReplicaSet['backend'];
  let baseEnv: Record<string, string>;
  let tenant: string;
  const tok = {} as Record<'owner' | 'adam' | 'vera', string>;
  let adam: User;
  let vera: User;

  const token = (sub: string) => set.token(sub);
  const outputs = () =>
    [
      `backend:\n${backend.output()}`,
      ...replicas.map((r) => `${r.name}:\n${r.proc.output()}`),
    ].join('\n');
  /** How many users replica `r` has cached now (from its /status). */
  const cachedUsers = async (r: Replica): Promise<number> =>
    (await r.admin<{ caches: { users: { size: number } } }>('/status')).body.caches.users.size;
  /**
   * B must really hold the user before the change, or the test would prove nothing. The sidecar
   * waits for Redis to take the invalidation before it answers the write, so the client's very
   * next request to B needs no waiting.
   */
  const assertWarm = async (r: Replica): Promise<void> => {
    assert.ok((await cachedUsers(r)) > 0, `replica ${r.name} has nothing cached`);
  };
  const ready = async (r: Replica) => (await r.admin('/readyz')).status === 200;

  before(async () => {
    mkdirSync(redisDir);
    redis = await startRedis({ persistDir: redisDir });
    cutter = await startRedisCutter(redis.port);
    set = await startReplicaSet({
      redisUrl: redis.url,
      env: { USER_CACHE_TTL_MS: '600000' },
      replicas: [{ name: 'A', env: { REDIS_URL: cutter.url } }, { name: 'B' }],
    });
    ({ replicas, backend, env: baseEnv, tenantId: tenant } = set);
    tok.owner = await token(set.ownerId);
    const mk = (name: string, roles: string[]) =>
      createUserOnPort((replicas[0] as Replica).port, tenant, tok.owner, name, roles);
    adam = await mk('Adam', ['admin']);
    vera = await mk('Vera', ['viewer']);
    tok.adam = await token(adam.id);
    tok.vera = await token(vera.id);
  });

  after(async () => {
    await set?.stop();
    await cutter?.close();
    await redis?.stop();
    dir.remove();
  });

  it('a role removed through replica A is enforced by replica B on the next request', async () => {
    const [a, b] = replicas as [Replica, Replica];
    // Warm B: Adam, an admin, renames Vera through B; B now caches Adam as admin (for ten
    // minutes: only an invalidation can explain what follows, never a TTL).
    let r = await b.call('PUT', `/v1/users/${vera.id}`, tok.adam, { name: 'Vera 1' });
    assert.equal(r.status, 200, r.text);
    r = await b.call('PUT', `/v1/users/${vera.id}`, tok.adam, { name: 'Vera 2' });
    assert.equal(r.status, 200, r.text);
    // The owner takes admin away from Adam through A.
    await assertWarm(b);
    r = await a.call('PUT', `/v1/users/${adam.id}`, tok.owner, { roles: ['user'] });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body?.roles, ['user']);
    // B's very next request for Adam is decided on the new roles.
    assertError(
      await b.call('PUT', `/v1/users/${vera.id}`, tok.adam, { name: 'Vera 3' }),
      403,
      'forbidden',
    );
    assertError(
      await a.call('PUT', `/v1/users/${vera.id}`, tok.adam, { name: 'Vera 3' }),
      403,
      'forbidden',
    );
    // ...and the other way round: admin given back through B is honoured by A at once.
    await assertWarm(a);
    r = await b.call('PUT', `/v1/users/${adam.id}`, tok.owner, { roles: ['admin'] });
    assert.equal(r.status, 200, r.text);
    r = await a.call('PUT', `/v1/users/${vera.id}`, tok.adam, { name: 'Vera 3' });
    assert.equal(r.status, 200, r.text);
  });

  it("with A's command connection cut, a demotion through A is enforced by B on its next request", async () => {
    const [a, b] = replicas as [Replica, Replica];
    // B caches Adam as an admin (for ten minutes).
    let r = await b.call('PUT', `/v1/users/${vera.id}`, tok.adam, { name: 'Vera cut 1' });
    assert.equal(r.status, 200, r.text);
    await assertWarm(b);
    // A loses its command connection; whatever else it holds (its event reader) stays up.
    cutter.cut('cedargate-sidecar');
    await waitFor(() => (cutter.open()['cedargate-sidecar'] ?? 0) === 0, 10_000, "A's cut");
    r = await a.call('PUT', `/v1/users/${adam.id}`, tok.owner, { roles: ['user'] });
    assert.equal(r.status, 200, r.text);
    // The change must come from the store itself: B's very next request is decided on it.
    assertError(
      await b.call('PUT', `/v1/users/${vera.id}`, tok.adam, { name: 'Vera cut 2' }),
      403,
      'forbidden',
      'B decided on the old roles',
    );
    // A tells the truth about the connection it lost.
    const readyz = await a.admin<{ details: { checks: Record<string, string> } }>('/readyz');
    const body = readyz.body;
    assert.equal(readyz.status, 503, JSON.stringify(body));
    assert.equal(body.details.checks['redis_commands'], 'unreachable', JSON.stringify(body));
    cutter.restore('cedargate-sidecar');
    await waitFor(() => ready(a), 20_000, `replica A ready again\n${a.proc.output()}`);
    r = await a.call('PUT', `/v1/users/${adam.id}`, tok.owner, { roles: ['admin'] });
    assert.equal(r.status, 200, r.text);
    r = await b.call('PUT', `/v1/users/${vera.id}`, tok.adam, { name: 'Vera cut 3' });
    assert.equal(r.status, 200, r.text);
  });

  it('a token revoked with `token revoke` is refused by both replicas', async () => {
    const byJti = await token(vera.id);
    const spare = await token(vera.id);
    for (const r of replicas) assert.equal((await r.call('GET', '/v1/users', byJti)).status, 200);
    const revoked = await runCli(['token', 'revoke', '--jti', jtiOf(byJti)], baseEnv);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal(
      (JSON.parse(revoked.stdout) as { revoked: { jti: string } }).revoked.jti,
      jtiOf(byJti),
    );
    for (const r of replicas) {
      const res = await r.call('GET', '/v1/users', byJti);
      assertError(res, 401, 'unauthenticated', r.name);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
      // Another token of the same user is untouched.
      assert.equal((await r.call('GET', '/v1/users', spare)).status, 200);
    }

    // --sub: every token of the user issued up to now.
    const bySub = await runCli(['token', 'revoke', '--sub', vera.id, '--tenant', tenant], baseEnv);
    assert.equal(bySub.code, 0, bySub.stderr);
    for (const r of replicas)
      assertError(await r.call('GET', '/v1/users', spare), 401, 'unauthenticated', r.name);
    // Nobody else is affected.
    for (const r of replicas)
      assert.equal((await r.call('GET', '/v1/users', tok.adam)).status, 200);
  });

  it('Redis killed mid-run: 503 unavailable while down, no crash, recovery by itself', async () => {
    const [a, b] = replicas as [Replica, Replica];
    const revokedJti = await token(adam.id);
    assert.equal((await runCli(['token', 'revoke', '--jti', jtiOf(revokedJti)], baseEnv)).code, 0);

    await redis.kill();
    for (const r of replicas) {
      await waitFor(
        async () => (await r.call('GET', '/v1/users', tok.adam)).status === 503,
        10_000,
        `replica ${r.name} to fail closed`,
      );
      assertError(
        await r.call('GET', `/v1/users/${adam.id}`, tok.adam),
        503,
        'unavailable',
        r.name,
      );
      // A revocation the replica already knew stays a 401 even now.
      assertError(await r.call('GET', '/v1/users', revokedJti), 401, 'unauthenticated', r.name);
      assert.equal((await fetch(`http://127.0.0.1:${r.adminPort}/readyz`)).status, 503);
    }
    // A new revocation cannot be recorded while Redis is down, and says so.
    const refused = await runCli(['token', 'revoke', '--jti', 'while-down'], baseEnv);
    assert.equal(refused.code, 1);

    await redis.restart();
    for (const r of replicas) {
      await waitFor(
        async () => (await r.call('GET', '/v1/users', tok.adam)).status === 200,
        20_000,
        `replica ${r.name} to recover`,
      );
      await waitFor(() => ready(r), 10_000, `replica ${r.name} ready`);
      assertError(await r.call('GET', '/v1/users', revokedJti), 401, 'unauthenticated', r.name);
    }
    for (const p of [backend, ...replicas.map((r) => r.proc)]) {
      assert.equal(p.child.exitCode, null, `a process exited:\n${outputs()}`);
    }
    // Invalidation works again after the reconnect: warm B, change through A, enforced on B.
    assert.equal(
      (await b.call('PUT', `/v1/users/${vera.id}`, tok.adam, { name: 'Vera 4' })).status,
      200,
    );
    await assertWarm(b);
    assert.equal(
      (await a.call('PUT', `/v1/users/${adam.id}`, tok.owner, { roles: ['viewer'] })).status,
      200,
    );
    assertError(
      await b.call('PUT', `/v1/users/${vera.id}`, tok.adam, { name: 'Vera 5' }),
      403,
      'forbidden',
    );
  });
});
