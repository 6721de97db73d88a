/**
 * A key set fetched over HTTP: from JWKS_URL (an issuer's `jwks_url`), or from the `jwks_uri`
 * its discovery document names. Each fetch replaces the whole set, so a key the issuer no longer
 * publishes stops verifying at the next refresh. One fetch in flight at a time, shared by every
 * caller; each fetch times out; an unknown `kid` refetches at most once a cooldown; a set older
 * than REMOTE_REFRESH_MS is renewed in the background; a failed refresh keeps the keys in hand.
 */
import { createLocalJWKSet, errors, type JWTVerifyGetKey } from 'jose';
import { UnavailableError } from '../../errors.js';
import { discoverJwksUri, IssuerMismatchError } from './discovery.js';
import type { KeySet, KeySetStatus, KeySourceDeps, RemoteKeySource } from './key-source.js';
import { checkPublicJwks, summarizeJwks } from './jwks.js';

/**
 * A fetched key set older than this is refreshed in the background (jose's own default cache
 * age); it is never dropped for age alone.
 */
export const REMOTE_REFRESH_MS = 10 * 60_000;

/** While a key set was never fetched, it is asked again this often (within these bounds). */
const FIRST_FETCH_RETRY_MIN_MS = 1000;
const FIRST_FETCH_RETRY_MAX_MS = 5000;

/** Largest key set or discovery document read. */
const MAX_DOCUMENT_BYTES = 512 * 1024;

/** The remote set's state, shared by the request path, the schedule and SIGHUP. */
interface RemoteState {
  keys: JWTVerifyGetKey | undefined;
  summary: { kids: string[]; algorithms: string[] };
  /** The set as last fetched, to tell a changed set from the same one fetched again. */
  fingerprint: string;
  generation: number;
  jwksUrl: string | undefined;
  fetchedAt: number | undefined;
  lastAttemptAt: number;
  lastError: string | null;
  failures: number;
  inFlight: Promise<void> | undefined;
  timer: NodeJS.Timeout | undefined;
  closed: boolean;
}

/** What each step of a remote key set works on. */
interface Remote {
  readonly source: RemoteKeySource;
  readonly deps: KeySourceDeps;
  readonly fetchJson: JsonFetch;
  readonly state: RemoteState;
}

/** Builds the key set of `source`; nothing is fetched until first use or `start()`. */
export function createRemoteKeySet(source: RemoteKeySource, deps: KeySourceDeps): KeySet {
  const remote: Remote = {
    source,
    deps,
    fetchJson: jsonFetcher(source.timeoutMs, deps.fetchImpl ?? fetch),
    state: initialState(source),
  };
  const { state } = remote;
  return {
    getKey: getKeyOf(remote),
    ready: () => state.fetchedAt !== undefined,
    generation: () => state.generation,
    async refresh() {
      await fetchNow(remote).catch(() => undefined);
    },
    async start() {
      try {
        await fetchNow(remote);
      } catch (err) {
        // A document of another issuer is a misconfiguration: stop the start. Anything else
        // (down, slow) may pass: the process starts not ready and keeps asking.
        if (err instanceof IssuerMismatchError) throw err;
      } finally {
        schedule(remote);
      }
    },
    status: () => statusOf(remote),
    close() {
      state.closed = true;
      if (state.timer !== undefined) clearTimeout(state.timer);
    },
  };
}

function initialState(source: RemoteKeySource): RemoteState {
  return {
    keys: undefined,
    summary: { kids: [], algorithms: [] },
    fingerprint: '',
    generation: 0,
    jwksUrl: source.kind === 'url' ? source.url : undefined,
    fetchedAt: undefined,
    lastAttemptAt: Number.NEGATIVE_INFINITY,
    lastError: null,
    failures: 0,
    inFlight: undefined,
    timer: undefined,
    closed: false,
  };
}

/** One fetch at a time: concurrent callers share it. Rejects with what went wrong. */
function fetchNow(remote: Remote): Promise<void> {
  const { state } = remote;
  state.inFlight ??= fetchOnce(remote).finally(() => (state.inFlight = undefined));
  return state.inFlight;
}

/** Fetches the set (after discovery, for a discovered one); a set that changed is a new generation. */
async function fetchOnce(remote: Remote): Promise<void> {
  const { source, deps, state } = remote;
  state.lastAttemptAt = deps.now();
  try {
    if (source.kind === 'discovery') {
      state.jwksUrl = (await discoverJwksUri(source.issuer, remote.fetchJson)).jwksUri;
    }
    const url = state.jwksUrl as string;
    const { status, body } = await remote.fetchJson(url);
    if (status !== 200) throw new Error(`${url} answered ${status}`);
    const jwks = checkPublicJwks(body, url);
    const fingerprint = JSON.stringify(jwks.keys);
    if (fingerprint !== state.fingerprint) {
      state.keys = createLocalJWKSet(jwks);
      state.summary = summarizeJwks(jwks.keys);
      state.fingerprint = fingerprint;
      state.generation += 1;
    }
    state.fetchedAt = deps.now();
    state.lastError = null;
  } catch (err) {
    recordFailure(remote, err);
    throw err;
  }
}

