/**
 * What `policy diff` and the permit warnings enumerate, planned from the schemas: the roles, the
 * actions' context attributes, what cannot be enumerated, and how the roles no policy tells apart
 * are pruned (by permutation, or up to the role quotient) to keep the space decidable.
 */
import { OWNER_ROLE } from '../../common/user.js';
import type { SchemaType } from '../cedar-adapter.js';
import type { RoleRelevance } from './role-relevance.js';
import type { LoadedPolicySet } from '../policy-set.js';
import { RESOURCE_KIND_OF, USERS_ACTIONS } from '../types.js';
import { describeType } from '../request-abstraction.js';
import type { PolicyLiterals } from '../request-abstraction.js';
import {
  BUILT_CONTEXT,
  quotientCount,
  roleAssignmentCount,
  slotCount,
} from './role-assignments.js';
import type { ActionPlan, ExtraAttribute, Layout } from './role-assignments.js';

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

/**
 * Above this many requests, pruned classes stay representatives: `policy diff`'s bound, which
 * the playground's diff keeps too, so that both count the same requests.
 */
export const DEFAULT_MAX_REQUESTS = 2_000_000;

/** Options of {@link planEnumeration}. */
export interface PlanOptions {
  /** Above this many requests, pruned classes stay representatives; default {@link DEFAULT_MAX_REQUESTS}. */
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

/** Plans the enumeration over the schemas of `sets` (a diff's base and candidate). */
export function planEnumeration(
  sets: readonly LoadedPolicySet[],
  literals: PolicyLiterals,
  options: PlanOptions = {},
): EnumerationPlan {
  const roles = unionRoles(sets);
  const named = new Set<string>([...literals.roles].filter((r) => roles.includes(r)));
  if (roles.includes(OWNER_ROLE)) named.add(OWNER_ROLE);
  const shapes = sets.map((s) => ({
    shapes: s.schema.shapes,
    types: s.schema.types,
  }));
  const users = userAttributeNotes(shapes);
  const actions = actionPlansOf(shapes, roles, named);
  const notes = [...rolesNotes(sets, roles), ...users, ...actions.notes];
  const space: Space = {
    actions: actions.plans,
    roles,
    namedRoles: roles.filter((r) => named.has(r)),
    unnamedRoles: roles.filter((r) => !named.has(r)),
    literals,
    exhaustive: users.length === 0 && actions.exhaustive,
    notes,
  };
  return quotientPlan(space, options) ?? symmetryPlan(space, options);
}

/** What a plan enumerates, before how (pruned, expanded, quotient) is decided. */
type Space = Omit<EnumerationPlan, 'pruned' | 'expanded' | 'quotient' | 'size'>;

/** The roles of every set, in declaration order. */
function unionRoles(sets: readonly LoadedPolicySet[]): string[] {
  const roles: string[] = [];
  for (const set of sets) for (const r of set.schema.roles) if (!roles.includes(r)) roles.push(r);
  return roles;
}

function rolesNotes(sets: readonly LoadedPolicySet[], roles: readonly string[]): string[] {
  if (sets.length <= 1 || sets.every((s) => s.schema.roles.join() === sets[0]?.schema.roles.join()))
    return [];
  return [
    `the schemas' Role enums differ; requests use the union (${roles.join(', ')}); a request whose body asks for a role a side lacks is refused (422) by that side's API, ` +
      `a stored role a side lacks is decided there as if not held (a retired role)`,
  ];
}

type Shapes = {
  shapes: LoadedPolicySet['schema']['shapes'];
  types: LoadedPolicySet['schema']['types'];
}[];

/** A note per User attribute the sidecar does not build (each makes the run not exhaustive). */
function userAttributeNotes(shapes: Shapes): string[] {
  const notes: string[] = [];
  for (const { shapes: sh, types } of shapes)
    for (const [name, t] of Object.entries(sh.entities[types.user]?.attributes ?? {}))
      if (!['tenant', 'roles', 'isOwner'].includes(name))
        notes.push(
          `User attribute \`${name}\` (${describeType(t)}) is not built by the sidecar: requests are decided without it (not exhaustive)`,
        );
  return notes;
}

/** Each action's context attributes beyond the built ones; an entity-typed role names them all. */
function actionPlansOf(
  shapes: Shapes,
  roles: readonly string[],
  named: Set<string>,
): { plans: ActionPlan[]; exhaustive: boolean; notes: string[] } {
  const notes: string[] = [];
  const plans = USERS_ACTIONS.map((action) => {
    const extras = new Map<string, ExtraAttribute>();
    for (const { shapes: sh } of shapes)
      for (const [name, t] of Object.entries(sh.contexts[action] ?? {})) {
        if (BUILT_CONTEXT[action]?.includes(name) === true || extras.has(name)) continue;
        const extra = extraAttributeOf(name, t, roles);
        if (extra.roleEntity) for (const r of roles) named.add(r);
        if (!extra.exhaustive) notes.push(`${action}: ${notEnumerated(name, t, extra.attribute)}`);
        extras.set(name, extra.attribute);
      }
    return { action, extras: [...extras.values()] };
  });
  return { plans, exhaustive: notes.length === 0, notes };
}

function notEnumerated(name: string, t: SchemaType, attribute: ExtraAttribute): string {
  const tried = attribute.values.map((v) => JSON.stringify(v)).join(', ');
  return (
    `context \`${name}\` (${describeType(t)}) cannot be enumerated; ` +
    (attribute.values.length === 0
      ? 'left out (not exhaustive)'
      : `tried ${tried} (not exhaustive)`)
  );
}

/** Requests of the space: every one, or up to permutation of the unnamed roles (`prune`). */
function sizeOf(space: Space, prune: boolean): number {
  const free = prune ? space.unnamedRoles.length : 0;
  const named = space.roles.length - free;
  return space.actions.reduce(
    (n, a) =>
      n + actionSize(a, space.literals, (l) => roleAssignmentCount(slotCount(a, l), named, free)),
    0,
  );
}

/**
 * The role quotient, when the atoms' relevance is known and even the symmetry-pruned space is
 * too large: each role enumerated up to what the policies can tell of it.
 */
function quotientPlan(space: Space, options: PlanOptions): EnumerationPlan | null {
  const relevance = options.relevance ?? null;
  if (relevance === null || options.prune === 'never') return null;
  const fullSize = sizeOf(space, false);
  const symmetric = sizeOf(space, symmetricOf(space, options));
  if (fullSize <= (options.maxRequests ?? DEFAULT_MAX_REQUESTS)) return null;
  if (symmetric <= (options.quotientAbove ?? 2_000_000)) return null;
  const quotient = withOwner(relevance, space.roles);
  const size = space.actions.reduce(
    (n, a) => n + actionSize(a, space.literals, (l) => quotientCount({ ...space, quotient }, a, l)),
    0,
  );
  const note =
    `role quotient: the space holds ${fullSize} requests (${symmetric} after role symmetry), so ` +
    `each role is enumerated up to what the policies can tell of it (${describeRelevance(quotient, space.roles)}), ` +
    `one representative per class of its memberships, standing for every request of the class (at most ${size} representatives; counts are of all requests)`;
  const notes = [...space.notes, note];
  return { ...space, quotient, pruned: true, expanded: true, size, notes };
}

// Symmetry is sound whatever the size (docs/policies.md), so it always prunes Cedar calls.
function symmetricOf(space: Space, options: PlanOptions): boolean {
  return space.unnamedRoles.length >= 2 && options.prune !== 'never';
}

/**
 * Interchangeable roles enumerated up to permutation; the decisions are then spread over each
 * representative's permutations, unless those are too many to hold.
 */
function symmetryPlan(space: Space, options: PlanOptions): EnumerationPlan {
  const pruned = symmetricOf(space, options);
  const fullSize = sizeOf(space, false);
  const expanded =
    !pruned ||
    (options.prune !== 'always' && fullSize <= (options.maxRequests ?? DEFAULT_MAX_REQUESTS));
  const unnamed = space.unnamedRoles.join(', ');
  const notes = !pruned
    ? space.notes
    : [
        ...space.notes,
        expanded
          ? `no policy names the roles ${unnamed}: they are interchangeable, so one ` +
            'representative per permutation of them was decided, its decision applied to every permutation'
          : `pruned: no policy names the roles ${unnamed}, so they are interchangeable; ` +
            `requests are enumerated up to their permutation (at most ${sizeOf(space, true)} instead of ${fullSize}), ` +
            'and classes are described by the named roles only',
      ];
  return { ...space, pruned, expanded, quotient: null, size: sizeOf(space, pruned), notes };
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

/**
 * Requests of one action (an upper bound: the invariants filter some out), given how many role
 * assignments each layout of principal and resource has: every one, up to permutation, or up to
 * the quotient.
 */
function actionSize(
  a: ActionPlan,
  literals: PolicyLiterals,
  assignments: (layout: Layout) => number,
): number {
  const users = 1 + literals.users.size;
  const tenants = 1 + literals.tenants.size;
  const bools = a.action === 'users:update' ? 4 : 1;
  const values = a.extras.reduce(
    (n, e) => n * (e.kind === 'values' ? Math.max(e.values.length, 1) : 1),
    1,
  );
  let n = 0;
  if (RESOURCE_KIND_OF[a.action] === 'User') {
    const others = users * (users + 1) * tenants * (tenants + 1);
    n += users * tenants * assignments({ resourceSlot: false, tenant: false }) * 2;
    n += others * assignments({ resourceSlot: true, tenant: false }) * 4;
  } else {
    n += users * tenants * (tenants + 1) * assignments({ resourceSlot: false, tenant: true }) * 2;
  }
  return n * bools * values;
}
