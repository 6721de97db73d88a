/**
 * The sidecar's own reads from the users backend (principal and target lookups, readiness),
 * over one keep-alive agent. Backend replies become the project's types here, and failures
 * become the contract's 502/504 errors.
 */
import { Agent, request } from 'node:http';
import { UpstreamTimeoutError, UpstreamUnavailableError } from '../errors.js';
import { TENANT_HEADER, TRUST_HEADER } from '../common/headers.js';
import { isStrongEntityTag } from '../common/if-match.js';
import type { Logger } from '../common/logger.js';
import { avatarDigestOf } from '../policy/context.js';
import { BackendUserError, readBackendUser } from './backend-user.js';
import type { UserRecord } from './user-facts.js';

/**
 * The backend refused the sidecar's trust secret (401): the two were given different
 * `TRUST_SECRET`s, and every request through this sidecar will fail until they agree.
 */
export class TrustRejectedError extends UpstreamUnavailableError {
  constructor() {
    super('the users backend refused the trust secret');
  }
}

/**
 * The id readiness looks up, as tenant and as user: UUID-shaped, so it passes every check a
 * real lookup passes, and never made by `newUserId`/`newTenantId` (random v4 ids), so the
 * backend answers 404 once it has trusted the call and asked its store.
 */
export const READINESS_PROBE_ID = '00000000-0000-0000-0000-000000000000';

/** How often a trust rejection is logged again while it lasts (it fails every request). */
const TRUST_LOG_EVERY_MS = 10_000;

/**
 * The backend's JSON for one user, and its ETag, as checked facts: the one place its answer is
 * converted (docs/backend-contract.md).
 * With `expected`, the user must be that user of that tenant — a backend that answered for
 * another tenant must never be decided on. Throws UpstreamUnavailableError (502) otherwise.
 */
export function parseUserRecord(
  body: string,
  etag: string,
  expected?: { tenantId: string; userId: string },
): UserRecord {
  // The sidecar sends this tag back as If-Match, which compares strongly (RFC 9110 §13.1.1): a
  // weak one would turn every write into 412s and then a 503. Its inner form is the backend's.
  if (!isStrongEntityTag(etag)) {
    throw new UpstreamUnavailableError(
      'the users backend sent a user whose ETag is not a strong ETag',
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (err) {
    throw new UpstreamUnavailableError('the users backend sent a malformed user', { cause: err });
  }
  let user;
  try {
    user = readBackendUser(raw, expected);
  } catch (err) {
    if (!(err instanceof BackendUserError)) throw err;
    // The client hears which way the backend failed; the field and its value stay in the cause.
    throw new UpstreamUnavailableError(
      err.kind === 'identity'
        ? 'the users backend answered with another user or tenant'
        : 'the users backend sent a user of the wrong shape',
      { cause: err },
    );
  }
  const { id, tenant_id, name, roles, is_owner, avatar } = user;
  return {
    user: { id, tenant_id, name, roles, is_owner, avatar_digest: avatarDigestOf(avatar) },
    etag,
  };
}

export interface UpstreamClient {
  /** The user, or null when the backend says 404 in that tenant. */
  fetchUser(tenantId: string, userId: string): Promise<UserRecord | null>;
  /**
   * Resolves when the backend answers a trusted user lookup as a request's would be answered:
   * the same headers and secret, through the trust check and the store. Rejects with
   * {@link TrustRejectedError} when the backend refuses the secret.
   */
  ping(): Promise<void>;
  readonly agent: Agent;
  readonly baseUrl: URL;
  close(): void;
}

export interface UpstreamOptions {
  baseUrl: string;
  trustSecret: string;
  timeoutMs: number;
  maxSockets?: number;
  /**
   * Closes a connection idle this long (node keeps idle sockets forever otherwise, and honours
   * the backend's `Keep-Alive: timeout` hint only when this is set). Must be under the backend's
   * keep-alive timeout, or a request can be written onto a socket the backend is closing.
   */
  idleTimeoutMs?: number;
  /** Where a trust rejection is logged (error level, naming TRUST_SECRET). */
  logger?: Logger;
  /** Clock for the log throttle, for tests. */
  now?: () => number;
}

export function createUpstreamClient(options: UpstreamOptions): UpstreamClient {
  const base = new URL(options.baseUrl);
  const agent = new Agent({
    keepAlive: true,
    maxSockets: options.maxSockets ?? 256,
    scheduling: 'lifo',
    ...(options.idleTimeoutMs === undefined ? {} : { timeout: options.idleTimeoutMs }),
  });
  const target: Target = { base, agent, timeoutMs: options.timeoutMs };
  const trustRejected = trustRejectionLog(options, base.origin);

  /** A trusted GET of one user, as every lookup and the readiness probe make it. */
  const lookUp = async (tenantId: string, userId: string) => {
    const res = await getFrom(target, `/v1/users/${encodeURIComponent(userId)}`, {
      [TENANT_HEADER]: tenantId,
      [TRUST_HEADER]: options.trustSecret,
    });
    if (res.status === 401) {
      trustRejected();
      throw new TrustRejectedError();
    }
    return res;
  };

  return {
    agent,
    baseUrl: base,
    async fetchUser(tenantId, userId) {
      const res = await lookUp(tenantId, userId);
      if (res.status === 404) return null;
      if (res.status !== 200 || res.etag === undefined) {
        throw new UpstreamUnavailableError(
          `the users backend answered ${res.status} to a user lookup`,
        );
      }
      return parseUserRecord(res.body, res.etag, { tenantId, userId });
    },
    async ping() {
      const res = await lookUp(READINESS_PROBE_ID, READINESS_PROBE_ID);
      if (res.status !== 404 && res.status !== 200)
        throw new UpstreamUnavailableError(`the readiness lookup answered ${res.status}`);
    },
    close() {
      agent.destroy();
    },
  };
}

/**
 * Logs a trust rejection, at most once a TRUST_LOG_EVERY_MS while it lasts: logged here, where
 * the cause is known, for the client only ever sees a 502.
 */
function trustRejectionLog(
  { logger, now = Date.now }: Pick<UpstreamOptions, 'logger' | 'now'>,
  upstream: string,
): () => void {
  let loggedAt = -Infinity;
  return () => {
    if (now() - loggedAt < TRUST_LOG_EVERY_MS) return;
    loggedAt = now();
    logger?.error(
      { upstream, status: 401 },
      'the users backend refused the trust secret: TRUST_SECRET differs between the sidecar and the backend (or DATA_DIR/trust-secret, when TRUST_SECRET is unset); every request fails with 502 until they agree',
    );
  };
}

interface Target {
  base: URL;
  agent: Agent;
  timeoutMs: number;
}

/** One GET to the backend, read whole; failures as the contract's 502/504. */
function getFrom(
  { base, agent, timeoutMs }: Target,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; etag: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: base.hostname,
        port: base.port || 80,
        path,
        method: 'GET',
        agent,
        headers: { ...headers, accept: 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const etag = res.headers.etag;
          resolve({
            status: res.statusCode ?? 0,
            etag,
            body: Buffer.concat(chunks).toString('utf8'),
          });
        });
        res.on('error', (err) => reject(new UpstreamUnavailableError(undefined, { cause: err })));
      },
    );
    req.setTimeout(timeoutMs, () => {
      req.destroy(new UpstreamTimeoutError());
    });
    req.on('error', (err) => {
      reject(
        err instanceof UpstreamTimeoutError
          ? err
          : new UpstreamUnavailableError(undefined, { cause: err }),
      );
    });
    req.end();
  });
}
