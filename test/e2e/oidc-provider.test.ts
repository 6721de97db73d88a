/**
 * cedargate in front of real identity providers (`oidc-provider`, certified OpenID, issuing RFC
 * 9068 access tokens): two providers, each bound to its tenant by ISSUERS_FILE and found by
 * discovery; client_credentials and a scripted authorization-code login; RS256, ES256 and EdDSA;
 * a nested and a namespaced tenant claim and a tenant_map; the ID token refused once the file asks
 * for `at+jwt`; key rotation and withdrawal (SIGHUP). The providers start once for the file.
 * Set OIDC_TRANSCRIPT=path to keep what a reader of the closing note should see.
 */
import assert from 'node:assert/strict';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { User } from '../../src/common/user.js';
import { assertError } from '../helpers/contract.js';
import { freePort, waitFor } from '../helpers/net.js';
import {
  providerKey,
  startProvider,
  WEB_CLIENT,
  type ProviderKey,
  type RunningProvider,
  type SigningAlg,
} from '../helpers/oidc-provider.js';
import { tempDir } from '../helpers/process.js';
import { startStack, type Reply, type Stack } from '../helpers/stack.js';

const NAMESPACED = 'https://globex.example/claims/org';

/** The transcript for the closing note (OIDC_TRANSCRIPT), or nothing. */
function note(title: string, text: string): void {
  const path = process.env.OIDC_TRANSCRIPT;
  if (path !== undefined && path !== '') appendFileSync(path, `\n## ${title}\n${text}\n`);
}

function show(method: string, path: string, tenant: string, r: Reply): string {
  const challenge = r.headers.get('www-authenticate');
  return [
    `${method} ${path}   X-Tenant-ID: ${tenant}`,
    `HTTP ${r.status}${challenge === null ? '' : `\nWWW-Authenticate: ${challenge}`}`,
    JSON.stringify(r.body, null, 2),
  ].join('\n');
}

/** The issuers file: A by a nested claim, B by a namespaced one through its tenant_map. */
function issuersYaml(
  a: { issuer: string },
  b: { issuer: string },
  tA: string,
  tB: string,
  typ: boolean,
): string {
  return `issuers:
  - issuer: ${a.issuer}
    audience: [users-api, ${WEB_CLIENT}]
${typ ? '    typ: at+jwt\n' : ''}    algorithms: [RS256, ES256, EdDSA]
    tenant_claim: /org/id
    tenants: ["${tA}"]
  - issuer: ${b.issuer}
    audience: users-api
    typ: at+jwt
    tenant_claim: ${NAMESPACED}
    tenants: ["${tB}"]
    tenant_map: { org_globex: "${tB}", org_acme: "${tA}" }
`;
}

/** Whether the first issuer in force may speak for `tenant` (the issuers file was reloaded). */
async function namesTenant(s: Stack, tenant: string): Promise<boolean> {
  const status = (await (await fetch(`${s.adminUrl}/status`)).json()) as {
    identity: { issuers: Array<{ tenants: '*' | string[] }> };
  };
  const tenants = status.identity.issuers[0]?.tenants;
  return Array.isArray(tenants) && tenants.some((t) => t.toUpperCase() === tenant.toUpperCase());
}

