/**
 * The claims a token would be refused for, checked before its signature (issue 25 item 3): an
 * expired, not-yet-valid, future-issued or wrong-audience token, or one naming no well-formed
 * user or tenant, costs a base64 decode instead of an ES256 verification (~290 µs).
 *
 * Nothing is granted here: a token that passes is verified by jose exactly as before, which
 * checks every claim again under the signature. And nothing leaks: the refusal depends only on
 * the claims the caller wrote, so its reason and category are those jose (or the checks after
 * it) would give the same claims under a valid signature — a forged token learns nothing about
 * the key. The errors are jose's own classes, so the client's category maps as before.
 */
import { errors as joseErrors, type JWTPayload } from 'jose';
import { UnauthenticatedError } from '../../errors.js';
import { identityOf } from './claims.js';
import type { TrustedIssuer } from './issuers.js';

/** Throws the refusal the claims of `payload` earn, if any, before any crypto. */
export function checkClaimsEarly(
  payload: JWTPayload,
  issuer: TrustedIssuer,
  toleranceSeconds: number,
  nowMs: number,
): void {
  const { nbf, exp, iat, aud } = payload;
  // Claims missing or of the wrong type are left to jose (rare, and its reasons for them are
  // its own): checking only well-formed ones, in jose's order, keeps every reason jose's.
  if (aud === undefined || typeof exp !== 'number' || !optionalNumber(nbf) || !optionalNumber(iat))
    return;
  if (!audienceMatches(aud, issuer.audiences)) {
    throw claimFailure('unexpected "aud" claim value', payload, 'aud');
  }
  // jose compares whole seconds, the current one floored: the same here, so the edges agree.
  const now = Math.floor(nowMs / 1000);
  if (nbf !== undefined && nbf > now + toleranceSeconds) {
    throw claimFailure('"nbf" claim timestamp check failed', payload, 'nbf');
  }
  if (exp <= now - toleranceSeconds) {
    throw new joseErrors.JWTExpired(
      '"exp" claim timestamp check failed',
      payload,
      'exp',
      'check_failed',
    );
  }
  // As the check after jose (verifier.ts): a token issued later than now comes from a broken
  // or forged issuer clock.
  if (iat !== undefined && iat > nowMs / 1000 + toleranceSeconds) {
    throw new UnauthenticatedError('iat is in the future', { category: 'not yet valid' });
  }
  // The user and tenant claims' shapes (a 401 with its reason); the tenant's refusal is not
  // decided here but recorded on the verified credential (403 later), so it is ignored.
  identityOf(payload, issuer);
}

function optionalNumber(v: unknown): v is number | undefined {
  return v === undefined || typeof v === 'number';
}

function audienceMatches(aud: unknown, ours: readonly string[]): boolean {
  if (typeof aud === 'string') return ours.includes(aud);
  return Array.isArray(aud) && aud.some((a) => typeof a === 'string' && ours.includes(a));
}

function claimFailure(
  message: string,
  payload: JWTPayload,
  claim: string,
): InstanceType<typeof joseErrors.JWTClaimValidationFailed> {
  return new joseErrors.JWTClaimValidationFailed(message, payload, claim, 'check_failed');
}
