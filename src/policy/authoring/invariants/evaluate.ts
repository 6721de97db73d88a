/**
 * Whether a state or a request breaks an invariant. Pure functions of the state: the explorer
 * and the naive explorer the tests compare it with share them.
 */
import type { Check, RequestMatch, Selector } from './language.js';
import type { Step, TenantState, TenantUser } from './tenant-model.js';

/** Whether `u` is one of the users `s` selects. */
export function selects(s: Selector, u: TenantUser): boolean {
  switch (s.kind) {
    case 'any':
      return true;
    case 'owner':
      return u.owner;
    case 'not':
      return !selects(s.of, u);
    case 'all':
      return s.of.every((x) => selects(x, u));
    case 'has':
      return (u.roles & s.roles) === s.roles;
    case 'has_any':
      return (u.roles & s.roles) !== 0;
    case 'lacks':
      return (u.roles & s.roles) === 0;
    case 'started_as':
      return u.start === s.roles;
  }
}

/**
 * The users of `state` that break a state invariant (`kind` + `check`), or null when it holds;
 * [] when it is broken by the state as a whole (a count).
 */
export function stateViolation(
  kind: 'always' | 'never',
  check: Exclude<Check, { type: 'request' }>,
  state: TenantState,
): TenantUser[] | null {
  if (check.type === 'count') {
    const n = state.filter((u) => selects(check.of, u)).length;
    const within =
      (check.atLeast === null || n >= check.atLeast) &&
      (check.atMost === null || n <= check.atMost);
    return within === (kind === 'always') ? null : [];
  }
  const broken = state.filter(
    (u) => selects(check.domain, u) && selects(check.cond, u) === (kind === 'never'),
  );
  return broken.length === 0 ? null : broken;
}

/** Whether `step` made in `state` (and allowed) is a request of the shape `m`. */
export function requestMatches(m: RequestMatch, state: TenantState, step: Step): boolean {
  if (m.action !== null && m.action !== step.action) return false;
  if (!selects(m.by, state[step.by] as TenantUser)) return false;
  const target: TenantUser =
    step.action === 'users:create'
      ? { id: '', owner: false, roles: step.roles, start: step.roles }
      : (state[step.on] as TenantUser);
  if (!selects(m.on, target)) return false;
  const before = step.action === 'users:create' ? 0 : target.roles;
  const after = step.action === 'users:delete' ? before : step.roles;
  if (m.adds !== 0 && (after & ~before & m.adds) === 0) return false;
  if (m.removes !== 0 && (step.action !== 'users:update' || (before & ~after & m.removes) === 0)) {
    return false;
  }
  return true;
}
