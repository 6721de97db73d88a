/**
 * Redis through Sentinel as it is operated, on real processes (a primary, a replica, three
 * redis-sentinel, `cedargate start` given REDIS_SENTINELS), in order:
 *
 * 1. `token revoke` waits for a replica to hold the revocation (WAIT), as the store's writes do;
 * 2. while the primary is dead and not yet replaced, `/readyz` says so (writes fail), and it is
 *    ready again once a replica is promoted;
 * 3. with the sentinels gone, every line the process writes to stdout is still JSON (node-redis's
 *    Sentinel client console.logs its rediscovery errors);
 *
 * and, on a stack of its own, a write the store holds longer than the sidecar's
 * UPSTREAM_TIMEOUT_MS is answered by the backend's 503 in time (it may have been applied), not
 * the sidecar's 504.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { clusterKeys } from '../../src/sidecar/cluster/keys.js';
import { waitFor } from '../helpers/net.js';
import { runCli } from '../helpers/process.js';
import {
  skipWithoutSentinel,
  type RunningRedis,
  type RunningSentinels,
  waitCalls,
  withRedisClient as withClient,
} from '../helpers/redis.js';
import { startSentinelStack, type SentinelStack } from '../helpers/sentinel-stack.js';
import type { Stack } from '../helpers/stack.js';

const MASTER = 'cedargate-ops';

describe('Redis Sentinel as operated', { skip: skipWithoutSentinel() }, () => {
  let primary: RunningRedis;
  let replica: RunningRedis;
  let sentinels: RunningSentinels;
  let stack: Stack;
  let env: Record<string, string>;
  /** What the `start` process wrote to stdout alone (its logs), from just after it started. */
  let stdout = '';
  let started: SentinelStack | undefined;

  before(async () => {
    started = await startSentinelStack(MASTER);
    ({ primary, replica, sentinels, stack, env } = started);
    stack.process.child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  });
  after(async () => {
    await started?.stop();
  });

  it('token revoke waits for a replica to hold the revocation (WAIT), as store writes do', async () => {
    const before = await waitCalls(primary.port);
    const r = await runCli(['token', 'revoke', '--jti', 'sentinel-jti'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.ok((await waitCalls(primary.port)) > before, 'no WAIT after the revocation');
    const key = clusterKeys().revokedJti('sentinel-jti');
    assert.equal(await withClient(replica.port, (c) => c.exists(key)), 1);
  });

  it('/readyz is 503 while the primary is dead and not replaced, 200 once a replica is promoted', async () => {
    const readyz = async () => {
      const res = await fetch(`${stack.adminUrl}/readyz`);
      return { status: res.status, body: await res.text() };
    };
    await waitFor(async () => (await readyz()).status === 200, 20_000, '/readyz 200 before');
    // Hold the failover back (no replica may be promoted) so the dead-master window stays open
    // as long as the test looks, however fast or slow the machine.
    await withClient(replica.port, (c) => c.configSet('replica-priority', '0'));
    await primary.kill();
    let seen: { status: number; body: string } | undefined;
    await waitFor(
      async () => {
        seen = await readyz();
        return seen.status === 503;
      },
      30_000,
      `/readyz 503 while the primary is dead (last: ${JSON.stringify(seen)})`,
    );
    assert.match(seen?.body ?? '', /"redis_writes":"(no answer|failing)/, seen?.body);
    await withClient(replica.port, (c) => c.configSet('replica-priority', '100'));
    await waitFor(
      async () => (await sentinels.masterPort()) === replica.port,
      90_000,
      'sentinels promoting the replica',
    );
    await waitFor(
      async () => (await readyz()).status === 200,
      60_000,
      `/readyz 200 after the failover\n${stack.process.output()}`,
    );
  });

  it('with the sentinels gone, every stdout line is still a JSON log line', async () => {
    const mark = stdout.length;
    await sentinels.stop();
    // Make the client rediscover: its master connection is cut too (the promoted replica dies).
    await replica.kill();
    // node-redis prints this on each failed rediscovery: raw on stdout before the fix, routed
    // into a JSON line (component "console") after it.
    await waitFor(
      () => /None of the sentinels are available/.test(stdout.slice(mark)),
      30_000,
      `the Sentinel client to report the sentinels gone\n${stdout.slice(mark)}`,
    );
    for (const line of stdout.split('\n').filter((l) => l !== '')) {
      assert.doesNotThrow(() => JSON.parse(line), `not a JSON log line: ${line}`);
    }
    const routed = stdout
      .split('\n')
      .filter((l) => l.includes('None of the sentinels are available'))
      .map((l) => JSON.parse(l) as { level: number; component: string });
    assert.deepEqual([routed[0]?.level, routed[0]?.component], [40, 'console']);
  });
});

// Its own stack: the pause must not touch the failover the suite above watches.
describe('Redis Sentinel: a write held past the timeouts', { skip: skipWithoutSentinel() }, () => {
  let own: SentinelStack;
  before(async () => {
    own = await startSentinelStack('cedargate-held');
  });
  after(async () => {
    await own?.stop();
  });

  it("a write the store holds past the default timeouts is the backend's 503 (it may have been applied), not the sidecar's 504", async () => {
    const { tenantId, owner } = await own.stack.createTenant('Held');
    const asOwner = { token: await own.stack.token(tenantId, owner.id), tenant: tenantId };
    const carol = { name: 'Carol', email: 'carol@held.test', roles: ['user'] };
    const createCarol = () => own.stack.call('POST', '/v1/users', { ...asOwner, body: carol });
    // The owner known, the change stream followed: the write is what waits for the store.
    assert.equal((await own.stack.call('GET', '/v1/users', asOwner)).status, 200);
    // The primary holds every write for 7 s, longer than the sidecar's UPSTREAM_TIMEOUT_MS
    // (5 s by default), as node-redis holds one while a failover finds the new master.
    await withClient(own.primary.port, (c) => c.sendCommand(['CLIENT', 'PAUSE', '7000', 'WRITE']));
    const held = await createCarol();
    assert.equal(held.status, 503, held.text);
    assert.equal(held.body.code, 'unavailable', held.text);
    assert.match(held.headers.get('retry-after') ?? '', /^[1-9]\d*$/, 'Retry-After');
    assert.equal(held.body.details?.['reason'], 'store_timeout', held.text);
    assert.equal(held.body.details?.['may_have_been_applied'], true, held.text);
    // It was (the store answered once the pause ended): sent again, 409 — nothing twice.
    await waitFor(
      async () => (await createCarol()).status === 409,
      30_000,
      'the held write applied once the pause ends',
    );
    const list = await own.stack.call('GET', '/v1/users', asOwner);
    const carols = (list.body.users as { email: string }[]).filter((u) => u.email === carol.email);
    assert.equal(carols.length, 1, list.text);
  });
});
