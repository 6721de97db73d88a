import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runCli, shippedPolicies, tempDir } from '../helpers/process.js';

const dirs: { remove(): void }[] = [];
after(() => dirs.forEach((d) => d.remove()));
function freshEnv(): Record<string, string> {
  const d = tempDir('cedargate-e2e-tenant-');
  dirs.push(d);
  return { DATA_DIR: join(d.path, 'data'), POLICY_DIR: shippedPolicies };
}

const ID = /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/;

describe('cedargate tenant create', () => {
  it('prints exactly {"tenant":{"id","name"},"owner":<user>} and exits 0', async () => {
    const res = await runCli(
      [
        'tenant',
        'create',
        '--name',
        ' Acme ',
        '--owner-name',
        'Ada Lovelace',
        '--owner-email',
        'Ada@Acme.example',
      ],
      freshEnv(),
    );
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout.split('\n').filter(Boolean).length, 1, 'one line on stdout');
    const out = JSON.parse(res.stdout) as Record<string, Record<string, unknown>>;
    assert.deepEqual(Object.keys(out), ['tenant', 'owner']);
    assert.deepEqual(Object.keys(out['tenant'] ?? {}), ['id', 'name']);
    assert.match(String(out['tenant']?.['id']), ID);
    assert.equal(out['tenant']?.['name'], 'Acme');
    const owner = out['owner'] ?? {};
    assert.match(String(owner['id']), ID);
    assert.equal(owner['tenant_id'], out['tenant']?.['id']);
    assert.equal(owner['name'], 'Ada Lovelace');
    assert.equal(owner['email'], 'ada@acme.example');
    assert.deepEqual(owner['roles'], ['admin']);
    assert.equal(owner['is_owner'], true);
    assert.equal(owner['avatar'], null);
    assert.equal(owner['auth_provider'], 'local');
    assert.equal(owner['version'], undefined);
  });

  it('exits 2 with a clear line for usage errors', async () => {
    const env = freshEnv();
    const cases: [string[], RegExp][] = [
      [['tenant'], /missing subcommand/],
      [['tenant', 'delete'], /unknown subcommand "delete"/],
      [['tenant', 'create', '--owner-name', 'A', '--owner-email', 'a@b.co'], /missing --name/],
      [['tenant', 'create', '--name', 'T', '--owner-email', 'a@b.co'], /missing --owner-name/],
      [['tenant', 'create', '--name', 'T', '--owner-name', 'A'], /missing --owner-email/],
      [
        ['tenant', 'create', '--name', 'T', '--owner-name', 'A', '--owner-email', 'nope'],
        /--owner-email: email must be a valid address/,
      ],
      [
        [
          'tenant',
          'create',
          '--name',
          'x'.repeat(300),
          '--owner-name',
          'A',
          '--owner-email',
          'a@b.co',
        ],
        /--name: name must be 1 to 256/,
      ],
      [
        [
          'tenant',
          'create',
          '--name',
          'T',
          '--owner-name',
          'A',
          '--owner-email',
          'a@b.co',
          '--bogus',
        ],
        /unknown flag --bogus/,
      ],
    ];
    for (const [args, message] of cases) {
      const res = await runCli(args, env);
      assert.equal(res.code, 2, `${args.join(' ')}: ${res.stderr}`);
      assert.match(res.stderr, message);
      assert.match(
        res.stderr,
        /usage: cedargate tenant create --name N --owner-name N --owner-email E/,
      );
      assert.equal(res.stdout, '');
    }
  });

  it('runs concurrently on a fresh DATA_DIR (migration and WAL setup race safely)', async () => {
    const env = freshEnv();
    const results = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        runCli(
          [
            'tenant',
            'create',
            '--name',
            `T${i}`,
            '--owner-name',
            'O',
            '--owner-email',
            'same@owner.example',
          ],
          env,
        ),
      ),
    );
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const ids = results.map((r) => (JSON.parse(r.stdout) as { tenant: { id: string } }).tenant.id);
    assert.equal(new Set(ids).size, 4);
  });
});
