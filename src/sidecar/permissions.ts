/**
 * The permissions answer (`GET /v1/users/{id}/permissions`, `GET /v1/users/permissions`): what
 * the caller may do, asked before the user interface offers it. Each entry is the decision of
 * one concrete request (permission-entries.ts lists them), asked by the one question module
 * (policy/question.ts) and decided by the same live policy store, so the answer cannot disagree
 * with the request it stands for.
 *
 * What one answer costs is bounded: R + 5 decisions for a user (R roles in the schema), R + 3 for
 * the tenant, each counted in `cedargate_decisions_total{source="permissions"}`. Decided by the
 * compiled decider, they are made directly and kept nowhere (a compiled decision costs less than
 * its cache keys: a whole answer then costs about what a GET does); decided by cedar-wasm, they
 * are kept in a decision cache of their own (policy-store.ts). Either way, however many role
 * sets an answer walks, it evicts none of the request path's decisions; and the answer runs as
 * steps of that cost in its tenant's turn (fair-gate.ts), a few decisions each, so a tenant
 * asking many gets its share of the sidecar's time, not everyone's, and no answer holds the
 * event loop at once. The route's own action (the gate) is decided by the request path's own
 * step (decide-or-deny.ts): counted, seen by the candidate set, recorded for `policy replay`.
 */
import type { ServerResponse } from 'node:http';
import { NotFoundError } from '../errors.js';
import type { AuthzRequest, Decision, UsersAction } from '../policy/types.js';
import type { DecisionSource } from './authz/decision-cache.js';
import type { CheckedRequest } from './decide-and-forward.js';
import type { DirectDecider, PolicyStore } from './authz/policy-store.js';
import { decideFairly, decideOrDeny, type DecideDeps } from './decide-or-deny.js';
import type { UserDirectory } from './directory.js';
import {
  decideEach,
  unansweredTenant,
  unansweredUser,
  type AnswerFrame,
  type TenantPermissions,
  type Unanswered,
  type UserPermissions,
} from './permission-entries.js';
import { REQUEST_ID_HEADER } from './request-id.js';
import type { UserRecord } from './user-facts.js';

export type { Permission, TenantPermissions, UserPermissions } from './permission-entries.js';

/** What answering needs of the sidecar: the live policies, the users, ENFORCE, the metrics. */
export interface PermissionsDeps extends DecideDeps {
  directory: UserDirectory;
}

/** A decision of an answer: made directly (no `cached` flag), or through the permissions cache. */
export type AnswerDecision = Omit<Decision, 'cached'> & { cached?: boolean };

/** Told of each decision an answer makes (metrics). */
export type OnDecision = (action: UsersAction, decision: AnswerDecision) => void;

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
 * Compiled decisions made in one step of the tenant's turn: a few µs each, so a step stays well
 * under one cedar-wasm decision (or a cold verification), and other tenants' work runs between
 * an answer's steps.
 */
export const DECISIONS_PER_STEP = 8;

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

type Answer = UserPermissions | TenantPermissions;

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
  const answer = await decideAnswer(deps, r, target);
  return sendPermissions(r.res, answer, { [REQUEST_ID_HEADER]: r.ex.requestId });
}

/**
 * The answer's entries decided, in the tenant's turn when there is a gate: by the compiled
 * decider, a few per step and kept nowhere; by cedar-wasm, each uncached one a step of its own,
 * kept in the permissions cache, the answer then made from that cache.
 */
