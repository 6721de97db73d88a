import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { writePolicyFixture } from '../../helpers/policy-fixture.js';
import { runCli, shippedPolicies, tempDir } from '../../helpers/process.js';
import { parseXml } from '../../helpers/xml.js';

const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((c) => c()));
function temp(): string {
  const t = tempDir('cedargate-cli-ptest-');
  cleanups.push(t.remove);
  return t.path;
}
function fixture(): string {
  const dir = temp();
  writePolicyFixture(dir);
  return dir;
}
const policy = (args: string[]) => runCli(['policy', ...args], {});

describe('policy test --coverage, --coverage-min, --junit (through bin/cedargate)', () => {
  it('prints the exact coverage of the fixture and exits 0 without a minimum', async () => {
    const dir = fixture();
    const r = await policy(['test', dir, '--coverage']);
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
    const low = await policy(['test', dir, '--coverage-min', '90']);
    assert.equal(low.code, 1, low.stdout);
    assert.match(low.stdout, /^coverage 66\.7% is below --coverage-min 90%$/m);
    assert.equal((await policy(['test', dir, '--coverage-min', '66.7'])).code, 0);
    const bad = await policy(['test', dir, '--coverage-min', 'most']);
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
    const r = await policy(['test', dir, '--junit', out]);
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
  const dir = temp();
  cpSync(shippedPolicies, dir, { recursive: true });
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
    const policiesOnly = await policy(['test', dir, '--coverage-min', '100']);
    assert.equal(policiesOnly.code, 0, 'every policy determined a case: the old figure is 100%');
    const r = await policy([
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
    const after = await policy(['test', dir, '--coverage']);
    assert.equal(after.code, 0, after.stdout);
    assert.match(after.stdout, /^ {6}resource\.tenant == principal\.tenant: true 1, false 1$/m);
  });

  it('exits 2 on a bad --coverage-conditions-min, naming the flag', async () => {
    const bad = await policy(['test', fixture(), '--coverage-conditions-min', '120']);
    assert.equal(bad.code, 2);
    assert.match(
      bad.stderr,
      /--coverage-conditions-min must be a percentage from 0 to 100, like --coverage-conditions-min 90 \(got "120"\)/,
    );
  });
});

describe('policy test FILE[:CASE]', () => {
  it('runs one test file against the directory its tests/ folder is in', async () => {
    const dir = fixture();
    const r = await policy(['test', join(dir, 'tests', 'list.yaml'), '--coverage']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stdout.split('\n').filter((l) => l.startsWith('PASS')).length, 2);
    assert.match(r.stdout, /^2 passed, 0 failed$/m);
    assert.match(r.stdout, /^coverage: 1 of 3 policies/m);
  });

  it('runs one named case (its name may hold a colon)', async () => {
    const dir = fixture();
    const r = await policy([
      'test',
      `${join(dir, 'tests', 'list.yaml')}:a member lists: their tenant`,
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(
      r.stdout,
      `PASS  ${join(dir, 'tests', 'list.yaml')}: a member lists: their tenant\n1 passed, 0 failed\n`,
    );
  });

  it('exits 2 naming the cases there are, for a case that is not there; and for a .cedar file', async () => {
    const dir = fixture();
    const r = await policy(['test', `${join(dir, 'tests', 'list.yaml')}:nope`]);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /no case named "nope" \(cases: "a member lists: their tenant", "another tenant is not listed"\)/,
    );
    const cedar = await policy(['test', join(dir, 'a.cedar')]);
    assert.equal(cedar.code, 2);
    assert.match(
      cedar.stderr,
      /a\.cedar: policy test runs test files \(\.yaml\) against a whole policy directory/,
    );
    assert.equal((await policy(['test', join(dir, 'tests', 'gone.yaml')])).code, 2);
  });
});

describe('policy commands on one .cedar file', () => {
  it('validate takes one file with the schema next to it, and refuses one without in one line', async () => {
    const dir = fixture();
    const r = await policy(['validate', join(dir, 'b.cedar')]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^ok: 1 policies in 1 files valid against /m);
    const loose = temp();
    cpSync(join(dir, 'a.cedar'), join(loose, 'a.cedar'));
    const no = await policy(['validate', join(loose, 'a.cedar')]);
    assert.equal(no.code, 2);
    assert.equal(
      no.stderr.trimEnd().split('\n')[0],
      `cedargate policy: ${join(loose, 'a.cedar')}: a single policy file is checked against the schema next to it, and there is no ${join(loose, 'schema.cedarschema')}`,
    );
  });

  it('fmt --check takes one file; diff compares two files; explain decides with one file', async () => {
    const dir = fixture();
    const fmt = await policy(['fmt', '--check', join(dir, 'a.cedar')]);
    assert.equal(fmt.stdout, '1 files checked, 0 would change\n');
    const d = await policy(['diff', join(dir, 'a.cedar'), dir]);
    // The directory adds the forbid: denied cross-tenant requests now carry its notice.
    assert.equal(d.code, 1, d.stdout + d.stderr);
    assert.match(d.stdout, /^policy diff .*a\.cedar → /m);
    const e = await policy([
      'explain',
      join(dir, 'a.cedar'),
      '--entities',
      join(dir, 'tests', 'cross.yaml'),
      '--principal',
      'uma',
      '--action',
      'users:read',
      '--resource',
      'gina',
    ]);
    assert.equal(e.code, 0, e.stdout + e.stderr);
    assert.match(e.stdout, /deny/i);
    assert.doesNotMatch(e.stdout, /b\.cedar/, 'b.cedar is not part of the set explained');
  });
});

describe('policy validate warnings', () => {
  function shippedWith(extra: string): string {
    const dir = temp();
    cpSync(shippedPolicies, dir, { recursive: true });
    writeFileSync(join(dir, 'extra.cedar'), extra);
    return dir;
  }
  const extra = `@id("quiet")
forbid (principal, action == Cedargate::Action::"users:delete", resource)
when { resource.isOwner };

@id("read-other-tenants")
permit (principal, action == Cedargate::Action::"users:read", resource is Cedargate::User)
unless { resource.tenant == principal.tenant };
`;

  it('the shipped set gives none', async () => {
    const r = await policy(['validate', shippedPolicies, '--strict']);
    assert.equal(r.code, 0, r.stdout);
    assert.doesNotMatch(r.stdout, /warning/);
  });

  it('warns (exit 0) about a forbid without @notice and a permit that can never apply', async () => {
    const dir = shippedWith(extra);
    const r = await policy(['validate', dir]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.deepEqual(lines.slice(0, 2), [
      `warning: ${join(dir, 'extra.cedar')}:1:1: forbid "quiet" has no @notice: its denials would carry no reason`,
      `warning: ${join(dir, 'extra.cedar')}:5:1: permit "read-other-tenants" can never apply: it allows no request the sidecar can build, either because no request meets its condition or because forbids deny every one that does`,
    ]);
    assert.match(lines[2] ?? '', /^ok: 15 policies/);
  });

  it('--strict and --warnings-as-errors fail on warnings; --quick skips the enumeration', async () => {
    const dir = shippedWith(extra);
    for (const flag of ['--strict', '--warnings-as-errors']) {
      const r = await policy(['validate', dir, flag]);
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stdout, /^2 warnings, failing \(--strict\)$/m);
    }
    const quick = await policy(['validate', dir, '--quick']);
    assert.equal(quick.code, 0);
    assert.equal(quick.stdout.split('\n').filter((l) => l.startsWith('warning:')).length, 1);
    assert.match(quick.stdout, /permits not checked for reachability \(--quick\)/);
  });
});
