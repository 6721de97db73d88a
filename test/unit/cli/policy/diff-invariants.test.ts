/**
 * `cedargate policy diff --invariants FILE` (issue 28 item 4): which invariants the candidate
 * breaks, each with `policy check`'s counterexample, told apart from those the base already
 * broke; exit 3 for a candidate that breaks one the base kept.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { policyCli, policyDirs } from '../../../helpers/policy-cli.js';
import { shippedPolicies } from '../../../helpers/process.js';

const { copyOfShipped, temp } = policyDirs('cedargate-cli-diff-inv-');
const INVARIANTS = join(shippedPolicies, 'invariants.yaml');
const SHIPPED_IDS = [
  'owner-keeps-admin',
  'only-owner-makes-admins',
  'only-owner-unmakes-admins',
  'some-admin',
  'viewers-stay-read-only',
  'viewers-never-become-admins',
];

/** The shipped set with `only-owner-grants-admin` weakened as docs/policies.md's example does. */
function weakened(): string {
  const dir = copyOfShipped();
  const file = join(dir, 'admins.cedar');
  const text = readFileSync(file, 'utf8');
  const dropped = text.replace(
    /\|\|\s*context\.rolesRemoved\.contains\(Cedargate::Role::"admin"\)/,
    '',
  );
  assert.notEqual(dropped, text, 'the rolesRemoved clause is no longer where the test looks');
  writeFileSync(file, dropped);
  return dir;
}

interface Comparison {
  id: string;
  verdict: string;
  base: { holds: boolean };
  candidate: { holds: boolean; counterexample: { steps: unknown[] } | null };
}
interface Report {
  classes: unknown[];
  invariants: {
    users: number;
    breaks: string[];
    invariants: Comparison[];
    base: { states: number };
    candidate: { states: number };
  };
}

const diffWith = (base: string, candidate: string, ...more: string[]) =>
  policyCli(['diff', base, candidate, '--invariants', INVARIANTS, '--users', '3', ...more]);

