/**
 * The question each step of the explored tenant asks, built as the sidecar builds it (question.ts),
 * and the decisions, asked once per request key.
 */
import { requestOfQuestion } from '../../question.js';
import type { QuestionUser } from '../../question.js';
import type { AuthzRequest } from '../../types.js';
import { roleNames } from './tenant-model.js';
import type { Step, TenantModel, TenantState, TenantUser } from './tenant-model.js';

/** What `policy check` needs of a decision. */
export interface CheckDecision {
  allowed: boolean;
  /** The determining policies' `@id`s. */
  policies: readonly string[];
}

/** What decides: the loaded set's compiled `authorize`, or any function of the same shape. */
export type Decide = (request: AuthzRequest) => CheckDecision;

/** A decider that asks `decide` once per distinct request key, and counts. */
export interface MemoDecider {
  decideStep(state: TenantState, step: Step): CheckDecision;
  /** Distinct requests decided (calls to the wrapped decider). */
  readonly decided: number;
}

/**
 * Wraps `decide`. The key holds everything the built request holds except the ids of the others,
 * which are fresh (no policy names them), so the decision cannot depend on them beyond whether
 * the principal and the target are the same user.
 */
export function memoDecider(model: TenantModel, tenantId: string, decide: Decide): MemoDecider {
  const memo = new Map<number, CheckDecision>();
  return {
    decideStep(state, step) {
      const key = stepKey(model, state, step);
      let d = memo.get(key);
      if (d === undefined) {
        d = decide(requestOfStep(model, tenantId, state, step));
        memo.set(key, d);
      }
      return d;
    },
    get decided() {
      return memo.size;
    },
  };
}

/**
 * The step's request as one number (exact below 2^53: at most 12 roles make 2 + 3·13 + 2 + 1
 * bits): the action, the principal's and the target's owner flag and roles, whether they are the
 * same user, the roles asked for and the change flags. This runs for every transition explored.
 */
function stepKey(model: TenantModel, state: TenantState, step: Step): number {
  const sets = 2 ** model.roles.length;
  const by = state[step.by] as TenantUser;
  let key = (by.owner ? sets : 0) + by.roles;
  if (step.action === 'users:create') return (key * 2 * sets + step.roles) * 4;
  const on = state[step.on] as TenantUser;
  key = key * 2 * sets + (on.owner ? sets : 0) + on.roles;
  key = key * 2 + (step.by === step.on ? 1 : 0);
  if (step.action === 'users:delete') return key * 4 + 1;
  key = (key * sets + step.roles) * 4 + step.renames;
  return key * 4 + 2;
}

/** The authorization request of `step` made in `state`, asked as every tool asks (question.ts). */
export function requestOfStep(
  model: TenantModel,
  tenantId: string,
  state: TenantState,
  step: Step,
): AuthzRequest {
  const names = (mask: number) => roleNames(model.roles, mask);
  const user = (u: TenantUser): QuestionUser => ({
    id: u.id,
    tenant_id: tenantId,
    roles: names(u.roles),
    is_owner: u.owner,
    name: 'name',
    avatar_digest: null,
  });
  const principal = user(state[step.by] as TenantUser);
  if (step.action === 'users:create') {
    const input = { name: 'new', email: 'new@example.com', roles: names(step.roles) };
    return requestOfQuestion({ action: step.action, tenantId, principal, input });
  }
  const target = user(state[step.on] as TenantUser);
  if (step.action === 'users:delete') {
    return requestOfQuestion({ action: step.action, tenantId, principal, target });
  }
  // The stored user's name is "name" and it has no avatar: a rename names it otherwise, an
  // avatar change sets one.
  const flag = (name: string) => {
    const i = model.renameFlags.indexOf(name);
    return i >= 0 && (step.renames & (1 << i)) !== 0;
  };
  const input = {
    roles: names(step.roles),
    ...(flag('nameChanges') ? { name: 'renamed' } : {}),
    ...(flag('avatarChanges') ? { avatar: 'avatar' } : {}),
  };
  return requestOfQuestion({ action: step.action, tenantId, principal, target, input });
}
