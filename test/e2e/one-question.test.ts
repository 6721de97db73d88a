/**
 * One question, asked the same way everywhere (issue 24): random facts and inputs — the
 * principal's roles or the owner, the target's roles, the owner or oneself, the action, an
 * update's patch or a new user's roles — asked of every entry point that promises to decide as
 * the sidecar does: the live pipeline over real HTTP (the answer, and the decision line it
 * logged), the permissions answer, the playground's decide API, and `policy explain` (its `run`,
 * in this process). All must give the same decision, determining policies and notices.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { run as runExplain } from '../../src/cli/policy/explain.js';
import type { User } from '../../src/common/user.js';
import { DEFAULT_DENY_NOTICE } from '../../src/config.js';
import type { Explanation } from '../../src/policy/authoring/explain.js';
import { USERS_ACTIONS, type UsersAction } from '../../src/policy/types.js';
import type { DecideAnswer, LiveSources } from '../../src/sidecar/admin/playground.js';
import type { Permission } from '../../src/sidecar/permissions.js';
import { waitFor } from '../helpers/net.js';
import { jsonLogLines, tempDir } from '../helpers/process.js';
import type { Reply, Stack } from '../helpers/stack.js';
import { startTenantStack, type Member, type TenantStack } from '../helpers/tenant-stack.js';

const ROLES = ['admin', 'user', 'viewer'];
const AVATAR =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=';
/** Draws per run: each asks five entry points, two of them through a real `start`. */
const RUNS = 15;

/** The facts and the input of one question. */
interface Drawn {
  action: UsersAction;
  principalOwner: boolean;
  principalRoles: string[];
  target: 'self' | 'owner' | 'other';
  targetRoles: string[];
  patch: { roles: string[] | undefined; name: boolean; avatar: boolean };
  newRoles: string[];
}

const drawn: fc.Arbitrary<Drawn> = fc.record({
  action: fc.constantFrom(...USERS_ACTIONS),
  principalOwner: fc.boolean(),
  principalRoles: fc.subarray(ROLES),
  target: fc.constantFrom('self' as const, 'owner' as const, 'other' as const),
  targetRoles: fc.subarray(ROLES),
  patch: fc
    .record({
      roles: fc.option(fc.subarray(ROLES), { nil: undefined }),
      name: fc.boolean(),
      avatar: fc.boolean(),
    })
    .filter((p) => p.roles !== undefined || p.name || p.avatar),
  newRoles: fc.subarray(ROLES),
});

/** One entry point's answer, in the terms they all share. */
interface Answer {
  decision: 'allow' | 'deny';
  policies: string[];
  notices: string[];
}