describe('policy diff --invariants', () => {
  it('a candidate that breaks one the base kept: its FAIL line, the counterexample, exit 3', async () => {
    const dir = weakened();
    const r = await diffWith(shippedPolicies, dir);
    assert.equal(r.code, 3, r.stdout + r.stderr);
    // The decision diff comes first, unchanged; the invariants follow it.
    assert.match(r.stdout, /^policy diff /);
    assert.match(
      r.stdout,
      /\ninvariants of .*invariants\.yaml \(3 users\): 5 of 6 hold on the candidate; the candidate breaks 1 the base kept\n/,
    );
    assert.match(
      r.stdout,
      /\n {2}FAIL {2}only-owner-unmakes-admins {2}\(broken by the candidate: holds on the base\)\n {8}start: owner \[admin\], [^\n]*\n {8}1\. u\d \[admin[^\]]*\] users:update u\d \[admin[^\]]*\] -> \[[^\]]*\] \(allowed by admins-manage-users\)\n {8}breaks it: request 1\n/,
    );
    for (const id of SHIPPED_IDS.filter((i) => i !== 'only-owner-unmakes-admins')) {
      assert.match(r.stdout, new RegExp(`\\n {2}ok {4}${id}\\n`), id);
    }
    assert.match(r.stdout, /\nbase: {6}explored \d+ states from 180 start states /);
    assert.match(r.stdout, /\ncandidate: explored \d+ states from 180 start states /);

    const json = await diffWith(shippedPolicies, dir, '--json');
    assert.equal(json.code, 3, json.stderr);
    const report = JSON.parse(json.stdout) as Report;
    assert.ok(report.classes.length > 0, 'the decision classes are still reported');
    assert.equal(report.invariants.users, 3);
    assert.deepEqual(report.invariants.breaks, ['only-owner-unmakes-admins']);
    const broken = report.invariants.invariants.filter((i) => i.verdict !== 'holds');
    assert.deepEqual(
      broken.map((i) => [
        i.id,
        i.verdict,
        i.base.holds,
        i.candidate.holds,
        i.candidate.counterexample?.steps.length,
      ]),
      [['only-owner-unmakes-admins', 'breaks', true, false, 1]],
    );
  });

  it('shipped against shipped: all hold on both sides, exit 0', async () => {
    const r = await diffWith(shippedPolicies, copyOfShipped());
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^no request changes its decision$/m);
    assert.match(
      r.stdout,
      /\ninvariants of .*invariants\.yaml \(3 users\): 6 of 6 hold on the candidate; the candidate breaks none the base kept\n/,
    );
    assert.doesNotMatch(r.stdout, /FAIL/);
    const json = await diffWith(shippedPolicies, copyOfShipped(), '--json');
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout) as Report;
    assert.deepEqual(report.invariants.breaks, []);
    assert.deepEqual(
      report.invariants.invariants.map((i) => [i.id, i.verdict]),
      SHIPPED_IDS.map((id) => [id, 'holds']),
    );
    assert.equal(report.invariants.base.states, report.invariants.candidate.states);
  });

  it('one the base already broke is said so, and does not make exit 3', async () => {
    const base = weakened();
    const same = await diffWith(base, weakened());
    assert.equal(same.code, 0, same.stdout + same.stderr);
    assert.match(
      same.stdout,
      /: 5 of 6 hold on the candidate; the candidate breaks none the base kept; 1 already failed on the base\n/,
    );
    assert.match(
      same.stdout,
      /\n {2}FAIL {2}only-owner-unmakes-admins {2}\(already fails on the base\)\n {8}start: /,
    );
    // Mending it changes decisions (exit 1) and breaks nothing.
    const mended = await diffWith(base, shippedPolicies);
    assert.equal(mended.code, 1, mended.stdout + mended.stderr);
    assert.match(
      mended.stdout,
      /: 6 of 6 hold on the candidate; the candidate breaks none the base kept; it mends 1\n/,
    );
    assert.match(
      mended.stdout,
      /\n {2}ok {4}only-owner-unmakes-admins {2}\(mended: fails on the base\)\n/,
    );
  });

  it('an invariants file that does not read: file:line, exit 2, nothing diffed', async () => {
    const bad = join(temp(), 'bad.yaml');
    writeFileSync(bad, 'invariants:\n  - id: x\n    always: { user: owner, has: root }\n');
    const r = await policyCli(['diff', shippedPolicies, copyOfShipped(), '--invariants', bad]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(
      r.stderr,
      `cedargate policy: ${bad}:3: x.always.has: "root" is not a role of the schema (admin, user, viewer)\n`,
    );

    const missing = join(temp(), 'no.yaml');
    const gone = await policyCli([
      'diff',
      shippedPolicies,
      copyOfShipped(),
      '--invariants',
      missing,
    ]);
    assert.equal(gone.code, 2);
    assert.match(gone.stderr, /^cedargate policy: cannot read .*no\.yaml: ENOENT/);
  });

  it('a role only the candidate names: the error says which side it does not read against', async () => {
    const candidate = copyOfShipped();
    const schema = join(candidate, 'schema.cedarschema');
    writeFileSync(
      schema,
      readFileSync(schema, 'utf8').replace('"viewer"]', '"viewer", "support"]'),
    );
    const file = join(temp(), 'support.yaml');
    writeFileSync(file, 'invariants:\n  - id: s\n    never: { user: any, has: support }\n');
    const r = await policyCli(['diff', shippedPolicies, candidate, '--invariants', file]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.equal(
      r.stderr,
      `cedargate policy: ${file}:3: s.never.has: "support" is not a role of the schema (admin, user, viewer) (reading it against the base, ${shippedPolicies})\n`,
    );
  });

  it('--users out of range, or without --invariants, is a wrong command line', async () => {
    const many = await policyCli([
      'diff',
      shippedPolicies,
      shippedPolicies,
      '--invariants',
      INVARIANTS,
      '--users',
      '7',
    ]);
    assert.equal(many.code, 2);
    assert.match(many.stderr, /--users must be a whole number from 1 to 6, not "7"/);
    const alone = await policyCli(['diff', shippedPolicies, shippedPolicies, '--users', '3']);
    assert.equal(alone.code, 2);
    assert.match(alone.stderr, /--users applies to --invariants: give both/);
  });
});
