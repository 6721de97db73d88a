/**
 * `npm run bench -- --simulate-replicas N [--rate 100,1000]`: the Redis traffic of N sidecar
 * replicas on one redis-server, without the sidecars (issue 26 item 4). A 2-core machine cannot
 * run 100 sidecars, but it can run one Redis and 100 replicas' connection pairs doing what a
 * sidecar does with Redis (bench/replica-model.ts), at a request rate per replica, while one
 * writer adds change events at --writes-per-second (XADD … MAXLEN ~ 100000, as the store's
 * scripts do). Per mode and rate: a fresh redis-server on a free loopback port, a warm-up, then
 * the measured window with Redis's counters (INFO commandstats, INFO cpu) read around it.
 *
 * Everything runs in this one node process, so it can fall short of the asked rate: it reports
 * the rate it reached, its own event-loop delay and CPU, and sheds arrivals (counted) rather
 * than queueing without bound when a replica already has too many requests waiting. Every loop
 * ends with the window; a watchdog ends the process if anything hangs.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join } from 'node:path';
import { eventStreamKey, DEFAULT_EVENT_STREAM_MAXLEN } from '../src/common/change-events.js';
import { createPlainClient } from '../src/common/redis-connection.js';
import { generationKey } from '../src/common/store-generation.js';
import { parseFlags, UsageError } from '../src/cli/usage.js';
import { startRedis } from '../test/helpers/redis.js';
import { describeMachine, type MachineInfo } from './machine.js';
import { repoRoot } from './processes.js';
import {
  createEventLog,
  createReplica,
  type EventLog,
  type ModelMode,
  type Replica,
  type ReplicaCounts,
  type ReplicaSinks,
} from './replica-model.js';
import { diffSnapshots, readRedisSnapshot, type RedisDelta } from './redis-stats.js';
import { createSamples, percentileOf, round } from './stats.js';

const USAGE =
  'npm run bench -- --simulate-replicas N [--rate 100,1000] [--consistency next-request,bounded]' +
  ' [--duration S] [--warmup S] [--writes-per-second W] [--max-staleness-ms MS]' +
  ' [--generation-every-ms MS] [--out-dir DIR]';

/** A replica with this many requests undecided sheds new arrivals (counted, not sent). */
const MAX_IN_FLIGHT = 64;
const DRIVER_TICK_MS = 1;
const TENANT = '00000000-0000-4000-8000-000000000000';
const USER = '00000000-0000-4000-8000-000000000001';

/** The simulation's settings. */
export interface SimSettings {
  replicas: number;
  rates: number[];
  modes: ModelMode[];
  durationSeconds: number;
  warmupSeconds: number;
  writesPerSecond: number;
  maxStalenessMs: number;
  maxLagMs: number;
  /** Bounded: how often the reader loop checks the generation (0: before every XREAD). */
  generationEveryMs: number;
  outDir: string;
}

/** Reads the flags (all but --simulate-replicas have defaults). */
export function readSimSettings(argv: string[]): SimSettings {
  const { values } = parseFlags(
    argv,
    {
      'simulate-replicas': { type: 'string' },
      rate: { type: 'string' },
      consistency: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      'writes-per-second': { type: 'string' },
      'max-staleness-ms': { type: 'string' },
      'generation-every-ms': { type: 'string' },
      'out-dir': { type: 'string' },
    },
    USAGE,
  );
  const num = (name: string, raw: string | undefined, dflt: number, min: number, max: number) => {
    const n = raw === undefined ? dflt : Number(raw);
    if (!Number.isFinite(n) || n < min || n > max)
      throw new UsageError(
        `--${name} must be a number in ${min}..${max}, got "${raw}"\nusage: ${USAGE}`,
      );
    return n;
  };
  const rates = (values.rate ?? '100,1000')
    .split(',')
    .map((r) => num('rate', r.trim(), 0, 1, 100_000));
  const modes = (values.consistency ?? 'next-request,bounded').split(',').map((m) => {
    const mode = m.trim();
    if (mode !== 'next-request' && mode !== 'bounded')
      throw new UsageError(
        `--consistency takes next-request, bounded; got "${mode}"\nusage: ${USAGE}`,
      );
    return mode;
  });
  return {
    replicas: Math.floor(num('simulate-replicas', values['simulate-replicas'], 100, 1, 1000)),
    rates,
    modes,
    durationSeconds: num('duration', values.duration, 10, 1, 600),
    warmupSeconds: num('warmup', values.warmup, 2, 0, 60),
    writesPerSecond: num('writes-per-second', values['writes-per-second'], 100, 0, 10_000),
    maxStalenessMs: num('max-staleness-ms', values['max-staleness-ms'], 100, 1, 60_000),
    maxLagMs: 2_000,
    generationEveryMs: num('generation-every-ms', values['generation-every-ms'], 0, 0, 60_000),
    outDir: values['out-dir'] ?? join(repoRoot, 'bench', 'results'),
  };
}

