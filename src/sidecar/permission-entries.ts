/**
 * The entries of a permissions answer (permissions.ts), each the concrete request it stands for:
 *
 * - read, delete: `GET` / `DELETE /v1/users/{id}`;
 * - rename: `PUT {name}` with a name other than the current one;
 * - change_avatar: `PUT {avatar}` with an avatar other than the current one;
 * - roles.add[X] (X not held): `PUT {roles: current ∪ {X}}`;
 * - roles.remove[X] (X held, in the schema or retired from it): `PUT {roles: current \ {X}}`;
 * - list: `GET /v1/users`; create: `POST /v1/users` with `roles: []`;
 * - new_user_roles[X]: `POST /v1/users` with `roles: [X]`.
 *
 * An answer is laid out first, its entries undecided, with the request of each in a list; the
 * caller decides those requests (at once, or a few per turn of its tenant) and fills each entry
 * with its decision ({@link decideEach}). An entry whose request would fail before the policies
 * (a 422) is answered at once and asks nothing.
 */
import type { NewUser, UserPatch } from '../common/user.js';
import { checkRoles } from '../common/validate.js';
import { CedargateError } from '../errors.js';
import { avatarDigestOf } from '../policy/context.js';
import type { AuthzRequest, Decision, UsersAction } from '../policy/types.js';
import { denialOf, requestOfAsk } from './decide-or-deny.js';
import type { UserRecord } from './user-facts.js';

/** One "may I?": yes, or no with what a 403 (or a 422) would say. */
export interface Permission {
  allowed: boolean;
  /** When denied by the policies: the 403's `notices` and `details.policies`. */
  notices?: string[];
  policies?: string[];
  /** When the request would fail before the policies (e.g. `invalid_roles`): its error code. */
  code?: string;
}

/** What the caller may do to one user. */
export interface UserPermissions {
  tenant_id: string;
  principal_id: string;
  user_id: string;
  /** The live policy set that decided (`/status`'s version). */
  policy_version: string;
  /** false in shadow mode: a "no" is then logged and forwarded marked, not refused. */
  enforced: boolean;
  actions: { read: Permission; rename: Permission; change_avatar: Permission; delete: Permission };
  roles: { add: Record<string, Permission>; remove: Record<string, Permission> };
}

/** What the caller may do in its tenant. */
export interface TenantPermissions {
  tenant_id: string;
  principal_id: string;
  policy_version: string;
  enforced: boolean;
  actions: { list: Permission; create: Permission };
  new_user_roles: Record<string, Permission>;
}

/** An entry waiting for its decision, and the request it stands for. */
export interface Pending {
  request: AuthzRequest;
  entry: Permission;
}

/** An answer laid out, its entries not yet decided, and their requests in order. */
export interface Unanswered<A> {
  answer: A;
  pending: Pending[];
}

/** Who asks, about what, under which set (its roles and version), and whether it is enforced. */
export interface AnswerFrame {
  tenantId: string;
  principal: UserRecord;
  /** The schema's roles of the set that decides. */
  known: readonly string[];
  version: string;
  enforced: boolean;
}

/** A user's answer laid out: the actions, then a role entry per role. */
export function unansweredUser(f: AnswerFrame, target: UserRecord): Unanswered<UserPermissions> {
  const pending: Pending[] = [];
  const sorted = withSortedRoles(target);
  const entries = userEntries(askerOf(f, sorted, pending), f.known, sorted);
  const answer: UserPermissions = {
    tenant_id: f.tenantId,
    principal_id: f.principal.user.id,
    user_id: target.user.id,
    policy_version: f.version,
    enforced: f.enforced,
    ...entries,
  };
  return { answer, pending };
}

/** The tenant's answer laid out: list, create, and each role a new user may be given. */
export function unansweredTenant(f: AnswerFrame): Unanswered<TenantPermissions> {
  const pending: Pending[] = [];
  const entries = tenantEntries(askerOf(f, undefined, pending), f.known);
  const answer: TenantPermissions = {
    tenant_id: f.tenantId,
    principal_id: f.principal.user.id,
    policy_version: f.version,
    enforced: f.enforced,
    ...entries,
  };
  return { answer, pending };
}

/**
 * Decides each pending entry with `decide` and fills it: allowed, or denied with what the 403
 * says (`defaultDenyNotice` when no policy decided).
 */
