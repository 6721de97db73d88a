import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { policyTreesOf } from '../../../../src/policy/cedar-adapter.js';
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
    const wasm = compileLoadedSet('compiled-loaded-1', set, { engine: 'wasm' });
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
    const wasm = compileLoadedSet('compiled-loaded-2', set, { engine: 'wasm' });
    const answer = compileLoadedDecider(set, (r) => wasm.authorize(r));
    assert.ok('decider' in answer);
    const bogus = { ...update, context: { ...update.context, bogus: true } };
    const decision = answer.decider.decide(bogus);
    assert.deepEqual(decision, wasm.authorize(bogus));
    assert.equal(decision.allowed, false);
    assert.deepEqual(answer.decider.stats().fallbacks, { 'an undeclared context attribute': 1 });
  });
});

describe('compileLoadedSet (issue 25 item 2: the one compile every tool decides through)', () => {
  it('gives the compiled decider by default: Cedar’s answers, counted as compiled', async () => {
    const set = await loadPolicySet(shippedPolicies);
    const wasm = compileLoadedSet('compiled-loaded-3', set, { engine: 'wasm' });
    const compiled = compileLoadedSet('compiled-loaded-4', set);
    assert.equal(compiled.decider, 'compiled');
    assert.equal(compiled.reason, null);
    const removeAdmin = { ...update, context: { ...update.context, rolesRemoved: ['admin'] } };
    for (const request of [update, removeAdmin])
      assert.deepEqual(compiled.authorize(request), wasm.authorize(request));
    assert.deepEqual(compiled.stats(), { compiled: 2, fallbacks: {} });
    // What the compiled decider hands back is decided by cedar-wasm, preparsed when first asked.
    const bogus = { ...update, context: { ...update.context, bogus: true } };
    assert.deepEqual(compiled.authorize(bogus), wasm.authorize(bogus));
    assert.deepEqual(compiled.stats().fallbacks, { 'an undeclared context attribute': 1 });
    assert.deepEqual(compiled.callShape, wasm.callShape);
  });

  it('decides with cedar-wasm alone when asked, or when the set does not compile, saying why', () => {
    const set = setOf(
      schemaWithRoles(['user']),
      `@id("ok") permit (principal, action, resource);

@id("nicknames")
permit (principal, action, resource) when { "a" like "a*" };
`,
    );
    const refused = compileLoadedSet('compiled-loaded-5', set);
    assert.equal(refused.decider, 'wasm');
    assert.equal(refused.reason, 'policy nicknames (rules.cedar:3) uses `like`');
    const asked = compileLoadedSet('compiled-loaded-6', set, { engine: 'wasm', form: 'full' });
    assert.deepEqual([asked.decider, asked.reason, asked.callShape], ['wasm', 'asked for', null]);
    const list = { ...update, action: 'users:list' as const, context: {} };
    const tenant = { type: 'Tenant' as const, id: 't' };
    const answer = refused.authorize({ ...list, resource: tenant });
    assert.deepEqual(answer, asked.authorize({ ...list, resource: tenant }));
    assert.deepEqual(answer.policies, ['nicknames', 'ok']);
    assert.deepEqual(refused.stats(), { compiled: 0, fallbacks: {} });
  });

  it('decides with a set preparsed elsewhere, the ESTs read elsewhere and a given compiler (the store)', async () => {
    const set = await loadPolicySet(shippedPolicies);
    const preparsed = compileLoadedSet('compiled-loaded-7', set, { engine: 'wasm' });
    let asked = 0;
    const wasm = {
      ...preparsed,
      authorize: (r: AuthzRequest) => {
        asked++;
        return preparsed.authorize(r);
      },
    };
    const trees = policyTreesOf(set.texts);
    const given: unknown[] = [];
    const handedBack = compileLoadedSet('never-preparsed', set, {
      wasm,
      trees,
      compiler: (s, fallback, t) => {
        given.push(s, t);
        return { decider: { decide: fallback } };
      },
    });
    assert.deepEqual(given, [set, trees]);
    assert.equal(handedBack.decider, 'compiled');
    assert.deepEqual(handedBack.authorize(update), preparsed.authorize(update));
    assert.equal(asked, 1, 'the preparsed set decided what the compiler handed back');
    assert.deepEqual(
      handedBack.stats(),
      { compiled: 0, fallbacks: {} },
      'a stand-in counts nothing',
    );
    const refused = compileLoadedSet('never-preparsed', set, {
      wasm,
      compiler: () => ({ unsupported: 'a stand-in refused' }),
    });
    assert.deepEqual([refused.decider, refused.reason], ['wasm', 'a stand-in refused']);
    refused.authorize(update);
    assert.equal(asked, 2);
  });
});
