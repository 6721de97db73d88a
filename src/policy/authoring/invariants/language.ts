/**
 * The invariants language of `policy check` (docs/policies.md, "Invariants"): what must always
 * hold in every state a tenant can reach, or never happen, in a small YAML file. Roles are kept
 * as bit masks over the schema's `Role` enum, so checking a state is integer arithmetic.
 *
 * ```yaml
 * invariants:
 *   - id: owner-keeps-admin
 *     always: { user: owner, has: admin }
 *   - id: only-owner-makes-admins
 *     never: { request: { by: { not: owner }, adds: admin } }
 *   - id: some-admin
 *     always: { count: { has: admin }, at_least: 1 }
 * start: { others: [[user], [viewer]] }
 * ```
 */
import { InvariantFileError, parseLocated, readersFor } from './yaml-nodes.js';
import type { Located } from './yaml-nodes.js';

export { InvariantFileError };

/** Which users: a conjunction of conditions on one user (the owner flag, roles now and at start). */
export type Selector =
  | { kind: 'any' }
  | { kind: 'owner' }
  | { kind: 'not'; of: Selector }
  | { kind: 'all'; of: Selector[] }
  /** Holds every role of the mask. */
  | { kind: 'has'; roles: number }
  /** Holds some role of the mask. */
  | { kind: 'has_any'; roles: number }
  /** Holds no role of the mask. */
  | { kind: 'lacks'; roles: number }
  /** Held exactly this role set when the run started (or when created). */
  | { kind: 'started_as'; roles: number };

/** What an invariant looks at. */
export type Check =
  /** always: every user of `domain` satisfies `cond`; never: no user of `domain` does. */
  | { type: 'users'; domain: Selector; cond: Selector }
  | { type: 'count'; of: Selector; atLeast: number | null; atMost: number | null }
  /** never only: no allowed request of this shape is reachable. */
  | { type: 'request'; match: RequestMatch };

/** The shape of a request an invariant forbids. */
export interface RequestMatch {
  by: Selector;
  /** The target user (for a create, the user it would create). */
  on: Selector;
  action: 'users:update' | 'users:create' | 'users:delete' | null;
  /** Roles of which the request grants one (an update's added roles, a create's roles); 0: any. */
  adds: number;
  /** Roles of which an update removes one; 0: any. */
  removes: number;
}

/** One invariant of the file. */
export interface Invariant {
  id: string;
  line: number;
  kind: 'always' | 'never';
  check: Check;
  /** Only sequences of requests made by users of this selector count (null: any user's). */
  by: Selector | null;
}

/** A parsed invariants file. */
export interface InvariantSpec {
  file: string;
  invariants: Invariant[];
  /** The start state, or null: every combination of role sets. */
  start: { owner: number | null; others: number[] } | null;
  /** The line of `start` (1 when there is none). */
  startLine: number;
  /** The role sets some `started_as` names: states remember whether a user started with one. */
  startSets: number[];
}

const SELECTOR_KEYS = ['user', 'not', 'owner', 'has', 'has_any', 'lacks', 'started_as'] as const;
const REQUEST_KEYS = ['by', 'on', 'action', 'adds', 'removes', 'deletes'] as const;
const ACTIONS = ['users:update', 'users:create', 'users:delete'] as const;

/** Parses an invariants file against the schema's roles; throws {@link InvariantFileError}. */
export function parseInvariants(
  file: string,
  text: string,
  roles: readonly string[],
): InvariantSpec {
  const r = readersFor(file);
  const root = parseLocated(file, text);
  const top = r.map(root, 'the file', ['invariants', 'start']);
  const list = top.get('invariants');
  if (list === undefined) return r.fail(root, 'the file has no "invariants" list');
  const p = parserFor(file, roles);
  const invariants = r.seq(list, 'invariants').map((item) => p.invariant(item));
  const seen = new Set<string>();
  for (const inv of invariants) {
    if (seen.has(inv.id)) r.fail(inv.line, `invariant id "${inv.id}" is used twice`);
    seen.add(inv.id);
  }
  const startNode = top.get('start');
  return {
    file,
    invariants,
    start: startNode === undefined ? null : p.start(startNode),
    startLine: startNode?.line ?? 1,
    startSets: startSetsOf(invariants),
  };
}

type Readers = ReturnType<typeof readersFor>;

/** What every reading function needs: the file's readers and the schema's roles. */
interface Ctx {
  r: Readers;
  roles: readonly string[];
}

