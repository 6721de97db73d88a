/**
 * Redis that comes back with less data than it had, through a real `start` (backend + sidecar)
 * on a real redis-server without persistence (`save ""`, `appendonly no`):
 *
 * - an older snapshot: a `SAVE`, then writes and a revocation, then a restart that loads the
 *   snapshot (the generation in it is the old one; the change stream went back);
 * - a flush: `FLUSHALL` under the running processes (no reconnect: the periodic check sees it).
 *
 * After either, the running sidecar's revocation count is the store's, a revoked token is refused
 * by it and by a sidecar started after the loss, an ETag from before the loss gets 412, the loud
 * line `store_generation_changed` is logged once, and /metrics and /status count the change.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createClient } from 'redis';
import type { User } from '../../src/common/user.js';
import { clusterKeys } from '../../src/sidecar/cluster/keys.js';
import { generationKey } from '../../src/common/store-generation.js';
import { assertError } from '../helpers/contract.js';
import { waitFor } from '../helpers/net.js';
import { runCli, shippedPolicies, tempDir } from '../helpers/process.js';
import { skipWithoutRedis, startRedis, type RunningRedis } from '../helpers/redis.js';
import { launchSidecar, replicaReady, type Replica } from '../helpers/replica-set.js';
import { callPort, startStack, type Stack } from '../helpers/stack.js';
import { openTenant, startTenantStack } from '../helpers/tenant-stack.js';
import { jtiOf } from '../helpers/tokens.js';

interface ClusterPart {
  revoked: { jtis: number; subjects: number };
  store_generation: string | null;
  store_generation_changes: number;
  last_generation_change: { old: string; new: string; reason: string } | null;
  reader: string;
}

const keys = clusterKeys();

async function clusterOf(adminUrl: string): Promise<ClusterPart> {
  const s = (await (await fetch(`${adminUrl}/status`)).json()) as { cluster: ClusterPart };
  return s.cluster;
}

/** The store's revocations, counted as the sidecar's /status counts them. */
async function storedRevocations(
  raw: ReturnType<typeof createClient>,
): Promise<{ jtis: number; subjects: number }> {
  const jtis = (await raw.keys(keys.revokedJtiPattern)).length;
  const subjects = Object.keys(await raw.hGetAll(keys.revokedSubjects)).length;
  return { jtis, subjects };
}

/** The `store_generation_changed` lines a process logged, parsed. */
function generationLines(output: string): { level: number; old: string; new: string }[] {
  return output
    .split('\n')
    .filter((l) => l.includes('store_generation_changed'))
    .map((l) => JSON.parse(l) as { level: number; old: string; new: string });
}

async function metricValue(adminUrl: string, name: string): Promise<string | undefined> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  return text
    .split('\n')
    .find((l) => l.startsWith(`${name} `))
    ?.slice(name.length + 1);
}

/** A sidecar process of its own in front of the stack's backend, sharing its keys; ready. */
async function startLateSidecar(stack: Stack, redisUrl: string, tenant: string): Promise<Replica> {
  const env = { REDIS_URL: redisUrl, DATA_DIR: stack.dataDir, POLICY_DIR: shippedPolicies };
  const late = await launchSidecar('late', env, stack.recorder.url, () => tenant);
  await replicaReady(late);
  return late;
}

