/**
 * Eight sidecar processes and one backend on one Redis: a role change made through any one of
 * them, and a revocation, are enforced by all eight on their very next request — with no sleep
 * and no polling between the write and the checks. That rests on EVENT_CHECK_EACH_REQUEST: before
 * deciding, each replica reads the stream's newest id and waits until it has applied it.
 *
 * Then the same with the stream connections of two of them cut (they reach Redis through a hop
 * that can cut one connection by name): while cut they refuse (503, fail closed), never decide on
 * the old roles; restored, they replay what they missed from their last id.
 *
 * Kept light for two shared cores: one request per replica per step, generous timeouts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { User } from '../../src/common/user.js';
import { ensureDevKeys } from '../../src/sidecar/authn/dev-keys.js';
import { freePort, waitFor } from '../helpers/net.js';
import {
  runCli,
  shippedPolicies,
  startCli,
  tempDir,
  type RunningProcess,
} from '../helpers/process.js';
import {
  skipWithoutRedis,
  startRedis,
  startRedisCutter,
  type RedisCutter,
  type RunningRedis,
} from '../helpers/redis.js';
import { assertError } from '../helpers/contract.js';
import { callPort, createTenantWithCli, createUserOnPort, devToken } from '../helpers/stack.js';

interface Replica {
  name: string;
  port: number;
  adminPort: number;
  proc: RunningProcess;
  /** Reaches Redis through the cutter. */
  cuttable: boolean;
}

const REPLICAS = 8;
const EVENTS_CONNECTION = 'cedargate-sidecar-events';

