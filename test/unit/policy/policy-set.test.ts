import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { listPolicyFiles, readPolicySources } from '../../../src/policy/policy-files.js';
import { loadPolicySet, PolicyLoadError } from '../../../src/policy/policy-set.js';
import type { PolicyProblem } from '../../../src/policy/policy-set.js';
import { shippedPolicies } from '../../helpers/process.js';
import { tempDirs } from '../../helpers/temp-dirs.js';

const { copyOfShipped } = tempDirs('cedargate-set-');

async function problemsOf(dir: string): Promise<PolicyProblem[]> {
  try {
    await loadPolicySet(dir);
  } catch (err) {
    assert.ok(err instanceof PolicyLoadError);
    return err.problems;
  }
  assert.fail('the set loaded');
}

const where = (p: PolicyProblem) => `${p.file.split('/').pop()}:${p.line}:${p.column}`;

describe('listPolicyFiles', () => {
  it('walks subfolders and links, skipping tests/ and dot-entries', async () => {
    const dir = copyOfShipped();
    mkdirSync(join(dir, 'team', 'nested'), { recursive: true });
    writeFileSync(join(dir, 'team', 'nested', 'a.cedar'), '');
    writeFileSync(join(dir, 'tests', 'ignored.cedar'), '');
    mkdirSync(join(dir, '..2024_01_01'));
    writeFileSync(join(dir, '..2024_01_01', 'hidden.cedar'), '');
    writeFileSync(join(dir, '.swap.cedar'), '');
    writeFileSync(join(dir, 'notes.txt'), '');
    symlinkSync(join(dir, '..2024_01_01', 'hidden.cedar'), join(dir, 'linked.cedar'));
    symlinkSync(join(dir, 'team'), join(dir, 'team', 'loop')); // a cycle
    assert.deepEqual(await listPolicyFiles(dir), [
      'admins.cedar',
      'linked.cedar',
      'owner.cedar',
      'self-service.cedar',
      'team/nested/a.cedar',
      'tenancy.cedar',
    ]);
  });

  it('hashes content: same files same version, any edit another', async () => {
    const dir = copyOfShipped();
    const a = await readPolicySources(dir);
    assert.equal((await readPolicySources(dir)).version, a.version);
    writeFileSync(join(dir, 'extra.cedar'), '');
    assert.notEqual((await readPolicySources(dir)).version, a.version);
  });
});

describe('loadPolicySet', () => {
  it('loads the shipped set, every policy located', async () => {
    const set = await loadPolicySet(shippedPolicies);
    const ownerNotDeleted = set.policies.find((p) => p.id === 'owner-not-deleted');
    assert.deepEqual(ownerNotDeleted, {
      id: 'owner-not-deleted',
      file: 'owner.cedar',
      line: 15,
      column: 1,
      effect: 'forbid',
      notice: 'No one may delete the tenant owner.',
    });
    assert.deepEqual(set.warnings, []);
    for (const p of set.policies)
      if (p.effect === 'forbid') assert.notEqual(p.notice, null, `${p.id} has a notice`);
  });

  it('reports every problem of every file with its own position', async () => {
    const dir = copyOfShipped();
    writeFileSync(
      join(dir, 'a.cedar'),
      '// é ü\n@id("a")\npermit (principal, action, resource) when { principal.nope };\n',
    );
    mkdirSync(join(dir, 'sub'));
    writeFileSync(
      join(dir, 'sub', 'b.cedar'),
      '\n\n  @id("b") permit (principal, action, resource) when { true && };\n',
    );
    writeFileSync(
      join(dir, 'c.cedar'),
      '\npermit (principal, action, resource);\n@id("owner-not-deleted")\nforbid (principal, action, resource);\n',
    );
    const problems = await problemsOf(dir);
    assert.deepEqual(problems.map(where), [
      'a.cedar:3:45',
      'c.cedar:2:1',
      'owner.cedar:15:1',
      'b.cedar:3:64',
    ]);
    assert.match(problems[0]?.message ?? '', /attribute `nope`/);
    assert.equal(problems[0]?.help, 'did you mean `roles`?');
    assert.match(problems[1]?.message ?? '', /no @id/);
    assert.match(
      problems[2]?.message ?? '',
      /duplicate @id\("owner-not-deleted"\): already used at .*c\.cedar:3:1/,
    );
    assert.match(problems[3]?.message ?? '', /unexpected token/);
  });

  it('validates strictly: a comparison between unrelated types is refused', async () => {
    const dir = copyOfShipped();
    writeFileSync(
      join(dir, 'a.cedar'),
      '@id("a")\npermit (principal, action, resource) when { principal == resource.tenant };\n',
    );
    const [p] = await problemsOf(dir);
    assert.equal(where(p as PolicyProblem), 'a.cedar:2:58');
    assert.match(p?.message ?? '', /Cedargate::Tenant/);
  });

  it('names the schema when it is missing or broken', async () => {
    const dir = copyOfShipped();
    writeFileSync(
      join(dir, 'schema.cedarschema'),
      'namespace Cedargate {\n  entity User { t: Nope };\n}\n',
    );
    const [broken] = await problemsOf(dir);
    assert.equal(where(broken as PolicyProblem), 'schema.cedarschema:2:20');
    unlinkSync(join(dir, 'schema.cedarschema'));
    const [missing] = await problemsOf(dir);
    assert.equal(where(missing as PolicyProblem), 'schema.cedarschema:1:1');
    assert.match(missing?.message ?? '', /missing/);
  });

  it('refuses a policy that no longer validates after a schema change', async () => {
    const dir = copyOfShipped();
    const schema = (await readPolicySources(dir)).schema?.text ?? '';
    writeFileSync(
      join(dir, 'schema.cedarschema'),
      schema.replace('"admin", "user", "viewer"', '"owner", "user", "viewer"'),
    );
    const problems = await problemsOf(dir);
    assert.ok(problems.length > 0);
    assert.ok(problems.every((p) => p.file.endsWith('.cedar')));
    assert.ok(problems.some((p) => /admin/.test(p.message)));
  });
});
