import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  avatarDigestOf,
  buildCreateContext,
  buildUpdateContext,
} from '../../../src/policy/context.js';

const current = { name: 'Uma', roles: ['user', 'viewer'], avatar_digest: null };

describe('buildUpdateContext', () => {
  it('derives requested, added and removed roles from the new set', () => {
    assert.deepEqual(buildUpdateContext(current, { roles: ['admin', 'user'] }), {
      rolesRequested: ['admin', 'user'],
      rolesAdded: ['admin'],
      rolesRemoved: ['viewer'],
      nameChanges: false,
      avatarChanges: false,
    });
  });

  it('keeps the current roles when the patch has none', () => {
    const ctx = buildUpdateContext(current, { name: 'Uma B' });
    assert.deepEqual(ctx.rolesRequested, ['user', 'viewer']);
    assert.deepEqual(ctx.rolesAdded, []);
    assert.deepEqual(ctx.rolesRemoved, []);
    assert.equal(ctx.nameChanges, true);
  });

  it('does not count the same name or the same roles in another order as a change', () => {
    const ctx = buildUpdateContext(current, { name: 'Uma', roles: ['viewer', 'user', 'user'] });
    assert.equal(ctx.nameChanges, false);
    assert.deepEqual(ctx.rolesRequested, ['user', 'viewer']);
    assert.deepEqual(ctx.rolesAdded, []);
    assert.deepEqual(ctx.rolesRemoved, []);
  });

  it('sees an avatar set, changed or cleared', () => {
    assert.equal(
      buildUpdateContext(current, { avatar: 'data:image/png;base64,AA==' }).avatarChanges,
      true,
    );
    assert.equal(buildUpdateContext(current, { avatar: null }).avatarChanges, false);
    const avatar = 'data:image/png;base64,AA==';
    const withAvatar = { ...current, avatar_digest: avatarDigestOf(avatar) };
    assert.equal(buildUpdateContext(withAvatar, { avatar: null }).avatarChanges, true);
    assert.equal(buildUpdateContext(withAvatar, { name: 'x' }).avatarChanges, false);
    // Only the digest of the stored avatar is known: the same image again is no change.
    assert.equal(buildUpdateContext(withAvatar, { avatar }).avatarChanges, false);
    assert.equal(
      buildUpdateContext(withAvatar, { avatar: 'data:image/png;base64,AB==' }).avatarChanges,
      true,
    );
  });

  it('sees every role removed', () => {
    assert.deepEqual(buildUpdateContext(current, { roles: [] }).rolesRemoved, ['user', 'viewer']);
  });
});

describe('buildCreateContext', () => {
  it('carries the requested roles, sorted and without duplicates', () => {
    assert.deepEqual(buildCreateContext({ roles: ['user', 'admin', 'user'] }), {
      rolesRequested: ['admin', 'user'],
    });
  });
});
