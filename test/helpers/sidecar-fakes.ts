/**
 * Fakes of the sidecar's collaborators for unit tests of its request path: a verifier that
 * accepts any credential as the tenant's owner, and a directory whose users move on to a new
 * version on every fresh read, as if another replica kept writing them.
 */
import { etagOf } from '../../src/common/user.js';
import type { CredentialVerifier } from '../../src/sidecar/authn/verifier.js';
import type { UserDirectory } from '../../src/sidecar/directory.js';
import type { UserFacts, UserRecord } from '../../src/sidecar/user-facts.js';

export const T = 'AAAAAAAA-0000-4000-8000-000000000000';
export const OWNER = 'BBBBBBBB-0000-4000-8000-000000000000';
export const U1 = 'CCCCCCCC-0000-4000-8000-000000000001';
export const U2 = 'CCCCCCCC-0000-4000-8000-000000000002';

export function userOf(id: string, roles: string[], isOwner = false): UserFacts {
  return { id, tenant_id: T, name: id.slice(0, 4), roles, is_owner: isOwner, avatar_digest: null };
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
  const recordOf = (id: string): UserRecord => ({
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
      return recordOf(id);
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

/** A directory that answers exactly `records` (by user id, any tenant) and nothing else. */
export function directoryOf(records: readonly UserRecord[]): UserDirectory {
  const byId = new Map(records.map((r) => [r.user.id, r]));
  return {
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
  stats: () => ({ cacheHits: 0, cacheMisses: 0, size: 0, verifications: 0 }),
};
