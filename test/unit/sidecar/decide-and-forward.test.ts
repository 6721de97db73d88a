/**
 * The decide-and-write loop on its own, over a fake forwarder and a fake directory (the real
 * policy store and shipped policies): what is forwarded after an allow, that nothing denied is,
 * the client's If-Match checked against a fresh copy before 412, re-decisions after the
 * backend's 412 ending in 503, what a write tells the directory, and which reads look their
 * target up (only those whose policies read more of it than its id and tenant).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { parseIfMatch } from '../../../src/common/if-match.js';
import { etagOf } from '../../../src/common/user.js';
import {
  CedargateError,
  UnauthenticatedError,
  UnavailableError,
  UpstreamTimeoutError,
} from '../../../src/errors.js';
import type { PolicyStore } from '../../../src/sidecar/authz/policy-store.js';
import {
  MAX_REDECISIONS,
  createDecideAndForward,
  createScreenWrite,
  type CheckedRequest,
  type DecideAndForwardDeps,
} from '../../../src/sidecar/decide-and-forward.js';
import type { Exchange } from '../../../src/sidecar/decision-log.js';
import { createSidecarMetrics } from '../../../src/sidecar/metrics.js';
import type { ForwardOutcome, ForwardPlan } from '../../../src/sidecar/proxy.js';
import { matchRoute } from '../../../src/sidecar/routes.js';
import type { UserRecord } from '../../../src/sidecar/user-facts.js';
import {
  OWNER,
  T,
  U1,
  U2,
  directoryOf,
  fakeDirectory,
  policyStoreOver,
  recordOf,
  shippedPolicyStore,
  userOf,
} from '../../helpers/sidecar-fakes.js';
import { OWNER_HIDDEN } from '../../helpers/small-policies.js';
import { tempDirs } from '../../helpers/temp-dirs.js';

const MISSING = 'DDDDDDDD-0000-4000-8000-000000000000';

/** The users looked up other than the principal (the fake's calls, in order). */
function lookedUp(directory: { calls: { gets: Array<{ id: string }> } }): string[] {
  return directory.calls.gets.map((g) => g.id);
}

const req = {} as IncomingMessage;
const res = {} as ServerResponse;

function routeOf(method: string, path: string) {
  const m = matchRoute(method, path);
  assert.ok(m, `${method} ${path}`);
  return m.route;
}

function checked(method: string, userId: string | undefined, ifMatch?: string): CheckedRequest {
  const path = userId === undefined ? '/v1/users' : `/v1/users/${userId}`;
  const body = method === 'PUT' ? { name: 'New name' } : undefined;
  const ex: Exchange = { requestId: 'rid-1', startedAt: process.hrtime.bigint() };
  return {
    req,
    res,
    ex,
    route: routeOf(method, path),
    tenantId: T,
    userId,
    principal: recordOf(OWNER, ['admin'], true),
    path,
    body: body === undefined ? undefined : Buffer.from(JSON.stringify(body)),
    input: body,
    clientIfMatch: parseIfMatch(ifMatch),
  };
}

function code(expected: string) {
  return (e: unknown) => e instanceof CedargateError && e.code === expected;
}

