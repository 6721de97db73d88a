/**
 * One notion of a change class for `policy diff` and `policy replay`: the relation, the facts a
 * class is told by (in the two vocabularies), the key and the one-line summary.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AS_SEEN,
  RELATION_TEXT,
  classKey,
  describe as describeFacts,
  featuresOf,
  intersect,
  relationOf,
  sortClasses,
  summaryOf,
} from '../../../../src/policy/authoring/change-classes.js';
import type { Vocabulary } from '../../../../src/policy/authoring/change-classes.js';
import type { AuthzRequest } from '../../../../src/policy/types.js';

const target = {
  type: 'User',
  id: 'u-2',
  tenantId: 't1',
  roles: ['user'],
  isOwner: false,
} as const;
const request: AuthzRequest = {
  principal: { id: 'u-admin', tenantId: 't1', roles: ['admin', 'viewer'], isOwner: false },
  action: 'users:update',
  resource: target,
  context: { rolesAdded: ['admin'], rolesRemoved: [], nameChanges: false, note: 'x' },
};

const texts = (r: AuthzRequest, words: Vocabulary) =>
  describeFacts(featuresOf(r, relationOf(r), words));

/** The vocabulary of a diff over roles admin, user, viewer naming user `alice`, tenant `acme`. */
const named: Vocabulary = {
  users: new Set(['alice']),
  tenants: new Set(['acme']),
  roles: { of: () => ['admin', 'user', 'viewer'], emptiness: () => true },
};

