/**
 * `policy diff`: every request the sidecar can build (enumerate.ts), decided by two policy sets;
 * the requests whose answer changes, grouped into classes a reviewer can read, each with one
 * concrete example and the determining policies before and after.
 */
import { compileSigner } from './atoms.js';
import type { Signer } from './atoms.js';
import { changeKindOf, classKey, featuresOf, intersect, sortClasses } from './change-classes.js';
import type { Feature, Relation } from './change-classes.js';
import { describeGroup, describeGroupBy, indexesByAction, vocabularyOf } from './diff-describe.js';
import { countedPass, NotCountable, TooManyStates } from './diff-counted.js';
import type { ClassOfPass, CountedSide } from './diff-counted.js';
import { RoleFormulas } from './role-formulas.js';
import { deciderOf, everywhere, memoizedDecider, unionRelevance } from './diff-deciders.js';
import type { Decider } from './diff-deciders.js';
import type { Group } from './diff-describe.js';
import { policyTreesOf } from '../cedar-adapter.js';
import { compileLoadedSet } from '../policy-set.js';
import type { LoadedPolicySet, LoadedSetDecider } from '../policy-set.js';
import { actionGroupsOf } from '../schema-json.js';
import type { AuthzRequest, UsersAction } from '../types.js';
import { enumerateRequests, orbitOf, planEnumeration } from './enumerate.js';
import type { EnumeratedRequest, EnumerationPlan, PlanOptions } from './enumerate.js';
import { collectLiterals } from '../request-abstraction.js';
import { roleRelevanceOf, type RoleRelevance } from './role-relevance.js';
import {
  countEffect,
  oneSidedBy,
  oneSidedRoles,
  schemaDifferencesOf,
  withoutRole,
} from './schema-diff.js';
import type { SchemaDifference } from './schema-diff.js';

export { renderDiff } from './diff-render.js';

/** One side's answer, as a 403 or a forwarded request would show it. */
export interface DecisionSummary {
  decision: 'allow' | 'deny';
  policies: string[];
  notices: string[];
  errors?: string[];
}

/** Requests of one action whose answer changed the same way, for the same policies. */
export interface ChangeClass {
  action: UsersAction;
  /** How principal and resource relate in every request of the class. */
  relation: Relation;
  /** `decision`: allow ↔ deny; `notices`: denied both times, with other notices. */
  kind: 'decision' | 'notices';
  before: DecisionSummary;
  after: DecisionSummary;
  /** One line: what changes for whom. */
  summary: string;
  /** What every request of the class has in common (the facts that matter). */
  description: { principal: string[]; resource: string[]; context: string[] };
  /** Requests in the class. */
  count: number;
  /** Enumerated requests matching the description; equal to `count` when it is exact. */
  matching: number;
  example: AuthzRequest;
}

/** Which engine decided one side of a diff (`/status`'s `policies.decider`, without cross-checks). */
export interface DiffDecider {
  engine: 'compiled' | 'wasm';
  /** Why cedar-wasm decided (the construct the compiler refused); null when compiled. */
  reason: string | null;
}

/** The outcome of a diff (what `--json` prints). */
export interface DiffReport {
  base: string;
  candidate: string;
  /** Requests covered (each representative counts for its permutations when expanded). */
  requests: number;
  /**
   * Representatives decided by both sets: those enumerated, or, counted per role
   * (diff-counted.ts), one per signature of each block.
   */
  decided: number;
  /**
   * Calls to the sets' deciders, both sets together (one per distinct atom signature, see
   * atoms.ts); the name is older than the compiled decider, which answers most of them now.
   */
  cedarCalls: number;
  /** Which engine decided each set: the compiled decider, or cedar-wasm and why. */
  deciders: { base: DiffDecider; candidate: DiffDecider };
  /** Requests whose answer changed (among those both APIs accept). */
  changed: number;
  /**
   * What differs between the two schemas, stated first; a role difference counts the requests
   * only one side's API accepts, which are kept out of the classes.
   */
  schema: SchemaDifference[];
  /** Requests only one side's API accepts (the sum over `schema`). */
  oneSided: number;
  exhaustive: boolean;
  pruned: boolean;
  expanded: boolean;
  notes: string[];
  classes: ChangeClass[];
  ms: number;
}

