/**
 * The permissions answer on its own (the real policy store, the shipped policies, a fake
 * directory): each entry as the request it stands for, the gate on the route's own action, the
 * 404 of a missing target, shadow mode, and a role the schema no longer names.
 */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { CedargateError } from '../../../src/errors.js';
import { createSidecarMetrics } from '../../../src/sidecar/metrics.js';
import type { PolicyStore } from '../../../src/sidecar/authz/policy-store.js';
import type { Exchange } from '../../../src/sidecar/decision-log.js';
import { decideOrDeny } from '../../../src/sidecar/decide-or-deny.js';
import {
  answerPermissions,
  tenantPermissions,
  userPermissions,
} from '../../../src/sidecar/permissions.js';
import { matchRoute } from '../../../src/sidecar/routes.js';
import type { UserRecord } from '../../../src/sidecar/user-facts.js';
import {
  OWNER,
  T,
  U1,
  U2,
  fakeDirectory,
  recordOf,
  shippedPolicyStore,
  userOf,
} from '../../helpers/sidecar-fakes.js';

const record = recordOf;
const owner = record(OWNER, ['admin'], true);
const admin = record(U1, ['admin']);
const viewer = record(U2, ['viewer']);

/** A response that keeps what was written. */
function capture(): ServerResponse & { status?: number; text?: string } {
  const out = {
    writeHead(status: number) {
      out.status = status;
      return out;
    },
    end(text: string) {
      out.text = text;
      return out;
    },
  } as unknown as ServerResponse & { status?: number; text?: string };
  return out;
}

