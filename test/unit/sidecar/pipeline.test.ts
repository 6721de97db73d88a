/**
 * The pipeline's decide → forward → re-decide loop with fakes for the verifier, the directory
 * and the forwarder (the real policy store and shipped policies): a write that keeps losing its
 * race to the backend ends in 503 with Retry-After when the client sent no If-Match — never 412
 * — and writes to one user are decided and forwarded one at a time.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../../src/common/logger.js';
import { etagOf } from '../../../src/common/user.js';
import type { CredentialVerifier } from '../../../src/sidecar/authn/verifier.js';
import { createPolicyStore, type PolicyStore } from '../../../src/sidecar/authz/policy-store.js';
import { createBodyBudget } from '../../../src/common/body.js';
import type { UserDirectory } from '../../../src/sidecar/directory.js';
import { createSidecarMetrics } from '../../../src/sidecar/metrics.js';
import { createPipeline } from '../../../src/sidecar/pipeline.js';
import type { ForwardOutcome, ForwardPlan, Forwarder } from '../../../src/sidecar/proxy.js';
import type { UserFacts, UserRecord } from '../../../src/sidecar/upstream.js';
import { shippedPolicies } from '../../helpers/process.js';

const T = 'AAAAAAAA-0000-4000-8000-000000000000';
const OWNER = 'BBBBBBBB-0000-4000-8000-000000000000';
const U1 = 'CCCCCCCC-0000-4000-8000-000000000001';
const U2 = 'CCCCCCCC-0000-4000-8000-000000000002';

function userOf(id: string, roles: string[], isOwner = false): UserFacts {
  return { id, tenant_id: T, name: id.slice(0, 4), roles, is_owner: isOwner, avatar_digest: null };
}

/** Users whose version moves on every fresh read, as if another replica kept writing them. */
function fakeDirectory(): UserDirectory & { versions: Map<string, number> } {
  const versions = new Map<string, number>([
    [OWNER, 1],
    [U1, 1],
    [U2, 1],
  ]);
  const recordOf = (id: string): UserRecord => ({
    user: id === OWNER ? userOf(id, ['admin'], true) : userOf(id, ['user']),
    etag: etagOf({ id, version: versions.get(id) ?? 1 }),
  });
  return {
    versions,
    async get(_t, id, opts = {}) {
      if (!versions.has(id)) return null;
      if (opts.fresh === true && id !== OWNER) versions.set(id, (versions.get(id) ?? 1) + 1);
      return recordOf(id);
    },
    remember: () => undefined,
    mark: () => 0,
    invalidate: () => undefined,
    clear: () => undefined,
    setTtl: () => undefined,
    stats: () => ({ hits: 0, misses: 0, size: 0, bytes: 0 }),
    close: () => undefined,
  };
}

const verifier: CredentialVerifier = {
  async verify() {
    return {
      token: 't',
      subject: OWNER,
      tenantId: T,
      jti: undefined,
      issuedAt: undefined,
      expiresAt: Math.floor(Date.now() / 1000) + 600,
      claims: {},
    };
  },
  stats: () => ({ cacheHits: 0, cacheMisses: 0, size: 0 }),
};

describe('pipeline: re-decisions and per-user write order', () => {
  let policies: PolicyStore;
  const servers: Server[] = [];
  const logger = createLogger('silent');

  before(async () => {
    policies = await createPolicyStore({ dir: shippedPolicies, logger, watch: false, pollMs: 0 });
  });
  after(async () => {
    policies.close();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });

  async function serve(forwarder: Forwarder): Promise<string> {
    const pipeline = createPipeline({
      verifier,
      policies,
      directory: fakeDirectory(),
      forwarder,
      metrics: createSidecarMetrics(),
      logger,
      enforce: true,
      bodyLimitBytes: 4096,
      bodyTimeoutMs: 2000,
      bodyBudget: createBodyBudget(1024 * 1024),
    });
    const server = createServer(pipeline);
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  const put = (base: string, id: string, headers: Record<string, string> = {}) =>
    fetch(`${base}/v1/users/${id}`, {
      method: 'PUT',
      headers: {
        authorization: 'Bearer t',
        'x-tenant-id': T,
        'content-type': 'application/json',
        ...headers,
      },
      body: JSON.stringify({ name: 'New name' }),
    });

  it('a race lost to the backend on every attempt, no If-Match → 503 unavailable with Retry-After, never 412', async () => {
    const plans: ForwardPlan[] = [];
    const base = await serve({
      async forward(_req, _res, plan) {
        plans.push(plan);
        return { kind: 'retry' };
      },
    });
    const r = await put(base, U1);
    assert.equal(r.status, 503);
    assert.equal(((await r.json()) as { code: string }).code, 'unavailable');
    assert.equal(r.headers.get('retry-after'), '1');
    // Decided and tried four times, each on the newer version it had just read.
    assert.equal(plans.length, 4);
    assert.ok(plans.every((p) => p.retryOn412));
    assert.equal(new Set(plans.map((p) => p.ifMatch)).size, 4);
  });

  it('the same race with the If-Match the client sent → 412: its own precondition failed', async () => {
    let forwards = 0;
    const base = await serve({
      async forward() {
        forwards++;
        return { kind: 'retry' };
      },
    });
    const r = await put(base, U1, { 'if-match': etagOf({ id: U1, version: 1 }) });
    assert.equal(r.status, 412);
    assert.equal(((await r.json()) as { code: string }).code, 'precondition_failed');
    assert.equal(forwards, 1);
  });

  it('writes to one user are forwarded one at a time; writes to another user do not wait', async () => {
    const active = new Map<string, number>();
    let most = 0;
    const releases: Array<() => void> = [];
    const base = await serve({
      forward(_req, res, plan): Promise<ForwardOutcome> {
        const n = (active.get(plan.path) ?? 0) + 1;
        active.set(plan.path, n);
        most = Math.max(most, n);
        return new Promise((resolve) => {
          releases.push(() => {
            active.set(plan.path, (active.get(plan.path) ?? 1) - 1);
            res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
            resolve({ kind: 'answered', status: 200 });
          });
        });
      },
    });
    const u1 = [put(base, U1), put(base, U1), put(base, U1)];
    const u2 = put(base, U2);
    // One U1 write and the U2 write reach the forwarder; the other U1 writes wait their turn.
    const deadline = Date.now() + 5000;
    while (releases.length < 2 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    assert.equal(releases.length, 2, 'the U2 write did not wait for U1');
    let released = 0;
    while (released < 4 && Date.now() < deadline) {
      const next = releases.shift();
      if (next === undefined) await new Promise((r) => setTimeout(r, 10));
      else {
        next();
        released++;
      }
    }
    for (const r of await Promise.all([...u1, u2])) assert.equal(r.status, 200);
    assert.equal(most, 1, 'two writes to one user were forwarded at once');
  });
});