/** Options of {@link diffPolicySets}. */
export interface DiffOptions extends PlanOptions {
  /** Called now and then with the requests decided so far and the planned upper bound. */
  onProgress?: (done: number, planned: number) => void;
  /** Injectable clock for the run time. */
  now?: () => number;
  /**
   * Ask Cedar once per distinct atom signature of each set (atoms.ts) and spread its answer over
   * every request with that signature; default true. False decides every request with Cedar.
   */
  signatures?: boolean;
  /**
   * Under the role quotient, count per role instead of enumerating (diff-counted.ts); default
   * true. False enumerates every representative (the reference the tests compare against).
   */
  counted?: boolean;
  /** The most states one step of the counted pass holds; default {@link MAX_COUNTED_STATES}. */
  maxStates?: number;
  /** How a side is compiled (a test counts the calls); default compileLoadedSet. */
  compile?: (slot: string, set: LoadedPolicySet) => LoadedSetDecider;
}

const PROGRESS_EVERY = 1 << 15;

/**
 * The most requests one diff decides. Past it the sets are refused before any is decided: a
 * schema of many roles that policies all name spans far more requests than any run could decide
 * (40 roles: about 10^38), and a diff must end in bounded time with a clear answer (issue 22).
 */
export const MAX_DIFF_REQUESTS = 10_000_000;

/**
 * The most states one step of the counted pass holds (diff-counted.ts): past it the sets are
 * refused as too large, as past {@link MAX_DIFF_REQUESTS} when enumerating.
 */
export const MAX_COUNTED_STATES = 100_000;

/**
 * The sets span more requests than {@link MAX_DIFF_REQUESTS}, or their counting per role more
 * than `stateLimit` states at once ({@link MAX_COUNTED_STATES} by default): nothing was answered.
 */
export class DiffTooLargeError extends Error {
  constructor(
    readonly planned: number,
    readonly roles: number,
    readonly stateLimit?: number,
  ) {
    const limit =
      stateLimit === undefined
        ? `more than the ${MAX_DIFF_REQUESTS} a diff decides`
        : `and counting them per role holds more than the ${stateLimit} states a diff keeps at once`;
    super(
      `too many requests to compare: the sets span ${planned.toPrecision(3)} requests ` +
        `(${roles} roles in the schema, enumerated up to what the policies tell apart), ${limit}; ` +
        `compare smaller sets or a schema with fewer roles`,
    );
    this.name = 'DiffTooLargeError';
  }
}

/** Decides every enumerated request with both sets and groups the changes. */
export function diffPolicySets(
  base: LoadedPolicySet,
  candidate: LoadedPolicySet,
  options: DiffOptions = {},
): DiffReport {
  const now = options.now ?? Date.now;
  const started = now();
  const schema = schemaDifferencesOf(base.schema, candidate.schema);
  const sides = [
    sideOf('base', base, 'policy-diff-base', options),
    sideOf('candidate', candidate, 'policy-diff-candidate', options),
  ];
  const plan = planOf(base, candidate, schema, sides, options);
  let cedarCalls = 0;
  const compile = options.compile ?? compileLoadedSet;
  const compiled = sides.map((side) => compile(side.slot, side.set)) as [
    LoadedSetDecider,
    LoadedSetDecider,
  ];
  const [before, after] = sides.map((side, i) =>
    memoizedDecider(compiled[i] as LoadedSetDecider, side.signer, () => cedarCalls++),
  ) as [Decider, Decider];
  const pass = passOf(plan, schema, sides, [before, after], options);
  const notes = [...plan.notes, ...sides.flatMap((s) => s.notes)];
  const signed = sides.filter((s) => s.signer !== null);
  if (signed.length > 0)
    notes.push(
      `decided once per signature (which policies a request satisfies, evaluated from their atoms: ` +
        `${signed.map((s) => `${s.name} ${s.atoms}`).join(', ')}): ` +
        `${cedarCalls} decider calls for ${2 * pass.compared} decisions, each answer applied to every request of the action with the same signature`,
    );
  const classes = [...pass.groups.values()].map((g) =>
    pass.counts === null
      ? describeGroup(pass.indexes.index(g.cls.action), g)
      : describeGroupBy(pass.counts.get(g.cls.action) as Counter, g),
  );
  return {
    base: base.dir,
    candidate: candidate.dir,
    requests: pass.requests,
    decided: pass.decided,
    cedarCalls,
    deciders: { base: deciderOf(compiled[0]), candidate: deciderOf(compiled[1]) },
    changed: pass.changed,
    schema,
    oneSided: pass.outside,
    exhaustive: plan.exhaustive,
    pruned: plan.pruned,
    expanded: plan.expanded,
    notes,
    classes: sortClasses(classes),
    ms: now() - started,
  };
}

