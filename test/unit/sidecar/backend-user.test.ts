/**
 * The one reader of a backend's user JSON: each wrong field named with its value and what it
 * should be (the sidecar keeps this for its log; backend-check prints it), another tenant's or
 * another user's answer told apart from a wrong shape.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BackendUserError, readBackendUser } from '../../../src/sidecar/backend-user.js';

const T = '6F1C8C52-93B5-4C55-9E0A-0B3C3C8F4C11';
const U = '0B7C1A70-7D5E-4C1B-9B0E-51A2F1C2D3E4';
const good = {
  id: U,
  tenant_id: T,
  name: 'Uma',
  email: 'uma@example.test',
  roles: ['user'],
  is_owner: false,
  avatar: null,
};

describe('readBackendUser', () => {
  it('keeps the fields the sidecar reads, whatever case the ids are in', () => {
    assert.deepEqual(
      readBackendUser({ ...good, avatar: 'data:x' }, { tenantId: T.toLowerCase(), userId: U }),
      { id: U, tenant_id: T, name: 'Uma', roles: ['user'], is_owner: false, avatar: 'data:x' },
    );
  });

  for (const [raw, message] of [
    [[good], 'not a JSON object'],
    [null, 'not a JSON object'],
    [{ ...good, id: 7 }, 'field id is 7, want a string'],
    [{ ...good, tenant_id: undefined }, 'field tenant_id is missing, want a string'],
    [{ ...good, name: null }, 'field name is null, want a string'],
    [{ ...good, roles: 'admin' }, 'field roles is "admin", want an array of strings'],
    [{ ...good, roles: ['user', 1] }, 'field roles is ["user",1], want an array of strings'],
    [{ ...good, is_owner: 'false' }, 'field is_owner is "false", want true or false'],
    [{ ...good, avatar: 7 }, 'field avatar is 7, want a string or null'],
  ] as const) {
    it(`a wrong shape: ${message} (${JSON.stringify(raw)?.slice(0, 40)})`, () => {
      assert.throws(
        () => readBackendUser(raw),
        (err: unknown) =>
          err instanceof BackendUserError && err.kind === 'shape' && err.message === message,
      );
    });
  }

  it("another tenant's user, or another user, is an identity error naming the field", () => {
    const OTHER = '11111111-2222-4333-8444-555555555555';
    assert.throws(
      () => readBackendUser(good, { tenantId: OTHER }),
      (err: unknown) =>
        err instanceof BackendUserError &&
        err.kind === 'identity' &&
        err.message === `field tenant_id is "${T}", want the tenant asked for (${OTHER})`,
    );
    assert.throws(
      () => readBackendUser(good, { tenantId: T, userId: OTHER }),
      (err: unknown) =>
        err instanceof BackendUserError &&
        err.kind === 'identity' &&
        err.message === `field id is "${U}", want the user asked for (${OTHER})`,
    );
    // Without a userId, any user of the tenant will do (a list page).
    assert.equal(readBackendUser(good, { tenantId: T }).id, U);
  });
});
