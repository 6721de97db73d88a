/**
 * security.md 44–46 (identity, third round) through the real running process: key sets an
 * operator can trust (a key no longer published stops verifying once refreshed, SIGHUP refreshes
 * now, keys never fetched → not ready), the token type (an ID token is not an access token), and
 * claim paths that point where they should and nowhere else. The real identity provider's suite
 * is test/e2e/oidc-provider.test.ts; the unit tests are in test/unit/sidecar/authn/.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertError } from '../helpers/contract.js';
import { startKeyServer, type KeyServer } from '../helpers/key-server.js';
import { waitFor } from '../helpers/net.js';
import { startStack, type Reply, type Stack } from '../helpers/stack.js';
import { createSigner, jwksOf, liveClaims, signToken, type Signer } from '../helpers/tokens.js';

const ISSUER = 'https://idp.identity.test/';
const AUDIENCE = 'users-api';

function assert401(r: Reply, reason: string, what: string): void {
  assertError(r, 401, 'unauthenticated', what);
  assert.equal(r.body.details?.reason, reason, `${what}: ${r.text}`);
  assert.equal(
    r.headers.get('www-authenticate'),
    `Bearer realm="cedargate", error="invalid_token", error_description="${reason}"`,
    what,
  );
}

async function readyStatus(adminUrl: string): Promise<number> {
  return (await fetch(`${adminUrl}/readyz`)).status;
}

describe('key sets and token types (security.md 44, 45)', () => {
  let s: Stack;
  let keys: KeyServer;
  let oldKey: Signer;
  let newKey: Signer;
  let tenant: string;
  let owner: string;

  before(async () => {
    [oldKey, newKey] = [await createSigner(), await createSigner()];
    keys = await startKeyServer(jwksOf(oldKey, newKey));
    keys.setMode('down');
    s = await startStack({
      env: {
        JWKS_URL: `${keys.url}/jwks.json`,
        JWT_ISSUER: ISSUER,
        JWT_AUDIENCE: AUDIENCE,
        JWT_TYP: 'at+jwt',
        JWKS_COOLDOWN_MS: '0',
        LOG_LEVEL: 'info',
      },
    });
    const t = await s.createTenant('acme');
    [tenant, owner] = [t.tenantId, t.owner.id];
  });
  after(async () => {
    await s?.stop();
    await keys?.close();
  });

  const claims = (o: Record<string, unknown> = {}) =>
    liveClaims(tenant, owner, { iss: ISSUER, aud: AUDIENCE, ...o });
  const list = (token: string) => s.call('GET', '/v1/users', { token, tenant });

  it('45. keys never fetched → /readyz 503 naming the keys; fetched once → ready', async () => {
    const r = await fetch(`${s.adminUrl}/readyz`);
    assert.equal(r.status, 503);
    const body = (await r.json()) as { code: string; details: { checks: Record<string, string> } };
    assert.equal(body.code, 'unavailable');
    assert.match(body.details.checks.keys ?? '', /not fetched/);
    keys.setMode('ok');
    await waitFor(async () => (await readyStatus(s.adminUrl)) === 200, 15_000, 'ready');
  });

  it('44. an ID token (typ JWT) under JWT_TYP=at+jwt → 401 "wrong type"; an access token → 200', async () => {
    const access = await signToken(newKey, claims(), { typ: 'at+jwt' });
    assert.equal((await list(access)).status, 200);
    const prefixed = await signToken(newKey, claims(), { typ: 'application/AT+JWT' });
    assert.equal((await list(prefixed)).status, 200, 'application/ prefix and case are allowed');
    assert401(await list(await signToken(newKey, claims())), 'wrong type', 'typ JWT');
    const untyped = await signToken(newKey, claims(), { typ: undefined });
    assert401(await list(untyped), 'wrong type', 'no typ');
  });

  it('45. a key no longer published stops verifying at the next refresh; SIGHUP refreshes now', async () => {
    const byOld = await signToken(oldKey, claims(), { typ: 'at+jwt' });
    const byNew = await signToken(newKey, claims(), { typ: 'at+jwt' });
    assert.equal((await list(byOld)).status, 200, 'both keys published: the old one verifies');
    assert.equal((await list(byNew)).status, 200);
    keys.serve(jwksOf(newKey));
    s.process.child.kill('SIGHUP');
    await waitFor(
      async () => (await list(byOld)).status === 401,
      10_000,
      'the withdrawn key to stop verifying after SIGHUP',
    );
    assert401(await list(byOld), 'unknown key', 'withdrawn key');
    assert.equal((await list(byNew)).status, 200, 'the key still published keeps verifying');
  });
});

describe('claim paths (security.md 46)', () => {
  let s: Stack;
  let keys: KeyServer;
  let signer: Signer;
  let tenant: string;
  let owner: string;
  let other: string;
  let otherOwner: string;

  before(async () => {
    signer = await createSigner();
    keys = await startKeyServer(jwksOf(signer));
    s = await startStack({
      env: {
        JWKS_URL: `${keys.url}/jwks.json`,
        JWT_ISSUER: ISSUER,
        JWT_AUDIENCE: AUDIENCE,
        TENANT_CLAIM: '/https:~1~1example.com~1claims/tenant',
        USER_CLAIM: '/ext/uid',
      },
    });
    const t = await s.createTenant('acme');
    [tenant, owner] = [t.tenantId, t.owner.id];
    const o = await s.createTenant('globex');
    [other, otherOwner] = [o.tenantId, o.owner.id];
  });
  after(async () => {
    await s?.stop();
    await keys?.close();
  });

  const token = (claims: Record<string, unknown>) =>
    signToken(signer, { ...liveClaims(tenant, owner, { iss: ISSUER, aud: AUDIENCE }), ...claims });
  const list = async (claims: Record<string, unknown>) =>
    s.call('GET', '/v1/users', { token: await token(claims), tenant });

  it('a namespaced, nested tenant claim and a nested user claim name the tenant and the user', async () => {
    const r = await list({
      sub: 'not-the-user-id',
      tenant_id: undefined,
      ext: { uid: owner },
      'https://example.com/claims': { tenant },
    });
    assert.equal(r.status, 200, r.text);
  });

  it('decoys: the escaped member, never its unescaped neighbours, names the tenant', async () => {
    const decoys = (right: string, wrong: string) => ({
      'https://example.com/claims': { tenant: right },
      https: { '': { 'example.com': { claims: { tenant: wrong } } } },
      'https:~1~1example.com~1claims': { tenant: wrong },
      'https:~01~01example.com~01claims': { tenant: wrong },
    });
    // The right member names this tenant: accepted, whatever the neighbours say.
    const ok = await list({ ext: { uid: owner }, ...decoys(tenant, other) });
    assert.equal(ok.status, 200, ok.text);
    // The right member names the other tenant: the other tenant is the credential's.
    const r = await s.call('GET', '/v1/users', {
      token: await token({ ext: { uid: otherOwner }, ...decoys(other, tenant) }),
      tenant,
    });
    assertError(r, 403, 'tenant_mismatch', r.text);
    assert.equal(r.body.details?.credential_tenant, other);
  });

  it('pointers into arrays, at objects, at missing members, through non-objects → 401 with a reason', async () => {
    const cases: Array<[string, Record<string, unknown>, string]> = [
      [
        'an array',
        { ext: { uid: owner }, 'https://example.com/claims': [{ tenant }] },
        'missing or bad tenant claim',
      ],
      [
        'an object',
        { ext: { uid: owner }, 'https://example.com/claims': { tenant: { id: tenant } } },
        'missing or bad tenant claim',
      ],
      ['missing', { ext: { uid: owner } }, 'missing or bad tenant claim'],
      [
        'a string on the way',
        { ext: { uid: owner }, 'https://example.com/claims': 'tenant' },
        'missing or bad tenant claim',
      ],
      [
        'a number',
        { ext: { uid: owner }, 'https://example.com/claims': { tenant: 42 } },
        'missing or bad tenant claim',
      ],
      [
        'a user claim in an array',
        { ext: [{ uid: owner }], 'https://example.com/claims': { tenant } },
        'missing or bad user claim',
      ],
      [
        'an empty object',
        { ext: { uid: owner }, 'https://example.com/claims': {} },
        'missing or bad tenant claim',
      ],
    ];
    for (const [what, claims, reason] of cases) {
      assert401(await list(claims), reason, what);
    }
  });
});
