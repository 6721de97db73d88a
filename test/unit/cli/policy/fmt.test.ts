/**
 * `cedargate policy fmt`: --check, rewriting with comments kept, a file that does not parse.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { policyCli, policyDirs } from '../../../helpers/policy-cli.js';
import { shippedPolicies } from '../../../helpers/process.js';

const { copyOfShipped } = policyDirs('cedargate-cli-fmt-');

describe('policy fmt', () => {
  it('finds the shipped files formatted', async () => {
    const r = await policyCli(['fmt', '--check', shippedPolicies]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stdout, '4 files checked, 0 would change\n');
  });

  it('--check lists the files that would change, exits 1 and writes nothing', async () => {
    const dir = copyOfShipped();
    const messy = '// keep\n@id("x")   permit(principal,action,resource);\n';
    writeFileSync(join(dir, 'messy.cedar'), messy);
    const r = await policyCli(['fmt', '--check', dir]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, `${join(dir, 'messy.cedar')}\n5 files checked, 1 would change\n`);
    assert.equal(readFileSync(join(dir, 'messy.cedar'), 'utf8'), messy);
  });

  it('rewrites the files, keeping comments', async () => {
    const dir = copyOfShipped();
    writeFileSync(
      join(dir, 'messy.cedar'),
      '// keep\n@id("x")   permit(principal,action,resource);\n',
    );
    const r = await policyCli(['fmt', dir]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stdout, `formatted ${join(dir, 'messy.cedar')}\n5 files checked, 1 changed\n`);
    assert.equal(
      readFileSync(join(dir, 'messy.cedar'), 'utf8'),
      '// keep\n@id("x")\npermit (principal, action, resource);\n',
    );
    assert.equal((await policyCli(['fmt', '--check', dir])).code, 0);
  });

  it('exits 1 on a file that does not parse', async () => {
    const dir = copyOfShipped();
    writeFileSync(join(dir, 'bad.cedar'), 'permit (');
    const r = await policyCli(['fmt', '--check', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /bad\.cedar: does not parse/);
  });
});
