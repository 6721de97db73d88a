/**
 * Issue 22, Also: `policy diff` on pathological input — a schema of 40 roles, each named by a
 * policy; policy text nested past the limit; more policies than a set may hold — ends in bounded
 * time with a clear line and exit 2, never a stack trace (before: "0 of at most 8.5e37 requests
 * decided", running for ever). Replay's bounds: replay-bounds.test.ts.
 */
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { policyCli, policyDirs } from '../../../helpers/policy-cli.js';
import { shippedPolicies, startCli } from '../../../helpers/process.js';

const dirs = policyDirs('cedargate-diff-bounds-');

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
  it('40 roles named by 80 and 120 policies: one line saying why, exit 2, no stack trace', async () => {
    const [base, candidate] = [dirs.temp(), dirs.temp()];
    manyRoles(base, 80);
    manyRoles(candidate, 120);
    const p = startCli(['policy', 'diff', base, candidate], {});
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

describe('policy diff on policy text past the limits (issue 22, Also)', () => {
  /** The shipped set against a copy of it with `file` added. */
  const diffAgainst = async (file: string, text: string) => {
    const [base, candidate] = [dirs.copyOfShipped(), dirs.copyOfShipped()];
    writeFileSync(join(candidate, file), text);
    return policyCli(['diff', base, candidate]);
  };

  it('a condition nested 200 deep: exit 2 at file:line:column, before Cedar sees it', async () => {
    const deep = `${'('.repeat(200)}true${')'.repeat(200)}`;
    const r = await diffAgainst(
      'deep.cedar',
      `@id("deep")\npermit (principal, action, resource)\nwhen { ${deep} };\n`,
    );
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /deep\.cedar:3:\d+: .*nested more than 50 deep/);
    assert.doesNotMatch(r.stdout + r.stderr, /\n\s+at |out of bounds|call stack/);
  });

  it('more policies than a set may hold: exit 2 naming the limit', async () => {
    const many = Array.from(
      { length: 10_001 },
      (_, i) =>
        `@id("m${i}")\npermit (principal, action == Cedargate::Action::"users:list", resource);`,
    ).join('\n');
    const r = await diffAgainst('many.cedar', many);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /more than 10000 policies, the limit/);
    assert.doesNotMatch(r.stdout + r.stderr, /\n\s+at /);
  });
});
