/**
 * Every request the sidecar can build, enumerated from the schema: each action; the principal's
 * and the resource's facts (every subset of the `Role` enum, the owner flag) within the store's
 * invariants; how their ids relate; each action's context, derived by the sidecar's own context
 * builders. Ids are equality classes (request-abstraction.ts) plus the ids a policy names.
 */
import { OWNER_ROLE } from '../../common/user.js';
import type { Relation } from './change-classes.js';
import { requestOfQuestion } from '../question.js';
import type { EnumerationPlan } from './enumeration-plan.js';
import { RESOURCE_KIND_OF } from '../types.js';
import type { AuthzContext, AuthzRequest, UsersAction } from '../types.js';
import type { PolicyLiterals } from '../request-abstraction.js';
import {
  BUILT_CONTEXT,
  inputsOf,
  quotientAssignments,
  roleAssignments,
  slot,
  slotCount,
  weighted,
} from './role-assignments.js';
import type { ActionPlan, ExtraAttribute } from './role-assignments.js';

export type { Relation } from './change-classes.js';
export { planEnumeration } from './enumeration-plan.js';
export type { EnumerationPlan, PlanOptions } from './enumeration-plan.js';
export { isRelevant } from './role-assignments.js';

/** One enumerated request and how it was built. */
export interface EnumeratedRequest {
  request: AuthzRequest;
  relation: Relation;
  /** Requests this one stands for, itself included (the role quotient); absent: 1. */
  weight?: number;
}

/**
 * Every request that a permutation of the plan's unnamed roles makes of `er`, `er` included,
 * each once: the requests the unpruned enumeration holds in place of this representative.
 */
export function orbitOf(er: EnumeratedRequest, plan: EnumerationPlan): EnumeratedRequest[] {
  if (!plan.pruned || plan.quotient !== null) return [er];
  const out = new Map<string, EnumeratedRequest>();
  for (const perm of permutations(plan.unnamedRoles)) {
    const map = new Map(plan.unnamedRoles.map((r, i) => [r, perm[i] as string]));
    const rename = (roles: readonly string[]) =>
      plan.roles.filter((r) => roles.some((x) => (map.get(x) ?? x) === r));
    const { request: q } = er;
    const context: AuthzContext = {};
    for (const [k, v] of Object.entries(q.context))
      context[k] = Array.isArray(v)
        ? rename(v as readonly string[])
        : typeof v === 'string'
          ? (map.get(v) ?? v)
          : v;
    const request: AuthzRequest = {
      principal: { ...q.principal, roles: rename(q.principal.roles) },
      action: q.action,
      resource:
        q.resource.type === 'User'
          ? { ...q.resource, roles: rename(q.resource.roles) }
          : q.resource,
      context,
    };
    out.set(JSON.stringify(request), { request, relation: er.relation });
  }
  return [...out.values()];
}

function* permutations(items: readonly string[]): Generator<string[]> {
  if (items.length <= 1) {
    yield [...items];
    return;
  }
  for (let i = 0; i < items.length; i++) {
    const rest = [...items.slice(0, i), ...items.slice(i + 1)];
    for (const p of permutations(rest)) yield [items[i] as string, ...p];
  }
}

/** An id no policy names: the first of `prefix-1`, `prefix-2`, ... not in `taken`. */
function freshId(prefix: string, taken: ReadonlySet<string>, skip: readonly string[] = []): string {
  for (let i = 1; ; i++) {
    const id = `${prefix}-${i}`;
    if (!taken.has(id) && !skip.includes(id)) return id;
  }
}

/** Yields every request of the plan. */
export function* enumerateRequests(plan: EnumerationPlan): Generator<EnumeratedRequest> {
  for (const a of plan.actions) yield* enumerateAction(plan, a);
}

/** A principal and the resource it acts on, by id, and how they relate. */
export interface Target {
  pid: string;
  ptid: string;
  rid: string;
  /** The resource user's tenant; null: the resource is a tenant. */
  rtid: string | null;
  relation: Relation;
}

function* enumerateAction(plan: EnumerationPlan, a: ActionPlan): Generator<EnumeratedRequest> {
  for (const target of targetsOf(a.action, plan.literals))
    for (const { vector, weight } of assignmentsOf(plan, a, target))
      yield* requestsOf(plan, a, target, vector, weight);
}

/**
 * Every principal (a fresh id, or one a policy names, in a fresh or a named tenant) with every
 * resource of the action: themselves, another user of the same or another tenant, or a tenant.
 */
export function* targetsOf(action: UsersAction, literals: PolicyLiterals): Generator<Target> {
  const u1 = freshId('user', literals.users);
  const u2 = freshId('user', literals.users, [u1]);
  const t1 = freshId('tenant', literals.tenants);
  const t2 = freshId('tenant', literals.tenants, [t1]);
  const otherTenants = (ptid: string) => [t2, ...[...literals.tenants].filter((x) => x !== ptid)];
  for (const pid of [u1, ...literals.users])
    for (const ptid of [t1, ...literals.tenants]) {
      if (RESOURCE_KIND_OF[action] === 'Tenant') {
        for (const rid of [ptid, ...otherTenants(ptid)])
          yield {
            pid,
            ptid,
            rid,
            rtid: null,
            relation: rid === ptid ? 'own-tenant' : 'other-tenant',
          };
        continue;
      }
      yield { pid, ptid, rid: pid, rtid: ptid, relation: 'self' };
      for (const rid of [u2, ...[...literals.users].filter((x) => x !== pid)])
        for (const rtid of [ptid, ...otherTenants(ptid)])
          yield { pid, ptid, rid, rtid, relation: rtid === ptid ? 'same-tenant' : 'other-tenant' };
    }
}