function parserFor(file: string, roles: readonly string[]) {
  const ctx: Ctx = { r: readersFor(file), roles };
  return { invariant: (v: Located) => invariantOf(ctx, v), start: (v: Located) => startOf(ctx, v) };
}

function maskOf({ r, roles }: Ctx, v: Located, what: string): number {
  const names = v.kind === 'seq' ? v.items : [v];
  let mask = 0;
  for (const n of names) {
    const name = r.str(n, what);
    const i = roles.indexOf(name);
    if (i < 0) r.fail(n, `${what}: "${name}" is not a role of the schema (${roles.join(', ')})`);
    mask |= 1 << i;
  }
  return mask;
}

function selectorOf(ctx: Ctx, v: Located, what: string): Selector {
  const { r } = ctx;
  if (v.kind === 'scalar') {
    if (v.value === 'owner') return { kind: 'owner' };
    if (v.value === 'any') return { kind: 'any' };
    return r.fail(v, `${what} must be owner, any, or a mapping of ${SELECTOR_KEYS.join(', ')}`);
  }
  const keys = r.map(v, what, SELECTOR_KEYS);
  const of: Selector[] = [];
  for (const [k, child] of keys) of.push(selectorKey(ctx, k, child, what));
  return of.length === 1 ? (of[0] as Selector) : { kind: 'all', of };
}

function selectorKey(ctx: Ctx, k: string, child: Located, what: string): Selector {
  switch (k) {
    case 'user':
      return selectorOf(ctx, child, `${what}.user`);
    case 'not':
      return { kind: 'not', of: selectorOf(ctx, child, `${what}.not`) };
    case 'owner':
      if (child.kind !== 'scalar' || typeof child.value !== 'boolean') {
        return ctx.r.fail(child, `${what}.owner must be true or false`);
      }
      return child.value ? { kind: 'owner' } : { kind: 'not', of: { kind: 'owner' } };
    case 'has':
    case 'has_any':
    case 'lacks':
    case 'started_as':
      return { kind: k, roles: maskOf(ctx, child, `${what}.${k}`) };
    default:
      return ctx.r.fail(child, `${what} has no key "${k}"`);
  }
}

function requestOf(ctx: Ctx, v: Located, what: string): RequestMatch {
  const { r } = ctx;
  const keys = r.map(v, what, REQUEST_KEYS);
  const match: RequestMatch = {
    by: { kind: 'any' },
    on: { kind: 'any' },
    action: null,
    adds: 0,
    removes: 0,
  };
  const { by, on, action, adds, removes, deletes } = Object.fromEntries(keys) as Partial<
    Record<(typeof REQUEST_KEYS)[number], Located>
  >;
  if (by !== undefined) match.by = selectorOf(ctx, by, `${what}.by`);
  if (on !== undefined) match.on = selectorOf(ctx, on, `${what}.on`);
  if (action !== undefined) match.action = actionOf(ctx, action, `${what}.action`);
  if (adds !== undefined) match.adds = maskOf(ctx, adds, `${what}.adds`);
  if (removes !== undefined) match.removes = maskOf(ctx, removes, `${what}.removes`);
  if (deletes !== undefined) {
    if (action !== undefined || adds !== undefined || removes !== undefined || on !== undefined) {
      r.fail(
        deletes,
        `${what}.deletes is a request of its own: it takes no action, on, adds or removes`,
      );
    }
    match.action = 'users:delete';
    match.on = selectorOf(ctx, deletes, `${what}.deletes`);
  }
  if (removes !== undefined && match.action !== null && match.action !== 'users:update') {
    r.fail(removes, `${what}.removes applies to users:update only`);
  }
  if (adds !== undefined && match.action === 'users:delete') {
    r.fail(adds, `${what}.adds applies to users:update and users:create only`);
  }
  return match;
}

function actionOf(ctx: Ctx, v: Located, what: string): RequestMatch['action'] {
  const name = ctx.r.str(v, what);
  const found = ACTIONS.find((a) => a === name);
  return found ?? ctx.r.fail(v, `${what} must be one of ${ACTIONS.join(', ')}`);
}

const CHECK_KEYS = ['request', 'reach', 'count', 'at_least', 'at_most', 'by', ...SELECTOR_KEYS];

