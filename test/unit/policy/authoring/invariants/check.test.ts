/**
 * `policy check` on hand-made sets with known escalations, on the shipped set (its counts and
 * its invariants), and on the shipped set weakened as docs/policies.md's diff example weakens it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CheckRefusedError } from '../../../../../src/policy/authoring/invariants/check.js';
import { InvariantFileError } from '../../../../../src/policy/authoring/invariants/language.js';
import { renderCheck, stepText } from '../../../../../src/policy/authoring/invariants/render.js';
import { buildPolicySet, loadPolicySet } from '../../../../../src/policy/policy-set.js';
import {
  checkSet,
  policySetOf,
  shippedPolicyTexts,
  shippedSetWith,
} from '../../../../helpers/invariant-sets.js';
import { shippedPolicies } from '../../../../helpers/process.js';
import { schemaWithRoles } from '../../../../helpers/small-policies.js';

const A = (id: string) => `Cedargate::Action::"${id}"`;
const R = (id: string) => `Cedargate::Role::"${id}"`;

/** Nobody changes their own roles; `granter` may grant `granted` only, and nothing else is allowed. */
function grants(pairs: readonly [string, string][]): string {
  const own = `@id("no-own-role-change")
forbid (principal, action == ${A('users:update')}, resource)
when { resource == principal && !context.rolesAdded.isEmpty() };
`;
  return (
    own +
    pairs
      .map(
        ([granter, granted]) => `@id("${granter}-grants-${granted}")
permit (principal, action == ${A('users:update')}, resource is Cedargate::User)
when { principal.roles.contains(${R(granter)}) && context.rolesRemoved.isEmpty() &&
  context.rolesAdded == [${R(granted)}] && resource.tenant == principal.tenant };
`,
      )
      .join('')
  );
}

const ONLY_OWNER_MAKES_ADMINS = `invariants:
  - id: only-owner-makes-admins
    never: { request: { by: { not: owner }, adds: admin } }
`;

describe('policy check: escalations that take more than one request', () => {
  it('finds the two-request escalation: an admin makes a manager, who makes an admin', () => {
    const set = policySetOf(
      ['admin', 'manager', 'user'],
      grants([
        ['admin', 'manager'],
        ['manager', 'admin'],
      ]),
    );
    const report = checkSet(
      set,
      `${ONLY_OWNER_MAKES_ADMINS}start: { others: [[admin], [user], [user]] }\n`,
    );
    const [inv] = report.invariants;
    assert.equal(inv?.holds, false);
    const steps = inv?.counterexample?.steps ?? [];
    const shown = steps.map(stepText).join('\n');
    assert.deepEqual(
      steps.map((s) => [s.action, s.policies]),
      [
        ['users:update', ['admin-grants-manager']],
        ['users:update', ['manager-grants-admin']],
      ],
      shown,
    );
    // The manager made in the first request makes an admin of a user in the second.
    const [first, second] = steps;
    assert.equal(second?.by.id, first?.on?.id, shown);
    assert.ok(second?.by.roles.includes('manager'), shown);
    assert.ok(!second?.on?.roles.includes('admin') && second?.roles?.includes('admin'), shown);
  });

  it('finds the three-request escalation through a chain of roles, and no shorter one', () => {
    const roles = ['admin', 'manager', 'user', 'viewer'];
    const set = policySetOf(
      roles,
      grants([
        ['admin', 'user'],
        ['user', 'manager'],
        ['manager', 'admin'],
      ]),
    );
    const report = checkSet(
      set,
      `${ONLY_OWNER_MAKES_ADMINS}start: { others: [[admin], [viewer]] }\n`,
      { users: 3 },
    );
    const steps = report.invariants[0]?.counterexample?.steps ?? [];
    assert.deepEqual(
      steps.map((s) => s.policies.join()),
      ['admin-grants-user', 'user-grants-manager', 'manager-grants-admin'],
      steps.map(stepText).join('\n'),
    );
    assert.equal(steps[2]?.by.owner, false);
    // Without the middle link, nobody but the owner makes an admin.
    const safe = policySetOf(
      roles,
      grants([
        ['admin', 'user'],
        ['manager', 'admin'],
      ]),
    );
    const held = checkSet(
      safe,
      `${ONLY_OWNER_MAKES_ADMINS}start: { others: [[admin], [viewer]] }\n`,
      { users: 3 },
    );
    assert.equal(held.invariants[0]?.holds, true);
  });

  it('a created user counts: an admin who may create managers escalates by a create', () => {
    const text = `${grants([['manager', 'admin']])}@id("admins-create-managers")
permit (principal, action == ${A('users:create')}, resource is Cedargate::Tenant)
when { principal.roles.contains(${R('admin')}) && context.rolesRequested == [${R('manager')}] };
`;
    const set = policySetOf(['admin', 'manager'], text);
    // Four users: room for the one the admin creates.
    const report = checkSet(set, `${ONLY_OWNER_MAKES_ADMINS}start: { others: [[admin], []] }\n`, {
      users: 4,
    });
    const steps = report.invariants[0]?.counterexample?.steps ?? [];
    const shown = steps.map(stepText).join('\n');
    assert.deepEqual(
      steps.map((s) => [s.action, s.policies.join()]),
      [
        ['users:create', 'admins-create-managers'],
        ['users:update', 'manager-grants-admin'],
      ],
      shown,
    );
    assert.equal(steps[1]?.by.id, steps[0]?.created, shown);
    assert.equal(steps[1]?.on?.owner, false, shown);
  });
});

