/**
 * The explorer with symmetry reduction against a naive one that keeps every user's id: on random
 * policy sets over two or three roles and small tenants, both must agree on which invariants
 * break and on the length of the shortest counterexample, the reduced count must be the number
 * of distinct canonical forms among the naive states, and every counterexample must replay: each
 * request allowed by the set itself, the invariant broken at the end.
 *
 * FUZZ_RUNS=<n> raises the runs (default 8), FUZZ_SEED=<n> replays one.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { checkInvariants, modelOf } from '../../../../../src/policy/authoring/invariants/check.js';
import type { Counterexample } from '../../../../../src/policy/authoring/invariants/counterexample.js';
import {
  requestMatches,
  selects,
  stateViolation,
} from '../../../../../src/policy/authoring/invariants/evaluate.js';
import { parseInvariants } from '../../../../../src/policy/authoring/invariants/language.js';
import type {
  Invariant,
  InvariantSpec,
} from '../../../../../src/policy/authoring/invariants/language.js';
import {
  canonicalize,
  startStates,
  stateKey,
} from '../../../../../src/policy/authoring/invariants/tenant-model.js';
import type {
  Step,
  TenantModel,
  TenantUser,
} from '../../../../../src/policy/authoring/invariants/tenant-model.js';
import { buildCreateContext, buildUpdateContext } from '../../../../../src/policy/context.js';
import { compileLoadedSet } from '../../../../../src/policy/policy-set.js';
import type { AuthzRequest, Decision } from '../../../../../src/policy/types.js';
import { policySetOf } from '../../../../helpers/invariant-sets.js';
import { fuzzParameters, fuzzRuns } from '../../../../helpers/fuzz.js';

const RUNS = fuzzRuns(8);
const ROLES = ['admin', 'user', 'viewer'] as const;
const A = (id: string) => `Cedargate::Action::"${id}"`;
const R = (id: string) => `Cedargate::Role::"${id}"`;

/** Templates of policies about the actions that change a tenant. */
const TEMPLATES: ((e: string, r: string, s: string) => string)[] = [
  (
    e,
    r,
  ) => `${e} (principal, action in [${A('users:update')}, ${A('users:delete')}], resource is Cedargate::User)
when { principal.roles.contains(${R(r)}) };`,
  (e, r, s) => `${e} (principal, action == ${A('users:update')}, resource is Cedargate::User)
when { context.rolesAdded.contains(${R(r)}) && !principal.roles.contains(${R(s)}) };`,
  (e, r) => `${e} (principal, action == ${A('users:update')}, resource)
when { context.rolesRemoved.contains(${R(r)}) } unless { principal.isOwner };`,
  (e) => `${e} (principal, action, resource is Cedargate::User) when { resource == principal };`,
  (e, r) => `${e} (principal, action == ${A('users:create')}, resource is Cedargate::Tenant)
when { principal.roles.contains(${R(r)}) || context.rolesRequested.isEmpty() };`,
  (e, r) => `${e} (principal, action == ${A('users:delete')}, resource is Cedargate::User)
when { resource.roles.contains(${R(r)}) && !resource.isOwner };`,
  (e) => `${e} (principal, action == ${A('users:update')}, resource is Cedargate::User)
when { context.nameChanges && resource.isOwner };`,
  (e, r) =>
    `${e} (principal, action, resource) when { principal.isOwner || principal.roles.contains(${R(r)}) };`,
];

const INVARIANTS = `invariants:
  - id: owner-keeps-admin
    always: { user: owner, has: admin }
  - id: only-owner-makes-admins
    never: { request: { by: { not: owner }, adds: admin } }
  - id: only-owner-unmakes-users
    never: { request: { by: { not: owner }, removes: user } }
  - id: nobody-deletes-admins
    never: { request: { deletes: { has: admin } } }
  - id: at-most-two-admins
    always: { count: { has: admin }, at_most: 2 }
  - id: few-users
    always: { count: any, at_most: 2 }
  - id: viewers-stay-viewers
    never: { reach: { user: { started_as: [viewer] }, has_any: [admin, user] }, by: { not: owner } }
  - id: someone-renames-the-owner
    never: { request: { action: users:update, on: owner, by: { lacks: admin } } }
`;

interface Naive {
  states: Set<string>;
  canonical: Set<string>;
  /** Per broken invariant, the length of its shortest counterexample. */
  shortest: Map<string, number>;
}