export function decideEach(
  pending: readonly Pending[],
  decide: (request: AuthzRequest) => Decision,
  defaultDenyNotice: string | undefined,
): void {
  for (const { request, entry } of pending) {
    const decision = decide(request);
    entry.allowed = decision.allowed;
    if (!decision.allowed) Object.assign(entry, denialOf(decision, defaultDenyNotice));
  }
}

/** One entry's question: the concrete request it stands for, its entry to fill. */
type Asker = (action: UsersAction, input?: UserPatch | NewUser) => Permission;

/**
 * Asks each entry as the request path would: the roles checked first (a 422 is not a policy's
 * answer, and is the entry at once), then the question listed, its entry left to fill.
 */
function askerOf(f: AnswerFrame, target: UserRecord | undefined, pending: Pending[]): Asker {
  const { tenantId, principal, known } = f;
  return (action, input) => {
    if (input?.roles !== undefined) {
      try {
        checkRoles(input.roles, known);
      } catch (err) {
        if (err instanceof CedargateError) return { allowed: false, code: err.code };
        throw err;
      }
    }
    const request = requestOfAsk({ action, tenantId, principal: principal.user, target, input });
    const entry: Permission = { allowed: false };
    pending.push({ request, entry });
    return entry;
  };
}

/** The entries of a user's answer, each the request it stands for. */
function userEntries(
  ask: Asker,
  known: readonly string[],
  target: UserRecord,
): Pick<UserPermissions, 'actions' | 'roles'> {
  const current = target.user.roles;
  const add: Record<string, Permission> = {};
  const remove: Record<string, Permission> = {};
  for (const role of known) {
    if (current.includes(role))
      remove[role] = ask('users:update', { roles: without(current, role) });
    else add[role] = ask('users:update', { roles: withRole(current, role) });
  }
  // A role retired from the schema that the user still holds: dropping it is a PUT too, and
  // the answer says what that PUT does (it confers nothing, so the policies do not see it go).
  for (const role of current) {
    if (!known.includes(role))
      remove[role] = ask('users:update', { roles: without(current, role) });
  }
  return {
    actions: {
      read: ask('users:read'),
      rename: ask('users:update', { name: `${target.user.name} (renamed)` }),
      change_avatar: ask('users:update', { avatar: otherAvatar(target) }),
      delete: ask('users:delete'),
    },
    roles: { add, remove },
  };
}

/** The entries of a tenant's answer. */
function tenantEntries(
  ask: Asker,
  known: readonly string[],
): Pick<TenantPermissions, 'actions' | 'new_user_roles'> {
  const create = (roles: string[]): Permission => ask('users:create', newUser(roles));
  const new_user_roles: Record<string, Permission> = {};
  for (const role of known) new_user_roles[role] = create([role]);
  return { actions: { list: ask('users:list'), create: create([]) }, new_user_roles };
}

/** A tiny PNG: an avatar other than the current one, when the current one is not this. */
const AVATAR_A =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=';
const AVATAR_B =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
const DIGEST_A = avatarDigestOf(AVATAR_A);

function without(roles: readonly string[], role: string): string[] {
  return roles.filter((r) => r !== role);
}

/** `roles` (sorted, without duplicates) with `role` added in its place: sorted still. */
function withRole(roles: readonly string[], role: string): string[] {
  const at = roles.findIndex((r) => role < r);
  return at === -1 ? [...roles, role] : [...roles.slice(0, at), role, ...roles.slice(at)];
}

/**
 * The target with its roles sorted and without duplicates, so that each entry's set (the roles
 * with one more or one less) is too, and no entry's context sorts it again: a set of roles has
 * no order, so every question is the same as on the roles as stored.
 */
function withSortedRoles(target: UserRecord): UserRecord {
  const roles = [...new Set(target.user.roles)].sort();
  return { ...target, user: { ...target.user, roles } };
}

function otherAvatar(target: UserRecord): string {
  // Only whether the avatar changes reaches the policies; any other image stands for all.
  return target.user.avatar_digest === DIGEST_A ? AVATAR_B : AVATAR_A;
}

function newUser(roles: string[]): NewUser {
  return { name: 'new user', email: 'new@example.invalid', roles };
}
