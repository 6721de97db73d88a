/**
 * `cedargate policy test`: a directory's cases, one test file, one case; exit codes.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { lastLine, policyCli, policyDirs } from '../../../helpers/policy-cli.js';
import { shippedPolicies } from '../../../helpers/process.js';

const { copyOfShipped, fixture } = policyDirs('cedargate-cli-test-');

describe('policy test', () => {
  it('runs the shipped cases: one line each, then N passed, M failed', async () => {
    const r = await policyCli(['test', shippedPolicies]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lastLine(r.stdout) ?? '', /^(\d+) passed, 0 failed$/);
    const passed = Number(/^(\d+)/.exec(lastLine(r.stdout) ?? '')?.[1]);
    assert.ok(passed >= 40);
    assert.equal(lines.filter((l) => l.startsWith('PASS  ')).length, passed);
    for (let rule = 1; rule <= 7; rule++)
      assert.ok(r.stdout.includes(`rule ${rule}:`), `rule ${rule} is tested`);
  });

  it('exits 1 and names the failing cases when a policy changes', async () => {
    const dir = copyOfShipped();
    const admins = readFileSync(join(dir, 'admins.cedar'), 'utf8');
    writeFileSync(
      join(dir, 'admins.cedar'),
      admins.replaceAll('unless { principal.isOwner }', 'unless { true }'),
    );
    const r = await policyCli(['test', dir]);
    assert.equal(r.code, 1);
    assert.match(
      r.stdout,
      /FAIL {2}.*rules\.yaml: rule 4: an admin may not grant admin: expected deny, got allow/,
    );
    assert.match(lastLine(r.stdout) ?? '', /^\d+ passed, [1-9]\d* failed$/);
  });

  it('counts a broken test file as a failure', async () => {
    const dir = copyOfShipped();
    writeFileSync(
      join(dir, 'tests', 'zz.yaml'),
      'cases:\n  - { principal: ghost, action: users:list, resource: acme, expect: allow }\n',
    );
    const r = await policyCli(['test', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /FAIL {2}.*zz\.yaml: case "case 1": no user "ghost"/);
    assert.match(lastLine(r.stdout) ?? '', /^\d+ passed, 1 failed$/);
  });

  it('fails every case when the policies do not load', async () => {
    const dir = copyOfShipped();
    writeFileSync(join(dir, 'bad.cedar'), 'permit (principal, action, resource);\n');
    const r = await policyCli(['test', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /bad\.cedar:1:1: policy has no @id/);
    assert.match(lastLine(r.stdout) ?? '', /^0 passed, [1-9]\d* failed$/);
  });
});

describe('policy test FILE[:CASE]', () => {
  it('runs one test file against the directory its tests/ folder is in', async () => {
    const dir = fixture();
    const r = await policyCli(['test', join(dir, 'tests', 'list.yaml'), '--coverage']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stdout.split('\n').filter((l) => l.startsWith('PASS')).length, 2);
    assert.match(r.stdout, /^2 passed, 0 failed$/m);
    assert.match(r.stdout, /^coverage: 1 of 3 policies/m);
  });

  it('runs one named case (its name may hold a colon)', async () => {
    const dir = fixture();
    const r = await policyCli([
      'test',
      `${join(dir, 'tests', 'list.yaml')}:a member lists: their tenant`,
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(
      r.stdout,
      `PASS  ${join(dir, 'tests', 'list.yaml')}: a member lists: their tenant\n` +
        'decider: compiled (1 decision, 0 handed to cedar-wasm)\n1 passed, 0 failed\n',
    );
  });

  it('exits 2 naming the cases there are, for a case that is not there; and for a .cedar file', async () => {
    const dir = fixture();
    const r = await policyCli(['test', `${join(dir, 'tests', 'list.yaml')}:nope`]);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /no case named "nope" \(cases: "a member lists: their tenant", "another tenant is not listed"\)/,
    );
    const cedar = await policyCli(['test', join(dir, 'a.cedar')]);
    assert.equal(cedar.code, 2);
    assert.match(
      cedar.stderr,
      /a\.cedar: policy test runs test files \(\.yaml\) against a whole policy directory/,
    );
    assert.equal((await policyCli(['test', join(dir, 'tests', 'gone.yaml')])).code, 2);
  });
});
