/**
 * What a permissions answer costs, and that it shows (issue 22, item 3): over a 20-role schema
 * one `GET /v1/users/{id}/permissions` makes 25 decisions. Each is counted in
 * `cedargate_decisions_total` with `source="permissions"` (the request path's with
 * `source="request"`), and a flood of such answers over distinct role sets does not evict the
 * decisions the request path keeps in its cache. The real pipeline and policy store; fakes for
 * the verifier, the directory and the forwarder.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import type { Server, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../../src/common/logger.js';
import { createPolicyStore, type PolicyStore } from '../../../src/sidecar/authz/policy-store.js';
import { createSidecarMetrics, type SidecarMetrics } from '../../../src/sidecar/metrics.js';
import { CedargateError } from '../../../src/errors.js';
import type { Exchange } from '../../../src/sidecar/decision-log.js';
import type { FairGate } from '../../../src/sidecar/fair-gate.js';
import {
  answerPermissions,
  DECISIONS_PER_STEP,
  userPermissions,
  type UserPermissions,
} from '../../../src/sidecar/permissions.js';
import { unansweredUser } from '../../../src/sidecar/permission-entries.js';
import { matchRoute, type RouteSpec } from '../../../src/sidecar/routes.js';
import type { Forwarder } from '../../../src/sidecar/proxy.js';
import type { UserRecord } from '../../../src/sidecar/user-facts.js';
import {
  OWNER,
  T,
  directoryOf,
  ownerVerifier,
  recordOf,
  servePipeline,
} from '../../helpers/sidecar-fakes.js';
import { writeWideRolePolicies } from '../../helpers/wide-roles.js';

const ROLES = 20;
/** Users whose role sets all differ: each permissions answer on one asks 25 new questions. */
const TARGETS = 40;

const record = recordOf;
const targetId = (i: number): string => `DDDDDDDD-0000-4000-8000-${String(i).padStart(12, '0')}`;

/** A forbid that names role4: a set that decides role4's entry otherwise. */
const ROLE4_KEPT = `@id("role4-kept")
@notice("role4 is granted by hand.")
forbid (
  principal,
  action == Cedargate::Action::"users:update",
  resource is Cedargate::User
)
when { context.rolesAdded.contains(Cedargate::Role::"role4") };
`;

/** `work`'s result, and how many arrays were sorted while it ran. */
function sortsDuring<T>(work: () => T): { result: T; sorts: number } {
  const original = Array.prototype.sort;
  let sorts = 0;
  Array.prototype.sort = function (this: unknown[], compare?: (a: unknown, b: unknown) => number) {
    sorts++;
    return original.call(this, compare) as unknown[];
  } as typeof original;
  try {
    return { result: work(), sorts };
  } finally {
    Array.prototype.sort = original;
  }
}

/** A response that keeps what was written. */
function capture(): ServerResponse & { text?: string } {
  const out = {
    writeHead: () => out,
    end(text: string) {
      out.text = text;
      return out;
    },
  } as unknown as ServerResponse & { text?: string };
  return out;
}

/** Answers every forwarded request 200 without a backend. */
const okForwarder: Forwarder = {
  async forward(_req, res) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
    return { kind: 'answered', status: 200 };
  },
};

