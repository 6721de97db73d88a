/**
 * The stores as they are operated, through a real `start` on a real redis-server: a Redis
 * whose maxmemory-policy may evict keys is refused (503 unavailable, /readyz false, one log line
 * naming the setting and the fix).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { assertError } from '../helpers/contract.js';
import { waitFor } from '../helpers/net.js';
import { skipWithoutRedis, startRedis } from '../helpers/redis.js';
import { startStack } from '../helpers/stack.js';

describe('start on an operated Redis', { skip: skipWithoutRedis() }, () => {
  it('an evicting maxmemory-policy: 503 unavailable, /readyz false, the fix in the log', async () => {
    const redis = await startRedis({
      args: ['--maxmemory', '100mb', '--maxmemory-policy', 'allkeys-lru'],
    });
    const stack = await startStack({ env: { REDIS_URL: redis.url } });
    try {
      await waitFor(
        async () => (await fetch(`${stack.adminUrl}/readyz`)).status === 503,
        20_000,
        '/readyz 503',
      );
      const tenant = randomUUID().toUpperCase();
      const token = await stack.token(tenant, randomUUID().toUpperCase());
      // The backend says 503 unavailable; the sidecar, as for any backend outage, 502.
      const backend = await fetch(`${stack.recorder.url}/healthz`);
      const text = await backend.text();
      assertError(
        { status: backend.status, body: JSON.parse(text) as unknown, text },
        503,
        'unavailable',
      );
      const r = await stack.call('GET', '/v1/users', { token, tenant });
      assertError(r, 502, 'upstream_unavailable');
      const named = stack.process
        .output()
        .split('\n')
        .filter((l) => l.includes('"setting":"maxmemory-policy"'));
      assert.equal(named.length, 1, stack.process.output());
      assert.match(named[0] ?? '', /CONFIG SET maxmemory-policy noeviction/);
    } finally {
      await stack.stop();
      await redis.stop();
    }
  });
});