describe('change classes', () => {
  it('relationOf names how principal and resource relate', () => {
    const p = request.principal;
    assert.equal(relationOf({ ...request, resource: { ...target, id: p.id } }), 'self');
    assert.equal(relationOf(request), 'same-tenant');
    assert.equal(
      relationOf({ ...request, resource: { ...target, tenantId: 't2' } }),
      'other-tenant',
    );
    assert.equal(relationOf({ ...request, resource: { type: 'Tenant', id: 't1' } }), 'own-tenant');
    assert.equal(
      relationOf({ ...request, resource: { type: 'Tenant', id: 't2' } }),
      'other-tenant',
    );
  });

  it('as seen in a log: the roles held (or none), the owner flag, the relation, the context', () => {
    const noRoles = { ...request, resource: { ...target, roles: [] } };
    assert.deepEqual(texts(noRoles, AS_SEEN), {
      principal: ['holds admin', 'holds viewer', 'is not the owner'],
      resource: ['another user of the same tenant', 'holds no role', 'is not the owner'],
      context: ['rolesAdded has admin', 'rolesRemoved is empty', 'not nameChanges', 'note = "x"'],
    });
  });

  it('in a diff: every described role held or not, ids by name, emptiness both ways', () => {
    const r = { ...request, principal: { ...request.principal, id: 'alice', tenantId: 'acme' } };
    assert.deepEqual(texts(r, named), {
      principal: [
        'is User "alice"',
        'in Tenant "acme"',
        'holds admin',
        'does not hold user',
        'holds viewer',
        'is not the owner',
      ],
      resource: [
        'a user of another tenant',
        'is a user no policy names',
        'in a tenant no policy names',
        'does not hold admin',
        'holds user',
        'does not hold viewer',
        'is not the owner',
      ],
      context: [
        'rolesAdded is not empty',
        'rolesAdded has admin',
        'rolesAdded lacks user',
        'rolesAdded lacks viewer',
        'rolesRemoved is empty',
        'rolesRemoved lacks admin',
        'rolesRemoved lacks user',
        'rolesRemoved lacks viewer',
        'not nameChanges',
        'note = "x"',
      ],
    });
  });

  it('acting on oneself and on a tenant: the resource is the relation (and the tenant named)', () => {
    const self = { ...request, resource: { ...target, id: request.principal.id } };
    assert.deepEqual(texts(self, AS_SEEN).resource, ['themselves']);
    const tenant: AuthzRequest = {
      ...request,
      action: 'users:list',
      resource: { type: 'Tenant', id: 'acme' },
      context: {},
    };
    assert.deepEqual(texts(tenant, named).resource, [
      'a user of another tenant',
      'is Tenant "acme"',
    ]);
    assert.deepEqual(texts(tenant, AS_SEEN).resource, ['a user of another tenant']);
  });

  it('intersect keeps the facts every member has, in the first member’s order', () => {
    const a = featuresOf(request, 'same-tenant', AS_SEEN);
    const other = { ...request, principal: { ...request.principal, roles: ['admin'] } };
    const b = featuresOf(other, 'same-tenant', AS_SEEN);
    const shared = intersect(intersect(null, a), b);
    assert.deepEqual(describeFacts(shared).principal, ['holds admin', 'is not the owner']);
    assert.equal(intersect(null, a), a);
  });

  it('one summary sentence, both answers in the same words whatever changed', () => {
    const facts = featuresOf(request, 'same-tenant', AS_SEEN).filter((f) =>
      ['principal.role.admin', 'context.rolesAdded.admin'].includes(f.key),
    );
    const head = { action: 'users:update', relation: 'same-tenant' } as const;
    assert.equal(
      summaryOf(
        {
          ...head,
          before: { decision: 'deny', policies: ['only-owner-grants-admin'] },
          after: { decision: 'allow', policies: ['admins-manage-users'] },
        },
        facts,
      ),
      'users:update by a user who holds admin on another user of the same tenant with rolesAdded has admin: ' +
        'deny → allow, allowed by admins-manage-users; was denied by only-owner-grants-admin',
    );
    // A denial that stays one (diff's `notices`, replay's `policies`) reads the same way.
    assert.equal(
      summaryOf(
        {
          ...head,
          before: { decision: 'deny', policies: ['only-owner-grants-admin'] },
          after: { decision: 'deny', policies: [] },
        },
        [],
      ),
      'users:update by anyone on another user of the same tenant: deny → deny, denied, no policy permits; ' +
        'was denied by only-owner-grants-admin',
    );
  });

  it('the summary names the class’s relation even when the facts no longer list it', () => {
    const facts = featuresOf(request, 'self', AS_SEEN).filter((f) => f.key !== 'relation');
    const s = summaryOf(
      {
        action: 'users:update',
        relation: 'self',
        before: { decision: 'allow', policies: ['p'] },
        after: { decision: 'deny', policies: [] },
      },
      facts,
    );
    assert.match(s, new RegExp(`^users:update by a user who .* on ${RELATION_TEXT.self} with `));
    assert.ok(!s.includes(' who holds user'), 'no resource facts on oneself');
  });

  it('classKey tells classes apart by action, relation, kind and both answers', () => {
    const allow = { decision: 'allow', policies: ['p'] } as const;
    const deny = { decision: 'deny', policies: [] } as const;
    const key = classKey('users:read', 'self', 'decision', allow, deny);
    assert.equal(classKey('users:read', 'self', 'decision', { ...allow }, { ...deny }), key);
    const others = [
      classKey('users:list', 'self', 'decision', allow, deny),
      classKey('users:read', 'same-tenant', 'decision', allow, deny),
      classKey('users:read', 'self', 'notices', allow, deny),
      classKey('users:read', 'self', 'decision', { ...allow, policies: ['q'] }, deny),
      classKey('users:read', 'self', 'decision', allow, { ...deny, policies: ['f'] }),
    ];
    assert.equal(new Set([key, ...others]).size, 6);
  });

  it('sortClasses: by action in the API’s order, then larger first', () => {
    const classes: { action: AuthzRequest['action']; count: number }[] = [
      { action: 'users:delete', count: 9 },
      { action: 'users:list', count: 1 },
      { action: 'users:list', count: 5 },
    ];
    const sorted = sortClasses(classes);
    assert.deepEqual(
      sorted.map((c) => `${c.action} ${c.count}`),
      ['users:list 5', 'users:list 1', 'users:delete 9'],
    );
  });
});
