/** ISSUERS_FILE's shape (issue 23 item 4): what it reads, and every field it refuses by name. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseIssuersFile } from '../../../../src/sidecar/authn/issuers-file.js';

const DEFAULTS = {
  tenantClaim: 'tenant_id',
  userClaim: 'sub',
  timeoutMs: 2000,
  cooldownMs: 30_000,
};
const T = '2489E9AD-2EE2-8E00-8EC9-32D5F69181C0';
const parse = (text: string) => parseIssuersFile(text, '/etc/issuers.yaml', DEFAULTS);

describe('parseIssuersFile', () => {
  it('reads the issue’s example, every field', () => {
    const [i] = parse(`issuers:
  - issuer: https://login.acme.example/
    audience: users-api
    jwks_url: https://login.acme.example/keys
    typ: at+jwt
    algorithms: [RS256]
    tenant_claim: /org/id
    user_claim: uid
    tenants: ["${T.toLowerCase()}"]
    tenant_map: { org_acme: ${T} }
`);
    assert.ok(i !== undefined);
    assert.equal(i.issuer, 'https://login.acme.example/');
    assert.deepEqual(i.audiences, ['users-api']);
    assert.deepEqual(i.keys, {
      kind: 'url',
      url: 'https://login.acme.example/keys',
      issuer: 'https://login.acme.example/',
      timeoutMs: 2000,
      cooldownMs: 30_000,
    });
    assert.equal(i.typ, 'at+jwt');
    assert.deepEqual(i.algorithms, ['RS256']);
    assert.deepEqual(i.tenantClaim.members, ['org', 'id']);
    assert.deepEqual(i.userClaim.members, ['uid']);
    assert.deepEqual(i.tenants, new Set([T]));
    assert.equal(i.tenantMap?.get('org_acme'), T);
  });

  it('defaults: discovery without jwks_url, TENANT_CLAIM and USER_CLAIM, any typ, ["*"]', () => {
    const [i] = parse(`issuers:
  - issuer: https://a.example
    audience: [users-api, other]
    tenants: ["*"]
`);
    assert.ok(i !== undefined);
    assert.equal(i.keys.kind, 'discovery');
    assert.deepEqual(i.audiences, ['users-api', 'other']);
    assert.equal(i.typ, undefined);
    assert.equal(i.tenantClaim.spec, 'tenant_id');
    assert.equal(i.userClaim.spec, 'sub');
    assert.equal(i.tenants, '*');
    assert.equal(i.tenantMap, undefined);
  });

  const base = `  - issuer: https://a.example\n    audience: x\n    tenants: ["*"]\n`;
  for (const [what, text, problem] of [
    ['not YAML', 'issuers: [', /is not YAML/],
    ['no issuers', 'issuers: []', /at least one issuer/],
    ['an unknown top-level key', `issuers:\n${base}extra: 1`, /unknown top-level key "extra"/],
    [
      'an unknown field',
      `issuers:\n${base}    tenant_claims: /x`,
      /issuers\[0\]: unknown field "tenant_claims"/,
    ],
    [
      'no audience',
      'issuers:\n  - issuer: https://a.example\n    tenants: ["*"]',
      /issuers\[0\]\.audience/,
    ],
    [
      'no tenants',
      'issuers:\n  - issuer: https://a.example\n    audience: x',
      /issuers\[0\]\.tenants/,
    ],
    [
      'a bad tenant',
      `issuers:\n${base.replace('"*"', '"acme"')}`,
      /\.tenants\[0\]: is not a tenant id/,
    ],
    [
      'HS256',
      `issuers:\n${base}    algorithms: [HS256]`,
      /"HS256" is not accepted \(asymmetric only/,
    ],
    ['none', `issuers:\n${base}    algorithms: [none]`, /"none" is not accepted/],
    ['a bad pointer', `issuers:\n${base}    tenant_claim: /a~2`, /\.tenant_claim: .*~/],
    [
      'a bad map value',
      `issuers:\n${base}    tenant_map: { a: b }`,
      /\.tenant_map\.a: is not a tenant id/,
    ],
    [
      'no URL to discover from',
      'issuers:\n  - issuer: acme\n    audience: x\n    tenants: ["*"]',
      /give jwks_url/,
    ],
    [
      'a jwks_url that is not http',
      `issuers:\n${base}    jwks_url: file:///etc/keys`,
      /jwks_url: is not an http/,
    ],
    [
      'an issuer twice',
      `issuers:\n${base}${base}`,
      /issuers\[1\]: issuer "https:\/\/a.example" is listed twice/,
    ],
    [
      'duplicate keys',
      `issuers:\n  - issuer: https://a.example\n    issuer: https://b.example\n    audience: x\n    tenants: ["*"]`,
      /not YAML/,
    ],
  ] as const) {
    it(`refuses ${what}, naming the file and the field`, () => {
      assert.throws(
        () => parse(text),
        (e: unknown) =>
          e instanceof Error &&
          /^ISSUERS_FILE \/etc\/issuers\.yaml: /.test(e.message) &&
          problem.test(e.message),
      );
    });
  }
});
