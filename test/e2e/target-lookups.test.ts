/**
 * The look-ups a read costs the backend (issue 25 item 3), counted at the hop in front of it: the
 * sidecar reads the target user before deciding only when some policy of the live set reads
 * more of it than its id and tenant. With the shipped set a read of another user reaches the
 * backend once (the forwarded read) and an unknown user is the backend's own 404; with a set
 * whose read policy reads `resource.isOwner`, the target is read first and an unknown one is
 * the sidecar's 404, never forwarded. Either way another tenant's user stays out of reach.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { adminJson, type AdminStatus } from '../helpers/contract.js';
import { OWNER_HIDDEN } from '../helpers/small-policies.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { openTenant } from '../helpers/tenant-stack.js';
import { tempDirs } from '../helpers/temp-dirs.js';

const MISSING = 'DDDDDDDD-0000-4000-8000-000000000000';

/** A tenant of `s`, its owner, and one user the owner creates, each with a token. */
async function tenantOf(s: Stack, name: string) {
  const tenant = await openTenant(s, name);
  const { user, token: userToken } = await tenant.member(`${name} user`, ['user']);
  return { ...tenant, user, userToken };
}
type Tenant = Awaited<ReturnType<typeof tenantOf>>;

function liveOf(status: AdminStatus): Record<string, unknown> {
  return status.policies.live;
}

/** Requests for `path` that reached the backend: the sidecar's own look-ups, and forwards. */
function reached(s: Stack, path: string): { lookups: number; forwarded: number } {
  const at = s.recorder.all.filter((r) => r.path === path);
  const forwarded = at.filter((r) => r.headers['x-cedargate-subject'] !== undefined).length;
  return { lookups: at.length - forwarded, forwarded };
}

describe('target look-ups: only when a policy reads the target', () => {
  describe('the shipped set (no read policy reads the target)', () => {
    let s: Stack;
    let acme: Tenant;
    let globex: Tenant;
    before(async () => {
      s = await startStack();
      acme = await tenantOf(s, 'acme');
      globex = await tenantOf(s, 'globex');
    });
    after(() => s.stop());

    it('/status says which actions read the target: update and delete', async () => {
      const status = await adminJson(s.adminUrl, '/status');
      assert.deepEqual(liveOf(status)['targetReads'], ['users:update', 'users:delete']);
    });

    it('a read of another user: one request reaches the backend, the forwarded read', async () => {
      s.recorder.clear();
      const path = `/v1/users/${acme.owner.id}`;
      const r = await s.call('GET', path, { token: acme.userToken, tenant: acme.tenantId });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.id, acme.owner.id);
      assert.deepEqual(reached(s, path), { lookups: 0, forwarded: 1 });
    });

    it("an unknown user: the backend answers 404 not_found, in the contract's words", async () => {
      const path = `/v1/users/${MISSING}`;
      const r = await s.call('GET', path, { token: acme.userToken, tenant: acme.tenantId });
      assert.equal(r.status, 404, r.text);
      assert.equal(r.body.code, 'not_found');
      assert.equal(r.body.message, 'no such user in this tenant');
      assert.deepEqual(reached(s, path), { lookups: 0, forwarded: 1 });
    });

    it('a user of another tenant, asked in ours: 404, the backend reads in our tenant only', async () => {
      const path = `/v1/users/${globex.user.id}`;
      const r = await s.call('GET', path, { token: acme.userToken, tenant: acme.tenantId });
      assert.equal(r.status, 404, r.text);
      assert.equal(r.body.code, 'not_found');
      const sent = s.recorder.all.filter((x) => x.path === path);
      assert.deepEqual(
        sent.map((x) => x.headers['x-tenant-id']),
        [acme.tenantId],
      );
    });

    it('a user of another tenant, asked in theirs: 403 tenant_mismatch, nothing reaches the backend', async () => {
      const path = `/v1/users/${globex.owner.id}`;
      s.recorder.clear();
      const r = await s.call('GET', path, { token: acme.userToken, tenant: globex.tenantId });
      assert.equal(r.status, 403, r.text);
      assert.equal(r.body.code, 'tenant_mismatch');
      assert.deepEqual(reached(s, path), { lookups: 0, forwarded: 0 });
    });

    it('a deleted principal: 401 unknown user, nothing forwarded', async () => {
      const gone = await s.createUser(acme.tenantId, acme.ownerToken, 'Leaving', ['user']);
      const goneToken = await s.token(acme.tenantId, gone.id);
      const del = await s.call('DELETE', `/v1/users/${gone.id}`, {
        token: acme.ownerToken,
        tenant: acme.tenantId,
      });
      assert.equal(del.status, 204, del.text);
      const path = `/v1/users/${acme.owner.id}`;
      s.recorder.clear();
      const r = await s.call('GET', path, { token: goneToken, tenant: acme.tenantId });
      assert.equal(r.status, 401, r.text);
      assert.equal(r.body.code, 'unauthenticated');
      assert.equal(reached(s, path).forwarded, 0);
    });
  });

  describe('a set whose read policy reads resource.isOwner', () => {
    const dirs = tempDirs('cedargate-target-lookups-');
    let s: Stack;
    let acme: Tenant;
    before(async () => {
      const policyDir = dirs.copyOfShipped();
      writeFileSync(join(policyDir, 'owner-hidden.cedar'), OWNER_HIDDEN);
      s = await startStack({ policyDir });
      acme = await tenantOf(s, 'acme');
    });
    after(() => s.stop());

    it('/status says which actions read the target: read too', async () => {
      const status = await adminJson(s.adminUrl, '/status');
      assert.deepEqual(liveOf(status)['targetReads'], [
        'users:read',
        'users:update',
        'users:delete',
      ]);
    });

    it('a read of another user: the target is read first, then the read forwarded', async () => {
      s.recorder.clear();
      const path = `/v1/users/${acme.user.id}`;
      const r = await s.call('GET', path, { token: acme.ownerToken, tenant: acme.tenantId });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(reached(s, path), { lookups: 1, forwarded: 1 });
    });

    it('the policy that reads it decides: the owner hidden from a user, 403 with its notice', async () => {
      const path = `/v1/users/${acme.owner.id}`;
      s.recorder.clear();
      const r = await s.call('GET', path, { token: acme.userToken, tenant: acme.tenantId });
      assert.equal(r.status, 403, r.text);
      assert.equal(r.body.code, 'forbidden');
      assert.deepEqual(r.body.notices, ['The owner is hidden.']);
      assert.equal(reached(s, path).forwarded, 0);
    });

    it("an unknown user: the sidecar's 404 not_found, nothing forwarded", async () => {
      const path = `/v1/users/${MISSING}`;
      s.recorder.clear();
      const r = await s.call('GET', path, { token: acme.userToken, tenant: acme.tenantId });
      assert.equal(r.status, 404, r.text);
      assert.equal(r.body.code, 'not_found');
      assert.equal(r.body.message, 'no such user in this tenant');
      assert.deepEqual(reached(s, path), { lookups: 1, forwarded: 0 });
    });
  });
});