/** The sum of the `cedargate_decisions_total` series whose labels include `labels`. */
async function decisionsWith(metrics: SidecarMetrics, labels: string): Promise<number> {
  const text = await metrics.registry.metrics();
  return text
    .split('\n')
    .filter((l) => l.startsWith('cedargate_decisions_total{') && l.includes(labels))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

async function decisionCacheHits(metrics: SidecarMetrics): Promise<number> {
  const text = await metrics.registry.metrics();
  const line = text
    .split('\n')
    .find((l) => l.startsWith('cedargate_cache_events_total{cache="decision",result="hit"}'));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('permissions: every decision counted, and bounded in what it costs the others', () => {
  const logger = createLogger('silent');
  const dir = writeWideRolePolicies(ROLES);
  const servers: Server[] = [];
  let policies: PolicyStore;
  const users: UserRecord[] = [record(OWNER, ['admin'], true)];
  for (let i = 0; i < TARGETS; i++) {
    // Distinct role sets of the non-admin roles: bit j of (i + 1) holds role j.
    const roles = dir.roles.slice(1).filter((_, j) => ((i + 1) >> j) & 1);
    users.push(record(targetId(i), roles));
  }

  before(async () => {
    // A small cache, so that a few dozen answers over distinct role sets would fill it.
    policies = await createPolicyStore({
      dir: dir.path,
      logger,
      watch: false,
      pollMs: 0,
      decisionCacheMax: 200,
    });
  });
  after(async () => {
    policies.close();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    dir.remove();
  });

  const serve = (metrics: SidecarMetrics): Promise<string> =>
    servePipeline(
      {
        verifier: ownerVerifier,
        policies,
        directory: directoryOf(users),
        forwarder: okForwarder,
        metrics,
        logger,
      },
      servers,
    );

  const get = (base: string, path: string) =>
    fetch(`${base}${path}`, { headers: { authorization: 'Bearer t', 'x-tenant-id': T } });

  it('counts each of the 25 decisions of one answer with source="permissions"', async () => {
    const metrics = createSidecarMetrics();
    const base = await serve(metrics);
    const res = await get(base, `/v1/users/${targetId(0)}/permissions`);
    assert.equal(res.status, 200);
    const answer = (await res.json()) as { roles: { add: object; remove: object } };
    const roleEntries =
      Object.keys(answer.roles.add).length + Object.keys(answer.roles.remove).length;
    assert.equal(roleEntries, ROLES);
    // The gate (users:read), read, rename, change_avatar, delete, and one per role.
    assert.equal(await decisionsWith(metrics, 'source="permissions"'), ROLES + 5);
    assert.equal(await decisionsWith(metrics, 'source="request"'), 0);

    const tenantRes = await get(base, '/v1/users/permissions');
    assert.equal(tenantRes.status, 200);
    // The gate (users:list), list, create, and one per role.
    assert.equal(await decisionsWith(metrics, 'source="permissions"'), ROLES + 5 + ROLES + 3);

    assert.equal((await get(base, `/v1/users/${targetId(1)}`)).status, 200);
    assert.equal(await decisionsWith(metrics, 'source="request"'), 1);
  });

  it('lays an answer out sorting its target’s roles once, not again for each of its entries', () => {
    // Stored out of order, as a backend may keep them: every entry is a PUT of these roles with
    // one more or one less, and the context of each used to sort both sets again (42 sorts).
    const held = dir.roles.slice(1, 12).reverse();
    const target = record(targetId(TARGETS), held);
    const frame = {
      tenantId: T,
      principal: users[0] as UserRecord,
      known: dir.roles,
      version: 'v',
      enforced: true,
    };
    const { result: laid, sorts } = sortsDuring(() => unansweredUser(frame, target));
    assert.ok(sorts <= 1, `${sorts} sorts to lay out one answer`);
    // The order a target's roles are stored in changes no question the answer asks.
    const inOrder = unansweredUser(frame, record(targetId(TARGETS), [...held].sort()));
    assert.deepEqual(
      laid.pending.map((p) => p.request.context),
      inOrder.pending.map((p) => p.request.context),
    );
    assert.equal(laid.pending.length, ROLES + 4);
  });

  it("a flood of permissions answers does not evict the request path's cached decisions", async () => {
    policies.dropDecisions();
    const metrics = createSidecarMetrics();
    const base = await serve(metrics);
    // users:list of the tenant: a question no user-level permissions answer asks.
    assert.equal((await get(base, '/v1/users')).status, 200);
    assert.equal((await get(base, '/v1/users')).status, 200);
    assert.equal(await decisionCacheHits(metrics), 1, 'the second list is answered from cache');
    for (let i = 0; i < TARGETS; i++) {
      const r = await get(base, `/v1/users/${targetId(i)}/permissions`);
      assert.equal(r.status, 200);
    }
    assert.equal((await get(base, '/v1/users')).status, 200);
    assert.equal(
      await decisionCacheHits(metrics),
      2,
      `after ${TARGETS} permissions answers (${TARGETS * (ROLES + 5)} decisions) the list is still cached`,
    );
  });
});

describe('permissions through the fair gate', () => {
  const logger = createLogger('silent');
  const dir = writeWideRolePolicies(ROLES);
  let policies: PolicyStore;
  /** The same set decided by cedar-wasm (the compiler refuses it, as it would `like`). */
  let wasmPolicies: PolicyStore;
  const owner = record(OWNER, ['admin'], true);
  const viewer = record(targetId(900), ['viewer']);
  const target = record(targetId(901), ['user', 'role4']);

  before(async () => {
    policies = await createPolicyStore({ dir: dir.path, logger, watch: false, pollMs: 0 });
    wasmPolicies = await createPolicyStore({
      dir: dir.path,
      logger,
      watch: false,
      pollMs: 0,
      compileDecider: () => ({ unsupported: 'a test: cedar-wasm decides' }),
    });
  });
  after(() => {
    policies.close();
    wasmPolicies.close();
    dir.remove();
  });

  /** A gate that runs each step at once and records its tenant and cost. */
  function recordingGate(): Pick<FairGate, 'run'> & {
    steps: Array<{ tenant: string; cost: number }>;
  } {
    const steps: Array<{ tenant: string; cost: number }> = [];
    return {
      steps,
      async run(tenant, cost, work) {
        steps.push({ tenant, cost });
        return work();
      },
    };
  }

  const request = (principal: UserRecord, userId: string | undefined) => ({
    res: { writeHead: () => undefined, end: () => undefined } as unknown as ServerResponse,
    ex: { requestId: 'r', startedAt: 0n, principal } as Exchange,
    route: (
      matchRoute('GET', `/v1/users/${userId === undefined ? '' : `${userId}/`}permissions`) as {
        route: RouteSpec;
      }
    ).route,
    tenantId: T,
    userId,
    principal,
  });

  it('decides a compiled set’s answer a few decisions to a step of the tenant’s turn, keeping none', async () => {
    policies.dropDecisions();
    const fair = recordingGate();
    const metrics = createSidecarMetrics();
    const deps = {
      policies,
      directory: directoryOf([owner, target]),
      enforce: true,
      metrics,
      fair,
    };
    assert.equal(await answerPermissions(deps, request(owner, target.user.id)), 200);
    // The gate (users:read, not yet cached), then the answer's R + 4 decisions, a few a step.
    const answerSteps = (decisions: number) =>
      Array.from({ length: Math.ceil(decisions / DECISIONS_PER_STEP) }, (_, i) => ({
        tenant: T,
        cost: Math.min(DECISIONS_PER_STEP, decisions - i * DECISIONS_PER_STEP),
      }));
    assert.ok(ROLES + 4 > DECISIONS_PER_STEP, 'an answer takes more than one step');
    assert.deepEqual(fair.steps, [{ tenant: T, cost: 1 }, ...answerSteps(ROLES + 4)]);
    assert.equal(await decisionsWith(metrics, 'source="permissions"'), ROLES + 5);
    // Asked again: the gate is cached; the answer is decided again (a compiled decision costs
    // less than its cache key), in the same steps.
    let seen = fair.steps.length;
    assert.equal(await answerPermissions(deps, request(owner, target.user.id)), 200);
    assert.deepEqual(fair.steps.slice(seen), answerSteps(ROLES + 4));
    assert.equal(await decisionsWith(metrics, 'source="permissions"'), 2 * (ROLES + 5));
    // The tenant's answer: list, create, one per role.
    seen = fair.steps.length;
    assert.equal(await answerPermissions(deps, request(owner, undefined)), 200);
    assert.deepEqual(fair.steps.slice(seen), [{ tenant: T, cost: 1 }, ...answerSteps(ROLES + 2)]);
    assert.equal(await decisionsWith(metrics, 'source="permissions"'), 3 * (ROLES + 5) - 2);
  });

  it('answers on the set live at its end when a reload lands between its steps', async () => {
    const own = writeWideRolePolicies(ROLES);
    const store = await createPolicyStore({ dir: own.path, logger, watch: false, pollMs: 0 });
    try {
      let steps = 0;
      const fair: Pick<FairGate, 'run'> = {
        async run(_tenant, _cost, work) {
          // Between the answer's first and second step, a set that forbids granting role4.
          if (++steps === 3) {
            writeFileSync(join(own.path, 'role4.cedar'), ROLE4_KEPT);
            assert.equal(await store.reload('test'), 'success');
          }
          return work();
        },
      };
      const before = store.current().version;
      const res = capture();
      const deps = {
        policies: store,
        directory: directoryOf([owner, target, viewer]),
        enforce: true,
        metrics: createSidecarMetrics(),
        fair,
      };
      assert.equal(await answerPermissions(deps, { ...request(owner, viewer.user.id), res }), 200);
      assert.ok(steps > 3, `${steps} steps`);
      const answer = JSON.parse(res.text ?? '') as UserPermissions;
      assert.notEqual(answer.policy_version, before);
      assert.equal(answer.policy_version, store.current().version);
      assert.deepEqual(answer.roles.add['role4'], {
        allowed: false,
        notices: ['role4 is granted by hand.'],
        policies: ['role4-kept'],
      });
      assert.deepEqual(answer, userPermissions(store, true, T, owner, viewer));
    } finally {
      store.close();
      own.remove();
    }
  });

  it('with cedar-wasm deciding, makes each uncached decision its own one-unit step, none when cached', async () => {
    const fair = recordingGate();
    const metrics = createSidecarMetrics();
    const deps = {
      policies: wasmPolicies,
      directory: directoryOf([owner, target]),
      enforce: true,
      metrics,
      fair,
    };
    assert.equal(await answerPermissions(deps, request(owner, target.user.id)), 200);
    // One step per decision not yet cached (questions of one class share a decision).
    const steps = fair.steps.length;
    assert.ok(steps > ROLES / 2 && steps <= ROLES + 5, `${steps} steps`);
    assert.ok(fair.steps.every((s) => s.tenant === T && s.cost === 1));
    assert.equal(await decisionsWith(metrics, 'source="permissions"'), ROLES + 5);
    // Asked again: every decision is in the permissions cache; nothing waits.
    assert.equal(await answerPermissions(deps, request(owner, target.user.id)), 200);
    assert.equal(fair.steps.length, steps);
    assert.equal(await decisionsWith(metrics, 'source="permissions"'), 2 * (ROLES + 5));
  });

  it('costs one decision, not twenty-five, to a caller the gate refuses', async () => {
    policies.dropDecisions();
    const fair = recordingGate();
    const deps = {
      policies,
      directory: directoryOf([owner, viewer, target]),
      enforce: true,
      metrics: createSidecarMetrics(),
      fair,
    };
    // A viewer may read others, so the gate opens for a read; refuse with a user outside T.
    const outsider = record(targetId(902), []);
    outsider.user.tenant_id = 'EEEEEEEE-0000-4000-8000-000000000000';
    await assert.rejects(
      answerPermissions(deps, request(outsider, target.user.id)),
      (e: unknown) => {
        assert.ok(e instanceof CedargateError);
        assert.equal(e.code, 'forbidden');
        return true;
      },
    );
    assert.equal(fair.steps.length, 1);
  });
});
