/**
 * The server limits and timeouts of src/config.ts are actually applied (brief item 3):
 * - keep-alive ordering: the sidecar lets go of an idle backend connection before the backend
 *   would close it, so no request is ever written onto a socket that is being closed;
 * - the backend's own headers timeout cuts a slow client off (node checks only every 30 s unless
 *   told otherwise);
 * - contradictory settings stop the process at start, naming the variable.
 * (The sidecar's header size, headers/request timeouts and body limit: test/security/framing and
 * credentials.)
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { freePort, waitFor } from '../helpers/net.js';
import { sendRaw } from '../helpers/raw-http.js';
import { runCli, shippedPolicies, tempDir } from '../helpers/process.js';
import { startTenantStack } from '../helpers/tenant-stack.js';
import { startSplitStack } from '../helpers/split-stack.js';
import { startHop } from '../helpers/hop.js';

describe('server limits and timeouts are applied', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups) await c();
  });

  it('keep-alive ordering: every idle sidecar→backend connection is closed by the sidecar first', async () => {
    const BACKEND_KEEP_ALIVE_MS = 3000;
    const hop = await startHop({ keepAliveTimeoutMs: BACKEND_KEEP_ALIVE_MS });
    cleanups.push(() => hop.close());
    const a = await startTenantStack('acme', {
      env: { UPSTREAM_URL: hop.url, KEEP_ALIVE_TIMEOUT_MS: String(BACKEND_KEEP_ALIVE_MS) },
    });
    const { stack: s, ownerToken: tok } = a;
    cleanups.push(() => s.stop());
    hop.target = s.recorder.url;
    // Lookups and forwards, a few at once so that the agent opens several sockets.
    const rs = await Promise.all(
      Array.from({ length: 4 }, () =>
        s.call('GET', '/v1/users', { token: tok, tenant: a.tenantId }),
      ),
    );
    for (const r of rs) assert.equal(r.status, 200, r.text);
    assert.ok(hop.connections().open > 0);
    await waitFor(() => hop.connections().open === 0, 15_000, 'the idle connections to close');
    const c = hop.connections();
    assert.equal(
      c.closedByHop,
      0,
      `the backend side had to close ${c.closedByHop} idle connection(s): the sidecar could have reused one mid-close`,
    );
    assert.ok(c.closedByClient > 0);
  });

  it('the backend process applies HEADERS_TIMEOUT_MS to a client that trickles its headers', async () => {
    const st = await startSplitStack({
      env: { HEADERS_TIMEOUT_MS: '1000', REQUEST_TIMEOUT_MS: '2000' },
    });
    cleanups.push(() => st.stop());
    const port = Number(new URL(st.backendUrl).port);
    const head = `GET /v1/users HTTP/1.1\r\nHost: x\r\nX-Padding: ${'p'.repeat(300)}\r\n\r\n`;
    const ex = await sendRaw(port, [...head], { intervalMs: 20, maxMs: 15_000 });
    assert.ok(ex.closedByServer, `the backend held a trickling client for ${ex.elapsedMs} ms`);
    assert.ok(ex.elapsedMs < 10_000, `closed after ${ex.elapsedMs} ms`);
  });

  it('contradictory limits stop the process at start with the variable named', async () => {
    const dir = tempDir('cedargate-limits-');
    try {
      const base = {
        DATA_DIR: dir.path,
        POLICY_DIR: shippedPolicies,
        HOST: '127.0.0.1',
        PORT: String(await freePort()),
        ADMIN_PORT: String(await freePort()),
        BACKEND_PORT: String(await freePort()),
      };
      const bad: [Record<string, string>, RegExp][] = [
        [{ HEADERS_TIMEOUT_MS: '5000', REQUEST_TIMEOUT_MS: '1000' }, /HEADERS_TIMEOUT_MS/],
        [
          { KEEP_ALIVE_TIMEOUT_MS: '2000', UPSTREAM_IDLE_TIMEOUT_MS: '2000' },
          /UPSTREAM_IDLE_TIMEOUT_MS/,
        ],
        [{ BODY_LIMIT_BYTES: '10' }, /BODY_LIMIT_BYTES/],
        [{ MAX_HEADER_BYTES: 'lots' }, /MAX_HEADER_BYTES/],
      ];
      for (const [env, name] of bad) {
        const r = await runCli(['start'], { ...base, ...env });
        assert.notEqual(r.code, 0, `started with ${JSON.stringify(env)}`);
        assert.match(r.stderr + r.stdout, name, JSON.stringify(env));
        assert.match(r.stderr + r.stdout, /example/, 'the error shows an example');
      }
    } finally {
      dir.remove();
    }
  });
});
