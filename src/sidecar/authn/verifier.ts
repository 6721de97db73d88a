/**
 * Credential → verified identity. The pipeline reads as its steps: one Bearer header, the
 * shape and header checks that need no crypto, the verified-credential cache, then jose with
 * pinned algorithms and required claims, then the revocation check (on every call, cached or
 * not). Every failure is an UnauthenticatedError whose `reason` goes to the log, never to the
 * client; the token itself is never logged.
 */
import { errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { LRUCache } from 'lru-cache';
import { canonicalId, isIdShaped } from '../../common/ids.js';
import type { Logger } from '../../common/logger.js';
import { CedargateError, UnauthenticatedError } from '../../errors.js';
import { DEFAULT_MAX_TOKEN_BYTES, readBearerToken } from './bearer.js';
import { createKeyResolver, type KeySource } from './key-source.js';
import { ACCEPTED_ALGORITHMS, checkTokenHeader } from './token-header.js';

export type { KeySource } from './key-source.js';

/** A credential whose signature and claims checked out. */
export interface VerifiedCredential {
  token: string;
  /** The `sub` claim, canonical (upper-case) user id. */
  subject: string;
  /** The tenant claim, canonical (upper-case) tenant id. */
  tenantId: string;
  jti: string | undefined;
  /** Seconds since the epoch. */
  issuedAt: number | undefined;
  /** Seconds since the epoch. */
  expiresAt: number;
  /** Every claim, as the token carried it. */
  claims: Readonly<Record<string, unknown>>;
}

/** Asked on every verification, cached or not. */
export interface RevocationCheck {
  /** throws UnavailableError (503) when it cannot tell, e.g. Redis down */
  assertNotRevoked(cred: VerifiedCredential): void;
}

/** Verifies the Authorization header of a request. */
export interface CredentialVerifier {
  /** `authorization` = the raw Authorization header value(s). Resolves or throws UnauthenticatedError(reason)
   *  (or UnavailableError from the revocation check). */
  verify(authorization: string | string[] | undefined): Promise<VerifiedCredential>;
  stats(): { cacheHits: number; cacheMisses: number; size: number };
}

/** Options of `createCredentialVerifier`. */
export interface CredentialVerifierOptions {
  keys: KeySource;
  issuer: string;
  audience: string;
  /** The claim naming the credential's tenant (TENANT_CLAIM). */
  tenantClaim: string;
  clockToleranceSeconds: number;
  revocation?: RevocationCheck;
  /** Clock in ms since the epoch; expiry checks and the cache use it. */
  now?: () => number;
  /** Most verified credentials kept (default 10 000). */
  cacheMax?: number;
  /** Largest token accepted (default 8 KiB). */
  maxTokenBytes?: number;
  logger: Logger;
  fetchImpl?: typeof fetch;
}

const DEFAULT_CACHE_MAX = 10_000;
/** Bounds the cache's memory whatever the token sizes. */
const CACHE_MAX_BYTES = 32 * 1024 * 1024;
/**
 * A cached credential is re-verified at least this often even if it lives longer: a key
 * withdrawn from the JWKS stops working within this time, not at the token's `exp`.
 */
const CACHE_TTL_CEILING_MS = 60_000;
/** Larger tolerances hide expired tokens; a misconfiguration, refused at start. */
const MAX_CLOCK_TOLERANCE_SECONDS = 300;

/**
 * Builds the verifier. Reads a file or dev key set now (so a broken one stops the process at
 * start); a remote set is fetched on first use.
 */
export async function createCredentialVerifier(
  options: CredentialVerifierOptions,
): Promise<CredentialVerifier> {
  checkOptions(options);
  const now = options.now ?? Date.now;
  const maxTokenBytes = options.maxTokenBytes ?? DEFAULT_MAX_TOKEN_BYTES;
  const logger = options.logger;
  const keys = await createKeyResolver(options.keys, {
    now,
    logger,
    ...(options.fetchImpl === undefined ? {} : { fetchImpl: options.fetchImpl }),
  });
  const verifyToken = createTokenVerifier(keys, options, now);
  const cache = createCredentialCache(options.cacheMax ?? DEFAULT_CACHE_MAX, now);

  async function verify(authorization: string | string[] | undefined): Promise<VerifiedCredential> {
    try {
      const token = readBearerToken(authorization, maxTokenBytes);
      let cred = cache.lookup(token);
      if (cred === undefined) {
        checkTokenHeader(token);
        cred = await verifyToken(token);
        cache.remember(cred);
      }
      options.revocation?.assertNotRevoked(cred);
      return cred;
    } catch (err) {
      throw rejection(err, logger);
    }
  }

  return {
    verify,
    stats: () => cache.stats(),
  };
}

/** The verified-credential cache, with its hit and miss counts. */
interface CredentialCache {
  lookup(token: string): VerifiedCredential | undefined;
  remember(cred: VerifiedCredential): void;
  stats(): { cacheHits: number; cacheMisses: number; size: number };
}

function createCredentialCache(max: number, now: () => number): CredentialCache {
  const cache = new LRUCache<string, VerifiedCredential>({
    max,
    maxSize: CACHE_MAX_BYTES,
    sizeCalculation: (_cred, token) => token.length * 2 + 512,
    ttl: CACHE_TTL_CEILING_MS,
    // The injected clock drives expiry, read fresh on every look-up.
    perf: { now },
    ttlResolution: 0,
  });
  let cacheHits = 0;
  let cacheMisses = 0;

  return {
    lookup(token) {
      const cred = cache.get(token);
      // lru-cache's ttl already ends at `exp`; this second look keeps that true if it ever did not.
      if (cred !== undefined && now() < cred.expiresAt * 1000) {
        cacheHits += 1;
        return cred;
      }
      if (cred !== undefined) cache.delete(token);
      cacheMisses += 1;
      return undefined;
    },
    remember(cred) {
      const untilExpiry = cred.expiresAt * 1000 - now();
      // lru-cache reads a ttl of 0 as "forever": a credential at its last millisecond is not kept.
      if (untilExpiry < 1) return;
      cache.set(cred.token, cred, { ttl: Math.min(untilExpiry, CACHE_TTL_CEILING_MS) });
    },
    stats: () => ({ cacheHits, cacheMisses, size: cache.size }),
  };
}

function checkOptions(options: CredentialVerifierOptions): void {
  if (options.issuer === '') throw new Error('credential verifier: issuer must not be empty');
  if (options.audience === '') throw new Error('credential verifier: audience must not be empty');
  const tolerance = options.clockToleranceSeconds;
  if (!Number.isInteger(tolerance) || tolerance < 0 || tolerance > MAX_CLOCK_TOLERANCE_SECONDS) {
    throw new Error(
      `credential verifier: clock tolerance must be 0..${MAX_CLOCK_TOLERANCE_SECONDS} seconds, got ${tolerance}`,
    );
  }
}

/** jose with every check switched on, then the claims cedargate needs, as project types. */
function createTokenVerifier(
  keys: JWTVerifyGetKey,
  options: CredentialVerifierOptions,
  now: () => number,
): (token: string) => Promise<VerifiedCredential> {
  const { issuer, audience, tenantClaim, clockToleranceSeconds } = options;
  return async (token) => {
    const { payload } = await jwtVerify(token, keys, {
      algorithms: [...ACCEPTED_ALGORITHMS],
      issuer,
      audience,
      // jose checks exp, iss and aud only when told to: make every one of them mandatory.
      requiredClaims: ['iss', 'aud', 'exp', 'sub', tenantClaim],
      clockTolerance: clockToleranceSeconds,
      currentDate: new Date(now()),
    });
    // jose accepts an `iat` in the future; a credential issued later than now (beyond the skew
    // tolerance) comes from a broken or forged issuer clock, so it is refused like a future `nbf`.
    if (typeof payload.iat === 'number' && payload.iat > now() / 1000 + clockToleranceSeconds) {
      throw new UnauthenticatedError('iat is in the future');
    }
    return toCredential(token, payload, tenantClaim);
  };
}

function toCredential(token: string, payload: JWTPayload, tenantClaim: string): VerifiedCredential {
  const { sub, exp, iat, jti } = payload;
  const tenantId = payload[tenantClaim];
  if (typeof sub !== 'string' || !isIdShaped(sub)) {
    throw new UnauthenticatedError('sub is not a UUID-shaped user id');
  }
  if (typeof tenantId !== 'string' || !isIdShaped(tenantId)) {
    throw new UnauthenticatedError(`${tenantClaim} is not a UUID-shaped tenant id`);
  }
  if (typeof exp !== 'number') throw new UnauthenticatedError('exp is missing');
  if (jti !== undefined && typeof jti !== 'string') {
    throw new UnauthenticatedError('jti is not a string');
  }
  return {
    token,
    // Canonical (upper-case) ids, as the store keeps them: later checks compare strings.
    subject: canonicalId(sub),
    tenantId: canonicalId(tenantId),
    jti,
    issuedAt: iat,
    expiresAt: exp,
    claims: Object.freeze({ ...payload }),
  };
}

/**
 * Any failure as the error the caller throws: UnauthenticatedError with the reason logged, or a
 * contract error from the revocation check passed through unchanged (503 must stay 503).
 */
function rejection(err: unknown, logger: Logger): CedargateError {
  if (err instanceof CedargateError && !(err instanceof UnauthenticatedError)) return err;
  const unauthenticated =
    err instanceof UnauthenticatedError
      ? err
      : new UnauthenticatedError(reasonOf(err), { cause: err });
  logger.info({ reason: unauthenticated.reason }, 'credential rejected');
  return unauthenticated;
}

function reasonOf(err: unknown): string {
  if (err instanceof joseErrors.JWKSTimeout) return 'key set fetch timed out';
  if (err instanceof joseErrors.JWKSNoMatchingKey)
    return 'no key in the key set matches the token (kid/alg)';
  if (err instanceof joseErrors.JOSEError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return `key set or verification failure: ${err.name}: ${err.message}`;
  return 'verification failure';
}
