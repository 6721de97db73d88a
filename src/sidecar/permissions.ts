/**
 * The permissions answer (`GET /v1/users/{id}/permissions`, `GET /v1/users/permissions`): what
 * the caller may do, asked before the user interface offers it. Each entry is the decision of
 * one concrete request, asked by the one question module (policy/question.ts) and decided by
 * the same live policy store, so the answer cannot disagree with the request it stands for:
 *
 * - read, delete: `GET` / `DELETE /v1/users/{id}`;
 * - rename: `PUT {name}` with a name other than the current one;
 * - change_avatar: `PUT {avatar}` with an avatar other than the current one;
 * - roles.add[X] (X not held): `PUT {roles: current ∪ {X}}`;
 * - roles.remove[X] (X held, in the schema or retired from it): `PUT {roles: current \ {X}}`;
 * - list: `GET /v1/users`; create: `POST /v1/users` with `roles: []`;
 * - new_user_roles[X]: `POST /v1/users` with `roles: [X]`.
 *
 * What one answer costs is bounded: R + 5 decisions for a user (R roles in the schema), R + 3 for
 * the tenant, each counted in `cedargate_decisions_total{source="permissions"}`; they are kept
 * in a decision cache of their own (policy-store.ts), so however many role sets an answer walks,
 * it evicts none of the request path's decisions; and the answer runs as one step of that cost
 * in its tenant's turn (fair-gate.ts), so a tenant asking many gets its share of the sidecar's
 * time, not everyone's. The route's own action (the gate) is decided by the request path's own
 * step (decide-or-deny.ts): counted, seen by the candidate set, recorded for `policy replay`.
 */
import type { ServerResponse } from 'node:http';
import type { NewUser, UserPatch } from '../common/user.js';
import { checkRoles } from '../common/validate.js';
import { CedargateError, NotFoundError } from '../errors.js';
import { avatarDigestOf } from '../policy/context.js';
import type { AuthzRequest, Decision, UsersAction } from '../policy/types.js';
import type { DecisionSource } from './authz/decision-cache.js';
import type { CheckedRequest } from './decide-and-forward.js';
import type { PolicyStore } from './authz/policy-store.js';
import {
  decideFairly,
  decideOrDeny,
  denialOf,
  requestOfAsk,
  type DecideDeps,
} from './decide-or-deny.js';
import type { UserDirectory } from './directory.js';
import { REQUEST_ID_HEADER } from './request-id.js';
import type { UserRecord } from './user-facts.js';

/** What answering needs of the sidecar: the live policies, the users, ENFORCE, the metrics. */
export interface PermissionsDeps extends DecideDeps {
  directory: UserDirectory;
}

/** Told of each decision an answer makes (metrics). */
export type OnDecision = (action: UsersAction, decision: Decision) => void;

/** What an answer is told besides the question: who counts, and a default deny's notice. */
export interface AnswerHooks {
  onDecision?: OnDecision | undefined;
  /** The notice of a deny no policy decided (DEFAULT_DENY_NOTICE), as the 403 says it. */
  defaultDenyNotice?: string | undefined;
}

/** The decisions one answer makes: the gate, the actions, one per role. */
export function permissionsCost(roles: number, kind: 'user' | 'tenant'): number {
  return kind === 'user' ? roles + 5 : roles + 3;
}

/**
 * A permissions route after the head's checks (credential, tenant, route, no body): the parts of
 * a checked request it needs, the principal as authenticated at the head.
 */
export type PermissionsRequest = Pick<
  CheckedRequest,
  'res' | 'ex' | 'route' | 'tenantId' | 'userId' | 'principal'
>;

/** Where a permissions answer's own decisions are kept and counted. */
const SOURCE: DecisionSource = 'permissions';

/**
 * Answers a permissions route, in the contract's order after the body: the target user (404),
 * then the route's own action (`users:read` of that user, `users:list` of the tenant) decided as
 * the real GET is — denied and enforced, the same 403 — then the answer. Nothing is forwarded.
 */
export async function answerPermissions(
  deps: PermissionsDeps,
  r: PermissionsRequest,
): Promise<number> {
  const { principal, tenantId } = r;
  let target: UserRecord | undefined;
  if (r.userId !== undefined) {
    const found = await deps.directory.get(tenantId, r.userId);
    if (found === null) throw new NotFoundError('no such user in this tenant');
    target = found;
  }
  // The gate: whoever may not read a user (list the tenant) learns nothing more through here,
  // and costs one decision, not the answer's twenty-five.
  const gate = { action: r.route.action, tenantId, principal: principal.user, target };
  await decideOrDeny(deps, { ...gate, ex: r.ex, input: undefined, source: SOURCE });
  if (deps.fair !== undefined) await decideInTurns(deps, r, target);
  const hooks: AnswerHooks = {
    onDecision: (action, d) => {
      deps.metrics.countDecision(action, d.allowed ? 'allow' : 'deny', d.cached, SOURCE);
    },
    defaultDenyNotice: deps.defaultDenyNotice,
  };
  const answer =
    target === undefined
      ? tenantPermissions(deps.policies, deps.enforce, tenantId, principal, hooks)
      : userPermissions(deps.policies, deps.enforce, tenantId, principal, target, hooks);
  return sendPermissions(r.res, answer, { [REQUEST_ID_HEADER]: r.ex.requestId });
}

