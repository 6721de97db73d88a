/**
 * security.md lines 30 and 33, and the avatar gap of the second round, through the running
 * `start`: a non-owner admin deleting another admin is refused with a notice (it revokes admin,
 * rule 4), strings that are not well-formed Unicode are 400, and so is an avatar whose bytes are
 * not the image type its data URI declares. None of them reaches the backend.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { User } from '../../src/common/user.js';
import type { Stack } from '../helpers/stack.js';
import { startTenantStack } from '../helpers/tenant-stack.js';
import { assertError } from '../helpers/contract.js';

const DELETE_ADMIN_NOTICE =
  'Only the tenant owner may delete an admin (it revokes the admin role).';
/** A PNG's signature, then zeros: enough for the magic-byte check. */
const PNG = `data:image/png;base64,${Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0]).toString('base64')}`;
/** GIF bytes declared as a PNG. */
const GIF_AS_PNG = `data:image/png;base64,${Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00', 'latin1').toString('base64')}`;

describe('the smaller gaps of the second round (security.md 30, 33; avatars)', () => {
  let s: Stack;
  let tenant: string;
  let ownerToken: string;
  let alice: User;
  let adam: User;
  let aliceToken: string;

  before(async () => {
    const t = await startTenantStack('gaps');
    ({ stack: s, tenantId: tenant, ownerToken } = t);
    [{ user: alice, token: aliceToken }, { user: adam }] = await t.seed(
      ['Alice', ['admin']],
      ['Adam', ['admin', 'user']],
    );
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

  it('33. names and emails that are not well-formed Unicode → 400 invalid_input, never forwarded', async () => {
    const lone = '\ud800';
    const name256 = `${'a'.repeat(255)}${lone}`;
    // JSON.stringify writes a lone surrogate as the escape \ud800: valid JSON, ill-formed text.
    const cases: Array<[string, string, Record<string, unknown>, string]> = [
      ['POST', '/v1/users', { name: name256, email: 'x@gaps.test', roles: [] }, 'name'],
      ['POST', '/v1/users', { name: `Ann${'\udfff'}`, email: 'x@gaps.test', roles: [] }, 'name'],
      ['POST', '/v1/users', { name: 'Ann', email: `x${lone}@gaps.test`, roles: [] }, 'email'],
      ['POST', '/v1/users', { name: 'Ann', email: 'x@gaps.test', roles: [`user${lone}`] }, 'roles'],
      ['PUT', `/v1/users/${alice.id}`, { name: `Alice${lone}` }, 'name'],
      ['PUT', `/v1/users/${alice.id}`, { roles: [lone] }, 'roles'],
    ];
    for (const [method, path, body, field] of cases) {
      const r = await s.call(method, path, { token: ownerToken, tenant, body });
      assertError(r, 400, 'invalid_input', `${method} ${JSON.stringify(body).slice(-40)}`);
      assert.equal(r.body.details?.field, field, r.text);
    }
    assert.deepEqual(forwarded('POST'), [], 'an ill-formed POST reached the backend');
    assert.deepEqual(forwarded('PUT'), [], 'an ill-formed PUT reached the backend');
    const stored = await s.call('GET', `/v1/users/${alice.id}`, { token: ownerToken, tenant });
    assert.equal(stored.body.name, 'Alice', 'the name was not altered');
  });

  it('an avatar whose bytes are not the type its data URI declares → 400 invalid_input, never forwarded', async () => {
    for (const [method, path, body] of [
      ['PUT', `/v1/users/${alice.id}`, { avatar: GIF_AS_PNG }],
      ['POST', '/v1/users', { name: 'Gif', email: 'gif@gaps.test', roles: [], avatar: GIF_AS_PNG }],
    ] as const) {
      const r = await s.call(method, path, { token: ownerToken, tenant, body });
      assertError(r, 400, 'invalid_input', `${method} avatar`);
      assert.equal(r.body.details?.field, 'avatar');
    }
    assert.deepEqual(s.recorder.forwarded(), [], 'a mismatched avatar reached the backend');
    const ok = await s.call('PUT', `/v1/users/${alice.id}`, {
      token: ownerToken,
      tenant,
      body: { avatar: PNG },
    });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.body.avatar, PNG);
  });
});
