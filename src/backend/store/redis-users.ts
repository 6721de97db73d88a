/**
 * The users store's operations on Redis, each a function of the open store's context: the keys
 * of redis-keys.ts, the scripts of redis-scripts.ts, the checks of redis-checks.ts. redis.ts
 * opens the connection and wraps each in its error handling.
 */
import { decodeCursor, encodeCursor } from './cursor.js';
import { DEFAULT_PAGE_MAX_BYTES, fitsInPage, pageBytesOf } from './page-budget.js';
import { canonicalId, isIdShaped, newUserId } from '../../common/ids.js';
import {
  OWNER_ROLE,
  type NewUser,
  type StoredUser,
  type Tenant,
  type UserPatch,
} from '../../common/user.js';
import { PreconditionFailedError } from '../../errors.js';
import { checkPageLimit } from '../../common/list-query.js';
import type { StoreChecks } from './redis-checks.js';
import {
  indexMember,
  memberOf,
  pairsToHash,
  positionOf,
  tenantKeyPattern,
  tenantKeysOf,
  toStoredUser,
  userHashFields,
  userIdOf,
  type TenantKeys,
} from './redis-keys.js';
import type { StoreClient } from './redis-scripts.js';
import {
  emailTaken,
  newTenantIdFor,
  noSuchTenant,
  noSuchUser,
  tenantExists,
  type ListOptions,
  type NewTenantOptions,
  type UserPage,
} from './store.js';

/** What a user's fields other than the avatar take in a page, at most in practice. */
const FIELDS_ALLOWANCE_BYTES = 1024;

/** The open store every operation works in. */
export interface RedisStoreContext {
  client: StoreClient;
  prefix: string;
  /** The change stream's key, and the MAXLEN it is trimmed to. */
  events: string;
  maxLen: string;
  generationKey: string;
  now: () => Date;
  checks: StoreChecks;
  /** Runs a write script, acknowledged once a replica holds it when writes wait for one. */
  replicated<R>(write: () => Promise<R>, wrote: (reply: R) => boolean): Promise<R>;
}

export async function createTenant(
  ctx: RedisStoreContext,
  name: string,
  owner: NewUser,
  options: NewTenantOptions | undefined,
): Promise<{ tenant: Tenant; owner: StoredUser }> {
  const tenant: Tenant = { id: newTenantIdFor(options), name };
  const keys = tenantKeysOf(ctx.prefix, tenant.id);
  if (keys === undefined) throw new Error('checked tenant id is not UUID-shaped');
  const created = await insertUser(
    ctx,
    keys,
    { id: tenant.id, create: { name, createdAt: ctx.now().toISOString() } },
    owner,
    true,
  );
  return { tenant, owner: created };
}

export async function getTenant(ctx: RedisStoreContext, tenantId: string): Promise<Tenant | null> {
  const keys = tenantKeysOf(ctx.prefix, tenantId);
  if (keys === undefined) return null;
  const h = await ctx.client.hGetAll(keys.tenant);
  return h['id'] === undefined || h['name'] === undefined ? null : { id: h['id'], name: h['name'] };
}

export async function listTenants(ctx: RedisStoreContext): Promise<Tenant[]> {
  // SCAN, not KEYS: never blocks the server however many tenants there are.
  const found: { id: string; name: string; createdAt: string }[] = [];
  for await (const batch of ctx.client.scanIterator({
    MATCH: tenantKeyPattern(ctx.prefix),
    COUNT: 500,
  })) {
    for (const key of ([] as string[]).concat(batch)) {
      const h = await ctx.client.hGetAll(key);
      if (h['id'] !== undefined && h['name'] !== undefined)
        found.push({ id: h['id'], name: h['name'], createdAt: h['created_at'] ?? '' });
    }
  }
  found.sort((a, b) =>
    a.createdAt === b.createdAt ? (a.id < b.id ? -1 : 1) : a.createdAt < b.createdAt ? -1 : 1,
  );
  return found.map(({ id, name }) => ({ id, name }));
}