describe('real identity providers (oidc-provider): issue 23', () => {
  const dir = tempDir('cedargate-oidc-');
  const file = join(dir.path, 'issuers.yaml');
  let s: Stack;
  let a: RunningProvider;
  let b: RunningProvider;
  let keysA: Record<SigningAlg, ProviderKey>;
  let tA: string;
  let tB: string;
  let ownerA: User;
  let ownerB: User;

  before(async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    const issuerA = `http://127.0.0.1:${portA}`;
    const issuerB = `http://127.0.0.1:${portB}`;
    // The sidecar starts before the providers: not ready until both key sets were fetched.
    writeFileSync(
      file,
      issuersYaml(
        { issuer: issuerA },
        { issuer: issuerB },
        '00000000-0000-4000-8000-000000000001',
        '00000000-0000-4000-8000-000000000002',
        false,
      ),
    );
    s = await startStack({
      env: {
        ISSUERS_FILE: file,
        JWKS_COOLDOWN_MS: '0',
        JWKS_TIMEOUT_MS: '2000',
        LOG_LEVEL: 'info',
      },
    });
    const [ta, tb] = [await s.createTenant('acme'), await s.createTenant('globex')];
    [tA, ownerA, tB, ownerB] = [ta.tenantId, ta.owner, tb.tenantId, tb.owner];
    const ready = await fetch(`${s.adminUrl}/readyz`);
    assert.equal(ready.status, 503, 'ready before any key set was fetched');
    keysA = {
      RS256: await providerKey('RS256'),
      ES256: await providerKey('ES256'),
      EdDSA: await providerKey('EdDSA'),
    };
    a = await startProvider(
      {
        serviceClients: [ownerA.id],
        claimsOf: (sub) => ({ org: { id: sub === ownerA.id ? tA : 'nobody' } }),
        keys: Object.values(keysA),
      },
      portA,
    );
    b = await startProvider(
      {
        // ownerA's id at B: B's IdP claiming to speak for tenant A.
        serviceClients: [ownerB.id, ownerA.id],
        claimsOf: (sub) => ({ [NAMESPACED]: sub === ownerB.id ? 'org_globex' : 'org_acme' }),
        keys: [await providerKey('RS256')],
      },
      portB,
    );
    writeFileSync(file, issuersYaml(a, b, tA, tB, false));
    // Ready needs only the key sets, which the first file's issuers fetch as well: wait for the
    // rewritten file, whose tenants are the real ones, to be in force too.
    await waitFor(
      async () => (await fetch(`${s.adminUrl}/readyz`)).ok && (await namesTenant(s, tA)),
      20_000,
      'ready, with the rewritten issuers file in force',
    );
    note('settings', `ISSUERS_FILE (${file}):\n${issuersYaml(a, b, tA, tB, false)}`);
  });
  after(async () => {
    await s?.stop();
    await a?.close();
    await b?.close();
    dir.remove();
  });

  const list = (token: string, tenant: string) => s.call('GET', '/v1/users', { token, tenant });

  it('client_credentials access tokens (RS256, ES256, EdDSA, typ at+jwt) → 200', async () => {
    for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
      const r = await list(await a.clientCredentials(ownerA.id, alg), tA);
      assert.equal(r.status, 200, `${alg}: ${r.text}`);
      if (alg === 'EdDSA')
        note('a 200 (client_credentials, EdDSA)', show('GET', '/v1/users', tA, r));
    }
  });

  it('discovery: /status lists per issuer the jwks_uri found, its kids and algorithms', async () => {
    const status = (await (await fetch(`${s.adminUrl}/status`)).json()) as {
      identity: { source: string; issuers: Array<Record<string, unknown>> };
    };
    assert.equal(status.identity.source, 'file');
    const [sa, sb] = status.identity.issuers;
    assert.equal(sa?.issuer, a.issuer);
    assert.equal(sa?.source, 'discovery');
    assert.equal(sa?.location, `${a.issuer}/jwks`);
    assert.deepEqual(
      sa?.kids,
      Object.values(keysA).map((k) => k.kid),
    );
    assert.deepEqual(sa?.algorithms, ['ES256', 'EdDSA', 'RS256']);
    assert.equal(typeof sa?.last_fetch, 'string');
    assert.equal(sb?.issuer, b.issuer);
    note('/status identity', JSON.stringify(status.identity, null, 2));
    // The fetches that failed while the providers were not up yet, counted per issuer.
    const metrics = await (await fetch(`${s.adminUrl}/metrics`)).text();
    const failures = new RegExp(
      `^cedargate_jwks_fetch_failures_total\\{issuer="${a.issuer.replaceAll('.', '\\.')}"\\} ([0-9]+)$`,
      'm',
    ).exec(metrics);
    assert.ok(failures !== null && Number(failures[1]) >= 1, metrics.slice(0, 400));
    assert.equal(Number(failures[1]), sa?.fetch_failures);
  });

  it('an authorization-code login scripted end to end: its access token is the user', async () => {
    const { accessToken } = await a.login(ownerA.id, 'ES256');
    const r = await list(accessToken, tA);
    assert.equal(r.status, 200, r.text);
    // The owner changing their own roles: the policies deny it, with the notice that says why.
    const put = await s.call('PUT', `/v1/users/${ownerA.id}`, {
      token: accessToken,
      tenant: tA,
      body: { roles: ['user'] },
    });
    assertError(put, 403, 'forbidden');
    assert.ok(put.body.notices.length > 0, put.text);
    note('a 403 with notices (login access token)', show('PUT', `/v1/users/${ownerA.id}`, tA, put));
  });

  it('two providers, two tenants: A’s token with B’s X-Tenant-ID → 403 tenant_mismatch', async () => {
    const token = await a.clientCredentials(ownerA.id, 'RS256');
    const r = await list(token, tB);
    assertError(r, 403, 'tenant_mismatch');
    assert.equal(r.body.details.credential_tenant, tA);
    note('a cross-tenant 403', show('GET', '/v1/users', tB, r));
    // B's token, its namespaced claim through the tenant_map, is B's tenant.
    const mine = await list(await b.clientCredentials(ownerB.id, 'RS256'), tB);
    assert.equal(mine.status, 200, mine.text);
  });

  it('an issuer that may not speak for a tenant: B naming tenant A (a user of A!) → 403', async () => {
    // B's tenant_map maps org_acme to A, but A is not one of B's tenants.
    s.recorder.clear();
    const token = await b.clientCredentials(ownerA.id, 'RS256');
    const r = await list(token, tA);
    assertError(r, 403, 'tenant_mismatch');
    assert.equal(r.body.details.issuer, b.issuer);
    assert.equal(r.body.details.credential_tenant, tA);
    assert.equal(s.recorder.forwarded().length, 0);
  });

  it('the ID token: accepted as an access token without typ, 401 "wrong type" once the file says at+jwt', async () => {
    const { accessToken, idToken } = await a.login(ownerA.id, 'RS256');
    // The hole RFC 9068 §4 closes: the audience includes the client id, so the ID token passes.
    assert.equal((await list(idToken, tA)).status, 200);
    writeFileSync(file, issuersYaml(a, b, tA, tB, true));
    s.process.child.kill('SIGHUP');
    await waitFor(async () => (await list(idToken, tA)).status === 401, 15_000, 'typ in force');
    const r = await list(idToken, tA);
    assertError(r, 401, 'unauthenticated');
    assert.equal(r.body.details.reason, 'wrong type');
    assert.equal(
      r.headers.get('www-authenticate'),
      'Bearer realm="cedargate", error="invalid_token", error_description="wrong type"',
    );
    note('an ID token under typ: at+jwt', show('GET', '/v1/users', tA, r));
    assert.equal((await list(accessToken, tA)).status, 200, 'the access token still verifies');
  });

  it('rotation (new key first: old and new verify), then withdrawal + SIGHUP: the old kid is 401', async () => {
    const before = await a.clientCredentials(ownerA.id, 'ES256');
    const next = await providerKey('ES256');
    await a.restart([next, ...Object.values(keysA)]);
    const after = await a.clientCredentials(ownerA.id, 'ES256');
    assert.notEqual(after, before);
    // The new kid is unknown until refetched (once a cooldown; JWKS_COOLDOWN_MS=0 here).
    assert.equal((await list(after, tA)).status, 200, 'the new key verifies');
    assert.equal((await list(before, tA)).status, 200, 'the old key still verifies');
    await a.restart([next, keysA.RS256, keysA.EdDSA]);
    s.process.child.kill('SIGHUP');
    await waitFor(async () => (await list(before, tA)).status === 401, 15_000, 'withdrawal');
    const r = await list(before, tA);
    assert.equal(r.body.details.reason, 'unknown key');
    assert.equal((await list(after, tA)).status, 200, 'the published key keeps verifying');
    note('a withdrawn key after SIGHUP', show('GET', '/v1/users', tA, r));
  });
});
