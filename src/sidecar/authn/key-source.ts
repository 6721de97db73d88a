/**
 * Where verification keys come from: a remote JWKS (JWKS_URL, an issuer's `jwks_url`), the
 * `jwks_uri` of the issuer's discovery document, a JWKS file (JWKS_FILE), or the development key
 * set in DATA_DIR. Each becomes a KeySet; the verifier does not care which. The only thing a
 * token's header can select is a key already in the set: no header value ever becomes a URL, a
 * path or a cache key here.
 */
import { readFile, stat } from 'node:fs/promises';
import { createLocalJWKSet, errors, type JWTVerifyGetKey } from 'jose';
import type { Logger } from '../../common/logger.js';
import { ensureDevKeys } from './dev-keys.js';
import { checkPublicJwks, summarizeJwks } from './jwks.js';
import { createRemoteKeySet } from './remote-keys.js';

export { REMOTE_REFRESH_MS } from './remote-keys.js';

/** A key set fetched over HTTP: at a known URL, or where the issuer's discovery says. */
export type RemoteKeySource =
  | { kind: 'url'; url: string; issuer?: string; timeoutMs: number; cooldownMs: number }
  | { kind: 'discovery'; issuer: string; timeoutMs: number; cooldownMs: number };

/** The places keys can come from. */
export type KeySource =
  RemoteKeySource | { kind: 'file'; path: string } | { kind: 'dev'; dataDir: string };

/** What a key set needs from its surroundings. */
export interface KeySourceDeps {
  /** Clock in ms since the epoch (re-read and refresh pacing). */
  now: () => number;
  logger: Logger;
  fetchImpl?: typeof fetch;
  /** Called on every failed fetch or re-read (the per-issuer failure metric). */
  onFetchFailure?: () => void;
}

/** What /status shows of one key set. */
export interface KeySetStatus {
  source: 'jwks_url' | 'discovery' | 'file' | 'dev';
  /** The JWKS URL (once discovered) or the file. */
  location: string | null;
  kids: string[];
  algorithms: string[];
  /** Fetched (or read) at least once: until then the process is not ready. */
  fetched: boolean;
  last_fetch: string | null;
  last_error: string | null;
  fetch_failures: number;
}

/** One issuer's verification keys. */
export interface KeySet {
  readonly getKey: JWTVerifyGetKey;
  /** Fetched or read at least once. */
  ready(): boolean;
  /** Changes whenever the set of published keys does: credentials verified before are re-checked. */
  generation(): number;
  /** Fetches or re-reads now (SIGHUP); resolves when done, never rejects. */
  refresh(): Promise<void>;
  /**
   * The first fetch and the background schedule. Resolves after the first attempt, whatever
   * its outcome, except a discovery document of another issuer (IssuerMismatchError).
   */
  start(): Promise<void>;
  status(): KeySetStatus;
  /** Stops the schedule. */
  close(): void;
}

/**
 * A file-backed set is looked at again at most this often: on every request the file's identity
 * (mtime, size, inode) is compared, and an unknown `kid` forces a re-read.
 */
export const FILE_RECHECK_MS = 1000;

/**
 * Builds the key set of `source`. File and dev sources are read now, so a missing or malformed
 * key set stops the process at start; a remote set is fetched by `start()` or on first use.
 */
export async function createKeySet(source: KeySource, deps: KeySourceDeps): Promise<KeySet> {
  switch (source.kind) {
    case 'url':
    case 'discovery':
      return createRemoteKeySet(source, deps);
    case 'file':
      return createFileKeySet(source.path, 'file', deps);
    case 'dev': {
      const { jwksPath } = await ensureDevKeys(source.dataDir);
      return createFileKeySet(jwksPath, 'dev', deps);
    }
  }
}

interface FileIdentity {
  mtimeMs: number;
  size: number;
  ino: number;
}

