/**
 * `cedargate policy check`: exit 0 when the invariants hold, 1 with the counterexample, 2 for bad
 * input, each with what it prints.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { policyCli, policyDirs } from '../../../helpers/policy-cli.js';
import { shippedPolicies } from '../../../helpers/process.js';

const { copyOfShipped, temp } = policyDirs('cedargate-cli-check-');
const INVARIANTS = join(shippedPolicies, 'invariants.yaml');

describe('policy check', () => {
  it('exits 0 on the shipped set, saying the states explored', async () => {
    const r = await policyCli([
      'check',
      shippedPolicies,
      '--invariants',
      INVARIANTS,
      '--users',
      '3',
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      /invariants\.yaml: 6 of 6 invariants hold \(3 users, roles admin, user, viewer\)/,
    );
    assert.match(r.stdout, /^explored \d+ states from 180 start states /m);
  });

  it('exits 1 on the weakened set, printing the request that breaks only-owner-unmakes-admins', async () => {
    const dir = copyOfShipped();
    const file = join(dir, 'admins.cedar');
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace(
        /\|\|\s*context\.rolesRemoved\.contains\(Cedargate::Role::"admin"\)/,
        '',
      ),
    );
    const r = await policyCli(['check', dir, '--invariants', INVARIANTS, '--users', '3']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /FAIL {2}only-owner-unmakes-admins\n {8}start: owner \[admin\], /);
    assert.match(
      r.stdout,
      / {8}1\. u\d \[admin[^\]]*\] users:update u\d \[admin[^\]]*\] -> \[[^\]]*\] \(allowed by admins-manage-users\)\n {8}breaks it: request 1\n/,
    );
    const json = await policyCli([
      'check',
      dir,
      '--invariants',
      INVARIANTS,
      '--users',
      '3',
      '--json',
    ]);
    assert.equal(json.code, 1);
    const report = JSON.parse(json.stdout) as {
      invariants: { id: string; holds: boolean; counterexample: { steps: unknown[] } | null }[];
    };
    const broken = report.invariants.filter((i) => !i.holds);
    assert.deepEqual(
      broken.map((i) => [i.id, i.counterexample?.steps.length]),
      [['only-owner-unmakes-admins', 1]],
    );
  });

  it('exits 2 with file:line for an invariants file that does not read', async () => {
    const bad = join(temp(), 'bad.yaml');
    writeFileSync(bad, 'invariants:\n  - id: x\n    always: { user: owner, has: root }\n');
    const r = await policyCli(['check', shippedPolicies, '--invariants', bad]);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      `cedargate policy: ${bad}:3: x.always.has: "root" is not a role of the schema (admin, user, viewer)\n`,
    );
  });

  it('exits 2 without --invariants, with a --users out of range, and for a missing file', async () => {
    const none = await policyCli(['check', shippedPolicies]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /--invariants FILE\.yaml is required/);
    const many = await policyCli([
      'check',
      shippedPolicies,
      '--invariants',
      INVARIANTS,
      '--users',
      '7',
    ]);
    assert.equal(many.code, 2);
    assert.match(many.stderr, /--users must be a whole number from 1 to 6, not "7"/);
    const missing = await policyCli([
      'check',
      shippedPolicies,
      '--invariants',
      join(temp(), 'no.yaml'),
    ]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read .*no\.yaml: ENOENT/);
  });
});
