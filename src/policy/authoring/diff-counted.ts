/**
 * `policy diff` under the role quotient, counted instead of enumerated (docs/policies.md,
 * "Counting per role"): the quotient's requests cut into blocks (counted-blocks.ts), each
 * block's roles walked one at a time (counted-walk.ts) into the requests of one signature, each
 * signature decided once through its first request, and the classes described from counts per
 * role (counted-index.ts). The answer is the enumeration's own — the same changed requests, the
 * same classes with the same examples, descriptions and matching counts — at a cost that grows
 * with the signatures, not with the product of the roles' classes (×3 per named role).
 *
 * Whatever it cannot count exactly (role-formulas.ts) throws {@link NotCountable} before any
 * answer is given, and the diff enumerates as before.
 */
import { changeKindOf, classKey, featuresOf, intersect } from './change-classes.js';
import type { Feature, Vocabulary } from './change-classes.js';
import { blocksOf, requestAt } from './counted-blocks.js';
import type { Block } from './counted-blocks.js';
import { CountIndex, FactKinds } from './counted-index.js';
import { walkBlock } from './counted-walk.js';
import type { Contribution } from './counted-walk.js';
import type { Group } from './diff-describe.js';
import type { ChangeClass, DecisionSummary } from './diff.js';
import type { EnumerationPlan } from './enumerate.js';
import type { Signer } from './atoms.js';
import { NotCountable } from './role-formulas.js';
import type { Formula, RoleFormulas } from './role-formulas.js';
import type { RoleRelevance } from './role-relevance.js';
import type { AuthzRequest, UsersAction } from '../types.js';

export { NotCountable } from './role-formulas.js';
export { TooManyStates } from './counted-walk.js';

/** A class as the pass leaves it (diff.ts describes it). */
export type ClassOfPass = Omit<ChangeClass, 'summary' | 'description' | 'matching'>;

/** One side as the counted pass reads it. */
export interface CountedSide {
  formulas: RoleFormulas;
  signer: Signer;
  decide: (request: AuthzRequest) => DecisionSummary;
}

/** What the counted pass counts and groups (diff.ts's Pass, with counts in place of bitsets). */
export interface CountedPass {
  /** Signatures decided: the representatives of the counted diff. */
  decided: number;
  requests: number;
  changed: number;
  groups: Map<string, Group<ClassOfPass>>;
  /** Per action, the weighted count of its requests having every fact given. */
  counts: Map<UsersAction, (facts: readonly Feature[]) => number>;
}

/** Options of {@link countedPass}. */
export interface CountedOptions {
  maxStates: number;
  onProgress?: ((done: number, planned: number) => void) | undefined;
}

/** Counts every request of a quotient plan; throws NotCountable where it cannot be exact. */
export function countedPass(
  plan: EnumerationPlan,
  sides: readonly [CountedSide, CountedSide],
  words: Vocabulary,
  options: CountedOptions,
): CountedPass {
  const quotient = plan.quotient;
  if (quotient === null) throw new NotCountable('the plan has no role quotient');
  const pass: CountedPass = {
    decided: 0,
    requests: 0,
    changed: 0,
    groups: new Map(),
    counts: new Map(),
  };
  const order = new Map<string, number[]>();
  for (const a of plan.actions) {
    const blocks = [...blocksOf(plan, a)];
    const kinds = new FactKinds(plan.roles, new Set(blocks.flatMap((b) => b.sets)));
    const index = new CountIndex(kinds);
    for (const [i, block] of blocks.entries()) {
      const probe = requestAt(
        plan,
        block,
        block.classes.map((cs) => (cs[0] as { kind: number }).kind),
      );
      index.add(block, featuresOf(probe, block.relation, words));
      const policies = sides.flatMap((s) => s.formulas.policiesOf(probe));
      const emptiness = emptinessOf(block, policies, quotient);
      const { maxStates } = options;
      const walk = { block, roles: plan.roles, policies, emptiness, quotient, maxStates };
      for (const c of walkBlock(walk)) {
        pass.requests += c.weight;
        const facts = { kinds, block, emptiness };
        decideContribution(pass, order, plan, sides, words, facts, c);
      }
      if (i % 16 === 15) options.onProgress?.(pass.decided, plan.size);
    }
    pass.counts.set(a.action, (facts) => index.count(facts));
  }
  pass.groups = inEnumerationOrder(pass.groups, order, plan);
  return pass;
}

