/**
 * `policy validate`'s own warnings, beyond Cedar's validator: what loads and decides but is most
 * likely a mistake. They never refuse a set (the sidecar serves it); `--strict` makes CI fail.
 *
 * - A forbid without `@notice`: its denials carry no reason a client could show.
 * - A permit that can never apply. Definition used: no request the sidecar can build (the
 *   enumeration of `policy diff`, enumerate.ts) is ALLOWED with this permit among the
 *   determining policies. That covers a permit whose condition no request meets and one that is
 *   overshadowed by forbids wherever it is met: in both cases deleting it changes no decision.
 */
import { join } from 'node:path';
import { enumerateRequests, planEnumeration } from './enumerate.js';
import type { PlanOptions } from './enumerate.js';
import { compileLoadedSet } from '../policy-set.js';
import type { LoadedPolicySet, PolicyProblem } from '../policy-set.js';
import { collectLiterals } from '../request-abstraction.js';

/** One warning per forbid that has no `@notice`. */
export function forbidsWithoutNotice(set: LoadedPolicySet): PolicyProblem[] {
  return set.policies
    .filter((p) => p.effect === 'forbid' && p.notice === null)
    .map((p) => ({
      file: join(set.dir, p.file),
      line: p.line,
      column: p.column,
      message: `forbid "${p.id}" has no @notice: its denials would carry no reason`,
    }));
}

/** What {@link permitsThatNeverApply} found, and how far it looked. */
export interface NeverApplyResult {
  warnings: PolicyProblem[];
  /** Requests decided: the enumeration stops once every permit has allowed one. */
  decided: number;
  /** False where the enumeration fell back to boundary values (see enumerate.ts). */
  exhaustive: boolean;
  notes: string[];
  /**
   * Set when the budget ran out before every permit had allowed a request: the permits not yet
   * seen allowing one, which get no warning (they were not shown to be unreachable).
   */
  unconfirmed?: string[];
  /** The requests the enumeration plans in all. */
  planned: number;
}

/** Options of {@link permitsThatNeverApply}. */
export interface NeverApplyOptions extends PlanOptions {
  /**
   * At most this many Cedar calls (default 50,000: the shipped set's whole enumeration is ~5,600;
   * a dozen roles plan millions). `Infinity` looks to the end.
   */
  budget?: number;
}

/** The default of {@link NeverApplyOptions.budget}. */
export const REACHABILITY_BUDGET = 50_000;

let slotCounter = 0;

/** One warning per permit that allows no enumerated request (see the module comment). */
export function permitsThatNeverApply(
  set: LoadedPolicySet,
  options: NeverApplyOptions = {},
): NeverApplyResult {
  const budget = options.budget ?? REACHABILITY_BUDGET;
  const waiting = new Set(set.policies.filter((p) => p.effect === 'permit').map((p) => p.id));
  const plan = planEnumeration([set], collectLiterals(set), options);
  let decided = 0;
  if (waiting.size > 0) {
    const compiled = compileLoadedSet(`policy-validate-${process.pid}-${++slotCounter}`, set);
    // Pruned representatives stand for their permutations of interchangeable roles, which the
    // policies cannot tell apart: a permit allows one of them exactly when it allows them all.
    for (const er of enumerateRequests(plan)) {
      if (decided >= budget) {
        return {
          warnings: [],
          decided,
          exhaustive: plan.exhaustive,
          notes: plan.notes,
          unconfirmed: [...waiting],
          planned: plan.size,
        };
      }
      decided++;
      const d = compiled.authorize(er.request);
      if (d.allowed) for (const id of d.policies) waiting.delete(id);
      if (waiting.size === 0) break;
    }
  }
  const hedge = plan.exhaustive
    ? ''
    : ' (of the requests tried; the enumeration is not exhaustive)';
  const warnings = set.policies
    .filter((p) => waiting.has(p.id))
    .map((p) => ({
      file: join(set.dir, p.file),
      line: p.line,
      column: p.column,
      message:
        `permit "${p.id}" can never apply: it allows no request the sidecar can build${hedge}, ` +
        'either because no request meets its condition or because forbids deny every one that does',
    }));
  return { warnings, decided, exhaustive: plan.exhaustive, notes: plan.notes, planned: plan.size };
}
