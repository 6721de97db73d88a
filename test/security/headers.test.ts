/**
 * security.md lines 11–14 over raw sockets (no HTTP client would send these): repeated identity
 * headers, hop-by-hop abuse of `Connection`, identity and override headers from the client, and
 * bytes in `X-Tenant-ID` that are not an id. The recorder shows what the backend received.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { User } from '../../src/common/user.js';
import { rawRequestText, sendRaw, type RawResponse } from '../helpers/raw-http.js';
import type { Stack } from '../helpers/stack.js';
import { openTenant, startTenantStack } from '../helpers/tenant-stack.js';
import { assertError } from '../helpers/contract.js';

describe('headers (security.md 11–14)', () => {
  let s: Stack;
  let port: number;
  let tA: string;
  let tB: string;
  let ownerA: User;
  let viewer: User;
  let trustSecret: string;
  const tok = {} as Record<'ownerA' | 'ownerB' | 'viewer', string>;

  before(async () => {
    const a = await startTenantStack('acme');
    s = a.stack;
    port = Number(new URL(s.url).port);
    const b = await openTenant(s, 'globex');
    [tA, tB, ownerA] = [a.tenantId, b.tenantId, a.owner];
    [tok.ownerA, tok.ownerB] = [a.ownerToken, b.ownerToken];
    [{ user: viewer, token: tok.viewer }] = await a.seed(['Viewer', ['viewer']]);
    trustSecret = readFileSync(join(s.dataDir, 'trust-secret'), 'utf8').trim();
  });
  after(async () => s?.stop());
  beforeEach(() => s.recorder.clear());

  /** One raw request on its own connection; exactly one response expected. */
  async function one(
    method: string,
    target: string,
    headers: [string, string][],
    body = '',
  ): Promise<RawResponse> {
    const all: [string, string][] = [['Host', 'x'], ...headers, ['Connection', 'close']];
    if (body !== '') all.push(['Content-Length', String(Buffer.byteLength(body, 'latin1'))]);
    const ex = await sendRaw(port, rawRequestText(method, target, all, body), { idleMs: 1500 });
    assert.equal(ex.responses.length, 1, `${method} ${target}: ${ex.text}`);
    return ex.responses[0]!;
  }

  it('11. two X-Tenant-ID or two Authorization headers → 400, never forwarded', async () => {
    const auth = (t: string): [string, string] => ['Authorization', `Bearer ${t}`];
    const cases: [string, [string, string][]][] = [
      ['two equal X-Tenant-ID', [auth(tok.ownerA), ['X-Tenant-ID', tA], ['X-Tenant-ID', tA]]],
      ['two different X-Tenant-ID', [auth(tok.ownerA), ['X-Tenant-ID', tA], ['X-Tenant-ID', tB]]],
      [
        'X-Tenant-ID in two spellings',
        [auth(tok.ownerA), ['x-tenant-id', tB], ['X-TENANT-ID', tA]],
      ],
      ['two equal Authorization', [auth(tok.ownerA), auth(tok.ownerA), ['X-Tenant-ID', tA]]],
      ['two different Authorization', [auth(tok.viewer), auth(tok.ownerA), ['X-Tenant-ID', tA]]],
      ['Authorization of two tenants', [auth(tok.ownerB), auth(tok.ownerA), ['X-Tenant-ID', tA]]],
    ];
    for (const [what, headers] of cases) {
      for (const [method, target] of [
        ['GET', '/v1/users'],
        ['DELETE', `/v1/users/${viewer.id}`],
      ] as const) {
        assertError(await one(method, target, headers), 400, 'invalid_input', `${what} ${method}`);
      }
    }
    // Two values joined into one header by a client or a proxy are not an id either.
    assertError(
      await one('GET', '/v1/users', [auth(tok.ownerA), ['X-Tenant-ID', `${tA}, ${tB}`]]),
      400,
      'invalid_input',
    );
    assert.equal(s.recorder.forwarded().length, 0);
    const still = await s.call('GET', `/v1/users/${viewer.id}`, { token: tok.ownerA, tenant: tA });
    assert.equal(still.status, 200, 'the DELETEs above did not happen');
  });

  it('11/contract §4 order: with no credential at all, a duplicate header or a missing Host is 401, not 400', async () => {
    const cases: [string, [string, string][]][] = [
      [
        'two X-Tenant-ID',
        [
          ['X-Tenant-ID', tA],
          ['X-Tenant-ID', tA],
        ],
      ],
      [
        'two Content-Type',
        [
          ['X-Tenant-ID', tA],
          ['Content-Type', 'application/json'],
          ['Content-Type', 'text/plain'],
        ],
      ],
      [
        'two If-Match',
        [
          ['X-Tenant-ID', tA],
          ['If-Match', '"1"'],
          ['If-Match', '"2"'],
        ],
      ],
      [
        'two X-Request-ID',
        [
          ['X-Tenant-ID', tA],
          ['X-Request-ID', 'a'],
          ['X-Request-ID', 'b'],
        ],
      ],
    ];
    for (const [what, headers] of cases) {
      const r = await one('DELETE', `/v1/users/${viewer.id}`, headers);
      assertError(r, 401, 'unauthenticated', `no credential, ${what}`);
      assert.match(r.headers['www-authenticate'] ?? '', /^Bearer/);
    }
    const noHost = await sendRaw(
      port,
      `DELETE /v1/users/${viewer.id} HTTP/1.1\r\nX-Tenant-ID: ${tA}\r\nConnection: close\r\n\r\n`,
      { idleMs: 1000 },
    );
    assert.equal(noHost.responses.length, 1, noHost.text);
    assertError(noHost.responses[0]!, 401, 'unauthenticated', 'no credential, no Host');
    // With a valid credential the same requests are still 400 (the credential comes first).
    const auth: [string, string] = ['Authorization', `Bearer ${tok.ownerA}`];
    for (const [what, headers] of cases) {
      const r = await one('DELETE', `/v1/users/${viewer.id}`, [auth, ...headers]);
      assertError(r, 400, 'invalid_input', `credential, ${what}`);
    }
    const hostless = await sendRaw(
      port,
      `DELETE /v1/users/${viewer.id} HTTP/1.1\r\nAuthorization: Bearer ${tok.ownerA}\r\nX-Tenant-ID: ${tA}\r\nConnection: close\r\n\r\n`,
      { idleMs: 1000 },
    );
    assertError(hostless.responses[0]!, 400, 'invalid_input', 'credential, no Host');
    assert.equal(s.recorder.forwarded().length, 0);
  });

  it('12. Connection naming identity headers (hop-by-hop abuse): the backend still gets the verified values', async () => {
    const victims = [
      'X-Tenant-ID',
      'X-Tenant-ID, Authorization',
      'x-cedargate-subject',
      'X-Cedargate-Trust',
      'If-Match',
      'Content-Length',
      'Content-Type',
      'X-Request-ID',
    ];
    for (const named of victims) {
      for (const conn of [`close, ${named}`, `keep-alive, ${named}`, named]) {
        s.recorder.clear();
        const body = JSON.stringify({ name: 'Viewer' });
        const ex = await sendRaw(
          port,
          rawRequestText(
            'PUT',
            `/v1/users/${viewer.id}`,
            [
              ['Host', 'x'],
              ['Authorization', `Bearer ${tok.viewer}`],
              ['X-Tenant-ID', tA],
              ['Connection', conn],
              ['Content-Type', 'application/json'],
              ['Content-Length', String(body.length)],
            ],
            body,
          ),
          { idleMs: 1500, untilResponses: 1 },
        );
        assert.equal(ex.responses.length, 1, `${conn}: ${ex.text}`);
        const r = ex.responses[0]!;
        if (r.status === 400) {
          assertError(r, 400, 'invalid_input', conn);
          assert.equal(s.recorder.forwarded().length, 0, conn);
          continue;
        }
        assert.equal(r.status, 200, `Connection: ${conn}: ${r.status} ${r.body}`);
        const fwd = s.recorder.forwarded();
        assert.equal(fwd.length, 1, conn);
        const h = fwd[0]!.headers;
        assert.equal(h['x-tenant-id'], tA.toUpperCase(), `${conn}: tenant`);
        assert.equal(h['x-cedargate-subject'], viewer.id.toUpperCase(), `${conn}: subject`);
        assert.equal(h['x-cedargate-trust'], trustSecret, `${conn}: trust`);
        assert.equal(
          h['content-length'],
          String(Buffer.byteLength(fwd[0]!.body)),
          `${conn}: framing`,
        );
        assert.deepEqual(JSON.parse(fwd[0]!.body), { name: 'Viewer' });
        assert.match(String(h['if-match']), /^".+"$/, `${conn}: the decided version`);
        assert.ok(
          !String(h.connection ?? '')
            .toLowerCase()
            .includes('x-tenant-id'),
          `${conn}: the client's Connection list was forwarded`,
        );
      }
    }
  });

  it('13. identity, X-Forwarded-* and method-override headers from the client are stripped or overwritten', async () => {
    const spoofed: [string, string][] = [
      ['X-Cedargate-Subject', ownerA.id],
      ['X-Cedargate-Trust', 'guess'],
      ['X-Cedargate-Decision', 'allow'],
      ['X-Forwarded-For', '6.6.6.6'],
      ['X-Forwarded-Host', 'evil.example'],
      ['X-Forwarded-Proto', 'https'],
      ['X-Forwarded-Prefix', '/admin'],
      ['Forwarded', 'for=6.6.6.6;host=evil.example'],
      ['X-Real-IP', '6.6.6.6'],
      ['X-HTTP-Method-Override', 'DELETE'],
      ['X-HTTP-Method', 'DELETE'],
      ['X-Method-Override', 'DELETE'],
      ['X-Original-URL', `/v1/users/${ownerA.id}`],
      ['X-Rewrite-URL', `/v1/users/${ownerA.id}`],
      ['X-Original-Method', 'DELETE'],
      ['Cookie', 'session=1'],
      ['Proxy-Authorization', 'Basic eDp5'],
      ['Upgrade', 'websocket'],
      ['TE', 'trailers'],
      ['Expect', '100-continue'],
    ];
    const base: [string, string][] = [
      ['Authorization', `Bearer ${tok.viewer}`],
      ['X-Tenant-ID', tA],
    ];
    // An allowed read and an allowed self-rename, with every spoofed header.
    const read = await one('GET', `/v1/users/${viewer.id}`, [...base, ...spoofed]);
    assert.equal(read.status, 200, read.body);
    const body = JSON.stringify({ name: 'Viewer' });
    const write = await one(
      'PUT',
      `/v1/users/${viewer.id}`,
      [...base, ...spoofed, ['Content-Type', 'application/json']],
      body,
    );
    assert.equal(write.status, 200, write.body);
    const fwd = s.recorder.forwarded();
    assert.deepEqual(
      fwd.map((f) => f.method),
      ['GET', 'PUT'],
    );
    for (const f of fwd) {
      assert.equal(f.path, `/v1/users/${viewer.id.toUpperCase()}`);
      assert.equal(f.headers['x-cedargate-subject'], viewer.id.toUpperCase());
      assert.equal(f.headers['x-cedargate-trust'], trustSecret);
      assert.equal(f.headers['x-tenant-id'], tA.toUpperCase());
      assert.equal(f.headers.authorization, undefined);
      for (const [name] of spoofed) {
        const got = f.headers[name.toLowerCase()];
        if (['x-cedargate-subject', 'x-cedargate-trust'].includes(name.toLowerCase())) continue;
        assert.equal(
          got,
          undefined,
          `${f.method}: the backend received the client's ${name}: ${String(got)}`,
        );
      }
    }
    // The same spoofed headers on a denied request: nothing reaches the backend at all.
    s.recorder.clear();
    assertError(
      await one('DELETE', `/v1/users/${ownerA.id}`, [...base, ...spoofed]),
      403,
      'forbidden',
    );
    assert.equal(s.recorder.forwarded().length, 0);
    // And the sidecar's decision marker cannot be planted in a response: enforce mode never sets it.
    assert.equal(read.headers['x-cedargate-decision'], undefined);
  });

  it('14. non-UTF-8 or control bytes in X-Tenant-ID → 400, never forwarded', async () => {
    const auth: [string, string] = ['Authorization', `Bearer ${tok.ownerA}`];
    const values = [
      `${tA}\u00ff`,
      `\u00fe\u00ff${tA}`,
      Buffer.from(`${tA}é`, 'utf8').toString('latin1'), // UTF-8 bytes after the id
      `${tA.slice(0, -1)}\u0410`.replace(
        '\u0410',
        Buffer.from('\u0410', 'utf8').toString('latin1'),
      ), // Cyrillic А as UTF-8
      `${tA}\u0000`,
      `${tA}\u0001`,
      `${tA}\u007f`,
      `${tA}\u001b[31m`,
      `${tA}\tX`,
      `${tA}\rX`,
      `${tA.slice(0, 8)}\u0000${tA.slice(9)}`,
      '\u0000',
      '',
    ];
    for (const v of values) {
      const r = await one('GET', '/v1/users', [auth, ['X-Tenant-ID', v]]);
      assertError(r, 400, 'invalid_input', JSON.stringify(v));
    }
    // A bare LF inside the value ends the header: whatever follows must not become a header.
    const ex = await sendRaw(
      port,
      `GET /v1/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tok.ownerA}\r\nX-Tenant-ID: ${tB}\nX-Tenant-ID: ${tA}\r\nConnection: close\r\n\r\n`,
      { idleMs: 1000 },
    );
    assert.ok(
      ex.responses.length >= 1 && ex.responses.every((r) => r.status === 400 || r.status === 403),
      ex.text,
    );
    assert.equal(s.recorder.forwarded().length, 0);
  });
});
