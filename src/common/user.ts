/** The user and tenant as the contract (§3) shows them, shared by the backend and the sidecar. */

export interface Tenant {
  id: string;
  name: string;
}

export interface User {
  id: string;
  tenant_id: string;
  name: string;
  email: string;
  roles: string[];
  is_owner: boolean;
  avatar: string | null;
  auth_provider: string;
  created_at: string;
  updated_at: string;
}

/** A user as stored: the contract's fields plus the version that drives ETag and If-Match. */
export interface StoredUser extends User {
  version: number;
  /**
   * The store generation the user was read in (src/common/store-generation.ts), on stores that
   * have one (Redis): a version counter names one version only within one generation.
   */
  generation?: string;
}

/** The role the tenant owner is made with and always keeps (contract §3: "The owner holds admin"). */
export const OWNER_ROLE = 'admin';

/** Validated input of `POST /v1/users` (and of the owner made by `tenant create`). */
export interface NewUser {
  name: string;
  email: string;
  roles: string[];
  auth_provider?: string;
  avatar?: string | null;
}

/** Validated input of `PUT /v1/users/{id}`: at least one field. Roles replace the set. */
export interface UserPatch {
  name?: string;
  roles?: string[];
  avatar?: string | null;
}

/** The public view of a stored user: the version is carried by the ETag, not the body. */
export function publicUser(u: StoredUser): User {
  const { version: _version, generation: _generation, ...rest } = u;
  return rest;
}

/**
 * Strong ETag for a version of a user. Its form is this backend's own: the sidecar compares
 * ETags only for equality (docs/backend-contract.md).
 */
export function etagOf(u: Pick<StoredUser, 'id' | 'version' | 'generation'>): string {
  // The generation keeps a tag from before a Redis rollback from naming the user re-made since
  // with the same counter (a strong ETag names one representation, RFC 9110 §8.8.1).
  const generation = u.generation === undefined ? '' : `.${u.generation}`;
  return `"${u.id.toLowerCase()}.${u.version}${generation}"`;
}
