/**
 * Breadth-first exploration of the states a tenant reaches by allowed requests, up to the
 * renaming of non-owner users (tenant-model.ts), checking invariants on the way. Breadth first,
 * so the first violation found of each invariant is one at the fewest requests from a start.
 */
import type { MemoDecider } from './decisions.js';
import { requestMatches, selects, stateViolation } from './evaluate.js';
import type { Invariant, Selector } from './language.js';
import { applyStep, canonicalize, stateKey, stepsOf } from './tenant-model.js';
import type { Step, TenantModel, TenantState, TenantUser } from './tenant-model.js';

/** A reached state and how: its parent and the step from the parent (null at a start). */
export interface TraceNode {
  state: TenantState;
  parent: TraceNode | null;
  step: Step | null;
  depth: number;
}

/** Where an invariant breaks: the state, and for a request invariant the request made in it. */
export interface Violation {
  node: TraceNode;
  step: Step | null;
}

/** What one exploration found. */
export interface Exploration {
  states: number;
  /** Allowed requests the backend accepts, over every state (transitions explored). */
  requests: number;
  violations: Map<string, Violation>;
}

/**
 * Explores from `starts` by the requests of users `restrict` selects (null: anyone's), checking
 * `invariants` (which should all have that restriction); every reachable state is visited, so
 * the counts are the whole space's.
 */
export function explore(
  model: TenantModel,
  starts: readonly TenantState[],
  restrict: Selector | null,
  invariants: readonly Invariant[],
  decider: MemoDecider,
): Exploration {
  const seen = new Map<string, TraceNode>();
  const violations = new Map<string, Violation>();
  const stateChecks = invariants.filter((i) => i.check.type !== 'request');
  const requestChecks = invariants.filter((i) => i.check.type === 'request');
  const queue: TraceNode[] = [];
  const visit = (node: TraceNode) => {
    const key = stateKey(node.state);
    if (seen.has(key)) return;
    seen.set(key, node);
    queue.push(node);
    for (const inv of stateChecks) {
      if (violations.has(inv.id) || inv.check.type === 'request') continue;
      if (stateViolation(inv.kind, inv.check, node.state) !== null) {
        violations.set(inv.id, { node, step: null });
      }
    }
  };
  for (const s of starts) visit({ state: s, parent: null, step: null, depth: 0 });
  let requests = 0;
  for (let head = 0; head < queue.length; head++) {
    const node = queue[head] as TraceNode;
    for (const step of stepsOf(model, node.state)) {
      if (restrict !== null && !selects(restrict, node.state[step.by] as TenantUser)) continue;
      if (!decider.decideStep(node.state, step).allowed) continue;
      requests++;
      for (const inv of requestChecks) {
        if (violations.has(inv.id) || inv.check.type !== 'request') continue;
        if (requestMatches(inv.check.match, node.state, step))
          violations.set(inv.id, { node, step });
      }
      const next = canonicalize(model, applyStep(model, node.state, step, ''));
      visit({ state: next, parent: node, step, depth: node.depth + 1 });
    }
  }
  return { states: seen.size, requests, violations };
}

/**
 * Explores once per distinct `by` restriction of `invariants`; the unrestricted exploration
 * always runs, and its counts are the report's.
 */
export function exploreAll(
  model: TenantModel,
  starts: readonly TenantState[],
  invariants: readonly Invariant[],
  decider: MemoDecider,
): Exploration {
  const groups = new Map<string, { restrict: Selector | null; invariants: Invariant[] }>();
  groups.set('null', { restrict: null, invariants: [] });
  for (const inv of invariants) {
    const key = JSON.stringify(inv.by);
    const group = groups.get(key) ?? { restrict: inv.by, invariants: [] };
    group.invariants.push(inv);
    groups.set(key, group);
  }
  let main: Exploration | null = null;
  const violations = new Map<string, Violation>();
  for (const [key, g] of groups) {
    if (key !== 'null' && g.invariants.length === 0) continue;
    const found = explore(model, starts, g.restrict, g.invariants, decider);
    if (key === 'null') main = found;
    for (const [id, v] of found.violations) violations.set(id, v);
  }
  const { states, requests } = main as Exploration;
  return { states, requests, violations };
}
