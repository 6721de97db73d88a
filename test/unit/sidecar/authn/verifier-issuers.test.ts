/**
 * The verifier over several issuers (issue 23 items 2-4 and 6, security.md 44-46): each token
 * verified only with the keys and audience of the issuer its `iss` names; typ and algorithms per
 * issuer; claim paths, tenant_map and tenants; and a cache that never serves a verification made
 * under another issuer's settings or a key set since changed.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseClaimPath } from '../../../../src/common/claim-path.js';
import { UnauthenticatedError, type CredentialProblem } from '../../../../src/errors.js';
import {
  createIssuerTrust,
  type IssuerSettings,
  type IssuerTrust,
} from '../../../../src/sidecar/authn/issuers.js';
import { ACCEPTED_ALGORITHMS } from '../../../../src/sidecar/authn/token-header.js';
import {
  createCredentialVerifier,
  type CredentialVerifier,
} from '../../../../src/sidecar/authn/verifier.js';
import { tempDir } from '../../../helpers/process.js';
import {
  claimsAt,
  createSigner,
  jwksOf,
  manualClock,
  signToken,
  silentLogger,
  TENANT,
  USER,
  type Signer,
} from '../../../helpers/tokens.js';

const A = 'https://a.example/';
const B = 'https://b.example/';
const OTHER_TENANT = '11111111-2222-4333-8444-555555555555';

async function assertCategory(p: Promise<unknown>, category: CredentialProblem): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof UnauthenticatedError, String(e));
    assert.equal(e.category, category, e.reason);
    return true;
  });
}

describe('credential verifier over several issuers', () => {
  const dir = tempDir('cedargate-issuers-verifier-');
  const fileA = join(dir.path, 'a.json');
  const fileB = join(dir.path, 'b.json');
  const clock = manualClock();
  let keyA: Signer;
  let keyB: Signer;
  let trust: IssuerTrust;
  let verifier: CredentialVerifier;

  const settings = (over: Partial<IssuerSettings> = {}): IssuerSettings[] => [
    {
      issuer: A,
      audiences: ['users-api'],
      keys: { kind: 'file', path: fileA },
      typ: 'at+jwt',
      algorithms: ['ES256'],
      tenantClaim: parseClaimPath('/org/id'),
      userClaim: parseClaimPath('uid'),
      tenants: new Set([TENANT]),
      tenantMap: undefined,
      ...over,
    },
    {
      issuer: B,
      audiences: ['b-api'],
      keys: { kind: 'file', path: fileB },
      typ: undefined,
      algorithms: ACCEPTED_ALGORITHMS,
      tenantClaim: parseClaimPath('https://b.example/org'),
      userClaim: parseClaimPath('sub'),
      tenants: new Set([OTHER_TENANT]),
      tenantMap: new Map([
        ['org_b', OTHER_TENANT],
        ['org_a', TENANT],
      ]),
    },
  ];
  const aClaims = (o: Record<string, unknown> = {}) =>
    claimsAt({
      iss: A,
      aud: 'users-api',
      sub: 'svc',
      uid: USER,
      tenant_id: undefined,
      org: { id: TENANT },
      ...o,
    });
  const bClaims = (o: Record<string, unknown> = {}) =>
    claimsAt({
      iss: B,
      aud: 'b-api',
      tenant_id: undefined,
      'https://b.example/org': 'org_b',
      ...o,
    });
  const at = { typ: 'at+jwt' };
  const verify = (t: string) => verifier.verify(`Bearer ${t}`);

  before(async () => {
    [keyA, keyB] = [await createSigner(), await createSigner()];
    writeFileSync(fileA, JSON.stringify(jwksOf(keyA)));
    writeFileSync(fileB, JSON.stringify(jwksOf(keyB)));
    trust = await createIssuerTrust(settings(), { now: clock.now, logger: silentLogger });
    verifier = await createCredentialVerifier({
      trust,
      clockToleranceSeconds: 30,
      now: clock.now,
      logger: silentLogger,
    });
  });
  after(() => dir.remove());

  it('each issuer’s tokens, with its own claim paths and tenant map', async () => {
    const a = await verify(await signToken(keyA, aClaims(), at));
    assert.deepEqual(
      [a.issuer, a.subject, a.tenantId, a.tenantRefusal],
      [A, USER, TENANT, undefined],
    );
    const b = await verify(await signToken(keyB, bClaims()));
    assert.deepEqual([b.issuer, b.tenantId, b.tenantRefusal], [B, OTHER_TENANT, undefined]);
  });

  it('a token of A is verified with A’s keys only: B’s key is unknown or a bad signature', async () => {
    await assertCategory(verify(await signToken(keyB, aClaims(), at)), 'unknown key');
    await assertCategory(
      verify(await signToken(keyB, aClaims(), { ...at, kid: keyA.kid })),
      'bad signature',
    );
  });

  it('an iss not trusted, or missing → unknown issuer; another issuer’s audience → wrong audience', async () => {
    await assertCategory(
      verify(await signToken(keyA, aClaims({ iss: 'https://a.example' }), at)),
      'unknown issuer',
    );
    await assertCategory(
      verify(await signToken(keyA, aClaims({ iss: undefined }), at)),
      'unknown issuer',
    );
    await assertCategory(
      verify(await signToken(keyA, aClaims({ aud: 'b-api' }), at)),
      'wrong audience',
    );
  });

  it('typ per issuer (case and application/ allowed); algorithms per issuer', async () => {
    await assertCategory(verify(await signToken(keyA, aClaims())), 'wrong type');
    await assertCategory(
      verify(await signToken(keyA, aClaims(), { typ: undefined })),
      'wrong type',
    );
    assert.equal(
      (await verify(await signToken(keyA, aClaims(), { typ: 'Application/AT+JWT' }))).issuer,
      A,
    );
    const es384Only = await createIssuerTrust(settings({ algorithms: ['ES384'] }).slice(0, 1), {
      now: clock.now,
      logger: silentLogger,
    });
    const strict = await createCredentialVerifier({
      trust: es384Only,
      clockToleranceSeconds: 30,
      now: clock.now,
      logger: silentLogger,
    });
    await assertCategory(
      strict.verify(`Bearer ${await signToken(keyA, aClaims(), at)}`),
      'bad header',
    );
  });

  it('claims missing or of the wrong type → 401 naming the claim', async () => {
    await assertCategory(
      verify(await signToken(keyA, aClaims({ uid: undefined }), at)),
      'missing or bad user claim',
    );
    await assertCategory(
      verify(await signToken(keyA, aClaims({ uid: 'not-a-uuid' }), at)),
      'missing or bad user claim',
    );
    await assertCategory(
      verify(await signToken(keyA, aClaims({ org: [{ id: TENANT }] }), at)),
      'missing or bad tenant claim',
    );
    await assertCategory(
      verify(await signToken(keyA, aClaims({ org: { id: 7 } }), at)),
      'missing or bad tenant claim',
    );
    await assertCategory(
      verify(await signToken(keyB, bClaims({ 'https://b.example/org': ['org_b'] }))),
      'missing or bad tenant claim',
    );
  });

  it('a tenant the issuer may not speak for, or an unmapped value: verified, with the refusal recorded', async () => {
    const named = await verify(
      await signToken(keyB, bClaims({ 'https://b.example/org': 'org_a' })),
    );
    assert.equal(named.tenantId, TENANT);
    assert.equal(named.tenantRefusal, 'the issuer may not speak for this tenant');
    const unmapped = await verify(
      await signToken(keyB, bClaims({ 'https://b.example/org': 'org_z' })),
    );
    assert.equal(unmapped.tenantId, '');
    assert.match(unmapped.tenantRefusal ?? '', /not in the issuer's tenant_map/);
    const outside = await verify(await signToken(keyA, aClaims({ org: { id: OTHER_TENANT } }), at));
    assert.equal(outside.tenantRefusal, 'the issuer may not speak for this tenant');
  });

  it('the cache: a replaced issuer or a changed key set re-verifies; a withdrawn key stops', async () => {
    const token = await signToken(keyA, aClaims(), at);
    await verify(token);
    const hits = verifier.stats().cacheHits;
    await verify(token);
    assert.equal(verifier.stats().cacheHits, hits + 1, 'a repeated token is a hit');
    // The file reloaded: A may no longer speak for TENANT. The cached verification is not served.
    await trust.replace(settings({ tenants: new Set([OTHER_TENANT]) }));
    const again = await verify(token);
    assert.equal(verifier.stats().cacheHits, hits + 1);
    assert.equal(again.tenantRefusal, 'the issuer may not speak for this tenant');
    await trust.replace(settings());
    await verify(token);
    // A's key withdrawn (a new one published), the set refreshed: the cached token is 401.
    writeFileSync(fileA, JSON.stringify(jwksOf(await createSigner())));
    await trust.refreshKeys();
    await assertCategory(verify(token), 'unknown key');
  });
});
