/**
 * EVENT_CONSISTENCY=bounded against a real redis-server: the request path sends no Redis
 * command; an event acknowledged more than the bound before a request is applied before that
 * request goes on; a reader whose connection stalls makes requests wait, then decide on facts
 * read now (revocations re-read over the command connection), and is not ready meanwhile.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createClient } from 'redis';
import { pino } from 'pino';
import {
  createRedisCluster,
  type RedisCluster,
  type RedisClusterOptions,
} from '../../../../src/sidecar/cluster/redis-cluster.js';
import { revokeInRedis } from '../../../../src/sidecar/cluster/revocations.js';
import { addUserEvent, credential, recorder, T, verdict } from '../../../helpers/cluster.js';
import { waitFor } from '../../../helpers/net.js';
import {
  skipWithoutRedis,
  startRedis,
  startRedisCutter,
  withOwnRedis,
  withRedisClient,
  type RedisCutter,
  type RunningRedis,
} from '../../../helpers/redis.js';

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const BOUND_MS = 100;
const EVENTS = 'cedargate-sidecar-events';

/** `INFO commandstats` as command → calls. */
async function commandCalls(raw: ReturnType<typeof createClient>): Promise<Map<string, number>> {
  const text = await raw.info('commandstats');
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    out.set(m[1] as string, Number(m[2]));
  }
  return out;
}

describe('redis cluster channel, EVENT_CONSISTENCY=bounded', { skip: skipWithoutRedis() }, () => {
  let redis: RunningRedis;
  let cutter: RedisCutter;
  let raw: ReturnType<typeof createClient>;
  const open: RedisCluster[] = [];
  before(async () => {
    redis = await startRedis();
    cutter = await startRedisCutter(redis.port);
    raw = createClient({ url: redis.url });
    await raw.connect();
  });
  after(async () => {
    await Promise.all(open.map((c) => c.close()));
    await raw?.close();
    await cutter?.close();
    await redis?.stop();
  });

  async function startBounded(
    extra: Partial<RedisClusterOptions> & { prefix: string },
    handlers = recorder().handlers,
  ): Promise<RedisCluster> {
    const cluster = createRedisCluster({
      url: redis.url,
      logger,
      failOpen: false,
      consistency: 'bounded',
      maxStalenessMs: BOUND_MS,
      ...extra,
    });
    open.push(cluster);
    await cluster.start(handlers);
    return cluster;
  }

  it('an event acknowledged more than the bound before catchUp is applied when it resolves', async () => {
    const prefix = `t-${randomUUID()}:`;
    const rec = recorder();
    const cluster = await startBounded({ prefix }, rec.handlers);
    for (let round = 0; round < 5; round++) {
      const u = randomUUID();
      await addUserEvent(redis.url, prefix, T, u);
      // The acknowledgement is behind us; the request arrives later than the bound after it.
      await new Promise((r) => setTimeout(r, BOUND_MS + 20));
      await cluster.catchUp();
      assert.ok(rec.events.changed.includes(`${T}/${u.toUpperCase()}`), `round ${round}`);
    }
    assert.equal(cluster.status().consistency, 'bounded');
    assert.equal(cluster.status().max_staleness_ms, BOUND_MS);
  });

  it('sends no Redis command of its own on the request path', async () => {
    // A Redis of its own: the other tests' channels would count too.
    await withOwnRedis((own) =>
      withRedisClient(own.port, async (client) => {
        try {
          const cluster = await startBounded({ prefix: `t-${randomUUID()}:`, url: own.url });
          await cluster.catchUp();
          const before = await commandCalls(client);
          const started = Date.now();
          const REQUESTS = 2_000;
          for (let i = 0; i < REQUESTS; i++) {
            await cluster.catchUp();
            // Requests come in through I/O: the reader gets its turns between them.
            await new Promise((r) => setImmediate(r));
          }
          const seconds = (Date.now() - started) / 1000;
          const after = await commandCalls(client);
          const delta = (c: string) => (after.get(c) ?? 0) - (before.get(c) ?? 0);
          // Only the once-a-second store check (XREVRANGE + SET) runs meanwhile, not one per request.
          const sent = delta('xrevrange') + delta('set');
          assert.ok(
            sent <= 2 * (Math.ceil(seconds) + 1),
            `${sent} for ${REQUESTS} in ${seconds} s`,
          );
          assert.ok(sent / REQUESTS < 0.05, `${sent / REQUESTS} per request`);
        } finally {
          // Closed before its own Redis stops, not with the suite's.
          await Promise.all(open.splice(0).map((c) => c.close()));
        }
      }),
    );
  });

  it('a stalled reader: requests wait, then decide on revocations re-read; not ready meanwhile', async () => {
    const prefix = `t-${randomUUID()}:`;
    const rec = recorder();
    const cluster = await startBounded({ prefix, url: cutter.url, maxLagMs: 300 }, rec.handlers);
    await waitFor(() => cluster.health().ok, 10_000, 'ready');
    const victim = credential();
    assert.equal(verdict(cluster, victim), 'ok');
    cutter.stall(EVENTS);
    try {
      await revokeInRedis(
        redis.url,
        { kind: 'jti', jti: victim.jti ?? '', expiresAt: 4e9 },
        {
          prefix,
        },
      );
      await new Promise((r) => setTimeout(r, BOUND_MS + 20));
      const degradedBefore = rec.events.degraded;
      await cluster.catchUp();
      assert.equal(verdict(cluster, victim), 'unauthenticated', 're-read from Redis');
      assert.ok(rec.events.degraded > degradedBefore, 'the user cache was emptied');
      assert.equal(cluster.health().ok, false);
      assert.match(cluster.health().detail, /behind the bound|change stream is \d+ ms behind/);
    } finally {
      cutter.resume(EVENTS);
    }
    await waitFor(() => cluster.health().ok, 10_000, 'ready again');
  });

  it('a reader connection killed: fails closed while it is gone, then follows again', async () => {
    const prefix = `t-${randomUUID()}:`;
    const cluster = await startBounded({ prefix, url: cutter.url });
    await waitFor(() => cluster.health().ok, 10_000, 'ready');
    const victim = credential();
    for (const addr of cutter.addressesOf(EVENTS)) {
      await raw.sendCommand(['CLIENT', 'KILL', 'ADDR', addr]);
    }
    await revokeInRedis(
      redis.url,
      { kind: 'jti', jti: victim.jti ?? '', expiresAt: 4e9 },
      {
        prefix,
      },
    );
    await new Promise((r) => setTimeout(r, BOUND_MS + 20));
    await cluster.catchUp();
    // Down: 503; back: the revocation replayed. Never "ok".
    assert.notEqual(verdict(cluster, victim), 'ok');
    await waitFor(() => cluster.health().ok, 10_000, 'following again');
    await cluster.catchUp();
    assert.equal(verdict(cluster, victim), 'unauthenticated');
  });
});
