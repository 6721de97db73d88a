/**
 * `policy diff`'s classes described: the facts every request of a class shares (change-classes.ts),
 * reduced to those that still pick out the class among every enumerated request of its action.
 * The enumerated requests are never held: each one's facts go into a bitset per fact as it comes.
 */
import { describe, summaryOf } from './change-classes.js';
import type { ClassHead, Feature, Vocabulary } from './change-classes.js';
import { isRelevant } from './enumerate.js';
import type { EnumerationPlan } from './enumerate.js';
import type { UsersAction } from '../types.js';

/** The words a plan's requests are told in: its named (or all) roles, the ids policies name. */
export function vocabularyOf(plan: EnumerationPlan): Vocabulary {
  const roles = plan.expanded ? plan.roles : plan.namedRoles;
  const q = plan.quotient;
  // Under the role quotient a representative's membership of a set that does not count for the
  // role is arbitrary: only the facts that count are described, and those every request of the
  // representative's class shares.
  const perSet = new Map<string, readonly string[]>();
  const of = (set: string) => {
    let out = perSet.get(set);
    if (out === undefined)
      perSet.set(set, (out = q === null ? roles : roles.filter((r) => isRelevant(q, r, set))));
    return out;
  };
  return {
    users: plan.literals.users,
    tenants: plan.literals.tenants,
    roles: { of, emptiness: (set) => q === null || q.allRoles.includes(set) },
  };
}

/** A bitset per feature answer over one action's requests, to count matches fast. */
export interface ActionIndex {
  size: number;
  bits: Map<string, Uint32Array>;
  /** Requests each indexed one stands for (the role quotient); null: one each. */
  weights: Float64Array | null;
}

export interface IndexBuilder {
  add(features: readonly Feature[], weight: number): void;
  index(): ActionIndex;
}

/**
 * Builds one action's index as its requests come (the diff's own pass: each request's facts are
 * read once, and no request is held); bitsets and weights grow as needed.
 */
export function createIndexBuilder(weighted: boolean): IndexBuilder {
  let words = 1024;
  const bits = new Map<string, Uint32Array>();
  let weights = weighted ? new Float64Array(words * 32) : null;
  let size = 0;
  const grow = () => {
    words *= 2;
    for (const [id, b] of bits) {
      const grown = new Uint32Array(words);
      grown.set(b);
      bits.set(id, grown);
    }
    if (weights !== null) {
      const grown = new Float64Array(words * 32);
      grown.set(weights);
      weights = grown;
    }
  };
  return {
    add(features, weight) {
      const i = size++;
      if (i >>> 5 >= words) grow();
      if (weights !== null) weights[i] = weight;
      for (const { id } of features) {
        let b = bits.get(id);
        if (b === undefined) bits.set(id, (b = new Uint32Array(words)));
        b[i >>> 5] = (b[i >>> 5] as number) | (1 << (i & 31));
      }
    },
    index: () => ({ size, bits, weights }),
  };
}

/** The requests of the index (weighted) that have every one of `features`. */
function countMatching(index: ActionIndex, features: readonly Feature[]): number {
  const words = Math.ceil(index.size / 32);
  const sets = features.map((f) => index.bits.get(f.id));
  const { weights } = index;
  let n = 0;
  for (let w = 0; w < words; w++) {
    let x = w === words - 1 && index.size % 32 !== 0 ? (1 << (index.size % 32)) - 1 : 0xffffffff;
    for (const s of sets) {
      x &= s === undefined ? 0 : (s[w] as number);
      if (x === 0) break;
    }
    if (x === 0) continue;
    if (weights === null) n += popcount(x >>> 0);
    else
      for (let b = 0; x !== 0; b++, x >>>= 1) if ((x & 1) !== 0) n += weights[w * 32 + b] as number;
  }
  return n;
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** A class as the diff's pass leaves it: its head, its count and the facts its members share. */
export interface Group<C extends ClassHead> {
  cls: C;
  shared: Feature[] | null;
}

/** What describing adds to a class. */
export interface Described {
  summary: string;
  description: { principal: string[]; resource: string[]; context: string[] };
  /** Enumerated requests matching the description. */
  matching: number;
}

/**
 * Each group's shared facts, reduced: a shared fact is dropped when the others alone still pick
 * out no more requests than before (exactly the class, when they did).
 */
export function describeGroup<C extends ClassHead>(index: ActionIndex, g: Group<C>): C & Described {
  return describeGroupBy((facts) => countMatching(index, facts), g);
}

/** {@link describeGroup} with the count of requests having some facts given (diff-counted.ts). */
export function describeGroupBy<C extends ClassHead>(
  countMatching: (facts: readonly Feature[]) => number,
  g: Group<C>,
): C & Described {
  const shared = g.shared ?? [];
  const matching = countMatching(shared);
  // "does not hold", "lacks", "not" first: the positive facts read better when both would do.
  const order = [...shared].sort((a, b) => weight(a) - weight(b));
  let kept = shared;
  for (const f of order) {
    const without = kept.filter((k) => k !== f);
    if (countMatching(without) === matching) kept = without;
  }
  return { ...g.cls, summary: summaryOf(g.cls, kept), description: describe(kept), matching };
}

function weight(f: Feature): number {
  return /^(does not|is not|not |.* lacks |.* is not empty|is a user no|in a tenant no)/.test(
    f.text,
  )
    ? 0
    : 1;
}

/** Index builders by action, made as the actions come. */
export function indexesByAction(weighted: boolean) {
  const builders = new Map<UsersAction, IndexBuilder>();
  return {
    of(action: UsersAction): IndexBuilder {
      let b = builders.get(action);
      if (b === undefined) builders.set(action, (b = createIndexBuilder(weighted)));
      return b;
    },
    index(action: UsersAction): ActionIndex {
      return (builders.get(action) as IndexBuilder).index();
    },
  };
}
