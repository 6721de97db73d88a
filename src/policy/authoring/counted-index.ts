/**
 * The facts of the counted diff's requests (change-classes.ts `featuresOf`) told apart by what
 * they depend on — one role's membership of one set, a set's emptiness, or neither (the block's
 * own: ids, relation, owner flags, the body) — and the weighted count of a block's requests
 * having all of some facts, computed per role instead of per request: what `describeGroup`
 * (diff-describe.ts) asks of the enumeration's bitset index, answered from the blocks.
 */
import type { Feature } from './change-classes.js';
import type { Block } from './counted-blocks.js';
import { NotCountable } from './role-formulas.js';

/** What a fact depends on, within a block. */
export type FactOf =
  | { kind: 'role'; role: number; set: number; held: boolean }
  | { kind: 'empty'; set: number; empty: boolean }
  | { kind: 'block' }
  /** A fact of a set the block's requests do not have: no request of the block has it. */
  | { kind: 'absent' };

/** Tells facts apart by their key, for a plan's roles. */
export class FactKinds {
  private readonly byKey = new Map<string, { set: string; role: number | null }>();

  constructor(
    private readonly roles: readonly string[],
    sets: Iterable<string>,
  ) {
    for (const set of sets) {
      const user = set === 'principal' || set === 'resource';
      for (const [r, role] of roles.entries())
        this.byKey.set(user ? `${set}.role.${role}` : `context.${set}.${role}`, { set, role: r });
      if (!user) {
        const key = `context.${set}.empty`;
        // A role named "empty" reads like the emptiness fact: which is meant cannot be told.
        if (this.byKey.has(key)) throw new NotCountable(`a role named like the fact ${key}`);
        this.byKey.set(key, { set, role: null });
      }
    }
  }

  of(f: Feature, block: Block): FactOf {
    const k = this.byKey.get(f.key);
    if (k === undefined) return { kind: 'block' };
    const set = block.sets.indexOf(k.set);
    if (set < 0) return { kind: 'absent' };
    if (k.role === null) return { kind: 'empty', set, empty: f.text === `${k.set} is empty` };
    const role = this.roles[k.role] as string;
    const held = f.text === `holds ${role}` || f.text === `${k.set} has ${role}`;
    return { kind: 'role', role: k.role, set, held };
  }
}

/** The counted diff's blocks of one action, with the facts each block's requests all share. */
export class CountIndex {
  private readonly blocks: { block: Block; own: Set<string> }[] = [];

  constructor(private readonly kinds: FactKinds) {}

  /** Adds a block, given the facts of one of its requests. */
  add(block: Block, facts: readonly Feature[]): void {
    const own = facts.filter((f) => this.kinds.of(f, block).kind === 'block').map((f) => f.id);
    this.blocks.push({ block, own: new Set(own) });
  }

  /** The weighted count of requests having every one of `facts`. */
  count(facts: readonly Feature[]): number {
    let n = 0;
    for (const { block, own } of this.blocks) n += this.countIn(block, own, facts);
    return n;
  }

  private countIn(block: Block, own: ReadonlySet<string>, facts: readonly Feature[]): number {
    const mask = new Array<number>(block.classes.length).fill(0);
    const want = new Array<number>(block.classes.length).fill(0);
    let empty = 0;
    const nonEmpty: number[] = [];
    for (const f of facts) {
      const k = this.kinds.of(f, block);
      if (k.kind === 'absent' || (k.kind === 'block' && !own.has(f.id))) return 0;
      if (k.kind === 'empty') {
        if (k.empty) empty |= 1 << k.set;
        else nonEmpty.push(k.set);
      } else if (k.kind === 'role') {
        const bit = 1 << k.set;
        const v = k.held ? bit : 0;
        if ((mask[k.role] as number) & bit && ((want[k.role] as number) & bit) !== v) return 0;
        mask[k.role] = (mask[k.role] as number) | bit;
        want[k.role] = (want[k.role] as number) | v;
      }
    }
    // "Not empty" by inclusion-exclusion over the sets required empty.
    let n = 0;
    for (let a = 0; a < 1 << nonEmpty.length; a++) {
      let none = empty;
      let sign = 1;
      for (const [i, s] of nonEmpty.entries())
        if ((a >> i) & 1) {
          none |= 1 << s;
          sign = -sign;
        }
      n += sign * productOf(block, mask, want, none);
    }
    return n;
  }
}

/** Π over roles of the sizes of its classes with `want` on `mask` and none of the sets `none`. */
function productOf(block: Block, mask: number[], want: number[], none: number): number {
  let p = 1;
  for (const [r, classes] of block.classes.entries()) {
    const m = mask[r] as number;
    const w = want[r] as number;
    let s = 0;
    for (const c of classes) if ((c.memb & m) === w && (c.memb & none) === 0) s += c.size;
    if (s === 0) return 0;
    p *= s;
  }
  return p;
}
