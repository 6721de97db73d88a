/**
 * The role slots of an enumerated request — the principal's roles, the resource's, the body's and
 * each role-set context attribute — and the membership vectors that fill them: every one, one per
 * permutation of the roles no policy names, or one per class of what the atoms can tell (the
 * role quotient), with the class's size as its weight.
 */
import type { RoleRelevance } from './role-relevance.js';
import type { NewUser, UserPatch } from '../../common/user.js';
import { requestOfQuestion } from '../question.js';
import type { AuthzContext, UsersAction } from '../types.js';

/** A context attribute the sidecar's builders do not produce, enumerated by its type. */
export interface ExtraAttribute {
  name: string;
  /** `roles`: a role set (a role slot); otherwise the values tried. */
  kind: 'roles' | 'values';
  values: readonly (string | boolean)[];
}

/** One action and the context attributes it carries beyond the built ones. */
export interface ActionPlan {
  action: UsersAction;
  extras: ExtraAttribute[];
}

/** The context attributes the sidecar's builders make (context.ts), per action. */
export const BUILT_CONTEXT: Partial<Record<UsersAction, readonly string[]>> = {
  'users:update': ['rolesRequested', 'rolesAdded', 'rolesRemoved', 'nameChanges', 'avatarChanges'],
  'users:create': ['rolesRequested'],
};

/** Whether `role`'s membership of `set` (principal, resource, a context attribute) counts. */
export function isRelevant(q: RoleRelevance, role: string, set: string): boolean {
  return q.allRoles.includes(set) || (q.perRole[role] ?? []).includes(set);
}

/** Role slots of a request: the principal's, the resource's, the body's, each role-set extra. */
export function slotCount(a: ActionPlan, layout: Layout): number {
  const roleExtras = a.extras.filter((e) => e.kind === 'roles').length;
  const built = BUILT_CONTEXT[a.action] !== undefined ? 1 : 0;
  return 1 + (layout.resourceSlot ? 1 : 0) + built + roleExtras;
}

/** Assignments of m-slot membership vectors: named roles each freely, free roles as a multiset. */
export function roleAssignmentCount(m: number, named: number, free: number): number {
  const kinds = 2 ** m;
  return kinds ** named * binomial(free + kinds - 1, free);
}

function binomial(n: number, k: number): number {
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return Math.round(r);
}

/**
 * For each role (by index), a membership vector over `m` slots (bit j: the role is in slot j).
 * Without pruning every combination; with it, the roles outside `named` get non-decreasing
 * vectors, one representative per permutation of them.
 */
export function* roleAssignments(
  m: number,
  roles: readonly string[],
  named: ReadonlySet<string>,
  prune: boolean,
): Generator<number[]> {
  const kinds = 2 ** m;
  const vector = new Array<number>(roles.length).fill(0);
  const free = prune ? roles.map((r, i) => (named.has(r) ? -1 : i)).filter((i) => i >= 0) : [];
  const fixed = roles.map((_, i) => i).filter((i) => !free.includes(i));
  function* go(pos: number): Generator<number[]> {
    if (pos < fixed.length) {
      for (let v = 0; v < kinds; v++) {
        vector[fixed[pos] as number] = v;
        yield* go(pos + 1);
      }
      return;
    }
    const f = pos - fixed.length;
    if (f < free.length) {
      const prev = f === 0 ? 0 : (vector[free[f - 1] as number] as number);
      for (let v = prev; v < kinds; v++) {
        vector[free[f] as number] = v;
        yield* go(pos + 1);
      }
      return;
    }
    yield vector;
  }
  yield* go(0);
}

export function* weighted(
  vectors: Iterable<number[]>,
): Generator<{ vector: number[]; weight: number }> {
  for (const vector of vectors) yield { vector, weight: 1 };
}

/** The roles of a plan and its quotient, if any. */
export interface RolesOfPlan {
  roles: readonly string[];
  quotient: RoleRelevance | null;
}

/** Where a request's resource stands: its role slot, if any. */
export interface Layout {
  /** The resource is another user, with a role slot of its own. */
  resourceSlot: boolean;
  /** The resource is a tenant (no resource roles). */
  tenant: boolean;
}