async function createFileKeySet(
  path: string,
  source: 'file' | 'dev',
  deps: KeySourceDeps,
): Promise<KeySet> {
  const file = await readFirst(path, deps.now);
  const paced = pacedRereads((force) => reread(file, path, force, deps), deps.now);
  return {
    async getKey(header, token) {
      await paced.check(false);
      try {
        return await file.loaded.keys(header, token);
      } catch (err) {
        if (!(err instanceof errors.JWKSNoMatchingKey)) throw err;
        await paced.check(true);
        return file.loaded.keys(header, token);
      }
    },
    ready: () => true,
    generation: () => file.generation,
    refresh: () => paced.now(),
    start: () => Promise.resolve(),
    status: () => ({
      source,
      location: path,
      kids: file.loaded.summary.kids,
      algorithms: file.loaded.summary.algorithms,
      fetched: true,
      last_fetch: new Date(file.readAt).toISOString(),
      last_error: file.lastError,
      fetch_failures: file.failures,
    }),
    close: () => undefined,
  };
}

/** A JWKS file's keys as last read, and how its reads went. */
interface FileKeys {
  identity: FileIdentity;
  loaded: LoadedJwks;
  generation: number;
  readAt: number;
  lastError: string | null;
  failures: number;
}

/** The first read: a file that cannot be read or parsed throws (the process must not start). */
async function readFirst(path: string, now: () => number): Promise<FileKeys> {
  const identity = await identify(path);
  const loaded = readJwksFile(await readFile(path, 'utf8'), path);
  return { identity, loaded, generation: 1, readAt: now(), lastError: null, failures: 0 };
}

/**
 * Re-reads the file if it changed (or unconditionally when `force`). Never throws: a file that
 * cannot be read or parsed leaves the last good set in force.
 */
async function reread(
  file: FileKeys,
  path: string,
  force: boolean,
  deps: KeySourceDeps,
): Promise<void> {
  try {
    const current = await identify(path);
    if (!force && sameIdentity(current, file.identity)) return;
    const next = readJwksFile(await readFile(path, 'utf8'), path);
    if (next.fingerprint !== file.loaded.fingerprint) file.generation += 1;
    file.loaded = next;
    file.identity = current;
    file.readAt = deps.now();
    file.lastError = null;
    deps.logger.info({ path }, 'JWKS file re-read');
  } catch (err) {
    file.failures += 1;
    file.lastError = err instanceof Error ? err.message : String(err);
    deps.onFetchFailure?.();
    deps.logger.warn(
      { path, err: file.lastError },
      'JWKS file unreadable; keeping the last good key set',
    );
  }
}

/** When a re-read runs: at most once a FILE_RECHECK_MS for each kind, or now (SIGHUP). */
interface PacedRereads {
  /** A check (`force`: an unknown `kid`, which re-reads even an unchanged file), if it is time. */
  check(force: boolean): Promise<void>;
  /** A forced re-read now, whatever the pacing. */
  now(): Promise<void>;
}

function pacedRereads(reread: (force: boolean) => Promise<void>, now: () => number): PacedRereads {
  let lastCheckAt = now();
  let lastForcedAt = Number.NEGATIVE_INFINITY;
  // Reads run one after another, so a forced re-read never rides on a lighter check in flight.
  let reads: Promise<void> = Promise.resolve();
  const check = async (force: boolean): Promise<void> => {
    const at = now();
    if (force ? at - lastForcedAt < FILE_RECHECK_MS : at - lastCheckAt < FILE_RECHECK_MS) return;
    if (force) lastForcedAt = at;
    lastCheckAt = at;
    reads = reads.then(() => reread(force));
    await reads;
  };
  return {
    check,
    now: () => {
      lastForcedAt = Number.NEGATIVE_INFINITY;
      return check(true);
    },
  };
}

interface LoadedJwks {
  keys: JWTVerifyGetKey;
  fingerprint: string;
  summary: { kids: string[]; algorithms: string[] };
}

function readJwksFile(text: string, path: string): LoadedJwks {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new Error(`${path} is not valid JSON`, { cause });
  }
  const jwks = checkPublicJwks(value, path);
  return {
    keys: createLocalJWKSet(jwks),
    fingerprint: JSON.stringify(jwks.keys),
    summary: summarizeJwks(jwks.keys),
  };
}

async function identify(path: string): Promise<FileIdentity> {
  const s = await stat(path);
  return { mtimeMs: s.mtimeMs, size: s.size, ino: s.ino };
}

function sameIdentity(a: FileIdentity, b: FileIdentity): boolean {
  return a.mtimeMs === b.mtimeMs && a.size === b.size && a.ino === b.ino;
}
