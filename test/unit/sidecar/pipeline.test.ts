/**
 * The pipeline's decide → forward → re-decide loop with fakes for the verifier, the directory
 * and the forwarder (the real policy store and shipped policies): a write that keeps losing its
 * race to the backend ends in 503 with Retry-After when the client sent no If-Match — never 412
 * — and writes to one user are decided and forwarded one at a time.
 */
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../../src/common/logger.js';
import { etagOf } from '../../../src/common/user.js';
import type { PolicyStore } from '../../../src/sidecar/authz/policy-store.js';
import { createSidecarMetrics } from '../../../src/sidecar/metrics.js';
import type { ForwardOutcome, ForwardPlan, Forwarder } from '../../../src/sidecar/proxy.js';
import {
  T,
  U1,
  U2,
  fakeDirectory,
  ownerVerifier as verifier,
  shippedPolicyStore,
  servePipeline,
} from '../../helpers/sidecar-fakes.js';

describe('pipeline: re-decisions and per-user write order', () => {
  let policies: PolicyStore;
  const servers: Server[] = [];
  const logger = createLogger('silent');

  before(async () => {
    policies = await shippedPolicyStore();
  });
  after(async () => {
    policies.close();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });

  const serve = (forwarder: Forwarder): Promise<string> =>
    servePipeline(
      {
        verifier,
        policies,
        directory: fakeDirectory(),
        forwarder,
        metrics: createSidecarMetrics(),
        logger,
      },
      servers,
    );

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