describe('eight sidecar replicas on one Redis', { skip: skipWithoutRedis() }, () => {
  const dir = tempDir('cedargate-eight-');
  const dataDir = join(dir.path, 'data');
  const trustSecret = randomBytes(24).toString('hex');
  let redis: RunningRedis;
  let cutter: RedisCutter;
  let backend: RunningProcess;
  const replicas: Replica[] = [];
  let baseEnv: Record<string, string>;
  let tenant: string;
  const tok = {} as Record<'owner' | 'adam', string>;
  let adam: User;
  let vera: User;

  const call = (r: Replica, method: string, path: string, token: string, body?: unknown) =>
    callPort(r.port, method, path, { token, tenant, body });
  const token = (sub: string) => devToken(dataDir, tenant, sub);
  const ready = async (r: Replica) =>
    (await fetch(`http://127.0.0.1:${r.adminPort}/readyz`)).status === 200;
  const status = async (r: Replica) =>
    (await (await fetch(`http://127.0.0.1:${r.adminPort}/status`)).json()) as {
      caches: { users: { size: number } };
      cluster: { reader: string; caches_dropped_for_lost_events: number };
    };
  /** Adam (an admin) renames Vera through every replica: each now caches Adam as an admin. */
  const warmAll = async (round: string) => {
    for (const r of replicas) {
      const res = await call(r, 'PUT', `/v1/users/${vera.id}`, tok.adam, { name: `V ${round}` });
      assert.equal(res.status, 200, `${r.name}: ${res.text}`);
      assert.ok((await status(r)).caches.users.size > 0, `${r.name} has nothing cached`);
    }
  };
  const setAdamRoles = async (through: Replica, roles: string[]) => {
    const res = await call(through, 'PUT', `/v1/users/${adam.id}`, tok.owner, { roles });
    assert.equal(res.status, 200, res.text);
  };

  before(async () => {
    redis = await startRedis();
    cutter = await startRedisCutter(redis.port);
    const { jwksPath } = await ensureDevKeys(dataDir);
    const backendPort = await freePort();
    baseEnv = {
      REDIS_URL: redis.url,
      DATA_DIR: dataDir,
      POLICY_DIR: shippedPolicies,
      TRUST_SECRET: trustSecret,
      LOG_LEVEL: 'warn',
    };
    backend = startCli(['backend'], { ...baseEnv, BACKEND_PORT: String(backendPort) });
    await waitFor(
      async () => (await fetch(`http://127.0.0.1:${backendPort}/healthz`)).ok,
      30_000,
      `the backend\n${backend.output()}`,
    );
    for (let i = 0; i < REPLICAS; i++) {
      const [port, adminPort] = [await freePort(), await freePort()];
      const cuttable = i >= REPLICAS - 2;
      const proc = startCli(['sidecar'], {
        ...baseEnv,
        REDIS_URL: cuttable ? cutter.url : redis.url,
        UPSTREAM_URL: `http://127.0.0.1:${backendPort}`,
        JWKS_FILE: jwksPath,
        JWT_ISSUER: 'cedargate-dev',
        JWT_AUDIENCE: 'cedargate',
        PORT: String(port),
        ADMIN_PORT: String(adminPort),
        HOST: '127.0.0.1',
        // Ten minutes: only a change event can explain a changed decision, never a TTL.
        USER_CACHE_TTL_MS: '600000',
      });
      replicas.push({ name: `R${i}`, port, adminPort, proc, cuttable });
    }
    for (const r of replicas)
      await waitFor(() => ready(r), 60_000, `replica ${r.name}\n${r.proc.output()}`);

    const created = await createTenantWithCli(baseEnv, 'acme');
    tenant = created.tenantId;
    tok.owner = await token(created.owner.id);
    const mk = (name: string, roles: string[]) =>
      createUserOnPort((replicas[0] as Replica).port, tenant, tok.owner, name, roles);
    adam = await mk('Adam', ['admin']);
    vera = await mk('Vera', ['viewer']);
    tok.adam = await token(adam.id);
  });

  after(async () => {
    await Promise.all(replicas.map((r) => r.proc.stop()));
    await backend?.stop();
    await cutter?.close();
    await redis?.stop();
    dir.remove();
  });

  it('a role change through any replica is enforced by all eight on their very next request', async () => {
    for (const [round, writer] of [
      ['a', 0],
      ['b', 3],
      ['c', 7],
    ] as const) {
      await warmAll(round);
      await setAdamRoles(replicas[writer] as Replica, ['user']);
      for (const r of replicas) {
        assertError(
          await call(r, 'PUT', `/v1/users/${vera.id}`, tok.adam, { name: 'no' }),
          403,
          'forbidden',
          `${r.name} after a demotion through R${writer}`,
        );
      }
      await setAdamRoles(replicas[(writer + 1) % REPLICAS] as Replica, ['admin']);
    }
  });

  it('a revocation is refused by all eight on their very next request', async () => {
    const spare = await token(vera.id);
    for (const r of replicas) assert.equal((await call(r, 'GET', '/v1/users', spare)).status, 200);
    const revoked = await runCli(
      ['token', 'revoke', '--sub', vera.id, '--tenant', tenant],
      baseEnv,
    );
    assert.equal(revoked.code, 0, revoked.stderr);
    for (const r of replicas)
      assertError(await call(r, 'GET', '/v1/users', spare), 401, 'unauthenticated', r.name);
  });

  it('two stream readers cut: they refuse meanwhile, and replay what they missed when restored', async () => {
    await warmAll('cut');
    const cut = replicas.filter((r) => r.cuttable);
    cutter.cut(EVENTS_CONNECTION);
    for (const r of cut)
      await waitFor(async () => (await status(r)).cluster.reader === 'down', 20_000, r.name);

    await setAdamRoles(replicas[1] as Replica, ['user']);
    const adamsJti = await token(adam.id);
    const revoked = await runCli(
      ['token', 'revoke', '--jti', jtiOf(adamsJti), '--exp', String(nowS() + 3600)],
      baseEnv,
    );
    assert.equal(revoked.code, 0, revoked.stderr);
    for (const r of replicas) {
      const res = await call(r, 'PUT', `/v1/users/${vera.id}`, tok.adam, { name: 'no' });
      // The cut ones cannot know: they fail closed; none decides on Adam's old roles.
      if (r.cuttable) assertError(res, 503, 'unavailable', r.name);
      else assertError(res, 403, 'forbidden', r.name);
    }

    cutter.restore(EVENTS_CONNECTION);
    for (const r of cut)
      await waitFor(() => ready(r), 30_000, `${r.name} ready\n${r.proc.output()}`);
    for (const r of replicas) {
      assertError(
        await call(r, 'PUT', `/v1/users/${vera.id}`, tok.adam, { name: 'no' }),
        403,
        'forbidden',
        r.name,
      );
      assertError(await call(r, 'GET', '/v1/users', adamsJti), 401, 'unauthenticated', r.name);
    }
    // Replayed, not reloaded: nothing was trimmed, so no replica dropped its caches.
    for (const r of replicas)
      assert.equal((await status(r)).cluster.caches_dropped_for_lost_events, 0, r.name);
    for (const p of [backend, ...replicas.map((r) => r.proc)])
      assert.equal(p.child.exitCode, null, 'a process exited');
  });
});

function nowS(): number {
  return Math.floor(Date.now() / 1000);
}

/** The jti claim of a JWT (no verification: the test minted it). */
function jtiOf(token: string): string {
  const payload = JSON.parse(
    Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'),
  ) as { jti: string };
  return payload.jti;
}
