import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  actionScopeMayMatch,
  callShapeOf,
  usesHierarchy,
  type PolicyEst,
} from '../../../src/policy/call-shape.js';

// ESTs as Cedar's policyToJson writes them (copied from its output for the policies named).
const ACTION = 'Cedargate::Action';
const act = (id: string) => ({ type: ACTION, id });
const tenant = (id: string) => ({ type: 'Cedargate::Tenant', id });
const ALL = { op: 'All' };
const schema = {
  actionType: ACTION,
  actions: ['users:list', 'users:read', 'users:update'],
  tenantHasData: false,
};

/** `permit (principal, action == users:read, resource) when { principal.tenant == resource.tenant };` */
const flat: PolicyEst = {
  principal: ALL,
  action: { op: '==', entity: act('users:read') },
  resource: ALL,
  conditions: [
    {
      kind: 'when',
      body: {
        '==': {
          left: { '.': { left: { Var: 'principal' }, attr: 'tenant' } },
          right: { '.': { left: { Var: 'resource' }, attr: 'tenant' } },
        },
      },
    },
  ],
};

describe('usesHierarchy', () => {
  it('is false for scopes and conditions without `in`', () => {
    assert.equal(usesHierarchy(flat), false);
    // `action in [...]` reads the schema's action groups, not the entities the sidecar sends.
    assert.equal(
      usesHierarchy({ ...flat, action: { op: 'in', entities: [act('users:read')] } }),
      false,
    );
  });

  it('is true for `principal in Tenant::"t"`, `resource is User in ...` and `in` in a condition', () => {
    assert.equal(usesHierarchy({ ...flat, principal: { op: 'in', entity: tenant('t') } }), true);
    assert.equal(
      usesHierarchy({
        ...flat,
        resource: { op: 'is', entity_type: 'Cedargate::User', in: { entity: tenant('t') } },
      }),
      true,
    );
    const inCondition = {
      kind: 'when',
      body: { in: { left: { Var: 'principal' }, right: { Var: 'resource' } } },
    };
    assert.equal(usesHierarchy({ ...flat, conditions: [inCondition] }), true);
    // Deep inside an expression: `!(... && resource is User in principal.tenant)`.
    const deep = {
      kind: 'unless',
      body: {
        '!': {
          arg: {
            '&&': {
              left: { Value: true },
              right: {
                is: {
                  left: { Var: 'resource' },
                  entity_type: 'Cedargate::User',
                  in: { '.': { left: { Var: 'principal' }, attr: 'tenant' } },
                },
              },
            },
          },
        },
      },
    };
    assert.equal(usesHierarchy({ ...flat, conditions: [deep] }), true);
  });

  it('counts a record literal with an attribute named `in` (a false alarm, never a miss)', () => {
    const record = { kind: 'when', body: { Record: { in: { Value: 1 } } } };
    assert.equal(usesHierarchy({ ...flat, conditions: [record] }), true);
  });
});

describe('actionScopeMayMatch', () => {
  const may = (scope: unknown, action: string) => actionScopeMayMatch(scope, action, schema);

  it('matches All, == the action, and `in` a list holding it', () => {
    assert.equal(may(ALL, 'users:read'), true);
    assert.equal(may({ op: '==', entity: act('users:read') }, 'users:read'), true);
    assert.equal(
      may({ op: 'in', entities: [act('users:list'), act('users:read')] }, 'users:read'),
      true,
    );
    assert.equal(may({ op: 'in', entity: act('users:read') }, 'users:read'), true);
  });

  it('leaves out a policy whose scope names only other actions', () => {
    assert.equal(may({ op: '==', entity: act('users:list') }, 'users:read'), false);
    assert.equal(may({ op: 'in', entities: [act('users:list')] }, 'users:read'), false);
    assert.equal(may({ op: 'in', entity: act('users:update') }, 'users:read'), false);
  });

  it('keeps a policy everywhere when its scope names a group, another type or an unknown form', () => {
    assert.equal(may({ op: 'in', entity: act('writers') }, 'users:read'), true);
    assert.equal(
      may({ op: 'in', entities: [act('users:list'), act('writers')] }, 'users:read'),
      true,
    );
    assert.equal(
      may({ op: '==', entity: { type: 'Other::Action', id: 'users:read' } }, 'users:read'),
      true,
    );
    assert.equal(may({ op: 'in' }, 'users:read'), true);
    assert.equal(may({ op: 'slot' }, 'users:read'), true);
    assert.equal(may(undefined, 'users:read'), true);
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
