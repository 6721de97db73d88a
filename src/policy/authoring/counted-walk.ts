/**
 * One block's requests (counted-blocks.ts) split by their signature — which policies of both
 * sets they satisfy — without enumerating the product of the roles' classes: the roles are
 * walked one at a time, and requests whose partial assignments no policy can still tell apart
 * are merged (summed weights, the first in the enumeration's order, the classes seen per role).
 *
 * A state holds, per policy that reads roles, the classes of the roles it read so far; once its
 * last role is read, only its truth table over the emptiness of the sets that `isEmpty()` reads
 * (known at the end). Two assignments with equal states satisfy the same policies whatever the
 * remaining roles hold, so merging them is exact.
 */
import type { Block } from './counted-blocks.js';
import { isRelevant } from './role-assignments.js';
import type { RoleRelevance } from './role-relevance.js';
import { evaluate, NotCountable, rolesOfFormula } from './role-formulas.js';
import type { Formula } from './role-formulas.js';

/** Requests of a block with one signature. */
export interface Contribution {
  /** The signature: one bit per policy of both sets. */
  signature: string;
  weight: number;
  /** The first request's class per role (position in `Block.classes[r]`). */
  first: number[];
  /** Per role, the classes seen (bit: position in `Block.classes[r]`). */
  seen: number[];
  /** Per emptiness set (`WalkInput.emptiness`): bit 0 seen empty, bit 1 seen not empty. */
  empties: number[];
}

/** What a walk reads. */
export interface WalkInput {
  block: Block;
  roles: readonly string[];
  /** Both sets' policies for the block's action, as formulas (role-formulas.ts). */
  policies: readonly Formula[];
  /** The sets whose emptiness counts (an `isEmpty()`, or a description). */
  emptiness: readonly string[];
  quotient: RoleRelevance;
  /** The most states one step may hold. */
  maxStates: number;
}

interface State {
  e: number;
  prog: string[];
  weight: number;
  first: number[];
  seen: number[];
}

/** Policies that read roles: their roles (by index) and the last of them. */
interface Tracked {
  formula: Formula;
  roles: number[];
  last: number;
}

/** The block's requests by signature, in no particular order. */
export function walkBlock(input: WalkInput): Contribution[] {
  const { block, roles, policies } = input;
  const table = tableMaker(input);
  const tracked: Tracked[] = [];
  const column: (number | null)[] = policies.map((f) => {
    const rs = [...rolesOfFormula(f)].map((r) => roles.indexOf(r)).sort((a, b) => a - b);
    if (rs.length === 0) return null;
    tracked.push({ formula: f, roles: rs, last: rs[rs.length - 1] as number });
    return tracked.length - 1;
  });
  const constant = policies.map((f) => table(f, [], []));
  const eBits = block.classes.map((cs) => cs.map((c) => emptinessBits(input, c.memb)));
  let states = new Map<string, State>([
    ['', { e: 0, prog: tracked.map(() => ''), weight: 1, first: [], seen: [] }],
  ]);
  for (let r = 0; r < roles.length; r++) {
    const touching = tracked.flatMap((t, i) => (t.roles.includes(r) ? [i] : []));
    const next = new Map<string, State>();
    for (const st of states.values())
      for (const [ci, c] of (block.classes[r] ?? []).entries()) {
        const prog = touching.length === 0 ? st.prog : [...st.prog];
        for (const i of touching) {
          const t = tracked[i] as Tracked;
          const s = prog[i] === '' ? `${ci}` : `${prog[i]},${ci}`;
          prog[i] = t.last === r ? `T${table(t.formula, t.roles, s.split(',').map(Number))}` : s;
        }
        merge(next, st, r, ci, st.e | (eBits[r]?.[ci] ?? 0), prog, c.size);
      }
    if (next.size > input.maxStates) throw new TooManyStates(input.maxStates);
    states = next;
  }
  return bySignature(states.values(), policies.length, column, constant, input);
}

/** A step held more states than a walk may: the sets are too large to count. */
export class TooManyStates extends Error {
  constructor(readonly limit: number) {
    super(`more than ${limit} states`);
  }
}

