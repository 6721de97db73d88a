/**
 * The sidecar's own reads from the users backend (principal and target lookups, readiness),
 * over one keep-alive agent. Backend replies become the project's types here, and failures
 * become the contract's 502/504 errors.
 */
import { Agent, request } from 'node:http';
import { UpstreamTimeoutError, UpstreamUnavailableError } from '../errors.js';
import { TENANT_HEADER, TRUST_HEADER } from '../common/headers.js';
import { canonicalId } from '../common/ids.js';
import { isStrongEntityTag } from '../common/if-match.js';
import { avatarDigestOf } from '../policy/context.js';

/**
 * What the sidecar's decisions read about a user, and nothing more: a user's avatar can be
 * 256 KiB, and the directory holds thousands of users. The avatar is kept as its digest, which
 * is all `avatarChanges` needs.
 */
export interface UserFacts {
  id: string;
  tenant_id: string;
  /** The update context compares names (`nameChanges`). */
  name: string;
  roles: string[];
  is_owner: boolean;
  /** SHA-256 of the avatar (base64url), or null when the user has none. */
  avatar_digest: string | null;
}

/** A user as the backend knows it now, with the ETag that names this version. */
export interface UserRecord {
  user: UserFacts;
  etag: string;
}

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
  const u = (typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? raw : {}) as Record<
    string,
    unknown
  >;
  const { id, tenant_id, name, roles, is_owner, avatar } = u;
  if (
    typeof id !== 'string' ||
    typeof tenant_id !== 'string' ||
    typeof name !== 'string' ||
    !Array.isArray(roles) ||
    !roles.every((r): r is string => typeof r === 'string') ||
    typeof is_owner !== 'boolean' ||
    (avatar !== null && typeof avatar !== 'string')
  ) {
    throw new UpstreamUnavailableError('the users backend sent a user of the wrong shape');
  }
  if (
    expected !== undefined &&
    (canonicalId(tenant_id) !== canonicalId(expected.tenantId) ||
      canonicalId(id) !== canonicalId(expected.userId))
  ) {
    throw new UpstreamUnavailableError('the users backend answered with another user or tenant');
  }
  return {
    user: { id, tenant_id, name, roles, is_owner, avatar_digest: avatarDigestOf(avatar) },
    etag,
  };
}

export interface UpstreamClient {
  /** The user, or null when the backend says 404 in that tenant. */
  fetchUser(tenantId: string, userId: string): Promise<UserRecord | null>;
  /** Resolves when the backend answers its health check. */
  ping(): Promise<void>;
  readonly agent: Agent;
  readonly baseUrl: URL;
  close(): void;
}

export function createUpstreamClient(options: {
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
}): UpstreamClient {
  const base = new URL(options.baseUrl);
  const agent = new Agent({
    keepAlive: true,
    maxSockets: options.maxSockets ?? 256,
    scheduling: 'lifo',
    ...(options.idleTimeoutMs === undefined ? {} : { timeout: options.idleTimeoutMs }),
  });
  const target: Target = { base, agent, timeoutMs: options.timeoutMs };

  return {
    agent,
    baseUrl: base,
    async fetchUser(tenantId, userId) {
      const res = await getFrom(target, `/v1/users/${encodeURIComponent(userId)}`, {
        [TENANT_HEADER]: tenantId,
        [TRUST_HEADER]: options.trustSecret,
      });
      if (res.status === 404) return null;
      if (res.status !== 200 || res.etag === undefined) {
        throw new UpstreamUnavailableError(
          `the users backend answered ${res.status} to a user lookup`,
        );
      }
      return parseUserRecord(res.body, res.etag, { tenantId, userId });
    },
    async ping() {
      const res = await getFrom(target, '/healthz', {});
      if (res.status !== 200)
        throw new UpstreamUnavailableError(`backend health check answered ${res.status}`);
    },
    close() {
      agent.destroy();
    },
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