/**
 * Per role, its kinds of membership (bit j: in slot j, as roleAssignments) grouped by what the
 * atoms can tell of them: the role's membership of every set that counts for it, read from
 * the request the sidecar's own builders make. One kind (the smallest) per group, and its size.
 */
export function quotientClasses(
  plan: RolesOfPlan,
  a: ActionPlan,
  layout: Layout,
): { kind: number; size: number }[][] {
  const q = plan.quotient as RoleRelevance;
  const roleExtras = a.extras.filter((e) => e.kind === 'roles');
  const built = BUILT_CONTEXT[a.action] !== undefined;
  const m = slotCount(a, layout);
  return plan.roles.map((role) => {
    const groups = new Map<string, { kind: number; size: number }>();
    for (let kind = 0; kind < 2 ** m; kind++) {
      let j = 0;
      const bit = () => ((kind >> j++) & 1) === 1;
      const inP = bit();
      const inR = layout.resourceSlot ? bit() : inP;
      const inQ = built ? bit() : false;
      const sets: Record<string, boolean> = { principal: inP };
      if (!layout.tenant) sets['resource'] = inR;
      const mine = (x: boolean) => (x ? [role] : []);
      const context = contextOf(a.action, mine(inR), inputsOf(a.action, mine(inQ))[0]);
      for (const [k, v] of Object.entries(context))
        if (Array.isArray(v)) sets[k] = (v as readonly string[]).includes(role);
      for (const e of roleExtras) sets[e.name] = bit();
      const key = Object.keys(sets)
        .filter((k) => isRelevant(q, role, k))
        .sort()
        .map((k) => `${k}=${sets[k] === true ? 1 : 0}`)
        .join();
      const g = groups.get(key);
      if (g === undefined) groups.set(key, { kind, size: 1 });
      else g.size++;
    }
    return [...groups.values()];
  });
}

export function* quotientAssignments(
  plan: RolesOfPlan,
  a: ActionPlan,
  layout: Layout,
): Generator<{ vector: number[]; weight: number }> {
  const classes = quotientClasses(plan, a, layout);
  const vector = new Array<number>(classes.length).fill(0);
  function* go(i: number, weight: number): Generator<{ vector: number[]; weight: number }> {
    if (i === classes.length) {
      yield { vector, weight };
      return;
    }
    for (const c of classes[i] as { kind: number; size: number }[]) {
      vector[i] = c.kind;
      yield* go(i + 1, weight * c.size);
    }
  }
  yield* go(0, 1);
}

/** Role assignments of one layout under the quotient: one per class of each role. */
export function quotientCount(plan: RolesOfPlan, a: ActionPlan, layout: Layout): number {
  return quotientClasses(plan, a, layout).reduce((n, c) => n * c.length, 1);
}

/** The roles whose vector has bit `j`: the roles of slot `j`. */
export function slot(roles: readonly string[], vector: readonly number[], j: number): string[] {
  return roles.filter((_, i) => (((vector[i] as number) >> j) & 1) === 1);
}

/**
 * The body's choices the sidecar builds a context from: a create's roles; an update's roles, with
 * and without a name change and an avatar change. None for the other actions.
 */
export function inputsOf(
  action: UsersAction,
  requested: readonly string[],
): (NewUser | UserPatch | undefined)[] {
  if (action === 'users:create')
    return [{ name: 'name', email: 'user@example.com', roles: [...requested] }];
  if (action !== 'users:update') return [undefined];
  const out: UserPatch[] = [];
  for (const nameChanges of [false, true])
    for (const avatarChanges of [false, true])
      out.push({
        roles: [...requested],
        name: nameChanges ? 'another name' : 'name',
        avatar: avatarChanges ? 'data:image/png;base64,AA==' : null,
      });
  return out;
}

/** The context the question module builds for a target holding `targetRoles` and `input`. */
function contextOf(
  action: UsersAction,
  targetRoles: readonly string[],
  input: NewUser | UserPatch | undefined,
): AuthzContext {
  const user = { id: 'u', tenant_id: 't', roles: targetRoles, is_owner: false };
  return requestOfQuestion({
    action,
    tenantId: 't',
    principal: { ...user, id: 'p' },
    target: { ...user, name: 'name', avatar_digest: null },
    input,
  }).context;
}
