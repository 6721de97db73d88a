/**
 * What a platform team watches: the admin port (/healthz, /readyz, /metrics, /status), one JSON
 * decision line per request that never carries the credential, X-Request-Id end to end, and
 * shadow mode (ENFORCE=false) forwarding policy denials marked — while credential and tenant
 * checks still hold.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { User } from '../../src/common/user.js';
import { waitFor } from '../helpers/net.js';
import type { Stack } from '../helpers/stack.js';
import { startTenantStack } from '../helpers/tenant-stack.js';

interface LogLine {
  msg?: string;
  component?: string;
  [k: string]: unknown;
}

function logLines(s: Stack): LogLine[] {
  return s.process
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

describe('observability (enforcing)', () => {
  let s: Stack;
  let tenant: string;
  let owner: User;
  let token: string;

  before(async () => {
    const t = await startTenantStack('obs', { env: { LOG_LEVEL: 'info' } });
    ({ stack: s, tenantId: tenant, owner, ownerToken: token } = t);
  });
  after(async () => s?.stop());

  it('/healthz and /readyz answer on the admin port, in JSON', async () => {
    const h = await fetch(`${s.adminUrl}/healthz`);
    assert.equal(h.status, 200);
    assert.deepEqual(await h.json(), { status: 'ok' });
    const r = await fetch(`${s.adminUrl}/readyz`);
    assert.equal(r.status, 200);
    const body = (await r.json()) as { status: string; checks: Record<string, string> };
    assert.equal(body.status, 'ready');
    assert.equal(body.checks.backend, 'ok');
    const nf = await fetch(`${s.adminUrl}/nope`);
    assert.equal(nf.status, 404);
    assert.equal(((await nf.json()) as { code: string }).code, 'not_found');
  });

  it('/status shows the live policy set: version, load time, policy ids', async () => {
    const st = (await (await fetch(`${s.adminUrl}/status`)).json()) as {
      enforce: boolean;
      policies: { live: { version: string; loadedAt: string; policyIds: string[] } };
    };
    assert.equal(st.enforce, true);
    assert.match(st.policies.live.version, /^[0-9a-f]{8,}$/);
    assert.ok(!Number.isNaN(Date.parse(st.policies.live.loadedAt)));
    assert.ok(st.policies.live.policyIds.includes('no-own-role-change'));
  });

  it('one decision line per request, with the fields an auditor needs and never the credential', async () => {
    const requestId = 'req-obs-12345';
    const r = await s.call('PUT', `/v1/users/${owner.id}`, {
      token,
      tenant,
      body: { roles: ['user'] },
      headers: { 'x-request-id': requestId },
    });
    assert.equal(r.status, 403);
    assert.equal(r.headers.get('x-request-id'), requestId);
    await waitFor(() => logLines(s).some((l) => l.request_id === requestId), 5000, 'decision line');
    const lines = logLines(s).filter((l) => l.request_id === requestId);
    assert.equal(lines.length, 1);
    const line = lines[0]!;
    assert.equal(line.msg, 'decision');
    assert.equal(line.tenant, tenant.toUpperCase());
    assert.equal(line.principal, owner.id.toUpperCase());
    assert.equal(line.action, 'users:update');
    assert.equal(line.resource, owner.id.toUpperCase());
    assert.equal(line.decision, 'deny');
    assert.equal(line.status, 403);
    assert.ok(Array.isArray(line.policies) && line.policies.includes('no-own-role-change'));
    assert.equal(typeof line.latency_ms, 'number');
    const everything = s.process.output();
    assert.ok(!everything.includes(token), 'the token must never be logged');
    assert.ok(!everything.includes(token.split('.')[2] as string), 'not even its signature');
  });

  it('passes X-Request-Id to the backend, or makes one', async () => {
    s.recorder.clear();
    const r = await s.call('GET', `/v1/users/${owner.id}`, {
      token,
      tenant,
      headers: { 'x-request-id': 'trace-abc' },
    });
    assert.equal(r.status, 200);
    assert.equal(s.recorder.forwarded()[0]?.headers['x-request-id'], 'trace-abc');
    const made = await s.call('GET', `/v1/users/${owner.id}`, { token, tenant });
    assert.match(made.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    const bad = await s.call('GET', `/v1/users/${owner.id}`, {
      token,
      tenant,
      headers: { 'x-request-id': 'x'.repeat(500) },
    });
    assert.notEqual(bad.headers.get('x-request-id'), 'x'.repeat(500));
  });

  it('/metrics exposes request durations, decisions, cache events and policy reloads', async () => {
    await s.call('GET', `/v1/users/${owner.id}`, { token, tenant });
    await s.call('GET', `/v1/users/${owner.id}`, { token, tenant });
    const text = await (await fetch(`${s.adminUrl}/metrics`)).text();
    assert.match(
      text,
      /cedargate_request_duration_seconds_bucket\{[^}]*action="users:read"[^}]*decision="allow"[^}]*status="200"/,
    );
    assert.match(
      text,
      /cedargate_decisions_total\{action="users:update",result="deny",source="request"\} [1-9]/,
    );
    assert.match(text, /cedargate_cache_events_total\{cache="decision",result="hit"\} [1-9]/);
    assert.match(text, /cedargate_cache_events_total\{cache="credential",result="hit"\} [1-9]/);
    assert.match(text, /cedargate_cache_events_total\{cache="user",result="hit"\} [1-9]/);
    assert.match(text, /# TYPE cedargate_policy_reloads_total counter/);
    assert.match(text, /# TYPE cedargate_upstream_errors_total counter/);
  });

  it("the request gate's refusals are counted from the start: /metrics by reason, /status since start", async () => {
    // Issue 22 item 4: a tenant refused at the gate was answered 503 and counted nowhere.
    const text = await (await fetch(`${s.adminUrl}/metrics`)).text();
    assert.match(text, /# TYPE cedargate_requests_shed_total counter/);
    assert.match(text, /^cedargate_requests_shed_total\{reason="tenant_queue_full"\} 0$/m);
    assert.match(text, /^cedargate_gate_waiting 0$/m);
    const st = (await (await fetch(`${s.adminUrl}/status`)).json()) as {
      gate?: { inside: number; waiting: number; busy: boolean; shed: Record<string, number> };
    };
    assert.deepEqual(st.gate?.shed, { tenant_queue_full: 0 });
    assert.equal(st.gate?.waiting, 0);
    assert.equal(typeof st.gate?.busy, 'boolean');
  });
});

describe('shadow mode (ENFORCE=false)', () => {
  let s: Stack;
  let tenant: string;
  let other: string;
  let owner: User;
  let token: string;

  before(async () => {
    const t = await startTenantStack('shadow', { env: { ENFORCE: 'false' } });
    ({ stack: s, tenantId: tenant, owner, ownerToken: token } = t);
    ({ tenantId: other } = await s.createTenant('elsewhere'));
  });
  after(async () => s?.stop());

  it('forwards a policy denial, marked X-Cedargate-Decision: deny, and counts it', async () => {
    const viewer = await s.createUser(tenant, token, 'Val', ['viewer']);
    const viewerToken = await s.token(tenant, viewer.id);
    s.recorder.clear();
    const r = await s.call('PUT', `/v1/users/${owner.id}`, {
      token: viewerToken,
      tenant,
      body: { name: 'Renamed by a viewer' },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-cedargate-decision'), 'deny');
    assert.equal(s.recorder.forwarded().length, 1);
    const allowed = await s.call('GET', `/v1/users/${owner.id}`, { token: viewerToken, tenant });
    assert.equal(allowed.status, 200);
    assert.equal(allowed.headers.get('x-cedargate-decision'), null);
    const metrics = await (await fetch(`${s.adminUrl}/metrics`)).text();
    assert.match(
      metrics,
      /cedargate_decisions_total\{action="users:update",result="shadow_deny",source="request"\} 1/,
    );
  });

  it('cannot break the store: the owner still cannot be deleted or demoted (409 from the backend)', async () => {
    const viewer = await s.createUser(tenant, token, 'Vee', ['viewer']);
    const viewerToken = await s.token(tenant, viewer.id);
    const del = await s.call('DELETE', `/v1/users/${owner.id}`, { token: viewerToken, tenant });
    assert.equal(del.status, 409, del.text);
    assert.equal(del.body.code, 'conflict');
    assert.equal(del.headers.get('x-cedargate-decision'), 'deny');
    const demote = await s.call('PUT', `/v1/users/${owner.id}`, {
      token: viewerToken,
      tenant,
      body: { roles: ['viewer'] },
    });
    assert.equal(demote.status, 409, demote.text);
    assert.equal(demote.body.code, 'conflict');
  });

  it('still enforces the credential, the tenant match and validation', async () => {
    s.recorder.clear();
    const noCred = await s.call('GET', '/v1/users', { tenant });
    assert.equal(noCred.status, 401);
    assert.equal(noCred.body.code, 'unauthenticated');
    const mismatch = await s.call('GET', '/v1/users', { token, tenant: other });
    assert.equal(mismatch.status, 403);
    assert.equal(mismatch.body.code, 'tenant_mismatch');
    const roles = await s.call('PUT', `/v1/users/${owner.id}`, {
      token,
      tenant,
      body: { roles: ['root'] },
    });
    assert.equal(roles.status, 422);
    assert.equal(roles.body.code, 'invalid_roles');
    assert.equal(s.recorder.forwarded().length, 0);
  });
});
