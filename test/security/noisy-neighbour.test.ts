/**
 * One tenant must not starve the others of CPU (docs/security.md, case 42; issue 22, items 3
 * and 4). On the real `start` process, over a 20-role schema: a victim tenant reads one user in
 * a loop, alone and then while a noisy tenant floods the sidecar with uncached work — distinct
 * cold tokens, permissions answers over users of distinct role sets, and plain GETs. The
 * victim's p50 under each flood is compared with its p50 alone, measured in the same run: the
 * target is 3× (`npm run bench -- --scenarios noisy-neighbour` reports it); the machine is
 * shared, so this test allows 6× (10× under plain GETs), of the median of ROUNDS pairs. Past its own queue, the noisy tenant is answered 503
 * `unavailable` with `Retry-After`; the victim never is.
 */
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startFlood, type FloodCall } from '../helpers/flood.js';
import { freePort } from '../helpers/net.js';
import { openSqliteStore } from '../../src/backend/store/sqlite.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { openTenant } from '../helpers/tenant-stack.js';
import { writeWideRolePolicies } from '../helpers/wide-roles.js';

const ROLES = 20;
/** The bound this test allows (the bench reports the 3× target). */
const MAX_RATIO = 6;
/**
 * A flood of plain cached GETs, let in by the request gate (request-gate.ts) at its share while
 * the loop is busy: a more generous bound, since most of such a request's cost (HTTP parsing,
 * the proxy's socket work) is spent before the gate or outside the sidecar's process.
 */
const MAX_PLAIN_RATIO = 10;
/**
 * Each flood is measured in ROUNDS pairs, the victim alone and then flooded, and the ratio is the
 * median of the pairs' ratios: the machine's own load (other processes on a shared machine)
 * drifts over seconds, and a pair measured back to back sees about the same share of the CPU in
 * both halves. So the test needs no quiet machine and never skips: the load it cannot control
 * moves both halves of a pair, not their ratio.
 */
const ROUNDS = 3;
const FLOOD_LOOPS = 8;
/** Victim requests per measurement (sequential). */
const SAMPLES = 150;
/** Users of the noisy tenant, each with its own role set. */
const NOISY_USERS = 300;
/** Distinct fresh tokens for each round of the cold-token flood. */
const COLD_TOKENS = 3000;
/** The noisy tenant's queue in the 503 case (FAIR_QUEUE_MAX). */
const SMALL_QUEUE = 4;

type Call = FloodCall;

/** One GET over a keep-alive agent; resolves to its status, its Retry-After and its code. */
function send(
  port: number,
  agent: Agent,
  c: Call,
): Promise<{ status: number; retryAfter: string | undefined; code: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: c.path,
        agent,
        headers: { authorization: `Bearer ${c.token}`, 'x-tenant-id': c.tenant },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          let code: string | undefined;
          if ((res.statusCode ?? 0) >= 400) {
            try {
              code = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { code?: string }).code;
            } catch {
              code = undefined;
            }
          }
          const ra = res.headers['retry-after'];
          resolve({ status: res.statusCode ?? 0, retryAfter: ra, code });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

