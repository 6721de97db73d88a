/**
 * `cedargate policy validate`: the summary line, problems with their help, warnings and
 * --strict, exit codes.
 */
import assert from 'node:assert/strict';
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { policyCli, policyDirs } from '../../../helpers/policy-cli.js';
import { shippedPolicies } from '../../../helpers/process.js';

const { temp, copyOfShipped } = policyDirs('cedargate-cli-validate-');

describe('policy validate', () => {
  it('accepts the shipped policies with a one-line summary', async () => {
    const r = await policyCli(['validate', shippedPolicies]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      /^ok: 13 policies in 4 files valid against .*schema\.cedarschema \(roles: admin, user, viewer; version [0-9a-f]{16}; permits checked against \d+ enumerated requests\)\n$/,
    );
  });

  it('takes DIR from POLICY_DIR', async () => {
    const r = await policyCli(['validate'], { POLICY_DIR: shippedPolicies });
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  it('prints each problem as file:line:column: message, with help, and exits 1', async () => {
    const dir = copyOfShipped();
    writeFileSync(
      join(dir, 'bad.cedar'),
      '@id("bad")\npermit (principal, action, resource)\nwhen { principal.rol };\n',
    );
    const r = await policyCli(['validate', dir]);
    assert.equal(r.code, 1);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0] ?? '', new RegExp(`^${join(dir, 'bad.cedar')}:3:8: .*attribute \`rol\``));
    assert.equal(lines[1], '  help: did you mean `roles`?');
    assert.equal(lines[2], `1 problem in ${dir}`);
  });

  it('exits 2 on a wrong command line', async () => {
    const r = await policyCli(['validate', '--nope']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /usage: cedargate policy validate/);
    assert.equal((await policyCli(['frobnicate'])).code, 2);
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
    const r = await policyCli(['validate', shippedPolicies, '--strict']);
    assert.equal(r.code, 0, r.stdout);
    assert.doesNotMatch(r.stdout, /warning/);
  });

  it('warns (exit 0) about a forbid without @notice and a permit that can never apply', async () => {
    const dir = shippedWith(extra);
    const r = await policyCli(['validate', dir]);
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
      const r = await policyCli(['validate', dir, flag]);
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stdout, /^2 warnings, failing \(--strict\)$/m);
    }
    const quick = await policyCli(['validate', dir, '--quick']);
    assert.equal(quick.code, 0);
    assert.equal(quick.stdout.split('\n').filter((l) => l.startsWith('warning:')).length, 1);
    assert.match(quick.stdout, /permits not checked for reachability \(--quick\)/);
  });
});