export async function listUsers(
  ctx: RedisStoreContext,
  tenantId: string,
  options: ListOptions,
): Promise<UserPage> {
  const { limit, cursor, maxBytes = DEFAULT_PAGE_MAX_BYTES } = options;
  checkPageLimit(limit);
  const after = cursor === undefined ? undefined : memberOf(decodeCursor(cursor));
  const keys = tenantKeysOf(ctx.prefix, tenantId);
  if (keys === undefined) return { users: [], nextCursor: null };
  // One extra member tells whether another page exists.
  const members = await ctx.client.zRange(
    keys.users,
    after === undefined ? '-' : `(${after}`,
    '+',
    { BY: 'LEX', LIMIT: { offset: 0, count: limit + 1 } },
  );
  const candidates = await withinEstimate(ctx, keys, members.slice(0, limit), maxBytes);
  const hashes = await Promise.all(
    candidates.map((m) => ctx.client.hGetAll(keys.user(userIdOf(m)))),
  );
  // The estimate is close, not exact (and a user may change between the reads): the exact
  // sizes decide where the page ends.
  const users: StoredUser[] = [];
  let used = 0;
  let taken = 0; // index members consumed, deleted users included
  for (const h of hashes) {
    // A user deleted between the two reads is simply not on this page.
    if (h['id'] !== undefined) {
      const user = toStoredUser(h, ctx.checks.generation());
      const bytes = pageBytesOf(user);
      if (!fitsInPage(users.length, used, bytes, maxBytes)) break;
      users.push(user);
      used += bytes;
    }
    taken++;
  }
  const lastMember = members[taken - 1];
  const more = members.length > taken && lastMember !== undefined;
  return { users, nextCursor: more ? encodeCursor(positionOf(lastMember)) : null };
}

/**
 * The first members whose users fit in `maxBytes` by their avatars' sizes (HSTRLEN, a few bytes
 * per reply) and a generous allowance for the other fields: the hashes themselves are then read
 * only for a page that fits, never for all `limit` users.
 */
async function withinEstimate(
  ctx: RedisStoreContext,
  keys: TenantKeys,
  members: string[],
  maxBytes: number,
): Promise<string[]> {
  const avatarBytes = await Promise.all(
    members.map((m) => ctx.client.hStrLen(keys.user(userIdOf(m)), 'avatar')),
  );
  let used = 0;
  let n = 0;
  for (const avatar of avatarBytes) {
    const estimate = Number(avatar) + FIELDS_ALLOWANCE_BYTES;
    if (!fitsInPage(n, used, estimate, maxBytes)) break;
    used += estimate;
    n++;
  }
  // One more than the estimate admits: if the allowance was too generous it may still fit.
  return members.slice(0, Math.min(members.length, n + 1));
}

export async function getUser(
  ctx: RedisStoreContext,
  tenantId: string,
  userId: string,
): Promise<StoredUser | null> {
  const keys = tenantKeysOf(ctx.prefix, tenantId);
  if (keys === undefined || !isIdShaped(userId)) return null;
  const h = await ctx.client.hGetAll(keys.user(canonicalId(userId)));
  return h['id'] === undefined ? null : toStoredUser(h, ctx.checks.generation());
}

export async function createUser(
  ctx: RedisStoreContext,
  tenantId: string,
  input: NewUser,
): Promise<StoredUser> {
  const keys = tenantKeysOf(ctx.prefix, tenantId);
  if (keys === undefined) throw noSuchTenant();
  return insertUser(ctx, keys, { id: canonicalId(tenantId) }, input, false);
}

