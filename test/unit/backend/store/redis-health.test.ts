/**
 * The Redis store as it is operated: it serves only while Redis cannot evict its keys
 * (`maxmemory-policy noeviction`), checked at start, on every reconnect and by /readyz's ping,
 * and a Redis out of memory is a 503, not a 500. Real redis-server for each case.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { openRedisStore } from '../../../../src/backend/store/redis.js';
import { evictionPolicyOf } from '../../../../src/backend/store/redis-health.js';
import { UnavailableError } from '../../../../src/errors.js';
import { waitFor } from '../../../helpers/net.js';
import { skipWithoutRedis, withOwnRedis, withRedisClient } from '../../../helpers/redis.js';
import { captureLogger } from '../../../helpers/tokens.js';

const owner = { name: 'Owner', email: 'owner@acme.example', roles: ['admin'] };

function isUnavailable(err: unknown): boolean {
  return err instanceof UnavailableError && err.code === 'unavailable' && err.status === 503;
}

/** Refused for the policy, not merely offline while reconnecting. */
function isRefusedForEviction(err: unknown): boolean {
  return isUnavailable(err) && err instanceof Error && /maxmemory-policy/.test(err.message);
}

describe('redis store health', { skip: skipWithoutRedis() }, () => {
  it('reads maxmemory_policy from INFO memory', () => {
    assert.equal(
      evictionPolicyOf('# Memory\r\nused_memory:1\r\nmaxmemory_policy:allkeys-lru\r\n'),
      'allkeys-lru',
    );
    assert.equal(evictionPolicyOf('# Memory\r\nused_memory:1\r\n'), undefined);
  });

  it('refuses to serve under an evicting maxmemory-policy, with one log line naming the fix', async () => {
    const args = ['--maxmemory', '100mb', '--maxmemory-policy', 'allkeys-lru'];
    await withOwnRedis(
      async (redis) => {
        const { logger, lines } = captureLogger();
        const store = await openRedisStore(redis.url, { prefix: `test-${randomUUID()}:`, logger });
        try {
          await assert.rejects(store.ping(), isRefusedForEviction);
          await assert.rejects(store.createTenant('Acme', owner), isRefusedForEviction);
          await assert.rejects(store.getTenant(randomUUID()), isRefusedForEviction);
          const named = lines()
            .split('\n')
            .filter((l) => l.includes('CONFIG SET maxmemory-policy noeviction'));
          assert.equal(named.length, 1, lines());
          assert.match(named[0] ?? '', /maxmemory-policy/);
          assert.match(named[0] ?? '', /allkeys-lru/);
        } finally {
          await store.close();
        }
      },
      { args },
    );
  });

  it('checks again on reconnect, and serves again once the policy is noeviction', async () => {
    await withOwnRedis(async (redis) => {
      const { logger } = captureLogger();
      const store = await openRedisStore(redis.url, { prefix: `test-${randomUUID()}:`, logger });
      try {
        await withRedisClient(redis.port, async (raw) => {
          const { tenant } = await store.createTenant('Acme', owner);
          await raw.configSet('maxmemory-policy', 'volatile-lru');
          await raw.sendCommand(['CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes']);
          await waitFor(
            async () => store.getTenant(tenant.id).then(() => false, isRefusedForEviction),
            20_000,
            'the store refusing after reconnecting to an evicting Redis',
          );
          await raw.configSet('maxmemory-policy', 'noeviction');
          await waitFor(
            async () =>
              store.ping().then(
                () => true,
                () => false,
              ),
            20_000,
            'the store serving again after CONFIG SET maxmemory-policy noeviction',
          );
          assert.equal((await store.getTenant(tenant.id))?.id, tenant.id);
        });
      } finally {
        await store.close();
      }
    });
  });

  it('without CONFIG (managed Redis) still reads the policy from INFO and refuses', async () => {
    const args = ['--rename-command', 'CONFIG', '', '--maxmemory-policy', 'volatile-lru'];
    await withOwnRedis(
      async (redis) => {
        const { logger } = captureLogger();
        const store = await openRedisStore(redis.url, { prefix: `test-${randomUUID()}:`, logger });
        try {
          await assert.rejects(store.ping(), isRefusedForEviction);
        } finally {
          await store.close();
        }
      },
      { args },
    );
  });

  it('when neither CONFIG nor INFO may be run, warns once and serves', async () => {
    const args = ['--rename-command', 'CONFIG', '', '--rename-command', 'INFO', ''];
    await withOwnRedis(
      async (redis) => {
        const { logger, lines } = captureLogger();
        const store = await openRedisStore(redis.url, { prefix: `test-${randomUUID()}:`, logger });
        try {
          await store.ping();
          const { tenant } = await store.createTenant('Acme', owner);
          assert.equal((await store.getTenant(tenant.id))?.id, tenant.id);
          assert.match(lines(), /cannot read maxmemory-policy/);
        } finally {
          await store.close();
        }
      },
      { args },
    );
  });

  it('a Redis out of memory (-OOM under noeviction) answers 503 unavailable, not 500', async () => {
    await withOwnRedis(async (redis) => {
      const store = await openRedisStore(redis.url, { prefix: `test-${randomUUID()}:` });
      try {
        await withRedisClient(redis.port, async (raw) => {
          const { tenant } = await store.createTenant('Acme', owner);
          await raw.configSet('maxmemory', '1');
          await assert.rejects(
            store.createUser(tenant.id, { name: 'B', email: 'b@acme.example', roles: ['user'] }),
            isUnavailable,
          );
          await raw.configSet('maxmemory', '0');
          await store.createUser(tenant.id, {
            name: 'B',
            email: 'b@acme.example',
            roles: ['user'],
          });
        });
      } finally {
        await store.close();
      }
    });
  });
});
