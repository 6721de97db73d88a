/**
 * Claim paths (security.md 46): a top-level name taken as it is, URLs included, or an RFC 6901
 * JSON Pointer; reading walks own members of plain objects only, never into arrays, never
 * through the prototype, never from the wrong member.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseClaimPath, readClaim, setClaim } from '../../../src/common/claim-path.js';

describe('parseClaimPath', () => {
  it('takes a top-level name as it is, a URL included', () => {
    assert.deepEqual(parseClaimPath('tenant_id').members, ['tenant_id']);
    assert.deepEqual(parseClaimPath('https://example.com/tenant_id').members, [
      'https://example.com/tenant_id',
    ]);
    assert.deepEqual(parseClaimPath('org.id').members, ['org.id']);
  });

  it('reads a pointer with its escapes, ~1 before ~0 (RFC 6901 §4)', () => {
    assert.deepEqual(parseClaimPath('/org/id').members, ['org', 'id']);
    assert.deepEqual(parseClaimPath('/https:~1~1example.com~1claims/tenant').members, [
      'https://example.com/claims',
      'tenant',
    ]);
    assert.deepEqual(parseClaimPath('/a~01').members, ['a~1']);
    assert.deepEqual(parseClaimPath('/~0~1').members, ['~/']);
  });

  for (const [spec, problem] of [
    ['', /empty/],
    ['/a~2b', /~ must be followed by 0 or 1|"~" must be followed/],
    ['/a~', /must be followed/],
    ['/a//b', /empty member/],
    ['/', /empty member/],
    ['tenant id', /whitespace/],
    ['a\u0000b', /control/],
    ['x'.repeat(300), /over 256/],
    [`/${Array.from({ length: 20 }, () => 'a').join('/')}`, /deeper/],
  ] as const) {
    it(`refuses ${JSON.stringify(spec.slice(0, 30))}`, () => {
      assert.throws(() => parseClaimPath(spec), problem);
    });
  }
});

describe('readClaim', () => {
  const path = parseClaimPath('/https:~1~1example.com~1claims/tenant');

  it('finds the escaped member, not its unescaped neighbours', () => {
    const claims = {
      'https://example.com/claims': { tenant: 'right' },
      https: { '': { 'example.com': { claims: { tenant: 'wrong' } } } },
      'https:~1~1example.com~1claims': { tenant: 'wrong' },
    };
    assert.equal(readClaim(claims, path), 'right');
  });

  it('finds nothing through arrays, strings, numbers, null or missing members', () => {
    for (const holder of [[{ tenant: 'x' }], 'tenant', 42, null, {}, { other: 'x' }]) {
      assert.equal(readClaim({ 'https://example.com/claims': holder }, path), undefined);
    }
    assert.equal(readClaim({}, path), undefined);
  });

  it('never reads inherited members (__proto__, constructor, toString)', () => {
    for (const spec of ['/constructor', '/__proto__', '/toString', '/a/constructor/name']) {
      assert.equal(readClaim({ a: {} }, parseClaimPath(spec)), undefined, spec);
    }
    const parsed = JSON.parse('{"__proto__":{"id":"own"}}') as Record<string, unknown>;
    assert.equal(readClaim(parsed, parseClaimPath('/__proto__/id')), 'own');
  });

  it('returns objects and lists as they are (the caller checks the type)', () => {
    assert.deepEqual(readClaim({ org: { id: { x: 1 } } }, parseClaimPath('/org/id')), { x: 1 });
    assert.deepEqual(readClaim({ org: ['a'] }, parseClaimPath('/org')), ['a']);
  });
});

describe('setClaim', () => {
  it('builds the objects on the way, and keeps __proto__ a member', () => {
    const claims = setClaim({}, parseClaimPath('/org/id'), 'T');
    assert.deepEqual(claims, { org: { id: 'T' } });
    const odd = setClaim({}, parseClaimPath('/__proto__/id'), 'T');
    assert.equal(Object.getPrototypeOf(odd), Object.prototype);
    assert.equal(readClaim(odd, parseClaimPath('/__proto__/id')), 'T');
  });

  it('refuses to cross a value that is not an object', () => {
    assert.throws(() => setClaim({ org: 'x' }, parseClaimPath('/org/id'), 'T'), /not an object/);
  });
});