/** One mode at one rate. */
export interface SimRun {
  mode: ModelMode;
  askedRatePerReplica: number;
  replicas: number;
  seconds: number;
  /** Requests decided per second per replica (mean over replicas). */
  achievedRatePerReplica: number;
  shed: number;
  writesPerSecond: number;
  redis: {
    cores: number;
    commandsPerSecond: number;
    /** Calls per second and µs per call, by command. */
    byCommand: Record<string, { perSecond: number; usecPerCall: number }>;
    commandsPerRequest: number;
    /** The probes' commands (XREVRANGE + SET, twice per probe) per request. */
    probeCommandsPerRequest: number;
  };
  probesPerSecond: number;
  probeMs: { p50: number; p99: number };
  /** Each replica's lag p99: the median and the worst over replicas; and over all events. */
  lagP99Ms: { medianReplica: number; worstReplica: number; allEvents: number };
  decisionMs: { p50: number; p99: number };
  stalenessMs: { p99: number; max: number; nonZeroShare: number };
  violations: number;
  timedOut: number;
  decidedAtOnceShare: number;
  harness: { eventLoopDelayP99Ms: number; cpuCores: number };
}

const pct = (s: { sorted(): Float64Array }, q: number): number =>
  round(percentileOf(s.sorted(), q), 3);

