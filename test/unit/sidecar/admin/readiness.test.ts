import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createReadiness } from '../../../../src/sidecar/admin/readiness.js';
import type { SidecarCluster } from '../../../../src/sidecar/cluster/cluster.js';
import { TrustRejectedError } from '../../../../src/sidecar/upstream.js';

describe('createReadiness', () => {
  function setup(opts: { backendUp?: boolean; cluster?: { ok: boolean; detail: string } } = {}) {
    const state = { now: 0, pings: 0, backendUp: opts.backendUp ?? true, draining: false };
    const cluster =
      opts.cluster === undefined
        ? undefined
        : ({ health: () => opts.cluster } as unknown as SidecarCluster);
    const readiness = createReadiness({
      policyVersion: () => 'v1',
      pingBackend: () => {
        state.pings++;
        return state.backendUp ? Promise.resolve() : Promise.reject(new Error('refused'));
      },
      cluster,
      draining: () => state.draining,
      now: () => state.now,
    });
    return { state, readiness };
  }

  it('ready while the backend answers; the checks say what was found', async () => {
    const { readiness } = setup();
    assert.deepEqual(await readiness(), {
      ready: true,
      checks: { policies: 'loaded v1', backend: 'ok' },
    });
  });

  it('pings the backend at most once a second, however often it is asked', async () => {
    const { state, readiness } = setup();
    await readiness();
    state.now = 500;
    await readiness();
    assert.equal(state.pings, 1);
    state.now = 1001;
    await readiness();
    assert.equal(state.pings, 2);
  });

  it('not ready when the backend is unreachable, draining, or the cluster is unhealthy', async () => {
    const down = setup({ backendUp: false });
    assert.deepEqual(await down.readiness(), {
      ready: false,
      checks: { policies: 'loaded v1', backend: 'unreachable' },
    });
    const draining = setup();
    draining.state.draining = true;
    const d = await draining.readiness();
    assert.equal(d.ready, false);
    assert.equal(d.checks.shutdown, 'draining');
    const redis = setup({ cluster: { ok: false, detail: 'redis down' } });
    const r = await redis.readiness();
    assert.equal(r.ready, false);
    assert.equal(r.checks.redis, 'redis down');
  });

  it('a backend that refuses the trust secret is not ready, and the check says so', async () => {
    const readiness = createReadiness({
      policyVersion: () => 'v1',
      pingBackend: () => Promise.reject(new TrustRejectedError()),
      draining: () => false,
    });
    const r = await readiness();
    assert.equal(r.ready, false);
    assert.match(r.checks.backend ?? '', /TRUST_SECRET/);
  });
  it('not ready until every issuer’s keys were fetched once; checks.keys says which', async () => {
    let keys = { ok: false, detail: 'not fetched yet: https://id.example/' };
    const readiness = createReadiness({
      policyVersion: () => 'v1',
      keys: () => keys,
      pingBackend: () => Promise.resolve(),
      draining: () => false,
      now: () => 0,
    });
    assert.deepEqual(await readiness(), {
      ready: false,
      checks: {
        policies: 'loaded v1',
        backend: 'ok',
        keys: 'not fetched yet: https://id.example/',
      },
    });
    keys = { ok: true, detail: 'fetched for 1 issuer(s)' };
    assert.equal((await readiness()).ready, true);
  });
});