describe('decide and forward', () => {
  let policies: PolicyStore;
  before(async () => {
    policies = await shippedPolicyStore();
  });
  after(() => policies.close());

  function setup(options: {
    policies?: PolicyStore;
    outcomes?: ForwardOutcome[];
    principal?: string;
    enforce?: boolean;
    onDecided?: Parameters<typeof createDecideAndForward>[0]['onDecided'];
  }) {
    const directory = fakeDirectory();
    const metrics = createSidecarMetrics();
    const plans: ForwardPlan[] = [];
    let authentications = 0;
    const principalId = options.principal ?? OWNER;
    const outcomes = [...(options.outcomes ?? [])];
    const run = createDecideAndForward({
      policies: options.policies ?? policies,
      directory,
      metrics,
      enforce: options.enforce ?? true,
      forwarder: {
        async forward(_req, _res, plan) {
          plans.push(plan);
          return outcomes.shift() ?? { kind: 'answered', status: 200 };
        },
      },
      async authenticate() {
        authentications++;
        return (await directory.get(T, principalId)) as UserRecord;
      },
      ...(options.onDecided === undefined ? {} : { onDecided: options.onDecided }),
    });
    return { run, directory, metrics, plans, authentications: () => authentications };
  }

  it('an allowed PUT is forwarded once: canonical path, subject, decided body, the ETag it saw', async () => {
    const s = setup({});
    const r = checked('PUT', U1);
    assert.equal(await s.run(r), 200);
    assert.equal(s.plans.length, 1);
    const plan = s.plans[0] as ForwardPlan;
    assert.equal(plan.path, `/v1/users/${U1}`);
    assert.equal(plan.tenantId, T);
    assert.equal(plan.subject, OWNER);
    assert.equal(plan.requestId, 'rid-1');
    assert.equal(plan.body?.toString(), '{"name":"New name"}');
    assert.equal(plan.ifMatch, etagOf({ id: U1, version: 1 }));
    assert.equal(plan.retryOn412, true);
    assert.deepEqual(plan.responseHeaders, {});
    assert.equal(r.ex.decision?.allowed, true);
    // A write that waited is decided on the principal as it is now.
    assert.equal(s.authentications(), 1);
  });

  it('a PUT acknowledged by the backend: its answer is kept through the one converter, or the user forgotten', async () => {
    const s = setup({});
    await s.run(checked('PUT', U1));
    const plan = s.plans[0] as ForwardPlan;
    assert.equal(plan.bufferResponse, true);
    const answer = { ...userOf(U1, ['user']), avatar: null, name: 'New name' };
    const etag = etagOf({ id: U1, version: 2 });
    await plan.beforeRespond?.(200, { etag, body: Buffer.from(JSON.stringify(answer)) });
    assert.equal(s.directory.calls.remembered[0]?.record.user.name, 'New name');
    assert.equal(s.directory.calls.remembered[0]?.record.etag, etag);
    await plan.beforeRespond?.(200, { etag, body: Buffer.from('{"id":1}') });
    assert.deepEqual(s.directory.calls.invalidated, [U1]);
    // A refused write changes nothing.
    await plan.beforeRespond?.(409, { etag: undefined, body: Buffer.from('{}') });
    assert.deepEqual(s.directory.calls.invalidated, [U1]);
    assert.equal(s.directory.calls.remembered.length, 1);
  });

  for (const method of ['PUT', 'DELETE']) {
    it(`a ${method} the backend answered 503 (it may have been applied) → that answer, sent once; the user forgotten`, async () => {
      const s = setup({ outcomes: [{ kind: 'answered', status: 503 }] });
      assert.equal(await s.run(checked(method, U1)), 503);
      // Never sent again by the sidecar: the client decides, told it may have been applied.
      assert.equal(s.plans.length, 1);
      await s.plans[0]?.beforeRespond?.(503, { etag: undefined, body: Buffer.from('{}') });
      assert.deepEqual(s.directory.calls.invalidated, [U1]);
      assert.equal(s.directory.calls.remembered.length, 0);
    });
  }

  it('denied and enforced → 403 forbidden naming the action; nothing is forwarded', async () => {
    const s = setup({ principal: U2 });
    const r = checked('PUT', U1);
    await assert.rejects(s.run(r), (e: unknown) => {
      assert.ok(code('forbidden')(e));
      assert.equal((e as CedargateError).details?.['action'], 'users:update');
      return true;
    });
    assert.equal(s.plans.length, 0);
    assert.equal(r.ex.decision?.allowed, false);
  });

  it('denied in shadow mode → forwarded, marked with the decision header', async () => {
    const s = setup({ principal: U2, enforce: false });
    const r = checked('PUT', U1);
    assert.equal(await s.run(r), 200);
    assert.deepEqual(s.plans[0]?.responseHeaders, { 'x-cedargate-decision': 'deny' });
    assert.equal(r.ex.shadowDeny, true);
  });

  it('the client If-Match names a newer version than the cached one → one fresh read, then forwarded', async () => {
    const s = setup({});
    assert.equal(await s.run(checked('PUT', U1, etagOf({ id: U1, version: 2 }))), 200);
    assert.equal(s.plans[0]?.ifMatch, etagOf({ id: U1, version: 2 }));
    assert.deepEqual(
      s.directory.calls.gets.filter((g) => g.id === U1),
      [
        { id: U1, fresh: false },
        { id: U1, fresh: true },
      ],
    );
  });

  it('the client If-Match matches no version even after a fresh read → 412, nothing forwarded', async () => {
    const s = setup({});
    await assert.rejects(
      s.run(checked('PUT', U1, etagOf({ id: U1, version: 9 }))),
      code('precondition_failed'),
    );
    assert.equal(s.plans.length, 0);
  });

  it('the backend 412s every attempt, no If-Match → decided again on each new version, then 503 with Retry-After', async () => {
    const retries: ForwardOutcome[] = Array.from({ length: 10 }, () => ({ kind: 'retry' }));
    const s = setup({ outcomes: retries });
    await assert.rejects(s.run(checked('PUT', U1)), (e: unknown) => {
      assert.ok(e instanceof UnavailableError);
      assert.equal(e.code, 'unavailable');
      assert.equal(e.retryAfterSeconds, 1);
      return true;
    });
    assert.equal(s.plans.length, MAX_REDECISIONS + 1);
    assert.equal(new Set(s.plans.map((p) => p.ifMatch)).size, MAX_REDECISIONS + 1);
    // Every re-decision reads the principal again and forgets the stale target.
    assert.equal(s.authentications(), MAX_REDECISIONS + 1);
    assert.equal(s.directory.calls.invalidated.length, MAX_REDECISIONS + 1);
  });

  it('one lost race, then the write goes through on the new version', async () => {
    const s = setup({ outcomes: [{ kind: 'retry' }] });
    assert.equal(await s.run(checked('DELETE', U1)), 200);
    assert.deepEqual(
      s.plans.map((p) => p.ifMatch),
      [etagOf({ id: U1, version: 1 }), etagOf({ id: U1, version: 2 })],
    );
  });

  it('a write that failed on the way back → its error; the user forgotten; counted', async () => {
    const error = new UpstreamTimeoutError();
    const s = setup({ outcomes: [{ kind: 'failed', error }] });
    await assert.rejects(s.run(checked('DELETE', U1)), (e: unknown) => e === error);
    assert.deepEqual(s.directory.calls.invalidated, [U1]);
    const counted = (await s.metrics.upstreamErrors.get()).values;
    assert.deepEqual(
      counted.map((v) => [v.labels['kind'], v.value]),
      [['timeout', 1]],
    );
  });

  it('a read is decided on the principal already established, and an unknown target is 404', async () => {
    const s = setup({});
    const r = checked('GET', U1);
    // The request carries its principal; the decision log's copy is written, never read back.
    r.ex.principal = recordOf(U2, []);
    assert.equal(await s.run(r), 200);
    assert.equal(r.ex.decided?.request.principal.id, OWNER);
    assert.equal(s.authentications(), 0);
    assert.equal(s.plans[0]?.ifMatch, undefined);
    assert.equal(s.plans[0]?.beforeRespond, undefined);
  });

  it("a read no policy reads the target of: not looked up, decided on the bare target; an unknown one is the backend's to answer", async () => {
    const s = setup({});
    const r = checked('GET', U1);
    assert.equal(await s.run(r), 200);
    assert.deepEqual(lookedUp(s.directory), []);
    assert.deepEqual(r.ex.decided?.request.resource, {
      type: 'User',
      id: U1,
      tenantId: T,
      roles: [],
      isOwner: false,
    });
    assert.equal(r.ex.targetFacts, 'unread');
    assert.equal(s.plans[0]?.retryOn412, false);
    assert.equal(s.plans[0]?.ifMatch, undefined);
    // Not held by the backend: forwarded all the same, the backend answers its 404.
    assert.equal(await s.run(checked('GET', MISSING)), 200);
    assert.equal(s.plans.length, 2);
    assert.deepEqual(lookedUp(s.directory), []);
  });

  it('a read is looked up as before with an If-Match, of oneself, or with a candidate in shadow', async () => {
    const withIfMatch = setup({});
    await withIfMatch.run(checked('GET', U1, etagOf({ id: U1, version: 1 })));
    assert.deepEqual(lookedUp(withIfMatch.directory), [U1]);
    const self = setup({});
    const r = checked('GET', OWNER);
    await self.run(r);
    assert.deepEqual(lookedUp(self.directory), [OWNER]);
    assert.equal(r.ex.targetFacts, undefined);
    const shadow = setup({ onDecided: () => undefined });
    await shadow.run(checked('GET', U1));
    assert.deepEqual(lookedUp(shadow.directory), [U1]);
  });

  describe('a set whose policies read the target of a read', () => {
    const dirs = tempDirs('cedargate-target-reads-');
    let reading: PolicyStore;
    before(async () => {
      const dir = dirs.copyOfShipped();
      writeFileSync(join(dir, 'owner-hidden.cedar'), OWNER_HIDDEN);
      reading = await policyStoreOver(dir);
    });
    after(() => reading.close());

    it('looks the target up: decided on its facts; an unknown target is 404 not_found', async () => {
      const s = setup({ policies: reading, principal: U2 });
      const r = checked('GET', OWNER);
      r.principal = recordOf(U2, ['user']);
      await assert.rejects(s.run(r), code('forbidden'));
      assert.deepEqual(r.ex.decision?.policies, ['owner-hidden']);
      assert.deepEqual(lookedUp(s.directory), [OWNER]);
      assert.equal(s.plans.length, 0);
      const missing = checked('GET', MISSING);
      await assert.rejects(s.run(missing), (e: unknown) => {
        assert.ok(code('not_found')(e));
        assert.equal((e as CedargateError).message, 'no such user in this tenant');
        return true;
      });
      assert.equal(s.plans.length, 0);
    });

    it('a reload between the plan and the decision: the target looked up and decided again', async () => {
      // The plan sees a set that reads nothing of it; the set that decides is another.
      let calls = 0;
      const racing: PolicyStore = Object.create(reading) as PolicyStore;
      racing.current = () => {
        const live = reading.current();
        return ++calls === 1 ? { ...live, version: 'before-the-reload', targetReads: [] } : live;
      };
      const s = setup({ policies: racing, principal: U2 });
      const r = checked('GET', OWNER);
      r.principal = recordOf(U2, ['user']);
      await assert.rejects(s.run(r), code('forbidden'));
      assert.deepEqual(lookedUp(s.directory), [OWNER]);
      assert.equal(r.ex.decided?.request.resource.type, 'User');
      assert.equal(r.ex.targetFacts, undefined);
      assert.equal(s.plans.length, 0);
    });
  });

  it('a list is decided on the tenant: no target, no If-Match', async () => {
    const s = setup({});
    const r = checked('GET', undefined);
    assert.equal(await s.run(r), 200);
    assert.equal(s.plans[0]?.retryOn412, false);
    assert.equal(s.plans[0]?.path, '/v1/users');
  });

  it('keeps what the decision read for the log, and tells onDecided before anything is forwarded', async () => {
    const told: { requestId: string; action: string; allowed: boolean; version: string }[] = [];
    let plansWhenTold = -1;
    const s = setup({
      principal: U2,
      enforce: false,
      onDecided: (d) => {
        plansWhenTold = s.plans.length;
        told.push({
          requestId: d.requestId,
          action: d.request.action,
          allowed: d.decision.allowed,
          version: d.policyVersion,
        });
      },
    });
    const r = checked('PUT', U1);
    await s.run(r);
    assert.equal(plansWhenTold, 0);
    const version = policies.current().version;
    assert.deepEqual(told, [
      { requestId: 'rid-1', action: 'users:update', allowed: false, version },
    ]);
    assert.equal(r.ex.decided?.policyVersion, version);
    // Facts and ids only: the target's name is read to build nameChanges, and stays there.
    assert.deepEqual(r.ex.decided?.request, {
      principal: { id: U2, tenantId: T, roles: ['user'], isOwner: false },
      action: 'users:update',
      resource: { type: 'User', id: U1, tenantId: T, roles: ['user'], isOwner: false },
      context: {
        rolesRequested: ['user'],
        rolesAdded: [],
        rolesRemoved: [],
        nameChanges: true,
        avatarChanges: false,
      },
    });
  });
});

