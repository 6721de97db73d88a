/**
 * Every request the sidecar can build, enumerated from the schema: each action; the principal's
 * and the resource's facts (every subset of the `Role` enum, the owner flag) within the store's
 * invariants; how their ids relate; each action's context, derived by the sidecar's own context
 * builders. Ids are equality classes (request-abstraction.ts) plus the ids a policy names.
 */
import { OWNER_ROLE } from '../../common/user.js';
import { schemaShapesOf } from '../cedar-adapter.js';
import type { SchemaType } from '../cedar-adapter.js';
import type { RoleRelevance } from './atoms.js';
import type { Relation } from './change-classes.js';
import { buildCreateContext, buildUpdateContext } from '../context.js';
import type { LoadedPolicySet } from '../policy-set.js';
import { RESOURCE_KIND_OF, USERS_ACTIONS } from '../types.js';
import type { AuthzContext, AuthzRequest, UsersAction } from '../types.js';
import { describeType } from '../request-abstraction.js';
import type { PolicyLiterals } from '../request-abstraction.js';

export type { Relation } from './change-classes.js';

/** One enumerated request and how it was built. */
export interface EnumeratedRequest {
  request: AuthzRequest;
  relation: Relation;
  /** Requests this one stands for, itself included (the role quotient); absent: 1. */
  weight?: number;
}

/** A context attribute the sidecar's builders do not produce, enumerated by its type. */
interface ExtraAttribute {
  name: string;
  /** `roles`: a role set (a role slot); otherwise the values tried. */
  kind: 'roles' | 'values';
  values: readonly (string | boolean)[];
}

interface ActionPlan {
  action: UsersAction;
  extras: ExtraAttribute[];
}

/** What will be enumerated, and what the enumeration does not cover. */
export interface EnumerationPlan {
  actions: ActionPlan[];
  /** The roles of both schemas, in declaration order. */
  roles: string[];
  /** Roles a policy names (or an invariant needs): enumerated one by one. */
  namedRoles: string[];
  /** Roles no policy names: interchangeable. */
  unnamedRoles: string[];
  /** Whether interchangeable roles are enumerated only up to permutation (one Cedar call each). */
  pruned: boolean;
  /** Whether each representative's decision is spread over its permutations (see orbitOf). */
  expanded: boolean;
  /**
   * Set when each role is enumerated up to what the atoms can tell of it (one kind of
   * membership per class, weighted by the class's size): the role sets whose membership of a
   * role counts, per role and for all (the owner role's principal and resource included).
   */
  quotient: RoleRelevance | null;
  /** An upper bound of the requests the enumeration yields (the store's invariants drop some). */
  size: number;
  /** False where boundary values stood in for a type that cannot be enumerated. */
  exhaustive: boolean;
  /** What a reader of the result must know: fallbacks, pruning, differing schemas. */
  notes: string[];
  literals: PolicyLiterals;
}

/** Options of {@link planEnumeration}. */
export interface PlanOptions {
  /** Above this many requests, pruned classes stay representatives; default 2,000,000. */
  maxRequests?: number;
  prune?: 'auto' | 'always' | 'never';
  /**
   * Where each role's memberships matter to the atoms of both sets (atoms.ts), when known.
   * With it, a space whose symmetry-pruned enumeration still exceeds `quotientAbove`
   * (default 2,000,000) requests is enumerated up to those memberships instead.
   */
  relevance?: RoleRelevance | null;
  quotientAbove?: number;
}

const BUILT_CONTEXT: Partial<Record<UsersAction, readonly string[]>> = {
  'users:update': ['rolesRequested', 'rolesAdded', 'rolesRemoved', 'nameChanges', 'avatarChanges'],
  'users:create': ['rolesRequested'],
};

