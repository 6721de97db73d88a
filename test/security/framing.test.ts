/**
 * security.md lines 15 and 16 over raw sockets: ambiguous framing (Content-Length with
 * Transfer-Encoding, two Content-Lengths, obfuscated Transfer-Encoding) is refused and the
 * connection closed, and no request hidden in a body ever reaches the backend; headers or
 * bodies that trickle in are cut off by the configured timeouts; bodies over the limit are 413.
 * The stack runs with small HEADERS_TIMEOUT_MS / REQUEST_TIMEOUT_MS / BODY_LIMIT_BYTES.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { User } from '../../src/common/user.js';
import { rawRequestText, sendRaw } from '../helpers/raw-http.js';
import type { Stack } from '../helpers/stack.js';
import { startTenantStack } from '../helpers/tenant-stack.js';
import { assertError } from '../helpers/contract.js';

const HEADERS_TIMEOUT_MS = 1000;
const REQUEST_TIMEOUT_MS = 2000;
const BODY_LIMIT_BYTES = 8192;
/** Far above the timeouts: only proves that nothing hung. */
const DID_NOT_HANG_MS = 10_000;

describe('framing and slow clients (security.md 15, 16)', () => {
  let s: Stack;
  let port: number;
  let tA: string;
  let owner: User;
  let victim: User;
  let tok: string;

  before(async () => {
    const t = await startTenantStack('acme', {
      env: {
        HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
        REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
        BODY_LIMIT_BYTES: String(BODY_LIMIT_BYTES),
      },
    });
    ({ stack: s, tenantId: tA, owner, ownerToken: tok } = t);
    port = Number(new URL(s.url).port);
    [{ user: victim }] = await t.seed(['Victim', ['user']]);
  });
  after(async () => s?.stop());
  beforeEach(() => s.recorder.clear());

  const auth = (): [string, string][] => [
    ['Host', 'x'],
    ['Authorization', `Bearer ${tok}`],
    ['X-Tenant-ID', tA],
  ];
  /**
   * The request an attacker hides in a body: deleting the tenant owner. The sidecar denies it
   * (rule 6) whenever it reads it as a request of its own — a pipelined request is a request,
   * not a smuggled one — so a DELETE that reaches the backend can only have been smuggled.
   */
  const smuggled = () =>
    rawRequestText('DELETE', `/v1/users/${owner.id}`, auth()).replace(
      /\r\n\r\n$/,
      '\r\nContent-Length: 0\r\n\r\n',
    );

  async function assertNothingSmuggled(): Promise<void> {
    const deletes = s.recorder.all.filter((f) => f.method === 'DELETE');
    assert.deepEqual(
      deletes.map((f) => f.path),
      [],
      'a DELETE reached the backend',
    );
    const r = await s.call('GET', `/v1/users/${owner.id}`, { token: tok, tenant: tA });
    assert.equal(r.status, 200, 'the owner is still there');
  }

  it('control: two pipelined requests on one connection get two answers (so the counts below mean something)', async () => {
    const get = rawRequestText('GET', `/v1/users/${victim.id}`, auth());
    const ex = await sendRaw(port, [get + get], { untilResponses: 2 });
    assert.deepEqual(
      ex.responses.map((r) => r.status),
      [200, 200],
    );
  });

  it('15. Content-Length with Transfer-Encoding: chunked → 400, connection closed, nothing smuggled', async () => {
    const chunkedBody = `0\r\n\r\n${smuggled()}`;
    const variants: [string, [string, string][]][] = [
      [
        'CL then TE',
        [
          ['Content-Type', 'application/json'],
          ['Content-Length', String(chunkedBody.length)],
          ['Transfer-Encoding', 'chunked'],
        ],
      ],
      [
        'TE then CL',
        [
          ['Content-Type', 'application/json'],
          ['Transfer-Encoding', 'chunked'],
          ['Content-Length', '5'],
        ],
      ],
      [
        'CL 0 with TE',
        [
          ['Content-Type', 'application/json'],
          ['Content-Length', '0'],
          ['Transfer-Encoding', 'chunked'],
        ],
      ],
    ];
    for (const [what, headers] of variants) {
      s.recorder.clear();
      const ex = await sendRaw(
        port,
        rawRequestText('POST', '/v1/users', [...auth(), ...headers], chunkedBody),
      );
      assert.equal(
        ex.responses.length,
        1,
        `${what}: exactly one answer, none for a smuggled request: ${ex.text}`,
      );
      assertError(ex.responses[0]!, 400, 'invalid_input', what);
      assert.ok(ex.closedByServer, `${what}: the connection must be closed`);
      assert.equal(s.recorder.forwarded().length, 0, what);
      await assertNothingSmuggled();
    }
  });

  it('15. two Content-Lengths, or a malformed one → 400, connection closed', async () => {
    const body = '{"name":"x","email":"x@acme.test","roles":["user"]}';
    const variants: [string, [string, string][]][] = [
      [
        'two different',
        [
          ['Content-Length', String(body.length)],
          ['Content-Length', '0'],
        ],
      ],
      [
        'two equal',
        [
          ['Content-Length', String(body.length)],
          ['Content-Length', String(body.length)],
        ],
      ],
      ['one header, two values', [['Content-Length', `${body.length}, ${body.length}`]]],
      ['signed', [['Content-Length', `+${body.length}`]]],
      ['negative', [['Content-Length', '-1']]],
      ['hex', [['Content-Length', `0x${body.length.toString(16)}`]]],
      ['with junk', [['Content-Length', `${body.length}abc`]]],
    ];
    for (const [what, headers] of variants) {
      s.recorder.clear();
      const ex = await sendRaw(
        port,
        rawRequestText(
          'POST',
          '/v1/users',
          [...auth(), ['Content-Type', 'application/json'], ...headers],
          body + smuggled(),
        ),
      );
      assert.ok(ex.responses.length >= 1, `${what}: ${ex.text}`);
      assertError(ex.responses[0]!, 400, 'invalid_input', what);
      assert.equal(
        ex.responses.length,
        1,
        `${what}: a second answer means a second request was read: ${ex.text}`,
      );
      assert.ok(ex.closedByServer, `${what}: the connection must be closed`);
      assert.equal(s.recorder.forwarded().length, 0, what);
      await assertNothingSmuggled();
    }
  });

  it('15. obfuscated Transfer-Encoding → refused; no request hidden in a body reaches the backend', async () => {
    const chunk = (text: string) =>
      `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n0\r\n\r\n`;
    const variants: [string, string][] = [
      ['xchunked', 'Transfer-Encoding: xchunked'],
      ['chunked, identity', 'Transfer-Encoding: chunked, identity'],
      ['identity', 'Transfer-Encoding: identity'],
      ['two TE headers', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: identity'],
      ['space before colon', 'Transfer-Encoding : chunked'],
      ['tab in value', 'Transfer-Encoding:\tchunked\t'],
      ['vertical tab', 'Transfer-Encoding: \u000bchunked'],
      ['line folding', 'Transfer-Encoding:\r\n chunked'],
      ['upper case', 'TRANSFER-ENCODING: CHUNKED'],
    ];
    for (const [what, te] of variants) {
      s.recorder.clear();
      const head = `POST /v1/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tok}\r\nX-Tenant-ID: ${tA}\r\nContent-Type: application/json\r\n${te}\r\n\r\n`;
      const ex = await sendRaw(port, head + chunk('{"name":"x"}') + smuggled(), { idleMs: 1000 });
      assert.ok(ex.responses.length >= 1, `${what}: no answer: ${ex.text}`);
      for (const r of ex.responses)
        assert.ok(r.status >= 400 && r.status < 500, `${what}: ${r.status} ${r.body}`);
      assert.equal(typeof ex.responses[0]!.json?.code, 'string', `${what}: ${ex.text}`);
      await assertNothingSmuggled();
    }
  });

  it('15. a chunked body on a route that takes none → 400, closed; its contents are never a request', async () => {
    const inner = smuggled();
    const body = `${Buffer.byteLength(inner).toString(16)}\r\n${inner}\r\n0\r\n\r\n`;
    const ex = await sendRaw(
      port,
      rawRequestText('GET', '/v1/users', [...auth(), ['Transfer-Encoding', 'chunked']], body),
    );
    assert.equal(ex.responses.length, 1, ex.text);
    assertError(ex.responses[0]!, 400, 'invalid_input');
    assert.ok(ex.closedByServer);
    await assertNothingSmuggled();
  });

  it('16. headers sent one byte at a time → closed within the headers timeout, never forwarded', async () => {
    const head = rawRequestText('GET', `/v1/users/${victim.id}`, [
      ...auth(),
      ['X-Padding', 'p'.repeat(400)],
    ]);
    const bytes = [...head].map((c) => c); // one byte per write
    const ex = await sendRaw(port, bytes, { intervalMs: 20, maxMs: DID_NOT_HANG_MS + 5000 });
    assert.ok(ex.closedByServer, `the server kept a trickling client for ${ex.elapsedMs} ms`);
    assert.ok(ex.elapsedMs < DID_NOT_HANG_MS, `closed after ${ex.elapsedMs} ms`);
    for (const r of ex.responses) assert.equal(r.status, 408, ex.text);
    assert.equal(
      s.recorder.all.filter((r) => r.method !== 'GET' || r.path !== '/healthz').length,
      0,
    );
  });

  it('16. a body that trickles in → closed within the request timeout, never forwarded', async () => {
    const body = JSON.stringify({ name: 'slow' });
    const head = rawRequestText('PUT', `/v1/users/${victim.id}`, [
      ...auth(),
      ['Content-Type', 'application/json'],
      ['Content-Length', String(body.length + 200)],
    ]);
    const ex = await sendRaw(port, [head, ...[...`${body}${' '.repeat(200)}`]], {
      intervalMs: 100,
      maxMs: DID_NOT_HANG_MS + 5000,
    });
    assert.ok(ex.closedByServer, `the server kept a trickling body for ${ex.elapsedMs} ms`);
    assert.ok(ex.elapsedMs < DID_NOT_HANG_MS, `closed after ${ex.elapsedMs} ms`);
    assert.equal(s.recorder.forwarded().length, 0);
    // The sidecar forgot the abandoned request and keeps serving.
    const r = await s.call('GET', `/v1/users/${victim.id}`, { token: tok, tenant: tA });
    assert.equal(r.status, 200);
    assert.equal(r.body.name, 'Victim');
  });

  it('16. a body over the limit → 413 (declared or streamed), never forwarded, connection closed', async () => {
    const big = JSON.stringify({ name: 'x'.repeat(BODY_LIMIT_BYTES) });
    const declared = await sendRaw(
      port,
      rawRequestText(
        'PUT',
        `/v1/users/${victim.id}`,
        [...auth(), ['Content-Type', 'application/json'], ['Content-Length', String(big.length)]],
        big,
      ),
    );
    assert.equal(declared.responses.length, 1, declared.text);
    assertError(declared.responses[0]!, 413, 'payload_too_large');
    assert.ok(declared.closedByServer);
    const chunks = [];
    for (let i = 0; i < big.length; i += 1000) {
      const part = big.slice(i, i + 1000);
      chunks.push(`${part.length.toString(16)}\r\n${part}\r\n`);
    }
    const streamed = await sendRaw(
      port,
      rawRequestText(
        'PUT',
        `/v1/users/${victim.id}`,
        [...auth(), ['Content-Type', 'application/json'], ['Transfer-Encoding', 'chunked']],
        chunks.join('') + '0\r\n\r\n' + smuggled(),
      ),
    );
    assert.equal(streamed.responses.length, 1, streamed.text);
    assertError(streamed.responses[0]!, 413, 'payload_too_large');
    assert.ok(streamed.closedByServer);
    // A claimed length far beyond the limit is refused before a byte of body is sent.
    const claimed = await sendRaw(
      port,
      rawRequestText('PUT', `/v1/users/${victim.id}`, [
        ...auth(),
        ['Content-Type', 'application/json'],
        ['Content-Length', String(1024 ** 3)],
      ]),
      { idleMs: 2000 },
    );
    assert.equal(claimed.responses.length, 1, claimed.text);
    assertError(claimed.responses[0]!, 413, 'payload_too_large');
    assert.equal(s.recorder.forwarded().length, 0);
    await assertNothingSmuggled();
  });
});