describe('policy check: the shipped set', () => {
  const shippedInvariants = join(shippedPolicies, 'invariants.yaml');

  it('holds every invariant of policies/invariants.yaml', async () => {
    const set = await loadPolicySet(shippedPolicies);
    const report = checkSet(set, readFileSync(shippedInvariants, 'utf8'));
    assert.deepEqual(
      report.invariants.filter((i) => !i.holds).map((i) => i.id),
      [],
      renderCheck(report, 0),
    );
    assert.ok(report.invariants.length >= 5);
  });

  it('counts every role set of every user: 4 owner sets times the multisets of the others', async () => {
    const set = await loadPolicySet(shippedPolicies);
    const invariants = `invariants:\n  - id: owner-keeps-admin\n    always: { user: owner, has: admin }\n`;
    // Three roles: 8 role sets, 4 with admin for the owner; up to N-1 others as a multiset.
    const multisets = (k: number) => binomial(8 + k, k); // multisets of size <= k of 8 values
    for (const users of [1, 2, 3, 4]) {
      const report = checkSet(set, invariants, { users });
      assert.equal(report.starts, 4 * multisets(users - 1), `--users ${users}`);
      // Every state is a start state: the space is closed.
      assert.equal(report.states, report.starts, `--users ${users}`);
    }
  });

  it('from one start state, reaches what the naive count reaches (see the property test)', async () => {
    const set = await loadPolicySet(shippedPolicies);
    const report = checkSet(
      set,
      `invariants:\n  - id: some-admin\n    always: { count: { has: admin }, at_least: 1 }\nstart: { others: [[viewer]] }\n`,
      { users: 3 },
    );
    assert.equal(report.starts, 1);
    // The owner [admin] alone or with one or two others of any role sets (the owner creates any).
    assert.equal(report.states, binomial(8 + 2, 2));
  });

  it('weakened as in the diff example, prints the request that breaks only-owner-unmakes-admins', () => {
    const texts = shippedPolicyTexts();
    const admins = texts['admins.cedar'] as string;
    const weakened = admins.replace(
      /\|\|\s*context\.rolesRemoved\.contains\(Cedargate::Role::"admin"\)/,
      '',
    );
    assert.notEqual(weakened, admins, 'the clause to drop is in admins.cedar');
    const set = shippedSetWith({ ...texts, 'admins.cedar': weakened });
    const report = checkSet(set, readFileSync(shippedInvariants, 'utf8'));
    const failed = report.invariants.filter((i) => !i.holds);
    assert.deepEqual(
      failed.map((i) => i.id),
      ['only-owner-unmakes-admins'],
    );
    const steps = failed[0]?.counterexample?.steps ?? [];
    assert.equal(steps.length, 1);
    const [step] = steps;
    assert.equal(step?.by.owner, false);
    assert.ok(step?.by.roles.includes('admin'));
    assert.ok(step?.on?.roles.includes('admin'));
    assert.ok(!step?.roles?.includes('admin'));
    assert.deepEqual(step?.policies, ['admins-manage-users']);
    const text = renderCheck(report, 0);
    assert.match(text, /FAIL {2}only-owner-unmakes-admins/);
    assert.match(text, /users:update .* \(allowed by admins-manage-users\)/);
  });
});

describe('policy check: what it refuses', () => {
  it('refuses a start state with more users than --users allows, at the line of start', () => {
    const set = policySetOf(['admin'], grants([]));
    assert.throws(
      () =>
        checkSet(set, `${ONLY_OWNER_MAKES_ADMINS}start:\n  others: [[admin], [admin]]\n`, {
          users: 2,
        }),
      (err: unknown) =>
        err instanceof InvariantFileError &&
        err.line === 5 &&
        /--users 2 allows 1/.test(err.message),
    );
  });

  it('refuses --users outside 1..6 and a schema with attributes the states do not hold', () => {
    const set = policySetOf(['admin'], grants([]));
    assert.throws(
      () => checkSet(set, ONLY_OWNER_MAKES_ADMINS, { users: 7 }),
      /--users must be a whole number from 1 to 6/,
    );
    const wide = buildPolicySet('wide', {
      schema: {
        file: 'schema.cedarschema',
        text: schemaWithRoles(['admin']).replace('isOwner: Bool', 'isOwner: Bool, email: String'),
      },
      policies: [{ file: 'p.cedar', text: grants([]) }],
      version: 'wide',
    });
    assert.throws(
      () => checkSet(wide, ONLY_OWNER_MAKES_ADMINS),
      (err: unknown) =>
        err instanceof CheckRefusedError && /User attribute `email`/.test(err.message),
    );
  });
});

function binomial(n: number, k: number): number {
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return r;
}
