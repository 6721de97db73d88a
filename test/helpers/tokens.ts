/**
 * Real keys and hand-built tokens for the credential tests. Tokens are assembled byte by byte
 * (WebCrypto for the signature) so a test can put anything in the header — `crit`, `jku`, a
 * 10 KB `kid` — that a well-behaved JWT library would refuse to produce.
 */
import assert from 'node:assert/strict';
import { createHmac, randomUUID, webcrypto } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import {
  calculateJwkThumbprint,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  importJWK,
  type CryptoKey,
  type JWK,
} from 'jose';
import { pino, type Logger } from 'pino';
import { UnauthenticatedError } from '../../src/errors.js';
import { devJwksPath, ensureDevKeys } from '../../src/sidecar/authn/dev-keys.js';

export const TENANT = '2489E9AD-2EE2-8E00-8EC9-32D5F69181C0';
/** Canonical (upper-case) ids, as the store keeps them. */
export const USER = '7D0C7A8E-52F1-4B59-9A43-0F6E8D2B1C11';
export const ISSUER = 'https://issuer.test/';
export const AUDIENCE = 'users-api';
export const TENANT_CLAIM = 'tenant_id';
export const T0_MS = Date.UTC(2030, 0, 1);
export const T0 = T0_MS / 1000;

export interface Signer {
  privateKey: CryptoKey;
  publicJwk: JWK;
  kid: string;
  spkiPem: string;
}

/** A fresh ES256 key with its public JWK (kid = thumbprint, alg, use). */
export async function createSigner(kid?: string): Promise<Signer> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(publicKey);
  const thumbprint = kid ?? (await calculateJwkThumbprint(jwk, 'sha256'));
  return {
    privateKey,
    publicJwk: { ...jwk, kid: thumbprint, alg: 'ES256', use: 'sig' },
    kid: thumbprint,
    spkiPem: await exportSPKI(publicKey),
  };
}

export function jwksOf(...signers: Signer[]): { keys: JWK[] } {
  return { keys: signers.map((s) => s.publicJwk) };
}

const b64url = (value: string | Uint8Array): string => Buffer.from(value).toString('base64url');

/** The claims of a valid credential at T0, with `overrides` applied (undefined deletes). */
export function claimsAt(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const claims: Record<string, unknown> = {
    iss: ISSUER,
    aud: AUDIENCE,
    sub: USER,
    [TENANT_CLAIM]: TENANT,
    iat: T0,
    exp: T0 + 600,
    jti: randomUUID(),
  };
  return withOverrides(claims, overrides);
}

/** `claims` with `overrides` applied: a value replaces, `undefined` deletes. */
function withOverrides(
  claims: Record<string, unknown>,
  overrides: Record<string, unknown>,
): Record<string, unknown> {
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) delete claims[k];
    else claims[k] = v;
  }
  return claims;
}

/** An ES256 compact JWS over exactly this header and payload. */
export async function signToken(
  signer: Signer,
  claims: Record<string, unknown> = claimsAt(),
  header: Record<string, unknown> = {},
): Promise<string> {
  const fullHeader: Record<string, unknown> = { alg: 'ES256', typ: 'JWT', kid: signer.kid };
  for (const [k, v] of Object.entries(header)) {
    if (v === undefined) delete fullHeader[k];
    else fullHeader[k] = v;
  }
  const input = `${b64url(JSON.stringify(fullHeader))}.${b64url(JSON.stringify(claims))}`;
  const signature = await webcrypto.subtle.sign(
    { name: 'ECDSA', hash: 'SHA-256' },
    signer.privateKey,
    Buffer.from(input),
  );
  return `${input}.${b64url(new Uint8Array(signature))}`;
}

/** `alg: none`: header and payload, empty signature. */
export function unsecuredToken(claims: Record<string, unknown> = claimsAt()): string {
  return `${b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64url(JSON.stringify(claims))}.`;
}

/** The classic key-confusion forgery: HS256 keyed with the verifier's public key. */
export function hmacWithPublicKey(signer: Signer, secret: string, claims = claimsAt()): string {
  const input = `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT', kid: signer.kid }))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

/** A clock tests move by hand. */
export function manualClock(startMs = T0_MS): { now: () => number; advance(ms: number): void } {
  let t = startMs;
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
  };
}

/** A logger whose JSON lines the test can read. */
export function captureLogger(): { logger: Logger; lines: () => string } {
  let out = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      out += chunk.toString();
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines: () => out };
}

export const silentLogger: Logger = pino({ level: 'silent' });

/** The claims a `start` stack requires by default. */
export const DEV_ISSUER = 'cedargate-dev';
export const DEV_AUDIENCE = 'cedargate';

/** The stack's development key as a fixtures `Signer`, so any header and claims can be signed. */
export async function devSigner(dataDir: string): Promise<Signer> {
  const { privateKey, kid } = await ensureDevKeys(dataDir);
  const jwks = JSON.parse(await readFile(devJwksPath(dataDir), 'utf8')) as { keys: JWK[] };
  const publicJwk = jwks.keys.find((k) => k.kid === kid) ?? jwks.keys[0];
  if (publicJwk === undefined) throw new Error(`no key in ${devJwksPath(dataDir)}`);
  const publicKey = (await importJWK(publicJwk, 'ES256')) as CryptoKey;
  return { privateKey, kid, publicJwk, spkiPem: await exportSPKI(publicKey) };
}

/** Claims of a valid credential for `sub` in `tenant`, now; `overrides` applied (undefined deletes). */
export function liveClaims(
  tenant: string,
  sub: string,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {
    iss: DEV_ISSUER,
    aud: DEV_AUDIENCE,
    sub,
    tenant_id: tenant,
    iat: now,
    exp: now + 600,
    jti: randomUUID(),
  };
  return withOverrides(claims, overrides);
}

/** The jti claim of a JWT, read without verification (the test minted it). */
export function jtiOf(token: string): string {
  const payload = JSON.parse(
    Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'),
  ) as { jti: string };
  return payload.jti;
}

/**
 * Asserts that a credential check is refused as the client sees it (401 `unauthenticated`, the
 * generic message) and with a logged reason matching `reason`.
 */
export async function assertRejected(promise: Promise<unknown>, reason: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(
      err instanceof UnauthenticatedError,
      `expected UnauthenticatedError, got ${String(err)}`,
    );
    assert.equal(err.code, 'unauthenticated');
    assert.equal(err.status, 401);
    assert.equal(err.message, 'missing or invalid credential');
    assert.match(err.reason, reason);
    return true;
  });
}
