/**
 * The 100-replica harness: its flags, the arithmetic of a window's summary, and a short run of
 * the real thing (3 replicas, one redis-server) so it cannot rot.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ReplicaCounts } from '../../../bench/replica-model.js';
import { readSimSettings, summarizeRun, type SimRun } from '../../../bench/replicas-sim.js';
import { createSamples } from '../../../bench/stats.js';
import { repoRoot } from '../../helpers/process.js';
import { skipWithoutRedis } from '../../helpers/redis.js';

describe('readSimSettings', () => {
  it('defaults to both modes at 100 and 1,000 requests/s, 100 events/s, a 100 ms bound', () => {
    const s = readSimSettings(['--simulate-replicas', '100']);
    assert.equal(s.replicas, 100);
    assert.deepEqual(s.rates, [100, 1000]);
    assert.deepEqual(s.modes, ['next-request', 'bounded']);
    assert.equal(s.writesPerSecond, 100);
    assert.equal(s.maxStalenessMs, 100);
  });

  it('names the flag of a bad value', () => {
    assert.throws(() => readSimSettings(['--simulate-replicas', '0']), /--simulate-replicas/);
    assert.throws(() => readSimSettings(['--rate', '100,x']), /--rate/);
    assert.throws(() => readSimSettings(['--consistency', 'eventual']), /--consistency/);
  });
});

const counts = (c: Partial<ReplicaCounts>): ReplicaCounts => ({
  requests: 0,
  atOnce: 0,
  timedOut: 0,
  violations: 0,
  probes: 0,
  xreads: 0,
  probeErrors: 0,
  ...c,
});

const samples = (values: number[]) => {
  const s = createSamples(4);
  for (const v of values) s.push(v);
  return s;
};

describe('summarizeRun', () => {
  it('turns a window’s counters into rates per second and per replica', () => {
    const run = summarizeRun({
      mode: 'next-request',
      rate: 100,
      seconds: 10,
      counts: [
        counts({ requests: 1000, atOnce: 400, probes: 900 }),
        counts({ requests: 1000, atOnce: 600, probes: 100, violations: 1 }),
      ],
      lagPerReplica: [samples([1, 2, 3]), samples([5, 10])],
      shared: {
        probeMs: samples([0.1, 0.2]),
        decisionMs: samples(Array.from({ length: 2000 }, () => 1)),
        stalenessMs: samples([...Array.from({ length: 1999 }, () => 0), 7]),
      },
      delta: {
        seconds: 10,
        cpuSeconds: 2.5,
        calls: { xrevrange: 1000, set: 1000, xread: 2000, info: 1 },
        usec: { xrevrange: 4000, set: 1000, xread: 20_000, info: 50 },
      },
      shed: 0,
      writes: 1000,
      harness: { eventLoopDelayP99Ms: 1, cpuCores: 0.5 },
    });
    const expected: Partial<SimRun> = {
      achievedRatePerReplica: 100, // 2,000 decided / 10 s / 2 replicas
      writesPerSecond: 100,
      probesPerSecond: 100,
      violations: 1,
      decidedAtOnceShare: 0.5,
    };
    for (const [k, v] of Object.entries(expected)) assert.deepEqual(run[k as keyof SimRun], v, k);
    // INFO is the harness's own reading, not the replicas' traffic.
    assert.equal(run.redis.commandsPerSecond, 400);
    assert.equal(run.redis.commandsPerRequest, 2);
    assert.equal(run.redis.probeCommandsPerRequest, 1);
    assert.equal(run.redis.cores, 0.25);
    assert.deepEqual(run.redis.byCommand.xread, { perSecond: 200, usecPerCall: 10 });
    assert.equal(run.redis.byCommand.info, undefined);
    assert.deepEqual(run.lagP99Ms, { medianReplica: 3, worstReplica: 10, allEvents: 10 });
    assert.deepEqual(run.stalenessMs, { p99: 0, max: 7, nonZeroShare: 0.0005 });
  });
});

describe(
  'npm run bench -- --simulate-replicas (smoke)',
  { timeout: 120_000, skip: skipWithoutRedis() },
  () => {
    it('runs both modes on a real Redis, stops by itself, and keeps the modes’ promises', async () => {
      const out = mkdtempSync(join(tmpdir(), 'cedargate-sim-'));
      try {
        const args = [
          '--simulate-replicas',
          '3',
          '--rate',
          '50',
          '--duration',
          '1',
          '--warmup',
          '0',
        ];
        const child = spawn(
          process.execPath,
          [join(repoRoot, 'dist', 'bench', 'run.js'), ...args, '--out-dir', out],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        const code = await new Promise((resolve) => child.on('exit', resolve));
        assert.equal(code, 0, stderr);
        const [file] = readdirSync(out).filter((f) => f.endsWith('-replicas.json'));
        const { runs } = JSON.parse(readFileSync(join(out, file as string), 'utf8')) as {
          runs: SimRun[];
        };
        assert.deepEqual(
          runs.map((r) => r.mode),
          ['next-request', 'bounded'],
        );
        for (const r of runs) {
          assert.ok(r.achievedRatePerReplica > 0, JSON.stringify(r));
          assert.equal(r.violations, 0, JSON.stringify(r));
          assert.ok((r.redis.byCommand.xadd?.perSecond ?? 0) > 0, 'the writer wrote');
          assert.ok((r.redis.byCommand.xread?.perSecond ?? 0) > 0, 'the readers read');
        }
        const [next, bounded] = runs as [SimRun, SimRun];
        // next-request probes for requests; bounded only once a second per replica.
        assert.ok(next.redis.probeCommandsPerRequest > bounded.redis.probeCommandsPerRequest);
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    });
  },
);
