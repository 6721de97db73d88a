/**
 * The cold path of a credential (issue 25 item 3): a token its own claims refuse costs no
 * signature verification, a forged token whose claims look valid is still verified (and
 * refused), and concurrent copies of one cold token share one verification. Verifications are
 * counted by the verifier's own stats.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { UnauthenticatedError } from '../../../../src/errors.js';
import {
  createCredentialVerifier,
  type CredentialVerifier,
} from '../../../../src/sidecar/authn/verifier.js';
import { tempDir } from '../../../helpers/process.js';
import {
  AUDIENCE,
  claimsAt,
  createSigner,
  ISSUER,
  jwksOf,
  manualClock,
  signToken,
  silentLogger,
  T0,
  TENANT_CLAIM,
  USER,
  type Signer,
} from '../../../helpers/tokens.js';

const TOLERANCE = 30;

describe('credential verifier: the cold path', () => {
  const dir = tempDir('cedargate-verifier-cold-');
  const jwksPath = join(dir.path, 'jwks.json');
  let signer: Signer;
  let impostor: Signer;

  before(async () => {
    signer = await createSigner();
    // Same kid, another key: only the signature check can tell its tokens apart.
    impostor = await createSigner(signer.kid);
    writeFileSync(jwksPath, JSON.stringify(jwksOf(signer)));
  });
  after(() => dir.remove());

  const build = (): Promise<CredentialVerifier> =>
    createCredentialVerifier({
      keys: { kind: 'file', path: jwksPath },
      issuer: ISSUER,
      audience: AUDIENCE,
      tenantClaim: TENANT_CLAIM,
      clockToleranceSeconds: TOLERANCE,
      now: manualClock().now,
      logger: silentLogger,
    });

  async function refusal(
    verifier: CredentialVerifier,
    token: string,
  ): Promise<UnauthenticatedError> {
    const err = await verifier.verify(`Bearer ${token}`).then(
      () => assert.fail('the token was accepted'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof UnauthenticatedError, String(err));
    assert.equal(err.code, 'unauthenticated');
    return err;
  }

  const refusedByClaims: [string, Record<string, unknown>, RegExp, string][] = [
    [
      'an expired token',
      { exp: T0 - TOLERANCE - 1 },
      /"exp" claim timestamp check failed/,
      'expired',
    ],
    [
      'a token not yet valid',
      { nbf: T0 + TOLERANCE + 1 },
      /"nbf" claim timestamp check failed/,
      'not yet valid',
    ],
    [
      'a token issued in the future',
      { iat: T0 + TOLERANCE + 1 },
      /iat is in the future/,
      'not yet valid',
    ],
    ['a token for another audience', { aud: 'other-api' }, /"aud" claim/, 'wrong audience'],
    [
      'a token naming no user',
      { sub: '../admin' },
      /sub is not a UUID-shaped/,
      'missing or bad user claim',
    ],
  ];
  for (const [name, overrides, reason, category] of refusedByClaims) {
    it(`refuses ${name} before any signature verification, with the reason jose would give`, async () => {
      const verifier = await build();
      // Signed by the impostor: were the signature checked first, the reason would be it.
      const err = await refusal(verifier, await signToken(impostor, claimsAt(overrides)));
      assert.match(err.reason, reason);
      assert.equal(err.category, category);
      assert.equal(verifier.stats().verifications, 0);
      // The same claims under the real key are refused for the same reason (nothing leaks
      // about the signature: the answer depends on the claims the caller wrote alone).
      const real = await refusal(verifier, await signToken(signer, claimsAt(overrides)));
      assert.equal(real.reason, err.reason);
      assert.equal(real.category, err.category);
      assert.equal(verifier.stats().verifications, 0);
    });
  }

  it('still verifies a forged token whose claims all look valid, and refuses it', async () => {
    const verifier = await build();
    const err = await refusal(verifier, await signToken(impostor));
    assert.equal(err.category, 'bad signature');
    assert.equal(verifier.stats().verifications, 1);
  });

  it('verifies concurrent copies of one cold token once', async () => {
    const verifier = await build();
    const token = await signToken(signer);
    const creds = await Promise.all(
      Array.from({ length: 8 }, () => verifier.verify(`Bearer ${token}`)),
    );
    assert.ok(creds.every((c) => c.subject === USER));
    assert.equal(verifier.stats().verifications, 1);
    await verifier.verify(`Bearer ${token}`);
    assert.equal(verifier.stats().verifications, 1, 'a later copy is a cache hit');
    // Two different cold tokens are two verifications.
    await Promise.all(
      [signToken(signer), signToken(signer)].map(async (t) => verifier.verify(`Bearer ${await t}`)),
    );
    assert.equal(verifier.stats().verifications, 3);
  });

  it('shares a refusal too: concurrent copies of one forged token cost one verification', async () => {
    const verifier = await build();
    const token = await signToken(impostor);
    const errs = await Promise.all(Array.from({ length: 4 }, () => refusal(verifier, token)));
    assert.ok(errs.every((e) => e.category === 'bad signature'));
    assert.equal(verifier.stats().verifications, 1);
  });
});