/** Inserts a user (and, for `tenant create`, its tenant) in one script. */
async function insertUser(
  ctx: RedisStoreContext,
  keys: TenantKeys,
  tenant: { id: string; create?: { name: string; createdAt: string } },
  input: NewUser,
  isOwner: boolean,
): Promise<StoredUser> {
  const at = ctx.now().toISOString();
  const user: StoredUser = {
    id: newUserId(),
    tenant_id: tenant.id,
    name: input.name,
    email: input.email,
    roles: isOwner ? [OWNER_ROLE] : [...input.roles],
    is_owner: isOwner,
    avatar: input.avatar ?? null,
    auth_provider: input.auth_provider ?? 'local',
    created_at: at,
    updated_at: at,
    version: 1,
    generation: ctx.checks.generation(),
  };
  const emailKey = input.email.toLowerCase();
  const scriptKeys: [string, string, string, string, string] = [
    keys.tenant,
    keys.emails,
    keys.users,
    keys.user(user.id),
    ctx.events,
  ];
  const { create } = tenant;
  const args = [emailKey, user.id, indexMember(user), create === undefined ? '0' : '1'];
  args.push(tenant.id, create?.name ?? '', create?.createdAt ?? '', ctx.maxLen);
  args.push(...userHashFields(user, emailKey));
  const reply = await ctx.replicated(
    () => ctx.client.insertUser(scriptKeys, args),
    (r) => r === 'ok',
  );
  if (reply === 'no_tenant') throw noSuchTenant();
  if (reply === 'tenant_exists') throw tenantExists(tenant.id);
  if (reply === 'email_taken') throw emailTaken(input.email);
  if (reply !== 'ok') throw new Error(`insert script answered ${String(reply)}`);
  return user;
}

/** The expected version and generation as the scripts take them ('' for none). */
function expectedArgs(
  ctx: RedisStoreContext,
  expectedVersion: number | undefined,
  expectedGeneration: string | undefined,
): { version: string; generation: string } {
  if (expectedVersion === undefined) return { version: '', generation: '' };
  return {
    version: String(expectedVersion),
    generation: expectedGeneration ?? ctx.checks.generation(),
  };
}

export async function updateUser(
  ctx: RedisStoreContext,
  ids: { tenantId: string; userId: string },
  patch: UserPatch,
  expectedVersion: number | undefined,
  expectedGeneration: string | undefined,
): Promise<StoredUser> {
  const keys = tenantKeysOf(ctx.prefix, ids.tenantId);
  if (keys === undefined || !isIdShaped(ids.userId)) throw noSuchUser();
  const set: string[] = ['updated_at', ctx.now().toISOString()];
  const del: string[] = [];
  if (patch.name !== undefined) set.push('name', patch.name);
  if (patch.roles !== undefined) set.push('roles', JSON.stringify(patch.roles));
  if (patch.avatar === null) del.push('avatar');
  else if (patch.avatar !== undefined) set.push('avatar', patch.avatar);
  const expected = expectedArgs(ctx, expectedVersion, expectedGeneration);
  const reply = await ctx.replicated(
    () =>
      ctx.client.updateUser(
        [keys.user(canonicalId(ids.userId)), ctx.events, ctx.generationKey],
        [expected.version, ctx.maxLen, expected.generation, String(set.length / 2), ...set, ...del],
      ),
    (r) => r !== 'not_found' && r !== 'stale',
  );
  if (reply === 'not_found') throw noSuchUser();
  if (reply === 'stale') throw await staleAfterCheck(ctx);
  return toStoredUser(pairsToHash(reply), ctx.checks.generation());
}

export async function deleteUser(
  ctx: RedisStoreContext,
  ids: { tenantId: string; userId: string },
  expectedVersion: number | undefined,
  expectedGeneration: string | undefined,
): Promise<void> {
  const keys = tenantKeysOf(ctx.prefix, ids.tenantId);
  if (keys === undefined || !isIdShaped(ids.userId)) throw noSuchUser();
  const expected = expectedArgs(ctx, expectedVersion, expectedGeneration);
  const user = keys.user(canonicalId(ids.userId));
  const reply = await ctx.replicated(
    () =>
      ctx.client.deleteUser(
        [user, keys.emails, keys.users, ctx.events, ctx.generationKey],
        [expected.version, ctx.maxLen, expected.generation],
      ),
    (r) => r === 'ok',
  );
  if (reply === 'not_found') throw noSuchUser();
  if (reply === 'stale') throw await staleAfterCheck(ctx);
}

/**
 * A refused conditional write may have been refused for the generation: learn the current one
 * now, so the client's next read carries an ETag it can use.
 */
async function staleAfterCheck(ctx: RedisStoreContext): Promise<PreconditionFailedError> {
  await ctx.checks.checkGeneration().catch(() => undefined);
  return new PreconditionFailedError();
}
