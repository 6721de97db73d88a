/**
 * security.md lines 17 and 18 through the running sidecar: bodies that are not UTF-8 JSON are
 * 415, malformed or ambiguous JSON is 400, and neither is ever forwarded; what is forwarded is
 * exactly the object that was decided on, re-serialized, never the client's bytes.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { User } from '../../src/common/user.js';
import { rawRequestText, sendRaw } from '../helpers/raw-http.js';
import type { Stack } from '../helpers/stack.js';
import { startTenantStack } from '../helpers/tenant-stack.js';
import { assertError } from '../helpers/contract.js';

describe('bodies (security.md 17, 18)', () => {
  let s: Stack;
  let tA: string;
  let target: User;
  let tok: string;

  before(async () => {
    const t = await startTenantStack('acme');
    ({ stack: s, tenantId: tA, ownerToken: tok } = t);
    [{ user: target }] = await t.seed(['Target', ['user']]);
  });
  after(async () => s?.stop());
  beforeEach(() => s.recorder.clear());

  const send = (
    method: string,
    path: string,
    rawBody: string | undefined,
    contentType: string | undefined,
    extra: Record<string, string> = {},
  ) => {
    const headers: Record<string, string> = { ...extra };
    if (contentType !== undefined) headers['content-type'] = contentType;
    const o: Parameters<Stack['call']>[2] = { token: tok, tenant: tA, headers };
    if (rawBody !== undefined) o.rawBody = rawBody;
    return s.call(method, path, o);
  };
  const put = (
    raw: string,
    ct: string | undefined = 'application/json',
    extra: Record<string, string> = {},
  ) => send('PUT', `/v1/users/${target.id}`, raw, ct, extra);
  const post = (
    raw: string,
    ct: string | undefined = 'application/json',
    extra: Record<string, string> = {},
  ) => send('POST', '/v1/users', raw, ct, extra);

  it('17. bodies that are not UTF-8 JSON → 415, never forwarded', async () => {
    const body = '{"name":"x"}';
    const types = [
      'text/plain',
      'text/plain; charset=utf-8',
      'application/json; charset=utf-16',
      'application/json; charset=UTF-16LE',
      'application/json; charset="utf-16"',
      'application/json; charset=latin1',
      'application/json; charset=utf-8; charset=utf-16',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/jsonx',
      'application/json-patch+json',
      'application/merge-patch+json',
      'application/xml',
      'json',
      '',
    ];
    for (const ct of types) {
      assertError(await put(body, ct), 415, 'unsupported_media_type', `PUT ${ct}`);
      assertError(
        await post('{"name":"x","email":"x@acme.test","roles":["user"]}', ct),
        415,
        'unsupported_media_type',
        `POST ${ct}`,
      );
    }
    assertError(
      await send('PUT', `/v1/users/${target.id}`, body, undefined),
      415,
      'unsupported_media_type',
      'no Content-Type',
    );
    assert.equal(s.recorder.forwarded().length, 0);
    // Accepted spellings of JSON, as a control.
    for (const ct of [
      'application/json',
      'Application/JSON',
      'application/json; charset=utf-8',
      'application/json;charset="UTF-8"',
    ]) {
      s.recorder.clear();
      const r = await put('{"name":"Target"}', ct);
      assert.equal(r.status, 200, `${ct}: ${r.text}`);
      assert.equal(s.recorder.forwarded()[0]?.headers['content-type'], 'application/json');
    }
  });

  it('17. a UTF-16 body, whatever the header says, and compressed bodies are refused, never forwarded', async () => {
    const utf16 = Buffer.from('{"name":"x"}', 'utf16le');
    const port = Number(new URL(s.url).port);
    for (const [what, bytes, extra] of [
      ['UTF-16 bytes labelled UTF-8', Buffer.concat([Buffer.from([0xff, 0xfe]), utf16]), []],
      ['UTF-16 bytes without a BOM', utf16, []],
      [
        'gzip',
        Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00]),
        [['Content-Encoding', 'gzip']],
      ],
    ] as [string, Buffer, [string, string][]][]) {
      const head = rawRequestText('PUT', `/v1/users/${target.id}`, [
        ['Host', 'x'],
        ['Authorization', `Bearer ${tok}`],
        ['X-Tenant-ID', tA],
        ['Content-Type', 'application/json'],
        ['Content-Length', String(bytes.length)],
        ['Connection', 'close'],
        ...extra,
      ]);
      const ex = await sendRaw(port, [head, bytes]);
      assert.equal(ex.responses.length, 1, ex.text);
      const r = ex.responses[0]!;
      assert.ok(r.status === 400 || r.status === 415, `${what}: ${r.status} ${r.body}`);
      assertError(r, r.status, r.status === 400 ? 'invalid_input' : 'unsupported_media_type', what);
    }
    assert.equal(s.recorder.forwarded().length, 0);
  });

  it('17. a Content-Encoding on a JSON body → 415 unsupported_media_type, never forwarded', async () => {
    for (const encoding of ['gzip', 'br', 'deflate', 'gzip, identity', 'x-custom']) {
      const r = await put('{"name":"Encoded"}', 'application/json', {
        'content-encoding': encoding,
      });
      assertError(r, 415, 'unsupported_media_type', `Content-Encoding: ${encoding}`);
      const c = await post(
        '{"name":"Encoded","email":"enc@acme.test","roles":["user"]}',
        'application/json',
        { 'content-encoding': encoding },
      );
      assertError(c, 415, 'unsupported_media_type', `POST Content-Encoding: ${encoding}`);
    }
    assert.equal(s.recorder.forwarded().length, 0);
  });

  it('17. malformed JSON → 400, never forwarded, and the sidecar keeps serving', async () => {
    const bad = [
      '{"name":',
      '{"name":"x"',
      '{"name":"x"}}',
      '{"name":"x"} {"name":"y"}',
      "{'name':'x'}",
      '{name:"x"}',
      '{"name":"x",}',
      '{"name":"x"}\u0000',
      '\ufeff{"name":"x"}',
      '{"name":"\u0001"}',
      '{"name":"\\x41"}',
      '{"name":"\\ud800"',
      '{"name":NaN}',
      '{"name":Infinity}',
      '{"name":01}',
      '{"name":"x"}/*c*/',
      '["name","x"]',
      '"name"',
      'null',
      '',
      '{"name":"x","roles":[' + '['.repeat(10_000) + ']'.repeat(10_000) + ']}',
      '{"a":'.repeat(5000) + '1' + '}'.repeat(5000),
      '{"name":"' + '\\\\'.repeat(50_000) + '"}',
    ];
    for (const raw of bad) {
      assertError(await put(raw), 400, 'invalid_input', JSON.stringify(raw.slice(0, 40)));
    }
    for (const raw of [
      '{"name":"x","email":"x@acme.test","roles":["user"]',
      '[]',
      '{"__proto__":{"roles":["admin"]},"name":"x","email":"p@acme.test","roles":["user"]}',
    ]) {
      assertError(await post(raw), 400, 'invalid_input', JSON.stringify(raw.slice(0, 40)));
    }
    // Prototype keys are unknown fields, not a way to smuggle roles past the validator.
    for (const raw of [
      '{"__proto__":{"roles":["admin"]}}',
      '{"name":"x","constructor":{"prototype":{"isOwner":true}}}',
      '{"name":"x","__proto__":null}',
    ]) {
      assertError(await put(raw), 400, 'invalid_input', raw);
    }
    assert.equal(s.recorder.forwarded().length, 0);
    assert.equal(
      (await s.call('GET', `/v1/users/${target.id}`, { token: tok, tenant: tA })).status,
      200,
    );
  });

  it('18. duplicate keys → 400 (at any depth, after unescaping), never forwarded', async () => {
    const dups = [
      '{"roles":["user"],"roles":["admin"]}',
      '{"roles":["admin"],"roles":["user"]}',
      '{"name":"a","name":"b"}',
      '{"roles":["user"],"rol\\u0065s":["admin"]}',
      '{"r\\u006fles":["viewer"],"roles":["admin"]}',
      '{"name":"a","avatar":null,"avatar":"data:image/png;base64,AA=="}',
    ];
    for (const raw of dups) assertError(await put(raw), 400, 'invalid_input', raw);
    assertError(
      await post('{"name":"n","email":"d@acme.test","roles":["user"],"roles":["admin"]}'),
      400,
      'invalid_input',
    );
    assertError(
      await post('{"name":"n","email":"d@acme.test","email":"owner@acme.test","roles":["user"]}'),
      400,
      'invalid_input',
    );
    // Near-duplicates are different keys, hence unknown fields.
    assertError(await put('{"roles":["user"],"Roles":["admin"]}'), 400, 'invalid_input');
    assertError(await put('{"roles":["user"],"roles ":["admin"]}'), 400, 'invalid_input');
    assert.equal(s.recorder.forwarded().length, 0);
    const now = await s.call('GET', `/v1/users/${target.id}`, { token: tok, tenant: tA });
    assert.deepEqual(now.body.roles, ['user']);
  });

  it('18. the backend receives exactly the object that was decided on, serialized by the sidecar', async () => {
    // Escapes, odd whitespace and number spellings the client chose never reach the backend.
    const raw = ' {\n\t"n\\u0061me" : "T\\u0061rget \\"2\\"" ,\r\n "roles":[ "vi\\u0065wer" ] }  ';
    const r = await put(raw);
    assert.equal(r.status, 200, r.text);
    const fwd = s.recorder.forwarded();
    assert.equal(fwd.length, 1);
    const sent = fwd[0]!;
    assert.equal(sent.body, JSON.stringify({ name: 'Target "2"', roles: ['viewer'] }));
    assert.equal(sent.headers['content-length'], String(Buffer.byteLength(sent.body)));
    assert.equal(sent.headers['content-type'], 'application/json');
    assert.deepEqual(r.body.roles, ['viewer']);
    assert.equal(r.body.name, 'Target "2"');
  });

  it('17/18. Expect: 100-continue (curl sends it for bodies over 1 KiB) still forwards the decided body and identity', async () => {
    // A PNG signature, then filler: over 1 KiB, and an avatar validation accepts.
    const png = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.alloc(2040, 7)]);
    const avatar = `data:image/png;base64,${png.toString('base64')}`;
    const body = JSON.stringify({ name: 'Target', avatar });
    const port = Number(new URL(s.url).port);
    const head = rawRequestText('PUT', `/v1/users/${target.id}`, [
      ['Host', 'x'],
      ['Authorization', `Bearer ${tok}`],
      ['X-Tenant-ID', tA],
      ['Content-Type', 'application/json'],
      ['Content-Length', String(body.length)],
      ['Expect', '100-continue'],
      ['Connection', 'close'],
    ]);
    const ex = await sendRaw(port, [head, body], { intervalMs: 100 });
    assert.ok(ex.text.startsWith('HTTP/1.1 100'), 'the client is told to continue');
    assert.equal(ex.responses.length, 1, ex.text);
    assert.equal(ex.responses[0]!.status, 200, ex.responses[0]!.body);
    const fwd = s.recorder.forwarded();
    assert.equal(fwd.length, 1, 'forwarded with the sidecar identity headers');
    assert.equal(fwd[0]!.headers.expect, undefined);
    assert.equal(fwd[0]!.headers.authorization, undefined);
    assert.deepEqual(JSON.parse(fwd[0]!.body), { name: 'Target', avatar });
  });
});
