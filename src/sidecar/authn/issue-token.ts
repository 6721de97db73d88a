/** Mints development credentials with the key from `ensureDevKeys`. */
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { ensureDevKeys } from './dev-keys.js';

/** What a development token says. */
export interface DevTokenOptions {
  tenant: string;
  sub: string;
  ttlSeconds: number;
  issuer: string;
  audience: string;
  /** The claim that names the tenant (TENANT_CLAIM). */
  tenantClaim: string;
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
  if (REGISTERED_CLAIMS.has(options.tenantClaim)) {
    throw new Error(`the tenant claim cannot be the registered claim "${options.tenantClaim}"`);
  }
  if (!Number.isSafeInteger(options.ttlSeconds) || options.ttlSeconds <= 0) {
    throw new Error(`ttlSeconds must be a positive whole number, got ${options.ttlSeconds}`);
  }
  const { privateKey, kid } = await ensureDevKeys(dataDir);
  const issuedAt = Math.floor((options.now ?? Date.now)() / 1000);
  return new SignJWT({ [options.tenantClaim]: options.tenant })
    .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid })
    .setIssuer(options.issuer)
    .setAudience(options.audience)
    .setSubject(options.sub)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + options.ttlSeconds)
    .setJti(randomUUID())
    .sign(privateKey);
}