/** Classes in the order the enumeration first meets them (sortClasses keeps ties so). */
function inEnumerationOrder<G extends Group<ClassOfPass>>(
  groups: Map<string, G>,
  order: Map<string, number[]>,
  plan: EnumerationPlan,
): Map<string, G> {
  const actionAt = (g: G) => plan.actions.findIndex((a) => a.action === g.cls.action);
  const keyOf = (k: string, g: G) => [actionAt(g), ...(order.get(k) as number[])];
  const sorted = [...groups].sort(([ka, a], [kb, b]) =>
    earlier(keyOf(ka, a), keyOf(kb, b)) ? -1 : earlier(keyOf(kb, b), keyOf(ka, a)) ? 1 : 0,
  );
  return new Map(sorted);
}

/** The sets whose emptiness a policy reads or a description tells. */
function emptinessOf(block: Block, policies: readonly Formula[], q: RoleRelevance): string[] {
  const sets = new Set(block.sets.filter((s) => q.allRoles.includes(s)));
  const walk = (f: Formula): void => {
    if (f.t === 'empty') sets.add(f.set);
    else if (f.t === 'and' || f.t === 'or') {
      walk(f.a);
      walk(f.b);
    } else if (f.t === 'not') walk(f.a);
  };
  for (const p of policies) walk(p);
  return [...sets];
}

/** Decides one signature through its first request and groups it when its answer changed. */
function decideContribution(
  pass: CountedPass,
  order: Map<string, number[]>,
  plan: EnumerationPlan,
  sides: readonly [CountedSide, CountedSide],
  words: Vocabulary,
  facts: { kinds: FactKinds; block: Block; emptiness: readonly string[] },
  c: Contribution,
): void {
  const { block } = facts;
  const classes = c.first.map((ci, r) => block.classes[r]?.[ci] as { kind: number; index: number });
  const request = requestAt(
    plan,
    block,
    classes.map((x) => x.kind),
  );
  if (sides.some((s) => s.signer(request) === null))
    throw new NotCountable('a request has no signature (an error, or only Cedar can tell)');
  const [b, a] = sides.map((s) => s.decide(request)) as [DecisionSummary, DecisionSummary];
  if (b.errors !== undefined || a.errors !== undefined)
    throw new NotCountable('a decision carries errors');
  pass.decided++;
  const kind = changeKindOf(b, a);
  if (kind === null) return;
  pass.changed += c.weight;
  const { action } = request;
  const key = classKey(action, block.relation, kind, b, a);
  const at = [block.order.target, ...classes.map((x) => x.index), ...block.order.rest];
  let g = pass.groups.get(key);
  if (g === undefined) {
    const cls: ClassOfPass = {
      action,
      relation: block.relation,
      kind,
      before: b,
      after: a,
      count: 0,
      example: request,
    };
    g = { cls, shared: null };
    pass.groups.set(key, g);
    order.set(key, at);
  } else if (earlier(at, order.get(key) as number[])) {
    g.cls.example = request;
    order.set(key, at);
  }
  g.cls.count += c.weight;
  g.shared = intersect(g.shared, sharedFacts(featuresOf(request, block.relation, words), facts, c));
}

function earlier(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return (a[i] as number) < (b[i] as number);
  return false;
}

/** The facts of the first request that every request of the signature shares. */
function sharedFacts(
  features: Feature[],
  facts: { kinds: FactKinds; block: Block; emptiness: readonly string[] },
  c: Contribution,
): Feature[] {
  const { kinds, block, emptiness } = facts;
  return features.filter((f) => {
    const k = kinds.of(f, block);
    if (k.kind === 'role') {
      const seen = (block.classes[k.role] ?? []).filter(
        (_, ci) => ((c.seen[k.role] as number) >> ci) & 1,
      );
      return new Set(seen.map((x) => (x.memb >> k.set) & 1)).size === 1;
    }
    if (k.kind === 'empty') {
      const j = emptiness.indexOf(block.sets[k.set] as string);
      if (j < 0) throw new NotCountable(`the emptiness of ${block.sets[k.set]} is not tracked`);
      const e = c.empties[j] as number;
      return e === 1 || e === 2;
    }
    return true;
  });
}
