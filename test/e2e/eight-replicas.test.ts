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
import { after, before, describe, it } from 'node:test';
import type { User } from '../../src/common/user.js';
import { waitFor } from '../helpers/net.js';
import { runCli } from '../helpers/process.js';
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

const REPLICAS = 8;
const EVENTS_CONNECTION = 'cedargate-sidecar-events';
const NAMES = Array.from({ length: REPLICAS }, (_, i) => `R${i}`);
/** The last two reach Redis through the cutter. */
const CUTTABLE = new Set(NAMES.slice(-2));
const cuttable = (r: Replica): boolean => CUTTABLE.has(r.name);

describe('eight sidecar replicas on one Redis', { skip: skipWithoutRedis() }, () => {
  let redis: RunningRedis;
  let cutter: RedisCutter;
  let set: ReplicaSet;
  let replicas: Replica[];
  let baseEnv: Record<string, string>;
  let tenant: string;
  const tok = {} as Record<'owner' | 'adam', string>;
  let adam: User;
  let vera: User;

  const token = (sub: string) => set.token(sub);
  const ready = async (r: Replica) => (await r.admin('/readyz')).status === 200;
  const status = async (r: Replica) =>
    (
      await r.admin<{
        caches: { users: { size: number } };
        cluster: { reader: string; caches_dropped_for_lost_events: number };
      }>('/status')
    ).body;
  /** Adam (an admin) renames Vera through every replica: each now caches Adam as an admin. */
  const warmAll = async (round: string) => {
    for (const r of replicas) {
      const res = await r.call('PUT', `/v1/users/${vera.id}`, tok.adam, { name: `V ${round}` });
      assert.equal(res.status, 200, `${r.name}: ${res.text}`);
      assert.ok((await status(r)).caches.users.size > 0, `${r.name} has nothing cached`);
    }
  };
  const setAdamRoles = async (through: Replica, roles: string[]) => {
    const res = await through.call('PUT', `/v1/users/${adam.id}`, tok.owner, { roles });
    assert.equal(res.status, 200, res.text);
  };

  before(async () => {
    redis = await startRedis();
    cutter = await startRedisCutter(redis.port);
    set = await startReplicaSet({
      redisUrl: redis.url,
      // Ten minutes: only a change event can explain a changed decision, never a TTL.
      env: { USER_CACHE_TTL_MS: '600000' },
      replicas: NAMES.map((name) =>
        CUTTABLE.has(name) ? { name, env: { REDIS_URL: cutter.url } } : { name },
      ),
    });
    ({ replicas, env: baseEnv, tenantId: tenant } = set);
    tok.owner = await token(set.ownerId);
    const mk = (name: string, roles: string[]) =>
      createUserOnPort((replicas[0] as Replica).port, tenant, tok.owner, name, roles);
    adam = await mk('Adam', ['admin']);
    vera = await mk('Vera', ['viewer']);
    tok.adam = await token(adam.id);
  });

  after(async () => {
    await set?.stop();
    await cutter?.close();
    await redis?.stop();
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
          await r.call('PUT', `/v1/users/${vera.id}`, tok.adam, { name: 'no' }),
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
    for (const r of replicas) assert.equal((await r.call('GET', '/v1/users', spare)).status, 200);
    const revoked = await runCli(
      ['token', 'revoke', '--sub', vera.id, '--tenant', tenant],
      baseEnv,
    );
    assert.equal(revoked.code, 0, revoked.stderr);
    for (const r of replicas)
      assertError(await r.call('GET', '/v1/users', spare), 401, 'unauthenticated', r.name);
  });

  it('two stream readers cut: they refuse meanwhile, and replay what they missed when restored', async () => {
    await warmAll('cut');
    const cut = replicas.filter(cuttable);
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
      const res = await r.call('PUT', `/v1/users/${vera.id}`, tok.adam, { name: 'no' });
      // The cut ones cannot know: they fail closed; none decides on Adam's old roles.
      if (cuttable(r)) assertError(res, 503, 'unavailable', r.name);
      else assertError(res, 403, 'forbidden', r.name);
    }

    cutter.restore(EVENTS_CONNECTION);
    for (const r of cut)
      await waitFor(() => ready(r), 30_000, `${r.name} ready\n${r.proc.output()}`);
    for (const r of replicas) {
      assertError(
        await r.call('PUT', `/v1/users/${vera.id}`, tok.adam, { name: 'no' }),
        403,
        'forbidden',
        r.name,
      );
      assertError(await r.call('GET', '/v1/users', adamsJti), 401, 'unauthenticated', r.name);
    }
    // Replayed, not reloaded: nothing was trimmed, so no replica dropped its caches.
    for (const r of replicas)
      assert.equal((await status(r)).cluster.caches_dropped_for_lost_events, 0, r.name);
    for (const p of [set.backend, ...replicas.map((r) => r.proc)])
      assert.equal(p.child.exitCode, null, 'a process exited');
  });
});

function nowS(): number {
  return Math.floor(Date.now() / 1000);
}
