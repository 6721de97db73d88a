/**
 * Where verification keys come from: a remote JWKS (JWKS_URL), a JWKS file (JWKS_FILE), or the
 * development key set in DATA_DIR. Each becomes a jose key resolver; the verifier does not care
 * which. The only thing a token's header can select is a key already in the set: no header value
 * ever becomes a URL, a path or a cache key here.
 */
import { readFile, stat } from 'node:fs/promises';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  errors,
  type JWTVerifyGetKey,
  type RemoteJWKSetOptions,
} from 'jose';
import type { Logger } from '../../common/logger.js';
import { UnavailableError } from '../../errors.js';
import { ensureDevKeys } from './dev-keys.js';

/** The three places keys can come from. */
export type KeySource =
  | { kind: 'url'; url: string; timeoutMs: number; cooldownMs: number }
  | { kind: 'file'; path: string }
  | { kind: 'dev'; dataDir: string };

/** What a key resolver needs from its surroundings. */
export interface KeySourceDeps {
  /** Clock in ms since the epoch (file re-read pacing). */
  now: () => number;
  logger: Logger;
  fetchImpl?: typeof fetch;
}

/**
 * A file-backed set is looked at again at most this often: on every request the file's identity
 * (mtime, size, inode) is compared, and an unknown `kid` forces a re-read.
 */
export const FILE_RECHECK_MS = 1000;

/**
 * Builds the key resolver for `source`. File and dev sources are read now, so a missing or
 * malformed key set stops the process at start; a remote set is fetched on first use.
 */
export async function createKeyResolver(
  source: KeySource,
  deps: KeySourceDeps,
): Promise<JWTVerifyGetKey> {
  switch (source.kind) {
    case 'url':
      return createRemoteKeyResolver(source, deps);
    case 'file':
      return createFileKeyResolver(source.path, deps);
    case 'dev': {
      const { jwksPath } = await ensureDevKeys(source.dataDir);
      return createFileKeyResolver(jwksPath, deps);
    }
  }
}

/**
 * A fetched key set older than this is refreshed in the background (jose's own default cache
 * age); it is never dropped for age alone.
 */
export const REMOTE_REFRESH_MS = 10 * 60_000;

/** The remote resolver's state, shared by the request path and the background refresh. */
interface RemoteState {
  readonly source: Extract<KeySource, { kind: 'url' }>;
  readonly deps: KeySourceDeps;
  readonly remote: ReturnType<typeof createRemoteJWKSet>;
  /** When a key set was last known to be in hand (the first success, then every refresh). */
  fetchedAt: number | undefined;
  lastAttemptAt: number;
}

function createRemoteKeyResolver(
  source: Extract<KeySource, { kind: 'url' }>,
  deps: KeySourceDeps,
): JWTVerifyGetKey {
  const state: RemoteState = {
    source,
    deps,
    remote: createRemoteJWKSet(new URL(source.url), remoteOptions(source, deps)),
    fetchedAt: undefined,
    lastAttemptAt: Number.NEGATIVE_INFINITY,
  };

  return async (header, token) => {
    refreshWhenStale(state);
    try {
      const key = await state.remote(header, token);
      state.fetchedAt ??= deps.now();
      return key;
    } catch (err) {
      throw remoteFailure(err, state);
    }
  };
}

function remoteOptions(
  source: Extract<KeySource, { kind: 'url' }>,
  deps: KeySourceDeps,
): RemoteJWKSetOptions {
  // jose does the hard parts: one in-flight fetch shared by concurrent callers, a timeout on it,
  // and a refetch on an unknown kid only once the cooldown since the last fetch has passed.
  const options: RemoteJWKSetOptions = {
    timeoutDuration: source.timeoutMs,
    cooldownDuration: source.cooldownMs,
    // jose's cache age makes a set past it unusable until a fetch succeeds: during a key-server
    // outage longer than that, every token would be refused. security.md 7 wants cached keys to
    // keep verifying, so the set never ages out here; `refreshWhenStale` renews it instead.
    cacheMaxAge: Number.POSITIVE_INFINITY,
  };
  if (deps.fetchImpl !== undefined) {
    options[customFetch] = deps.fetchImpl;
  }
  return options;
}

