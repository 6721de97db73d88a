/**
 * A violation as a person reads it: the start state and each request (who, what, on whom, the
 * determining policies), with users keeping one name from the first request to the last. The
 * explorer keeps canonical states, whose names change as users are sorted again; the trace is
 * replayed here on a concrete tenant, each canonical position mapped to its concrete user.
 */
import type { MemoDecider } from './decisions.js';
import type { TraceNode, Violation } from './explore.js';
import { stateViolation } from './evaluate.js';
import type { Invariant } from './language.js';
import { applyStep, canonicalOrder, roleNames } from './tenant-model.js';
import type { Step, TenantModel, TenantState, TenantUser } from './tenant-model.js';

/** A user as the counterexample shows it. */
export interface ShownUser {
  id: string;
  owner: boolean;
  roles: string[];
}

/** One request of a counterexample. */
export interface ShownStep {
  by: ShownUser;
  action: Step['action'];
  /** The target (update, delete); null for a create. */
  on: ShownUser | null;
  /** The roles asked for (update: the new set; create: the new user's); null for a delete. */
  roles: string[] | null;
  /** The update context's change flags set (`nameChanges`, `avatarChanges`). */
  renames: string[];
  /** The created user's id, for a create. */
  created: string | null;
  /** The determining policies of the (allowing) decision. */
  policies: string[];
}

/** The shortest sequence of allowed requests from a start state to the violation. */
export interface Counterexample {
  /** What breaks: the last request, some users of the last state, or its count of users. */
  violation: 'request' | 'users' | 'count';
  start: ShownUser[];
  /** The requests; for a request invariant the last is the forbidden request itself. */
  steps: ShownStep[];
  /** For a state invariant: the users that break it in the last state ([] for a count). */
  broken: ShownUser[];
  /** The users at the end. */
  end: ShownUser[];
}

/** Replays `v` on a concrete tenant and shows it. */
export function counterexampleOf(
  model: TenantModel,
  inv: Invariant,
  v: Violation,
  decider: MemoDecider,
): Counterexample {
  const chain: TraceNode[] = [];
  for (let n: TraceNode | null = v.node; n !== null; n = n.parent) chain.unshift(n);
  const root = chain[0] as TraceNode;
  const show = (u: TenantUser): ShownUser => ({
    id: u.id,
    owner: u.owner,
    roles: roleNames(model.roles, u.roles),
  });
  let state: TenantState = root.state;
  let created = root.state.length - 1;
  const start = state.map(show);
  const steps: ShownStep[] = [];
  const replay = (canonicalStep: Step, advance: boolean) => {
    const step = concreteStep(state, canonicalStep);
    const newId = step.action === 'users:create' ? model.freshId(++created) : null;
    steps.push(shownStep(model, state, step, newId, decider, show));
    if (advance) state = applyStep(model, state, step, newId ?? '');
  };
  for (const node of chain.slice(1)) replay(node.step as Step, true);
  if (v.step !== null) replay(v.step, false);
  const broken =
    inv.check.type === 'request' ? [] : (stateViolation(inv.kind, inv.check, state) ?? []);
  return {
    violation: inv.check.type,
    start,
    steps,
    broken: broken.map(show),
    end: state.map(show),
  };
}

/** `step`, whose positions are those of the canonical form of `state`, on `state` itself. */
function concreteStep(state: TenantState, step: Step): Step {
  const order = canonicalOrder(state);
  const at = (i: number) => order[i] as number;
  switch (step.action) {
    case 'users:create':
      return { ...step, by: at(step.by) };
    default:
      return { ...step, by: at(step.by), on: at(step.on) };
  }
}

function shownStep(
  model: TenantModel,
  state: TenantState,
  step: Step,
  created: string | null,
  decider: MemoDecider,
  show: (u: TenantUser) => ShownUser,
): ShownStep {
  const decision = decider.decideStep(state, step);
  const on = step.action === 'users:create' ? null : show(state[step.on] as TenantUser);
  const roles = step.action === 'users:delete' ? null : roleNames(model.roles, step.roles);
  const renames =
    step.action === 'users:update'
      ? model.renameFlags.filter((_, i) => (step.renames & (1 << i)) !== 0)
      : [];
  return {
    by: show(state[step.by] as TenantUser),
    action: step.action,
    on,
    roles,
    renames,
    created,
    policies: [...decision.policies],
  };
}