/** Breadth first over states with concrete ids; a create takes any free id of the pool. */
function exploreNaive(
  model: TenantModel,
  spec: InvariantSpec,
  decide: (r: AuthzRequest) => Decision,
): Naive {
  const pool = Array.from({ length: model.users - 1 }, (_, i) => model.freshId(i + 1));
  const keyOf = (s: TenantUser[]) => JSON.stringify(s.map((u) => [u.id, u.roles, u.start]));
  const result: Naive = { states: new Set(), canonical: new Set(), shortest: new Map() };
  const groups = new Map<string, Invariant[]>([['null', []]]);
  for (const inv of spec.invariants)
    groups.set(JSON.stringify(inv.by), [...(groups.get(JSON.stringify(inv.by)) ?? []), inv]);
  for (const [key, invariants] of groups) {
    const restrict = invariants[0]?.by ?? null;
    const seen = new Set<string>();
    let frontier: TenantUser[][] = startStates(model, spec.start).map((s) => [...s]);
    for (let depth = 0; frontier.length > 0; depth++) {
      const next: TenantUser[][] = [];
      const fresh = frontier.filter((s) => !seen.has(keyOf(s)) && seen.add(keyOf(s)));
      for (const s of fresh) {
        if (key === 'null') {
          result.states.add(keyOf(s));
          result.canonical.add(stateKey(canonicalize(model, s)));
        }
        for (const inv of invariants) {
          if (
            inv.check.type !== 'request' &&
            !result.shortest.has(inv.id) &&
            stateViolation(inv.kind, inv.check, s) !== null
          ) {
            result.shortest.set(inv.id, depth);
          }
        }
        for (const [step, request, after] of naiveSteps(model, s, pool)) {
          if (restrict !== null && !selects(restrict, s[step.by] as TenantUser)) continue;
          if (!decide(request).allowed) continue;
          for (const inv of invariants) {
            if (
              inv.check.type === 'request' &&
              !result.shortest.has(inv.id) &&
              requestMatches(inv.check.match, s, step)
            ) {
              result.shortest.set(inv.id, depth + 1);
            }
          }
          next.push(after);
        }
      }
      frontier = next;
    }
  }
  return result;
}

function* naiveSteps(
  model: TenantModel,
  s: TenantUser[],
  pool: string[],
): Generator<[Step, AuthzRequest, TenantUser[]]> {
  const names = (m: number) =>
    ROLES.slice(0, model.roles.length).filter((_, i) => (m & (1 << i)) !== 0);
  const facts = (u: TenantUser) => ({
    id: u.id,
    tenantId: 'tenant',
    roles: names(u.roles),
    isOwner: u.owner,
  });
  const sets = 1 << model.roles.length;
  const keepsAdmin = (m: number) => (m & 1) !== 0;
  for (let by = 0; by < s.length; by++) {
    const principal = facts(s[by] as TenantUser);
    for (let on = 0; on < s.length; on++) {
      const t = s[on] as TenantUser;
      const resource = { type: 'User' as const, ...facts(t) };
      for (let roles = 0; roles < sets; roles++) {
        for (const renamed of model.renameFlags.length > 0 ? [false, true] : [false]) {
          if ((t.owner && !keepsAdmin(roles)) || (roles === t.roles && !renamed)) continue;
          const patch = { roles: names(roles), ...(renamed ? { name: 'new' } : {}) };
          const context = buildUpdateContext(
            { name: 'old', roles: names(t.roles), avatar_digest: null },
            patch,
          );
          const after = s.map((u, i) => (i === on ? { ...u, roles } : u));
          yield [
            { action: 'users:update', by, on, roles, renames: renamed ? 1 : 0 },
            { principal, action: 'users:update', resource, context },
            after,
          ];
        }
      }
      if (!t.owner) {
        yield [
          { action: 'users:delete', by, on },
          { principal, action: 'users:delete', resource, context: {} },
          s.filter((_, i) => i !== on),
        ];
      }
    }
    if (s.length >= model.users) continue;
    for (const id of pool.filter((p) => !s.some((u) => u.id === p))) {
      for (let roles = 0; roles < sets; roles++) {
        const request: AuthzRequest = {
          principal,
          action: 'users:create',
          resource: { type: 'Tenant', id: 'tenant' },
          context: buildCreateContext({ roles: names(roles) }),
        };
        const start = model.startSets.includes(roles) ? roles : -1;
        yield [
          { action: 'users:create', by, roles },
          request,
          [...s, { id, owner: false, roles, start }],
        ];
      }
    }
  }
}

