/**
 * Issue 16 item 6 through the real bin/cedargate: `--help` on every command and subcommand,
 * `--version`, unknown flags, `tenant list`, and one-line errors (no stack trace) for a missing
 * policy directory, a file given for one, and Redis down in `token revoke`.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { freePort } from '../helpers/net.js';
import { repoRoot, runBin, runCli, shippedPolicies } from '../helpers/process.js';
import { tempDirs } from '../helpers/temp-dirs.js';

const { temp } = tempDirs('cedargate-e2e-cli-');
const freshEnv = (): Record<string, string> => ({
  DATA_DIR: join(temp(), 'data'),
  POLICY_DIR: shippedPolicies,
});

/** No line of a node stack trace. */
function assertNoStack(text: string, what: string): void {
  assert.doesNotMatch(text, /^\s+at /m, `${what}: a stack trace\n${text}`);
}

describe('cedargate --version and --help (issue 16 item 6)', () => {
  it('--version prints package.json version, exit 0', async () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
      version: string;
    };
    const r = await runBin(['--version']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `cedargate ${pkg.version}\n`);
  });

  const commands: [string[], string[]][] = [
    // The policy command's line comes from its subcommand table: every subcommand is named.
    [[], ['policy validate|test|fmt|explain|diff|replay']],
    [['start'], []],
    [['sidecar'], []],
    [['backend'], []],
    [['tenant'], ['tenant create', 'tenant list']],
    [
      ['tenant', 'create'],
      ['--name', '--owner-name', '--owner-email'],
    ],
    [['tenant', 'list'], []],
    [['token'], ['--tenant', '--sub', '--ttl', 'token revoke']],
    [
      ['token', 'revoke'],
      ['--jti', '--exp', '--sub', '--tenant'],
    ],
    [
      ['policy'],
      [
        'policy validate',
        'policy test',
        'policy fmt',
        'policy explain',
        'policy diff',
        'policy replay',
      ],
    ],
    [
      ['policy', 'validate'],
      ['--strict', '--warnings-as-errors', '--quick', '--thorough'],
    ],
    [
      ['policy', 'test'],
      ['--coverage', '--coverage-min N', '--junit FILE'],
    ],
    [['policy', 'fmt'], ['--check']],
    [
      ['policy', 'explain'],
      ['--request', '--principal', '--action', '--resource', '--body', '--context', '--json'],
    ],
    [
      ['policy', 'diff'],
      ['--json', '--git', '--invariants FILE.yaml', '--users N'],
    ],
    [
      ['policy', 'replay'],
      ['--against DIR', '--json'],
    ],
  ];
  for (const [args, mentions] of commands) {
    it(`cedargate ${[...args, '--help'].join(' ')}: usage on stdout, exit 0, its flags listed`, async () => {
      const env = freshEnv();
      // A start or sidecar that ignored --help would start serving: give it ports that say so.
      env.PORT = String(await freePort());
      const r = await runBin([...args, '--help'], env);
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      assert.equal(r.stderr, '');
      assert.match(r.stdout, /^usage:/);
      for (const m of mentions) assert.ok(r.stdout.includes(m), `${m} missing from\n${r.stdout}`);
      if (args.length > 0 && !['tenant', 'policy'].includes(args.join(' '))) {
        assert.match(r.stdout, /--help/);
      }
    });
  }
});

describe('cedargate unknown flags (issue 16 item 6)', () => {
  for (const args of [
    ['--bogus'],
    ['start', '--bogus'],
    ['backend', '--bogus'],
    ['tenant', 'create', '--bogus'],
    ['tenant', 'list', '--bogus'],
    ['token', '--bogus'],
    ['token', 'revoke', '--bogus'],
    ['policy', 'validate', '--bogus'],
    ['policy', 'diff', '--bogus'],
    ['policy', 'replay', '--bogus'],
  ]) {
    it(`cedargate ${args.join(' ')}: one-line error naming the flag, a usage hint, exit 2`, async () => {
      const r = await runBin(args, freshEnv());
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, '');
      const [first, ...rest] = r.stderr.trimEnd().split('\n');
      assert.match(first ?? '', /^cedargate( \w+)?: unknown flag --bogus$/, r.stderr);
      assert.match(rest.join('\n'), /usage|--help/, r.stderr);
      assertNoStack(r.stderr, args.join(' '));
    });
  }
});

