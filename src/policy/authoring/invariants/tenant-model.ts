/**
 * The tenant `policy check` explores: its users (the owner first), each with its roles and the
 * roles it started with, as bit masks over the schema's `Role` enum; the requests any of them may
 * make (role changes, renames where the policies look at them, creates up to N users, deletes);
 * and what the backend refuses whatever the policies say (the owner is never deleted and keeps
 * admin; roles are the schema's, which a mask cannot escape).
 *
 * States are kept up to the renaming of non-owner users (the request abstraction's argument,
 * request-abstraction.ts: Cedar only compares ids, so renaming ids no policy names keeps every
 * decision). The canonical form sorts them by (roles, start roles) and names them u1, u2, ...
 */

/** One user of the tenant. */
export interface TenantUser {
  id: string;
  owner: boolean;
  /** Roles held now (bit i: the schema's i-th role). */
  roles: number;
  /**
   * Roles held at the start (or at creation) when some invariant's `started_as` names them, else
   * -1: remembering more would only multiply the states.
   */
  start: number;
}

/** A tenant: the owner first, then the others. */
export type TenantState = readonly TenantUser[];

/** One request a user of the state makes; indices are positions in the state. */
export type Step =
  | { action: 'users:update'; by: number; on: number; roles: number; renames: number }
  | { action: 'users:create'; by: number; roles: number }
  | { action: 'users:delete'; by: number; on: number };

/** The shape of the tenant and its requests. */
export interface TenantModel {
  roles: readonly string[];
  /** At most this many users, the owner counted. */
  users: number;
  /** The owner's role, which the backend never lets it lose (-1: the schema has none). */
  ownerRole: number;
  /** The start role sets some invariant's `started_as` names (see {@link TenantUser.start}). */
  startSets: readonly number[];
  /** The update context's booleans some policy reads (`nameChanges`, `avatarChanges`). */
  renameFlags: readonly string[];
  ownerId: string;
  /** The n-th id (1-based) given to the others: none is an id a policy names. */
  freshId(n: number): string;
}

/** The state with the others sorted and renamed, and its key. */
export function canonicalize(model: TenantModel, users: TenantState): TenantState {
  const [owner, ...others] = users as [TenantUser, ...TenantUser[]];
  others.sort(byRolesThenStart);
  return [owner, ...others.map((u, i) => ({ ...u, id: model.freshId(i + 1) }))];
}

/** The positions of `users` in canonical order (ties between equal users in any order). */
export function canonicalOrder(users: TenantState): number[] {
  const order = users.map((_, i) => i).slice(1);
  order.sort((a, b) => byRolesThenStart(users[a] as TenantUser, users[b] as TenantUser));
  return [0, ...order];
}

function byRolesThenStart(a: TenantUser, b: TenantUser): number {
  return a.roles - b.roles || a.start - b.start;
}

/** A canonical state's key: equal for states equal up to the renaming of the others. */
export function stateKey(users: TenantState): string {
  let key = '';
  for (const u of users) key += `${u.roles}.${u.start},`;
  return key;
}

/** Every request the users of `state` can make that the backend would accept. */
export function* stepsOf(model: TenantModel, state: TenantState): Generator<Step> {
  const n = state.length;
  const sets = 1 << model.roles.length;
  const renameSets = 1 << model.renameFlags.length;
  for (let by = 0; by < n; by++) {
    for (let on = 0; on < n; on++) {
      const target = state[on] as TenantUser;
      for (let roles = 0; roles < sets; roles++) {
        if (target.owner && !ownerKeeps(model, roles)) continue;
        for (let renames = 0; renames < renameSets; renames++) {
          // Changing nothing is no request worth making.
          if (roles === target.roles && renames === 0) continue;
          yield { action: 'users:update', by, on, roles, renames };
        }
      }
      if (!target.owner) yield { action: 'users:delete', by, on };
    }
    if (n < model.users) {
      for (let roles = 0; roles < sets; roles++) yield { action: 'users:create', by, roles };
    }
  }
}

function ownerKeeps(model: TenantModel, roles: number): boolean {
  return model.ownerRole < 0 || (roles & (1 << model.ownerRole)) !== 0;
}

/** The state after `step` (not canonical); created users get `newId`. */
export function applyStep(
  model: TenantModel,
  state: TenantState,
  step: Step,
  newId: string,
): TenantUser[] {
  switch (step.action) {
    case 'users:update':
      return state.map((u, i) => (i === step.on ? { ...u, roles: step.roles } : u));
    case 'users:delete':
      return state.filter((_, i) => i !== step.on);
    case 'users:create':
      return [
        ...state,
        { id: newId, owner: false, roles: step.roles, start: startOf(model, step.roles) },
      ];
  }
}

/** What a user starting with `roles` remembers of them. */
export function startOf(model: TenantModel, roles: number): number {
  return model.startSets.includes(roles) ? roles : -1;
}

/** Every start state: the file's, or every owner role set with admin and every multiset of others. */
export function startStates(
  model: TenantModel,
  start: { owner: number | null; others: number[] } | null,
): TenantState[] {
  const keep = (roles: number) => startOf(model, roles);
  const ownerUser = (roles: number): TenantUser => ({
    id: model.ownerId,
    owner: true,
    roles,
    start: keep(roles),
  });
  const others = (sets: readonly number[]) =>
    sets.map((roles, i) => ({
      id: model.freshId(i + 1),
      owner: false,
      roles,
      start: keep(roles),
    }));
  const ownerDefault = model.ownerRole < 0 ? 0 : 1 << model.ownerRole;
  if (start !== null) {
    return [canonicalize(model, [ownerUser(start.owner ?? ownerDefault), ...others(start.others)])];
  }
  const sets = 1 << model.roles.length;
  const states: TenantState[] = [];
  for (let owner = 0; owner < sets; owner++) {
    if (!ownerKeeps(model, owner)) continue;
    for (const multiset of multisets(sets, model.users - 1)) {
      states.push(canonicalize(model, [ownerUser(owner), ...others(multiset)]));
    }
  }
  return states;
}

/** Every non-decreasing sequence of values below `values`, of length 0 to `most`. */
function* multisets(
  values: number,
  most: number,
  from = 0,
  prefix: number[] = [],
): Generator<number[]> {
  yield prefix;
  if (prefix.length === most) return;
  for (let v = from; v < values; v++) yield* multisets(values, most, v, [...prefix, v]);
}

/** The role names of a mask, in the schema's order. */
export function roleNames(roles: readonly string[], mask: number): string[] {
  return roles.filter((_, i) => (mask & (1 << i)) !== 0);
}

/**
 * Ids that no policy names: `owner` and `u1`, `u2`, ..., or the same with a suffix that makes
 * them so (a policy naming `User::"u1"` must not find it in the tenant).
 */
export function idsAvoiding(literals: ReadonlySet<string>): {
  ownerId: string;
  freshId: (n: number) => string;
} {
  let suffix = '';
  const clashes = (id: string) =>
    id === `owner${suffix}` || new RegExp(`^u\\d+${suffix}$`).test(id);
  while ([...literals].some(clashes)) {
    suffix += '_';
  }
  return { ownerId: `owner${suffix}`, freshId: (n) => `u${n}${suffix}` };
}
