/**
 * Which shape of Cedar call a policy set can be decided with, read from the typed EST (est.ts)
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
import { subExpressionsOf } from './est.js';
import type { ActionScope, EntityRef, Expr, PolicyEst, PrincipalOrResourceScope } from './est.js';

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
export interface CallShapeSchema extends ActionShape {
  /** The schema declares attributes or tags on `Tenant`. */
  tenantHasData: boolean;
}

/** What placing an action scope needs of the schema. */
export interface ActionShape {
  /** The fully qualified action entity type, e.g. `Cedargate::Action`. */
  actionType: string;
  /** Every action the schema declares. */
  actions: readonly string[];
  /**
   * The actions other actions are `in` (groups are declared actions too, schema-json.ts
   * `actionGroupsOf`): a scope naming one may match any action. Absent: none.
   */
  groups?: readonly string[];
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
 * (also `is ... in`), or an `in` (also `is ... in`) anywhere in its conditions. A template slot
 * counts too: what it stands for is not known here.
 */
export function usesHierarchy(est: PolicyEst): boolean {
  return (
    scopeUsesHierarchy(est.principal) ||
    scopeUsesHierarchy(est.resource) ||
    est.conditions.some((c) => exprUsesHierarchy(c.body))
  );
}

function scopeUsesHierarchy(scope: PrincipalOrResourceScope): boolean {
  return scope.op === 'in' || scope.op === 'slot' || (scope.op === 'is' && scope.in !== undefined);
}

function exprUsesHierarchy(e: Expr): boolean {
  if (e.op === 'in' || e.op === 'slot' || (e.op === 'is' && e.in !== undefined)) return true;
  return subExpressionsOf(e).some(exprUsesHierarchy);
}

/**
 * Whether an action scope holds for `action`: true where it names the action itself (or is
 * `All`), false where it names plain actions only and not this one, null where it names a group
 * or an entity that is not one of the schema's actions (only Cedar's action hierarchy can say).
 */
export function actionScopeHolds(
  scope: ActionScope,
  action: string,
  schema: ActionShape,
): boolean | null {
  if (scope.op === 'All') return true;
  const named = scope.op === '==' ? [scope.entity] : scope.entities;
  const isAction = (e: EntityRef, id: string) => e.type === schema.actionType && e.id === id;
  if (named.some((e) => isAction(e, action))) return true;
  const groups = schema.groups ?? [];
  const isPlainAction = (e: EntityRef) =>
    schema.actions.some((a) => isAction(e, a)) && !groups.some((g) => isAction(e, g));
  return named.every(isPlainAction) ? false : null;
}

/**
 * Whether an action scope can match `action`: `All`, `==` it, or `in` a list holding it. An
 * entity that is not one of the schema's plain actions (a group, declared or not) may match
 * anything.
 */
export function actionScopeMayMatch(
  scope: ActionScope,
  action: string,
  schema: ActionShape,
): boolean {
  return actionScopeHolds(scope, action, schema) !== false;
}