async function decideAnswer(
  deps: PermissionsDeps,
  r: PermissionsRequest,
  target: UserRecord | undefined,
): Promise<Answer> {
  const hooks: AnswerHooks = {
    onDecision: (action, d) => {
      deps.metrics.countDecision(action, d.allowed ? 'allow' : 'deny', d.cached === true, SOURCE);
    },
    defaultDenyNotice: deps.defaultDenyNotice,
  };
  const { policies, enforce } = deps;
  const atOnce = (): Answer =>
    target === undefined
      ? tenantPermissions(policies, enforce, r.tenantId, r.principal, hooks)
      : userPermissions(policies, enforce, r.tenantId, r.principal, target, hooks);
  const { fair } = deps;
  if (fair === undefined) return atOnce();
  const direct = policies.directDecider?.();
  if (direct === undefined) {
    await decideInTurns(deps, r, target);
    return atOnce();
  }
  const frame = frameOf(r, direct, enforce);
  const laid = target === undefined ? unansweredTenant(frame) : unansweredUser(frame, target);
  const decide = counted(direct.decide, hooks.onDecision);
  for (let i = 0; i < laid.pending.length; i += DECISIONS_PER_STEP) {
    const part = laid.pending.slice(i, i + DECISIONS_PER_STEP);
    await fair.run(r.tenantId, part.length, () =>
      decideEach(part, decide, hooks.defaultDenyNotice),
    );
  }
  // One answer, one set: a set that went live between the steps answers it all, at once.
  return policies.current().version === direct.version ? laid.answer : atOnce();
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
  const frame = frameOf(r, deps.policies.current(), deps.enforce);
  const laid = target === undefined ? unansweredTenant(frame) : unansweredUser(frame, target);
  for (const { request } of laid.pending) await decideFairly(deps, r.tenantId, request, SOURCE);
}

/** The roles and the version of the set that decides an answer. */
type DecidingSet = Pick<DirectDecider, 'roles' | 'version'>;

function frameOf(
  { tenantId, principal }: Pick<PermissionsRequest, 'tenantId' | 'principal'>,
  set: DecidingSet,
  enforced: boolean,
): AnswerFrame {
  return { tenantId, principal, known: set.roles, version: set.version, enforced };
}

/** The answer for one target user, as the caller `principal` asks it, decided at once. */
export function userPermissions(
  policies: PolicyStore,
  enforce: boolean,
  tenantId: string,
  principal: UserRecord,
  target: UserRecord,
  hooks: AnswerHooks = {},
): UserPermissions {
  return decidedAtOnce(policies, hooks, (set) =>
    unansweredUser(frameOf({ tenantId, principal }, set, enforce), target),
  );
}

/** The tenant-level answer: list, create, and each role a new user may be given. */
export function tenantPermissions(
  policies: PolicyStore,
  enforce: boolean,
  tenantId: string,
  principal: UserRecord,
  hooks: AnswerHooks = {},
): TenantPermissions {
  return decidedAtOnce(policies, hooks, (set) =>
    unansweredTenant(frameOf({ tenantId, principal }, set, enforce)),
  );
}

/**
 * An answer laid out and decided in one synchronous step, so on one set: by its compiled
 * decider directly, uncached (a compiled decision costs less than its cache keys), or by the
 * store through the permissions cache; each decision told to `onDecision`.
 */
function decidedAtOnce<A>(
  policies: PolicyStore,
  hooks: AnswerHooks,
  layOut: (set: DecidingSet) => Unanswered<A>,
): A {
  const direct = policies.directDecider?.();
  const set = direct ?? policies.current();
  const decide: (request: AuthzRequest) => AnswerDecision =
    direct?.decide ?? ((request) => policies.decide(request, SOURCE));
  const laid = layOut(set);
  decideEach(laid.pending, counted(decide, hooks.onDecision), hooks.defaultDenyNotice);
  return laid.answer;
}

function counted(
  decide: (request: AuthzRequest) => AnswerDecision,
  onDecision: OnDecision | undefined,
): (request: AuthzRequest) => AnswerDecision {
  if (onDecision === undefined) return decide;
  return (request) => {
    const decision = decide(request);
    onDecision(request.action, decision);
    return decision;
  };
}

/** Writes a permissions answer: 200 JSON, never cached (it changes with roles and policies). */
export function sendPermissions(
  res: ServerResponse,
  answer: Answer,
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
