/**
 * Redis holds every command (`CLIENT PAUSE … ALL`, as a dead master that Sentinel has not
 * replaced yet holds them): the connections stay open, nothing is answered, nothing fails. A
 * request through the sidecar must still be answered within a bound the settings give —
 * EVENT_MAX_LAG_MS for the catch-up (the probe, or the reader in `bounded`), as much again for
 * the revocations' re-read — with 503 `unavailable` and Retry-After, since nothing fresh can be
 * read; nothing is forwarded; `/readyz` answers 503 within the bound too; and once Redis answers
 * again the sidecar serves by itself. Before the fix the request waited for the pause to end
 * (found by helper J: 17 minutes behind a held failover). Then J's case itself, through Sentinel.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { EventConsistency } from '../../src/config.js';
import { waitFor } from '../helpers/net.js';
import {
  skipWithoutRedis,
  skipWithoutSentinel,
  startRedis,
  withRedisClient,
} from '../helpers/redis.js';
import { startSentinelStack, type SentinelStack } from '../helpers/sentinel-stack.js';
import { startHop } from '../helpers/hop.js';
import { startSplitStack } from '../helpers/split-stack.js';

const MAX_LAG_MS = 500;
/** The catch-up and the re-read, one EVENT_MAX_LAG_MS each, plus a loaded machine's slack. */
const ANSWER_BOUND_MS = 2 * MAX_LAG_MS + 4_000;
/** Longer than the bound by far: an answer that waited for the pause to end is told apart. */
const PAUSE_MS = 15_000;

interface Timed {
  status: number;
  retryAfter: string | null;
  body: { code?: string; message?: string };
  ms: number;
}

/** One request, given up (the test fails) well after the pause would have ended by itself. */
async function timed(url: string, headers: Record<string, string> = {}): Promise<Timed> {
  const started = performance.now();
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(60_000) });
  const text = await res.text();
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    body: JSON.parse(text) as Timed['body'],
    ms: performance.now() - started,
  };
}

describe('Redis holding every command (CLIENT PAUSE ALL)', { skip: skipWithoutRedis() }, () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  for (const consistency of ['next-request', 'bounded'] satisfies EventConsistency[]) {
    it(
      `${consistency}: a request is 503 unavailable within 2 × EVENT_MAX_LAG_MS, nothing forwarded; /readyz 503 as fast; serves again after`,
      {
        timeout: 120_000,
      },
      async () => {
        const redis = await startRedis();
        cleanups.push(() => redis.stop());
        const hop = await startHop();
        cleanups.push(() => hop.close());
        const st = await startSplitStack({
          sidecarEnv: {
            REDIS_URL: redis.url,
            EVENT_MAX_LAG_MS: String(MAX_LAG_MS),
            EVENT_CONSISTENCY: consistency,
          },
          upstream: (backendUrl) => {
            hop.target = backendUrl;
            return hop.url;
          },
        });
        cleanups.push(() => st.stop());
        const get = await ownerReadingThemself(st);
        await waitFor(async () => (await get()).status === 200, 20_000, 'served before the pause');

        await withRedisClient(redis.port, (c) =>
          c.sendCommand(['CLIENT', 'PAUSE', String(PAUSE_MS), 'ALL']),
        );
        // Past EVENT_MAX_STALENESS_MS (100): in `bounded` the reader's last answer is too old now.
        await delay(400);
        const seen = hop.seen();
        const held = await get();
        assert.equal(held.status, 503, JSON.stringify(held));
        assert.equal(held.body.code, 'unavailable', JSON.stringify(held));
        assert.match(held.body.message ?? '', /revocation list is unavailable/);
        assert.equal(held.retryAfter, '1');
        assert.ok(held.ms < ANSWER_BOUND_MS, `answered after ${Math.round(held.ms)} ms`);
        assert.equal(hop.seen(), seen, 'forwarded while Redis answered nothing');
        const ready = await timed(`${st.adminUrl}/readyz`);
        assert.equal(ready.status, 503, JSON.stringify(ready));
        // Not ready for the reason the request was refused (before: 200 "ok" for up to 2 s).
        const why =
          consistency === 'bounded' ? /"redis":"[^"]*behind/ : /"redis_commands":"no answer/;
        assert.match(JSON.stringify(ready.body), why);
        assert.ok(ready.ms < ANSWER_BOUND_MS, `/readyz answered after ${Math.round(ready.ms)} ms`);
        process.stdout.write(
          `# ${consistency}: request ${Math.round(held.ms)} ms, /readyz ${Math.round(ready.ms)} ms (EVENT_MAX_LAG_MS ${MAX_LAG_MS})\n`,
        );

        // The pause ends by itself (CLIENT UNPAUSE would be held too): serving again, no restart.
        await waitFor(async () => (await get()).status === 200, PAUSE_MS + 20_000, 'served again');
        assert.equal(st.sidecar.child.exitCode, null);
      },
    );
  }
});

// Helper J's finding as it was found: `start` through Sentinel, the master SIGKILLed and its
// replacement held back (`replica-priority 0`). node-redis holds every command meanwhile.
describe(
  'Redis Sentinel: a dead master whose replacement is held',
  { skip: skipWithoutSentinel() },
  () => {
    let own: SentinelStack | undefined;
    after(async () => {
      await own?.stop();
    });

    it(
      'a request is 503 unavailable within 2 × EVENT_MAX_LAG_MS (default 2000) and a margin, not after the promotion',
      {
        timeout: 240_000,
      },
      async () => {
        own = await startSentinelStack('cedargate-held-master');
        const { stack, primary, replica, sentinels } = own;
        const get = await ownerReadingThemself(stack);
        await waitFor(async () => (await get()).status === 200, 20_000, 'served before the kill');
        await withRedisClient(replica.port, (c) => c.configSet('replica-priority', '0'));
        await primary.kill();
        const held = await get();
        assert.equal(held.status, 503, JSON.stringify(held));
        assert.equal(held.body.code, 'unavailable', JSON.stringify(held));
        // 2 × 2000 ms for the channel; a margin for a loaded machine (STORE_TIMEOUT_MS is 4000).
        assert.ok(held.ms < 10_000, `answered after ${Math.round(held.ms)} ms`);
        process.stdout.write(`# sentinel, master dead: request ${Math.round(held.ms)} ms\n`);
        await withRedisClient(replica.port, (c) => c.configSet('replica-priority', '100'));
        await waitFor(
          async () => (await sentinels.masterPort()) === replica.port,
          90_000,
          'promotion',
        );
        await waitFor(
          async () => (await get()).status === 200,
          60_000,
          'served after the promotion',
        );
      },
    );
  },
);

/** A new tenant's owner reading themself through `stack`, timed: one call per request. */
async function ownerReadingThemself(stack: {
  url: string;
  createTenant(name: string): Promise<{ tenantId: string; owner: { id: string } }>;
  token(tenantId: string, userId: string): Promise<string>;
}): Promise<() => ReturnType<typeof timed>> {
  const t = await stack.createTenant('held');
  const headers = {
    authorization: `Bearer ${await stack.token(t.tenantId, t.owner.id)}`,
    'x-tenant-id': t.tenantId,
  };
  return () => timed(`${stack.url}/v1/users/${t.owner.id}`, headers);
}
