import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { openStore } from '../../../../src/backend/store/index.js';
import { SQLITE_FILE, openSqliteStore } from '../../../../src/backend/store/sqlite.js';
import { PreconditionFailedError, UnavailableError } from '../../../../src/errors.js';
import { tempDir } from '../../../helpers/process.js';
import { describeStoreSuite } from './store-suite.js';

describeStoreSuite('sqlite', () => {
  const dir = tempDir('cedargate-sqlite-');
  const dataDir = join(dir.path, 'data');
  let store = openSqliteStore(dataDir);
  return Promise.resolve({
    store,
    async cleanup() {
      await store.close();
      dir.remove();
    },
    reopen() {
      store = openSqliteStore(dataDir);
      return Promise.resolve(store);
    },
  });
});

const require = createRequire(import.meta.url);

describe('sqlite store specifics', () => {
  it('uses WAL, synchronous=FULL, and an owner-only file', async () => {
    const dir = tempDir('cedargate-sqlite-');
    const store = openSqliteStore(join(dir.path, 'data'));
    try {
      const file = join(dir.path, 'data', SQLITE_FILE);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      const db = new Database(file, { readonly: true });
      try {
        assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
        assert.equal(db.pragma('user_version', { simple: true }), 1);
      } finally {
        db.close();
      }
    } finally {
      await store.close();
      dir.remove();
    }
  });

  it('uses the injected clock for created_at and updated_at', async () => {
    const dir = tempDir('cedargate-sqlite-');
    let t = Date.parse('2030-01-02T03:04:05.006Z');
    const store = openSqliteStore(join(dir.path, 'data'), { now: () => new Date(t) });
    try {
      const { tenant, owner } = await store.createTenant('Acme', {
        name: 'O',
        email: 'o@a.example',
        roles: [],
      });
      assert.equal(owner.created_at, '2030-01-02T03:04:05.006Z');
      t += 1000;
      const updated = await store.updateUser(tenant.id, owner.id, { name: 'P' });
      assert.equal(updated.created_at, '2030-01-02T03:04:05.006Z');
      assert.equal(updated.updated_at, '2030-01-02T03:04:06.006Z');
    } finally {
      await store.close();
      dir.remove();
    }
  });

  it('two connections on one file (a server and the CLI) serialize writes without losing any', async () => {
    const dir = tempDir('cedargate-sqlite-');
    const dataDir = join(dir.path, 'data');
    const one = openSqliteStore(dataDir);
    const two = openSqliteStore(dataDir);
    try {
      const { tenant, owner } = await one.createTenant('Acme', {
        name: 'O',
        email: 'o@a.example',
        roles: [],
      });
      let successes = 0;
      await Promise.all(
        Array.from({ length: 40 }, async (_, i) => {
          const store = i % 2 === 0 ? one : two;
          for (;;) {
            const cur = await store.getUser(tenant.id, owner.id);
            assert.ok(cur !== null);
            try {
              await store.updateUser(tenant.id, owner.id, { name: `w${i}` }, cur.version);
              successes++;
              return;
            } catch (err) {
              if (!(err instanceof PreconditionFailedError)) throw err;
            }
          }
        }),
      );
      assert.equal(successes, 40);
      assert.equal((await two.getUser(tenant.id, owner.id))?.version, 41);
      // A tenant made through one connection is visible through the other at once.
      const made = await two.createTenant('Beta', { name: 'B', email: 'b@b.example', roles: [] });
      assert.deepEqual(await one.getTenant(made.tenant.id), made.tenant);
    } finally {
      await one.close();
      await two.close();
      dir.remove();
    }
  });

  it('refuses a database from a newer cedargate', async () => {
    const dir = tempDir('cedargate-sqlite-');
    const dataDir = join(dir.path, 'data');
    await openSqliteStore(dataDir).close();
    const db = new Database(join(dataDir, SQLITE_FILE));
    db.pragma('user_version = 99');
    db.close();
    try {
      assert.throws(() => openSqliteStore(dataDir), /newer than this cedargate/);
    } finally {
      dir.remove();
    }
  });

  // With REDIS_URL, openStore opens the Redis store: test/unit/backend/store/redis.test.ts.
  it('openStore opens SQLite in DATA_DIR without REDIS_URL', async () => {
    const dir = tempDir('cedargate-sqlite-');
    try {
      const store = await openStore({ dataDir: dir.path, redisUrl: undefined });
      await store.ping();
      await store.close();
      assert.ok(statSync(join(dir.path, SQLITE_FILE)).isFile());
    } finally {
      dir.remove();
    }
  });

  it('another process holding the write lock: reads and ping go on, a write is 503 unavailable with Retry-After', async () => {
    const dir = tempDir('cedargate-sqlite-');
    const store = openSqliteStore(dir.path);
    const other = new Database(join(dir.path, SQLITE_FILE));
    try {
      const { tenant } = await store.createTenant('Acme', {
        name: 'O',
        email: 'o@acme.example',
        roles: ['admin'],
      });
      for (const begin of ['BEGIN IMMEDIATE', 'BEGIN EXCLUSIVE']) {
        other.exec(begin);
        try {
          assert.equal((await store.getTenant(tenant.id))?.id, tenant.id);
          await store.ping();
          await assert.rejects(
            store.createUser(tenant.id, { name: 'B', email: 'b@acme.example', roles: ['user'] }),
            (err: unknown) =>
              err instanceof UnavailableError &&
              err.code === 'unavailable' &&
              err.retryAfterSeconds !== undefined &&
              err.retryAfterSeconds > 0,
          );
        } finally {
          other.exec('ROLLBACK');
        }
      }
      // The lock released, the same write goes through.
      await store.createUser(tenant.id, { name: 'B', email: 'b@acme.example', roles: ['user'] });
    } finally {
      other.close();
      await store.close();
      dir.remove();
    }
  });

  it('waitForLocks (one-shot commands): a write waits out another process holding the lock', async () => {
    const dir = tempDir('cedargate-sqlite-');
    const store = openSqliteStore(dir.path, { waitForLocks: true });
    try {
      const { tenant } = await store.createTenant('Acme', {
        name: 'O',
        email: 'o@acme.example',
        roles: ['admin'],
      });
      // Another process takes the write lock and keeps it for 800 ms (past the 250 ms that
      // the serving backend waits, test above).
      const holder = spawn(
        process.execPath,
        [
          '-e',
          `const D = require(${JSON.stringify(require.resolve('better-sqlite3'))});
           const db = new D(${JSON.stringify(join(dir.path, SQLITE_FILE))});
           db.exec('BEGIN IMMEDIATE'); console.log('held');
           setTimeout(() => { db.exec('ROLLBACK'); db.close(); }, 800);`,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
      const created = await store.createUser(tenant.id, {
        name: 'B',
        email: 'b@acme.example',
        roles: ['user'],
      });
      assert.equal(created.name, 'B');
      await new Promise((r) => holder.once('exit', r));
    } finally {
      await store.close();
      dir.remove();
    }
  });
});
