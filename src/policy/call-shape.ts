/**
 * Which shape of Cedar call a policy set can be decided with, read from Cedar's JSON form (EST)
 * of its policies at load. Every saving here must leave every decision, every determining
 * policy and every evaluation error as the full call gives them (the differential test in
 * test/unit/policy/cedar-adapter-differential.test.ts holds the two side by side):
 *
 * - **Tenant entities and the users' tenant parents** are observable only through the entity
 *   hierarchy (`in`, `is ... in`) or through attributes and tags of a tenant. The sidecar gives
 *   a tenant neither attributes nor parents, so a tenant entity's presence changes nothing Cedar
 *   can compute, and a user's parent edge changes only what `in` answers. They are left out only
 *   when no policy says `in` outside its action scope and the schema declares nothing on
 *   `Tenant`; any such policy keeps the full form for the whole set.
 * - **A policy slice per action**: Cedar evaluates a policy's scope before its conditions and
 *   stops at the first false one, so a policy whose action scope cannot match the request's
 *   action is neither satisfied nor evaluated far enough to err. Leaving it out of that
 *   action's slice changes nothing, and Cedar no longer clones it on every call. A scope that
 *   names an action this module cannot place (an action group, another type) keeps the policy
 *   in every slice.
 */

/** The parts of a policy's EST this module reads; the rest is walked as plain JSON. */
export interface PolicyEst {
  principal?: unknown;
  action?: unknown;
  resource?: unknown;
  conditions?: readonly unknown[];
}

/** How the set's requests are sent to Cedar. */
export interface CallShape {
  /** True when tenant entities and users' tenant parents are sent (the full form). */
  tenantEntities: boolean;
  /** Why the full form is kept (the first policy, or the schema, that needs it); null when lean. */
  tenantReason: string | null;
  /** Per action, the ids of the policies whose action scope can match it, in the set's order. */
  slices: Record<string, string[]>;
}

/** What the analysis needs of the schema. */
export interface CallShapeSchema {
  /** The fully qualified action entity type, e.g. `Cedargate::Action`. */
  actionType: string;
  /** Every action the schema declares. */
  actions: readonly string[];
  /**
   * The actions other actions are `in` (groups are declared actions too): a scope naming one
   * may match any action. Absent: none.
   */
  groups?: readonly string[];
  /** The schema declares attributes or tags on `Tenant`. */
  tenantHasData: boolean;
}

/** The call shape of the policies `ests` (keyed by policy id) under `schema`. */
export function callShapeOf(
  ests: Readonly<Record<string, PolicyEst>>,
  schema: CallShapeSchema,
): CallShape {
  let tenantReason: string | null = schema.tenantHasData
    ? 'the schema declares attributes or tags on Tenant'
    : null;
  for (const [id, est] of Object.entries(ests)) {
    if (tenantReason !== null) break;
    if (usesHierarchy(est)) tenantReason = `policy ${id} uses the entity hierarchy (\`in\`)`;
  }
  const slices: Record<string, string[]> = {};
  for (const action of schema.actions) {
    slices[action] = Object.entries(ests)
      .filter(([, est]) => actionScopeMayMatch(est.action, action, schema))
      .map(([id]) => id);
  }
  return { tenantEntities: tenantReason !== null, tenantReason, slices };
}

/**
 * Whether the policy can read the entity hierarchy: a principal or resource scope with `in`
 * (also `is ... in`), or an `in` anywhere in its conditions. Any object with an `in` key counts,
 * so a record literal with an attribute named `in` keeps the full form too: a false alarm costs
 * only speed.
 */
export function usesHierarchy(est: PolicyEst): boolean {
  return hasInKey(est.principal) || hasInKey(est.resource) || (est.conditions ?? []).some(hasInKey);
}

function hasInKey(node: unknown): boolean {
  if (Array.isArray(node)) return node.some(hasInKey);
  if (typeof node !== 'object' || node === null) return false;
  const o = node as Record<string, unknown>;
  // A scope says `{op: "in", ...}`; an expression says `{in: {...}}`; `is ... in` has an `in` key.
  if (o['op'] === 'in' || 'in' in o) return true;
  return Object.values(o).some(hasInKey);
}

/**
 * Whether an action scope (EST) can match `action`: `All`, `==` it, or `in` a list holding it.
 * An `in` of an entity that is not one of the schema's plain actions (a group, declared or not)
 * may match anything, and so does any form this module does not know.
 */
export function actionScopeMayMatch(
  scope: unknown,
  action: string,
  schema: Pick<CallShapeSchema, 'actionType' | 'actions' | 'groups'>,
): boolean {
  if (typeof scope !== 'object' || scope === null) return true;
  const s = scope as { op?: unknown; entity?: unknown; entities?: unknown };
  const isAction = (e: unknown, id: string) => {
    const ref = e as { type?: unknown; id?: unknown } | null;
    return ref?.type === schema.actionType && ref.id === id;
  };
  const groups = schema.groups ?? [];
  const isPlainAction = (e: unknown) =>
    schema.actions.some((a) => isAction(e, a)) && !groups.some((g) => isAction(e, g));
  if (s.op === 'All') return true;
  if (s.op === '==') return isAction(s.entity, action) || !isPlainAction(s.entity);
  if (s.op === 'in') {
    const list: unknown[] | undefined = Array.isArray(s.entities)
      ? s.entities
      : s.entity === undefined
        ? undefined
        : [s.entity];
    if (list === undefined) return true;
    return list.some((e) => isAction(e, action) || !isPlainAction(e));
  }
  return true;
}
