/**
 * Credential → verified identity. The pipeline reads as its steps: the verified-credential cache
 * by the header itself (a header equal to one verified before passed every check below), one
 * Bearer header, the shape and header checks that need no crypto, the cache by the token, the issuer the
 * token's `iss` names and its token type, the claims that would refuse it (before any crypto:
 * early-claims.ts), then jose (one verification in flight per token) with that issuer's keys, pinned algorithms
 * and required claims, then the user and tenant by the issuer's claim paths, then the revocation
 * check (on every call, cached or not). Every failure is an UnauthenticatedError with a fixed
 * category for the client and a `reason` for the log; the token itself is never logged.
 */
import { decodeJwt, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { LRUCache } from 'lru-cache';
import { parseClaimPath } from '../../common/claim-path.js';
import type { Logger } from '../../common/logger.js';
import { CedargateError, UnauthenticatedError, type CredentialProblem } from '../../errors.js';
import { DEFAULT_MAX_TOKEN_BYTES, readBearerToken } from './bearer.js';
import { identityOf } from './claims.js';
import { checkClaimsEarly } from './early-claims.js';
import { createIssuerTrust, type IssuerTrust, type TrustedIssuer } from './issuers.js';
import type { KeySource } from './key-source.js';
import { ACCEPTED_ALGORITHMS, checkTokenHeader, checkTokenType } from './token-header.js';

export type { KeySource } from './key-source.js';

/** A credential whose signature and claims checked out. */
export interface VerifiedCredential {
  token: string;
  /** The issuer (`iss`) it was verified under. */
  issuer: string;
  /** The user claim (USER_CLAIM, default `sub`), canonical (upper-case) user id. */
  subject: string;
  /** The tenant claim (mapped by the issuer's tenant_map), canonical (upper-case) tenant id. */
  tenantId: string;
  /**
   * Why the issuer may not speak for that tenant (not one of its `tenants`, or a value its
   * `tenant_map` does not list); the tenant check answers 403 `tenant_mismatch`.
   */
  tenantRefusal: string | undefined;
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
  /** `verify` of a credential cached under this very header (no crypto), else undefined. */
  verifyCached(
    authorization: string | string[] | undefined,
  ): Promise<VerifiedCredential> | undefined;
  stats(): VerifierStats;
}

/** The verified-credential cache's counts, and the signature verifications paid. */
export interface VerifierStats {
  cacheHits: number;
  cacheMisses: number;
  size: number;
  /** Tokens handed to jose: concurrent copies of one token count once. */
  verifications: number;
}

/** One issuer given directly (JWT_ISSUER and its neighbours, and the tests). */
export interface SingleIssuerOptions {
  keys: KeySource;
  issuer: string;
  audience: string;
  /** The claim naming the credential's tenant (TENANT_CLAIM): a name or a JSON Pointer. */
  tenantClaim: string;
  /** The claim naming the user (USER_CLAIM, default `sub`). */
  userClaim?: string;
  /** JWT_TYP: the header `typ` required. */
  typ?: string;
}

/** Options of `createCredentialVerifier`: one issuer, or an IssuerTrust (ISSUERS_FILE). */
export type CredentialVerifierOptions = (SingleIssuerOptions | { trust: IssuerTrust }) & {
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
};

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
 * start); a remote set is fetched on first use (or by the trust's `start()`).
 */
export async function createCredentialVerifier(
  options: CredentialVerifierOptions,
): Promise<CredentialVerifier> {
  checkOptions(options);
  const now = options.now ?? Date.now;
  const maxTokenBytes = options.maxTokenBytes ?? DEFAULT_MAX_TOKEN_BYTES;
  const { logger, revocation } = options;
  const trust = 'trust' in options ? options.trust : await singleIssuerTrust(options, now);
  const cache = createCredentialCache(options.cacheMax ?? DEFAULT_CACHE_MAX, now, trust);
  const cold = createColdVerification(options.clockToleranceSeconds, now, trust, cache);

  /** Any header but a cached one: its checks, then the cache by the token it carries, then jose. */
  function verifyRead(
    authorization: string | string[] | undefined,
  ): VerifiedCredential | Promise<VerifiedCredential> {
    const token = readBearerToken(authorization, maxTokenBytes);
    const key = cacheKeyOf(token);
    const hit = key === authorization ? undefined : cache.hit(key);
    if (hit !== undefined) return hit;
    cache.miss();
    return cold.verify(token);
  }

  return {
    async verify(authorization) {
      try {
        const cred = cachedFor(cache, authorization) ?? (await verifyRead(authorization));
        revocation?.assertNotRevoked(cred);
        return cred;
      } catch (err) {
        throw rejection(err, logger);
      }
    },
    verifyCached(authorization) {
      const cred = cachedFor(cache, authorization);
      if (cred === undefined) return undefined;
      try {
        revocation?.assertNotRevoked(cred);
        return Promise.resolve(cred);
      } catch (err) {
        return Promise.reject(rejection(err, logger));
      }
    },
    stats: () => ({ ...cache.stats(), verifications: cold.verifications() }),
  };
}

/**
 * The credential cached under exactly this header. The cache's key is the header a client sends
 * for a token (cacheKeyOf), so a warm request costs one look-up, with none of the header's
 * checks: a string equal to a key is the header that passed them.
 */
function cachedFor(
  cache: CredentialCache,
  authorization: string | string[] | undefined,
): VerifiedCredential | undefined {
  return typeof authorization === 'string' ? cache.hit(authorization) : undefined;
}

/**
 * A token the cache missed: the checks without crypto, then jose, the result remembered. One in
 * flight per token: concurrent copies (a client's burst, or one token behind two X-Tenant-IDs)
 * wait for the first one's answer.
 */
function createColdVerification(
  clockToleranceSeconds: number,
  now: () => number,
  trust: IssuerTrust,
  cache: CredentialCache,
): { verify(token: string): Promise<VerifiedCredential>; verifications(): number } {
  const verifyToken = createTokenVerifier(clockToleranceSeconds, now);
  const inflight = new Map<string, Promise<VerifiedCredential>>();
  let verifications = 0;

  async function checkThenVerify(token: string): Promise<VerifiedCredential> {
    const header = checkTokenHeader(token);
    const { issuer, payload } = findIssuer(trust, token);
    checkTokenType(header.typ, issuer.typ);
    checkClaimsEarly(payload, issuer, clockToleranceSeconds, now());
    const generation = issuer.keySet.generation();
    verifications += 1;
    const cred = await verifyToken(token, issuer);
    cache.remember(cred, issuer, generation);
    return cred;
  }

  return {
    verify(token) {
      const pending = inflight.get(token);
      if (pending !== undefined) return pending;
      const started = checkThenVerify(token).finally(() => inflight.delete(token));
      inflight.set(token, started);
      return started;
    },
    verifications: () => verifications,
  };
}

/** The cache's key of a token: the Authorization header every client sends with it. */
function cacheKeyOf(token: string): string {
  return `Bearer ${token}`;
}

/** The trust of one issuer given by options (its key set is not started: fetched on first use). */
function singleIssuerTrust(
  options: SingleIssuerOptions & { logger: Logger; fetchImpl?: typeof fetch },
  now: () => number,
): Promise<IssuerTrust> {
  return createIssuerTrust(
    [
      {
        issuer: options.issuer,
        audiences: [options.audience],
        keys: options.keys,
        typ: options.typ,
        algorithms: ACCEPTED_ALGORITHMS,
        tenantClaim: parseClaimPath(options.tenantClaim),
        userClaim: parseClaimPath(options.userClaim ?? 'sub'),
        tenants: '*',
        tenantMap: undefined,
      },
    ],
    {
      now,
      logger: options.logger,
      ...(options.fetchImpl !== undefined && { fetchImpl: options.fetchImpl }),
    },
  );
}

/**
 * The issuer the token's `iss` names, read before any crypto: only that issuer's keys may
 * verify it, and only for its audience. The signature check that follows pins `iss` again.
 */
function findIssuer(
  trust: IssuerTrust,
  token: string,
): { issuer: TrustedIssuer; payload: JWTPayload } {
  let payload: JWTPayload;
  try {
    payload = decodeJwt(token);
  } catch {
    throw new UnauthenticatedError('token payload is not a base64url JSON object');
  }
  const { iss } = payload;
  if (iss === undefined) {
    throw new UnauthenticatedError('"iss" claim is missing', { category: 'unknown issuer' });
  }
  const issuer = typeof iss === 'string' ? trust.find(iss) : undefined;
  if (issuer === undefined) {
    throw new UnauthenticatedError('"iss" claim names no trusted issuer', {
      category: 'unknown issuer',
    });
  }
  return { issuer, payload };
}

/** The verified-credential cache (by cacheKeyOf), with its hit and miss counts. */
interface CredentialCache {
  /** The credential under `key`, counted as a hit; undefined (counting nothing) when none. */
  hit(key: string): VerifiedCredential | undefined;
  /** Counts a look-up that found nothing by any key. */
  miss(): void;
  remember(cred: VerifiedCredential, issuer: TrustedIssuer, keyGeneration: number): void;
  stats(): { cacheHits: number; cacheMisses: number; size: number };
}

/**
 * A cached credential, with what it was verified under: the issuer object in force then and the
 * generation of its key set. Either changing (a reloaded ISSUERS_FILE, a key set that dropped or
 * added a key) makes the entry worthless, so nothing verified under one issuer's settings or keys
 * is ever served under another's.
 */
interface CacheEntry {
  cred: VerifiedCredential;
  issuer: TrustedIssuer;
  keyGeneration: number;
}

function createCredentialCache(
  max: number,
  now: () => number,
  trust: IssuerTrust,
): CredentialCache {
  const cache = new LRUCache<string, CacheEntry>({
    max,
    maxSize: CACHE_MAX_BYTES,
    sizeCalculation: (_cred, key) => key.length * 2 + 512,
    ttl: CACHE_TTL_CEILING_MS,
    // The injected clock drives expiry, read fresh on every look-up.
    perf: { now },
    ttlResolution: 0,
  });
  let cacheHits = 0;
  let cacheMisses = 0;

  return {
    hit(key) {
      const entry = cache.get(key);
      // lru-cache's ttl already ends at `exp`; this second look keeps that true if it ever did not.
      if (entry !== undefined && now() < entry.cred.expiresAt * 1000 && stillTrusted(entry)) {
        cacheHits += 1;
        return entry.cred;
      }
      if (entry !== undefined) cache.delete(key);
      return undefined;
    },
    miss() {
      cacheMisses += 1;
    },
    remember(cred, issuer, keyGeneration) {
      const untilExpiry = cred.expiresAt * 1000 - now();
      // lru-cache reads a ttl of 0 as "forever": a credential at its last millisecond is not kept.
      if (untilExpiry < 1) return;
      const ttl = Math.min(untilExpiry, CACHE_TTL_CEILING_MS);
      cache.set(cacheKeyOf(cred.token), { cred, issuer, keyGeneration }, { ttl });
    },
    stats: () => ({ cacheHits, cacheMisses, size: cache.size }),
  };

  function stillTrusted(entry: CacheEntry): boolean {
    return (
      trust.find(entry.issuer.issuer) === entry.issuer &&
      entry.issuer.keySet.generation() === entry.keyGeneration
    );
  }
}

function checkOptions(options: CredentialVerifierOptions): void {
  if ('issuer' in options && options.issuer === '')
    throw new Error('credential verifier: issuer must not be empty');
  if ('audience' in options && options.audience === '')
    throw new Error('credential verifier: audience must not be empty');
  const tolerance = options.clockToleranceSeconds;
  if (!Number.isInteger(tolerance) || tolerance < 0 || tolerance > MAX_CLOCK_TOLERANCE_SECONDS) {
    throw new Error(
      `credential verifier: clock tolerance must be 0..${MAX_CLOCK_TOLERANCE_SECONDS} seconds, got ${tolerance}`,
    );
  }
}

/** jose with every check switched on, with the issuer's keys, then the claims, as project types. */
function createTokenVerifier(
  clockToleranceSeconds: number,
  now: () => number,
): (token: string, issuer: TrustedIssuer) => Promise<VerifiedCredential> {
  return async (token, issuer) => {
    const { payload } = await jwtVerify(token, issuer.keySet.getKey, {
      algorithms: [...issuer.algorithms],
      issuer: issuer.issuer,
      audience: [...issuer.audiences],
      // jose checks exp, iss and aud only when told to: make every one of them mandatory.
      requiredClaims: ['iss', 'aud', 'exp'],
      clockTolerance: clockToleranceSeconds,
      currentDate: new Date(now()),
    });
    // jose accepts an `iat` in the future; a credential issued later than now (beyond the skew
    // tolerance) comes from a broken or forged issuer clock, so it is refused like a future `nbf`.
    if (typeof payload.iat === 'number' && payload.iat > now() / 1000 + clockToleranceSeconds) {
      throw new UnauthenticatedError('iat is in the future', { category: 'not yet valid' });
    }
    return toCredential(token, payload, issuer);
  };
}

function toCredential(
  token: string,
  payload: JWTPayload,
  issuer: TrustedIssuer,
): VerifiedCredential {
  const { exp, iat, jti } = payload;
  const { subject, tenantId, tenantRefusal } = identityOf(payload, issuer);
  if (typeof exp !== 'number') {
    throw new UnauthenticatedError('exp is missing', { category: 'missing claim' });
  }
  if (jti !== undefined && typeof jti !== 'string') {
    throw new UnauthenticatedError('jti is not a string', { category: 'missing claim' });
  }
  return {
    token,
    issuer: issuer.issuer,
    subject,
    tenantId,
    tenantRefusal,
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
      : new UnauthenticatedError(reasonOf(err), { cause: err, category: categoryOf(err) });
  logger.info(
    { reason: unauthenticated.reason, category: unauthenticated.category },
    'credential rejected',
  );
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

/** The client's category of a jose failure. */
function categoryOf(err: unknown): CredentialProblem {
  if (err instanceof joseErrors.JWTExpired) return 'expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf' || err.claim === 'iat') return 'not yet valid';
    if (err.claim === 'aud') return 'wrong audience';
    if (err.claim === 'iss') return 'unknown issuer';
    return 'missing claim';
  }
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'unknown key';
  if (err instanceof joseErrors.JWKSMultipleMatchingKeys) return 'unknown key';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'bad signature';
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'bad header';
  if (err instanceof joseErrors.JOSENotSupported) return 'bad header';
  return 'malformed token';
}