describe('one question: every entry point decides as the sidecar does (issue 24)', () => {
  let t: TenantStack;
  let s: Stack;
  let tenant: string;
  let owner: Member;
  let live: LiveSources;
  const files = tempDir('cedargate-one-question-');
  let n = 0;

  before(async () => {
    t = await startTenantStack('onequestion', { env: { PLAYGROUND: 'true', LOG_LEVEL: 'info' } });
    ({ stack: s, tenantId: tenant } = t);
    owner = { user: t.owner, token: t.ownerToken };
    const res = await fetch(`${s.adminUrl}/playground/api/live`);
    assert.equal(res.status, 200);
    live = (await res.json()) as LiveSources;
  });
  after(async () => {
    await s?.stop();
    files.remove();
  });

  const member = (roles: string[]): Promise<Member> => t.member(`member ${++n}`, roles);

  it('the live pipeline, the permissions answer, the playground and policy explain agree', async () => {
    await fc.assert(
      fc.asyncProperty(drawn, async (d) => {
        const principal = d.principalOwner ? owner : await member(d.principalRoles);
        const tenantLevel = d.action === 'users:list' || d.action === 'users:create';
        const target =
          d.target === 'self'
            ? principal
            : d.target === 'owner' || tenantLevel
              ? owner
              : await member(d.targetRoles);
        const input = inputOf(d, ++n);
        const why = JSON.stringify({ d, input });

        // Asked before the live request, which may change or delete the users it names.
        const permission = await askPermissions(d, principal, target, input);
        const answers: [string, Answer][] = [
          ['the playground', await askPlayground(d, principal, target)],
          ['policy explain', await askExplain(d.action, principal, target, input)],
        ];
        const first = await askLive(d.action, principal, target, input);
        // A deny no policy decided: the 403 (and the permissions answer) carry the one generic
        // notice, DEFAULT_DENY_NOTICE's; the policies themselves say nothing.
        const defaultDeny = first.decision === 'deny' && first.policies.length === 0;
        if (defaultDeny) assert.deepEqual(first.notices, [DEFAULT_DENY_NOTICE], why);
        const policiesSay = defaultDeny ? { ...first, notices: [] } : first;
        for (const [name, a] of answers) {
          assert.deepEqual(a, policiesSay, `${name} disagrees with the live pipeline on ${why}`);
        }
        if (permission !== undefined) {
          assert.equal(permission.allowed, first.decision === 'allow', `permissions on ${why}`);
          if (!permission.allowed) {
            assert.deepEqual(permission.notices, first.notices, `permissions' notices on ${why}`);
            assert.deepEqual(permission.policies, first.policies, `permissions' policies ${why}`);
          }
        }
        // The owner is shared by every draw: put back what an allowed update changed.
        if (target === owner && d.action === 'users:update' && first.decision === 'allow') {
          const r = await s.call('PUT', `/v1/users/${owner.user.id}`, {
            token: owner.token,
            tenant,
            body: { name: owner.user.name, avatar: null },
          });
          assert.equal(r.status, 200, r.text);
        }
      }),
      { numRuns: RUNS },
    );
  });

  /** The body of the request drawn: a patch (a new name, an image) or a new user. */
  function inputOf(d: Drawn, i: number): Record<string, unknown> | undefined {
    if (d.action === 'users:create')
      return { name: `new ${i}`, email: `new${i}@example.com`, roles: d.newRoles };
    if (d.action !== 'users:update') return undefined;
    return {
      ...(d.patch.roles !== undefined && { roles: d.patch.roles }),
      ...(d.patch.name && { name: `renamed ${i}` }),
      ...(d.patch.avatar && { avatar: AVATAR }),
    };
  }

  /** The real request through the sidecar: the 403's body, or the decision line it logged. */
  async function askLive(
    action: UsersAction,
    principal: Member,
    target: Member,
    body: Record<string, unknown> | undefined,
  ): Promise<Answer> {
    const requestId = randomUUID();
    const [method, path] = routeOf(action, target.user.id);
    const r: Reply = await s.call(method, path, {
      token: principal.token,
      tenant,
      headers: { 'x-request-id': requestId },
      ...(body !== undefined && { body }),
    });
    // The line is written once the answer is on its way: wait for it.
    let line: Record<string, unknown> | undefined;
    await waitFor(
      () => {
        line = jsonLogLines(s.process.output()).find(
          (l) => l['msg'] === 'decision' && l['request_id'] === requestId,
        );
        return line !== undefined;
      },
      10_000,
      `the decision line of ${method} ${path} (${r.status})`,
    );
    assert.ok(line !== undefined);
    if (r.status === 403) {
      assert.equal(r.body.code, 'forbidden', r.text);
      assert.deepEqual(r.body.details?.policies, line['policies']);
      return {
        decision: 'deny',
        policies: r.body.details?.policies ?? [],
        notices: r.body.notices ?? [],
      };
    }
    assert.ok(r.status >= 200 && r.status < 300, `${method} ${path}: ${r.text}`);
    assert.equal(line['decision'], 'allow');
    return { decision: 'allow', policies: line['policies'] as string[], notices: [] };
  }

  /** The playground's decide API, on the live set, with the form's facts. */
  async function askPlayground(d: Drawn, principal: Member, target: Member): Promise<Answer> {
    const body: Record<string, unknown> = {};
    if (d.action === 'users:create') body['roles'] = d.newRoles;
    if (d.action === 'users:update') {
      if (d.patch.roles !== undefined) body['roles'] = d.patch.roles;
      body['name_changes'] = d.patch.name;
      body['avatar_changes'] = d.patch.avatar;
    }
    const request = {
      action: d.action,
      principal: { roles: principal.user.roles, owner: principal.user.is_owner },
      target: {
        roles: target.user.roles,
        owner: target.user.is_owner,
        same_user: target === principal,
        other_tenant: false,
      },
      body,
    };
    const res = await fetch(`${s.adminUrl}/playground/api/decide`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ policies: { schema: live.schema, files: live.files }, request }),
    });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    const answer = JSON.parse(text) as DecideAnswer;
    assert.ok(answer.live.ok, text);
    return answerOf(answer.live.explanation);
  }

  /** `policy explain --request FILE --json` on the stack's policies, its stdout read back. */
  async function askExplain(
    action: UsersAction,
    principal: Member,
    target: Member,
    body: Record<string, unknown> | undefined,
  ): Promise<Answer> {
    const factsOf = (u: User) => ({
      tenant: u.tenant_id,
      roles: u.roles,
      owner: u.is_owner,
      name: u.name,
      avatar: u.avatar,
    });
    const file = join(files.path, `request-${++n}.json`);
    const acting = [principal.user, target.user];
    writeFileSync(
      file,
      JSON.stringify({
        principal: principal.user.id,
        action,
        resource: action === 'users:list' || action === 'users:create' ? tenant : target.user.id,
        ...(body !== undefined && { body }),
        users: Object.fromEntries(acting.map((u) => [u.id, factsOf(u)])),
      }),
    );
    // The command prints its answer: keep what it writes to stdout while it runs.
    const printed: string[] = [];
    const stdout = Object.getOwnPropertyDescriptor(process.stdout, 'write');
    Object.defineProperty(process.stdout, 'write', {
      configurable: true,
      value: (chunk: string | Uint8Array): boolean => {
        printed.push(String(chunk));
        return true;
      },
    });
    let code: number;
    try {
      code = await runExplain([s.policyDir, '--request', file, '--json']);
    } finally {
      if (stdout === undefined) Reflect.deleteProperty(process.stdout, 'write');
      else Object.defineProperty(process.stdout, 'write', stdout);
    }
    assert.equal(code, 0, printed.join(''));
    return answerOf(JSON.parse(printed.join('')) as Explanation);
  }

  /** The entry of the permissions answer that stands for the drawn request, when there is one. */
  async function askPermissions(
    d: Drawn,
    principal: Member,
    target: Member,
    body: Record<string, unknown> | undefined,
  ): Promise<Permission | undefined> {
    const tenantLevel = d.action === 'users:list' || d.action === 'users:create';
    const path = tenantLevel ? '/v1/users/permissions' : `/v1/users/${target.user.id}/permissions`;
    const r = await s.call('GET', path, { token: principal.token, tenant });
    assert.equal(r.status, 200, r.text);
    const p = r.body as unknown as {
      actions: Record<string, Permission>;
      roles?: { add: Record<string, Permission>; remove: Record<string, Permission> };
      new_user_roles?: Record<string, Permission>;
    };
    if (d.action === 'users:list') return p.actions['list'];
    if (d.action === 'users:read') return p.actions['read'];
    if (d.action === 'users:delete') return p.actions['delete'];
    if (d.action === 'users:create')
      return d.newRoles.length === 0
        ? p.actions['create']
        : d.newRoles.length === 1
          ? p.new_user_roles?.[d.newRoles[0] as string]
          : undefined;
    // An update: the entries stand for a rename, a new image, or one role added or removed.
    const keys = Object.keys(body ?? {});
    if (keys.length !== 1) return undefined;
    if (keys[0] === 'name') return p.actions['rename'];
    if (keys[0] === 'avatar')
      return target.user.avatar === null ? p.actions['change_avatar'] : undefined;
    const held = target.user.roles;
    const asked = d.patch.roles ?? [];
    const added = asked.filter((x) => !held.includes(x));
    const removed = held.filter((x) => !asked.includes(x));
    if (added.length === 1 && removed.length === 0) return p.roles?.add[added[0] as string];
    if (removed.length === 1 && added.length === 0) return p.roles?.remove[removed[0] as string];
    return undefined;
  }
});

function routeOf(action: UsersAction, id: string): [string, string] {
  switch (action) {
    case 'users:list':
      return ['GET', '/v1/users'];
    case 'users:create':
      return ['POST', '/v1/users'];
    case 'users:read':
      return ['GET', `/v1/users/${id}`];
    case 'users:update':
      return ['PUT', `/v1/users/${id}`];
    case 'users:delete':
      return ['DELETE', `/v1/users/${id}`];
  }
}

function answerOf(e: Explanation): Answer {
  return { decision: e.decision, policies: e.policies.map((p) => p.id), notices: e.notices };
}
