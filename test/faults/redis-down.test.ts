/**
 * security.md line 23: Redis down → revocation checks fail closed (503 `unavailable`) on every
 * replica and nothing is forwarded; with REVOCATION_FAIL_OPEN the replicas keep serving but keep
 * their user caches short (a change made through one replica reaches the other within a second
 * although USER_CACHE_TTL_MS is ten minutes); and the replicas recover by themselves when Redis
 * returns. The backend stays on SQLite, so only the cluster channel goes down.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { User } from '../../src/common/user.js';
import { waitFor } from '../helpers/net.js';
import { skipWithoutRedis, startRedis, type RunningRedis } from '../helpers/redis.js';
import { rawRequest } from '../helpers/stack.js';
import { startSplitStack, type SplitStack } from '../helpers/split-stack.js';
import { startHop, type Hop } from '../helpers/hop.js';

async function splitWithRedis(
  redis: RunningRedis,
  hop: Hop,
  extra: Record<string, string> = {},
): Promise<{ st: SplitStack; ports: number[]; admins: string[] }> {
  const st = await startSplitStack({
    sidecarEnv: { REDIS_URL: redis.url, ...extra },
    upstream: (backendUrl) => {
      hop.target = backendUrl;
      return hop.url;
    },
  });
  const second = await st.startReplica();
  return {
    st,
    ports: [Number(new URL(st.url).port), Number(new URL(second.url).port)],
    admins: [st.adminUrl, second.adminUrl],
  };
}

describe('Redis down (security.md 23)', { skip: skipWithoutRedis() }, () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('fails closed with 503 on every replica, forwards nothing, and recovers by itself', async () => {
    const redis = await startRedis();
    cleanups.push(() => redis.stop());
    const hop = await startHop();
    cleanups.push(() => hop.close());
    const { st, ports, admins } = await splitWithRedis(redis, hop);
    cleanups.push(() => st.stop());
    const a = await st.createTenant('acme');
    const tok = await st.token(a.tenantId, a.owner.id);
    const get = (port: number) =>
      rawRequest(port, 'GET', '/v1/users', {
        authorization: `Bearer ${tok}`,
        'x-tenant-id': a.tenantId,
      });
    for (const port of ports) assert.equal((await get(port)).status, 200);

    await redis.kill();
    for (const port of ports)
      await waitFor(async () => (await get(port)).status === 503, 10_000, `503 on :${port}`);
    const seen = hop.seen();
    for (const port of ports) {
      const r = await get(port);
      assert.equal(r.status, 503, r.text);
      assert.equal((JSON.parse(r.text) as { code: string }).code, 'unavailable');
    }
    assert.equal(hop.seen(), seen, 'a request was forwarded unchecked while Redis was down');
    for (const admin of admins) {
      const ready = await fetch(`${admin}/readyz`);
      assert.equal(ready.status, 503);
      const body = (await ready.json()) as { details: { checks: Record<string, string> } };
      assert.match(body.details.checks.redis ?? '', /unreachable/);
    }

    await redis.restart();
    for (const port of ports)
      await waitFor(async () => (await get(port)).status === 200, 20_000, `recovery on :${port}`);
    for (const admin of admins)
      await waitFor(
        async () => (await fetch(`${admin}/readyz`)).status === 200,
        10_000,
        'ready again',
      );
    assert.equal(st.sidecar.child.exitCode, null);
  });

  it('with REVOCATION_FAIL_OPEN: keeps serving, and keeps user caches short while invalidations cannot travel', async () => {
    const redis = await startRedis();
    cleanups.push(() => redis.stop());
    const hop = await startHop();
    cleanups.push(() => hop.close());
    const { st, ports, admins } = await splitWithRedis(redis, hop, {
      REVOCATION_FAIL_OPEN: 'true',
      USER_CACHE_TTL_MS: '600000',
    });
    cleanups.push(() => st.stop());
    const [portA, portB] = ports as [number, number];
    const t = await st.createTenant('acme');
    const ownerTok = await st.token(t.tenantId, t.owner.id);
    const h = (tok: string) => ({
      authorization: `Bearer ${tok}`,
      'x-tenant-id': t.tenantId,
      'content-type': 'application/json',
    });
    const created = await rawRequest(
      portA,
      'POST',
      '/v1/users',
      h(ownerTok),
      JSON.stringify({ name: 'Ada', email: 'ada@acme.test', roles: ['admin'] }),
    );
    assert.equal(created.status, 201, created.text);
    const ada = JSON.parse(created.text) as User;
    const adaTok = await st.token(t.tenantId, ada.id);
    // Ada, an admin, renames the owner (a no-op): allowed for admins, refused for viewers.
    const adminAction = (port: number) =>
      rawRequest(
        port,
        'PUT',
        `/v1/users/${t.owner.id}`,
        h(adaTok),
        JSON.stringify({ name: t.owner.name }),
      );

    await redis.kill();
    await waitFor(
      async () =>
        /unreachable/.test(JSON.stringify(await (await fetch(`${admins[1]}/status`)).json())),
      10_000,
      'replica B degraded',
    );
    // B serves (fail open) and caches Ada as an admin.
    assert.equal((await adminAction(portB)).status, 200);
    // The owner demotes Ada through A; A cannot tell B (Redis is down).
    const demote = await rawRequest(
      portA,
      'PUT',
      `/v1/users/${ada.id}`,
      h(ownerTok),
      JSON.stringify({ roles: ['viewer'] }),
    );
    assert.equal(demote.status, 200, demote.text);
    // B's cache entry is short-lived while degraded: the demotion holds within seconds, not ten minutes.
    await waitFor(
      async () => (await adminAction(portB)).status === 403,
      5000,
      'B to see the demotion',
    );

    await redis.restart();
    await waitFor(
      async () =>
        !/unreachable/.test(JSON.stringify(await (await fetch(`${admins[1]}/status`)).json())),
      20_000,
      'B back in sync',
    );
    assert.equal((await adminAction(portA)).status, 403);
  });
});