describe('a noisy neighbour', { concurrency: false }, () => {
  const policies = writeWideRolePolicies(ROLES);
  let stack: Stack;
  let port: number;
  const victimAgent = new Agent({ keepAlive: true, maxSockets: 1 });
  let victim: Call;
  let noisy: { tenant: string; owner: string; ownerToken: string; userIds: string[] };

  async function startWith(env: Record<string, string>): Promise<void> {
    // Straight to the backend, without the recording hop: the hop would run in this process,
    // beside the victim's client, and its load would be measured as the sidecar's.
    const backendPort = await freePort();
    stack = await startStack({
      policyDir: policies.path,
      env: {
        ...env,
        BACKEND_PORT: String(backendPort),
        UPSTREAM_URL: `http://127.0.0.1:${backendPort}`,
      },
    });
    port = Number(new URL(stack.url).port);
    const v = await openTenant(stack, 'victim');
    const n = await openTenant(stack, 'noisy');
    victim = { tenant: v.tenantId, token: v.ownerToken, path: `/v1/users/${v.owner.id}` };
    // Straight into the store `start` serves (WAL), so the process under test did not do it.
    const store = openSqliteStore(stack.dataDir);
    const userIds: string[] = [];
    try {
      const pool = policies.roles.filter((r) => r !== 'admin');
      for (let i = 0; i < NOISY_USERS; i++) {
        const roles = pool.filter((_, j) => ((i + 1) >> j) & 1);
        const u = await store.createUser(n.tenantId, {
          name: `noisy ${i}`,
          email: `noisy${i}@noisy.test`,
          roles,
        });
        userIds.push(u.id);
      }
    } finally {
      await store.close();
    }
    noisy = {
      tenant: n.tenantId,
      owner: n.owner.id,
      ownerToken: n.ownerToken,
      userIds,
    };
  }

  before(async () => {
    await startWith({ LOG_LEVEL: 'warn' });
  });
  after(async () => {
    victimAgent.destroy();
    await stack?.stop();
    policies.remove();
  });

  /** The victim's p50 (ms) over SAMPLES sequential reads; every one must be 200. */
  async function victimP50(): Promise<number> {
    const times: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const t0 = process.hrtime.bigint();
      const r = await send(port, victimAgent, victim);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      assert.equal(r.status, 200, `victim answered ${r.status} ${r.code ?? ''}`);
    }
    return median(times);
  }

  /** Runs FLOOD_LOOPS loops of `calls` (flood.ts) until `during` resolves; answers its statuses. */
  async function flooded<T>(
    calls: readonly Call[],
    during: () => Promise<T>,
  ): Promise<{ result: T; statuses: Record<string, number> }> {
    const flood = startFlood(port, FLOOD_LOOPS, calls);
    // Let the flood reach its pace before measuring.
    await new Promise((r) => setTimeout(r, 300));
    try {
      const result = await during();
      return { result, statuses: await flood.stop() };
    } finally {
      await flood.stop();
    }
  }

  async function coldTokens(count: number): Promise<string[]> {
    const tokens: string[] = [];
    for (let i = 0; i < count; i++) {
      const sub = noisy.userIds[i % noisy.userIds.length] as string;
      tokens.push(await stack.token(noisy.tenant, sub));
    }
    return tokens;
  }

  it('keeps the victim within 6× of its p50 alone under each uncached flood, 10× under plain GETs', async (t) => {
    // Each round's cold tokens its own: tokens verified in an earlier round would be cached.
    const tokens = await coldTokens(COLD_TOKENS * ROUNDS);
    const floods: Record<string, (round: number) => Call[]> = {
      'cold tokens': (round) =>
        tokens.slice(round * COLD_TOKENS, (round + 1) * COLD_TOKENS).map((token) => ({
          tenant: noisy.tenant,
          token,
          path: `/v1/users/${noisy.owner}`,
        })),
      'permissions over 20 roles': () =>
        noisy.userIds.map((id) => ({
          tenant: noisy.tenant,
          token: noisy.ownerToken,
          path: `/v1/users/${id}/permissions`,
        })),
      'plain GETs': () => [
        { tenant: noisy.tenant, token: noisy.ownerToken, path: `/v1/users/${noisy.owner}` },
      ],
    };
    await victimP50(); // warm: the victim's token, user and decision cached
    const report: string[] = [];
    const ratios: Record<string, number> = {};
    for (const [name, calls] of Object.entries(floods)) {
      const pairs: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        // Alone just before, so that the machine's own load drifts as little as can be between.
        const alone = await victimP50();
        const { result: p50, statuses } = await flooded(calls(round), victimP50);
        pairs.push(p50 / alone);
        report.push(
          `${name} #${round + 1}: p50 ${p50.toFixed(2)} ms against ${alone.toFixed(2)} ms alone (${(p50 / alone).toFixed(1)}×), noisy statuses ${JSON.stringify(statuses)}`,
        );
      }
      ratios[name] = median(pairs);
    }
    t.diagnostic(report.join('\n'));
    // The uncached work the scheduler orders, and the plain cached GETs the request gate holds
    // to their tenant's share while the loop is busy (before it: first come, first served).
    for (const [name, ratio] of Object.entries(ratios)) {
      const max = name === 'plain GETs' ? MAX_PLAIN_RATIO : MAX_RATIO;
      assert.ok(ratio <= max, `${name}: ${ratio.toFixed(1)}× > ${max}×\n${report.join('\n')}`);
    }
  });

  it('answers the flooding tenant 503 unavailable with Retry-After past its own queue, never the victim', async () => {
    await stack.stop();
    await startWith({
      LOG_LEVEL: 'warn',
      FAIR_QUEUE_MAX: String(SMALL_QUEUE),
      FAIR_CONCURRENCY: '1',
    });
    const tokens = await coldTokens(128);
    const wide = new Agent({ keepAlive: true, maxSockets: 64 });
    try {
      // 64 cold tokens at once: far more than one tenant's queue holds.
      const burst = await Promise.all(
        tokens
          .slice(0, 64)
          .map((token) =>
            send(port, wide, { tenant: noisy.tenant, token, path: `/v1/users/${noisy.owner}` }),
          ),
      );
      const refused = burst.filter((r) => r.status === 503);
      assert.ok(refused.length > 0, `no 503 among ${burst.map((r) => r.status).join(',')}`);
      for (const r of refused) {
        assert.equal(r.code, 'unavailable');
        assert.match(r.retryAfter ?? '', /^[1-9][0-9]*$/);
      }
      assert.ok(
        burst.some((r) => r.status === 200),
        'the queued ones are served',
      );
      // The victim's own cold token meanwhile: its queue is its own.
      const victimBurst = await Promise.all([
        ...tokens
          .slice(64, 128)
          .map((token) =>
            send(port, wide, { tenant: noisy.tenant, token, path: `/v1/users/${noisy.owner}` }),
          ),
        send(port, victimAgent, {
          ...victim,
          token: await stack.token(victim.tenant, victim.path.slice(10)),
        }),
      ]);
      const mine = victimBurst[victimBurst.length - 1];
      assert.equal(mine?.status, 200, `victim: ${mine?.status} ${mine?.code ?? ''}`);
    } finally {
      wide.destroy();
    }
  });
});