describe('permissions', () => {
  let policies: PolicyStore;
  before(async () => {
    policies = await shippedPolicyStore();
  });
  after(() => policies.close());

  it('lets an admin manage a viewer but not grant admin, with the notice and policy id', () => {
    const p = userPermissions(policies, true, T, admin, viewer);
    assert.equal(p.actions.read.allowed, true);
    assert.equal(p.actions.rename.allowed, true);
    assert.equal(p.actions.change_avatar.allowed, true);
    assert.equal(p.actions.delete.allowed, true);
    assert.deepEqual(Object.keys(p.roles.add), ['admin', 'user']);
    assert.deepEqual(Object.keys(p.roles.remove), ['viewer']);
    assert.equal(p.roles.add['user']?.allowed, true);
    assert.deepEqual(p.roles.add['admin'], {
      allowed: false,
      notices: ['Only the tenant owner may grant or revoke the admin role.'],
      policies: ['only-owner-grants-admin'],
    });
    assert.equal(p.policy_version, policies.current().version);
  });

  it('lets a viewer only read others, and edit its own profile but not its roles', () => {
    const other = userPermissions(policies, true, T, viewer, admin);
    assert.equal(other.actions.read.allowed, true);
    for (const a of ['rename', 'change_avatar'] as const) {
      // No policy decided (a default deny): the one generic notice, never a policy's text.
      assert.deepEqual(
        other.actions[a],
        { allowed: false, notices: ['No policy allows this action for your roles.'], policies: [] },
        a,
      );
    }
    // Deleting an admin is refused by the forbid that says why, before the missing permit.
    assert.deepEqual(other.actions.delete.policies, ['only-owner-deletes-admins']);
    const self = userPermissions(policies, true, T, viewer, viewer);
    assert.equal(self.actions.rename.allowed, true);
    assert.equal(self.actions.change_avatar.allowed, true);
    assert.deepEqual(self.roles.remove['viewer']?.notices, ['No one may change their own roles.']);
  });

  it('answers the tenant level: list, create, and each role a new user may get', () => {
    const a = tenantPermissions(policies, true, T, admin);
    assert.equal(a.actions.list.allowed, true);
    assert.equal(a.actions.create.allowed, true);
    assert.equal(a.new_user_roles['user']?.allowed, true);
    assert.deepEqual(a.new_user_roles['admin']?.policies, ['only-owner-creates-admins']);
    const o = tenantPermissions(policies, true, T, owner);
    assert.equal(o.new_user_roles['admin']?.allowed, true);
    const v = tenantPermissions(policies, true, T, viewer);
    assert.equal(v.actions.list.allowed, true);
    assert.equal(v.actions.create.allowed, false);
  });

  it('says a role change that would be 422 (a role the schema no longer names) is not possible', () => {
    const retired = record(U2, ['viewer', 'auditor']);
    const p = userPermissions(policies, true, T, owner, retired);
    assert.deepEqual(p.roles.add['user'], { allowed: false, code: 'invalid_roles' });
    // The retired role is listed too, with what dropping it does (issue 22, Also a).
    assert.deepEqual(Object.keys(p.roles.remove), ['viewer', 'auditor']);
    assert.deepEqual(p.roles.remove['auditor'], { allowed: true });
  });

  it('looks the target up (404), gates on the route action and writes 200 JSON', async () => {
    const directory = fakeDirectory();
    const ex: Exchange = { requestId: 'rid', startedAt: 0n, principal: owner };
    const m = matchRoute('GET', `/v1/users/${U1}/permissions`);
    assert.ok(m);
    assert.equal(m.route.answer, 'permissions');
    const res = capture();
    const status = await answerPermissions(
      { policies, directory, enforce: true, metrics: createSidecarMetrics() },
      { res, ex, route: m.route, tenantId: T, userId: U1, principal: owner },
    );
    assert.equal(status, 200);
    assert.equal(res.status, 200);
    assert.equal((JSON.parse(res.text ?? '') as { user_id: string }).user_id, U1);
    assert.equal(ex.decision?.allowed, true);

    const missing = 'DDDDDDDD-0000-4000-8000-000000000000';
    await assert.rejects(
      answerPermissions(
        { policies, directory, enforce: true, metrics: createSidecarMetrics() },
        { res: capture(), ex, route: m.route, tenantId: T, userId: missing, principal: owner },
      ),
      (e: unknown) => e instanceof CedargateError && e.code === 'not_found',
    );
  });

  it('refuses with the real 403 when the caller may not read the target, unless in shadow mode', async () => {
    const directory = fakeDirectory();
    // A principal of another tenant: no-cross-tenant-users denies users:read.
    const stranger: UserRecord = {
      user: { ...userOf('EEEEEEEE-0000-4000-8000-000000000000', ['admin']), tenant_id: 'other' },
      etag: '"x"',
    };
    const ex: Exchange = { requestId: 'rid', startedAt: 0n, principal: stranger };
    const m = matchRoute('GET', `/v1/users/${U1}/permissions`);
    assert.ok(m);
    await assert.rejects(
      answerPermissions(
        { policies, directory, enforce: true, metrics: createSidecarMetrics() },
        { res: capture(), ex, route: m.route, tenantId: T, userId: U1, principal: stranger },
      ),
      (e: unknown) =>
        e instanceof CedargateError &&
        e.code === 'forbidden' &&
        e.notices?.includes('Users of another tenant are out of reach.') === true,
    );
    const res = capture();
    await answerPermissions(
      { policies, directory, enforce: false, metrics: createSidecarMetrics() },
      { res, ex, route: m.route, tenantId: T, userId: U1, principal: stranger },
    );
    const body = JSON.parse(res.text ?? '') as {
      enforced: boolean;
      actions: { read: { allowed: boolean } };
    };
    assert.equal(body.enforced, false);
    assert.equal(body.actions.read.allowed, false);
    assert.equal(ex.shadowDeny, true);
  });

  it("decides its gate by the request path's own step: counted, told to the candidate, kept for replay", async () => {
    // The principal travels in the request: the exchange holds none, as the log writes it.
    const stranger: UserRecord = {
      user: { ...userOf('EEEEEEEE-0000-4000-8000-000000000000', ['admin']), tenant_id: 'other' },
      etag: '"x"',
    };
    const metrics = createSidecarMetrics();
    const told: string[] = [];
    const deps = {
      policies,
      directory: fakeDirectory(),
      enforce: false,
      metrics,
      onDecided: (d: { requestId: string; request: { action: string } }) => {
        told.push(`${d.requestId} ${d.request.action}`);
      },
    };
    const ex: Exchange = { requestId: 'rid-gate', startedAt: 0n };
    const m = matchRoute('GET', `/v1/users/${U1}/permissions`);
    assert.ok(m);
    const request = { res: capture(), ex, route: m.route, tenantId: T, userId: U1 };
    assert.equal(await answerPermissions(deps, { ...request, principal: stranger }), 200);
    assert.deepEqual(told, ['rid-gate users:read']);
    assert.equal(ex.decided?.request.principal.id, stranger.user.id);
    assert.equal(ex.decided?.request.action, 'users:read');
    assert.equal(ex.decided?.policyVersion, policies.current().version);
    // Denied in shadow mode, the gate counts as the real GET would: shadow_deny.
    const text = await metrics.registry.metrics();
    assert.match(
      text,
      /cedargate_decisions_total\{[^}]*action="users:read"[^}]*result="shadow_deny"[^}]*source="permissions"[^}]*\} 1/,
    );
  });

  it('a default deny says so in the 403 and in the answer alike, in DEFAULT_DENY_NOTICE words', async () => {
    const notice = 'Ask your tenant admin for a role that allows this.';
    const deps = {
      policies,
      directory: fakeDirectory(),
      enforce: true,
      metrics: createSidecarMetrics(),
      defaultDenyNotice: notice,
    };
    // A viewer renaming another user: no permit matches, no forbid decides.
    const ex: Exchange = { requestId: 'rid-default', startedAt: 0n };
    const ask = { ex, action: 'users:update' as const, tenantId: T, principal: viewer.user };
    const rename = {
      ...ask,
      target: admin,
      input: { name: 'renamed' },
      source: 'request' as const,
    };
    await assert.rejects(
      decideOrDeny(deps, rename),
      (e: unknown) =>
        e instanceof CedargateError &&
        e.code === 'forbidden' &&
        JSON.stringify(e.notices) === JSON.stringify([notice]) &&
        JSON.stringify(e.details?.['policies']) === '[]',
    );
    const m = matchRoute('GET', `/v1/users/${U1}/permissions`);
    assert.ok(m);
    const res = capture();
    await answerPermissions(deps, {
      res,
      ex: { requestId: 'rid-answer', startedAt: 0n },
      route: m.route,
      tenantId: T,
      userId: U1,
      principal: viewer,
    });
    const body = JSON.parse(res.text ?? '') as { actions: { rename: unknown } };
    assert.deepEqual(body.actions.rename, { allowed: false, notices: [notice], policies: [] });
  });
});
