/**
 * One authorization question, asked one way: (action, principal facts, target facts, input) →
 * the Cedar request, context included. The sidecar's decision, the permissions answer, the
 * playground, `policy test` and `policy explain` all build their request here, so that none of
 * them can ask a question the request path would not (issue 24, item 1).
 */
import type { NewUser, UserPatch } from '../common/user.js';
import { buildCreateContext, buildUpdateContext } from './context.js';
import type { AuthzContext, AuthzRequest, PrincipalFacts, UsersAction } from './types.js';
import { RESOURCE_KIND_OF } from './types.js';

/**
 * A user as a question reads it: the facts the policies see, and (of an update's target) the
 * fields the update context compares. The sidecar's `UserFacts` has this shape.
 */
export interface QuestionUser {
  id: string;
  tenant_id: string;
  roles: readonly string[];
  is_owner: boolean;
  /** The update context compares names (`nameChanges`). */
  name: string;
  /** SHA-256 of the avatar (`avatarDigestOf`), or null: the update compares avatars by it. */
  avatar_digest: string | null;
}

/** Who asks: only the facts the policies see (a target user gives the rest when it is self). */
export type QuestionPrincipal = Pick<QuestionUser, 'id' | 'tenant_id' | 'roles' | 'is_owner'>;

/** One question, before it becomes a Cedar request. */
export interface Question {
  action: UsersAction;
  /** The tenant the request names: the resource of `users:list` and `users:create`. */
  tenantId: string;
  principal: QuestionPrincipal;
  /** The target user of read, update and delete (absent for the tenant's actions). */
  target?: QuestionUser | undefined;
  /** The validated body: a create's new user, an update's patch. */
  input?: NewUser | UserPatch | undefined;
  /**
   * The context as given rather than built from `input` (a policy test's `context:`, which
   * states what a body would make); absent everywhere else.
   */
  context?: AuthzContext | undefined;
}

/**
 * The Cedar request of `q`. Acting on oneself, principal and resource are one entity, and the
 * target's facts are the fresher of the two (re-read after a 412): the request is decided on one
 * version of that user, never two.
 */
export function requestOfQuestion(q: Question): AuthzRequest {
  const { target } = q;
  const self = target !== undefined && target.id === q.principal.id;
  const principal = factsOf(self ? target : q.principal);
  if (RESOURCE_KIND_OF[q.action] === 'Tenant' || target === undefined) {
    return {
      principal,
      action: q.action,
      resource: { type: 'Tenant', id: q.tenantId },
      context: contextOf(q),
    };
  }
  return {
    principal,
    action: q.action,
    resource: { type: 'User', ...factsOf(target) },
    context: contextOf(q),
  };
}

/** What decides a request: a policy store, a compiled set, an isolated engine. */
export type Decider<D> = (request: AuthzRequest) => D;

/** Decides `q` with `decide`; the request is returned too, for the log and the explanation. */
export function decideQuestion<D>(
  q: Question,
  decide: Decider<D>,
): { request: AuthzRequest; decision: D } {
  const request = requestOfQuestion(q);
  return { request, decision: decide(request) };
}

/** The action's context: update → the update's changes, create → the roles asked for. */
function contextOf(q: Question): AuthzContext {
  if (q.context !== undefined) return q.context;
  if (q.input === undefined) return {};
  if (q.action === 'users:update' && q.target !== undefined)
    return buildUpdateContext(q.target, q.input);
  if (q.action === 'users:create') return buildCreateContext({ roles: q.input.roles ?? [] });
  return {};
}

function factsOf(u: QuestionPrincipal): PrincipalFacts {
  return { id: u.id, tenantId: u.tenant_id, roles: u.roles, isOwner: u.is_owner };
}
