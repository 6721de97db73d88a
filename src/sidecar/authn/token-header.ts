/**
 * The JOSE header of a token, checked before any key is looked up: the algorithm is pinned to
 * asymmetric signatures, the type must be the issuer's (checkTokenType), and nothing in the header may point at a key
 * (`jku`, `x5u`, `jwk`, `x5c`) or demand an extension (`crit`) we do not implement.
 */
import { decodeProtectedHeader, type JWSAlgorithm } from 'jose';
import { UnauthenticatedError, type CredentialProblem } from '../../errors.js';

/**
 * Signature algorithms a credential may use. Asymmetric only: an HMAC algorithm would let anyone
 * holding the public key forge tokens (CVE-2022-23540), and `none` is no signature at all.
 */
export const ACCEPTED_ALGORITHMS: readonly JWSAlgorithm[] = Object.freeze([
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
]);

const ACCEPTED_ALGORITHM_SET = new Set<string>(ACCEPTED_ALGORITHMS);

/** `typ` values that mean "a JWT" (RFC 7519 §5.1, RFC 9068 §2.1), compared without case. */
const ACCEPTED_TYPES = new Set(['jwt', 'application/jwt', 'at+jwt', 'application/at+jwt']);

/** Header parameters that would make the token choose its own key, or fetch one. */
const KEY_CARRYING_PARAMETERS = ['jku', 'x5u', 'jwk', 'x5c'] as const;

/** Longest `kid` accepted; key ids are thumbprints, UUIDs or short names. */
export const MAX_KID_LENGTH = 256;
// Covers base64 and base64url thumbprints, UUIDs, URNs and dotted names; no whitespace,
// quotes, backslashes or control characters.
const KID_CHARACTERS = /^[A-Za-z0-9._~:+/=@-]+$/;
const PATH_TRAVERSAL = /(^|\/)\.\.(\/|$)/;

/** The header fields later steps read, checked. */
export interface TokenHeader {
  alg: string;
  typ: string | undefined;
}

/**
 * Throws UnauthenticatedError when the protected header of `token` is not acceptable, whoever
 * issued it; returns what the issuer's own checks (typ, algorithms) read.
 */
export function checkTokenHeader(token: string): TokenHeader {
  let header: Record<string, unknown>;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw new UnauthenticatedError('token header is not a base64url JSON object');
  }
  const { alg, typ, kid, crit } = header;
  if (typeof alg !== 'string' || !ACCEPTED_ALGORITHM_SET.has(alg)) {
    throw refused(`alg ${describe(alg)} is not accepted`);
  }
  if (typ !== undefined && typeof typ !== 'string') {
    throw refused(`typ ${describe(typ)} is not a string`, 'wrong type');
  }
  if (crit !== undefined) {
    throw refused(`crit ${describe(crit)} names extensions this verifier does not implement`);
  }
  for (const name of KEY_CARRYING_PARAMETERS) {
    if (Object.hasOwn(header, name)) throw refused(`header parameter "${name}" is not accepted`);
  }
  if (kid !== undefined) checkKid(kid);
  return { alg, typ };
}

/**
 * The token type its issuer requires (JWT_TYP, an issuer's `typ`): compared without case and
 * with an optional `application/` prefix on either side (RFC 9068 §2.1, RFC 8725 §3.11). Unset:
 * `JWT`, `at+jwt` or none, as before issuers could ask for more.
 */
export function checkTokenType(typ: string | undefined, required: string | undefined): void {
  if (required === undefined) {
    if (typ !== undefined && !ACCEPTED_TYPES.has(typ.toLowerCase())) {
      throw refused(`typ ${describe(typ)} is not JWT`, 'wrong type');
    }
    return;
  }
  if (typ === undefined || mediaType(typ) !== mediaType(required)) {
    throw refused(`typ ${describe(typ)} is not the required ${describe(required)}`, 'wrong type');
  }
}

function mediaType(typ: string): string {
  const lower = typ.toLowerCase();
  return lower.startsWith('application/') ? lower.slice('application/'.length) : lower;
}

function checkKid(kid: unknown): void {
  if (typeof kid !== 'string') throw refused('kid is not a string');
  if (kid.length === 0 || kid.length > MAX_KID_LENGTH) {
    throw refused(`kid of ${kid.length} characters (1..${MAX_KID_LENGTH} accepted)`);
  }
  if (!KID_CHARACTERS.test(kid) || PATH_TRAVERSAL.test(kid)) {
    throw refused('kid has characters a key id does not use');
  }
}

function refused(reason: string, category: CredentialProblem = 'bad header'): UnauthenticatedError {
  return new UnauthenticatedError(reason, { category });
}

/** A header value for a log line: short, and never the whole of an attacker's input. */
function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? 'undefined';
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
