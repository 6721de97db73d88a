/**
 * Which actions' policies read the target user's facts beyond its id and tenant: the shipped
 * set reads them for update and delete only; each way an expression can reach them counts, and
 * only what the request already says (`resource.tenant`, ids, the hierarchy, types) does not.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { policyTreesOf } from '../../../src/policy/cedar-adapter.js';
import { loadPolicySet } from '../../../src/policy/policy-set.js';
import { actionsReadingTarget } from '../../../src/policy/target-reads.js';
import { shippedPolicies } from '../../helpers/process.js';

const READ = 'Cedargate::Action::"users:read"';

/** The actions `conditions` (a `when` of a permit, in the given action scope) make read it. */
function readingOf(when: string, action = `action == ${READ}`): string[] {
  const text = `@id("p") permit (principal, ${action}, resource) when { ${when} };`;
  return actionsReadingTarget(policyTreesOf({ p: text }));
}

describe('actionsReadingTarget', () => {
  it('the shipped set: update and delete read the target, read does not', async () => {
    const set = await loadPolicySet(shippedPolicies);
    assert.deepEqual(actionsReadingTarget(policyTreesOf(set.texts)), [
      'users:update',
      'users:delete',
    ]);
  });

  it('without trees (Cedar gave none): every action on a user reads it', () => {
    assert.deepEqual(actionsReadingTarget(undefined), [
      'users:read',
      'users:update',
      'users:delete',
    ]);
  });

  const known = [
    'resource.tenant == principal.tenant',
    'resource has tenant',
    'resource == principal',
    'resource != Cedargate::User::"x"',
    'resource in principal.tenant',
    'resource is Cedargate::User',
    'principal.roles.contains(Cedargate::Role::"admin") && principal.isOwner',
    '[resource].contains(principal)',
  ];
  for (const when of known) {
    it(`known by construction: ${when}`, () => assert.deepEqual(readingOf(when), []));
  }

  const reads = [
    'resource.roles.contains(Cedargate::Role::"admin")',
    'resource.isOwner',
    '!resource.isOwner || principal.isOwner',
    'resource has isOwner',
    'Cedargate::User::"x".isOwner',
    '(if principal.isOwner then resource else principal).isOwner',
    'resource.tenant == principal.tenant && (resource.isOwner || true)',
  ];
  for (const when of reads) {
    it(`reads the target: ${when}`, () => assert.deepEqual(readingOf(when), ['users:read']));
  }

  it('the action scope decides which actions: all, a list, a group, a tenant action', () => {
    assert.deepEqual(readingOf('resource.isOwner', 'action'), [
      'users:read',
      'users:update',
      'users:delete',
    ]);
    assert.deepEqual(
      readingOf(
        'resource.isOwner',
        'action in [Cedargate::Action::"users:delete", Cedargate::Action::"users:list"]',
      ),
      ['users:delete'],
    );
    // An action group may hold any action: every one counts.
    assert.deepEqual(readingOf('resource.isOwner', 'action in Cedargate::Action::"admin-ops"'), [
      'users:read',
      'users:update',
      'users:delete',
    ]);
    assert.deepEqual(
      readingOf('resource.isOwner', 'action == Cedargate::Action::"users:list"'),
      [],
    );
  });

  it('a policy that reads nothing of the target adds no action, whatever its scope', () => {
    assert.deepEqual(readingOf('principal.isOwner', 'action'), []);
  });
});
