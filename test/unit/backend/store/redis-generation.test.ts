/**
 * The Redis store's generation (src/common/store-generation.ts) on a real redis-server: users
 * are stamped with it and their ETags name it, a conditional write checks it in its own script,
 * and a generation that changes under the store is noticed by the periodic check and logged once.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { openRedisStore } from '../../../../src/backend/store/redis.js';
import { generationKey } from '../../../../src/common/store-generation.js';
import { etagOf } from '../../../../src/common/user.js';
import { PreconditionFailedError } from '../../../../src/errors.js';
import { waitFor } from '../../../helpers/net.js';
import { skipWithoutRedis, suiteRedis } from '../../../helpers/redis.js';
import { captureLogger } from '../../../helpers/tokens.js';

const owner = { name: 'Owner', email: 'owner@acme.example', roles: ['admin'] };

describe('redis store generation', { skip: skipWithoutRedis() }, () => {
  const r = suiteRedis();

  it('is written once and shared; users carry it and their ETags name it', async () => {
    const prefix = `test-${randomUUID()}:`;
    const a = await openRedisStore(r.redis().url, { prefix });
    const b = await openRedisStore(r.redis().url, { prefix });
    try {
      const generation = await r.raw().get(generationKey(prefix));
      assert.match(generation ?? '', /^[0-9a-f]{16}$/);
      const { tenant, owner: o } = await a.createTenant('Acme', owner);
      assert.equal(o.generation, generation);
      const read = await b.getUser(tenant.id, o.id);
      assert.equal(read?.generation, generation);
      assert.equal(etagOf(o), `"${o.id.toLowerCase()}.1.${generation}"`);
      const updated = await b.updateUser(tenant.id, o.id, { name: 'New' }, 1, generation ?? '');
      assert.equal(etagOf(updated), `"${o.id.toLowerCase()}.2.${generation}"`);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('a conditional write read in another generation is refused (412), the counter alone is not enough', async () => {
    const prefix = `test-${randomUUID()}:`;
    const store = await openRedisStore(r.redis().url, { prefix });
    try {
      const { tenant, owner: o } = await store.createTenant('Acme', owner);
      const u = await store.createUser(tenant.id, {
        name: 'U',
        email: 'u@acme.example',
        roles: [],
      });
      await assert.rejects(
        store.updateUser(tenant.id, u.id, { name: 'x' }, 1, 'feedfeedfeedfeed'),
        PreconditionFailedError,
      );
      await assert.rejects(
        store.deleteUser(tenant.id, u.id, 1, 'feedfeedfeedfeed'),
        PreconditionFailedError,
      );
      // The generation itself gone (a flush that spared this user): refused too.
      await r.raw().del(generationKey(prefix));
      await assert.rejects(
        store.updateUser(tenant.id, o.id, { name: 'x' }, 1, o.generation),
        PreconditionFailedError,
      );
      // Unconditional writes are not preconditions: they go through (RFC 9110 §13.1.1).
      const done = await store.updateUser(tenant.id, u.id, { name: 'y' });
      assert.equal(done.version, 2);
    } finally {
      await store.close();
    }
  });

  it('a generation changed under the store is noticed by the periodic check and logged once', async () => {
    const prefix = `test-${randomUUID()}:`;
    const { logger, lines } = captureLogger();
    const store = await openRedisStore(r.redis().url, { prefix, logger, generationCheckMs: 50 });
    try {
      const { tenant, owner: o } = await store.createTenant('Acme', owner);
      const old = o.generation ?? '';
      await r.raw().del(generationKey(prefix));
      let now = old;
      await waitFor(
        async () => {
          now = (await store.getUser(tenant.id, o.id))?.generation ?? old;
          return now !== old;
        },
        10_000,
        'the store to notice the new generation',
      );
      assert.equal(now, await r.raw().get(generationKey(prefix)));
      const logged = lines()
        .split('\n')
        .filter((l) => l.includes('store_generation_changed'))
        .map((l) => JSON.parse(l) as { level: number; old: string; new: string });
      assert.equal(logged.length, 1, lines());
      assert.deepEqual([logged[0]?.level, logged[0]?.old, logged[0]?.new], [50, old, now]);
    } finally {
      await store.close();
    }
  });
});
