import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { avatarDigestOf } from '../../../src/policy/context.js';
import {
  decideQuestion,
  requestOfQuestion,
  type QuestionUser,
} from '../../../src/policy/question.js';
import type { AuthzRequest } from '../../../src/policy/types.js';

const AVATAR = 'data:image/png;base64,AA==';
const alice: QuestionUser = {
  id: 'alice',
  tenant_id: 'acme',
  roles: ['admin'],
  is_owner: false,
  name: 'Alice',
  avatar_digest: null,
};
const uma: QuestionUser = {
  id: 'uma',
  tenant_id: 'acme',
  roles: ['viewer', 'user'],
  is_owner: false,
  name: 'Uma',
  avatar_digest: avatarDigestOf(AVATAR),
};

describe('requestOfQuestion', () => {
  it('asks about a user with the facts the policies see, and no context for a read', () => {
    const r = requestOfQuestion({
      action: 'users:read',
      tenantId: 'acme',
      principal: alice,
      target: uma,
    });
    assert.deepEqual(r, {
      principal: { id: 'alice', tenantId: 'acme', roles: ['admin'], isOwner: false },
      action: 'users:read',
      resource: {
        type: 'User',
        id: 'uma',
        tenantId: 'acme',
        roles: ['viewer', 'user'],
        isOwner: false,
      },
      context: {},
    });
  });

  it("builds an update's context against the target as stored", () => {
    const r = requestOfQuestion({
      action: 'users:update',
      tenantId: 'acme',
      principal: alice,
      target: uma,
      input: { roles: ['admin', 'user', 'user'], name: 'Uma', avatar: AVATAR },
    });
    assert.deepEqual(r.context, {
      rolesRequested: ['admin', 'user'],
      rolesAdded: ['admin'],
      rolesRemoved: ['viewer'],
      // The same name and the same image: neither changes.
      nameChanges: false,
      avatarChanges: false,
    });
  });

  it("builds a create's context from the roles asked for, on the tenant", () => {
    const r = requestOfQuestion({
      action: 'users:create',
      tenantId: 'acme',
      principal: alice,
      input: { name: 'New', email: 'n@example.com', roles: ['user', 'admin'] },
    });
    assert.deepEqual(r.resource, { type: 'Tenant', id: 'acme' });
    assert.deepEqual(r.context, { rolesRequested: ['admin', 'user'] });
  });

  it('asks the tenant it names about list, whatever target is given', () => {
    const r = requestOfQuestion({
      action: 'users:list',
      tenantId: 'other',
      principal: alice,
      target: uma,
    });
    assert.deepEqual(r.resource, { type: 'Tenant', id: 'other' });
    assert.deepEqual(r.context, {});
  });

  it('acting on oneself is one entity: the target, the fresher copy, is both', () => {
    // The principal as authenticated at the head; the target re-read after a 412 since.
    const stale = { ...uma, roles: ['admin', 'user'] };
    const r = requestOfQuestion({
      action: 'users:update',
      tenantId: 'acme',
      principal: stale,
      target: uma,
      input: { roles: ['user'] },
    });
    const facts = { id: 'uma', tenantId: 'acme', roles: ['viewer', 'user'], isOwner: false };
    assert.deepEqual(r.principal, facts);
    assert.deepEqual(r.resource, { type: 'User', ...facts });
    assert.deepEqual(r.context['rolesRemoved'], ['viewer']);
  });

  it('uses a given context instead of building one from the input', () => {
    const context = { rolesRequested: ['admin'] };
    const r = requestOfQuestion({
      action: 'users:update',
      tenantId: 'acme',
      principal: alice,
      target: uma,
      input: { roles: ['user'] },
      context,
    });
    assert.deepEqual(r.context, context);
  });

  it('builds no context for an update or create without input', () => {
    for (const action of ['users:update', 'users:create'] as const) {
      const r = requestOfQuestion({ action, tenantId: 'acme', principal: alice, target: uma });
      assert.deepEqual(r.context, {}, action);
    }
  });
});

describe('decideQuestion', () => {
  it('hands the decider the very request it returns', () => {
    const seen: AuthzRequest[] = [];
    const { request, decision } = decideQuestion(
      { action: 'users:delete', tenantId: 'acme', principal: alice, target: uma },
      (r) => {
        seen.push(r);
        return r.principal.roles.includes('admin') ? 'allow' : 'deny';
      },
    );
    assert.equal(decision, 'allow');
    assert.equal(seen.length, 1);
    assert.equal(seen[0], request);
    assert.deepEqual(
      request,
      requestOfQuestion({
        action: 'users:delete',
        tenantId: 'acme',
        principal: alice,
        target: uma,
      }),
    );
  });
});