/** Stale-while-revalidate: never awaited by a request; a failure keeps the keys in hand. */
function refreshWhenStale(state: RemoteState): void {
  const { source, deps, remote } = state;
  const at = deps.now();
  if (state.fetchedAt === undefined || at - state.fetchedAt < REMOTE_REFRESH_MS) return;
  // While the key server fails, ask it again at most once a cooldown, not on every request.
  if (at - state.lastAttemptAt < source.cooldownMs || remote.reloading) return;
  state.lastAttemptAt = at;
  remote.reload().then(
    () => {
      state.fetchedAt = deps.now();
    },
    (err: unknown) =>
      deps.logger.warn(
        { err, url: source.url },
        'the key set could not be refreshed; the keys fetched before keep verifying',
      ),
  );
}

/** What a failed key look-up throws: the token's own fault stays as is, anything else is a 503. */
function remoteFailure(err: unknown, state: RemoteState): unknown {
  // Only these say something about the token: its key is not (or not uniquely) in the set,
  // or its alg is one no key set serves. They stay a 401.
  if (
    err instanceof errors.JWKSNoMatchingKey ||
    err instanceof errors.JWKSMultipleMatchingKeys ||
    err instanceof errors.JOSENotSupported
  ) {
    return err;
  }
  // Anything else is the key server down, slow, answering 5xx or nonsense: that says nothing
  // about the credential. A dependency failing is 503 `unavailable`, not 401, so clients and
  // alerts can tell the two apart.
  state.deps.logger.warn({ err, url: state.source.url }, 'the key set could not be fetched');
  return new UnavailableError('the verification keys could not be fetched', { cause: err });
}

interface FileIdentity {
  mtimeMs: number;
  size: number;
  ino: number;
}

async function createFileKeyResolver(path: string, deps: KeySourceDeps): Promise<JWTVerifyGetKey> {
  let identity = await identify(path);
  let keys = createLocalJWKSet(parseJwks(await readFile(path, 'utf8'), path));
  let lastCheckAt = deps.now();
  let lastForcedAt = Number.NEGATIVE_INFINITY;
  // Reads run one after another, so a forced re-read never rides on a lighter check in flight.
  let reads: Promise<void> = Promise.resolve();

  /** Re-reads the file if it changed (or unconditionally when `force`); keeps the last good set. */
  async function refresh(force: boolean): Promise<void> {
    const at = deps.now();
    if (force ? at - lastForcedAt < FILE_RECHECK_MS : at - lastCheckAt < FILE_RECHECK_MS) return;
    if (force) lastForcedAt = at;
    lastCheckAt = at;
    reads = reads.then(() => reread(force));
    await reads;
  }

  /** Never throws: a file that cannot be read or parsed leaves the last good set in force. */
  async function reread(force: boolean): Promise<void> {
    try {
      const current = await identify(path);
      if (!force && sameIdentity(current, identity)) return;
      const next = createLocalJWKSet(parseJwks(await readFile(path, 'utf8'), path));
      keys = next;
      identity = current;
      deps.logger.info({ path }, 'JWKS file re-read');
    } catch (err) {
      deps.logger.warn(
        { path, err: err instanceof Error ? err.message : String(err) },
        'JWKS file unreadable; keeping the last good key set',
      );
    }
  }

  return async (header, token) => {
    await refresh(false);
    try {
      return await keys(header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey)) throw err;
      await refresh(true);
      return keys(header, token);
    }
  };
}

async function identify(path: string): Promise<FileIdentity> {
  const s = await stat(path);
  return { mtimeMs: s.mtimeMs, size: s.size, ino: s.ino };
}

function sameIdentity(a: FileIdentity, b: FileIdentity): boolean {
  return a.mtimeMs === b.mtimeMs && a.size === b.size && a.ino === b.ino;
}

function parseJwks(text: string, path: string): Parameters<typeof createLocalJWKSet>[0] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new Error(`${path} is not valid JSON`, { cause });
  }
  const keys = (value as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) {
    throw new Error(`${path} is not a JWKS: expected {"keys": [ ...at least one JWK ]}`);
  }
  for (const key of keys) {
    if (typeof key === 'object' && key !== null && 'd' in key) {
      // A private key in a file we read as public is a leak waiting to happen; refuse it.
      throw new Error(`${path} contains a private key; publish only public keys`);
    }
  }
  return value as Parameters<typeof createLocalJWKSet>[0];
}