/**
 * The answer's uncached decisions made one per turn of the tenant, into the permissions cache
 * (so 25 decisions never hold the event loop at once, and another tenant's work runs between
 * them); the answer is then made at once, from that cache, by one policy set. A decision evicted
 * meanwhile is simply made again there.
 */
async function decideInTurns(
  deps: PermissionsDeps,
  r: PermissionsRequest,
  target: UserRecord | undefined,
): Promise<void> {
  const asked: AuthzRequest[] = [];
  const roles = deps.policies.current().roles;
  const ask = askerOf(roles, r.tenantId, r.principal, target, undefined, (q) => {
    asked.push(q);
    return RECORDED;
  });
  if (target === undefined) tenantEntries(ask, deps.policies.current().roles);
  else userEntries(ask, deps.policies.current().roles, target);
  for (const request of asked) await decideFairly(deps, r.tenantId, request, SOURCE);
}

/** What a question is answered while its request is only being listed. */
const RECORDED: Decision = Object.freeze({
  allowed: true,
  policies: [],
  notices: [],
  errors: [],
  cached: false,
});

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

/** A tiny PNG: an avatar other than the current one, when the current one is not this. */
const AVATAR_A =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=';
const AVATAR_B =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
const DIGEST_A = avatarDigestOf(AVATAR_A);

/** The answer for one target user, as the caller `principal` asks it. */
export function userPermissions(
  policies: PolicyStore,
  enforce: boolean,
  tenantId: string,
  principal: UserRecord,
  target: UserRecord,
  hooks: AnswerHooks = {},
): UserPermissions {
  const known = policies.current().roles;
  const ask = askerOf(
    known,
    tenantId,
    principal,
    target,
    hooks.defaultDenyNotice,
    entryDecider(policies, hooks.onDecision),
  );
  return {
    tenant_id: tenantId,
    principal_id: principal.user.id,
    user_id: target.user.id,
    policy_version: policies.current().version,
    enforced: enforce,
    ...userEntries(ask, known, target),
  };
}

/** The tenant-level answer: list, create, and each role a new user may be given. */
export function tenantPermissions(
  policies: PolicyStore,
  enforce: boolean,
  tenantId: string,
  principal: UserRecord,
  hooks: AnswerHooks = {},
): TenantPermissions {
  const known = policies.current().roles;
  const ask = askerOf(
    known,
    tenantId,
    principal,
    undefined,
    hooks.defaultDenyNotice,
    entryDecider(policies, hooks.onDecision),
  );
  return {
    tenant_id: tenantId,
    principal_id: principal.user.id,
    policy_version: policies.current().version,
    enforced: enforce,
    ...tenantEntries(ask, known),
  };
}

/** How an entry is decided: by the live store, counted as `permissions`, told to `onDecision`. */
function entryDecider(
  policies: PolicyStore,
  onDecision: OnDecision | undefined,
): (request: AuthzRequest) => Decision {
  return (request) => {
    const decision = policies.decide(request, SOURCE);
    onDecision?.(request.action, decision);
    return decision;
  };
}

/** One entry's question: the concrete request it stands for, answered as a {@link Permission}. */
type Asker = (action: UsersAction, input?: UserPatch | NewUser) => Permission;

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
    else add[role] = ask('users:update', { roles: [...current, role] });
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

/**
 * Asks each entry as the request path would: the roles checked first (a 422 is not a policy's
 * answer), then the question decided by `decide`.
 */
function askerOf(
  known: readonly string[],
  tenantId: string,
  principal: UserRecord,
  target: UserRecord | undefined,
  defaultDenyNotice: string | undefined,
  decide: (request: AuthzRequest) => Decision,
): Asker {
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
    const decision = decide(request);
    if (decision.allowed) return { allowed: true };
    return { allowed: false, ...denialOf(decision, defaultDenyNotice) };
  };
}

/** Writes a permissions answer: 200 JSON, never cached (it changes with roles and policies). */
export function sendPermissions(
  res: ServerResponse,
  answer: UserPermissions | TenantPermissions,
  headers: Record<string, string>,
): number {
  const payload = JSON.stringify(answer);
  res.writeHead(200, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    'cache-control': 'no-store',
  });
  res.end(payload);
  return 200;
}

function without(roles: readonly string[], role: string): string[] {
  return roles.filter((r) => r !== role);
}

function otherAvatar(target: UserRecord): string {
  // Only whether the avatar changes reaches the policies; any other image stands for all.
  return target.user.avatar_digest === DIGEST_A ? AVATAR_B : AVATAR_A;
}

function newUser(roles: string[]): NewUser {
  return { name: 'new user', email: 'new@example.invalid', roles };
}
