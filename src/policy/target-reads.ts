/**
 * Which actions' decisions read the target user's facts (issue 25 item 3): the actions that act
 * on a user, and for which some policy of the set that can apply to the action reads more of
 * the target than what its request already says. The sidecar looks a target up before deciding
 * only for those; for the others it decides with the target as a bare entity (its id from the
 * path, its tenant the request's) and lets the backend answer for the user itself.
 *
 * Known without a look-up: the target's id, its type, its tenant (`resource.tenant`, and its
 * parent, which is that tenant: the backend is asked in the request's tenant and answers 404 for
 * a user of any other, docs/backend-contract.md) — so `==`, `!=`, `in`, `is` and the scope of a
 * policy never need it. Read only from a look-up: its `roles`, `isOwner`, any other attribute
 * and tag. The scan is syntactic and errs one way: an attribute read of anything but
 * `principal`, `context` or `resource.tenant` (a literal user, an `if` choosing an entity, a
 * nested record) counts as reading the target, and so does a set whose trees Cedar could not give.
 */
import type { ActionScope, Expr, PolicyEst } from './est.js';
import { subExpressionsOf } from './est.js';
import { RESOURCE_KIND_OF, USERS_ACTIONS, type UsersAction } from './types.js';

/** The actions whose target is a user: the only ones a look-up can be saved for. */
const USER_ACTIONS: readonly UsersAction[] = USERS_ACTIONS.filter(
  (a) => RESOURCE_KIND_OF[a] === 'User',
);

/**
 * The user actions of the set whose decisions may read the target's facts beyond its id and
 * tenant, in route order. `trees` undefined (Cedar gave no typed tree): all of them.
 */
export function actionsReadingTarget(
  trees: Readonly<Record<string, PolicyEst>> | undefined,
): UsersAction[] {
  if (trees === undefined) return [...USER_ACTIONS];
  const reading = new Set<UsersAction>();
  for (const est of Object.values(trees)) {
    if (!est.conditions.some((c) => readsTarget(c.body))) continue;
    for (const a of actionsOf(est.action)) reading.add(a);
  }
  return USER_ACTIONS.filter((a) => reading.has(a));
}

/**
 * The user actions a policy's action scope can match. An action named by id; an `in` of an
 * entity that is no action of ours (a group) may hold any of them.
 */
function actionsOf(scope: ActionScope): readonly UsersAction[] {
  const userAction = (id: string): UsersAction[] =>
    USER_ACTIONS.includes(id as UsersAction) ? [id as UsersAction] : [];
  switch (scope.op) {
    case 'All':
      return USER_ACTIONS;
    case '==':
      return userAction(scope.entity.id);
    case 'in': {
      const out: UsersAction[] = [];
      for (const e of scope.entities) {
        if (!USERS_ACTIONS.includes(e.id as UsersAction)) return USER_ACTIONS;
        out.push(...userAction(e.id));
      }
      return out;
    }
  }
}

/** Whether `e` may read a fact of the target that only a look-up gives. */
export function readsTarget(e: Expr): boolean {
  switch (e.op) {
    case '.':
      if (isVar(e.left, 'resource')) return e.attr !== 'tenant';
      if (isVar(e.left, 'principal') || isVar(e.left, 'context')) return false;
      return true;
    case 'has':
      if (isVar(e.left, 'resource')) return !(e.path.length === 1 && e.path[0] === 'tenant');
      if (isVar(e.left, 'principal') || isVar(e.left, 'context')) return false;
      return true;
    case 'getTag':
    case 'hasTag':
      return !isVar(e.left, 'principal') || readsTarget(e.right);
    default:
      return subExpressionsOf(e).some(readsTarget);
  }
}

function isVar(e: Expr, name: 'principal' | 'resource' | 'context'): boolean {
  return e.op === 'var' && e.name === name;
}
