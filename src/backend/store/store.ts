/**
 * The users store: one interface, two implementations (sqlite.ts, the embedded default, and
 * redis.ts when several replicas share data). Every call is scoped by tenant; versions give
 * optimistic concurrency. The same test suite (test/unit/backend/store/store-suite.ts) runs
 * against every implementation.
 */
import { newTenantId, parseTenantId } from '../../common/ids.js';
import type { NewUser, StoredUser, Tenant, UserPatch } from '../../common/user.js';
import { ConflictError, InvalidInputError, NotFoundError } from '../../errors.js';

/**
 * What a client told a write may have been applied should do (`details.retry`): every write of
 * the users API converges when sent again.
 */
export const RETRY_UNCONFIRMED =
  'send the same request again after Retry-After: a PUT converges on the same user, ' +
  'a DELETE whose first attempt held answers 404, a POST whose first attempt held answers 409';

export interface ListOptions {
  /** 1..200 */
  limit: number;
  /** Opaque cursor from a previous page's `nextCursor`. */
  cursor?: string | undefined;
  /**
   * The page's users, as the API serializes them (`pageBytesOf`), take at most this many bytes;
   * the page then ends early and `nextCursor` continues it. A page always holds at least one
   * user. Default `DEFAULT_PAGE_MAX_BYTES`.
   */
  maxBytes?: number | undefined;
}

export interface UserPage {
  users: StoredUser[];
  nextCursor: string | null;
}

export interface NewTenantOptions {
  /**
   * The tenant's id (`tenant create --id`), any case, stored canonical; a fresh random one when
   * absent. For a tenant an identity provider already names (an Entra `tid`).
   */
  id?: string | undefined;
}

export interface UserStore {
  /**
   * Creates a tenant and its owner (roles ["admin"], is_owner true) in one transaction. Throws
   * InvalidInputError when `options.id` is not UUID-shaped and ConflictError (nothing written)
   * when a tenant with that id exists.
   */
  createTenant(
    name: string,
    owner: NewUser,
    options?: NewTenantOptions,
  ): Promise<{ tenant: Tenant; owner: StoredUser }>;
  getTenant(tenantId: string): Promise<Tenant | null>;
  /** Every tenant, oldest first (`tenant list`): an operator's listing, not a request path. */
  listTenants(): Promise<Tenant[]>;
  /**
   * Users of one tenant in a stable order, at most `limit` of them and at most `maxBytes` of
   * them; throws InvalidInputError on a bad cursor.
   */
  listUsers(tenantId: string, options: ListOptions): Promise<UserPage>;
  getUser(tenantId: string, userId: string): Promise<StoredUser | null>;
  /** Throws NotFoundError (no such tenant) or ConflictError (email taken in this tenant). */
  createUser(tenantId: string, input: NewUser): Promise<StoredUser>;
  /**
   * Applies a patch atomically. With `expectedVersion`, throws PreconditionFailedError when the
   * stored version differs — or, on a store with generations, when the store is no longer in
   * `expectedGeneration` (the one the version was read in; default the store's current one).
   * Throws NotFoundError when the user is not in this tenant.
   */
  updateUser(
    tenantId: string,
    userId: string,
    patch: UserPatch,
    expectedVersion?: number,
    expectedGeneration?: string,
  ): Promise<StoredUser>;
  /** Same rules as updateUser. */
  deleteUser(
    tenantId: string,
    userId: string,
    expectedVersion?: number,
    expectedGeneration?: string,
  ): Promise<void>;
  /** Cheap liveness check for /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The id a new tenant gets: the one asked for, canonical, or a fresh one. InvalidInputError for
 * a malformed id and for the all-zero one, which the sidecar's readiness probe looks up because
 * no tenant has it.
 */
export function newTenantIdFor(options: NewTenantOptions | undefined): string {
  if (options?.id === undefined) return newTenantId();
  const id = parseTenantId(options.id);
  if (/^[0-]+$/.test(id)) {
    throw new InvalidInputError('the all-zero tenant id is reserved', {
      details: { field: 'tenant_id' },
    });
  }
  return id;
}

/** The answer to a user the tenant does not have: the same words from every store. */
export function noSuchUser(): NotFoundError {
  return new NotFoundError('no such user in this tenant');
}

/** The answer to creating a user in a tenant that does not exist. */
export function noSuchTenant(): NotFoundError {
  return new NotFoundError('no such tenant');
}

/** The answer to a new user whose email another user of the tenant has (any case). */
export function emailTaken(email: string): ConflictError {
  return new ConflictError('the email is already taken in this tenant', {
    details: { field: 'email', email },
  });
}

/** The answer to creating a tenant whose id is taken: the same words from every store. */
export function tenantExists(tenantId: string): ConflictError {
  return new ConflictError(`tenant ${tenantId} already exists`, {
    details: { field: 'id', tenant_id: tenantId },
  });
}