/** Plans the enumeration over the schemas of `sets` (a diff's base and candidate). */
export function planEnumeration(
  sets: readonly LoadedPolicySet[],
  literals: PolicyLiterals,
  options: PlanOptions = {},
): EnumerationPlan {
  const notes: string[] = [];
  let exhaustive = true;
  const roles: string[] = [];
  for (const set of sets) for (const r of set.schema.roles) if (!roles.includes(r)) roles.push(r);
  if (sets.length > 1 && sets.some((s) => s.schema.roles.join() !== sets[0]?.schema.roles.join()))
    notes.push(
      `the schemas' Role enums differ; requests use the union (${roles.join(', ')}); a request whose body asks for a role a side lacks is refused (422) by that side's API, ` +
        `a stored role a side lacks is decided there as if not held (a retired role)`,
    );
  const named = new Set<string>([...literals.roles].filter((r) => roles.includes(r)));
  if (roles.includes(OWNER_ROLE)) named.add(OWNER_ROLE);

  const shapes = sets.map((s) => ({
    shapes: schemaShapesOf(s.schema.text),
    types: s.schema.types,
  }));
  for (const { shapes: sh, types } of shapes) {
    const user = sh.entities[types.user];
    for (const [name, t] of Object.entries(user?.attributes ?? {})) {
      if (!['tenant', 'roles', 'isOwner'].includes(name)) {
        exhaustive = false;
        notes.push(
          `User attribute \`${name}\` (${describeType(t)}) is not built by the sidecar: requests are decided without it (not exhaustive)`,
        );
      }
    }
  }

  const actions: ActionPlan[] = [];
  for (const action of USERS_ACTIONS) {
    const extras = new Map<string, ExtraAttribute>();
    for (const { shapes: sh } of shapes) {
      for (const [name, t] of Object.entries(sh.contexts[action] ?? {})) {
        if (BUILT_CONTEXT[action]?.includes(name) === true || extras.has(name)) continue;
        const extra = extraAttributeOf(name, t, roles);
        if (extra.roleEntity) for (const r of roles) named.add(r);
        if (!extra.exhaustive) {
          exhaustive = false;
          notes.push(
            `${action}: context \`${name}\` (${describeType(t)}) cannot be enumerated; ` +
              (extra.attribute.values.length === 0
                ? 'left out (not exhaustive)'
                : `tried ${extra.attribute.values.map((v) => JSON.stringify(v)).join(', ')} (not exhaustive)`),
          );
        }
        extras.set(name, extra.attribute);
      }
    }
    actions.push({ action, extras: [...extras.values()] });
  }

  const namedRoles = roles.filter((r) => named.has(r));
  const unnamedRoles = roles.filter((r) => !named.has(r));
  const sizeOf = (prune: boolean) =>
    actions.reduce(
      (n, a) => n + actionSize(a, roles.length, prune ? unnamedRoles.length : 0, literals),
      0,
    );
  const max = options.maxRequests ?? 2_000_000;
  const fullSize = sizeOf(false);
  // Symmetry is sound whatever the size (docs/policies.md), so it always prunes Cedar calls;
  // the decisions are then spread over each representative's permutations, unless those are
  // too many to hold.
  const symmetric = unnamedRoles.length >= 2 && options.prune !== 'never';
  const relevance = options.relevance ?? null;
  if (
    relevance !== null &&
    options.prune !== 'never' &&
    fullSize > max &&
    sizeOf(symmetric) > (options.quotientAbove ?? 2_000_000)
  ) {
    const quotient = withOwner(relevance, roles);
    const base = { actions, roles, namedRoles, unnamedRoles, literals, quotient };
    const size = actions.reduce((n, a) => n + quotientActionSize(base, a), 0);
    notes.push(
      `role quotient: the space holds ${fullSize} requests (${sizeOf(symmetric)} after role symmetry), so ` +
        `each role is enumerated up to what the policies can tell of it (${describeRelevance(quotient, roles)}), ` +
        `one representative per class of its memberships, standing for every request of the class (at most ${size} representatives; counts are of all requests)`,
    );
    return {
      ...base,
      pruned: true,
      expanded: true,
      size,
      exhaustive,
      notes,
    };
  }
  const pruned = symmetric;
  const expanded = !pruned || (options.prune !== 'always' && fullSize <= max);
  if (pruned) {
    notes.push(
      expanded
        ? `no policy names the roles ${unnamedRoles.join(', ')}: they are interchangeable, so one ` +
            'representative per permutation of them was decided, its decision applied to every permutation'
        : `pruned: no policy names the roles ${unnamedRoles.join(', ')}, so they are interchangeable; ` +
            `requests are enumerated up to their permutation (at most ${sizeOf(true)} instead of ${fullSize}), ` +
            'and classes are described by the named roles only',
    );
  }
  return {
    actions,
    roles,
    namedRoles,
    unnamedRoles,
    pruned,
    expanded,
    quotient: null,
    size: sizeOf(pruned),
    exhaustive,
    notes,
    literals,
  };
}

