import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createDecisionCache,
  decisionKeyOf,
  decisionKeysFor,
} from '../../../../src/sidecar/authz/decision-cache.js';
import type { RequestAbstraction } from '../../../../src/policy/request-abstraction.js';
import type { AuthzRequest, Decision } from '../../../../src/policy/types.js';

const base: AuthzRequest = {
  principal: { id: 'p', tenantId: 't', roles: ['user'], isOwner: false },
  action: 'users:update',
  resource: { type: 'User', id: 'r', tenantId: 't', roles: ['viewer'], isOwner: false },
  context: { rolesAdded: ['admin'], nameChanges: false },
};

describe('decisionKeyOf', () => {
  it('changes with every fact a decision reads', () => {
    const variants: AuthzRequest[] = [
      { ...base, action: 'users:delete' },
      { ...base, principal: { ...base.principal, id: 'q' } },
      { ...base, principal: { ...base.principal, tenantId: 'u' } },
      { ...base, principal: { ...base.principal, roles: ['admin'] } },
      { ...base, principal: { ...base.principal, roles: [] } },
      { ...base, principal: { ...base.principal, isOwner: true } },
      { ...base, resource: { ...base.resource, id: 's' } },
      { ...base, resource: { ...base.resource, tenantId: 'u' } as AuthzRequest['resource'] },
      { ...base, resource: { ...base.resource, roles: ['admin'] } as AuthzRequest['resource'] },
      { ...base, resource: { ...base.resource, isOwner: true } as AuthzRequest['resource'] },
      { ...base, resource: { type: 'Tenant', id: 'r' } },
      { ...base, context: { ...base.context, nameChanges: true } },
      { ...base, context: { ...base.context, rolesAdded: [] } },
      { ...base, context: { ...base.context, extra: 'x' } },
      { ...base, context: { ...base.context, nameChanges: 'false' } },
    ];
    const keys = new Set([
      decisionKeyOf('v1', base),
      ...variants.map((v) => decisionKeyOf('v1', v)),
    ]);
    assert.equal(keys.size, variants.length + 1);
    assert.notEqual(decisionKeyOf('v1', base), decisionKeyOf('v2', base));
  });

  it('ignores the order of roles and of context keys', () => {
    const a = { ...base, principal: { ...base.principal, roles: ['user', 'admin'] } };
    const b = {
      ...base,
      principal: { ...base.principal, roles: ['admin', 'user'] },
      context: { nameChanges: false, rolesAdded: ['admin'] },
    };
    assert.equal(decisionKeyOf('v', a), decisionKeyOf('v', b));
  });
});

describe('decisionKeysFor', () => {
  const abstraction = (key: string | undefined): RequestAbstraction => ({
    literals: { users: new Set(), tenants: new Set(), roles: new Set() },
    refusal: key === undefined ? 'refused' : null,
    keyOf: () => key,
  });

  it('keys a class by the policy set version too, apart from every exact key', () => {
    const v1 = decisionKeysFor('v1', abstraction('class'));
    const v2 = decisionKeysFor('v2', abstraction('class'));
    assert.notEqual(v1.shared(base), v2.shared(base));
    assert.notEqual(v1.shared(base), v1.exact(base));
    assert.equal(v1.exact(base), decisionKeyOf('v1', base));
  });

  it('has no shared key where the abstraction refuses', () => {
    assert.equal(decisionKeysFor('v1', abstraction(undefined)).shared(base), undefined);
  });
});

describe('createDecisionCache', () => {
  const d: Decision = { allowed: true, policies: ['x'], notices: [], errors: [], cached: false };

  it('evicts the least recently used entry beyond max', () => {
    const cache = createDecisionCache(2);
    cache.set('a', d);
    cache.set('b', d);
    assert.equal(cache.get('a'), d); // a is now the most recent
    cache.set('c', d);
    assert.equal(cache.get('b'), undefined);
    assert.equal(cache.get('a'), d);
    assert.equal(cache.size, 2);
  });

  it('holds nothing when max is 0', () => {
    const cache = createDecisionCache(0);
    cache.set('a', d);
    assert.equal(cache.get('a'), undefined);
  });
});