describe('cedargate unknown commands and subcommands', () => {
  // Object.prototype's members are no commands: the look-ups take their table's own keys only.
  for (const name of ['bogus', 'toString', 'constructor', '__proto__', 'hasOwnProperty']) {
    it(`cedargate ${name}: "unknown command", a usage hint, exit 2`, async () => {
      const r = await runBin([name], freshEnv());
      assert.equal(r.code, 2, `${r.stdout}\n${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.equal(
        r.stderr,
        `cedargate: unknown command "${name}"\nrun "cedargate --help" for usage\n`,
      );
    });

    it(`cedargate token ${name}: no subcommand, an unexpected argument, exit 2`, async () => {
      const r = await runBin(['token', name], freshEnv());
      assert.equal(r.code, 2, `${r.stdout}\n${r.stderr}`);
      assert.equal(r.stdout, '');
      const [first, ...rest] = r.stderr.trimEnd().split('\n');
      assert.equal(first, `cedargate token: unexpected argument "${name}"`, r.stderr);
      assert.match(rest.join('\n'), /usage: cedargate token --tenant/, r.stderr);
      assertNoStack(r.stderr, `token ${name}`);
    });
  }
});

describe('cedargate tenant list (issue 16 item 6)', () => {
  it('prints every tenant of the store as JSON lines {"id","name"}', async () => {
    const env = freshEnv();
    const made: { id: string; name: string }[] = [];
    for (const name of ['acme', 'globex']) {
      const c = await runCli(
        [
          'tenant',
          'create',
          '--name',
          name,
          '--owner-name',
          'O',
          '--owner-email',
          `o@${name}.test`,
        ],
        env,
      );
      assert.equal(c.code, 0, c.stderr);
      made.push((JSON.parse(c.stdout) as { tenant: { id: string; name: string } }).tenant);
    }
    const r = await runBin(['tenant', 'list'], env);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as unknown);
    assert.deepEqual(
      [...lines].sort((a, b) =>
        (a as { name: string }).name < (b as { name: string }).name ? -1 : 1,
      ),
      made,
    );
  });

  it('an empty store lists nothing, exit 0', async () => {
    const r = await runBin(['tenant', 'list'], freshEnv());
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
  });
});

describe('cedargate one-line errors (issue 16 item 6)', () => {
  const file = join(repoRoot, 'package.json');
  for (const args of [
    ['policy', 'validate', '/nonexistent/policies'],
    ['policy', 'test', '/nonexistent/policies'],
    ['policy', 'fmt', '/nonexistent/policies'],
    ['policy', 'validate', file],
    ['policy', 'test', file],
    ['policy', 'fmt', '--check', file],
    ['policy', 'diff', shippedPolicies, '/nonexistent/policies'],
    ['policy', 'diff', file, shippedPolicies],
  ]) {
    it(`cedargate ${args.join(' ')}: one line naming the directory, no stack, exit 2`, async () => {
      const r = await runBin(args, freshEnv());
      assert.equal(r.code, 2, `${r.stdout}\n${r.stderr}`);
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0] ?? '', /does not exist|is a file, not a directory/);
      assertNoStack(r.stderr, args.join(' '));
    });
  }

  it('POLICY_DIR missing: the same one line', async () => {
    const r = await runBin(['policy', 'validate'], { POLICY_DIR: '/nonexistent/policies' });
    assert.equal(r.code, 2, r.stderr);
    assert.equal(
      r.stderr,
      'cedargate policy: policy directory "/nonexistent/policies" does not exist\n',
    );
  });

  it('token revoke with Redis down: one line saying nothing was revoked, no stack, exit 1', async () => {
    const port = await freePort(); // nothing listens there
    const r = await runBin(['token', 'revoke', '--jti', 'abc'], {
      ...freshEnv(),
      REDIS_URL: `redis://127.0.0.1:${port}`,
    });
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0] ?? '', /^cedargate token: could not record the revocation: .*Redis/);
    assert.match(lines[0] ?? '', /nothing was revoked/);
    assertNoStack(r.stderr, 'token revoke');
  });
});