/** The owner invariant reads the owner role's membership of principal and resource. */
function withOwner(relevance: RoleRelevance, roles: readonly string[]): RoleRelevance {
  const perRole: Record<string, string[]> = {};
  for (const r of roles) {
    const own = new Set(relevance.perRole[r] ?? []);
    if (r === OWNER_ROLE) for (const p of ['principal', 'resource']) own.add(p);
    perRole[r] = [...own].sort();
  }
  return { perRole, allRoles: [...relevance.allRoles] };
}

function describeRelevance(q: RoleRelevance, roles: readonly string[]): string {
  const all = q.allRoles.length === 0 ? '' : `every role: ${q.allRoles.join(', ')}; `;
  return (
    all + roles.map((r) => `${r}: ${(q.perRole[r] ?? []).join(', ') || 'nothing more'}`).join('; ')
  );
}

/** Whether `role`'s membership of `set` (principal, resource, a context attribute) counts. */
export function isRelevant(q: RoleRelevance, role: string, set: string): boolean {
  return q.allRoles.includes(set) || (q.perRole[role] ?? []).includes(set);
}

/** The same plan without pruning: every request, one by one. */
export function unprunedPlan(plan: EnumerationPlan): EnumerationPlan {
  return { ...plan, pruned: false, expanded: true, quotient: null, size: Number.NaN };
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

function extraAttributeOf(
  name: string,
  t: SchemaType,
  roles: readonly string[],
): { attribute: ExtraAttribute; exhaustive: boolean; roleEntity: boolean } {
  const values = (vs: (string | boolean)[], exhaustive: boolean, roleEntity = false) => ({
    attribute: { name, kind: 'values' as const, values: vs },
    exhaustive,
    roleEntity,
  });
  if (t.kind === 'Bool') return values([false, true], true);
  if (t.kind === 'Set' && t.element.kind === 'Entity' && t.element.name.endsWith('Role'))
    return { attribute: { name, kind: 'roles', values: [] }, exhaustive: true, roleEntity: false };
  if (t.kind === 'Entity' && t.name.endsWith('Role')) return values([...roles], true, true);
  // The boundary values a String or Long comparison most often turns on.
  if (t.kind === 'String') return values(['', 'a', ' '], false);
  return values([], false);
}

/** Requests of one action (an upper bound: the invariants filter some out). */
function actionSize(a: ActionPlan, roles: number, free: number, literals: PolicyLiterals): number {
  const users = 1 + literals.users.size;
  const tenants = 1 + literals.tenants.size;
  const isUser = RESOURCE_KIND_OF[a.action] === 'User';
  const contextSlots =
    (BUILT_CONTEXT[a.action] !== undefined ? 1 : 0) +
    a.extras.filter((e) => e.kind === 'roles').length;
  const bools = a.action === 'users:update' ? 4 : 1;
  const values = a.extras.reduce(
    (n, e) => n * (e.kind === 'values' ? Math.max(e.values.length, 1) : 1),
    1,
  );
  const assignments = (m: number) => roleAssignmentCount(m, roles - free, free);
  let n = 0;
  if (isUser) {
    const others = users * (users + 1) * tenants * (tenants + 1);
    n += users * tenants * assignments(1 + contextSlots) * 2;
    n += others * assignments(2 + contextSlots) * 4;
  } else {
    n += users * tenants * (tenants + 1) * assignments(1 + contextSlots) * 2;
  }
  return n * bools * values;
}

/** Assignments of m-slot membership vectors: named roles each freely, free roles as a multiset. */
function roleAssignmentCount(m: number, named: number, free: number): number {
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
function* roleAssignments(
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

function* weighted(vectors: Iterable<number[]>): Generator<{ vector: number[]; weight: number }> {
  for (const vector of vectors) yield { vector, weight: 1 };
}

interface Layout {
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
function quotientClasses(
  plan: Pick<EnumerationPlan, 'roles' | 'quotient'>,
  a: ActionPlan,
  layout: Layout,
): { kind: number; size: number }[][] {
  const q = plan.quotient as RoleRelevance;
  const roleExtras = a.extras.filter((e) => e.kind === 'roles');
  const built = BUILT_CONTEXT[a.action] !== undefined;
  const m = 1 + (layout.resourceSlot ? 1 : 0) + (built ? 1 : 0) + roleExtras.length;
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
      const context =
        a.action === 'users:create'
          ? buildCreateContext({ roles: mine(inQ) })
          : a.action === 'users:update'
            ? buildUpdateContext(
                { name: 'name', roles: mine(inR), avatar_digest: null },
                { roles: mine(inQ) },
              )
            : {};
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

function* quotientAssignments(
  plan: EnumerationPlan,
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

/** Representatives of one action under the quotient (an upper bound, as actionSize). */
function quotientActionSize(
  plan: Pick<EnumerationPlan, 'roles' | 'quotient' | 'literals'>,
  a: ActionPlan,
): number {
  const count = (layout: Layout) =>
    quotientClasses(plan, a, layout).reduce((n, c) => n * c.length, 1);
  const users = 1 + plan.literals.users.size;
  const tenants = 1 + plan.literals.tenants.size;
  const bools = a.action === 'users:update' ? 4 : 1;
  const values = a.extras.reduce(
    (n, e) => n * (e.kind === 'values' ? Math.max(e.values.length, 1) : 1),
    1,
  );
  let n = 0;
  if (RESOURCE_KIND_OF[a.action] === 'User') {
    const others = users * (users + 1) * tenants * (tenants + 1);
    n += users * tenants * count({ resourceSlot: false, tenant: false }) * 2;
    n += others * count({ resourceSlot: true, tenant: false }) * 4;
  } else {
    n += users * tenants * (tenants + 1) * count({ resourceSlot: false, tenant: true }) * 2;
  }
  return n * bools * values;
}

function slot(roles: readonly string[], vector: readonly number[], j: number): string[] {
  return roles.filter((_, i) => (((vector[i] as number) >> j) & 1) === 1);
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

function* enumerateAction(plan: EnumerationPlan, a: ActionPlan): Generator<EnumeratedRequest> {
  const { literals, roles } = plan;
  const named = new Set(plan.namedRoles);
  const u1 = freshId('user', literals.users);
  const u2 = freshId('user', literals.users, [u1]);
  const t1 = freshId('tenant', literals.tenants);
  const t2 = freshId('tenant', literals.tenants, [t1]);
  const ownerHoldsRole = roles.includes(OWNER_ROLE);
  const roleExtras = a.extras.filter((e) => e.kind === 'roles');
  const valueExtras = a.extras.filter((e) => e.kind === 'values');
  const built = BUILT_CONTEXT[a.action] !== undefined;

  for (const pid of [u1, ...literals.users]) {
    for (const ptid of [t1, ...literals.tenants]) {
      const targets: { rid: string; rtid: string | null; relation: Relation }[] = [];
      if (RESOURCE_KIND_OF[a.action] === 'User') {
        targets.push({ rid: pid, rtid: ptid, relation: 'self' });
        for (const rid of [u2, ...[...literals.users].filter((x) => x !== pid)]) {
          for (const rtid of [ptid, t2, ...[...literals.tenants].filter((x) => x !== ptid)]) {
            targets.push({ rid, rtid, relation: rtid === ptid ? 'same-tenant' : 'other-tenant' });
          }
        }
      } else {
        for (const rid of [ptid, t2, ...[...literals.tenants].filter((x) => x !== ptid)]) {
          targets.push({ rid, rtid: null, relation: rid === ptid ? 'own-tenant' : 'other-tenant' });
        }
      }
      for (const { rid, rtid, relation } of targets) {
        const resourceSlot = rtid !== null && relation !== 'self';
        const m = 1 + (resourceSlot ? 1 : 0) + (built ? 1 : 0) + roleExtras.length;
        const assignments =
          plan.quotient === null
            ? weighted(roleAssignments(m, roles, named, plan.pruned))
            : quotientAssignments(plan, a, { resourceSlot, tenant: rtid === null });
        for (const { vector, weight } of assignments) {
          let j = 0;
          const pRoles = slot(roles, vector, j++);
          const rRoles = resourceSlot ? slot(roles, vector, j++) : pRoles;
          const requested = built ? slot(roles, vector, j++) : [];
          const extraRoles = roleExtras.map(() => slot(roles, vector, j++));
          for (const pOwner of [false, true]) {
            if (pOwner && ownerHoldsRole && !pRoles.includes(OWNER_ROLE)) continue;
            for (const rOwner of rtid === null
              ? [false]
              : relation === 'self'
                ? [pOwner]
                : [false, true]) {
              if (rOwner && ownerHoldsRole && !rRoles.includes(OWNER_ROLE)) continue;
              // One owner per tenant.
              if (relation === 'same-tenant' && pOwner && rOwner) continue;
              const request: AuthzRequest = {
                principal: { id: pid, tenantId: ptid, roles: pRoles, isOwner: pOwner },
                action: a.action,
                resource:
                  rtid === null
                    ? { type: 'Tenant', id: rid }
                    : { type: 'User', id: rid, tenantId: rtid, roles: rRoles, isOwner: rOwner },
                context: {},
              };
              for (const context of contextsOf(a, request, requested)) {
                const extra: AuthzContext = {};
                roleExtras.forEach((e, i) => (extra[e.name] = extraRoles[i] ?? []));
                for (const values of valueCombinations(valueExtras)) {
                  const out: EnumeratedRequest = {
                    request: { ...request, context: { ...context, ...extra, ...values } },
                    relation,
                  };
                  if (weight !== 1) out.weight = weight;
                  yield out;
                }
              }
            }
          }
        }
      }
    }
  }
}

/** The contexts the sidecar builds for this action (context.ts), over the body's choices. */
function* contextsOf(
  a: ActionPlan,
  request: AuthzRequest,
  requested: readonly string[],
): Generator<AuthzContext> {
  if (a.action === 'users:create') {
    yield buildCreateContext({ roles: [...requested] });
    return;
  }
  if (a.action === 'users:update' && request.resource.type === 'User') {
    const current = { name: 'name', roles: request.resource.roles, avatar_digest: null };
    for (const nameChanges of [false, true]) {
      for (const avatarChanges of [false, true]) {
        yield buildUpdateContext(current, {
          roles: [...requested],
          name: nameChanges ? 'another name' : 'name',
          avatar: avatarChanges ? 'data:image/png;base64,AA==' : null,
        });
      }
    }
    return;
  }
  yield {};
}

function* valueCombinations(extras: readonly ExtraAttribute[]): Generator<AuthzContext> {
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
