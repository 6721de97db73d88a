/**
 * Issue 26: EVENT_CONSISTENCY=bounded with real processes and a real Redis. An admin demoted
 * through replica A; then his rename through replica B, sent at growing delays after A
 * acknowledged the demotion. Every request sent later than EVENT_MAX_STALENESS_MS after the
 * acknowledgement must be decided on the new roles (403) — B caches users for ten minutes, so
 * only the change stream (or a read made fresh) can explain it — including when B's whole
 * process was paused, when only B's reader connection stalls while B keeps serving, and when
 * that connection is cut. A replica in `next-request` (C) refuses at every delay, as before.
 * B's reader reaches Redis through a hop that can stall or name one connection.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { User } from '../../src/common/user.js';
import { assertError } from '../helpers/contract.js';
import { waitFor } from '../helpers/net.js';
import {
  skipWithoutRedis,
  startRedis,
  startRedisCutter,
  withRedisClient,
  type RedisCutter,
  type RunningRedis,
} from '../helpers/redis.js';
import { startReplicaSet, type Replica, type ReplicaSet } from '../helpers/replica-set.js';
import { callPort, createUserOnPort, type Reply } from '../helpers/stack.js';

const BOUND_MS = 100;
const EVENTS = 'cedargate-sidecar-events';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('EVENT_CONSISTENCY=bounded across replicas', { skip: skipWithoutRedis() }, () => {
  let redis: RunningRedis;
  let cutter: RedisCutter;
  let set: ReplicaSet;
  let a: Replica, b: Replica, c: Replica;
  let owner: string, adminToken: string;
  let admin: User, target: User;

  before(async () => {
    redis = await startRedis();
    cutter = await startRedisCutter(redis.port);
    const longCache = { USER_CACHE_TTL_MS: '600000' };
    set = await startReplicaSet({
      redisUrl: redis.url,
      replicas: [
        { name: 'A' },
        {
          name: 'B',
          env: {
            ...longCache,
            REDIS_URL: cutter.url,
            EVENT_CONSISTENCY: 'bounded',
            EVENT_MAX_STALENESS_MS: String(BOUND_MS),
            EVENT_MAX_LAG_MS: '1000',
          },
        },
        { name: 'C', env: longCache },
      ],
    });
    [a, b, c] = set.replicas as [Replica, Replica, Replica];
    owner = await set.token(set.ownerId);
    admin = await createUserOnPort(a.port, set.tenantId, owner, 'Adam', ['admin']);
    target = await createUserOnPort(a.port, set.tenantId, owner, 'Tess', ['user']);
    adminToken = await set.token(admin.id);
  });

  after(async () => {
    b?.proc.child.kill('SIGCONT');
    cutter?.resume(EVENTS);
    await set?.stop();
    await cutter?.close();
    await redis?.stop();
  });

  const rename = (r: Replica, own = false): Promise<Reply> =>
    callPort(r.port, 'PUT', `/v1/users/${target.id}`, {
      token: adminToken,
      tenant: set.tenantId,
      body: { name: `renamed ${Date.now()}` },
      ownConnection: own,
    });
  const setRoles = async (roles: string[]) => {
    const r = await a.call('PUT', `/v1/users/${admin.id}`, owner, { roles });
    assert.equal(r.status, 200, r.text);
  };
  /** Adam is an admin again, and `r` has decided a rename on that (so it caches him so). */
  const promoteAndWarm = async (r: Replica) => {
    await setRoles(['admin']);
    await waitFor(async () => (await rename(r)).status === 200, 10_000, `${r.name} warm`);
  };
  /** Demotes Adam through A; resolves when A has acknowledged it. */
  const demote = () => setRoles(['user']);

  it('bounded: every rename sent later than the bound after the demotion is refused', async (t) => {
    const seen: string[] = [];
    for (const delay of [0, 20, 60, BOUND_MS + 30, 2 * BOUND_MS, 5 * BOUND_MS]) {
      await promoteAndWarm(b);
      await demote();
      await sleep(delay);
      const res = await rename(b);
      seen.push(`${delay} ms: ${res.status}`);
      if (delay > BOUND_MS) assertError(res, 403, 'forbidden', `B, ${delay} ms after`);
      else assert.ok([200, 403].includes(res.status), `B, ${delay} ms after: ${res.text}`);
    }
    const status = (await b.admin<{ cluster: Record<string, unknown> }>('/status')).body.cluster;
    assert.equal(status.consistency, 'bounded', JSON.stringify(status));
    assert.equal(status.max_staleness_ms, BOUND_MS);
    t.diagnostic(`B by delay after the acknowledgement: ${seen.join(', ')}`);
  });

  it('next-request: refused at every delay, on the very next request', async () => {
    for (const delay of [0, 20, 2 * BOUND_MS]) {
      await promoteAndWarm(c);
      await demote();
      await sleep(delay);
      assertError(await rename(c), 403, 'forbidden', `C, ${delay} ms after`);
    }
  });

  it("bounded: B's whole process paused (SIGSTOP) past the bound, then resumed", async () => {
    await promoteAndWarm(b);
    b.proc.child.kill('SIGSTOP');
    try {
      await demote();
      await sleep(3 * BOUND_MS);
      // Sent while B is paused: it waits in B's socket until SIGCONT.
      const queued = rename(b, true);
      await sleep(BOUND_MS);
      b.proc.child.kill('SIGCONT');
      assertError(await queued, 403, 'forbidden', 'the request sent during the pause');
    } finally {
      b.proc.child.kill('SIGCONT');
    }
    assertError(await rename(b), 403, 'forbidden', 'after the pause');
  });

  it("bounded: only B's reader connection stalls; B keeps serving, decides on fresh facts, is not ready", async () => {
    await promoteAndWarm(b);
    await waitFor(async () => (await b.admin('/readyz')).status === 200, 10_000, 'B ready');
    cutter.stall(EVENTS);
    try {
      await demote();
      await sleep(BOUND_MS + 30);
      assertError(await rename(b), 403, 'forbidden', 'B, reader stalled');
      const ready = await b.admin<{ code: string; details: { checks: Record<string, string> } }>(
        '/readyz',
      );
      assert.equal(ready.status, 503, JSON.stringify(ready.body));
      assert.equal(ready.body.code, 'unavailable');
      assert.match(ready.body.details.checks.redis ?? '', /behind/, JSON.stringify(ready.body));
    } finally {
      cutter.resume(EVENTS);
    }
    await waitFor(async () => (await b.admin('/readyz')).status === 200, 15_000, 'B ready again');
    assertError(await rename(b), 403, 'forbidden', 'B, reader back');
  });

  it("bounded: B's reader connection killed (CLIENT KILL): never the old roles", async () => {
    await promoteAndWarm(b);
    const addresses = cutter.addressesOf(EVENTS);
    assert.ok(addresses.length > 0, 'B has a reader connection through the hop');
    await withRedisClient(redis.port, async (client) => {
      for (const addr of addresses) await client.sendCommand(['CLIENT', 'KILL', 'ADDR', addr]);
    });
    await demote();
    await sleep(BOUND_MS + 30);
    const res = await rename(b);
    // While the reader is gone B fails closed (503); once back it has the demotion (403).
    if (res.status === 503) assertError(res, 503, 'unavailable', 'B, reader cut');
    else assertError(res, 403, 'forbidden', 'B, reader cut');
    await waitFor(async () => (await b.admin('/readyz')).status === 200, 15_000, 'B ready again');
    assertError(await rename(b), 403, 'forbidden', 'B, reader back');
  });
});
