/**
 * The decision cache against Cedar: whatever the cache answers equals a fresh Cedar call on the
 * concrete request (decision, determining policies, notices, ignored roles, whether it erred).
 *
 * Random facts, random id renamings and random policy sets drawn from templates (two name ids
 * literally, one errors at evaluation). One store per drawn set lives for the whole run, so a
 * request is answered from decisions that earlier, unrelated requests of its class put there:
 * a key that left out something a decision reads shows up as a disagreement.
 *
 * FUZZ_RUNS=<n> raises the runs (default 2,000), FUZZ_SEED=<n> replays one.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  authzRequestArb,
  idRenamingArb,
  renameIds,
  withUndeclaredContext,
} from '../../../helpers/authz-requests.js';
import { compileLoadedSet } from '../../../../src/policy/policy-set.js';
import type { AuthzRequest, Decision } from '../../../../src/policy/types.js';
import { perPolicySet, shippedPolicyTexts } from '../../../helpers/policy-engines.js';
import { shippedPolicies } from '../../../helpers/process.js';
import { policyStoreOver } from '../../../helpers/sidecar-fakes.js';
import { FUZZ_SEED, fuzzParameters, fuzzRuns } from '../../../helpers/fuzz.js';

const RUNS = fuzzRuns(2000);

const VIP = 'vip';
const SUPERUSER = 'root';
const FROZEN_TENANT = 'frozen';

/** The shipped files, and templates that read what the key must tell apart. */
const TEMPLATES: Record<string, string> = {
  ...shippedPolicyTexts(),
  'vip.cedar': `@id("vip-untouchable")
@notice("The VIP is untouchable.")
forbid (principal, action in [Cedargate::Action::"users:update", Cedargate::Action::"users:delete"], resource)
when { resource == Cedargate::User::"${VIP}" };
`,
  'root.cedar': `@id("root-does-anything")
permit (principal == Cedargate::User::"${SUPERUSER}", action, resource);
`,
  'frozen.cedar': `@id("frozen-tenant")
@notice("This tenant is frozen.")
forbid (principal, action == Cedargate::Action::"users:update", resource)
when { principal.tenant == Cedargate::Tenant::"${FROZEN_TENANT}" && context.nameChanges };
`,
  'self.cedar': `@id("self-avatar")
permit (principal, action == Cedargate::Action::"users:update", resource is Cedargate::User)
when { principal == resource && !context.nameChanges && context.rolesAdded.isEmpty() };
`,
  'members.cedar': `@id("members-list")
permit (principal, action == Cedargate::Action::"users:list", resource is Cedargate::Tenant)
when { principal in resource };
`,
  'viewers.cedar': `@id("viewers-read-only")
@notice("Viewers only read.")
forbid (principal, action in [Cedargate::Action::"users:create", Cedargate::Action::"users:update"], resource)
when { principal.roles.contains(Cedargate::Role::"viewer") && !principal.isOwner };
`,
  'grant.cedar': `@id("grant-what-you-hold")
permit (principal, action == Cedargate::Action::"users:create", resource is Cedargate::Tenant)
when { principal.roles.containsAll(context.rolesRequested) && principal.tenant == resource };
`,
  'overflow.cedar': `@id("overflow-owner")
@notice("boom")
forbid (principal, action, resource)
when { principal.isOwner && 9223372036854775807 + 1 > 0 };
`,
};
const TEMPLATE_NAMES = Object.keys(TEMPLATES).sort();

const schemaText = readFileSync(join(shippedPolicies, 'schema.cedarschema'), 'utf8');

/** The caching store and a fresh engine of the set made of `files`, one per set for the run. */
const subjectOf = perPolicySet(
  'cedargate-differential-',
  schemaText,
  TEMPLATES,
  async ({ dir, set, n, defer }) => {
    const store = await policyStoreOver(dir);
    defer(() => store.close());
    return { store, fresh: compileLoadedSet(`differential-${n}`, set) };
  },
);

// Ids: the literals and a few others, so that equalities between them are frequent. `ghost` is a
// role the schema does not name (a retired one): it must come back in `ignoredRoles` alike.
const USER_IDS = [VIP, SUPERUSER, 'u1', 'u2', 'u3'];
const TENANT_IDS = [FROZEN_TENANT, 't1', 't2'];
const LITERALS = new Set([VIP, SUPERUSER, FROZEN_TENANT]);
// Some with a context the schema does not declare: Cedar refuses the request, which denies.
const requestArb: fc.Arbitrary<AuthzRequest> = withUndeclaredContext(
  authzRequestArb({
    userIds: USER_IDS,
    tenantIds: TENANT_IDS,
    roles: ['admin', 'user', 'viewer', 'ghost'],
  }),
);

/** What a client and the decision line see of a decision. */
const seen = (d: Omit<Decision, 'cached'>) => ({
  allowed: d.allowed,
  policies: d.policies,
  notices: d.notices,
  ignoredRoles: d.ignoredRoles ?? [],
  erred: d.errors.length > 0,
});

// The sets the runs draw from: a few random subsets of the templates and all of them together.
// A store per set lives for the whole run, so that requests meet decisions of earlier ones; one
// set per run would never share anything.
const POOL_SEED = FUZZ_SEED ?? Date.now() % 2 ** 31;
const POOL: string[][] = [
  TEMPLATE_NAMES,
  ...fc.sample(fc.subarray(TEMPLATE_NAMES, { minLength: 1 }), { numRuns: 11, seed: POOL_SEED }),
];

describe('the decision cache against a fresh Cedar call (property)', () => {
  it('the cached answer equals Cedar on the concrete request, under any renaming of ids', async () => {
    let shared = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...POOL),
        requestArb,
        idRenamingArb(USER_IDS, LITERALS),
        idRenamingArb(TENANT_IDS, LITERALS),
        async (files, request, users, tenants) => {
          const { store, fresh } = await subjectOf(files);
          const renamed = renameIds(request, users, tenants);
          const why = (r: AuthzRequest) => JSON.stringify({ poolSeed: POOL_SEED, files, r });
          const first = store.decide(request);
          assert.deepEqual(seen(first), seen(fresh.authorize(request)), why(request));
          const second = store.decide(renamed);
          assert.deepEqual(seen(second), seen(fresh.authorize(renamed)), why(renamed));
          // Same class: the renamed request is answered with the first one's decision, unless
          // that one erred (kept for its concrete request only).
          if (!seen(first).erred) assert.equal(second.cached, true, why(renamed));
          if (second.cached) shared++;
        },
      ),
      fuzzParameters(RUNS),
    );
    // The cache did share decisions across ids (the property would hold for no cache at all).
    assert.ok(shared > RUNS / 2, `${shared} of ${RUNS} renamed requests answered from the cache`);
  });
});
