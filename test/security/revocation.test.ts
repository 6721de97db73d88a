/**
 * security.md line 8: with Redis on, a revoked token is refused (401) by every replica — also a
 * token both replicas had already verified and cached — and nothing it asks is forwarded.
 * Two `sidecar` processes share one backend, one Redis and one key set; a counting hop between
 * them and the backend shows what was forwarded. Revocations are made with the real
 * `cedargate token revoke`. (test/e2e/replicas.test.ts covers the cluster channel more broadly.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../helpers/net.js';
import { runCli } from '../helpers/process.js';
import { skipWithoutRedis, startRedis, type RunningRedis } from '../helpers/redis.js';
import { devToken, rawRequest } from '../helpers/stack.js';
import { startSplitStack, type SplitStack } from '../helpers/split-stack.js';
import { startHop, type Hop } from '../helpers/hop.js';
import { jtiOf } from '../helpers/tokens.js';

/** The sidecars' clock tolerance: an issuer clock may run this far ahead of theirs. */
const TOLERANCE_SECONDS = 30;

describe('revoked tokens on every replica (security.md 8)', { skip: skipWithoutRedis() }, () => {
  let redis: RunningRedis;
  let hop: Hop;
  let st: SplitStack;
  let ports: number[];
  let tenant: string;
  let ownerId: string;

  before(async () => {
    redis = await startRedis();
    hop = await startHop();
    st = await startSplitStack({
      sidecarEnv: { REDIS_URL: redis.url, CLOCK_TOLERANCE_SECONDS: String(TOLERANCE_SECONDS) },
      upstream: (backendUrl) => {
        hop.target = backendUrl;
        return hop.url;
      },
    });
    const second = await st.startReplica();
    ports = [Number(new URL(st.url).port), Number(new URL(second.url).port)];
    const a = await st.createTenant('acme');
    tenant = a.tenantId;
    ownerId = a.owner.id;
  });
  after(async () => {
    await st?.stop();
    await hop?.close();
    await redis?.stop();
  });

  const get = (port: number, token: string) =>
    rawRequest(port, 'GET', '/v1/users', {
      authorization: `Bearer ${token}`,
      'x-tenant-id': tenant,
    });

  async function assertRefusedEverywhere(token: string, what: string): Promise<void> {
    // Revocations travel by pub/sub: each replica must refuse within a short while, then always.
    for (const port of ports) {
      await waitFor(
        async () => (await get(port, token)).status === 401,
        5000,
        `${what} refused on :${port}`,
      );
    }
    const seen = hop.seen();
    for (const port of ports) {
      for (let i = 0; i < 3; i++) {
        const r = await get(port, token);
        assert.equal(r.status, 401, `${what} on :${port}: ${r.text}`);
        assert.equal((JSON.parse(r.text) as { code: string }).code, 'unauthenticated');
        assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer/);
      }
    }
    assert.equal(hop.seen(), seen, `${what}: a revoked token's request was forwarded`);
  }

  it('by jti: refused by both replicas, although both had cached it as verified', async () => {
    const token = await st.token(tenant, ownerId);
    const other = await st.token(tenant, ownerId);
    for (const port of ports) {
      for (let i = 0; i < 2; i++) assert.equal((await get(port, token)).status, 200);
    }
    const r = await runCli(['token', 'revoke', '--jti', jtiOf(token)], { REDIS_URL: redis.url });
    assert.equal(r.code, 0, r.stderr);
    await assertRefusedEverywhere(token, 'jti-revoked token');
    // Only that token: another token of the same user still works.
    for (const port of ports) assert.equal((await get(port, other)).status, 200);
  });

  it('by subject: every token of the user issued so far is refused by both replicas', async () => {
    const tokens = [await st.token(tenant, ownerId), await st.token(tenant, ownerId)];
    for (const port of ports)
      for (const t of tokens) assert.equal((await get(port, t)).status, 200);
    const r = await runCli(['token', 'revoke', '--sub', ownerId, '--tenant', tenant], {
      REDIS_URL: redis.url,
    });
    assert.equal(r.code, 0, r.stderr);
    for (const t of tokens) await assertRefusedEverywhere(t, 'subject-revoked token');
  });

  it('by subject, with the clock tolerance (security.md 32): a token whose iat is ahead of the cut-off within the tolerance is refused, one beyond it works', async () => {
    // A tenant of its own: the test above revoked acme's owner.
    const g = await st.createTenant('globex');
    const r = await runCli(['token', 'revoke', '--sub', g.owner.id, '--tenant', g.tenantId], {
      REDIS_URL: redis.url,
    });
    assert.equal(r.code, 0, r.stderr);
    const cutoff = (JSON.parse(r.stdout) as { revoked: { issued_up_to: number } }).revoked
      .issued_up_to;
    const mint = (iat: number) =>
      devToken(st.dataDir, g.tenantId, g.owner.id, 3600, () => iat * 1000);
    const getG = (port: number, token: string) =>
      rawRequest(port, 'GET', '/v1/users', {
        authorization: `Bearer ${token}`,
        'x-tenant-id': g.tenantId,
      });
    // Minted before the revocation by an issuer whose clock runs 5 s ahead: its iat says later.
    const skewed = await mint(cutoff + 5);
    const seen = hop.seen();
    for (const port of ports) {
      const res = await getG(port, skewed);
      assert.equal(
        res.status,
        401,
        `a token minted within the tolerance of the cut-off on :${port}: ${res.text}`,
      );
      assert.equal((JSON.parse(res.text) as { code: string }).code, 'unauthenticated');
    }
    assert.equal(hop.seen(), seen, 'a revoked token was forwarded');
    // Minted clearly after (beyond the tolerance): it works. Its iat may be at most the tolerance
    // ahead of the sidecars' clock, so wait for the second after the cut-off to begin.
    await waitFor(() => Date.now() >= (cutoff + 1) * 1000, 5000, 'the next second');
    const fresh = await mint(cutoff + TOLERANCE_SECONDS + 1);
    for (const port of ports) {
      const res = await getG(port, fresh);
      assert.equal(res.status, 200, `a token minted beyond the tolerance on :${port}: ${res.text}`);
    }
  });
});