/** Replays a counterexample on the set itself: every request allowed, in the order shown. */
function replays(c: Counterexample, decide: (r: AuthzRequest) => Decision): boolean {
  const users = new Map(c.start.map((u) => [u.id, u]));
  for (const s of c.steps) {
    const by = users.get(s.by.id);
    if (by === undefined || JSON.stringify(by) !== JSON.stringify(s.by)) return false;
    const principal = { id: by.id, tenantId: 'tenant', roles: by.roles, isOwner: by.owner };
    let request: AuthzRequest;
    if (s.action === 'users:create') {
      request = {
        principal,
        action: s.action,
        resource: { type: 'Tenant', id: 'tenant' },
        context: buildCreateContext({ roles: s.roles ?? [] }),
      };
    } else {
      const on = users.get(s.on?.id ?? '');
      if (on === undefined) return false;
      const resource = {
        type: 'User' as const,
        id: on.id,
        tenantId: 'tenant',
        roles: on.roles,
        isOwner: on.owner,
      };
      const patch = {
        roles: s.roles ?? on.roles,
        ...(s.renames.includes('nameChanges') ? { name: 'new' } : {}),
      };
      const context =
        s.action === 'users:delete'
          ? {}
          : buildUpdateContext({ name: 'old', roles: on.roles, avatar_digest: null }, patch);
      request = { principal, action: s.action, resource, context };
    }
    const d = decide(request);
    if (!d.allowed || JSON.stringify(d.policies) !== JSON.stringify(s.policies)) return false;
    if (s.action === 'users:create')
      users.set(s.created ?? '', { id: s.created ?? '', owner: false, roles: s.roles ?? [] });
    else if (s.action === 'users:delete') users.delete(s.on?.id ?? '');
    else
      users.set(s.on?.id ?? '', {
        ...(users.get(s.on?.id ?? '') as Counterexample['start'][number]),
        roles: s.roles ?? [],
      });
  }
  return true;
}

describe('policy check: symmetry reduction against the naive explorer', () => {
  it('agrees on what breaks, how soon, and how many states there are up to renaming', () => {
    let slot = 0;
    fc.assert(
      fc.property(
        // Roles and users: the naive explorer on three of each takes minutes on a loaded machine.
        fc.constantFrom([2, 2], [2, 3], [3, 2]),
        fc.array(
          fc.record({
            t: fc.nat({ max: TEMPLATES.length - 1 }),
            forbid: fc.boolean(),
            r: fc.nat({ max: 2 }),
            s: fc.nat({ max: 2 }),
          }),
          { minLength: 1, maxLength: 5 },
        ),
        fc.boolean(),
        ([size, users], drawn, withStart) => {
          const roles = ROLES.slice(0, size);
          const text = drawn
            .map(
              (d, i) =>
                `@id("p${i}")\n${(TEMPLATES[d.t] as (typeof TEMPLATES)[number])(d.forbid ? 'forbid' : 'permit', roles[d.r % size] as string, roles[d.s % size] as string)}\n`,
            )
            .join('');
          const set = policySetOf(roles, text);
          const compiled = compileLoadedSet(`naive-${++slot}`, set);
          // Memoized by the whole request: the naive explorer asks the same questions many times.
          const memo = new Map<string, Decision>();
          const decide = (r: AuthzRequest): Decision => {
            const key = JSON.stringify(r);
            let d = memo.get(key);
            if (d === undefined) memo.set(key, (d = { ...compiled.authorize(r), cached: false }));
            return d;
          };
          const invariantsText =
            INVARIANTS.replaceAll('viewer', roles[size - 1] as string) +
            (withStart ? `start: { others: [[${roles[size - 1]}]] }\n` : '');
          const spec = parseInvariants('inv.yaml', invariantsText, roles);
          const fast = checkInvariants(set, spec, decide, { users });
          const naive = exploreNaive(modelOf(set, spec, users), spec, decide);
          assert.equal(fast.states, naive.canonical.size, text);
          assert.ok(fast.states <= naive.states.size);
          for (const inv of fast.invariants) {
            assert.equal(inv.holds, !naive.shortest.has(inv.id), `${inv.id}\n${text}`);
            if (inv.counterexample === null) continue;
            assert.equal(
              inv.counterexample.steps.length,
              naive.shortest.get(inv.id),
              `${inv.id}\n${text}`,
            );
            assert.ok(replays(inv.counterexample, decide), `${inv.id} does not replay\n${text}`);
          }
        },
      ),
      fuzzParameters(RUNS),
    );
  });
});
