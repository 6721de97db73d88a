import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { leaveOutUnknownRoles } from '../../../src/policy/known-roles.js';
import type { AuthzRequest } from '../../../src/policy/types.js';

const KNOWN = ['admin', 'user'];
const ROLE_SETS = ['rolesRequested', 'rolesAdded', 'rolesRemoved'];

const update: AuthzRequest = {
  principal: { id: 'p', tenantId: 't', roles: ['admin', 'support'], isOwner: false },
  action: 'users:update',
  resource: { type: 'User', id: 'r', tenantId: 't', roles: ['viewer', 'user'], isOwner: false },
  context: {
    rolesRequested: ['user'],
    rolesAdded: [],
    rolesRemoved: ['viewer'],
    nameChanges: false,
    avatarChanges: false,
  },
};

describe('leaveOutUnknownRoles', () => {
  it('returns the very request, and no roles, when every role is known', () => {
    const request: AuthzRequest = {
      ...update,
      principal: { ...update.principal, roles: ['admin'] },
      resource: { type: 'User', id: 'r', tenantId: 't', roles: ['user'], isOwner: false },
      context: { ...update.context, rolesRemoved: [] },
    };
    const out = leaveOutUnknownRoles(request, KNOWN, ROLE_SETS);
    assert.equal(out.request, request);
    assert.deepEqual(out.ignoredRoles, []);
  });

  it('leaves unknown roles out of the principal, the resource and the role sets of the context', () => {
    const out = leaveOutUnknownRoles(update, KNOWN, ROLE_SETS);
    assert.deepEqual(out.ignoredRoles, ['support', 'viewer']);
    assert.deepEqual(out.request.principal.roles, ['admin']);
    assert.equal(out.request.resource.type, 'User');
    if (out.request.resource.type === 'User')
      assert.deepEqual(out.request.resource.roles, ['user']);
    assert.deepEqual(out.request.context, {
      rolesRequested: ['user'],
      rolesAdded: [],
      rolesRemoved: [],
      nameChanges: false,
      avatarChanges: false,
    });
    // the caller's request is not changed
    assert.deepEqual(update.principal.roles, ['admin', 'support']);
    assert.deepEqual(update.context['rolesRemoved'], ['viewer']);
  });

  it('touches only the context attributes it is told are role sets', () => {
    const request: AuthzRequest = {
      principal: { id: 'p', tenantId: 't', roles: ['viewer'], isOwner: false },
      action: 'users:create',
      resource: { type: 'Tenant', id: 't' },
      context: { rolesRequested: ['user'], labels: ['viewer'] },
    };
    const out = leaveOutUnknownRoles(request, KNOWN, ['rolesRequested']);
    assert.deepEqual(out.ignoredRoles, ['viewer']);
    assert.deepEqual(out.request.principal.roles, []);
    assert.deepEqual(out.request.resource, { type: 'Tenant', id: 't' });
    assert.deepEqual(out.request.context, { rolesRequested: ['user'], labels: ['viewer'] });
  });
});
