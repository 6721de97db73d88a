/**
 * A request put to the live set (`PolicyStore.ask`, live-decisions.ts): its keys are built once
 * and serve the look-up, the decision and the look-up again; what it answers is always the set
 * live at that moment's (a reload between the question and the decision is decided on the new
 * set), and `key()` names exactly one request, so only true copies share a decision in flight.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { buildUpdateContext } from '../../../../src/policy/context.js';
import type { AuthzRequest, PrincipalFacts } from '../../../../src/policy/types.js';
import type { PolicyStore } from '../../../../src/sidecar/authz/policy-store.js';
import { policyStoreOver } from '../../../helpers/sidecar-fakes.js';
import { tempDirs } from '../../../helpers/temp-dirs.js';

const { copyOfShipped } = tempDirs('cedargate-asked-');
const stores: PolicyStore[] = [];
after(() => stores.forEach((s) => s.close()));

async function openStore(dir = copyOfShipped()): Promise<{ store: PolicyStore; dir: string }> {
  const store = await policyStoreOver(dir);
  stores.push(store);
  return { store, dir };
}

const user = (id: string, roles: string[], isOwner = false): PrincipalFacts => ({
  id,
  tenantId: 'acme',
  roles,
  isOwner,
});
const olivia = user('olivia', ['admin'], true);
const alice = user('alice', ['admin']);

/** `p` sets `roles` on `target` (holding `from`): the role PUT the sidecar decides. */
function rolePut(p: PrincipalFacts, target: string, from: string[], roles: string[]): AuthzRequest {
  return {
    principal: p,
    action: 'users:update',
    resource: { type: 'User', ...user(target, from) },
    context: buildUpdateContext({ name: target, roles: from, avatar_digest: null }, { roles }),
  };
}

const NO_ROLE_CHANGES = `@id("no-role-changes")
@notice("Roles are frozen.")
forbid (principal, action == Cedargate::Action::"users:update", resource)
when { !context.rolesAdded.isEmpty() || !context.rolesRemoved.isEmpty() };
`;

describe('a request put to the live set (PolicyStore.ask)', () => {
  it('a miss: decide() keeps the decision, again() and a request of the same class find it', async () => {
    const { store } = await openStore();
    const asked = store.ask(rolePut(alice, 'uma', ['user'], ['viewer']));
    assert.equal(asked.hit, undefined);
    assert.equal(asked.policyVersion, store.current().version);
    const { policyVersion, decision } = asked.decide();
    assert.equal(policyVersion, store.current().version);
    assert.deepEqual([decision.allowed, decision.cached], [true, false]);
    const again = asked.again();
    assert.deepEqual(again.hit, { ...decision, cached: true });
    // Another target with the same facts: one class, one decision.
    const other = store.ask(rolePut(alice, 'vic', ['user'], ['viewer']));
    assert.deepEqual(other.hit, { ...decision, cached: true });
  });

  it('a reload between the question and the decision: decide() and again() answer on the new set', async () => {
    const { store, dir } = await openStore();
    const asked = store.ask(rolePut(olivia, 'uma', ['user'], ['viewer']));
    assert.equal(asked.hit, undefined);
    writeFileSync(join(dir, 'frozen.cedar'), NO_ROLE_CHANGES);
    assert.equal(await store.reload('test'), 'success');
    const now = store.current().version;
    assert.notEqual(now, asked.policyVersion);
    const { policyVersion, decision } = asked.decide();
    assert.equal(policyVersion, now);
    assert.deepEqual([decision.allowed, decision.policies], [false, ['no-role-changes']]);
    const again = asked.again();
    assert.equal(again.policyVersion, now);
    assert.deepEqual([again.hit?.allowed, again.hit?.cached], [false, true]);
  });

  it('a decision found before a reload is not found again after it', async () => {
    const { store, dir } = await openStore();
    const asked = store.ask(rolePut(olivia, 'uma', ['user'], ['viewer']));
    assert.equal(asked.decide().decision.allowed, true);
    assert.equal(asked.again().hit?.allowed, true);
    writeFileSync(join(dir, 'frozen.cedar'), NO_ROLE_CHANGES);
    assert.equal(await store.reload('test'), 'success');
    const again = asked.again();
    assert.equal(again.hit, undefined, 'the old set’s decision was found on the new set');
    assert.equal(again.decide().decision.allowed, false);
  });

  it('after dropDecisions() again() finds nothing and decides anew', async () => {
    const { store } = await openStore();
    const asked = store.ask(rolePut(olivia, 'uma', ['user'], ['viewer']));
    asked.decide();
    assert.equal(asked.again().hit?.cached, true);
    store.dropDecisions();
    const again = asked.again();
    assert.equal(again.hit, undefined);
    assert.equal(again.decide().decision.cached, false);
  });

  it('key(): the same for copies of a request, another for each other request of its class', async () => {
    const { store } = await openStore();
    const key = (r: AuthzRequest) => store.ask(r).key();
    const base = key(rolePut(alice, 'uma', ['user'], ['viewer']));
    assert.equal(key(rolePut(alice, 'uma', ['user'], ['viewer'])), base);
    // Set order and duplicates are not part of a Cedar set.
    assert.equal(key(rolePut(alice, 'uma', ['user', 'user'], ['viewer'])), base);
    assert.notEqual(key(rolePut(alice, 'vic', ['user'], ['viewer'])), base);
    assert.notEqual(key(rolePut(user('anne', ['admin']), 'uma', ['user'], ['viewer'])), base);
    assert.notEqual(
      key({ ...rolePut(alice, 'uma', ['user'], ['viewer']), action: 'users:read' }),
      base,
    );
    const otherTenant = rolePut(alice, 'uma', ['user'], ['viewer']);
    otherTenant.principal = { ...alice, tenantId: 'globex' };
    assert.notEqual(key(otherTenant), base);
    assert.notEqual(key(rolePut(alice, 'uma', ['user'], ['user'])), base);
  });

  it('a decision that erred is found again for its own request only', async () => {
    const dir = copyOfShipped();
    writeFileSync(
      join(dir, 'overflow.cedar'),
      '@id("overflow-owner")\n@notice("boom")\nforbid (principal, action, resource)\nwhen { principal.isOwner && 9223372036854775807 + 1 > 0 };\n',
    );
    const { store } = await openStore(dir);
    const asked = store.ask(rolePut(olivia, 'uma', ['user'], ['viewer']));
    const { decision } = asked.decide();
    assert.match(decision.errors.join(), /overflow/);
    assert.equal(asked.again().hit?.cached, true);
    const classMate = store.ask(rolePut(olivia, 'vic', ['user'], ['viewer']));
    assert.equal(classMate.hit, undefined, 'a decision that erred was handed to another request');
    assert.match(classMate.decide().decision.errors.join(), /overflow/);
  });
});
