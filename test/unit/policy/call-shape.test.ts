import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  actionScopeHolds,
  actionScopeMayMatch,
  callShapeOf,
  usesHierarchy,
} from '../../../src/policy/call-shape.js';
import type { ActionScope, Condition, Expr, PolicyEst } from '../../../src/policy/est.js';

// Typed ESTs (est.ts) of the policies named.
const ACTION = 'Cedargate::Action';
const act = (id: string) => ({ type: ACTION, id });
const tenant = (id: string) => ({ type: 'Cedargate::Tenant', id });
const ALL = { op: 'All' } as const;
const schema = {
  actionType: ACTION,
  actions: ['users:list', 'users:read', 'users:update'],
  tenantHasData: false,
};
const v = (name: 'principal' | 'resource'): Expr => ({ op: 'var', name });
const when = (body: Expr): Condition => ({ kind: 'when', body });

/** `permit (principal, action == users:read, resource) when { principal.tenant == resource.tenant };` */
const flat: PolicyEst = {
  effect: 'permit',
  principal: ALL,
  action: { op: '==', entity: act('users:read') },
  resource: ALL,
  conditions: [
    when({
      op: '==',
      left: { op: '.', left: v('principal'), attr: 'tenant' },
      right: { op: '.', left: v('resource'), attr: 'tenant' },
    }),
  ],
  annotations: {},
};

describe('usesHierarchy', () => {
  it('is false for scopes and conditions without `in`', () => {
    assert.equal(usesHierarchy(flat), false);
    // `action in [...]` reads the schema's action groups, not the entities the sidecar sends.
    assert.equal(
      usesHierarchy({ ...flat, action: { op: 'in', entities: [act('users:read')] } }),
      false,
    );
    // `resource is User` without `in`, and a record literal with an attribute named `in`.
    const record: Expr = {
      op: 'record',
      attributes: { in: { op: 'value', value: { kind: 'bool', value: true } } },
    };
    assert.equal(
      usesHierarchy({
        ...flat,
        resource: { op: 'is', entityType: 'Cedargate::User' },
        conditions: [when({ op: '==', left: record, right: record })],
      }),
      false,
    );
  });

  it('is true for `principal in Tenant::"t"`, `resource is User in ...` and `in` in a condition', () => {
    assert.equal(usesHierarchy({ ...flat, principal: { op: 'in', entity: tenant('t') } }), true);
    assert.equal(
      usesHierarchy({
        ...flat,
        resource: { op: 'is', entityType: 'Cedargate::User', in: tenant('t') },
      }),
      true,
    );
    const inCondition = when({ op: 'in', left: v('principal'), right: v('resource') });
    assert.equal(usesHierarchy({ ...flat, conditions: [inCondition] }), true);
    // Deep inside an expression: `!(true && resource is User in principal.tenant)`.
    const deep: Condition = {
      kind: 'unless',
      body: {
        op: '!',
        arg: {
          op: '&&',
          left: { op: 'value', value: { kind: 'bool', value: true } },
          right: {
            op: 'is',
            left: v('resource'),
            entityType: 'Cedargate::User',
            in: { op: '.', left: v('principal'), attr: 'tenant' },
          },
        },
      },
    };
    assert.equal(usesHierarchy({ ...flat, conditions: [deep] }), true);
  });
});

describe('actionScopeMayMatch', () => {
  const may = (scope: ActionScope, action: string) => actionScopeMayMatch(scope, action, schema);

  it('matches All, == the action, and `in` a list holding it', () => {
    assert.equal(may(ALL, 'users:read'), true);
    assert.equal(may({ op: '==', entity: act('users:read') }, 'users:read'), true);
    assert.equal(
      may({ op: 'in', entities: [act('users:list'), act('users:read')] }, 'users:read'),
      true,
    );
    assert.equal(may({ op: 'in', entities: [act('users:read')] }, 'users:read'), true);
  });

  it('leaves out a policy whose scope names only other actions', () => {
    assert.equal(may({ op: '==', entity: act('users:list') }, 'users:read'), false);
    assert.equal(may({ op: 'in', entities: [act('users:list')] }, 'users:read'), false);
    assert.equal(may({ op: 'in', entities: [act('users:update')] }, 'users:read'), false);
  });

  it('keeps a policy everywhere when its scope names a group or another type', () => {
    assert.equal(may({ op: 'in', entities: [act('writers')] }, 'users:read'), true);
    assert.equal(
      may({ op: 'in', entities: [act('users:list'), act('writers')] }, 'users:read'),
      true,
    );
    assert.equal(
      may({ op: '==', entity: { type: 'Other::Action', id: 'users:read' } }, 'users:read'),
      true,
    );
  });
});

describe('actionScopeHolds', () => {
  const withGroup = { ...schema, actions: [...schema.actions, 'writes'], groups: ['writes'] };
  const holds = (scope: ActionScope, action: string) => actionScopeHolds(scope, action, withGroup);

  it('is certain for plain actions: true naming the action itself, false naming others only', () => {
    assert.equal(holds(ALL, 'users:read'), true);
    assert.equal(
      holds({ op: 'in', entities: [act('writes'), act('users:read')] }, 'users:read'),
      true,
    );
    assert.equal(holds({ op: 'in', entities: [act('users:list')] }, 'users:read'), false);
  });

  it('cannot tell for a declared group (a declared action too), nor for another type', () => {
    assert.equal(holds({ op: 'in', entities: [act('writes')] }, 'users:update'), null);
    assert.equal(holds({ op: '==', entity: act('writes') }, 'users:update'), null);
    assert.equal(
      holds({ op: 'in', entities: [{ type: 'Other::Action', id: 'x' }] }, 'users:read'),
      null,
    );
  });
});

describe('callShapeOf', () => {
  const writeOnly: PolicyEst = { ...flat, action: { op: '==', entity: act('users:update') } };

  it('leaves tenant entities out when no policy and nothing in the schema needs them', () => {
    const shape = callShapeOf({ a: flat, b: writeOnly, c: { ...flat, action: ALL } }, schema);
    assert.equal(shape.tenantEntities, false);
    assert.equal(shape.tenantReason, null);
    assert.deepEqual(shape.slices, {
      'users:list': ['c'],
      'users:read': ['a', 'c'],
      'users:update': ['b', 'c'],
    });
  });

  it('keeps them, naming the policy, when one policy reads the hierarchy', () => {
    const members: PolicyEst = { ...flat, principal: { op: 'in', entity: tenant('t') } };
    const shape = callShapeOf({ a: flat, members }, schema);
    assert.equal(shape.tenantEntities, true);
    assert.match(shape.tenantReason ?? '', /policy members uses the entity hierarchy/);
  });

  it('keeps them when the schema declares attributes or tags on Tenant', () => {
    const shape = callShapeOf({ a: flat }, { ...schema, tenantHasData: true });
    assert.equal(shape.tenantEntities, true);
    assert.match(shape.tenantReason ?? '', /schema declares attributes or tags on Tenant/);
  });
});
