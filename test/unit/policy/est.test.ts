import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { policyTreesOf } from '../../../src/policy/cedar-adapter.js';
import { EstError, toPolicyEst } from '../../../src/policy/est.js';
import { loadPolicySet } from '../../../src/policy/policy-set.js';
import { shippedPolicies } from '../../helpers/process.js';

const A = (id: string) => `Cedargate::Action::"${id}"`;

describe('toPolicyEst', () => {
  it('reads every shipped policy', async () => {
    const set = await loadPolicySet(shippedPolicies);
    const trees = policyTreesOf(set.texts);
    assert.deepEqual(Object.keys(trees).sort(), Object.keys(set.texts).sort());
    const own = trees['users-edit-own-profile'];
    assert.equal(own?.effect, 'permit');
    assert.deepEqual(own?.action, {
      op: '==',
      entity: { type: 'Cedargate::Action', id: 'users:update' },
    });
    assert.deepEqual(own?.resource, { op: 'is', entityType: 'Cedargate::User' });
    assert.equal(own?.conditions[0]?.kind, 'when');
    assert.equal(own?.conditions[0]?.body.op, '&&');
  });

  it('reads each expression form into its typed node', () => {
    const [tree] = Object.values(
      policyTreesOf({
        p: `permit (principal is Cedargate::User in Cedargate::Tenant::"t", action in [${A('a')}, ${A('b')}], resource)
when { principal has tenant.x && -(1) + 2 * 3 < 4 && (if true then [1] else []).containsAny([1]) }
unless { "a" like "*" || ip("1.2.3.4").isIpv4() || {a: 1} == {a: 1} };`,
      }),
    );
    assert.ok(tree !== undefined);
    assert.deepEqual(tree.principal, {
      op: 'is',
      entityType: 'Cedargate::User',
      in: { type: 'Cedargate::Tenant', id: 't' },
    });
    assert.equal(tree.action.op === 'in' && tree.action.entities.length, 2);
    const ops: string[] = [];
    const walk = (e: unknown): void => {
      if (typeof e !== 'object' || e === null) return;
      if (typeof (e as { op?: unknown }).op === 'string') ops.push((e as { op: string }).op);
      for (const v of Object.values(e)) walk(v);
    };
    walk(tree.conditions);
    for (const op of [
      'has',
      'neg',
      '+',
      '*',
      '<',
      'if',
      'set',
      'containsAny',
      'like',
      'call',
      'record',
    ])
      assert.ok(ops.includes(op), `${op} in ${ops.join(' ')}`);
  });

  it('refuses an unknown construct, naming it and where it stands', () => {
    const est = {
      effect: 'permit',
      principal: { op: 'All' },
      action: { op: 'All' },
      resource: { op: 'All' },
      conditions: [{ kind: 'when', body: { '&&': { left: { Value: true }, right: { frob: 1 } } } }],
    };
    assert.throws(
      () => toPolicyEst(est),
      (err: unknown) =>
        err instanceof EstError &&
        err.path === 'conditions[0].body.&&.right.frob' &&
        /unknown expression "frob"/.test(err.message),
    );
    assert.throws(
      () => toPolicyEst({ ...est, principal: { op: 'near' } }),
      /at principal\.op: unknown scope operator "near"/,
    );
    assert.throws(() => toPolicyEst({ ...est, effect: 'maybe' }), /at effect: expected "permit"/);
  });
});
