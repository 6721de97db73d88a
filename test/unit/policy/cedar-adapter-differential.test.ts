/**
 * The fitted Cedar call against the full one: implicit entity references, a policy slice per
 * action and, where call-shape.ts allows it, no tenant entities or parents must give the same
 * decision, determining policies, notices, ignored roles and errors as every entity, `__entity`
 * references and the whole set.
 *
 * Random requests (the shared generator) and random policy sets drawn from templates, some of
 * which read the entity hierarchy (`in Tenant::`, `principal in resource`, `is ... in`): there the
 * tenant entities must be kept, and the test checks that they were.
 *
 * FUZZ_RUNS=<n> raises the runs (default 2,000), FUZZ_SEED=<n> replays one.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { authzRequestArb, withUndeclaredContext } from '../../helpers/authz-requests.js';
import {
  compileLoadedSetWith,
  perPolicySet,
  shippedPolicyTexts,
} from '../../helpers/policy-engines.js';
import { shippedPolicies } from '../../helpers/process.js';
import { compileLoadedSet } from '../../../src/policy/policy-set.js';
import type { AuthzRequest, Decision } from '../../../src/policy/types.js';
import { FUZZ_SEED, fuzzParameters, fuzzRuns } from '../../helpers/fuzz.js';

const RUNS = fuzzRuns(2000);

const A = (id: string) => `Cedargate::Action::"${id}"`;

/** Templates that read the entity hierarchy: a set holding any of them keeps tenant entities. */
const HIERARCHY: Record<string, string> = {
  'members.cedar': `@id("members-list")
permit (principal, action == ${A('users:list')}, resource is Cedargate::Tenant)
when { principal in resource };
`,
  'tenant-scope.cedar': `@id("t1-members-read")
permit (principal in Cedargate::Tenant::"t1", action == ${A('users:read')}, resource);
`,
  'is-in.cedar': `@id("t2-users-frozen")
@notice("Users of t2 are frozen.")
forbid (principal, action, resource is Cedargate::User in Cedargate::Tenant::"t2")
when { !principal.isOwner };
`,
  'in-attribute.cedar': `@id("rename-in-own-tenant")
permit (principal, action == ${A('users:update')}, resource)
when { resource in principal.tenant && context.nameChanges && context.rolesAdded.isEmpty() };
`,
};

/** Templates that do not: with the shipped ones alone, the tenant entities are left out. */
const FLAT: Record<string, string> = {
  ...shippedPolicyTexts(),
  'vip.cedar': `@id("vip-untouchable")
@notice("The VIP is untouchable.")
forbid (principal, action in [${A('users:update')}, ${A('users:delete')}], resource)
when { resource == Cedargate::User::"vip" };
`,
  'root.cedar': `@id("root-does-anything")
permit (principal == Cedargate::User::"root", action, resource);
`,
  'frozen.cedar': `@id("frozen-tenant")
@notice("This tenant is frozen.")
forbid (principal, action == ${A('users:update')}, resource)
when { principal.tenant == Cedargate::Tenant::"t1" && context.nameChanges };
`,
  'when-action.cedar': `@id("roleless-do-not-delete")
forbid (principal, action, resource)
when { action == ${A('users:delete')} && principal.roles.isEmpty() };
`,
  'tenant-eq.cedar': `@id("create-in-own-tenant")
permit (principal, action in [${A('users:create')}], resource is Cedargate::Tenant)
when { resource == principal.tenant && principal.roles.containsAll(context.rolesRequested) };
`,
  'overflow.cedar': `@id("overflow-owner")
@notice("boom")
forbid (principal, action, resource)
when { principal.isOwner && 9223372036854775807 + 1 > 0 };
`,
};
const TEMPLATES: Record<string, string> = { ...FLAT, ...HIERARCHY };
const TEMPLATE_NAMES = Object.keys(TEMPLATES).sort();
const schemaText = readFileSync(join(shippedPolicies, 'schema.cedarschema'), 'utf8');

/** The fitted and the full engine of the set made of `files`, one pair per set for the run. */
const pairOf = perPolicySet('cedargate-call-shape-', schemaText, TEMPLATES, ({ set, n }) => ({
  fitted: compileLoadedSet(`shape-fitted-${n}`, set),
  full: compileLoadedSetWith(`shape-full-${n}`, set, { form: 'full' }),
}));

// Some with a context the schema does not declare: Cedar refuses the request in both forms.
const requestArb: fc.Arbitrary<AuthzRequest> = withUndeclaredContext(
  authzRequestArb({
    userIds: ['vip', 'root', 'u1', 'u2'],
    tenantIds: ['t1', 't2', 't3'],
    roles: ['admin', 'user', 'viewer', 'ghost'],
  }),
);

const seen = (d: Omit<Decision, 'cached'>) => ({
  allowed: d.allowed,
  policies: d.policies,
  notices: d.notices,
  ignoredRoles: d.ignoredRoles ?? [],
  errors: d.errors,
});

const POOL_SEED = FUZZ_SEED ?? Date.now() % 2 ** 31;
const POOL: string[][] = [
  TEMPLATE_NAMES,
  Object.keys(FLAT).sort(),
  ...fc.sample(fc.subarray(TEMPLATE_NAMES, { minLength: 1 }), { numRuns: 14, seed: POOL_SEED }),
];

describe('the fitted Cedar call against the full one (property)', () => {
  it('gives the same decision, policies, notices and errors on every request', async () => {
    const byShape = { lean: 0, tenants: 0 };
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...POOL), requestArb, async (files, request) => {
        const { fitted, full } = await pairOf(files);
        const why = JSON.stringify({ poolSeed: POOL_SEED, files, request });
        // Any template reading the hierarchy must keep the tenant entities; none, leave them out.
        const needsTenants = files.some((f) => f in HIERARCHY);
        assert.equal(fitted.callShape?.tenantEntities, needsTenants, why);
        byShape[needsTenants ? 'tenants' : 'lean']++;
        assert.deepEqual(seen(fitted.authorize(request)), seen(full.authorize(request)), why);
      }),
      fuzzParameters(RUNS),
    );
    // Both shapes were exercised (the pool holds a set of each kind).
    assert.ok(byShape.lean > 0 && byShape.tenants > 0, JSON.stringify(byShape));
  });

  it('compiles the full form on request, and the fitted one with a slice per action', async () => {
    const { fitted, full } = await pairOf(Object.keys(FLAT).sort());
    assert.equal(full.callShape, null);
    const slices = fitted.callShape?.slices ?? {};
    assert.deepEqual(Object.keys(slices).sort(), [
      'users:create',
      'users:delete',
      'users:list',
      'users:read',
      'users:update',
    ]);
    // `admins-manage-users` (update, delete) is in neither the list nor the read slice.
    assert.ok(slices['users:update']?.includes('admins-manage-users'));
    assert.ok(!slices['users:list']?.includes('admins-manage-users'));
    assert.ok(!slices['users:read']?.includes('admins-manage-users'));
  });
});
