/**
 * `cedargate policy test --coverage`, `--coverage-min` and `--junit`.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { policyCli, policyDirs } from '../../../helpers/policy-cli.js';
import { parseXml } from '../../../helpers/xml.js';

const { temp, fixture, copyOfShipped } = policyDirs('cedargate-cli-ptest-');

describe('policy test --coverage, --coverage-min, --junit (through bin/cedargate)', () => {
  it('prints the exact coverage of the fixture and exits 0 without a minimum', async () => {
    const dir = fixture();
    const r = await policyCli(['test', dir, '--coverage']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const tail = r.stdout.trimEnd().split('\n').slice(-17);
    assert.deepEqual(tail, [
      '3 passed, 0 failed',
      "coverage: 2 of 3 policies determined at least one case's decision (66.7%)",
      'a.cedar: 1 of 2',
      `  ${join(dir, 'a.cedar')}:1:1: permit list: 1 case`,
      `  ${join(dir, 'a.cedar')}:9:1: permit read: NOT EXERCISED: no case has this policy determine its decision`,
      'b.cedar: 1 of 1',
      `  ${join(dir, 'b.cedar')}:2:1: forbid cross: 1 case`,
      'conditions: 1 of 3 atoms of when/unless clauses seen both true and false (33.3%)',
      `  ${join(dir, 'a.cedar')}:1: permit list: scope matched in 2, stopped by a condition in 1`,
      `    ${join(dir, 'a.cedar')}:7: when: held 1, stopped 1`,
      '      principal.tenant == resource: true 1, false 1',
      `  ${join(dir, 'a.cedar')}:9: permit read: scope matched in 1, stopped by a condition in 1`,
      `    ${join(dir, 'a.cedar')}:15: when: held 0, stopped 1`,
      '      resource.tenant == principal.tenant: NEVER TRUE, false 1',
      `  ${join(dir, 'b.cedar')}:2: forbid cross: scope matched in 1, NEVER STOPPED BY A CONDITION`,
      `    ${join(dir, 'b.cedar')}:9: unless: held 1, stopped 0`,
      '      resource.tenant == principal.tenant: NEVER TRUE, false 1',
    ]);
  });

  it('--coverage-min exits 1 below the minimum, 0 at it, 2 on a bad value', async () => {
    const dir = fixture();
    const low = await policyCli(['test', dir, '--coverage-min', '90']);
    assert.equal(low.code, 1, low.stdout);
    assert.match(low.stdout, /^coverage 66\.7% is below --coverage-min 90%$/m);
    assert.equal((await policyCli(['test', dir, '--coverage-min', '66.7'])).code, 0);
    const bad = await policyCli(['test', dir, '--coverage-min', 'most']);
    assert.equal(bad.code, 2);
    assert.match(
      bad.stderr,
      /--coverage-min must be a percentage from 0 to 100, like --coverage-min 90/,
    );
  });

  it('--junit writes well-formed JUnit XML with a failure per failing case', async () => {
    const dir = fixture();
    const cross = join(dir, 'tests', 'cross.yaml');
    writeFileSync(cross, readFileSync(cross, 'utf8').replace('expect: deny', 'expect: allow'));
    const out = join(temp(), 'junit.xml');
    const r = await policyCli(['test', dir, '--junit', out]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`^JUnit XML written to ${out}$`, 'm'));
    const root = parseXml(readFileSync(out, 'utf8'));
    assert.equal(root.name, 'testsuites');
    assert.deepEqual([root.attributes['tests'], root.attributes['failures']], ['3', '1']);
    const suites = root.children.map((s) => [
      s.name,
      s.attributes['name'],
      s.children.map((c) => [c.attributes['name'], c.children.map((f) => f.name)]),
    ]);
    assert.deepEqual(suites, [
      ['testsuite', cross, [['no reading across tenants', ['failure']]]],
      [
        'testsuite',
        join(dir, 'tests', 'list.yaml'),
        [
          ['a member lists: their tenant', []],
          ['another tenant is not listed', []],
        ],
      ],
    ]);
    assert.match(
      root.children[0]?.children[0]?.children[0]?.attributes['message'] ?? '',
      /^expected allow, got deny/,
    );
  });
});

/**
 * Issue 27: a permit for `support` on `users:update` with no field restriction, tested with
 * positive cases only, passed `--coverage-min 100`: no case had a support user refused by it.
 */
