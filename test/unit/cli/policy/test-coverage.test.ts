/**
 * `cedargate policy test --coverage`, `--coverage-min` and `--junit`.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { policyCli, policyDirs } from '../../../helpers/policy-cli.js';
import { parseXml } from '../../../helpers/xml.js';

const { temp, fixture } = policyDirs('cedargate-cli-ptest-');

describe('policy test --coverage, --coverage-min, --junit (through bin/cedargate)', () => {
  it('prints the exact coverage of the fixture and exits 0 without a minimum', async () => {
    const dir = fixture();
    const r = await policyCli(['test', dir, '--coverage']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const tail = r.stdout.trimEnd().split('\n').slice(-7);
    assert.deepEqual(tail, [
      '3 passed, 0 failed',
      "coverage: 2 of 3 policies determined at least one case's decision (66.7%)",
      'a.cedar: 1 of 2',
      `  ${join(dir, 'a.cedar')}:1:1: permit list: 1 case`,
      `  ${join(dir, 'a.cedar')}:9:1: permit read: NOT EXERCISED: no case has this policy determine its decision`,
      'b.cedar: 1 of 1',
      `  ${join(dir, 'b.cedar')}:2:1: forbid cross: 1 case`,
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
