import assert from 'node:assert/strict';
import { join } from 'node:path';
import { beforeEach, describe, it } from 'node:test';
import { runCli, shippedPolicies } from '../helpers/process.js';
import { tempDirs } from '../helpers/temp-dirs.js';
import { skipWithoutRedis, suiteRedis } from '../helpers/redis.js';

const { temp } = tempDirs('cedargate-e2e-tenant-');
const freshEnv = (): Record<string, string> => ({
  DATA_DIR: join(temp(), 'data'),
  POLICY_DIR: shippedPolicies,
});

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

/** `tenant create --id`: the same answers from the embedded SQLite store and from Redis. */
function describeCreateWithId(store: string, env: () => Record<string, string>): void {
  const create = (id: string, name: string, e: Record<string, string>) =>
    runCli(
      [
        'tenant',
        'create',
        '--name',
        name,
        '--owner-name',
        'O',
        '--owner-email',
        'o@t.example',
      ].concat(['--id', id]),
      e,
    );

  it(`${store}: creates the tenant with the id asked for, and a second time exits 1 with one line`, async () => {
    const e = env();
    const asked = 'a1b2c3d4-0000-4000-8000-00000000beef';
    const first = await create(asked, 'Acme', e);
    assert.equal(first.code, 0, first.stderr);
    const out = JSON.parse(first.stdout) as {
      tenant: { id: string };
      owner: { tenant_id: string };
    };
    assert.deepEqual(out.tenant, { id: asked.toUpperCase(), name: 'Acme' });
    assert.equal(out.owner.tenant_id, asked.toUpperCase());

    const again = await create(asked.toUpperCase(), 'Other', e);
    assert.equal(again.code, 1, again.stderr);
    assert.equal(again.stdout, '');
    assert.equal(
      again.stderr,
      `cedargate tenant: conflict: tenant ${asked.toUpperCase()} already exists\n`,
    );

    const list = await runCli(['tenant', 'list'], e);
    assert.equal(list.code, 0, list.stderr);
    const tenants = list.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { id: string; name: string });
    assert.deepEqual(
      tenants.filter((t) => t.id === asked.toUpperCase()),
      [{ id: asked.toUpperCase(), name: 'Acme' }],
    );
  });

  it(`${store}: a malformed or reserved --id exits 2 with one line and creates nothing`, async () => {
    const e = env();
    const cases: [string, RegExp][] = [
      [
        'org_acme',
        /^cedargate tenant: --id: tenant id must be UUID-shaped hex \(8-4-4-4-12\), e\.g\. 2489E9AD-/,
      ],
      ['', /^cedargate tenant: --id: tenant id must be UUID-shaped/],
      ['a1b2c3d4-0000-4000-8000-00000000beef0', /--id: tenant id must be UUID-shaped/],
      [
        '00000000-0000-0000-0000-000000000000',
        /^cedargate tenant: --id: the all-zero tenant id is reserved/,
      ],
    ];
    for (const [id, message] of cases) {
      const res = await create(id, 'T', e);
      assert.equal(res.code, 2, `${JSON.stringify(id)}: ${res.stderr}`);
      assert.match(res.stderr, message);
      assert.equal(res.stderr.split('\n').filter(Boolean).length, 1, res.stderr);
      assert.equal(res.stdout, '');
    }
    const list = await runCli(['tenant', 'list'], e);
    assert.equal(list.code, 0, list.stderr);
    assert.equal(list.stdout, '');
  });
}

describe('cedargate tenant create --id', () => {
  describeCreateWithId('SQLite', freshEnv);
});

describe('cedargate tenant create --id on Redis', { skip: skipWithoutRedis() }, () => {
  const r = suiteRedis();
  // One Redis for the suite: each test starts from an empty one.
  beforeEach(() => r.raw().flushAll());
  describeCreateWithId('Redis', () => ({ ...freshEnv(), REDIS_URL: r.redis().url }));
});