/**
 * Counted per role when it can be (diff-counted.ts), else every representative enumerated; the
 * enumeration refuses a plan over {@link MAX_DIFF_REQUESTS} before deciding any.
 */
function passOf(
  plan: EnumerationPlan,
  schema: SchemaDifference[],
  sides: readonly Side[],
  [before, after]: readonly [Decider, Decider],
  options: DiffOptions,
): Pass {
  const tried = countedOrWhyNot(plan, schema, sides, [before, after], options);
  if (typeof tried !== 'string') return tried;
  if (plan.size > MAX_DIFF_REQUESTS) throw new DiffTooLargeError(plan.size, plan.roles.length);
  if (tried !== '')
    plan.notes.push(`not counted per role (${tried}): every representative enumerated`);
  return decideAll(plan, schema, before, after, options.onProgress);
}

/** One side of the diff: its set, and how its requests are signed (atoms.ts), when they can be. */
interface Side {
  name: string;
  set: LoadedPolicySet;
  slot: string;
  signer: Signer | null;
  atoms: number;
  relevance: RoleRelevance | null;
  /** The policies as formulas over roles (role-formulas.ts), or why the pass cannot count. */
  formulas: RoleFormulas | string;
  /** Why a side is decided without signatures, or its roles without relevance. */
  notes: string[];
}

function sideOf(name: string, set: LoadedPolicySet, slot: string, options: DiffOptions): Side {
  const none: Side = {
    ...{ name, set, slot, signer: null, atoms: 0, relevance: null },
    ...{ formulas: `${name} is decided without signatures`, notes: [] },
  };
  if (options.signatures === false) return none;
  const trees = policyTreesOf(set.texts);
  const groups = actionGroupsOf(set.schema.json);
  const answer = compileSigner(trees, set.schema, groups);
  if (!answer.ok)
    return {
      ...none,
      notes: [
        `${name}: ${answer.reason}, so every request was decided by Cedar one by one (no signature pruning)`,
      ],
    };
  const rel = roleRelevanceOf(trees, set.schema);
  return {
    ...none,
    signer: answer.signer,
    atoms: answer.atoms,
    relevance: rel.ok ? rel.relevance : null,
    formulas: formulasOf(trees, set, groups),
    notes: rel.ok ? [] : [`${name}: ${rel.reason}, so roles are not enumerated up to it`],
  };
}

function formulasOf(
  trees: Parameters<typeof compileSigner>[0],
  set: LoadedPolicySet,
  groups: readonly string[],
): RoleFormulas | string {
  try {
    return new RoleFormulas(trees, set.schema, groups);
  } catch (err) {
    if (err instanceof NotCountable) return err.message;
    throw err;
  }
}

/**
 * The counted pass (diff-counted.ts) when the plan is a role quotient and both sides are
 * modelled; else why not ('' when it was not in question).
 */
function countedOrWhyNot(
  plan: EnumerationPlan,
  schema: SchemaDifference[],
  sides: readonly Side[],
  deciders: readonly [Decider, Decider],
  options: DiffOptions,
): Pass | string {
  if (plan.quotient === null || options.counted === false) return '';
  if (oneSidedRoles(schema).length > 0) return 'a role only one schema declares';
  const counted: CountedSide[] = [];
  for (const [i, side] of sides.entries()) {
    if (typeof side.formulas === 'string') return side.formulas;
    if (side.signer === null) return `${side.name} is decided without signatures`;
    counted.push({ formulas: side.formulas, signer: side.signer, decide: deciders[i] as Decider });
  }
  try {
    const { maxStates = MAX_COUNTED_STATES, onProgress } = options;
    const words = vocabularyOf(plan);
    const p = countedPass(plan, counted as [CountedSide, CountedSide], words, {
      maxStates,
      onProgress,
    });
    return { ...p, outside: 0, compared: p.decided, indexes: indexesByAction(true) };
  } catch (err) {
    if (err instanceof TooManyStates)
      throw new DiffTooLargeError(plan.size, plan.roles.length, err.limit);
    if (err instanceof NotCountable) return err.message;
    throw err;
  }
}