describe('Redis back from an older snapshot', { skip: skipWithoutRedis() }, () => {
  const dir = tempDir('cedargate-generation-');
  let redis: RunningRedis;
  let raw: ReturnType<typeof createClient>;
  let stack: Stack;
  let tenant: string;
  let ownerToken: string;
  let vic: User;
  let vicToken: string;
  /** Vic's ETag after the PUT made after the snapshot: version 2 of a history that is gone. */
  let lostEtag: string;
  let oldGeneration: string;
  let revokedBefore: { jtis: number; subjects: number };
  let late: Replica | undefined;

  before(async () => {
    const redisDir = join(dir.path, 'redis');
    mkdirSync(redisDir);
    // No save points, no AOF: only the explicit SAVE below ever writes the snapshot.
    redis = await startRedis({ args: ['--dir', redisDir, '--dbfilename', 'snapshot.rdb'] });
    raw = createClient({ url: redis.url });
    raw.on('error', () => undefined);
    await raw.connect();
    const t = await startTenantStack('acme', {
      env: { REDIS_URL: redis.url, USER_CACHE_TTL_MS: '600000' },
    });
    ({ stack, tenantId: tenant, ownerToken } = t);
    [{ user: vic, token: vicToken }] = await t.seed(['Vic', ['user']]);
    assert.equal(
      (await stack.call('GET', `/v1/users/${vic.id}`, { token: vicToken, tenant })).status,
      200,
    );

    oldGeneration = (await raw.get(generationKey())) ?? '';
    await raw.sendCommand(['SAVE']);

    // After the snapshot: vic's version 2, and vic's token revoked.
    const v1 = await stack.call('GET', `/v1/users/${vic.id}`, { token: ownerToken, tenant });
    const put = await stack.call('PUT', `/v1/users/${vic.id}`, {
      token: ownerToken,
      tenant,
      body: { name: 'Vic Two' },
      headers: { 'if-match': v1.headers.get('etag') ?? '' },
    });
    assert.equal(put.status, 200, put.text);
    lostEtag = put.headers.get('etag') ?? '';
    const revoke = await runCli(['token', 'revoke', '--jti', jtiOf(vicToken)], {
      REDIS_URL: redis.url,
    });
    assert.equal(revoke.code, 0, revoke.stderr);
    await waitFor(
      async () => (await clusterOf(stack.adminUrl)).revoked.jtis === 1,
      20_000,
      'the running sidecar to learn of the revocation',
    );
    revokedBefore = (await clusterOf(stack.adminUrl)).revoked;
    assertError(
      await stack.call('GET', `/v1/users/${vic.id}`, { token: vicToken, tenant }),
      401,
      'unauthenticated',
    );

    // The loss: a restart that loads the older snapshot.
    await redis.restart();
  });

  after(async () => {
    await late?.proc.stop();
    await stack?.stop();
    await raw?.close().catch(() => undefined);
    await redis?.stop();
    dir.remove();
  });

  it('the revocation the snapshot lacks is written back; /status counts what the store holds', async () => {
    await waitFor(
      async () => (await raw.exists(keys.revokedJti(jtiOf(vicToken)))) === 1,
      20_000,
      `the revocation back in the store\n${stack.process.output()}`,
    );
    const stored = await storedRevocations(raw);
    assert.deepEqual(stored, revokedBefore);
    assert.deepEqual((await clusterOf(stack.adminUrl)).revoked, stored);
  });

  it('the revoked token stays refused by the running sidecar and by one started after the loss', async () => {
    assertError(
      await stack.call('GET', `/v1/users/${vic.id}`, { token: vicToken, tenant }),
      401,
      'unauthenticated',
    );
    late = await startLateSidecar(stack, redis.url, tenant);
    assertError(
      await callPort(late.port, 'GET', `/v1/users/${vic.id}`, { token: vicToken, tenant }),
      401,
      'unauthenticated',
    );
    // Vic is in the snapshot: a token not revoked is served, so the 401 above is the revocation.
    const fresh = await stack.token(tenant, vic.id);
    const ok = await callPort(late.port, 'GET', `/v1/users/${vic.id}`, { token: fresh, tenant });
    assert.equal(ok.status, 200, ok.text);
  });

  it('an ETag from before the loss gets 412, also once the user is back at the same counter', async () => {
    // The snapshot has version 1 ("Vic"); version 2 is made again, with other content.
    const again = await stack.call('PUT', `/v1/users/${vic.id}`, {
      token: ownerToken,
      tenant,
      body: { name: 'Vic Again' },
    });
    assert.equal(again.status, 200, again.text);
    assert.notEqual(again.headers.get('etag'), lostEtag, 'one strong ETag, two versions');
    const stale = await stack.call('PUT', `/v1/users/${vic.id}`, {
      token: ownerToken,
      tenant,
      body: { name: 'Vic Overwritten' },
      headers: { 'if-match': lostEtag },
    });
    assertError(stale, 412, 'precondition_failed');
    const now = await stack.call('GET', `/v1/users/${vic.id}`, { token: ownerToken, tenant });
    assert.equal(now.body.name, 'Vic Again');
  });

  it('one loud line, a new generation in /status and a count in /metrics', async () => {
    assert.match(oldGeneration, /^[0-9a-f]{16}$/, 'the store wrote its generation at start');
    const status = await clusterOf(stack.adminUrl);
    assert.equal(
      status.store_generation_changes,
      1,
      `${JSON.stringify(status)}\n${stack.process.output()}`,
    );
    assert.notEqual(status.store_generation, oldGeneration);
    assert.equal(status.store_generation, await raw.get(generationKey()));
    assert.equal(status.last_generation_change?.old, oldGeneration);
    assert.match(status.last_generation_change?.reason ?? '', /change stream went back/);
    const lines = generationLines(stack.process.output());
    assert.equal(lines.length, 1, stack.process.output());
    assert.equal(lines[0]?.level, 50, 'error level');
    assert.equal(lines[0]?.old, oldGeneration);
    assert.equal(lines[0]?.new, status.store_generation);
    assert.equal(
      await metricValue(stack.adminUrl, 'cedargate_store_generation_changes_total'),
      '1',
    );
  });
});

