import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createSidecarMetrics, type CacheTotals } from '../../../src/sidecar/metrics.js';

function cacheLine(text: string, cache: string, result: string): string | undefined {
  return text
    .split('\n')
    .find((l) => l.startsWith(`cedargate_cache_events_total{cache="${cache}",result="${result}"}`));
}

describe('sidecar metrics: cache events', () => {
  it("the caches' own totals become counter increments at each scrape (collect, no patch)", async () => {
    const metrics = createSidecarMetrics();
    const methodOf = (r: typeof metrics.registry): unknown => Reflect.get(r, 'metrics');
    const originalMetrics = methodOf(metrics.registry);
    const totals: CacheTotals = {
      credential: { hits: 3, misses: 1 },
      user: { hits: 0, misses: 2 },
    };
    metrics.countCaches(() => totals);
    assert.equal(methodOf(metrics.registry), originalMetrics, 'registry.metrics was replaced');
    let text = await metrics.registry.metrics();
    assert.match(cacheLine(text, 'credential', 'hit') ?? '', / 3$/);
    assert.match(cacheLine(text, 'user', 'miss') ?? '', / 2$/);
    totals.credential = { hits: 5, misses: 1 };
    text = await metrics.registry.metrics();
    assert.match(cacheLine(text, 'credential', 'hit') ?? '', / 5$/);
    assert.match(cacheLine(text, 'credential', 'miss') ?? '', / 1$/);
  });

  it('decision cache hits and misses are counted per decision', async () => {
    const metrics = createSidecarMetrics();
    metrics.countDecision('GetUser', 'allow', true, 'request');
    metrics.countDecision('GetUser', 'allow', false, 'request');
    metrics.countDecision('GetUser', 'allow', true, 'request');
    const text = await metrics.registry.metrics();
    assert.match(cacheLine(text, 'decision', 'hit') ?? '', / 2$/);
    assert.match(
      text,
      /cedargate_decisions_total\{action="GetUser",result="allow",source="request"\} 3/,
    );
  });

  it('counts decisions by who asked for them; only the request path moves the decision cache counts', async () => {
    const metrics = createSidecarMetrics();
    metrics.countDecision('users:update', 'deny', false, 'permissions');
    metrics.countDecision('users:update', 'deny', true, 'permissions');
    metrics.countDecision('users:read', 'allow', false, 'candidate');
    const text = await metrics.registry.metrics();
    assert.match(
      text,
      /cedargate_decisions_total\{action="users:update",result="deny",source="permissions"\} 2/,
    );
    assert.match(
      text,
      /cedargate_decisions_total\{action="users:read",result="allow",source="candidate"\} 1/,
    );
    assert.equal(cacheLine(text, 'decision', 'hit'), undefined);
  });
});

describe('sidecar metrics: change events', () => {
  it('the lag is a gauge read at each scrape; dropped caches a counter that only grows', async () => {
    const metrics = createSidecarMetrics();
    const state = { lagSeconds: 0.25, cachesDropped: 0, generationChanges: 0 };
    metrics.watchEvents(() => state);
    const line = (text: string, name: string) =>
      text.split('\n').find((l) => l.startsWith(`${name} `));
    let text = await metrics.registry.metrics();
    assert.equal(line(text, 'cedargate_event_lag_seconds'), 'cedargate_event_lag_seconds 0.25');
    assert.equal(
      line(text, 'cedargate_event_caches_dropped_total'),
      'cedargate_event_caches_dropped_total 0',
    );
    state.lagSeconds = 3;
    state.cachesDropped = 2;
    text = await metrics.registry.metrics();
    assert.equal(line(text, 'cedargate_event_lag_seconds'), 'cedargate_event_lag_seconds 3');
    assert.equal(
      line(text, 'cedargate_event_caches_dropped_total'),
      'cedargate_event_caches_dropped_total 2',
    );
  });

  it('store generation changes: a counter of what the cluster channel counted', async () => {
    const metrics = createSidecarMetrics();
    const state = { lagSeconds: 0, cachesDropped: 0, generationChanges: 0 };
    metrics.watchEvents(() => state);
    const line = (text: string) =>
      text.split('\n').find((l) => l.startsWith('cedargate_store_generation_changes_total '));
    assert.equal(
      line(await metrics.registry.metrics()),
      'cedargate_store_generation_changes_total 0',
    );
    state.generationChanges = 1;
    assert.equal(
      line(await metrics.registry.metrics()),
      'cedargate_store_generation_changes_total 1',
    );
    assert.equal(
      line(await metrics.registry.metrics()),
      'cedargate_store_generation_changes_total 1',
    );
  });
});

describe('sidecar metrics: the request gate', () => {
  it("refusals by reason follow the gate's totals; the waiting count is a gauge; no tenant label", async () => {
    const metrics = createSidecarMetrics();
    const state = { inside: 3, waiting: 5, busy: true, shed: { tenant_queue_full: 0 } };
    metrics.watchGate(() => state);
    const line = (text: string, prefix: string) =>
      text.split('\n').find((l) => l.startsWith(prefix));
    const shed = 'cedargate_requests_shed_total{reason="tenant_queue_full"} ';
    let text = await metrics.registry.metrics();
    assert.equal(line(text, shed), `${shed}0`);
    assert.equal(line(text, 'cedargate_gate_waiting '), 'cedargate_gate_waiting 5');
    state.shed = { tenant_queue_full: 7 };
    state.waiting = 0;
    text = await metrics.registry.metrics();
    assert.equal(line(text, shed), `${shed}7`);
    assert.equal(line(text, 'cedargate_gate_waiting '), 'cedargate_gate_waiting 0');
    state.shed = { tenant_queue_full: 9 };
    text = await metrics.registry.metrics();
    assert.equal(line(text, shed), `${shed}9`, 'grows by the difference, not by the total');
    for (const l of text.split('\n').filter((x) => x.startsWith('cedargate_requests_shed_total')))
      assert.match(
        l,
        /^cedargate_requests_shed_total\{reason="[a-z_]+"\} \d+$/,
        'one label: reason',
      );
  });
});

describe('sidecar metrics: the per-request recorders', () => {
  it('counts every observation, across scrapes, and the decision counts keep growing', async () => {
    const metrics = createSidecarMetrics();
    metrics.observeRequest('users:read', 'allow', 200, 0.0004);
    metrics.observeRequest('users:read', 'allow', 200, 0.003);
    metrics.countDecision('users:read', 'allow', true, 'request');
    let text = await metrics.registry.metrics();
    assert.match(
      text,
      /cedargate_request_duration_seconds_count\{action="users:read",decision="allow",status="200"\} 2/,
    );
    assert.match(
      text,
      /cedargate_request_duration_seconds_bucket\{le="0.0005",action="users:read",decision="allow",status="200"\} 1/,
    );
    metrics.observeRequest('users:read', 'allow', 200, 0.02);
    metrics.countDecision('users:read', 'allow', true, 'request');
    metrics.countDecision('users:read', 'allow', false, 'request');
    text = await metrics.registry.metrics();
    assert.match(
      text,
      /cedargate_request_duration_seconds_count\{action="users:read",decision="allow",status="200"\} 3/,
    );
    assert.match(
      text,
      /cedargate_decisions_total\{action="users:read",result="allow",source="request"\} 3/,
    );
    assert.match(cacheLine(text, 'decision', 'hit') ?? '', / 2$/);
    assert.match(cacheLine(text, 'decision', 'miss') ?? '', / 1$/);
  });
});
