/**
 * The real `cedargate backend` process on a free port, over real sockets: restarts, If-Match
 * races, 100 concurrent writers, `kill -9` durability, and `tenant create` while it runs.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort, waitFor } from '../helpers/net.js';
import {
  runCli,
  shippedPolicies,
  startCli,
  tempDir,
  type RunningProcess,
} from '../helpers/process.js';
import { versionOf } from '../helpers/contract.js';

const dir = tempDir('cedargate-e2e-backend-');
const dataDir = join(dir.path, 'data');
let port = 0;
let env: Record<string, string> = {};
let proc: RunningProcess | undefined;
let secret = '';
let tenant = '';

async function startBackendProcess(): Promise<RunningProcess> {
  const p = startCli(['backend'], env);
  await waitFor(
    async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok,
    15_000,
    `backend on ${port}\n${p.output()}`,
  );
  return p;
}

function api(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: {
      'x-cedargate-trust': secret,
      'x-tenant-id': tenant,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

before(async () => {
  port = await freePort();
  env = { DATA_DIR: dataDir, POLICY_DIR: shippedPolicies, BACKEND_PORT: String(port) };
  proc = await startBackendProcess();
  secret = readFileSync(join(dataDir, 'trust-secret'), 'utf8').trim();
});

after(async () => {
  await proc?.stop('SIGKILL');
  dir.remove();
});

describe('cedargate backend (process)', () => {
  it('tenant create works against the same DATA_DIR while the backend runs', async () => {
    const res = await runCli(
      [
        'tenant',
        'create',
        '--name',
        'Acme',
        '--owner-name',
        'Ada',
        '--owner-email',
        'ada@acme.example',
      ],
      env,
    );
    assert.equal(res.code, 0, res.stderr);
    const out = JSON.parse(res.stdout) as { tenant: { id: string }; owner: { id: string } };
    tenant = out.tenant.id;
    const owner = await api('GET', `/v1/users/${out.owner.id}`);
    assert.equal(owner.status, 200);
    assert.equal(((await owner.json()) as { is_owner: boolean }).is_owner, true);
  });

  it('refuses requests that did not come through the sidecar', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/v1/users`, {
      headers: { 'x-tenant-id': tenant },
    });
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { code: string }).code, 'unauthenticated');
  });

  it('two PUTs with the same If-Match: one 200, one 412', async () => {
    const created = await api('POST', '/v1/users', {
      name: 'Race',
      email: 'race@acme.example',
      roles: ['user'],
    });
    assert.equal(created.status, 201);
    const { id } = (await created.json()) as { id: string };
    const etag = created.headers.get('etag') ?? '';
    const results = await Promise.all(
      ['one', 'two'].map((name) => api('PUT', `/v1/users/${id}`, { name }, { 'if-match': etag })),
    );
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 412]);
    const loser = results.find((r) => r.status === 412);
    assert.equal(((await loser?.json()) as { code: string }).code, 'precondition_failed');
  });

  it('100 concurrent PUTs, each retrying on 412, lose nothing', async () => {
    const created = await api('POST', '/v1/users', {
      name: 'Busy',
      email: 'busy@acme.example',
      roles: [],
    });
    const { id } = (await created.json()) as { id: string };
    const start = versionOf(created.headers.get('etag'));
    let conflicts = 0;
    await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        for (;;) {
          const current = await api('GET', `/v1/users/${id}`);
          assert.equal(current.status, 200);
          const res = await api(
            'PUT',
            `/v1/users/${id}`,
            { name: `writer ${i}` },
            { 'if-match': current.headers.get('etag') ?? '' },
          );
          if (res.status === 200) return;
          assert.equal(res.status, 412, await res.text());
          conflicts++;
        }
      }),
    );
    const final = await api('GET', `/v1/users/${id}`);
    assert.equal(versionOf(final.headers.get('etag')), start + 100);
    assert.match(((await final.json()) as { name: string }).name, /^writer \d+$/);
    assert.ok(conflicts > 0, 'the writers did contend');
  });

  it('keeps data across a graceful restart (SIGTERM exits 0)', async () => {
    const created = await api('POST', '/v1/users', {
      name: 'Kept',
      email: 'kept@acme.example',
      roles: ['viewer'],
    });
    const user = (await created.json()) as { id: string };
    assert.equal(await proc?.stop('SIGTERM'), 0);
    proc = await startBackendProcess();
    const again = await api('GET', `/v1/users/${user.id}`);
    assert.equal(again.status, 200);
    assert.deepEqual(await again.json(), user);
  });

  it('keeps every acknowledged write across kill -9', async () => {
    const acknowledged: string[] = [];
    let killed = false;
    const writer = (async () => {
      for (let i = 0; ; i++) {
        try {
          const res = await api('POST', '/v1/users', {
            name: `w${i}`,
            email: `w${i}@acme.example`,
            roles: [],
          });
          if (res.status !== 201) return;
          acknowledged.push(((await res.json()) as { id: string }).id);
        } catch {
          return; // the process is gone
        }
        if (acknowledged.length === 40 && !killed) {
          killed = true;
          proc?.child.kill('SIGKILL');
        }
      }
    })();
    await writer;
    assert.ok(acknowledged.length >= 40);
    await proc?.exited;
    proc = await startBackendProcess();
    for (const id of acknowledged) {
      assert.equal((await api('GET', `/v1/users/${id}`)).status, 200, id);
    }
  });
});