function merge(
  next: Map<string, State>,
  st: State,
  r: number,
  ci: number,
  e: number,
  prog: string[],
  size: number,
): void {
  const key = `${e}|${prog.join('|')}`;
  const weight = st.weight * size;
  const had = next.get(key);
  if (had === undefined) {
    const seen = [...st.seen, 1 << ci];
    next.set(key, { e, prog, weight, first: [...st.first, ci], seen });
    return;
  }
  had.weight += weight;
  if (before(st.first, ci, had.first)) had.first = [...st.first, ci];
  for (let i = 0; i < r; i++) had.seen[i] = (had.seen[i] as number) | (st.seen[i] as number);
  had.seen[r] = (had.seen[r] as number) | (1 << ci);
}

/** Whether `prefix + [ci]` comes before `other` (same length) in the enumeration. */
function before(prefix: readonly number[], ci: number, other: readonly number[]): boolean {
  for (let i = 0; i < prefix.length; i++)
    if (prefix[i] !== other[i]) return (prefix[i] as number) < (other[i] as number);
  return ci < (other[prefix.length] as number);
}

function emptinessBits(input: WalkInput, memb: number): number {
  let bits = 0;
  for (const [j, set] of input.emptiness.entries())
    if (((memb >> input.block.sets.indexOf(set)) & 1) === 1) bits |= 1 << j;
  return bits;
}

/**
 * A policy's truth table over the emptiness sets (bit e: the sets of `e` are not empty, the
 * others empty), given the classes (`chosen`, by position) of the roles it reads (`rs`).
 */
function tableMaker(input: WalkInput) {
  const { block, roles, emptiness, quotient } = input;
  const memo = new Map<Formula, Map<string, number>>();
  return (f: Formula, rs: readonly number[], chosen: readonly number[]): number => {
    let m = memo.get(f);
    if (m === undefined) memo.set(f, (m = new Map<string, number>()));
    const key = chosen.join();
    const known = m.get(key);
    if (known !== undefined) return known;
    const inSet = (role: string, set: string) => {
      const r = roles.indexOf(role);
      const j = block.sets.indexOf(set);
      if (!isRelevant(quotient, role, set) || j < 0)
        throw new NotCountable(`role ${role}'s membership of ${set} is not told by its class`);
      const c = block.classes[r]?.[chosen[rs.indexOf(r)] as number];
      return c !== undefined && ((c.memb >> j) & 1) === 1;
    };
    let t = 0;
    for (let e = 0; e < 1 << emptiness.length; e++) {
      const empty = (set: string) => {
        const j = emptiness.indexOf(set);
        if (j < 0) throw new NotCountable(`the emptiness of ${set} is not tracked`);
        return ((e >> j) & 1) === 0;
      };
      if (evaluate(f, inSet, empty)) t |= 1 << e;
    }
    m.set(key, t);
    return t;
  };
}

/** States merged by signature: which policies hold once every set's emptiness is known. */
function bySignature(
  states: Iterable<State>,
  count: number,
  column: readonly (number | null)[],
  constant: readonly number[],
  input: WalkInput,
): Contribution[] {
  const out = new Map<string, Contribution>();
  for (const st of states) {
    let signature = '';
    for (let p = 0; p < count; p++) {
      const c = column[p] as number | null;
      const t = c === null ? (constant[p] as number) : Number((st.prog[c] as string).slice(1));
      signature += ((t >> st.e) & 1) === 1 ? '1' : '0';
    }
    const empties = input.emptiness.map((_, j) => 1 << ((st.e >> j) & 1));
    const had = out.get(signature);
    if (had === undefined) {
      out.set(signature, { signature, weight: st.weight, first: st.first, seen: st.seen, empties });
      continue;
    }
    had.weight += st.weight;
    if (before(st.first.slice(0, -1), st.first[st.first.length - 1] as number, had.first))
      had.first = st.first;
    had.seen = had.seen.map((s, i) => s | (st.seen[i] as number));
    had.empties = had.empties.map((s, j) => s | (empties[j] as number));
  }
  return [...out.values()];
}
