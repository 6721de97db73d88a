/**
 * Issue 22, Also: `policy diff` on pathological input — a schema of 40 roles, each named by a
 * policy, and a few thousand policies — ends in bounded time with one clear line and exit 2,
 * never a stack trace (before: "0 of at most 8.5e37 requests decided", running for ever).
 */
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { shippedPolicies, startCli, tempDir } from '../../../helpers/process.js';

const ROLES = ['admin', 'user', 'viewer', ...Array.from({ length: 37 }, (_, i) => `r${i}`)];

/** The shipped set with a 40-role enum and `n` policies, each naming two of the roles. */
function manyRoles(dir: string, n: number): void {
  cpSync(shippedPolicies, dir, { recursive: true });
  const schemaPath = join(dir, 'schema.cedarschema');
  const schema = readFileSync(schemaPath, 'utf8');
  const wide = schema.replace(
    'entity Role enum ["admin", "user", "viewer"];',
    `entity Role enum [${ROLES.map((r) => JSON.stringify(r)).join(', ')}];`,
  );
  assert.notEqual(wide, schema);
  writeFileSync(schemaPath, wide);
  const role = (i: number) => `Cedargate::Role::"${ROLES[i % ROLES.length]}"`;
  const text = Array.from(
    { length: n },
    (_, i) =>
      `@id("p${i}")\npermit (principal, action == Cedargate::Action::"users:read", resource is Cedargate::User)\n` +
      `when { principal.roles.contains(${role(i)}) && resource.roles.contains(${role(i * 7)}) };\n`,
  ).join('\n');
  writeFileSync(join(dir, 'many.cedar'), text);
}

describe('policy diff on pathological input (issue 22, Also)', () => {
  const base = tempDir('cedargate-wide-base-');
  const candidate = tempDir('cedargate-wide-cand-');
  after(() => {
    base.remove();
    candidate.remove();
  });

  it('40 roles named by 80 and 120 policies: one line saying why, exit 2, no stack trace', async () => {
    manyRoles(base.path, 80);
    manyRoles(candidate.path, 120);
    const p = startCli(['policy', 'diff', base.path, candidate.path], {});
    // Generous: the refusal comes before any request is decided.
    const timer = setTimeout(() => p.child.kill('SIGKILL'), 60_000);
    const code = await p.exited;
    clearTimeout(timer);
    assert.equal(code, 2, `exit ${code}\n${p.output().slice(-1500)}`);
    const lines = p.stderr().trim().split('\n');
    assert.equal(lines.length, 1, p.stderr());
    assert.match(lines[0] ?? '', /^policy diff: .*too many requests to compare/);
    assert.doesNotMatch(p.output(), /\n\s+at /, 'no stack trace');
  });
});
