/**
 * A client that gives up on a write while the backend is still working on it (a load
 * generator's deadline, a phone losing signal, a gateway's timeout). Writes to one user through
 * one replica run one after another (write-queue.ts), so the abandoned write must still end:
 * before the fix it never did, and every later write to that user waited for good — the
 * benchmark's name PUT fell from ~1,000 to ~24 requests/s once its warm-up had been cut off.
 * The write that reached the backend is kept: the next request sees it.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { User } from '../../src/common/user.js';
import { waitFor } from '../helpers/net.js';
import type { Stack } from '../helpers/stack.js';
import { startTenantStack } from '../helpers/tenant-stack.js';

/** Far above any answer here: a later write that takes this long is stuck behind the first. */
const STUCK_MS = 10_000;

describe('a write abandoned by its client while the backend holds it', () => {
  let s: Stack;
  let tenant: string;
  let uma: User;
  let tok: string;

  before(async () => {
    const t = await startTenantStack('acme');
    ({ stack: s, tenantId: tenant, ownerToken: tok } = t);
    [{ user: uma }] = await t.seed(['Uma', ['user']]);
  });
  after(async () => s?.stop());

  for (const method of ['PUT', 'DELETE'] as const) {
    it(`${method}: the next write to that user is answered, not queued behind it for good`, async () => {
      const target = method === 'PUT' ? uma : await s.createUser(tenant, tok, 'Dee', ['user']);
      const port = Number(new URL(s.url).port);
      s.recorder.delayMs = 1500;
      const seen = s.recorder.seen();
      const body = method === 'PUT' ? JSON.stringify({ name: 'Abandoned' }) : undefined;
      const gone = request({
        host: '127.0.0.1',
        port,
        method,
        path: `/v1/users/${target.id}`,
        agent: false,
        headers: {
          authorization: `Bearer ${tok}`,
          'x-tenant-id': tenant,
          ...(body !== undefined && { 'content-type': 'application/json' }),
        },
      });
      gone.on('error', () => undefined);
      gone.end(body);
      await waitFor(
        async () => s.recorder.seen() > seen,
        10_000,
        'the write never reached the backend',
      );
      gone.destroy();
      // The backend answers the abandoned write; no one is there to read it.
      await waitFor(async () => s.recorder.inFlight() === 0, 10_000, 'the backend never answered');
      s.recorder.delayMs = 0;

      const next =
        method === 'PUT'
          ? s.call('PUT', `/v1/users/${target.id}`, { token: tok, tenant, body: { name: 'Next' } })
          : s.call('DELETE', `/v1/users/${target.id}`, { token: tok, tenant });
      const r = await Promise.race([
        next,
        new Promise<'stuck'>((res) => setTimeout(() => res('stuck'), STUCK_MS).unref()),
      ]);
      assert.ok(r !== 'stuck', `the next ${method} waited ${STUCK_MS} ms behind the abandoned one`);
      if (method === 'PUT') {
        // The abandoned rename was applied; the next one is decided on its version.
        assert.equal(r.status, 200, r.text);
        assert.equal(r.body.name, 'Next');
      } else {
        // The abandoned delete was applied: the user is gone.
        assert.equal(r.status, 404, r.text);
      }
    });
  }
});