function supportMistake(): string {
  const dir = copyOfShipped();
  const schema = join(dir, 'schema.cedarschema');
  writeFileSync(
    schema,
    readFileSync(schema, 'utf8').replace(
      '"admin", "user", "viewer"',
      '"admin", "user", "viewer", "support"',
    ),
  );
  writeFileSync(
    join(dir, 'support.cedar'),
    `// Support may rename the users of its own tenant (and, by mistake, change anything else).
@id("support-renames-users")
permit (
  principal,
  action == Cedargate::Action::"users:update",
  resource is Cedargate::User
)
when
{
  principal.roles.contains(Cedargate::Role::"support") &&
  resource.tenant == principal.tenant
};
`,
  );
  writeFileSync(
    join(dir, 'tests', 'support.yaml'),
    `users:
  sam: { tenant: acme, roles: [support], name: Sam }
  uma: { tenant: acme, roles: [user] }
  gina: { tenant: globex, roles: [user] }
cases:
  - name: support renames a user
    principal: sam
    action: users:update
    resource: uma
    body: { name: Uma B }
    expect: allow
`,
  );
  return dir;
}

describe('policy test --coverage: conditions (issue 27)', () => {
  it('shows the support permit tested with positive cases only as uncovered, and --coverage-conditions-min refuses it', async () => {
    const dir = supportMistake();
    const policiesOnly = await policyCli(['test', dir, '--coverage-min', '100']);
    assert.equal(policiesOnly.code, 0, 'every policy determined a case: the old figure is 100%');
    const r = await policyCli([
      'test',
      dir,
      '--coverage-min',
      '100',
      '--coverage-conditions-min',
      '100',
    ]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const lines = r.stdout.split('\n');
    const at = lines.findIndex((l) => l.includes('permit support-renames-users: scope'));
    assert.ok(at >= 0, r.stdout);
    assert.match(
      lines[at] ?? '',
      /: permit support-renames-users: scope matched in \d+, stopped by a condition in \d+$/,
    );
    assert.match(lines[at + 1] ?? '', /^ {4}\S+support\.cedar:8: when: held 1, stopped \d+$/);
    assert.match(
      lines[at + 2] ?? '',
      /^ {6}principal\.roles\.contains\(Cedargate::Role::"support"\): true 1, false \d+$/,
    );
    assert.equal(lines[at + 3], '      resource.tenant == principal.tenant: true 1, NEVER FALSE');
    assert.match(
      r.stdout,
      /^conditions coverage \d+\.\d% is below --coverage-conditions-min 100%$/m,
    );

    // A case where support is refused by the permit's tenant check covers that atom.
    const tests = join(dir, 'tests', 'support.yaml');
    writeFileSync(
      tests,
      readFileSync(tests, 'utf8') +
        `  - name: support may not rename a user of another tenant
    principal: sam
    action: users:update
    resource: gina
    body: { name: Gina B }
    expect: deny
`,
    );
    const after = await policyCli(['test', dir, '--coverage']);
    assert.equal(after.code, 0, after.stdout);
    assert.match(after.stdout, /^ {6}resource\.tenant == principal\.tenant: true 1, false 1$/m);
  });

  it('exits 2 on a bad --coverage-conditions-min, naming the flag', async () => {
    const bad = await policyCli(['test', fixture(), '--coverage-conditions-min', '120']);
    assert.equal(bad.code, 2);
    assert.match(
      bad.stderr,
      /--coverage-conditions-min must be a percentage from 0 to 100, like --coverage-conditions-min 90 \(got "120"\)/,
    );
  });
});
