import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MAX_JSON_DEPTH, assertJsonMediaType, parseJsonObject } from '../../../src/common/json.js';
import { CedargateError } from '../../../src/errors.js';

const JSON_TYPE = 'application/json';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CedargateError, `expected a contract error, got ${String(err)}`);
    return err.code;
  }
  assert.fail('expected an error');
}

const parse = (text: string, type: string | undefined = JSON_TYPE) =>
  parseJsonObject(Buffer.from(text, 'utf8'), type);

describe('parseJsonObject', () => {
  it('parses an object and keeps its values', () => {
    assert.deepEqual(parse('{"name":"a","roles":["user"],"n":-1.5e3,"o":{"x":null,"t":true}}'), {
      name: 'a',
      roles: ['user'],
      n: -1500,
      o: { x: null, t: true },
    });
  });

  it('accepts the media type in any case, with a UTF-8 charset or none', () => {
    for (const type of [
      'application/json',
      'Application/JSON',
      'application/json; charset=utf-8',
      'application/json;charset=UTF-8',
      'application/json; charset="utf-8"',
    ]) {
      assert.deepEqual(parse('{}', type), {}, type);
    }
  });

  it('refuses other media types and charsets with 415', () => {
    for (const type of [
      undefined,
      '',
      'text/plain',
      'application/jsonx',
      'application/x-www-form-urlencoded',
      'application/json; charset=utf-16',
      'application/json; charset=iso-8859-1',
    ]) {
      assert.equal(
        codeOf(() => parseJsonObject(Buffer.from('{}'), type)),
        'unsupported_media_type',
        String(type),
      );
    }
  });

  it('refuses duplicate keys at the top level (security.md #18)', () => {
    assert.equal(
      codeOf(() => parse('{"roles":["user"],"roles":["admin"]}')),
      'invalid_input',
    );
  });

  it('refuses duplicate keys at any depth and after unescaping', () => {
    assert.equal(
      codeOf(() => parse('{"a":{"b":1,"b":2}}')),
      'invalid_input',
    );
    assert.equal(
      codeOf(() => parse('{"a":[{"x":1},{"y":1,"y":1}]}')),
      'invalid_input',
    );
    assert.equal(
      codeOf(() => parse('{"roles":1,"rol\\u0065s":2}')),
      'invalid_input',
    );
  });

  it('allows the same key in sibling objects', () => {
    assert.deepEqual(parse('{"a":{"k":1},"b":{"k":2}}'), { a: { k: 1 }, b: { k: 2 } });
  });

  it('keeps "__proto__" as plain data, never as a prototype', () => {
    const obj = parse('{"__proto__":{"polluted":true}}');
    assert.equal(Object.getPrototypeOf(obj), Object.prototype);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
    assert.ok(Object.hasOwn(obj, '__proto__'));
  });

  it('refuses invalid UTF-8 and a byte-order mark', () => {
    assert.equal(
      codeOf(() =>
        parseJsonObject(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]), JSON_TYPE),
      ),
      'invalid_input',
    );
    assert.equal(
      codeOf(() =>
        parseJsonObject(
          Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{}')]),
          JSON_TYPE,
        ),
      ),
      'invalid_input',
    );
  });

  it('refuses malformed JSON', () => {
    for (const text of [
      '',
      ' ',
      '{',
      '{"a":1,}',
      '{"a" 1}',
      "{'a':1}",
      '{"a":01}',
      '{"a":1.}',
      '{"a":NaN}',
      '{"a":"\u0001"}',
      '{"a":"\\x41"}',
      '{"a":"\\u12"}',
      '{"a":tru}',
      '{} {}',
      '{"a":1}x',
      '{"a":[1,]}',
    ]) {
      assert.equal(
        codeOf(() => parse(text)),
        'invalid_input',
        JSON.stringify(text),
      );
    }
  });

  it('refuses a top-level value that is not an object', () => {
    for (const text of ['[]', '[{}]', '"x"', '1', 'null', 'true']) {
      assert.equal(
        codeOf(() => parse(text)),
        'invalid_input',
        text,
      );
    }
  });

  it('refuses nesting deeper than the limit, without overflowing the stack', () => {
    const ok = `{"a":${'['.repeat(MAX_JSON_DEPTH - 1)}${']'.repeat(MAX_JSON_DEPTH - 1)}}`;
    assert.ok(parse(ok));
    const deep = `{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    assert.equal(
      codeOf(() => parse(deep)),
      'invalid_input',
    );
  });

  it('reads a long string full of escapes (no regex stack overflow)', () => {
    const value = 'a\\n'.repeat(500_000);
    const obj = parse(`{"s":"${value}"}`);
    assert.equal((obj['s'] as string).length, 1_000_000);
  });

  it('agrees with JSON.parse on every object without duplicate keys (property)', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (obj) => {
        const text = JSON.stringify(obj);
        assert.deepEqual(parse(text), JSON.parse(text));
      }),
      { numRuns: 300 },
    );
  });

  it('only ever throws contract 4xx errors on arbitrary bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          parseJsonObject(Buffer.from(bytes), JSON_TYPE);
        } catch (err) {
          assert.ok(err instanceof CedargateError && err.status >= 400 && err.status < 500);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('assertJsonMediaType', () => {
  it('passes JSON and throws 415 otherwise', () => {
    assert.doesNotThrow(() => assertJsonMediaType('application/json; charset=utf-8'));
    assert.equal(
      codeOf(() => assertJsonMediaType('application/json; charset=utf-16')),
      'unsupported_media_type',
    );
  });
});