/**
 * A write is decided at the write screen, then again at the head of its user's write queue on
 * the facts as they are then. The head asks the screen's question again (without building it)
 * only when it holds the very records the screen decided on; each test changes one fact in
 * between — as a request waiting in the queue would see it change — and the head must decide
 * on the new one.
 */
describe('the write screen, then the queue head: the same question only on the same facts', () => {
  const ALICE = 'EEEEEEEE-0000-4000-8000-000000000001';
  const { copyOfShipped } = tempDirs('cedargate-screened-');
  const stores: PolicyStore[] = [];
  after(() => stores.forEach((p) => p.close()));

  /**
   * Alice, an admin, moves U1 from user to viewer (the shipped policies allow it). `warm`: the
   * same write was decided before, so the screen finds its decision in the cache.
   */
  async function world(warm = false) {
    const dir = copyOfShipped();
    const policies = await policyStoreOver(dir);
    stores.push(policies);
    let asks = 0;
    const counted: PolicyStore = {
      ...policies,
      ask: (request, source) => {
        asks++;
        return policies.ask(request, source);
      },
    };
    const directory = directoryOf([recordOf(ALICE, ['admin']), recordOf(U1, ['user'])]);
    let revoked = false;
    const plans: ForwardPlan[] = [];
    const metrics = createSidecarMetrics();
    const deps: DecideAndForwardDeps = {
      policies: counted,
      directory,
      metrics,
      enforce: true,
      forwarder: {
        async forward(_req, _res, plan) {
          plans.push(plan);
          return { kind: 'answered', status: 200 };
        },
      },
      async authenticate() {
        if (revoked)
          throw new UnauthenticatedError('the token was revoked', { category: 'revoked' });
        return (await directory.get(T, ALICE)) as UserRecord;
      },
    };
    const r: CheckedRequest = {
      ...checked('PUT', U1),
      principal: (await directory.get(T, ALICE)) as UserRecord,
      input: { roles: ['viewer'] },
      body: Buffer.from('{"roles":["viewer"]}'),
    };
    const screen = createScreenWrite(deps);
    if (warm) await screen({ ...r, ex: { requestId: 'rid-0', startedAt: 0n } });
    asks = 0;
    // The screen lets it through: it waits in the queue with what the screen asked.
    await screen(r);
    assert.equal(asks, 1);
    assert.equal(r.screenMissed, !warm);
    return {
      dir,
      policies,
      directory,
      plans,
      metrics,
      r,
      asks: () => asks,
      revoke: () => void (revoked = true),
      head: () => createDecideAndForward(deps)(r),
    };
  }

  it('nothing changed: the head finds the screen’s decision again without asking anew, and forwards once', async () => {
    const w = await world();
    assert.equal(await w.head(), 200);
    assert.equal(w.asks(), 1, 'the head built and asked the question again');
    assert.equal(w.plans.length, 1);
    assert.deepEqual(w.r.ex.decision && [w.r.ex.decision.allowed, w.r.ex.decision.cached], [
      true,
      true,
    ]);
    // Counted once, as the miss the screen paid.
    const counted = await w.metrics.registry.getSingleMetricAsString('cedargate_decisions_total');
    assert.match(counted, /action="users:update",result="allow",source="request"} 1$/m);
  });

  it('a reload between the screen and the head: decided on the new set → 403, not forwarded', async () => {
    // The screen's answer came from the cache: the head must not take it for the new set's.
    const w = await world(true);
    writeFileSync(
      join(w.dir, 'frozen.cedar'),
      '@id("roles-frozen")\n@notice("Roles are frozen.")\nforbid (principal, action == Cedargate::Action::"users:update", resource)\nwhen { !context.rolesAdded.isEmpty() };\n',
    );
    assert.equal(await w.policies.reload('test'), 'success');
    await assert.rejects(w.head(), (e: unknown) => {
      assert.ok(e instanceof CedargateError && e.code === 'forbidden', String(e));
      assert.deepEqual(e.notices, ['Roles are frozen.']);
      return true;
    });
    assert.equal(w.plans.length, 0);
    assert.equal(w.r.ex.decided?.policyVersion, w.policies.current().version);
  });

  it('the principal demoted between the screen and the head → 403, not forwarded', async () => {
    const w = await world();
    w.directory.put(recordOf(ALICE, ['user']));
    await assert.rejects(w.head(), code('forbidden'));
    assert.equal(w.plans.length, 0);
    assert.deepEqual(w.r.ex.decided?.request.principal.roles, ['user']);
  });

  it('the target changed between the screen and the head (now the owner) → 403, not forwarded', async () => {
    const w = await world();
    w.directory.put(recordOf(U1, ['user'], true));
    await assert.rejects(w.head(), code('forbidden'));
    assert.equal(w.plans.length, 0);
    assert.equal(
      w.r.ex.decided?.request.resource.type === 'User' && w.r.ex.decided.request.resource.isOwner,
      true,
    );
  });

  it('the credential revoked between the screen and the head → 401, not forwarded', async () => {
    const w = await world();
    w.revoke();
    await assert.rejects(w.head(), code('unauthenticated'));
    assert.equal(w.plans.length, 0);
  });
});
