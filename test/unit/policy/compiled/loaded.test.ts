import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileLoadedDecider } from '../../../../src/policy/compiled/loaded.js';
import {
  buildPolicySet,
  compileLoadedSet,
  loadPolicySet,
} from '../../../../src/policy/policy-set.js';
import type { AuthzRequest } from '../../../../src/policy/types.js';
import { shippedPolicies } from '../../../helpers/process.js';
import { schemaWithRoles } from '../../../helpers/small-policies.js';

const setOf = (schema: string, policies: string) =>
  buildPolicySet('/compiled', {
    schema: { file: 'schema.cedarschema', text: schema },
    policies: [{ file: 'rules.cedar', text: policies }],
    version: 'v',
  });

const neverCalled = () => {
  throw new Error('the fallback was called');
};

const update: AuthzRequest = {
  principal: { id: 'a', tenantId: 't', roles: ['admin'], isOwner: false },
  action: 'users:update',
  resource: { type: 'User', id: 'b', tenantId: 't', roles: ['user'], isOwner: false },
  context: {
    rolesRequested: ['user'],
    rolesAdded: [],
    rolesRemoved: [],
    nameChanges: true,
    avatarChanges: false,
  },
};

describe('compileLoadedDecider', () => {
  it('compiles the shipped policies and decides as Cedar does without calling it', async () => {
    const set = await loadPolicySet(shippedPolicies);
    const wasm = compileLoadedSet('compiled-loaded-1', set);
    const answer = compileLoadedDecider(set, neverCalled);
    assert.ok('decider' in answer);
    const removeAdmin = { ...update, context: { ...update.context, rolesRemoved: ['admin'] } };
    for (const request of [update, removeAdmin]) {
      assert.deepEqual(answer.decider.decide(request), wasm.authorize(request));
    }
    assert.deepEqual(answer.decider.decide(removeAdmin).policies, ['only-owner-grants-admin']);
    assert.deepEqual(answer.decider.stats(), { compiled: 3, fallbacks: {} });
  });

  it('names the construct, the policy and its place that keep a set on Cedar', () => {
    const set = setOf(
      schemaWithRoles(['user']),
      `@id("ok") permit (principal, action, resource);

@id("nicknames")
permit (principal, action, resource) when { "a" like "a*" };
`,
    );
    assert.deepEqual(compileLoadedDecider(set, neverCalled), {
      unsupported: 'policy nicknames (rules.cedar:3) uses `like`',
    });
  });

  it('refuses a schema whose entities it does not model', () => {
    const set = setOf(
      schemaWithRoles(['user']).replace('entity Tenant;', 'entity Tenant { name: String };'),
      '@id("ok") permit (principal, action, resource);',
    );
    assert.deepEqual(compileLoadedDecider(set, neverCalled), {
      unsupported: 'the schema: the schema declares attributes on Tenant',
    });
  });

  it('hands a request Cedar refuses as a whole to the fallback, and counts it', async () => {
    const set = await loadPolicySet(shippedPolicies);
    const wasm = compileLoadedSet('compiled-loaded-2', set);
    const answer = compileLoadedDecider(set, (r) => wasm.authorize(r));
    assert.ok('decider' in answer);
    const bogus = { ...update, context: { ...update.context, bogus: true } };
    const decision = answer.decider.decide(bogus);
    assert.deepEqual(decision, wasm.authorize(bogus));
    assert.equal(decision.allowed, false);
    assert.deepEqual(answer.decider.stats().fallbacks, { 'an undeclared context attribute': 1 });
  });
});