function checkOf(
  ctx: Ctx,
  kind: 'always' | 'never',
  v: Located,
  what: string,
): { check: Check; by: Selector | null } {
  const { r } = ctx;
  const keys = r.map(v, what, CHECK_KEYS);
  const byNode = keys.get('by');
  const by = byNode === undefined ? null : selectorOf(ctx, byNode, `${what}.by`);
  const alone = (key: string, node: Located) => {
    if (keys.size > (by === null ? 1 : 2)) r.fail(node, `${what}.${key} takes no other key but by`);
  };
  const req = keys.get('request');
  if (req !== undefined) {
    if (kind === 'always') r.fail(req, `${what}: a request invariant is written with never:`);
    alone('request', req);
    return { check: { type: 'request', match: requestOf(ctx, req, `${what}.request`) }, by };
  }
  const reach = keys.get('reach');
  if (reach !== undefined) {
    alone('reach', reach);
    return { check: usersCheckOf(ctx, reach, `${what}.reach`), by };
  }
  const count = keys.get('count');
  if (count !== undefined) return { check: countCheckOf(ctx, keys, count, v, what), by };
  const rest = new Map([...keys].filter(([k]) => k !== 'by'));
  return { check: usersCheckOf(ctx, { kind: 'map', line: v.line, entries: rest }, what), by };
}

function usersCheckOf(ctx: Ctx, v: Located, what: string): Check {
  const keys = ctx.r.map(v, what, SELECTOR_KEYS);
  const domainNode = keys.get('user');
  const domain: Selector =
    domainNode === undefined ? { kind: 'any' } : selectorOf(ctx, domainNode, `${what}.user`);
  const condKeys = new Map([...keys].filter(([k]) => k !== 'user'));
  if (condKeys.size === 0) {
    ctx.r.fail(
      v,
      `${what} says which users but not what of them (has, has_any, lacks, started_as)`,
    );
  }
  const cond = selectorOf(ctx, { kind: 'map', line: v.line, entries: condKeys }, what);
  return { type: 'users', domain, cond };
}

function countCheckOf(
  ctx: Ctx,
  keys: Map<string, Located>,
  count: Located,
  v: Located,
  what: string,
): Check {
  const { r } = ctx;
  for (const k of keys.keys()) {
    if (!['count', 'at_least', 'at_most', 'by'].includes(k)) {
      r.fail(v, `${what}.count takes at_least or at_most, not ${k}`);
    }
  }
  const least = keys.get('at_least');
  const most = keys.get('at_most');
  if (least === undefined && most === undefined)
    r.fail(v, `${what}.count needs at_least or at_most`);
  return {
    type: 'count',
    of: selectorOf(ctx, count, `${what}.count`),
    atLeast: least === undefined ? null : r.int(least, `${what}.at_least`),
    atMost: most === undefined ? null : r.int(most, `${what}.at_most`),
  };
}

function invariantOf(ctx: Ctx, v: Located): Invariant {
  const { r } = ctx;
  const keys = r.map(v, 'an invariant', ['id', 'always', 'never']);
  const idNode = keys.get('id');
  if (idNode === undefined) return r.fail(v, 'an invariant needs an id');
  const id = r.str(idNode, 'id');
  const always = keys.get('always');
  const never = keys.get('never');
  if ((always === undefined) === (never === undefined)) {
    return r.fail(v, `invariant "${id}" needs exactly one of always, never`);
  }
  const kind = always === undefined ? 'never' : 'always';
  const { check, by } = checkOf(ctx, kind, (always ?? never) as Located, `${id}.${kind}`);
  return { id, line: v.line, kind, check, by };
}

function startOf(ctx: Ctx, v: Located): { owner: number | null; others: number[] } {
  const { r } = ctx;
  const keys = r.map(v, 'start', ['owner', 'others']);
  const ownerNode = keys.get('owner');
  const othersNode = keys.get('others');
  const others =
    othersNode === undefined
      ? []
      : r.seq(othersNode, 'start.others').map((s) => {
          if (s.kind !== 'seq') r.fail(s, 'each of start.others is a list of roles, [] for none');
          return s.kind === 'seq' && s.items.length === 0 ? 0 : maskOf(ctx, s, 'start.others');
        });
  return {
    owner: ownerNode === undefined ? null : maskOf(ctx, ownerNode, 'start.owner'),
    others,
  };
}

function startSetsOf(invariants: readonly Invariant[]): number[] {
  const found = new Set<number>();
  JSON.stringify(invariants, (key, value: unknown) => {
    if (isStartedAs(value)) found.add(value.roles);
    return value;
  });
  return [...found].sort((a, b) => a - b);
}

function isStartedAs(v: unknown): v is { kind: 'started_as'; roles: number } {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'started_as';
}
