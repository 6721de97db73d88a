import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { policyCli, policyDirs } from '../../../helpers/policy-cli.js';
import { repoRoot, shippedPolicies } from '../../../helpers/process.js';

const { copyOfShipped } = policyDirs('cedargate-cli-diff-');
const diff = (args: string[]) => policyCli(['diff', ...args]);

describe('policy diff (CLI)', () => {
  it('exits 0 and says so when nothing changes', async () => {
    const r = await diff([shippedPolicies, copyOfShipped()]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /requests .*decided by both sets in [\d.]+ s \(exhaustive\)\n/);
    assert.match(r.stdout, /^no request changes its decision$/m);
  });

  it('exits 1 with the classes that change; --json gives them as data', async () => {
    const dir = copyOfShipped();
    const tenancy = join(dir, 'tenancy.cedar');
    writeFileSync(
      tenancy,
      readFileSync(tenancy, 'utf8').replace(
        'when { principal.tenant == resource };',
        'when { principal.tenant == resource && principal.isOwner };',
      ),
    );
    const text = await diff([shippedPolicies, dir]);
    assert.equal(text.code, 1, text.stdout + text.stderr);
    assert.match(
      text.stdout,
      /^1\. users:list by a user who is not the owner on their own tenant: allow → deny, denied, no policy permits; was allowed by tenant-members-list-users$/m,
    );
    assert.match(text.stdout, /^ {3}example: +\{"principal":/m);

    const json = await diff([shippedPolicies, dir, '--json']);
    assert.equal(json.code, 1);
    const report = JSON.parse(json.stdout) as {
      changed: number;
      classes: { action: string; before: { decision: string }; after: { decision: string } }[];
    };
    assert.equal(report.changed, 8);
    assert.deepEqual(
      report.classes.map((c) => [c.action, c.before.decision, c.after.decision]),
      [['users:list', 'allow', 'deny']],
    );
  });

  it('--git REV diffs the committed POLICY_DIR against the working one', async () => {
    const r = await diff(['--git', 'HEAD', join(repoRoot, 'policies')]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^policy diff HEAD:.*policies → /);
  });

  it("--git REV CANDIDATE resolves REV in the base (POLICY_DIR) repository, not the candidate's", async () => {
    // The candidate is a copy outside any repository (issue 27 item 5).
    const r = await policyCli(['diff', '--git', 'HEAD', copyOfShipped()], {
      POLICY_DIR: join(repoRoot, 'policies'),
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^policy diff HEAD:.*policies → /);
    assert.match(r.stdout, /^no request changes its decision$/m);
  });

  it('exits 2 on bad input: missing directories, a set that does not load, a bad revision', async () => {
    const missing = await diff([shippedPolicies]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /expected BASE and CANDIDATE[\s\S]*usage: cedargate policy diff/);

    const broken = copyOfShipped();
    writeFileSync(
      join(broken, 'bad.cedar'),
      '@id("bad")\npermit (principal, action, resource)\nwhen { principal.rol };\n',
    );
    const r = await diff([shippedPolicies, broken]);
    assert.equal(r.code, 2);
    assert.match(r.stdout, /bad\.cedar:3:8: .*rol/);
    assert.match(r.stdout, /the policies do not load/);

    const rev = await diff(['--git', 'no-such-revision-xyz', shippedPolicies]);
    assert.equal(rev.code, 2);
    assert.match(rev.stderr, /--git no-such-revision-xyz: /);

    const flag = await diff(['--nope', shippedPolicies, shippedPolicies]);
    assert.equal(flag.code, 2);
  });
});
