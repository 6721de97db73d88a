/**
 * The README's quick start, run as written: its shell block is taken from README.md and run by
 * bash against a real `start` on free ports, so the README can never go stale. Every `# → NNN`
 * it promises must be the status the call answered, in order.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { repoRoot } from '../helpers/process.js';
import { startStack, type Stack } from '../helpers/stack.js';

/** The shell block of the quick start that talks to the running cedargate. */
function quickStartScript(): string {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const section = readme.slice(
    readme.indexOf('## Quick start'),
    readme.indexOf('\n## ', readme.indexOf('## Quick start') + 1),
  );
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  const block = blocks.find((b) => b.includes('tenant create'));
  assert.ok(block !== undefined, 'the quick start has a shell block that creates a tenant');
  return block;
}

function runBash(
  script: string,
  env: Record<string, string>,
): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    // One stream for stdout and stderr, as a terminal shows them (the statuses go to stderr).
    const child = spawn('bash', ['-c', `exec 2>&1\n${script}`], {
      cwd: repoRoot,
      env: { ...process.env, LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    // Decoded once at the end: a character can be split between two chunks.
    const chunks: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.on('close', (code) =>
      resolve({ code: code ?? 1, out: Buffer.concat(chunks).toString('utf8') }),
    );
  });
}

describe('README quick start', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.stop();
  });

  it('runs as written: every status it promises is the one answered', async () => {
    const script = quickStartScript();
    const promised = [...script.matchAll(/^# → (\d{3})\b/gm)].map((m) => Number(m[1]));
    // What the quick start must show: the list, a user created, the seed's own PUT answering
    // 200, and two denials.
    assert.deepEqual(promised, [200, 201, 200, 403, 403]);
    const local = script
      .replaceAll('http://localhost:8080', stack.url)
      .replaceAll('http://localhost:9901', stack.adminUrl);
    const r = await runBash(local, { DATA_DIR: stack.dataDir, POLICY_DIR: stack.policyDir });
    assert.equal(r.code, 0, r.out);
    const answered = [...r.out.matchAll(/→ HTTP (\d{3})/g)].map((m) => Number(m[1]));
    assert.deepEqual(answered, promised, r.out);
    assert.match(
      r.out,
      /"name":"example"[^}]*"roles":\["user"\][^}]*\} → HTTP 200/,
      'the PUT set name and roles',
    );
    assert.match(r.out, /"code":"forbidden".*No one may change their own roles\./);
    assert.match(r.out, /"code":"forbidden".*No one may delete the tenant owner\./);
    assert.equal(r.out.match(/"code":"forbidden"/g)?.length, 2, r.out);
    assert.match(r.out, /"lastReload"/, 'the /status call answered');
    // Denied calls never reach the backend.
    const deletes = stack.recorder.forwarded().filter((q) => q.method === 'DELETE');
    assert.deepEqual(deletes, []);
  });
});
