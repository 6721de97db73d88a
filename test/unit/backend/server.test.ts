import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBackend, type RunningBackend } from '../../../src/backend/server.js';
import { createLogger } from '../../../src/common/logger.js';
import { TRUST_HEADER } from '../../../src/common/trust.js';
import { loadConfig } from '../../../src/config.js';
import { shippedPolicies, tempDir } from '../../helpers/process.js';

const SECRET = 'server-test-trust-secret';
const dir = tempDir('cedargate-server-');
const config = loadConfig('backend', {
  DATA_DIR: join(dir.path, 'data'),
  POLICY_DIR: shippedPolicies,
  BACKEND_PORT: '0',
  TRUST_SECRET: SECRET,
  MAX_HEADER_BYTES: '2048',
});
let backend: RunningBackend;
let tenant = '';

before(async () => {
  backend = await startBackend(config, createLogger('silent'));
  tenant = (
    await backend.store.createTenant('Acme', {
      name: 'O',
      email: 'o@acme.example',
      roles: ['admin'],
    })
  ).tenant.id;
});
after(async () => {
  await backend.close();
  dir.remove();
});

async function raw(
  bytes: Buffer | string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const socket = connect(backend.port, '127.0.0.1');
  socket.end(bytes);
  let text = '';
  for await (const chunk of socket) text += (chunk as Buffer).toString('latin1');
  const [head = '', body = ''] = text.split('\r\n\r\n');
  return { status: Number(head.split(' ')[1]), body: JSON.parse(body) as Record<string, unknown> };
}

describe('startBackend', () => {
  it('listens on 127.0.0.1 on a free port and serves /healthz', async () => {
    assert.ok(backend.port > 0);
    const res = await fetch(`http://127.0.0.1:${backend.port}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok' });
  });

  it('reads the allowed roles from the shipped schema', async () => {
    const res = await fetch(`http://127.0.0.1:${backend.port}/v1/users`, {
      method: 'POST',
      headers: {
        [TRUST_HEADER]: SECRET,
        'x-tenant-id': tenant,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ name: 'x', email: 'x@acme.example', roles: ['nobody'] }),
    });
    assert.equal(res.status, 422);
    const body = (await res.json()) as { code: string; details: { allowed: string[] } };
    assert.equal(body.code, 'invalid_roles');
    assert.ok(body.details.allowed.includes('admin'));
  });

  it('answers requests node refuses to parse with JSON: control bytes 400, huge headers 431', async () => {
    const bad = await raw(
      Buffer.from(`GET /v1/users HTTP/1.1\r\nHost: x\r\nX-Tenant-ID: a\u0001b\r\n\r\n`, 'latin1'),
    );
    assert.equal(bad.status, 400);
    assert.equal(bad.body['code'], 'invalid_input');
    const big = await raw(
      `GET /v1/users HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(4096)}\r\n\r\n`,
    );
    assert.equal(big.status, 431);
    assert.equal(big.body['code'], 'header_too_large');
    const smuggle = await raw(
      `POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    );
    assert.equal(smuggle.status, 400);
    assert.equal(smuggle.body['code'], 'invalid_input');
  });
});

describe('graceful close', () => {
  it('lets an in-flight request finish, then stops accepting', async () => {
    const local = await startBackend(
      { ...config, dataDir: join(dir.path, 'close') },
      createLogger('silent'),
    );
    const t = (
      await local.store.createTenant('T', { name: 'O', email: 'o@t.example', roles: ['admin'] })
    ).tenant.id;
    const body = JSON.stringify({ name: 'late', email: 'late@t.example', roles: ['user'] });
    const response = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port: local.port,
          method: 'POST',
          path: '/v1/users',
          headers: {
            [TRUST_HEADER]: SECRET,
            'x-tenant-id': t,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('error', reject);
      // Half the body now: the request is in flight when close() starts.
      req.write(body.slice(0, 10));
      setTimeout(() => req.end(body.slice(10)), 100);
    });
    await new Promise((r) => setTimeout(r, 30));
    const closed = local.close();
    const res = await response;
    assert.equal(res.status, 201, res.text);
    await closed;
    await assert.rejects(fetch(`http://127.0.0.1:${local.port}/healthz`));
    await local.close(); // idempotent
  });
});

describe('startBackend with the allowed roles given (start: one loaded schema feeds both)', () => {
  it('checks roles against what the given source says now, not the schema file', async () => {
    const d = tempDir('cedargate-server-roles-');
    let roles: readonly string[] = ['admin', 'user'];
    const b = await startBackend(
      loadConfig('backend', {
        DATA_DIR: join(d.path, 'data'),
        POLICY_DIR: shippedPolicies,
        BACKEND_PORT: '0',
        TRUST_SECRET: SECRET,
      }),
      createLogger('silent'),
      { allowedRoles: () => roles },
    );
    try {
      const t = (
        await b.store.createTenant('Acme', { name: 'O', email: 'o@a.example', roles: ['admin'] })
      ).tenant.id;
      const create = (email: string) =>
        fetch(`http://127.0.0.1:${b.port}/v1/users`, {
          method: 'POST',
          headers: { [TRUST_HEADER]: SECRET, 'x-tenant-id': t, 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'x', email, roles: ['auditor'] }),
        });
      assert.equal((await create('x@a.example')).status, 422);
      roles = ['admin', 'user', 'auditor'];
      assert.equal((await create('y@a.example')).status, 201);
    } finally {
      await b.close();
      d.remove();
    }
  });
});
