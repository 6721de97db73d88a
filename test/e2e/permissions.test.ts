/**
 * The permissions answer through the real `start`: for every (caller, target) pair of a seeded
 * tenant, every entry of the answer equals what the real request it stands for gets — allowed
 * ⇔ 2xx, denied ⇔ 403 `forbidden` with the same notices and policies. State is restored after
 * each allowed write (by the owner); deletes are tried on fresh copies of the target.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { User } from '../../src/common/user.js';
import type {
  Permission,
  TenantPermissions,
  UserPermissions,
} from '../../src/sidecar/permissions.js';
import { assertError } from '../helpers/contract.js';
import type { Reply, Stack } from '../helpers/stack.js';
import { startTenantStack } from '../helpers/tenant-stack.js';

const MISSING_ID = '00000000-0000-4000-8000-000000000000';
const AVATAR =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=';

interface Member {
  label: string;
  user: User;
  token: string;
}

describe('GET /v1/users/{id}/permissions and /v1/users/permissions', () => {
  let s: Stack;
  let tenant: string;
  let owner: Member;
  let members: Member[];
  let copies = 0;

  before(async () => {
    const t = await startTenantStack('permco');
    ({ stack: s, tenantId: tenant } = t);
    owner = { label: 'owner', user: t.owner, token: t.ownerToken };
    const seed: [string, string[]][] = [
      ['admin1', ['admin']],
      ['admin2', ['admin', 'user']],
      ['user1', ['user']],
      ['user2', ['user', 'viewer']],
      ['viewer1', ['viewer']],
    ];
    members = [owner];
    for (const [label, roles] of seed) members.push({ label, ...(await t.member(label, roles)) });
  });
  after(async () => s?.stop());

  const permissionsOf = async (caller: Member, targetId: string): Promise<UserPermissions> => {
    const r = await s.call('GET', `/v1/users/${targetId}/permissions`, {
      token: caller.token,
      tenant,
    });
    assert.equal(r.status, 200, r.text);
    return r.body as unknown as UserPermissions;
  };

  /** The real answer agrees with the permission it stands for. */
  const agrees = (p: Permission | undefined, r: Reply, what: string): void => {
    assert.ok(p !== undefined, `${what}: missing from the answer`);
    if (p.allowed) {
      assert.ok(r.status >= 200 && r.status < 300, `${what}: answer says yes, got ${r.text}`);
      return;
    }
    assertError(r, 403, 'forbidden', what);
    assert.deepEqual(p.notices, r.body.notices, `${what}: notices`);
    assert.deepEqual(p.policies, r.body.details?.policies, `${what}: policies`);
  };

  const put = (caller: Member, id: string, body: unknown) =>
    s.call('PUT', `/v1/users/${id}`, { token: caller.token, tenant, body });
  const restore = async (target: User, body: unknown): Promise<void> => {
    const r = await put(owner, target.id, body);
    assert.equal(r.status, 200, `restore ${target.name}: ${r.text}`);
  };

  it('agrees with the real GET and PUT of every (caller, target) pair', async () => {
    for (const caller of members) {
      for (const t of members) {
        const target = t.user;
        const what = `${caller.label} → ${t.label}`;
        const p = await permissionsOf(caller, target.id);
        assert.equal(p.user_id, target.id);
        assert.equal(p.principal_id, caller.user.id);
        assert.equal(p.enforced, true);

        const read = await s.call('GET', `/v1/users/${target.id}`, { token: caller.token, tenant });
        agrees(p.actions.read, read, `${what} read`);

        const rename = await put(caller, target.id, { name: `${target.name} (renamed)` });
        agrees(p.actions.rename, rename, `${what} rename`);
        if (rename.status === 200) await restore(target, { name: target.name });

        const avatar = await put(caller, target.id, { avatar: AVATAR });
        agrees(p.actions.change_avatar, avatar, `${what} change avatar`);
        if (avatar.status === 200) await restore(target, { avatar: null });

        const roles = ['admin', 'user', 'viewer'];
        const held = target.roles;
        assert.deepEqual(
          Object.keys(p.roles.add).sort(),
          roles.filter((r) => !held.includes(r)),
          `${what}: add lists the roles not held`,
        );
        assert.deepEqual(Object.keys(p.roles.remove).sort(), [...held].sort());
        for (const role of roles) {
          const adding = !held.includes(role);
          const next = adding ? [...held, role] : held.filter((r) => r !== role);
          const r = await put(caller, target.id, { roles: next });
          const entry = adding ? p.roles.add[role] : p.roles.remove[role];
          agrees(entry, r, `${what} ${adding ? 'add' : 'remove'} ${role}`);
          if (r.status === 200) await restore(target, { roles: held });
        }
      }
    }
  });

  it('agrees with the real DELETE of every pair, on fresh copies of the target', async () => {
    const copyOf = async (m: Member): Promise<Member> => {
      const user = await s.createUser(tenant, owner.token, `copy${++copies}`, m.user.roles);
      return { label: `copy of ${m.label}`, user, token: await s.token(tenant, user.id) };
    };
    for (const caller of members) {
      for (const t of members) {
        const what = `${caller.label} deletes ${t.label}`;
        // The owner cannot be copied (one per tenant); acting on oneself needs a copy of both.
        const target = t.user.is_owner ? t : await copyOf(t);
        const asker = caller === t && !t.user.is_owner ? target : caller;
        const p = await permissionsOf(asker, target.user.id);
        const r = await s.call('DELETE', `/v1/users/${target.user.id}`, {
          token: asker.token,
          tenant,
        });
        agrees(p.actions.delete, r, what);
      }
    }
  });

  it('answers the tenant-level actions as the real list and create', async () => {
    for (const caller of members) {
      const r = await s.call('GET', '/v1/users/permissions', { token: caller.token, tenant });
      assert.equal(r.status, 200, r.text);
      const p = r.body as unknown as TenantPermissions;
      const list = await s.call('GET', '/v1/users', { token: caller.token, tenant });
      agrees(p.actions.list, list, `${caller.label} list`);
      for (const [role, entry] of [
        [null, p.actions.create],
        ...Object.entries(p.new_user_roles),
      ] as [string | null, Permission][]) {
        const n = ++copies;
        const created = await s.call('POST', '/v1/users', {
          token: caller.token,
          tenant,
          body: {
            name: `new${n}`,
            email: `new${n}@permco.test`,
            roles: role === null ? [] : [role],
          },
        });
        agrees(entry, created, `${caller.label} create ${role ?? 'with no roles'}`);
      }
    }
  });

  it('forwards nothing but the look-ups, and answers as the real request for bad requests', async () => {
    const admin = members[1] as Member;
    const viewer = members[5] as Member;
    s.recorder.clear();
    const r = await s.call('GET', `/v1/users/${viewer.user.id}/permissions`, {
      token: admin.token,
      tenant,
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    for (const f of s.recorder.all) {
      assert.equal(f.method, 'GET', `only look-ups reach the backend: ${f.method} ${f.path}`);
      assert.doesNotMatch(f.path, /permissions/, 'the permissions route is never forwarded');
    }

    const path = `/v1/users/${viewer.user.id}/permissions`;
    assertError(await s.call('GET', path, { tenant }), 401, 'unauthenticated', 'no credential');
    assertError(
      await s.call('GET', path, { token: admin.token }),
      400,
      'invalid_input',
      'no tenant',
    );
    const other = await s.createTenant('otherco');
    assertError(
      await s.call('GET', path, { token: admin.token, tenant: other.tenantId }),
      403,
      'tenant_mismatch',
      'other tenant',
    );
    const missing = `/v1/users/${MISSING_ID}/permissions`;
    assertError(await s.call('GET', missing, { token: admin.token, tenant }), 404, 'not_found');
    const bad = '/v1/users/not-an-id/permissions';
    assertError(await s.call('GET', bad, { token: admin.token, tenant }), 400, 'invalid_input');
    // A user of another tenant is not a user of this one: 404, as for GET /v1/users/{id}.
    const foreign = `/v1/users/${other.owner.id}/permissions`;
    assertError(await s.call('GET', foreign, { token: admin.token, tenant }), 404, 'not_found');
    assertError(
      await s.call('GET', `${path}/`, { token: admin.token, tenant }),
      404,
      'not_found',
      'trailing slash',
    );
  });
});
