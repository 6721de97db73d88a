import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadPolicySet } from '../../../src/policy/policy-set.js';
import { PolicyTargetError, resolvePolicyTarget } from '../../../src/policy/policy-target.js';
import { writePolicyFixture } from '../../helpers/policy-fixture.js';
import { tempDir } from '../../helpers/process.js';

const t = tempDir('cedargate-target-');
// Apart from the fixture: a subdirectory's files would be part of its set.
const loose = tempDir('cedargate-target-loose-');
after(() => {
  t.remove();
  loose.remove();
});
writePolicyFixture(t.path);
writeFileSync(join(loose.path, 'x.cedar'), '@id("x")\npermit (principal, action, resource);\n');
writeFileSync(join(t.path, 'notes.txt'), 'not policies');

const refusal = (message: RegExp) => (err: unknown) => {
  assert.ok(err instanceof PolicyTargetError);
  assert.match(err.message, message);
  assert.ok(!err.message.includes('\n'), 'one line');
  return true;
};

describe('resolvePolicyTarget', () => {
  it('takes a directory whole', async () => {
    assert.deepEqual(await resolvePolicyTarget(t.path), { dir: t.path, file: null, path: t.path });
  });

  it('takes a .cedar file with the schema next to it', async () => {
    const path = join(t.path, 'a.cedar');
    assert.deepEqual(await resolvePolicyTarget(path), { dir: t.path, file: 'a.cedar', path });
  });

  it('refuses a .cedar file with no schema next to it, naming where it looked', async () => {
    await assert.rejects(
      resolvePolicyTarget(join(loose.path, 'x.cedar')),
      refusal(
        /a single policy file is checked against the schema next to it, and there is no .*loose-.*\/schema\.cedarschema$/,
      ),
    );
    // fmt needs no schema
    assert.equal(
      (await resolvePolicyTarget(join(loose.path, 'x.cedar'), { needsSchema: false })).file,
      'x.cedar',
    );
  });

  it('refuses what is neither, in one line', async () => {
    await assert.rejects(
      resolvePolicyTarget(join(t.path, 'notes.txt')),
      refusal(/not a policy directory or a \.cedar file$/),
    );
    await assert.rejects(
      resolvePolicyTarget(join(t.path, 'nope')),
      refusal(/no such policy directory or file$/),
    );
  });
});

describe('loadPolicySet of one file', () => {
  it('is that file’s policies alone, positions in that file', async () => {
    const set = await loadPolicySet(t.path, 'b.cedar');
    assert.deepEqual(set.files, ['b.cedar']);
    assert.deepEqual(
      set.policies.map((p) => [p.id, p.file, p.line]),
      [['cross', 'b.cedar', 2]],
    );
    assert.equal((await loadPolicySet(t.path)).policies.length, 3);
  });
});
