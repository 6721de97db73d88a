/**
 * The policy commands given one `.cedar` file instead of a directory (target.ts): read with the
 * schema next to it, refused in one line without one.
 */
import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { policyCli, policyDirs } from '../../../helpers/policy-cli.js';

const { temp, fixture } = policyDirs('cedargate-cli-target-');

describe('policy commands on one .cedar file', () => {
  it('validate takes one file with the schema next to it, and refuses one without in one line', async () => {
    const dir = fixture();
    const r = await policyCli(['validate', join(dir, 'b.cedar')]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^ok: 1 policies in 1 files valid against /m);
    const loose = temp();
    cpSync(join(dir, 'a.cedar'), join(loose, 'a.cedar'));
    const no = await policyCli(['validate', join(loose, 'a.cedar')]);
    assert.equal(no.code, 2);
    assert.equal(
      no.stderr.trimEnd().split('\n')[0],
      `cedargate policy: ${join(loose, 'a.cedar')}: a single policy file is checked against the schema next to it, and there is no ${join(loose, 'schema.cedarschema')}`,
    );
  });

  it('fmt --check takes one file; diff compares two files; explain decides with one file', async () => {
    const dir = fixture();
    const fmt = await policyCli(['fmt', '--check', join(dir, 'a.cedar')]);
    assert.equal(fmt.stdout, '1 files checked, 0 would change\n');
    const d = await policyCli(['diff', join(dir, 'a.cedar'), dir]);
    // The directory adds the forbid: denied cross-tenant requests now carry its notice.
    assert.equal(d.code, 1, d.stdout + d.stderr);
    assert.match(d.stdout, /^policy diff .*a\.cedar → /m);
    const e = await policyCli([
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