/** Summarises one window (pure arithmetic over what the window collected). */
export function summarizeRun(input: {
  mode: ModelMode;
  rate: number;
  seconds: number;
  /** Each replica's counters over the window. */
  counts: readonly ReplicaCounts[];
  lagPerReplica: readonly ReplicaSinks['lagMs'][];
  shared: Omit<ReplicaSinks, 'lagMs'>;
  delta: RedisDelta;
  shed: number;
  writes: number;
  harness: SimRun['harness'];
}): SimRun {
  const { seconds, counts, delta } = input;
  const requests = counts.reduce((n, c) => n + c.requests, 0);
  const decided = input.shared.decisionMs.length;
  // INFO is the harness reading Redis, not a replica's traffic.
  const commands = Object.entries(delta.calls)
    .filter(([name]) => name !== 'info')
    .reduce((a, [, calls]) => a + calls, 0);
  const byCommand: SimRun['redis']['byCommand'] = {};
  const traffic = Object.entries(delta.calls).filter(([name]) => name !== 'info');
  for (const [name, calls] of traffic.sort((a, b) => b[1] - a[1])) {
    byCommand[name] = {
      perSecond: round(calls / seconds, 1),
      usecPerCall: round((delta.usec[name] ?? 0) / calls, 2),
    };
  }
  const lagP99s = Float64Array.from(
    input.lagPerReplica.filter((s) => s.length > 0).map((s) => percentileOf(s.sorted(), 0.99)),
  ).sort();
  const allLags = createSamples();
  for (const s of input.lagPerReplica) for (const v of s.sorted()) allLags.push(v);
  const stale = input.shared.stalenessMs.sorted();
  let nonZero = 0;
  for (const v of stale) if (v > 0) nonZero++;
  const sum = (k: keyof ReplicaCounts) => counts.reduce((n, c) => n + c[k], 0);
  return {
    mode: input.mode,
    askedRatePerReplica: input.rate,
    replicas: counts.length,
    seconds: round(seconds, 2),
    achievedRatePerReplica: round(decided / seconds / Math.max(1, counts.length), 1),
    shed: input.shed,
    writesPerSecond: round(input.writes / seconds, 1),
    redis: {
      cores: round(delta.cpuSeconds / seconds, 4),
      commandsPerSecond: round(commands / seconds, 1),
      byCommand,
      commandsPerRequest: requests > 0 ? round(commands / requests, 4) : Number.NaN,
      probeCommandsPerRequest: requests > 0 ? round((2 * sum('probes')) / requests, 4) : Number.NaN,
    },
    probesPerSecond: round(sum('probes') / seconds, 1),
    probeMs: { p50: pct(input.shared.probeMs, 0.5), p99: pct(input.shared.probeMs, 0.99) },
    lagP99Ms: {
      medianReplica: round(percentileOf(lagP99s, 0.5), 3),
      worstReplica: round(lagP99s[lagP99s.length - 1] ?? Number.NaN, 3),
      allEvents: pct(allLags, 0.99),
    },
    decisionMs: { p50: pct(input.shared.decisionMs, 0.5), p99: pct(input.shared.decisionMs, 0.99) },
    stalenessMs: {
      p99: round(percentileOf(stale, 0.99), 3),
      max: round(stale[stale.length - 1] ?? 0, 3),
      nonZeroShare: stale.length === 0 ? 0 : round(nonZero / stale.length, 4),
    },
    violations: sum('violations'),
    timedOut: sum('timedOut'),
    decidedAtOnceShare: decided === 0 ? 0 : round(sum('atOnce') / decided, 4),
    harness: input.harness,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freshShared(): Omit<ReplicaSinks, 'lagMs'> {
  return { probeMs: createSamples(), decisionMs: createSamples(), stalenessMs: createSamples() };
}

function countsMinus(a: ReplicaCounts, b: ReplicaCounts): ReplicaCounts {
  const out = { ...a };
  for (const k of Object.keys(out) as (keyof ReplicaCounts)[]) out[k] = a[k] - b[k];
  return out;
}

/** Arrivals at `rate` per replica (phases spread over a period) and events at `wps`. */
function startDriver(
  replicas: readonly Replica[],
  rate: number,
  log: EventLog,
  writer: { sendCommand(args: string[]): Promise<unknown> },
  wps: number,
): { counters(): { shed: number; writes: number }; stop(): void } {
  const t0 = performance.now();
  const issued = replicas.map(() => 0);
  const phase = replicas.map((_, i) => i / replicas.length);
  let shed = 0;
  let writes = 0;
  const write = (): void => {
    const n = log.sentAt.length;
    log.sentAt.push(performance.now());
    log.ackAt.push(Number.NaN);
    writes++;
    writer
      .sendCommand([
        ...['XADD', eventStreamKey(), 'MAXLEN', '~', String(DEFAULT_EVENT_STREAM_MAXLEN), '*'],
        ...['kind', 'user', 'tenant', TENANT, 'user', USER, 'version', String(n)],
      ])
      .then(
        () => (log.ackAt[n] = performance.now()),
        () => undefined,
      );
  };
  const timer = setInterval(() => {
    const elapsed = (performance.now() - t0) / 1000;
    while (writes < Math.floor(elapsed * wps)) write();
    replicas.forEach((r, i) => {
      const due = Math.floor(elapsed * rate + (phase[i] as number)) - (issued[i] as number);
      for (let k = 0; k < due; k++) {
        if (r.inFlight() >= MAX_IN_FLIGHT) shed++;
        else void r.request();
      }
      issued[i] = (issued[i] as number) + Math.max(0, due);
    });
  }, DRIVER_TICK_MS);
  return { counters: () => ({ shed, writes }), stop: () => clearInterval(timer) };
}

/** One mode at one rate on a fresh redis-server. */
async function simulate(
  s: SimSettings,
  mode: ModelMode,
  rate: number,
  log: (l: string) => void,
): Promise<SimRun> {
  const redis = await startRedis();
  const clients: ReturnType<typeof createPlainClient>[] = [];
  const client = (name: string, subscriber = false) => {
    const c = createPlainClient(redis.url, name, { subscriber });
    c.on('error', () => undefined);
    clients.push(c);
    return c;
  };
  try {
    const stats = client('cedargate-bench-stats');
    const writer = client('cedargate-store');
    const eventLog = createEventLog();
    // Replaced at the start of the window; the sinks read whichever is current.
    let lags = Array.from({ length: s.replicas }, () => createSamples(1024));
    let shared = freshShared();
    const replicas = lags.map((_, i) =>
      createReplica({
        mode,
        maxStalenessMs: s.maxStalenessMs,
        maxLagMs: s.maxLagMs,
        generationEveryMs: s.generationEveryMs,
        streamKey: eventStreamKey(),
        generationKey: generationKey(),
        commands: client('cedargate-sidecar'),
        events: client('cedargate-sidecar-events', true),
        log: eventLog,
        sinks: {
          get lagMs() {
            return lags[i] as ReplicaSinks['lagMs'];
          },
          get probeMs() {
            return shared.probeMs;
          },
          get decisionMs() {
            return shared.decisionMs;
          },
          get stalenessMs() {
            return shared.stalenessMs;
          },
        },
        now: () => performance.now(),
      }),
    );
    for (let i = 0; i < clients.length; i += 50)
      await Promise.all(clients.slice(i, i + 50).map((c) => c.connect()));
    const loops = replicas.map((r) => r.run());
    const readiness = setInterval(() => replicas.forEach((r) => r.probeForReadiness()), 1_000);
    const driver = startDriver(replicas, rate, eventLog, writer, s.writesPerSecond);
    try {
      log(`${mode}, ${rate} req/s × ${s.replicas} replicas: warm-up ${s.warmupSeconds} s`);
      await sleep(s.warmupSeconds * 1000);
      lags = lags.map(() => createSamples(1024));
      shared = freshShared();
      const countsBefore = replicas.map((r) => ({ ...r.counts }));
      const driverBefore = driver.counters();
      const delay = monitorEventLoopDelay({ resolution: 10 });
      delay.enable();
      const cpuBefore = process.cpuUsage();
      const before = await readRedisSnapshot(stats);
      log(`${mode}, ${rate} req/s × ${s.replicas} replicas: ${s.durationSeconds} s`);
      await sleep(s.durationSeconds * 1000);
      const after = await readRedisSnapshot(stats);
      const cpu = process.cpuUsage(cpuBefore);
      delay.disable();
      const driverAfter = driver.counters();
      const delta = diffSnapshots(before, after);
      return summarizeRun({
        mode,
        rate,
        seconds: delta.seconds,
        counts: replicas.map((r, i) => countsMinus(r.counts, countsBefore[i] as ReplicaCounts)),
        lagPerReplica: lags,
        shared,
        delta,
        shed: driverAfter.shed - driverBefore.shed,
        writes: driverAfter.writes - driverBefore.writes,
        harness: {
          eventLoopDelayP99Ms: round(delay.percentile(99) / 1e6, 2),
          cpuCores: round((cpu.user + cpu.system) / 1e6 / delta.seconds, 3),
        },
      });
    } finally {
      driver.stop();
      clearInterval(readiness);
      replicas.forEach((r) => r.stop());
      for (const c of clients) c.destroy();
      await Promise.all(loops);
    }
  } finally {
    for (const c of clients) if (c.isOpen) c.destroy();
    await redis.stop();
  }
}

/** The table of every run. */
export function renderSimMarkdown(
  runs: readonly SimRun[],
  machine: MachineInfo,
  s: SimSettings,
): string {
  const lines = [
    `${s.replicas} simulated replicas (2 Redis connections each) on one redis-server, ` +
      `${s.writesPerSecond} events/s written, EVENT_MAX_STALENESS_MS=${s.maxStalenessMs}, ` +
      `bounded's generation check ${s.generationEveryMs === 0 ? 'before every XREAD' : `at most every ${s.generationEveryMs} ms`}; ` +
      `${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}; ${s.durationSeconds} s per run after ${s.warmupSeconds} s warm-up; ` +
      `load average ${machine.loadAverageAtStart} at start.`,
    '',
    '| mode | req/s per replica asked | reached | Redis cores | Redis commands/s | per request (of which probes) | probes/s | probe p50 / p99 ms | lag p99 ms (median replica / worst / all) | decision p99 ms | staleness p99 / max ms | over the promise | harness loop delay p99 ms, cores |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | --- | ---: | --- |',
  ];
  for (const r of runs) {
    lines.push(
      `| ${r.mode} | ${r.askedRatePerReplica} | ${r.achievedRatePerReplica}${r.shed > 0 ? ` (${r.shed} shed)` : ''} | ` +
        `${r.redis.cores.toFixed(3)} | ${Math.round(r.redis.commandsPerSecond)} | ${r.redis.commandsPerRequest.toFixed(3)} (${r.redis.probeCommandsPerRequest.toFixed(3)}) | ` +
        `${Math.round(r.probesPerSecond)} | ${r.probeMs.p50} / ${r.probeMs.p99} | ` +
        `${r.lagP99Ms.medianReplica} / ${r.lagP99Ms.worstReplica} / ${r.lagP99Ms.allEvents} | ${r.decisionMs.p99} | ` +
        `${r.stalenessMs.p99} / ${r.stalenessMs.max} | ${r.violations} | ${r.harness.eventLoopDelayP99Ms}, ${r.harness.cpuCores} |`,
    );
  }
  lines.push('', 'Redis commands per second by command (µs of Redis per call):', '');
  for (const r of runs) {
    const by = Object.entries(r.redis.byCommand)
      .map(([name, c]) => `${name} ${Math.round(c.perSecond)}/s (${c.usecPerCall} µs)`)
      .join(', ');
    lines.push(`- ${r.mode} at ${r.askedRatePerReplica} req/s: ${by}`);
  }
  return `${lines.join('\n')}\n`;
}

/** `--simulate-replicas`: every mode at every rate; JSON to the out dir, the table to stdout. */
export async function simulateReplicasMain(
  argv: string[],
  log: (line: string) => void,
): Promise<number> {
  const s = readSimSettings(argv);
  const machine = describeMachine();
  const startedAt = new Date().toISOString();
  const budgetMs =
    (s.modes.length * s.rates.length * (s.durationSeconds + s.warmupSeconds + 30) + 60) * 1000;
  // Whatever hangs, the process ends: a benchmark must stop by itself.
  const watchdog = setTimeout(() => {
    log(`--simulate-replicas: still running after ${budgetMs / 1000} s; giving up`);
    process.exit(1);
  }, budgetMs);
  watchdog.unref();
  const runs: SimRun[] = [];
  for (const mode of s.modes) {
    for (const rate of s.rates) {
      const run = await simulate(s, mode, rate, log);
      log(
        `${mode} ${rate} req/s: reached ${run.achievedRatePerReplica}/replica, Redis ${run.redis.cores} cores, ` +
          `${run.redis.commandsPerSecond} commands/s, probe p99 ${run.probeMs.p99} ms, lag p99 ${run.lagP99Ms.allEvents} ms, ` +
          `staleness max ${run.stalenessMs.max} ms, ${run.violations} over the promise`,
      );
      runs.push(run);
    }
  }
  clearTimeout(watchdog);
  mkdirSync(s.outDir, { recursive: true });
  const jsonPath = join(s.outDir, `${startedAt.replace(/[:.]/g, '-')}-replicas.json`);
  writeFileSync(
    jsonPath,
    `${JSON.stringify({ startedAt, finishedAt: new Date().toISOString(), machine, settings: s, runs }, null, 2)}\n`,
  );
  log(`results: ${jsonPath}`);
  process.stdout.write(renderSimMarkdown(runs, machine, s));
  return 0;
}
