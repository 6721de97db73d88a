/**
 * The development signing key: an ES256 key pair kept in DATA_DIR so that `bin/cedargate token`
 * can mint credentials that `bin/cedargate start` accepts. Only for laptops and demos — the
 * sidecar proper verifies against JWKS_URL or JWKS_FILE.
 *
 * Two processes (a server and the CLI) may reach a fresh DATA_DIR at the same moment. Each file
 * is written whole to a private temp file and then `link`ed into place: `link` fails with EEXIST
 * when the name is taken, so exactly one key wins and every process reads the winner.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, mkdir, open, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type CryptoKey,
  type JWK,
} from 'jose';

/** The development key, ready to sign with. */
export interface DevKeys {
  privateKey: CryptoKey;
  kid: string;
  /** The public JWKS beside it (what `start` verifies with). */
  jwksPath: string;
}

const SIGNING_KEY_FILE = 'dev-signing-key.json';
const JWKS_FILE = 'dev-jwks.json';
const ALG = 'ES256';

/** Where the development public key set lives in `dataDir`. */
export function devJwksPath(dataDir: string): string {
  return join(dataDir, JWKS_FILE);
}

/** Where the development private key lives in `dataDir` (mode 0600). */
export function devSigningKeyPath(dataDir: string): string {
  return join(dataDir, SIGNING_KEY_FILE);
}

/**
 * Returns the development key of `dataDir`, creating the key pair on first use. Safe to call
 * concurrently from several processes on the same directory: all of them end up with one key.
 */
export async function ensureDevKeys(dataDir: string): Promise<DevKeys> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const privateJwk = await readOrCreatePrivateJwk(dataDir);
  const publicJwk = publicPartOf(privateJwk);
  const jwksPath = devJwksPath(dataDir);
  await ensureJwks(jwksPath, publicJwk);
  const privateKey = await importJWK(privateJwk, ALG);
  if (privateKey instanceof Uint8Array) throw new Error(`${SIGNING_KEY_FILE} is not an EC key`);
  return { privateKey, kid: requireKid(privateJwk), jwksPath };
}

async function readOrCreatePrivateJwk(dataDir: string): Promise<JWK> {
  const path = devSigningKeyPath(dataDir);
  const existing = await readJsonIfExists(path);
  if (existing !== undefined) return checkPrivateJwk(existing, path);
  const created = await generatePrivateJwk();
  // Whoever links first wins; a loser throws its key away and reads the winner's.
  const won = await publishFile(path, `${JSON.stringify(created, null, 2)}\n`, 0o600);
  if (won) return created;
  const winner = await readJsonIfExists(path);
  if (winner === undefined) throw new Error(`${path} vanished while being created`);
  return checkPrivateJwk(winner, path);
}

async function generatePrivateJwk(): Promise<JWK> {
  const { privateKey } = await generateKeyPair(ALG, { extractable: true });
  const jwk = await exportJWK(privateKey);
  // RFC 7638 thumbprint of the public members: stable, and says nothing but the key itself.
  const kid = await calculateJwkThumbprint(publicPartOf(jwk), 'sha256');
  return { ...jwk, kid, alg: ALG, use: 'sig' };
}

/** The JWK without its private member `d`: what the JWKS publishes. */
function publicPartOf(jwk: JWK): JWK {
  const pub: Record<string, unknown> = {};
  for (const name of ['kty', 'crv', 'x', 'y', 'kid', 'alg', 'use'] as const) {
    if (jwk[name] !== undefined) pub[name] = jwk[name];
  }
  return pub;
}

/**
 * Writes the JWKS for the key if it is missing or names another key. Every writer derives the
 * same bytes from the one winning private key, so a race here cannot disagree.
 */
async function ensureJwks(path: string, publicJwk: JWK): Promise<void> {
  const content = `${JSON.stringify({ keys: [publicJwk] }, null, 2)}\n`;
  const existing = await readJsonIfExists(path);
  if (existing !== undefined && jwksHasKid(existing, requireKid(publicJwk))) return;
  if (existing === undefined && (await publishFile(path, content, 0o644))) return;
  // Missing after a lost race is impossible; present but stale (the private key was replaced by
  // hand) is not: replace it atomically.
  const again = await readJsonIfExists(path);
  if (again !== undefined && jwksHasKid(again, requireKid(publicJwk))) return;
  const tmp = tempNameFor(path);
  await writeDurably(tmp, content, 0o644);
  await rename(tmp, path);
}

function jwksHasKid(value: unknown, kid: string): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const keys = (value as { keys?: unknown }).keys;
  return (
    Array.isArray(keys) &&
    keys.some((k) => typeof k === 'object' && k !== null && (k as JWK).kid === kid)
  );
}

function checkPrivateJwk(value: unknown, path: string): JWK {
  const jwk = value as JWK;
  if (
    typeof value !== 'object' ||
    value === null ||
    jwk.kty !== 'EC' ||
    jwk.crv !== 'P-256' ||
    typeof jwk.d !== 'string' ||
    typeof jwk.kid !== 'string'
  ) {
    throw new Error(
      `${path} is not an ES256 private JWK with a kid; remove it to create a new one`,
    );
  }
  return jwk;
}

function requireKid(jwk: JWK): string {
  if (typeof jwk.kid !== 'string') throw new Error('development key has no kid');
  return jwk.kid;
}

/**
 * Writes `content` to `path` only if nothing is there yet: temp file, fsync, then `link`.
 * Resolves true when this call created the file, false when another writer got there first.
 */
async function publishFile(path: string, content: string, mode: number): Promise<boolean> {
  const tmp = tempNameFor(path);
  await writeDurably(tmp, content, mode);
  try {
    await link(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

function tempNameFor(path: string): string {
  return `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
}

async function writeDurably(path: string, content: string, mode: number): Promise<void> {
  // O_EXCL: a temp name is ours alone; `mode` is applied at creation so the private key is
  // never readable by others, not even for an instant.
  const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  try {
    await writeFile(handle, content, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function readJsonIfExists(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new Error(`${path} is not valid JSON; remove it to create a new key`, { cause });
  }
}
