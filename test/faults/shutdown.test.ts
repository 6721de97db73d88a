/**
 * security.md line 24: SIGTERM with requests in flight → `/readyz` turns 503, new connections are
 * refused, the requests in flight finish with their real answers, then the process exits 0 — for
 * `start`, for `sidecar` (in front of a slow backend) and for `backend` (a request whose body is
 * still arriving).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { waitFor } from '../helpers/net.js';
import { rawRequestText, sendRaw } from '../helpers/raw-http.js';
import { rawRequest } from '../helpers/stack.js';
import { startTenantStack } from '../helpers/tenant-stack.js';
import { startSplitStack, type SplitStack } from '../helpers/split-stack.js';
import { startHop, type Hop } from '../helpers/hop.js';

const DELAY_MS = 1500;

/** Refused, or reset before any answer: either way a new request gets nothing served. */
async function assertRefusesNewRequests(url: string): Promise<void> {
  const port = Number(new URL(url).port);
  const ex = await sendRaw(port, 'GET /v1/users HTTP/1.1\r\nHost: x\r\n\r\n', {
    idleMs: 500,
    maxMs: 3000,
  });
  assert.equal(ex.responses.filter((r) => r.status < 400).length, 0, ex.text);
}

/** Fires `n` reads through the sidecar, waits until all are held by the hop, SIGTERMs, checks the drain. */
async function drainWith(opts: {
  hop: Hop;
  url: string;
  adminUrl: string;
  signal: () => void;
  exited: Promise<number | string>;
  request: () => Promise<{ status: number; text: string }>;
  n: number;
}): Promise<void> {
  const { hop } = opts;
  hop.delayMs = DELAY_MS;
  const before = hop.seen();
  const inFlight = Array.from({ length: opts.n }, () => opts.request());
  await waitFor(() => hop.seen() - before === opts.n, 10_000, 'the requests to be in flight');
  opts.signal();
  await waitFor(
    async () => (await fetch(`${opts.adminUrl}/readyz`)).status === 503,
    5000,
    '/readyz 503',
  );
  const ready = (await (await fetch(`${opts.adminUrl}/readyz`)).json()) as {
    code: string;
    details: { checks: Record<string, string> };
  };
  assert.equal(ready.code, 'unavailable');
  assert.equal(ready.details.checks.shutdown, 'draining');
  assert.ok(hop.inFlight() > 0, 'the requests were still in flight when /readyz turned');
  await assertRefusesNewRequests(opts.url);
  const answers = await Promise.all(inFlight);
  for (const a of answers)
    assert.equal(a.status, 200, `an in-flight request was cut: ${a.status} ${a.text}`);
  assert.equal(await opts.exited, 0);
}

describe('SIGTERM with requests in flight (security.md 24)', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups) await c();
  });

  it('start: /readyz 503, new connections refused, in-flight finish, exit 0', async () => {
    const hop = await startHop();
    cleanups.push(() => hop.close());
    const a = await startTenantStack('acme', { env: { UPSTREAM_URL: hop.url } });
    const { stack: s, ownerToken: tok } = a;
    cleanups.push(() => s.stop());
    hop.target = s.recorder.url;
    assert.equal(
      (await s.call('GET', '/v1/users', { token: tok, tenant: a.tenantId })).status,
      200,
    );
    await drainWith({
      hop,
      url: s.url,
      adminUrl: s.adminUrl,
      signal: () => s.process.child.kill('SIGTERM'),
      exited: s.process.exited,
      request: () => s.call('GET', '/v1/users', { token: tok, tenant: a.tenantId }),
      n: 5,
    });
  });

  it('sidecar (its own process, slow backend behind it): the same drain, exit 0', async () => {
    const hop = await startHop();
    cleanups.push(() => hop.close());
    const st: SplitStack = await startSplitStack({
      upstream: (backendUrl) => {
        hop.target = backendUrl;
        return hop.url;
      },
    });
    cleanups.push(() => st.stop());
    const a = await st.createTenant('acme');
    const tok = await st.token(a.tenantId, a.owner.id);
    const port = Number(new URL(st.url).port);
    const get = () =>
      rawRequest(port, 'GET', `/v1/users/${a.owner.id}`, {
        authorization: `Bearer ${tok}`,
        'x-tenant-id': a.tenantId,
      });
    assert.equal((await get()).status, 200);
    await drainWith({
      hop,
      url: st.url,
      adminUrl: st.adminUrl,
      signal: () => st.sidecar.child.kill('SIGTERM'),
      exited: st.sidecar.exited,
      request: get,
      n: 5,
    });
    assert.equal(st.backend.child.exitCode, null, 'the backend was not affected');
  });

  it('backend: a request whose body is still arriving at SIGTERM is answered, then exit 0', async () => {
    const st = await startSplitStack();
    cleanups.push(() => st.stop());
    const a = await st.createTenant('acme');
    const secret = readFileSync(join(st.dataDir, 'trust-secret'), 'utf8').trim();
    const port = Number(new URL(st.backendUrl).port);
    const body = JSON.stringify({ name: 'Late', email: 'late@acme.test', roles: ['user'] });
    const head = rawRequestText('POST', '/v1/users', [
      ['Host', 'x'],
      ['X-Cedargate-Trust', secret],
      ['X-Tenant-ID', a.tenantId],
      ['Content-Type', 'application/json'],
      ['Content-Length', String(body.length)],
    ]);
    const half = Math.floor(body.length / 2);
    // The head and half the body now; SIGTERM while the rest is on its way.
    const exchange = sendRaw(port, [head + body.slice(0, half), body.slice(half)], {
      intervalMs: 1000,
      untilResponses: 1,
      maxMs: 10_000,
    });
    await new Promise((r) => setTimeout(r, 300));
    st.backend.child.kill('SIGTERM');
    const ex = await exchange;
    assert.equal(ex.responses.length, 1, ex.text);
    assert.equal(ex.responses[0]!.status, 201, ex.responses[0]!.body);
    assert.equal(await st.backend.exited, 0);
    // ...and the write is there after a restart.
    await st.startBackend();
    const id = ex.responses[0]?.json?.id;
    assert.ok(id, ex.text);
    const again = await rawRequest(port, 'GET', `/v1/users/${id}`, {
      'x-cedargate-trust': secret,
      'x-tenant-id': a.tenantId,
    });
    assert.equal(again.status, 200, again.text);
  });
});
