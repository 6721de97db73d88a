/**
 * The role quotient's requests (enumerate.ts) cut into blocks: one per action, target, pair of
 * owner flags, body and extra values — everything but the roles. Within a block every role
 * ranges over its quotient classes independently (the owner role over those the flags allow),
 * so a block holds the product of its roles' classes, weighted by their sizes: what the counted
 * diff (diff-counted.ts) walks one role at a time instead of enumerating.
 */
import { OWNER_ROLE } from '../../common/user.js';
import type { AuthzRequest } from '../types.js';
import { requestFrom, slotsOf, targetsOf, valueCombinations } from './enumerate.js';
import type { Choice, EnumerationPlan, Relation, Target } from './enumerate.js';
import { inputsOf, quotientClasses } from './role-assignments.js';
import type { ActionPlan } from './role-assignments.js';

/** One class of one role in a block: its representative kind, size and memberships. */
export interface RoleClass {
  /** Its index among the role's quotient classes: the enumeration's order. */
  index: number;
  kind: number;
  size: number;
  /** Bit j: the role is in `Block.sets[j]`. */
  memb: number;
}

/** Requests that differ only by their roles' classes. */
export interface Block {
  plan: ActionPlan;
  target: Target;
  relation: Relation;
  choice: Choice;
  /** Where the block stands in the enumeration: target, then (after the roles) the rest. */
  order: { target: number; rest: number[] };
  /** The request's role sets: `principal`, `resource` (a user), each context role set. */
  sets: string[];
  /** Per role (the plan's order), the classes the block allows. */
  classes: RoleClass[][];
}

/** Every block of one action, in the enumeration's order of targets and choices. */
export function* blocksOf(plan: EnumerationPlan, a: ActionPlan): Generator<Block> {
  const values = [...valueCombinations(a.extras.filter((e) => e.kind === 'values'))];
  const inputs = inputsOf(a.action, []).length;
  let targetIndex = 0;
  for (const target of targetsOf(a.action, plan.literals)) {
    const order = targetIndex++;
    const layout = {
      resourceSlot: target.rtid !== null && target.relation !== 'self',
      tenant: target.rtid === null,
    };
    const classes = quotientClasses(plan, a, layout);
    for (const [pOwner, rOwner] of flagsOf(target))
      for (let i = 0; i < inputs; i++)
        for (const [v, vals] of values.entries()) {
          const choice: Choice = { pOwner, rOwner, input: undefined, values: vals };
          const block = blockOf(plan, a, target, classes, choice, i);
          if (block === null) continue;
          block.order = { target: order, rest: [Number(pOwner) * 2 + Number(rOwner), i, v] };
          yield block;
        }
  }
}

/** The owner flags the store's invariants allow whatever the roles (enumerate.ts's ownerFlags). */
function* flagsOf(t: Target): Generator<[boolean, boolean]> {
  for (const pOwner of [false, true]) {
    const rOwners = t.rtid === null ? [false] : t.relation === 'self' ? [pOwner] : [false, true];
    for (const rOwner of rOwners) {
      if (t.relation === 'same-tenant' && pOwner && rOwner) continue;
      yield [pOwner, rOwner];
    }
  }
}

function blockOf(
  plan: EnumerationPlan,
  a: ActionPlan,
  target: Target,
  quotient: { kind: number; size: number }[][],
  choice: Choice,
  input: number,
): Block | null {
  const block: Block = {
    ...{ plan: a, target, relation: target.relation, choice, order: { target: 0, rest: [] } },
    sets: [],
    classes: [],
  };
  const probe = requestAt(plan, block, new Array<number>(plan.roles.length).fill(0), input);
  block.sets = setsOf(probe);
  const ownerHoldsRole = plan.roles.includes(OWNER_ROLE);
  for (const [r, role] of plan.roles.entries()) {
    const mine: RoleClass[] = [];
    for (const [index, { kind, size }] of (quotient[r] ?? []).entries()) {
      const kinds = new Array<number>(plan.roles.length).fill(0);
      kinds[r] = kind;
      const memb = membershipOf(requestAt(plan, block, kinds, input), role, block.sets);
      if (role === OWNER_ROLE && ownerHoldsRole && !ownerAllows(block, memb)) continue;
      mine.push({ index, kind, size, memb });
    }
    if (mine.length === 0) return null;
    block.classes.push(mine);
  }
  return block;
}

/** An owner holds the owner role: a flag set needs the role in that user's set. */
function ownerAllows(block: Block, memb: number): boolean {
  const bit = (set: string) => ((memb >> block.sets.indexOf(set)) & 1) === 1;
  if (block.choice.pOwner && !bit('principal')) return false;
  return !(block.choice.rOwner && !bit('resource'));
}

/** The request of a block with each role's kind of membership (`kinds`, by role). */
export function requestAt(
  plan: Pick<EnumerationPlan, 'roles'>,
  block: Pick<Block, 'plan' | 'target' | 'choice'>,
  kinds: readonly number[],
  input?: number,
): AuthzRequest {
  const slots = slotsOf(plan, block.plan, block.target, kinds);
  const inputs = inputsOf(block.plan.action, slots.requested);
  const chosen = input ?? inputIndexOf(block);
  return requestFrom(block.plan, block.target, slots, { ...block.choice, input: inputs[chosen] });
}

function inputIndexOf(block: Pick<Block, 'choice'> & { order?: Block['order'] }): number {
  return block.order?.rest[1] ?? 0;
}

function setsOf(r: AuthzRequest): string[] {
  const out = ['principal'];
  if (r.resource.type === 'User') out.push('resource');
  for (const [k, v] of Object.entries(r.context)) if (Array.isArray(v)) out.push(k);
  return out;
}

function membershipOf(r: AuthzRequest, role: string, sets: readonly string[]): number {
  let memb = 0;
  for (const [j, set] of sets.entries()) {
    const held =
      set === 'principal'
        ? r.principal.roles
        : set === 'resource' && r.resource.type === 'User'
          ? r.resource.roles
          : (r.context[set] as readonly string[]);
    if (held.includes(role)) memb |= 1 << j;
  }
  return memb;
}
