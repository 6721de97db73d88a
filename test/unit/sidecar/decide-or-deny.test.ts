/**
 * decideFairly (decide-or-deny.ts): a cached decision is answered at once; an uncached one waits
 * for its tenant's turn, and copies of one request asked at the same time share that turn —
 * but only copies: requests of one class on other users each get a turn and a decision of
 * their own (a decision that erred names its request's ids, and each is counted once).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildUpdateContext } from '../../../src/policy/context.js';
import type { AuthzRequest } from '../../../src/policy/types.js';
import type { PolicyStore } from '../../../src/sidecar/authz/policy-store.js';
import { decideFairly } from '../../../src/sidecar/decide-or-deny.js';
import { OWNER, T, U1, U2, shippedPolicyStore } from '../../helpers/sidecar-fakes.js';

/** The owner moves `target` from user to viewer. */
function rolePut(target: string): AuthzRequest {
  return {
    principal: { id: OWNER, tenantId: T, roles: ['admin'], isOwner: true },
    action: 'users:update',
    resource: { type: 'User', id: target, tenantId: T, roles: ['user'], isOwner: false },
    context: buildUpdateContext(
      { name: 'x', roles: ['user'], avatar_digest: null },
      { roles: ['viewer'] },
    ),
  };
}

/** A fair gate that holds every turn until `release()`, counting them. */
function heldGate() {
  const waiting: (() => void)[] = [];
  let turns = 0;
  return {
    fair: {
      run<R>(_tenant: string, _cost: number, work: () => R | Promise<R>): Promise<R> {
        turns++;
        return new Promise<void>((r) => waiting.push(r)).then(work);
      },
    },
    turns: () => turns,
    release: () => waiting.splice(0).forEach((r) => r()),
  };
}

describe('decideFairly', () => {
  let policies: PolicyStore;
  before(async () => {
    policies = await shippedPolicyStore();
  });
  after(() => policies.close());

  it('copies of one uncached request asked at once share one turn and one decision', async () => {
    policies.dropDecisions();
    const gate = heldGate();
    const deps = { policies, fair: gate.fair };
    const copies = [1, 2, 3].map(() => decideFairly(deps, T, rolePut(U1), 'request'));
    assert.equal(gate.turns(), 1);
    gate.release();
    const answers = await Promise.all(copies);
    assert.ok(answers.every((a) => a === answers[0]));
    assert.deepEqual([answers[0]?.decision.allowed, answers[0]?.decision.cached], [true, false]);
  });

  it('requests of one class on two users wait for a turn each: they are not copies', async () => {
    policies.dropDecisions();
    const gate = heldGate();
    const deps = { policies, fair: gate.fair };
    const both = [U1, U2].map((id) => decideFairly(deps, T, rolePut(id), 'request'));
    assert.equal(gate.turns(), 2);
    gate.release();
    const [first, second] = await Promise.all(both);
    assert.equal(first?.decision.cached, false);
    // The second turn finds the first one's decision kept for the class.
    assert.equal(second?.decision.cached, true);
  });

  it('a cached decision is answered without a turn', async () => {
    policies.dropDecisions();
    policies.decide(rolePut(U1));
    const gate = heldGate();
    const { decision } = await decideFairly(
      { policies, fair: gate.fair },
      T,
      rolePut(U2),
      'request',
    );
    assert.equal(gate.turns(), 0);
    assert.equal(decision.cached, true);
  });
});
