/** Mints development credentials with the key from `ensureDevKeys`. */
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { parseClaimPath, setClaim } from '../../common/claim-path.js';
import { ensureDevKeys } from './dev-keys.js';

/** What a development token says. */
export interface DevTokenOptions {
  tenant: string;
  sub: string;
  ttlSeconds: number;
  issuer: string;
  audience: string;
  /** The claim that names the tenant (TENANT_CLAIM): a name or a JSON Pointer. */
  tenantClaim: string;
  /** The claim that names the user (USER_CLAIM) besides `sub`, when it is another. */
  userClaim?: string;
  /** Clock in ms since the epoch; for tests. */
  now?: () => number;
}

/** Claims the JWT library sets itself: a tenant claim of that name would be overwritten. */
const REGISTERED_CLAIMS = new Set(['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti']);

/**
 * Signs an ES256 JWT with the development key of `dataDir` (created on first use): `iss`, `aud`,
 * `sub`, the tenant claim, `iat`, `exp`, a random `jti`, and the key's `kid` in the header.
 */
export async function issueDevToken(dataDir: string, options: DevTokenOptions): Promise<string> {
  const tenantPath = parseClaimPath(options.tenantClaim);
  if (REGISTERED_CLAIMS.has(tenantPath.members[0] ?? '')) {
    throw new Error(`the tenant claim cannot be the registered claim "${options.tenantClaim}"`);
  }
  if (!Number.isSafeInteger(options.ttlSeconds) || options.ttlSeconds <= 0) {
    throw new Error(`ttlSeconds must be a positive whole number, got ${options.ttlSeconds}`);
  }
  const { privateKey, kid } = await ensureDevKeys(dataDir);
  const issuedAt = Math.floor((options.now ?? Date.now)() / 1000);
  const claims = setClaim({}, tenantPath, options.tenant);
  if (options.userClaim !== undefined && options.userClaim !== 'sub') {
    setClaim(claims, parseClaimPath(options.userClaim), options.sub);
  }
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid })
    .setIssuer(options.issuer)
    .setAudience(options.audience)
    .setSubject(options.sub)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + options.ttlSeconds)
    .setJti(randomUUID())
    .sign(privateKey);
}
