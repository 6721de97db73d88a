/**
 * The sidecar's Redis cluster channel against a real redis-server: change events on the stream
 * reach every replica, revocations are refused everywhere (from the stream, from the load at
 * start), a reader cut off resumes from its last id, a stream trimmed past it drops the caches,
 * and a Redis outage fails closed (or open, when configured) and recovers by itself.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { createClient } from 'redis';
import { pino } from 'pino';
import { UnavailableError } from '../../../../src/errors.js';
import { clusterKeys } from '../../../../src/sidecar/cluster/keys.js';
import {
  createRedisCluster,
  type RedisCluster,
} from '../../../../src/sidecar/cluster/redis-cluster.js';
import { revokeInRedis } from '../../../../src/sidecar/cluster/revocations.js';
import { addUserEvent, credential, recorder, T, verdict } from '../../../helpers/cluster.js';
import { waitFor } from '../../../helpers/net.js';
import {
  skipWithoutRedis,
  startRedis,
  withOwnRedis,
  withRedisClient,
  type RunningRedis,
} from '../../../helpers/redis.js';

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
describe('redis cluster channel', { skip: skipWithoutRedis() }, () => {
  let redis: RunningRedis;
  const open: RedisCluster[] = [];
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await Promise.all(open.map((c) => c.close()));
    await redis?.stop();
  });

  async function startCluster(
    extra: {
      failOpen?: boolean;
      url?: string;
      prefix: string;
      startTimeoutMs?: number;
      maxLagMs?: number;
    },
    handlers = recorder().handlers,
  ): Promise<RedisCluster> {
    const cluster = createRedisCluster({
      url: extra.url ?? redis.url,
      logger,
      failOpen: extra.failOpen ?? false,
      prefix: extra.prefix,
      ...(extra.startTimeoutMs === undefined ? {} : { startTimeoutMs: extra.startTimeoutMs }),
      ...(extra.maxLagMs === undefined ? {} : { maxLagMs: extra.maxLagMs }),
    });
    open.push(cluster);
    await cluster.start(handlers);
    return cluster;
  }

  it('a user event on the stream reaches every replica; catchUp waits until it is applied', async () => {
    const prefix = `t-${randomUUID()}:`;
    const a = recorder();
    const b = recorder();
    const ca = await startCluster({ prefix }, a.handlers);
    const cb = await startCluster({ prefix }, b.handlers);
    const u = randomUUID();
    const id = await addUserEvent(redis.url, prefix, T.toLowerCase(), u);
    const expected = `${T}/${u.toUpperCase()}`;
    // No polling: once catchUp resolves, the event written before it is applied.
    await cb.catchUp();
    assert.deepEqual(b.events.changed, [expected]);
    await ca.catchUp();
    assert.deepEqual(a.events.changed, [expected]);
    assert.equal(cb.status().applied_id, id);
    assert.equal(cb.status().reader, 'following');
    // Another prefix (another deployment on the same Redis) hears nothing of it.
    const other = recorder();
    const co = await startCluster({ prefix: `t-${randomUUID()}:` }, other.handlers);
    await addUserEvent(redis.url, prefix, T, u);
    await cb.catchUp();
    await co.catchUp();
    assert.equal(b.events.changed.length, 2);
    assert.deepEqual(other.events.changed, []);
  });

  it('a revoked jti or subject is refused by every replica; other tokens pass', async () => {
    const prefix = `t-${randomUUID()}:`;
    const ca = await startCluster({ prefix });
    const cb = await startCluster({ prefix });
    const byJti = credential();
    const bySub = credential();
    const bystander = credential();
    for (const c of [ca, cb]) {
      assert.equal(verdict(c, byJti), 'ok');
      assert.equal(verdict(c, bySub), 'ok');
    }
    await revokeInRedis(
      redis.url,
      { kind: 'jti', jti: byJti.jti ?? '', expiresAt: byJti.expiresAt },
      { prefix },
    );
    await revokeInRedis(
      redis.url,
      { kind: 'subject', subject: bySub.subject, cutoff: bySub.issuedAt ?? 0 },
      { prefix },
    );
    for (const c of [ca, cb]) {
      await waitFor(() => verdict(c, byJti) === 'unauthenticated', 5_000, 'jti revocation');
      await waitFor(() => verdict(c, bySub) === 'unauthenticated', 5_000, 'sub revocation');
      assert.equal(verdict(c, bystander), 'ok');
      // A new token of the revoked subject, issued after the cut-off, is fine.
      assert.equal(
        verdict(c, { ...bySub, jti: randomUUID(), issuedAt: (bySub.issuedAt ?? 0) + 1 }),
        'ok',
      );
    }
  });

  it('loads every revocation at start: a replica started later refuses at once', async () => {
    const prefix = `t-${randomUUID()}:`;
    const cred = credential();
    await revokeInRedis(
      redis.url,
      { kind: 'jti', jti: cred.jti ?? '', expiresAt: cred.expiresAt },
      { prefix },
    );
    const late = await startCluster({ prefix });
    assert.equal(verdict(late, cred), 'unauthenticated');
    assert.equal(late.health().ok, true);
    assert.match(late.health().detail, /1 revoked tokens/);
    // The record expires with the token.
    await withRedisClient(redis.port, async (raw) => {
      const ttl = await raw.ttl(clusterKeys(prefix).revokedJti(cred.jti ?? ''));
      assert.ok(ttl > 3500 && ttl <= 3600, `ttl ${ttl}`);
    });
  });

  it('after its reader is cut, resumes from the last applied id: nothing written meanwhile is missed', async () => {
    const prefix = `t-${randomUUID()}:`;
    const rec = recorder();
    const cluster = await startCluster({ prefix }, rec.handlers);
    const cred = credential();
    const u = randomUUID().toUpperCase();
    await withRedisClient(redis.port, async (raw) => {
      // Atomically: drop the reader, then append a user event and a revocation event with no
      // record behind it — only a replay of the stream from the last id can deliver both.
      await raw
        .multi()
        .addCommand(['CLIENT', 'KILL', 'ID', String(await readerId(raw))])
        .xAdd(clusterKeys(prefix).events, '*', { kind: 'user', tenant: T, user: u, version: '3' })
        .xAdd(clusterKeys(prefix).events, '*', {
          kind: 'revoke',
          revocation: JSON.stringify({ kind: 'jti', jti: cred.jti, expiresAt: cred.expiresAt }),
        })
        .exec();
      await waitFor(() => rec.events.changed.includes(`${T}/${u}`), 10_000, 'the replayed event');
      assert.equal(verdict(cluster, cred), 'unauthenticated');
      assert.equal(rec.events.lost, 0, 'nothing was lost, so no cache was dropped');
      await waitFor(() => cluster.health().ok, 10_000, 'recovery');
    });
  });

  it('a stream trimmed past its last id: drops the caches once, reloads revocations, says so', async () => {
    const prefix = `t-${randomUUID()}:`;
    const rec = recorder();
    const cluster = await startCluster({ prefix }, rec.handlers);
    const cred = credential();
    const keys = clusterKeys(prefix);
    await withRedisClient(redis.port, async (raw) => {
      await raw
        .multi()
        .addCommand(['CLIENT', 'KILL', 'ID', String(await readerId(raw))])
        .xAdd(keys.events, '*', { kind: 'user', tenant: T, user: randomUUID(), version: '2' })
        .set(keys.revokedJti(cred.jti ?? ''), String(cred.expiresAt))
        .xTrim(keys.events, 'MAXLEN', 0)
        .exec();
      await waitFor(() => rec.events.lost === 1, 10_000, 'the caches to be dropped');
      assert.deepEqual(rec.events.changed, [], 'the trimmed event cannot be replayed');
      assert.equal(verdict(cluster, cred), 'unauthenticated', 'the reload found the revocation');
      const s = cluster.status();
      assert.equal(s.caches_dropped_for_lost_events, 1);
      assert.match(s.last_loss?.reason ?? '', /trimmed/);
    });
  });

  it('its command connection cut: not ready, degraded, says which; the reader keeps following', async () => {
    const prefix = `t-${randomUUID()}:`;
    const rec = recorder();
    const cluster = await startCluster({ prefix }, rec.handlers);
    await withRedisClient(redis.port, async (raw) => {
      await raw.sendCommand(['CLIENT', 'KILL', 'ID', String(await commandsId(raw))]);
      await waitFor(() => rec.events.degraded === 1, 10_000, 'degraded');
      assert.equal(cluster.status().reader, 'following');
      await waitFor(() => cluster.health().ok, 10_000, 'recovery');
      assert.equal(rec.events.recovered, 1);
      assert.equal(cluster.health().checks['redis_commands'], 'ok');
    });
  });

  it('writes held (a dead master not yet replaced): not ready, redis_writes says so; ready once answered', async () => {
    const prefix = `t-${randomUUID()}:`;
    const cluster = await startCluster({ prefix });
    await withRedisClient(redis.port, async (raw) => {
      try {
        await waitFor(() => cluster.health().ok, 10_000, 'ready');
        // Write commands wait (as on a master that is gone): the probe's SET NX gets no answer.
        await raw.sendCommand(['CLIENT', 'PAUSE', '20000', 'WRITE']);
        await waitFor(() => !cluster.health().ok, 10_000, 'not ready while writes hang');
        assert.match(cluster.health().checks['redis_writes'] ?? '', /^no answer for/);
        assert.match(cluster.health().detail, /the store cannot write/);
        await raw.sendCommand(['CLIENT', 'UNPAUSE']);
        await waitFor(() => cluster.health().ok, 10_000, 'ready again');
        assert.equal(cluster.health().checks['redis_writes'], 'ok');
      } finally {
        await raw.sendCommand(['CLIENT', 'UNPAUSE']).catch(() => undefined);
      }
    });
  });

  it('Redis holding every command: catchUp refuses within 2 × EVENT_MAX_LAG_MS in both modes; what it gave up on settles handled', async () => {
    await withOwnRedis(async (own) => {
      const maxLagMs = 300;
      const clusters = await Promise.all(
        (['next-request', 'bounded'] as const).map(async (consistency) => {
          const c = createRedisCluster({
            url: own.url,
            logger,
            failOpen: false,
            prefix: `t-${randomUUID()}:`,
            maxLagMs,
            consistency,
          });
          open.push(c);
          await c.start(recorder().handlers);
          return c;
        }),
      );
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      try {
        await withRedisClient(own.port, (c) => c.sendCommand(['CLIENT', 'PAUSE', '10000', 'ALL']));
        // Past `bounded`'s EVENT_MAX_STALENESS_MS (100): its reader's last answer is too old.
        await delay(400);
        for (const c of clusters) {
          const started = performance.now();
          const err = await c.catchUp().then(
            () => undefined,
            (e: unknown) => e,
          );
          const ms = performance.now() - started;
          assert.ok(err instanceof UnavailableError, `${c.status().consistency}: ${String(err)}`);
          assert.equal(err.retryAfterSeconds, 1);
          assert.match(err.message, /revocation list is unavailable/);
          // It waited the catch-up out, then the re-read: about 2 × 300 ms, never 10 s.
          assert.ok(ms >= maxLagMs && ms < 2 * maxLagMs + 3_000, `${Math.round(ms)} ms`);
          assert.equal(c.health().ok, false);
        }
        // The probe it gave up on is still unanswered: /readyz says so, not `ok`.
        assert.match(clusters[0]?.health().checks['redis_commands'] ?? '', /^no answer for/);
        assert.match(clusters[0]?.health().detail ?? '', /has not answered for/);
        // Closed while the probes and loads it gave up on are still held: they are rejected now.
        for (const c of clusters) await c.close();
        await delay(50);
        assert.deepEqual(unhandled, []);
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
    });
  });

  it('Redis down: fails closed (503), shortens caches, keeps what it knew, recovers by itself', async () => {
    await withOwnRedis(async (own) => {
      const prefix = `t-${randomUUID()}:`;
      const rec = recorder();
      const cluster = await startCluster({ prefix, url: own.url }, rec.handlers);
      const revoked = credential();
      const fine = credential();
      await revokeInRedis(
        own.url,
        { kind: 'jti', jti: revoked.jti ?? '', expiresAt: revoked.expiresAt },
        { prefix },
      );
      await waitFor(() => verdict(cluster, revoked) === 'unauthenticated', 5_000, 'revocation');

      await own.kill();
      await waitFor(() => verdict(cluster, fine) === 'unavailable', 5_000, 'fail closed');
      assert.equal(rec.events.degraded, 1);
      assert.equal(cluster.health().ok, false);
      assert.match(cluster.health().detail, /failing closed/);
      // A revocation already mirrored is still a 401, not a 503.
      assert.equal(verdict(cluster, revoked), 'unauthenticated');
      // catchUp while down neither throws nor waits.
      await cluster.catchUp();
      assert.match(cluster.health().checks['redis_events'] ?? '', /unreadable/);

      await own.restart();
      await waitFor(() => cluster.health().ok, 15_000, 'recovery');
      assert.equal(rec.events.recovered, 1);
      assert.equal(verdict(cluster, fine), 'ok');
    });
  });

  it('REVOCATION_FAIL_OPEN: while Redis is down, accepts tokens it has no revocation for', async () => {
    await withOwnRedis(async (own) => {
      const prefix = `t-${randomUUID()}:`;
      const cluster = await startCluster({ prefix, url: own.url, failOpen: true });
      const revoked = credential();
      await revokeInRedis(
        own.url,
        { kind: 'subject', subject: revoked.subject, cutoff: revoked.issuedAt ?? 0 },
        { prefix },
      );
      await waitFor(() => verdict(cluster, revoked) === 'unauthenticated', 5_000, 'revocation');
      await own.kill();
      await waitFor(() => /REVOCATION_FAIL_OPEN/.test(cluster.health().detail), 5_000, 'degraded');
      assert.equal(verdict(cluster, credential()), 'ok');
      assert.equal(verdict(cluster, revoked), 'unauthenticated');
      assert.equal(cluster.health().ok, true);
    });
  });

  it('starts without Redis (degraded, 503) and syncs when Redis appears', async () => {
    await withOwnRedis(async (own) => {
      await own.kill();
      const rec = recorder();
      const cluster = await startCluster(
        { prefix: `t-${randomUUID()}:`, url: own.url, startTimeoutMs: 200 },
        rec.handlers,
      );
      assert.equal(rec.events.degraded, 1);
      assert.equal(verdict(cluster, credential()), 'unavailable');
      await own.restart();
      await waitFor(() => cluster.health().ok, 15_000, 'first sync');
      assert.equal(rec.events.recovered, 1);
      assert.equal(verdict(cluster, credential()), 'ok');
      await cluster.close();
      assert.equal(cluster.health().detail, 'closed');
      await cluster.close(); // idempotent
    });
  });

  it('ignores malformed entries on the stream', async () => {
    const prefix = `t-${randomUUID()}:`;
    const rec = recorder();
    const cluster = await startCluster({ prefix }, rec.handlers);
    const keys = clusterKeys(prefix);
    await withRedisClient(redis.port, async (raw) => {
      const bad = { kind: 'user', tenant: '../../etc', user: randomUUID(), version: '1' };
      await raw.xAdd(keys.events, '*', bad);
      await raw.xAdd(keys.events, '*', { kind: 'revoke', revocation: '{"kind":"jti"}' });
      await raw.xAdd(keys.events, '*', { kind: 'other' });
      const u = randomUUID().toUpperCase();
      await addUserEvent(redis.url, prefix, T, u);
      await cluster.catchUp();
      assert.deepEqual(rec.events.changed, [`${T}/${u}`]);
      assert.deepEqual(cluster.mirror.size(), { jtis: 0, subjects: 0 });
    });
  });
});

/** The reader of the channel started last (the newest connection of that name). */
async function readerId(raw: ReturnType<typeof createClient>): Promise<number> {
  return lastIdByName(raw, 'cedargate-sidecar-events');
}
/** The command connection of the channel started last. */
async function commandsId(raw: ReturnType<typeof createClient>): Promise<number> {
  return lastIdByName(raw, 'cedargate-sidecar');
}
async function lastIdByName(raw: ReturnType<typeof createClient>, name: string): Promise<number> {
  const ids = (await raw.clientList()).filter((c) => c.name === name).map((c) => Number(c.id));
  if (ids.length === 0) throw new Error(`no connection named ${name}`);
  return Math.max(...ids);
}