/** The role assignments of a target's slots: all, up to permutation, or up to the quotient. */
function assignmentsOf(
  plan: EnumerationPlan,
  a: ActionPlan,
  t: Target,
): Iterable<{ vector: number[]; weight: number }> {
  const layout = {
    resourceSlot: t.rtid !== null && t.relation !== 'self',
    tenant: t.rtid === null,
  };
  if (plan.quotient !== null) return quotientAssignments(plan, a, layout);
  const named = new Set(plan.namedRoles);
  return weighted(roleAssignments(slotCount(a, layout), plan.roles, named, plan.pruned));
}

/** The requests of one role assignment: each pair of owner flags, each context the body makes. */
function* requestsOf(
  plan: EnumerationPlan,
  a: ActionPlan,
  t: Target,
  vector: readonly number[],
  weight: number,
): Generator<EnumeratedRequest> {
  const slots = slotsOf(plan, a, t, vector);
  const valueExtras = a.extras.filter((e) => e.kind === 'values');
  const ownerHoldsRole = plan.roles.includes(OWNER_ROLE);
  for (const [pOwner, rOwner] of ownerFlags(t, ownerHoldsRole, slots.pRoles, slots.rRoles))
    for (const input of inputsOf(a.action, slots.requested))
      for (const values of valueCombinations(valueExtras)) {
        const out: EnumeratedRequest = {
          request: requestFrom(a, t, slots, { pOwner, rOwner, input, values }),
          relation: t.relation,
        };
        if (weight !== 1) out.weight = weight;
        yield out;
      }
}

/** The role sets a membership vector fills: the principal's, the resource's, the body's, extras. */
export interface Slots {
  pRoles: string[];
  rRoles: string[];
  requested: string[];
  extra: AuthzContext;
}

/** What a request adds to its target and role slots: owner flags, the body, extra values. */
export interface Choice {
  pOwner: boolean;
  rOwner: boolean;
  input: ReturnType<typeof inputsOf>[number];
  values: AuthzContext;
}

/** The role slots of `vector` for a target of action `a`. */
export function slotsOf(
  plan: Pick<EnumerationPlan, 'roles'>,
  a: ActionPlan,
  t: Target,
  vector: readonly number[],
): Slots {
  const { roles } = plan;
  let j = 0;
  const pRoles = slot(roles, vector, j++);
  const rRoles = t.rtid !== null && t.relation !== 'self' ? slot(roles, vector, j++) : pRoles;
  const requested = BUILT_CONTEXT[a.action] !== undefined ? slot(roles, vector, j++) : [];
  const extra: AuthzContext = {};
  for (const e of a.extras.filter((x) => x.kind === 'roles'))
    extra[e.name] = slot(roles, vector, j++);
  return { pRoles, rRoles, requested, extra };
}

/** The request the sidecar builds for a target, its role slots and a choice of the rest. */
export function requestFrom(a: ActionPlan, t: Target, s: Slots, c: Choice): AuthzRequest {
  const request = requestOfQuestion({
    action: a.action,
    tenantId: t.rtid === null ? t.rid : t.ptid,
    principal: { id: t.pid, tenant_id: t.ptid, roles: s.pRoles, is_owner: c.pOwner },
    target:
      t.rtid === null
        ? undefined
        : {
            id: t.rid,
            tenant_id: t.rtid,
            roles: s.rRoles,
            is_owner: c.rOwner,
            name: 'name',
            avatar_digest: null,
          },
    input: c.input,
  });
  return { ...request, context: { ...request.context, ...s.extra, ...c.values } };
}

/**
 * The owner flags the store's invariants allow: an owner holds the owner role (when the schema
 * has it), acting on oneself is one user, and a tenant has one owner.
 */
export function* ownerFlags(
  t: Target,
  ownerHoldsRole: boolean,
  pRoles: readonly string[],
  rRoles: readonly string[],
): Generator<[boolean, boolean]> {
  for (const pOwner of [false, true]) {
    if (pOwner && ownerHoldsRole && !pRoles.includes(OWNER_ROLE)) continue;
    const rOwners = t.rtid === null ? [false] : t.relation === 'self' ? [pOwner] : [false, true];
    for (const rOwner of rOwners) {
      if (rOwner && ownerHoldsRole && !rRoles.includes(OWNER_ROLE)) continue;
      if (t.relation === 'same-tenant' && pOwner && rOwner) continue;
      yield [pOwner, rOwner];
    }
  }
}

export function* valueCombinations(extras: readonly ExtraAttribute[]): Generator<AuthzContext> {
  if (extras.length === 0) {
    yield {};
    return;
  }
  const [first, ...rest] = extras as [ExtraAttribute, ...ExtraAttribute[]];
  // A type with no value the context can carry (a Long): the attribute is left out.
  if (first.values.length === 0) {
    yield* valueCombinations(rest);
    return;
  }
  for (const v of first.values) {
    for (const tail of valueCombinations(rest)) yield { [first.name]: v, ...tail };
  }
}