/** The enumeration both sides decide: the literals of both, one-sided roles by name. */
function planOf(
  base: LoadedPolicySet,
  candidate: LoadedPolicySet,
  schema: SchemaDifference[],
  sides: readonly Side[],
  options: DiffOptions,
): EnumerationPlan {
  // A role one side lacks is never interchangeable with the others: every request carrying it
  // must be seen as such (counted apart), so it is enumerated by name.
  const oneSided = oneSidedRoles(schema);
  const found = collectLiterals(base, candidate);
  const literals = { ...found, roles: new Set([...found.roles, ...oneSided]) };
  const relevance = unionRelevance(sides.map((s) => s.relevance));
  return planEnumeration([base, candidate], literals, {
    ...options,
    relevance: everywhere(relevance, oneSided, [base, candidate]),
  });
}

/** What one pass over the enumeration counts and groups. */
interface Pass {
  decided: number;
  requests: number;
  changed: number;
  /** Requests only one side's API accepts. */
  outside: number;
  /** Representatives both sides decided. */
  compared: number;
  groups: Map<string, Group<ClassOfPass>>;
  indexes: ReturnType<typeof indexesByAction>;
  /** The counted pass's counts per action (diff-counted.ts), in place of the indexes. */
  counts: Map<UsersAction, Counter> | null;
}

type Counter = (facts: readonly Feature[]) => number;

/** Decides every request of the plan with both sides, counting and grouping the changes. */
function decideAll(
  plan: EnumerationPlan,
  schema: SchemaDifference[],
  before: Decider,
  after: Decider,
  onProgress: DiffOptions['onProgress'],
): Pass {
  const pass: Pass = {
    ...{ decided: 0, requests: 0, changed: 0, outside: 0, compared: 0 },
    groups: new Map(),
    indexes: indexesByAction(plan.quotient !== null),
    counts: null,
  };
  const words = vocabularyOf(plan);
  const anyOneSided = oneSidedRoles(schema).length > 0;
  for (const er of enumerateRequests(plan)) {
    pass.decided++;
    if (pass.decided % PROGRESS_EVERY === 0) onProgress?.(pass.decided, plan.size);
    const members = plan.expanded ? orbitOf(er, plan) : [er];
    const weight = (er.weight ?? 1) * members.length;
    pass.requests += weight;
    // Its one-sided roles are named, so every member of the orbit is one-sided alike.
    const by = anyOneSided ? oneSidedBy(er.request, schema) : null;
    if (by !== null) {
      pass.outside += weight;
      // Only the side that accepts it decides it, with and without the role: what it gives.
      const side = by.kind === 'role-added' ? after : before;
      by.requests += weight;
      by.example ??= er.request;
      const without = withoutRole(er.request, by.role as string);
      countEffect(by, er.request, side(er.request), side(without), weight);
      continue;
    }
    pass.compared++;
    // The classes hold every permutation when expanded, so the index does too.
    const facts = members.map((m) => featuresOf(m.request, m.relation, words));
    const index = pass.indexes.of(er.request.action);
    for (const fs of facts) index.add(fs, er.weight ?? 1);
    compare(pass, er, facts, weight, before(er.request), after(er.request));
  }
  return pass;
}

/** Groups `er` (its members' `facts`, `weight` requests) when its answer changed. */
function compare(
  pass: Pass,
  er: EnumeratedRequest,
  facts: Feature[][],
  weight: number,
  b: DecisionSummary,
  a: DecisionSummary,
): void {
  const kind = changeKindOf(b, a);
  if (kind === null) return;
  pass.changed += weight;
  const { action } = er.request;
  const key = classKey(action, er.relation, kind, b, a);
  let g = pass.groups.get(key);
  if (g === undefined) {
    const cls: ClassOfPass = {
      action,
      relation: er.relation,
      kind,
      before: b,
      after: a,
      count: 0,
      example: er.request,
    };
    g = { cls, shared: null };
    pass.groups.set(key, g);
  }
  g.cls.count += weight;
  for (const fs of facts) g.shared = intersect(g.shared, fs);
}
