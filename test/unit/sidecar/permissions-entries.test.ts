/**
 * The permissions answer decided by the compiled decider (no cache; at once, or served a few
 * decisions per turn of the tenant) equals the answer whose every entry is decided one by one
 * by cedar-wasm through the permissions cache (the way every answer was made before, and still
 * is when cedar-wasm decides the set): the same entries, allowed or not, with the same notices,
 * policies and codes, the same gate's 403 (property).
 *
 * Random callers and targets over a 20-role schema: role sets drawn from the schema's roles and
 * a retired one, the owner or not, the target oneself or another user, of the tenant or not;
 * the shipped policies and three more that name roles of the wide schema (`containsAny`,
 * `containsAll`, a forbid with a notice), so that entries differ from role to role.
 *
 * FUZZ_RUNS=<n> raises the runs (default 80), FUZZ_SEED=<n> replays one.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { avatarDigestOf } from '../../../src/policy/context.js';
import type { UsersAction } from '../../../src/policy/types.js';
import type { PolicyStore } from '../../../src/sidecar/authz/policy-store.js';
import {
  answerPermissions,
  tenantPermissions,
  userPermissions,
} from '../../../src/sidecar/permissions.js';
import { matchRoute, type RouteSpec } from '../../../src/sidecar/routes.js';
import { createSidecarMetrics } from '../../../src/sidecar/metrics.js';
import type { Exchange } from '../../../src/sidecar/decision-log.js';
import type { FairGate } from '../../../src/sidecar/fair-gate.js';
import { CedargateError } from '../../../src/errors.js';
import type { UserRecord } from '../../../src/sidecar/user-facts.js';
import { T, directoryOf, policyStoreOver, recordOf } from '../../helpers/sidecar-fakes.js';
import { writeWideRolePolicies } from '../../helpers/wide-roles.js';
import { fuzzParameters, fuzzRuns } from '../../helpers/fuzz.js';

const RUNS = fuzzRuns(80);

const ROLES = 20;
const OTHER_TENANT = 'EEEEEEEE-0000-4000-8000-000000000000';
const [CALLER, TARGET] = [
  'C0000000-0000-4000-8000-000000000001',
  'C0000000-0000-4000-8000-000000000002',
];

/** Policies over the wide schema's roles, beside the shipped ones. */
const WIDE_POLICIES = `@id("role5-grants-user-or-role6")
permit (
  principal,
  action == Cedargate::Action::"users:update",
  resource is Cedargate::User
)
when
{
  principal.roles.contains(Cedargate::Role::"role5") &&
  resource.tenant == principal.tenant &&
  context.rolesAdded.containsAny([Cedargate::Role::"role6", Cedargate::Role::"user"]) &&
  context.rolesRemoved.isEmpty()
};

@id("role7-kept")
@notice("Only the owner removes role7.")
forbid (
  principal,
  action == Cedargate::Action::"users:update",
  resource is Cedargate::User
)
when { context.rolesRemoved.contains(Cedargate::Role::"role7") }
unless { principal.isOwner };

@id("role8-viewers-create")
permit (
  principal,
  action == Cedargate::Action::"users:create",
  resource is Cedargate::Tenant
)
when
{
  principal.roles.containsAll([Cedargate::Role::"role8", Cedargate::Role::"viewer"]) &&
  principal.tenant == resource &&
  !context.rolesRequested.contains(Cedargate::Role::"admin")
};
`;

