/**
 * The context each action's policies see (declared per action in schema.cedarschema). Role sets
 * are sorted and without duplicates, so equal requests build equal contexts.
 */
import { createHash } from 'node:crypto';
import type { NewUser, UserPatch } from '../common/user.js';
import type { AuthzContext } from './types.js';

/**
 * The target user's fields an update can change, as stored before the update. The avatar is
 * its digest (`avatarDigestOf`): the sidecar does not keep users' images, only whether one
 * changes.
 */
export interface UpdateTarget {
  name: string;
  roles: readonly string[];
  avatar_digest: string | null;
}

/** SHA-256 of an avatar (base64url), or null for none: equal avatars, equal digests. */
export function avatarDigestOf(avatar: string | null): string | null {
  return avatar === null ? null : createHash('sha256').update(avatar).digest('base64url');
}

/**
 * Context of `users:update`: the roles the user will hold (`rolesRequested`: the patch's set, or
 * the current one when the patch has no roles), `rolesAdded`, `rolesRemoved`, and whether the
 * name (`nameChanges`) and the avatar (`avatarChanges`) change.
 */
export function buildUpdateContext(current: UpdateTarget, patch: UserPatch): AuthzContext {
  const currentRoles = normalizeRoles(current.roles);
  const requested = patch.roles === undefined ? currentRoles : normalizeRoles(patch.roles);
  return {
    rolesRequested: requested,
    rolesAdded: requested.filter((r) => !currentRoles.includes(r)),
    rolesRemoved: currentRoles.filter((r) => !requested.includes(r)),
    nameChanges: patch.name !== undefined && patch.name !== current.name,
    avatarChanges:
      patch.avatar !== undefined && avatarDigestOf(patch.avatar) !== current.avatar_digest,
  };
}

/** Context of `users:create`: the roles the new user asks for (`rolesRequested`). */
export function buildCreateContext(input: Pick<NewUser, 'roles'>): AuthzContext {
  return { rolesRequested: normalizeRoles(input.roles) };
}

function normalizeRoles(roles: readonly string[]): string[] {
  // A set already sorted and without duplicates (each entry of a permissions answer is one) is
  // only copied: `<` orders strings as sort() does, by UTF-16 code units.
  for (let i = 1; i < roles.length; i++) {
    if (!((roles[i - 1] as string) < (roles[i] as string))) return [...new Set(roles)].sort();
  }
  return roles.slice();
}