describe('Redis flushed under running processes', { skip: skipWithoutRedis() }, () => {
  let redis: RunningRedis;
  let raw: ReturnType<typeof createClient>;
  let stack: Stack;
  let late: Replica | undefined;

  before(async () => {
    redis = await startRedis();
    raw = createClient({ url: redis.url });
    await raw.connect();
    stack = await startStack({ env: { REDIS_URL: redis.url } });
  });

  after(async () => {
    await late?.proc.stop();
    await stack?.stop();
    await raw?.close();
    await redis?.stop();
  });

  it('revocations are written back, a late sidecar refuses the token, one line, counted', async () => {
    const created = await openTenant(stack, 'flushed');
    const [tenant, token] = [created.tenantId, created.ownerToken];
    const env = { REDIS_URL: redis.url };
    assert.equal((await runCli(['token', 'revoke', '--jti', jtiOf(token)], env)).code, 0);
    const sub = await runCli(
      ['token', 'revoke', '--sub', created.owner.id, '--tenant', tenant],
      env,
    );
    assert.equal(sub.code, 0, sub.stderr);
    await waitFor(
      async () => {
        const r = (await clusterOf(stack.adminUrl)).revoked;
        return r.jtis === 1 && r.subjects === 1;
      },
      20_000,
      'the sidecar to learn of both revocations',
    );
    const oldGeneration = await raw.get(generationKey());

    await raw.flushAll();

    await waitFor(
      async () => {
        const s = await storedRevocations(raw);
        return s.jtis === 1 && s.subjects === 1;
      },
      20_000,
      `both revocations back in the store\n${stack.process.output()}`,
    );
    assert.deepEqual((await clusterOf(stack.adminUrl)).revoked, { jtis: 1, subjects: 1 });
    assertError(await stack.call('GET', '/v1/users', { token, tenant }), 401, 'unauthenticated');
    late = await startLateSidecar(stack, redis.url, tenant);
    assert.deepEqual((await clusterOf(late.adminUrl)).revoked, { jtis: 1, subjects: 1 });
    assertError(
      await callPort(late.port, 'GET', '/v1/users', { token, tenant }),
      401,
      'unauthenticated',
    );

    const status = await clusterOf(stack.adminUrl);
    assert.equal(status.store_generation_changes, 1);
    assert.notEqual(status.store_generation, oldGeneration);
    assert.equal(status.store_generation, await raw.get(generationKey()));
    const lines = generationLines(stack.process.output());
    assert.equal(lines.length, 1, stack.process.output());
    assert.equal(lines[0]?.old, oldGeneration);
    assert.equal(
      await metricValue(stack.adminUrl, 'cedargate_store_generation_changes_total'),
      '1',
    );
  });
});