describe('permissions: the compiled answer equals deciding each entry by cedar-wasm (property)', () => {
  const dir = writeWideRolePolicies(ROLES);
  writeFileSync(join(dir.path, 'wide.cedar'), WIDE_POLICIES);
  let compiled: PolicyStore;
  let wasm: PolicyStore;

  before(async () => {
    compiled = await policyStoreOver(dir.path, { crosscheckRate: 0 });
    wasm = await policyStoreOver(dir.path, {
      compileDecider: () => ({ unsupported: 'a test: cedar-wasm decides' }),
    });
  });
  after(() => {
    compiled.close();
    wasm.close();
    dir.remove();
  });

  // A retired role (held in the store, no longer in the schema) beside the schema's.
  const roleSet = fc.subarray([...dir.roles, 'auditor'], { maxLength: 8 });
  const userArb = (id: string) =>
    fc
      .record({
        roles: roleSet,
        owner: fc.boolean(),
        otherTenant: fc.boolean(),
        avatar: fc.constantFrom(null, 'data:image/png;base64,AAAA'),
      })
      .map((u): UserRecord => {
        const r = recordOf(id, u.roles, u.owner);
        if (u.otherTenant) r.user.tenant_id = OTHER_TENANT;
        r.user.avatar_digest = avatarDigestOf(u.avatar);
        return r;
      });

  /** The answer, and how many decisions it made (each told to the hook once). */
  const answered = <A>(make: (hooks: { onDecision: () => void }) => A) => {
    let decisions = 0;
    const answer = make({ onDecision: () => void decisions++ });
    return { answer, decisions };
  };

  const metrics = createSidecarMetrics();
  /** A fair gate that runs each step at once. */
  const immediate: Pick<FairGate, 'run'> = { run: async (_tenant, _cost, work) => work() };

  /** The answer as `GET …/permissions` serves it (parsed), or the error code it answers. */
  async function served(
    policies: PolicyStore,
    enforce: boolean,
    caller: UserRecord,
    target: UserRecord,
    userId: string | undefined,
  ): Promise<unknown> {
    const path = `/v1/users/${userId === undefined ? '' : `${userId}/`}permissions`;
    const { route } = matchRoute('GET', path) as { route: RouteSpec };
    let text = '';
    const res = {
      writeHead: () => res,
      end: (t: string) => void (text = t),
    } as unknown as ServerResponse;
    const deps = { policies, directory: directoryOf([caller, target]), enforce, metrics };
    const ex = { requestId: 'r', startedAt: 0n, principal: caller } as Exchange;
    try {
      const request = { res, ex, route, tenantId: T, userId, principal: caller };
      await answerPermissions({ ...deps, fair: immediate }, request);
      return JSON.parse(text) as unknown;
    } catch (err) {
      if (err instanceof CedargateError) return { code: err.code };
      throw err;
    }
  }

  it('decides by the compiled decider directly, and cedar-wasm through the cache', () => {
    assert.notEqual(compiled.directDecider?.(), undefined);
    assert.equal(wasm.directDecider?.(), undefined);
  });

  it('gives every entry of a user’s and of the tenant’s answer as cedar-wasm decides it', async () => {
    const tally = { allowed: 0, denied: 0, notices: 0, invalid: 0, served: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(
        userArb(CALLER),
        userArb(TARGET),
        fc.boolean(),
        fc.boolean(),
        async (caller, other, self, enforce) => {
          const target = self ? caller : other;
          const [got, want] = [compiled, wasm].map((p) =>
            answered((hooks) => userPermissions(p, enforce, T, caller, target, hooks)),
          );
          assert.deepEqual(got, want);
          const [tenantGot, tenantWant] = [compiled, wasm].map((p) =>
            answered((hooks) => tenantPermissions(p, enforce, T, caller, hooks)),
          );
          assert.deepEqual(tenantGot, tenantWant);
          // And as served: the gate, then the entries a few per turn (compiled) or one per
          // uncached decision through the cache (cedar-wasm).
          const [servedGot, servedWant] = await Promise.all(
            [compiled, wasm].map((p) => served(p, enforce, caller, target, target.user.id)),
          );
          assert.deepEqual(servedGot, servedWant);
          tally[(servedGot as { code?: string }).code === undefined ? 'served' : 'refused']++;
          const [tenantServedGot, tenantServedWant] = await Promise.all(
            [compiled, wasm].map((p) => served(p, enforce, caller, target, undefined)),
          );
          assert.deepEqual(tenantServedGot, tenantServedWant);
          for (const e of Object.values(got?.answer.roles.add ?? {})) {
            tally[e.allowed ? 'allowed' : 'denied']++;
            if (e.code !== undefined) tally.invalid++;
            if ((e.notices?.length ?? 0) > 0) tally.notices++;
          }
        },
      ),
      fuzzParameters(RUNS),
    );
    // Not degenerate: entries of every kind were compared.
    assert.ok(
      tally.allowed > 0 &&
        tally.denied > 0 &&
        tally.notices > 0 &&
        tally.invalid > 0 &&
        tally.served > 0 &&
        tally.refused > 0,
      JSON.stringify(tally),
    );
  });

  it('decides R + 4 entries for a user and R + 2 for the tenant, each once', () => {
    const caller = recordOf(CALLER, ['admin']);
    const target = recordOf(TARGET, ['user', 'role7']);
    const counted: UsersAction[] = [];
    const hooks = { onDecision: (action: UsersAction) => void counted.push(action) };
    userPermissions(compiled, true, T, caller, target, hooks);
    assert.equal(counted.length, ROLES + 4);
    counted.length = 0;
    tenantPermissions(compiled, true, T, caller, hooks);
    assert.equal(counted.length, ROLES + 2);
  });
});
