/**
 * `policy replay`'s reading of a decision log: which lines are decisions, which are skipped and
 * which are malformed (and why); and the grouping of the changed answers into classes with their
 * counts and request ids.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createReplay,
  parseDecisionLine,
  renderReplay,
} from '../../../../src/policy/authoring/replay.js';
import type { AuthzRequest, Decision } from '../../../../src/policy/types.js';

const target = {
  type: 'User',
  id: 'u-2',
  tenantId: 't1',
  roles: ['user'],
  isOwner: false,
} as const;
const request: AuthzRequest = {
  principal: { id: 'u-admin', tenantId: 't1', roles: ['admin'], isOwner: false },
  action: 'users:update',
  resource: target,
  context: {
    rolesRequested: ['admin', 'user'],
    rolesAdded: ['admin'],
    rolesRemoved: [],
    nameChanges: false,
    avatarChanges: false,
  },
};

const line = (fields: Record<string, unknown>): string =>
  JSON.stringify({
    level: 30,
    time: '2026-12-01T10:00:00.000Z',
    name: 'cedargate',
    component: 'decision',
    request_id: 'rid-1',
    decision: 'deny',
    policies: ['only-owner-grants-admin'],
    policy_version: 'v-live',
    request,
    status: 403,
    msg: 'decision',
    ...fields,
  });

describe('policy replay: reading a log line', () => {
  it('a decision line gives the request, the answer and the version', () => {
    const p = parseDecisionLine(line({}));
    assert.equal(p.kind, 'decision');
    if (p.kind !== 'decision') return;
    assert.deepEqual(p.logged, {
      requestId: 'rid-1',
      // A line without request_uid (logged before there was one) is told apart by its request_id.
      requestUid: 'rid-1',
      request,
      decision: 'deny',
      policies: ['only-owner-grants-admin'],
      policyVersion: 'v-live',
    });
  });

  it('shadow_deny replays as deny (the policies denied it, shadow mode forwarded it)', () => {
    const p = parseDecisionLine(line({ decision: 'shadow_deny' }));
    assert.ok(p.kind === 'decision' && p.logged.decision === 'deny');
  });

  it('skips other messages, blank lines and requests refused before any decision', () => {
    assert.deepEqual(parseDecisionLine('{"level":30,"msg":"policies loaded"}'), {
      kind: 'skipped',
      why: 'not a decision',
    });
    assert.deepEqual(parseDecisionLine('   '), { kind: 'skipped', why: 'not a decision' });
    assert.deepEqual(parseDecisionLine(line({ decision: 'none', request: undefined })), {
      kind: 'skipped',
      why: 'undecided',
    });
  });

  const malformed: [string, string, RegExp][] = [
    ['not JSON', '{"msg":"decision",', /^not JSON$/],
    ['an array', '[1,2]', /^not a JSON object$/],
    ['an unknown decision', line({ decision: 'maybe' }), /^decision is "maybe"$/],
    ['no request id', line({ request_id: undefined }), /^no request_id$/],
    ['policies not a list', line({ policies: 'x' }), /^policies is not a list$/],
    ['a line from before replay', line({ request: undefined }), /before replay/],
    [
      'an unknown action',
      line({ request: { ...request, action: 'users:fly' } }),
      /unknown action "users:fly"/,
    ],
    [
      'roles not strings',
      line({ request: { ...request, principal: { ...request.principal, roles: [1] } } }),
      /^request: principal roles is not a list of strings$/,
    ],
    [
      'owner flag not a boolean',
      line({ request: { ...request, resource: { ...target, isOwner: 'no' } } }),
      /^request: resource isOwner is not a boolean$/,
    ],
    [
      'a resource of the wrong type',
      line({ request: { ...request, resource: { type: 'Tenant', id: 't1' } } }),
      /resource type of users:update must be User/,
    ],
    [
      'a context value of another type',
      line({ request: { ...request, context: { nameChanges: 3 } } }),
      /context\.nameChanges is not a string, boolean or list of strings/,
    ],
  ];
  for (const [what, text, reason] of malformed) {
    it(`malformed: ${what}`, () => {
      const p = parseDecisionLine(text);
      assert.equal(p.kind, 'malformed');
      if (p.kind === 'malformed') assert.match(p.reason, reason);
    });
  }
});

describe('policy replay: classes of changed answers', () => {
  const allowBy = (...policies: string[]): Omit<Decision, 'cached'> => ({
    allowed: true,
    policies,
    notices: [],
    errors: [],
  });
  // The candidate: admins may grant admin (allow); everything else as logged.
  const decide = (r: AuthzRequest): Omit<Decision, 'cached'> =>
    r.action === 'users:update' && r.principal.roles.includes('admin')
      ? allowBy('admins-manage-users')
      : r.action === 'users:list'
        ? allowBy('tenant-members-list-users')
        : { allowed: false, policies: [], notices: [], errors: [] };

  it('groups the changed requests, counts them and keeps their ids; counts what it skipped', () => {
    const replay = createReplay({ against: 'cand', candidateVersion: 'v-cand', decide });
    replay.addLine(line({ request_id: 'g1' }));
    replay.addLine('not json at all');
    replay.addLine(
      line({
        request_id: 'g2',
        request: { ...request, resource: { ...target, id: 'u-3', roles: ['viewer'] } },
      }),
    );
    replay.addLine('{"msg":"sidecar listening"}');
    replay.addLine(
      line({
        request_id: 'same',
        decision: 'allow',
        policies: ['tenant-members-list-users'],
        request: {
          ...request,
          action: 'users:list',
          resource: { type: 'Tenant', id: 't1' },
          context: {},
        },
      }),
    );
    replay.addLine(line({ request_id: 'none', decision: 'none', request: undefined }));
    replay.addLine(line({ request_id: 'old', request: undefined }));
    const r = replay.report();
    assert.equal(r.lines, 7);
    assert.equal(r.replayed, 3);
    assert.equal(r.changed, 2);
    assert.deepEqual(r.skipped, { notDecision: 1, undecided: 1 });
    assert.equal(r.malformed.count, 2);
    assert.deepEqual(
      r.malformed.first.map((m) => m.line),
      [2, 7],
    );
    assert.deepEqual(r.loggedVersions, { 'v-live': 3 });
    assert.equal(r.classes.length, 1);
    const c = r.classes[0];
    assert.ok(c);
    assert.equal(c.kind, 'decision');
    assert.equal(c.relation, 'same-tenant');
    assert.deepEqual(c.requestIds, ['g1', 'g2']);
    assert.equal(c.count, 2);
    assert.deepEqual(c.before, { decision: 'deny', policies: ['only-owner-grants-admin'] });
    assert.deepEqual(c.after.policies, ['admins-manage-users']);
    // What the two share (not the resource's role, which differs).
    assert.deepEqual(c.description.principal, ['holds admin', 'is not the owner']);
    assert.deepEqual(c.description.resource, [
      'another user of the same tenant',
      'is not the owner',
    ]);
    assert.ok(c.description.context.includes('rolesAdded has admin'));
    assert.match(
      c.summary,
      /^users:update by a user who holds admin and is not the owner on another user of the same tenant who is not the owner with .*: deny → allow, allowed by admins-manage-users; was denied by only-owner-grants-admin$/,
    );
    const text = renderReplay(r, 'day.log');
    assert.match(text, /2 logged requests would be answered differently, in 1 class:/);
    assert.match(text, /^ {3}2 requests: g1, g2$/m);
    assert.match(text, /2 malformed lines skipped \(line 2: not JSON; line 7: no request/);
  });

  it('keeps at most maxIdsPerClass ids, the count stays exact', () => {
    const replay = createReplay({ against: 'c', candidateVersion: 'v', decide, maxIdsPerClass: 2 });
    for (const id of ['a', 'b', 'c', 'd']) replay.addLine(line({ request_id: id }));
    const c = replay.report().classes[0];
    assert.equal(c?.count, 4);
    assert.deepEqual(c?.requestIds, ['a', 'b']);
    assert.match(renderReplay(replay.report(), '-'), /4 requests: a, b and 2 more/);
  });

  it('two lines with one client request_id are two requests, told apart by request_uid (issue 22)', () => {
    const replay = createReplay({ against: 'c', candidateVersion: 'v', decide });
    replay.addLine(line({ request_id: 'dup', request_uid: 'uid-1' }));
    replay.addLine(line({ request_id: 'dup', request_uid: 'uid-2' }));
    // A line logged before request_uid existed is still read, by its request_id.
    replay.addLine(line({ request_id: 'older' }));
    const c = replay.report().classes[0];
    assert.equal(c?.count, 3);
    assert.deepEqual(c?.requestIds, ['dup', 'dup', 'older']);
    assert.deepEqual(c?.requestUids, ['uid-1', 'uid-2', 'older']);
    assert.match(
      renderReplay(replay.report(), '-'),
      /3 requests: dup \(uid-1\), dup \(uid-2\), older/,
    );
  });

  it('the text names the first 20 ids of a class; --json keeps up to 1000 by default', () => {
    const replay = createReplay({ against: 'c', candidateVersion: 'v', decide });
    for (let i = 0; i < 1005; i++) replay.addLine(line({ request_id: `id${i}` }));
    const r = replay.report();
    assert.equal(r.classes[0]?.count, 1005);
    assert.equal(r.classes[0]?.requestIds.length, 1000);
    assert.match(renderReplay(r, '-'), /1005 requests: id0, id1, .*, id19 and 985 more$/m);
  });

  it('a denial by other policies is its own kind of change; the same answer is none', () => {
    const replay = createReplay({
      against: 'c',
      candidateVersion: 'v',
      decide: () => ({ allowed: false, policies: ['another-forbid'], notices: ['n'], errors: [] }),
    });
    replay.addLine(line({ request_id: 'p1' }));
    replay.addLine(line({ request_id: 'same', policies: ['another-forbid'] }));
    const r = replay.report();
    assert.equal(r.changed, 1);
    assert.equal(r.classes[0]?.kind, 'policies');
    assert.deepEqual(r.classes[0]?.requestIds, ['p1']);
  });
});

describe('policy replay: reads decided without the target’s facts', () => {
  // A read the sidecar decided on the bare target (no policy of the logged set read more of it
  // than its id and tenant): its roles and owner flag in the line are empty, not the target's.
  const bareRead: AuthzRequest = {
    principal: { id: 'u-1', tenantId: 't1', roles: ['user'], isOwner: false },
    action: 'users:read',
    resource: { type: 'User', id: 'u-owner', tenantId: 't1', roles: [], isOwner: false },
    context: {},
  };
  const unreadLine = (id: string) =>
    line({
      request_id: id,
      decision: 'allow',
      policies: ['tenant-members-read-users'],
      request: bareRead,
      target_facts: 'unread',
    });
  const allowRead = (): Omit<Decision, 'cached'> => ({
    allowed: true,
    policies: ['tenant-members-read-users'],
    notices: [],
    errors: [],
  });

  it('the line says so: the logged decision carries targetUnread', () => {
    const p = parseDecisionLine(unreadLine('b1'));
    assert.ok(p.kind === 'decision' && p.logged.targetUnread === true);
  });

  it('a candidate that reads the target of a read: not decided, counted in unread, exit-worthy', () => {
    let decided = 0;
    const replay = createReplay({
      against: 'c',
      candidateVersion: 'v',
      decide: () => (decided++, allowRead()),
      targetReads: ['users:read', 'users:update', 'users:delete'],
    });
    replay.addLine(unreadLine('b1'));
    replay.addLine(unreadLine('b2'));
    const r = replay.report();
    assert.equal(decided, 0);
    assert.deepEqual(r.unread, { count: 2, firstRequestId: 'b1' });
    assert.equal(r.changed, 0);
    assert.match(
      renderReplay(r, 'day.log'),
      /^2 logged requests were decided without the target's facts \(no policy of the logged set read them\); the candidate's policies read them: not replayed \(e\.g\. b1\)$/m,
    );
  });

  it('a candidate that reads nothing more of it, or a line with the facts: replayed as before', () => {
    let decided = 0;
    const replay = createReplay({
      against: 'c',
      candidateVersion: 'v',
      decide: () => (decided++, allowRead()),
      targetReads: ['users:update', 'users:delete'],
    });
    replay.addLine(unreadLine('b1'));
    const withFacts = createReplay({
      against: 'c',
      candidateVersion: 'v',
      decide: () => (decided++, allowRead()),
    });
    withFacts.addLine(line({ request_id: 'f1', request: { ...bareRead }, decision: 'allow' }));
    assert.equal(decided, 2);
    assert.deepEqual(replay.report().unread, { count: 0, firstRequestId: null });
    assert.deepEqual(withFacts.report().unread, { count: 0, firstRequestId: null });
  });

  it('without targetReads the candidate is taken to read the target of every user action', () => {
    const replay = createReplay({ against: 'c', candidateVersion: 'v', decide: allowRead });
    replay.addLine(unreadLine('b1'));
    assert.equal(replay.report().unread.count, 1);
  });
});