function recordFailure({ source, deps, state }: Remote, err: unknown): void {
  state.failures += 1;
  state.lastError = err instanceof Error ? err.message : String(err);
  deps.onFetchFailure?.();
  deps.logger.warn(
    { issuer: source.issuer, url: state.jwksUrl, err: state.lastError },
    state.keys === undefined
      ? 'the key set could not be fetched'
      : 'the key set could not be refreshed; the keys fetched before keep verifying',
  );
}

/** Stale-while-revalidate: never awaited by a request. */
function refreshWhenStale(remote: Remote): void {
  const { source, deps, state } = remote;
  const at = deps.now();
  if (state.fetchedAt === undefined || at - state.fetchedAt < REMOTE_REFRESH_MS) return;
  // While the key server fails, ask it again at most once a cooldown, not on every request.
  if (at - state.lastAttemptAt < source.cooldownMs || state.inFlight !== undefined) return;
  fetchNow(remote).catch(() => undefined);
}

/** The key for a token: fetched first if never fetched, looked for again on an unknown `kid`. */
function getKeyOf(remote: Remote): JWTVerifyGetKey {
  const { source, deps, state } = remote;
  return async (header, token) => {
    if (state.keys === undefined) {
      await fetchNow(remote).catch((err: unknown) => {
        throw new UnavailableError('the verification keys could not be fetched', { cause: err });
      });
    }
    refreshWhenStale(remote);
    try {
      return await (state.keys as JWTVerifyGetKey)(header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey)) throw err;
      // An unknown kid may be a key the issuer just published: look again, once a cooldown.
      if (deps.now() - state.lastAttemptAt < source.cooldownMs) throw err;
      const fetched = await fetchNow(remote).then(
        () => true,
        () => false,
      );
      if (!fetched) throw err;
      return (state.keys as JWTVerifyGetKey)(header, token);
    }
  };
}

/**
 * The schedule: until the first success every few seconds, then whenever the set turns stale.
 * A set fetched meanwhile (a request, SIGHUP) pushes the next refresh back: the timer never
 * adds a fetch that would eat into an unknown kid's cooldown.
 */
function schedule(remote: Remote): void {
  const { source, deps, state } = remote;
  if (state.closed) return;
  const retryMs = Math.min(
    Math.max(source.cooldownMs, FIRST_FETCH_RETRY_MIN_MS),
    FIRST_FETCH_RETRY_MAX_MS,
  );
  const delay =
    state.fetchedAt === undefined
      ? retryMs
      : Math.max(retryMs, REMOTE_REFRESH_MS - (deps.now() - state.fetchedAt));
  state.timer = setTimeout(() => {
    const fresh = state.fetchedAt !== undefined && deps.now() - state.fetchedAt < REMOTE_REFRESH_MS;
    if (fresh) return schedule(remote);
    fetchNow(remote)
      .catch(() => undefined)
      .finally(() => schedule(remote));
  }, delay);
  state.timer.unref();
}

function statusOf({ source, state }: Remote): KeySetStatus {
  return {
    source: source.kind === 'url' ? 'jwks_url' : 'discovery',
    location: state.jwksUrl ?? null,
    kids: state.summary.kids,
    algorithms: state.summary.algorithms,
    fetched: state.fetchedAt !== undefined,
    last_fetch: state.fetchedAt === undefined ? null : new Date(state.fetchedAt).toISOString(),
    last_error: state.lastError,
    fetch_failures: state.failures,
  };
}

/** A GET of a JSON document: its status and, for a 200, its body parsed. */
type JsonFetch = (url: string) => Promise<{ status: number; body: unknown }>;

/** GET `url` as JSON within `timeoutMs`, its body capped; a body that is not JSON throws. */
function jsonFetcher(timeoutMs: number, fetchImpl: typeof fetch): JsonFetch {
  return async (url) => {
    const res = await fetchImpl(url, {
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    if (res.status !== 200) return { status: res.status, body: undefined };
    if (text.length > MAX_DOCUMENT_BYTES)
      throw new Error(`${url}: over ${MAX_DOCUMENT_BYTES} bytes`);
    try {
      return { status: res.status, body: JSON.parse(text) as unknown };
    } catch {
      throw new Error(`${url} did not answer JSON`);
    }
  };
}
