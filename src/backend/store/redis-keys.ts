/**
 * How the users store lays out its data in Redis, and the one place a stored user is converted.
 * Keys, all under one hash tag per tenant (`{<TENANT>}`), so every script touches a single slot
 * and the layout also fits Redis Cluster:
 *
 *   <prefix>{T}:tenant   hash    id, name, created_at
 *   <prefix>{T}:users    zset    every member scored 0: `<created_at>|<USER>`, so BYLEX order is
 *                                (created_at, id) — the SQLite store's order — and a cursor is a
 *                                position that stays valid when users are deleted
 *   <prefix>{T}:emails   hash    lower-cased email → user id (unique email per tenant)
 *   <prefix>{T}:user:U   hash    the user's fields, `version`, and `email_key`
 *
 * The change stream `<prefix>events` is outside the tenant's hash tag: the scripts are
 * single-node (Redis Cluster is out of scope, docs/scaling.md). Only UUID-shaped ids ever become
 * part of a key.
 */
import type { CursorPosition } from './cursor.js';
import { canonicalId, isIdShaped } from '../../common/ids.js';
import type { StoredUser } from '../../common/user.js';

/** The keys of one tenant. Ids are canonical and UUID-shaped (see {@link tenantKeysOf}). */
export interface TenantKeys {
  tenant: string;
  users: string;
  emails: string;
  user(userId: string): string;
}

/** Keys of a tenant, or undefined when the id could not be one (and so names no data). */
export function tenantKeysOf(prefix: string, rawTenantId: string): TenantKeys | undefined {
  if (!isIdShaped(rawTenantId)) return undefined;
  const base = `${prefix}{${canonicalId(rawTenantId)}}:`;
  return {
    tenant: `${base}tenant`,
    users: `${base}users`,
    emails: `${base}emails`,
    user: (userId) => `${base}user:${userId}`,
  };
}

/** The glob every tenant's hash matches (for SCAN). */
export function tenantKeyPattern(prefix: string): string {
  return `${prefix}{*}:tenant`;
}

/** A user's hash fields, as Redis returns them. */
export type UserHash = Record<string, string>;

/** A new user as its hash's field/value pairs, `email_key` (the lower-cased email) included. */
export function userHashFields(user: StoredUser, emailKey: string): string[] {
  return [
    ...['id', user.id, 'tenant_id', user.tenant_id, 'name', user.name, 'email', user.email],
    ...['roles', JSON.stringify(user.roles), 'is_owner', user.is_owner ? '1' : '0'],
    ...['auth_provider', user.auth_provider, 'created_at', user.created_at],
    ...['updated_at', user.updated_at, 'version', String(user.version), 'email_key', emailKey],
    ...(user.avatar === null ? [] : ['avatar', user.avatar]),
  ];
}

/**
 * Redis hash → the project's type: the one place the stored shape is converted. `generation`:
 * the store generation it was read in.
 */
export function toStoredUser(h: UserHash, generation: string): StoredUser {
  const field = (name: string): string => {
    const v = h[name];
    if (v === undefined) throw new Error(`stored user is missing the field "${name}"`);
    return v;
  };
  return {
    id: field('id'),
    tenant_id: field('tenant_id'),
    name: field('name'),
    email: field('email'),
    roles: JSON.parse(field('roles')) as string[],
    is_owner: field('is_owner') === '1',
    avatar: h['avatar'] ?? null,
    auth_provider: field('auth_provider'),
    created_at: field('created_at'),
    updated_at: field('updated_at'),
    version: Number(field('version')),
    generation,
  };
}

/** A flat [field, value, ...] reply (a script's HGETALL) as a record. */
export function pairsToHash(reply: unknown): UserHash {
  if (!Array.isArray(reply)) throw new Error('unexpected reply from the update script');
  const h: UserHash = {};
  for (let i = 0; i + 1 < reply.length; i += 2) h[String(reply[i])] = String(reply[i + 1]);
  return h;
}

/** The index member of a user: (created_at, id) in an order BYLEX keeps. */
export function indexMember(u: Pick<StoredUser, 'created_at' | 'id'>): string {
  return `${u.created_at}|${u.id}`;
}

/** The user id of an index member (`<created_at>|<USER>`). */
export function userIdOf(member: string): string {
  return member.slice(member.indexOf('|') + 1);
}

/** The index member a cursor position names. */
export function memberOf(p: CursorPosition): string {
  return indexMember({ created_at: p.createdAt, id: p.id });
}

/** The cursor position of an index member. */
export function positionOf(member: string): CursorPosition {
  const [createdAt = '', id = ''] = member.split('|');
  return { createdAt, id };
}
