/**
 * Fakes of the sidecar's collaborators for unit tests of its request path: a verifier that
 * accepts any credential as the tenant's owner, and a directory whose users move on to a new
 * version on every fresh read, as if another replica kept writing them. Beside them, the one
 * real collaborator those tests share: the policy store over the shipped policies.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createBodyBudget } from '../../src/common/body.js';
import { createLogger } from '../../src/common/logger.js';
import { etagOf } from '../../src/common/user.js';
import type { CredentialVerifier } from '../../src/sidecar/authn/verifier.js';
import {
  createPolicyStore,
  type PolicyStore,
  type PolicyStoreOptions,
} from '../../src/sidecar/authz/policy-store.js';
import type { UserDirectory } from '../../src/sidecar/directory.js';
import { createPipeline, type PipelineDeps } from '../../src/sidecar/pipeline.js';
import type { UserFacts, UserRecord } from '../../src/sidecar/user-facts.js';
import { shippedPolicies } from './process.js';

export const T = 'AAAAAAAA-0000-4000-8000-000000000000';
export const OWNER = 'BBBBBBBB-0000-4000-8000-000000000000';
export const U1 = 'CCCCCCCC-0000-4000-8000-000000000001';
export const U2 = 'CCCCCCCC-0000-4000-8000-000000000002';

export function userOf(id: string, roles: string[], isOwner = false): UserFacts {
  return { id, tenant_id: T, name: id.slice(0, 4), roles, is_owner: isOwner, avatar_digest: null };
}

/** A user of T as the directory hands it out, at version 1. */
export function recordOf(id: string, roles: string[], isOwner = false): UserRecord {
  return { user: userOf(id, roles, isOwner), etag: etagOf({ id, version: 1 }) };
}

/**
 * The real policy store over `dir`: silent, neither watching nor polling, unless `options` say
 * otherwise. The caller closes it.
 */
export function policyStoreOver(
  dir: string,
  options: Partial<PolicyStoreOptions> = {},
): Promise<PolicyStore> {
  return createPolicyStore({
    dir,
    logger: createLogger('silent'),
    watch: false,
    pollMs: 0,
    ...options,
  });
}

/** The real policy store over the shipped policies: silent, not watching. The caller closes it. */
export function shippedPolicyStore(): Promise<PolicyStore> {
  return policyStoreOver(shippedPolicies);
}

/** What the fake directory was told, besides answering lookups. */
export interface DirectoryCalls {
  gets: Array<{ id: string; fresh: boolean }>;
  invalidated: string[];
  remembered: Array<{ id: string; record: UserRecord }>;
}

/** OWNER (admin, owner), U1 and U2 (user); every fresh read of U1 or U2 bumps its version. */
export function fakeDirectory(): UserDirectory & {
  versions: Map<string, number>;
  calls: DirectoryCalls;
} {
  const versions = new Map<string, number>([
    [OWNER, 1],
    [U1, 1],
    [U2, 1],
  ]);
  const calls: DirectoryCalls = { gets: [], invalidated: [], remembered: [] };
  const current = (id: string): UserRecord => ({
    user: id === OWNER ? userOf(id, ['admin'], true) : userOf(id, ['user']),
    etag: etagOf({ id, version: versions.get(id) ?? 1 }),
  });
  return {
    versions,
    calls,
    async get(_t, id, opts = {}) {
      calls.gets.push({ id, fresh: opts.fresh === true });
      if (!versions.has(id)) return null;
      if (opts.fresh === true && id !== OWNER) versions.set(id, (versions.get(id) ?? 1) + 1);
      return current(id);
    },
    remember: (_t, id, record) => void calls.remembered.push({ id, record }),
    mark: () => 0,
    invalidate: (_t, id) => void calls.invalidated.push(id),
    clear: () => undefined,
    setTtl: () => undefined,
    stats: () => ({ hits: 0, misses: 0, size: 0, bytes: 0 }),
    close: () => undefined,
  };
}

/**
 * A directory that answers exactly `records` (by user id, any tenant) and nothing else: the very
 * record objects, as the real one hands out what it keeps. `put` replaces a user's record, as a
 * change that reached the real one does.
 */
export function directoryOf(
  records: readonly UserRecord[],
): UserDirectory & { put(record: UserRecord): void } {
  const byId = new Map(records.map((r) => [r.user.id, r]));
  return {
    put: (record) => void byId.set(record.user.id, record),
    get: async (_t, id) => byId.get(id) ?? null,
    remember: () => undefined,
    mark: () => 0,
    invalidate: () => undefined,
    clear: () => undefined,
    setTtl: () => undefined,
    stats: () => ({ hits: 0, misses: 0, size: byId.size, bytes: 0 }),
    close: () => undefined,
  };
}

/** Accepts every credential as OWNER of T. */
export const ownerVerifier: CredentialVerifier = {
  async verify() {
    return {
      token: 't',
      issuer: 'https://issuer.test/',
      subject: OWNER,
      tenantId: T,
      tenantRefusal: undefined,
      jti: undefined,
      issuedAt: undefined,
      expiresAt: Math.floor(Date.now() / 1000) + 600,
      claims: {},
    };
  },
  // It keeps no cache: every credential goes through verify.
  verifyCached: () => undefined,
  stats: () => ({ cacheHits: 0, cacheMisses: 0, size: 0, verifications: 0 }),
};

/**
 * The request pipeline over `deps`, enforcing, with small body limits, on a free loopback port.
 * The server joins `servers` for the suite to close. Resolves with its base URL.
 */
export async function servePipeline(
  deps: Pick<
    PipelineDeps,
    'verifier' | 'policies' | 'directory' | 'forwarder' | 'metrics' | 'logger'
  >,
  servers: Server[],
): Promise<string> {
  const pipeline = createPipeline({
    ...deps,
    enforce: true,
    bodyLimitBytes: 4096,
    bodyTimeoutMs: 2000,
    bodyBudget: createBodyBudget(1024 * 1024),
  });
  const server = createServer(pipeline);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
