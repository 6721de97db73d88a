/**
 * The Redis users store: the conformance suite, unchanged (a fresh key prefix per test on one
 * real redis-server), then what only Redis has: sharing between processes, the key layout,
 * and behaviour while Redis is down.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openStore } from '../../../../src/backend/store/index.js';
import { openRedisStore } from '../../../../src/backend/store/redis.js';
import { SQLITE_FILE } from '../../../../src/backend/store/sqlite.js';
import { ConflictError, UnavailableError } from '../../../../src/errors.js';
import { freePort, waitFor } from '../../../helpers/net.js';
import { tempDir } from '../../../helpers/process.js';
import { skipWithoutRedis, suiteRedis, withOwnRedis } from '../../../helpers/redis.js';
import { describeStoreSuite } from './store-suite.js';

const owner = { name: 'Owner', email: 'owner@acme.example', roles: ['admin'] };

describe('redis store', { skip: skipWithoutRedis() }, () => {
  const r = suiteRedis();

  describeStoreSuite('redis', async () => {
    const prefix = `test-${randomUUID()}:`;
    let store = await openRedisStore(r.redis().url, { prefix });
    return {
      store,
      async cleanup() {
        await store.close();
      },
      async reopen() {
        store = await openRedisStore(r.redis().url, { prefix });
        return store;
      },
    };
  });

  describe('redis store specifics', () => {
    it('openStore uses Redis when REDIS_URL is set, and writes nothing under DATA_DIR', async () => {
      const dir = tempDir('cedargate-redis-');
      const store = await openStore({ dataDir: join(dir.path, 'data'), redisUrl: r.redis().url });
      const direct = await openRedisStore(r.redis().url);
      try {
        const { tenant } = await store.createTenant('Acme', owner);
        assert.deepEqual(await direct.getTenant(tenant.id), tenant);
        assert.equal(existsSync(join(dir.path, 'data', SQLITE_FILE)), false);
      } finally {
        await store.close();
        await direct.close();
        dir.remove();
      }
    });

    it('two stores on one Redis (two backends) share writes, and an email is taken only once', async () => {
      const prefix = `test-${randomUUID()}:`;
      const one = await openRedisStore(r.redis().url, { prefix });
      const two = await openRedisStore(r.redis().url, { prefix });
      try {
        const { tenant } = await one.createTenant('Acme', owner);
        const results = await Promise.allSettled(
          Array.from({ length: 20 }, (_, i) =>
            (i % 2 === 0 ? one : two).createUser(tenant.id, {
              name: `racer ${i}`,
              email: 'same@acme.example',
              roles: ['user'],
            }),
          ),
        );
        const won = results.filter((r) => r.status === 'fulfilled');
        assert.equal(won.length, 1);
        for (const r of results) {
          if (r.status === 'rejected')
            assert.ok(r.reason instanceof ConflictError, String(r.reason));
        }
        const listed = await two.listUsers(tenant.id, { limit: 200 });
        assert.equal(listed.users.length, 2);
      } finally {
        await one.close();
        await two.close();
      }
    });

    it("keeps each tenant's keys under one hash tag, and never makes a key of a non-id", async () => {
      const prefix = `test-${randomUUID()}:`;
      const store = await openRedisStore(r.redis().url, { prefix });
      const raw = r.raw();
      try {
        const { tenant, owner: o } = await store.createTenant('Acme', owner);
        assert.equal(await store.getTenant('../../x'), null);
        assert.equal(await store.getUser(tenant.id, '..%2fx'), null);
        assert.equal(await store.getUser('{evil}', o.id), null);
        assert.deepEqual(await store.listUsers('*', { limit: 5 }), { users: [], nextCursor: null });
        const keys = (await raw.keys(`${prefix}*`)).sort();
        // The change-event stream and the store generation are the keys outside the tenant's
        // tag (docs/scaling.md).
        assert.deepEqual(keys, [
          `${prefix}events`,
          `${prefix}generation`,
          `${prefix}{${tenant.id}}:emails`,
          `${prefix}{${tenant.id}}:tenant`,
          `${prefix}{${tenant.id}}:user:${o.id}`,
          `${prefix}{${tenant.id}}:users`,
        ]);
      } finally {
        await store.close();
      }
    });

    it('every write appends its change event in the same script; a refused write appends none', async () => {
      const prefix = `test-${randomUUID()}:`;
      const store = await openRedisStore(r.redis().url, { prefix, eventStreamMaxLen: 1000 });
      const raw = r.raw();
      const events = async () =>
        (await raw.xRange(`${prefix}events`, '-', '+')).map((e) => ({ ...e.message }));
      try {
        const { tenant, owner: o } = await store.createTenant('Acme', owner);
        const u = await store.createUser(tenant.id, { name: 'U', email: 'u@x.test', roles: [] });
        await store.updateUser(tenant.id, u.id, { roles: ['admin'] }, 1);
        await assert.rejects(store.updateUser(tenant.id, u.id, { name: 'stale' }, 1));
        await assert.rejects(store.createUser(tenant.id, { ...owner, roles: [] }));
        await store.deleteUser(tenant.id, u.id);
        const ev = (user: string, version: string) => ({
          kind: 'user',
          tenant: tenant.id,
          user,
          version,
        });
        assert.deepEqual(await events(), [
          ev(o.id, '1'),
          ev(u.id, '1'),
          ev(u.id, '2'),
          ev(u.id, '0'),
        ]);
      } finally {
        await store.close();
      }
    });

    it('trims the event stream to about EVENT_STREAM_MAXLEN entries', async () => {
      const prefix = `test-${randomUUID()}:`;
      const store = await openRedisStore(r.redis().url, { prefix, eventStreamMaxLen: 100 });
      const raw = r.raw();
      try {
        const { tenant, owner: o } = await store.createTenant('Acme', owner);
        for (let i = 0; i < 400; i++) await store.updateUser(tenant.id, o.id, { name: `n${i}` });
        const len = await raw.xLen(`${prefix}events`);
        // MAXLEN ~ trims whole radix-tree nodes (100 entries by default): never far past the cap.
        assert.ok(len >= 100 && len <= 300, `stream length ${len}`);
      } finally {
        await store.close();
      }
    });

    it('uses the injected clock for created_at and updated_at', async () => {
      let t = Date.parse('2030-01-02T03:04:05.006Z');
      const store = await openRedisStore(r.redis().url, {
        prefix: `test-${randomUUID()}:`,
        now: () => new Date(t),
      });
      try {
        const { tenant, owner: o } = await store.createTenant('Acme', owner);
        assert.equal(o.created_at, '2030-01-02T03:04:05.006Z');
        t += 1000;
        const updated = await store.updateUser(tenant.id, o.id, { name: 'P' });
        assert.equal(updated.created_at, '2030-01-02T03:04:05.006Z');
        assert.equal(updated.updated_at, '2030-01-02T03:04:06.006Z');
      } finally {
        await store.close();
      }
    });

    it('fails opening, instead of hanging, when nothing answers', async () => {
      const port = await freePort();
      await assert.rejects(
        openRedisStore(`redis://127.0.0.1:${port}`, { connectTimeoutMs: 300 }),
        /did not answer within 300 ms/,
      );
    });

    it('answers 503 unavailable while Redis is down, and recovers by itself', async () => {
      await withOwnRedis(async (own) => {
        const store = await openRedisStore(own.url);
        try {
          const { tenant, owner: o } = await store.createTenant('Acme', owner);
          await own.kill();
          await assert.rejects(store.getUser(tenant.id, o.id), UnavailableError);
          await assert.rejects(store.updateUser(tenant.id, o.id, { name: 'x' }), UnavailableError);
          await assert.rejects(store.ping(), UnavailableError);
          await own.restart();
          await waitFor(() => store.ping().then(() => true), 15_000, 'the store to reconnect');
          // Nothing persisted in this Redis: the store works again, on an empty data set.
          assert.equal(await store.getUser(tenant.id, o.id), null);
          const again = await store.createTenant('Again', owner);
          assert.equal((await store.getTenant(again.tenant.id))?.name, 'Again');
        } finally {
          await store.close();
        }
      });
    });
  });
});
