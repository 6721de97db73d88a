/**
 * `npm run bench [-- flags]`: the sidecar's cost, measured side by side with direct access.
 *
 *   1. micro-benchmarks in this process (decision uncached/cached, credential cold/warm),
 *      before any server runs, so nothing competes with them;
 *   2. seeds a tenant of --users users with their tokens, starts `cedargate backend` and
 *      `cedargate sidecar` as separate processes;
 *   3. per scenario: warm-up and a measured run directly against the backend, then the same
 *      through the sidecar (back to back, same settings), and the ratio;
 *   4. both paths again at half the direct saturation rate: the added latency;
 *   5. a memory soak (the mix through the sidecar, RSS sampled from /proc);
 *   6. with --profile, the sidecar again under `node --cpu-prof` for the GET and role-PUT loads
 *      measured (and put-role-dozen on its own stack).
 *
 * `--store redis` instead runs the scenarios with the users in a redis-server and `--replicas N`
 * sidecars on it, per EVENT_CONSISTENCY mode, with Redis's own counters (bench/redis-store.ts);
 * `--simulate-replicas N` runs the Redis traffic of N replicas alone (bench/replicas-sim.ts).
 *
 * Progress goes to stderr; the markdown table to stdout; the JSON to bench/results/<time>.json;
 * with --write-doc, the table into docs/benchmarks.md (between its markers).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { HelpRequested, parseFlags, UsageError } from '../src/cli/usage.js';
import { loadConfig } from '../src/config.js';
import { runLoad, type BenchRequest, type LoadResult } from './load.js';
import { DOZEN_ROLE_SCENARIO, writeDozenRolePolicies } from './dozen-roles.js';
import { measureDiffTimings, renderDiffTimings, type DiffTiming } from './diff-timings.js';
import { describeMachine } from './machine.js';
import {
  measureNoisyNeighbour,
  NOISY_NEIGHBOUR,
  renderNoisyNeighbour,
  type NoisyNeighbourResult,
} from './noisy-neighbour.js';
import { runMicroBenchmarks } from './micro.js';
import { measureColdPath, type ColdPathResult } from './cold-path.js';
import { measurePeers, type PeerResults } from './peers.js';
import { renderRedisMarkdown } from './redis-report.js';
import {
  costPerRequest,
  diffSnapshots,
  type RedisCost,
  type RedisSnapshot,
} from './redis-stats.js';
import {
  CONSISTENCY_MODES,
  runRedisStore,
  type ConsistencyMode,
  type RedisSampler,
} from './redis-store.js';
import { simulateReplicasMain } from './replicas-sim.js';
import { repoRoot, readRss } from './processes.js';
import { summarizeProfile } from './profile.js';
import {
  judgeTargets,
  renderMarkdown,
  writeDocSection,
  type BenchResults,
  type HalfRateResult,
  type ScenarioResult,
  type SoakResult,
} from './report.js';
import { selectScenarios, SCENARIOS, type PathKind, type Scenario } from './scenarios.js';
import { startBenchStack, type BenchStack } from './stack.js';
import { round, slopeOf } from './stats.js';

const USAGE =
  'npm run bench -- [--duration S] [--warmup S] [--connections N] [--users N] [--scenarios get,put-name,put-role,mix,noisy-neighbour]' +
  ' [--half-rate get,put-role|none] [--soak S] [--micro-decisions N] [--micro-tokens N] [--no-micro] [--profile]' +
  ' [--no-dozen-roles] [--no-cold-path] [--no-diff-timings] [--diff-timeout S] [--peers] [--write-doc] [--out-dir DIR] [--from RESULTS.json]' +
  ' [--store sqlite|redis] [--replicas N] [--consistency next-request,bounded]' +
  '\n       npm run bench -- --simulate-replicas N [--rate 100,1000] [--consistency …] (see bench/replicas-sim.ts)';

/** Seconds of the idle window `--store redis` measures before each mode's scenarios. */
const REDIS_IDLE_SECONDS = 3;
const REDIS_DOC_BEGIN =
  '<!-- bench:redis:begin (written by `npm run bench -- --store redis --write-doc`) -->';
const REDIS_DOC_END = '<!-- bench:redis:end -->';

interface Settings {
  duration: number;
  warmup: number;
  connections: number;
  users: number;
  scenarios: Scenario[];
  halfRate: string[];
  soak: number;
  microDecisions: number;
  microTokens: number;
  micro: boolean;
  profile: boolean;
  /** Run noisy-neighbour (its own stack, two tenants over a 20-role schema). */
  noisyNeighbour: boolean;
  /** Run put-role-dozen (its own stack, over a generated dozen-role policy dir). */
  dozenRoles: boolean;
  /** Charge the cold path's CPU to its steps (cold-path.ts: a restart under --cpu-prof). */
  coldPath: boolean;
  /** Time `policy diff` at 8, 10 and 12 named roles (diff-timings.ts), each stopped at this many s; 0: not run. */
  diffTimeout: number;
  /** Also measure the peers (bench/peers.ts) on the same in-memory users app. */
  peers: boolean;
  writeDoc: boolean;
  outDir: string;
  /** Render an earlier run's JSON instead of measuring. */
  from: string | undefined;
  /** Where the users live: SQLite (the default run) or a redis-server of the bench's own. */
  store: 'sqlite' | 'redis';
  /** Sidecars with `--store redis`. */
  replicas: number;
  /** EVENT_CONSISTENCY modes with `--store redis`; undefined = all this build has. */
  consistency: ConsistencyMode[] | undefined;
}

function readSettings(argv: string[]): Settings {
  const { values } = parseFlags(
    argv,
    {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      users: { type: 'string' },
      scenarios: { type: 'string' },
      'half-rate': { type: 'string' },
      soak: { type: 'string' },
      'micro-decisions': { type: 'string' },
      'micro-tokens': { type: 'string' },
      'no-micro': { type: 'boolean' },
      profile: { type: 'boolean' },
      peers: { type: 'boolean' },
      'no-dozen-roles': { type: 'boolean' },
      'no-cold-path': { type: 'boolean' },
      'no-diff-timings': { type: 'boolean' },
      'diff-timeout': { type: 'string' },
      'write-doc': { type: 'boolean' },
      'out-dir': { type: 'string' },
      from: { type: 'string' },
      store: { type: 'string' },
      replicas: { type: 'string' },
      consistency: { type: 'string' },
    },
    USAGE,
  );
  const num = (name: string, raw: string | undefined, dflt: number, min: number): number => {
    if (raw === undefined) return dflt;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min)
      throw new Error(`--${name} must be a number ≥ ${min}, got "${raw}"\nusage: ${USAGE}`);
    return n;
  };
  const list = (raw: string | undefined) =>
    raw
      ?.split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  const halfRate = list(values['half-rate']) ?? ['get', 'put-role'];
  const store = values.store ?? 'sqlite';
  if (store !== 'sqlite' && store !== 'redis')
    throw new UsageError(`--store must be sqlite or redis, got "${store}"\nusage: ${USAGE}`);
  const consistency = list(values.consistency)?.map((m) => {
    if (!(CONSISTENCY_MODES as readonly string[]).includes(m))
      throw new UsageError(
        `--consistency takes ${CONSISTENCY_MODES.join(', ')}, got "${m}"\nusage: ${USAGE}`,
      );
    return m as ConsistencyMode;
  });
  if (store !== 'redis' && (values.replicas !== undefined || consistency !== undefined))
    throw new UsageError(`--replicas and --consistency need --store redis\nusage: ${USAGE}`);
  const names = values.scenarios === 'none' ? [] : list(values.scenarios);
  return {
    duration: num('duration', values.duration, 10, 1),
    warmup: num('warmup', values.warmup, 2, 0),
    connections: Math.floor(num('connections', values.connections, 16, 1)),
    // Writes go to two disjoint halves, and the name scenario needs its targets: at least 4.
    users: Math.floor(num('users', values.users, 10_000, 4)),
    scenarios: selectScenarios(names?.filter((n) => n !== NOISY_NEIGHBOUR)),
    noisyNeighbour: names === undefined || names.includes(NOISY_NEIGHBOUR),
    halfRate: halfRate.includes('none') ? [] : halfRate,
    soak: num('soak', values.soak, 30, 0),
    microDecisions: Math.floor(num('micro-decisions', values['micro-decisions'], 20_000, 1)),
    microTokens: Math.floor(num('micro-tokens', values['micro-tokens'], 2_000, 1)),
    micro: values['no-micro'] !== true,
    profile: values.profile === true,
    peers: values.peers === true,
    dozenRoles: values['no-dozen-roles'] !== true,
    coldPath: values['no-cold-path'] !== true,
    diffTimeout:
      values['no-diff-timings'] === true ? 0 : num('diff-timeout', values['diff-timeout'], 180, 1),
    writeDoc: values['write-doc'] === true,
    outDir: values['out-dir'] ?? join(repoRoot, 'bench', 'results'),
    from: values.from,
    store,
    replicas: Math.floor(num('replicas', values.replicas, 2, 1)),
    consistency,
  };
}

const log = (line: string): void =>
  void process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

async function main(argv: string[]): Promise<number> {
  if (argv.some((a) => a === '--simulate-replicas' || a.startsWith('--simulate-replicas=')))
    return simulateReplicasMain(argv, log);
  const settings = readSettings(argv);
  if (settings.store === 'redis') return measureRedisStore(settings);
  if (settings.from !== undefined) {
    await publish(
      JSON.parse(readFileSync(settings.from, 'utf8')) as BenchResults,
      settings.writeDoc,
    );
    return 0;
  }
  const startedAt = new Date().toISOString();
  const machine = describeMachine();
  log(`${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}`);
  const policyDir = join(repoRoot, 'policies');

  const micro = settings.micro
    ? await runMicroBenchmarks({
        policyDir,
        decisions: settings.microDecisions,
        tokens: settings.microTokens,
        log,
      })
    : [];
  for (const m of micro) log(`micro: ${m.name}: p50 ${m.p50Us} µs, p99 ${m.p99Us} µs`);
  const diffTimings: DiffTiming[] =
    settings.diffTimeout > 0
      ? await measureDiffTimings({ roles: [8, 10, 12], timeoutSeconds: settings.diffTimeout, log })
      : [];

  log(`seeding ${settings.users} users and starting backend + sidecar`);
  const stack = await startBenchStack({ users: settings.users, policyDir, log });
  // Ctrl-C must not leave a backend and a sidecar running with a temp dir behind them.
  const interrupt = (signal: NodeJS.Signals) => {
    log(`${signal}: stopping the servers`);
    void stack.close().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  const scenarios: ScenarioResult[] = [];
  const halfRate: HalfRateResult[] = [];
  let soak: SoakResult | null = null;
  const profiles: BenchResults['profiles'] = [];
  let peers: PeerResults | null = null;
  let coldPath: ColdPathResult | null = null;
  let noisyNeighbour: NoisyNeighbourResult | null = null;
  const crashes: BenchResults['crashes'] = [];
  /**
   * Runs one measurement. If a server process dies meanwhile, the crash is part of the results
   * (with what the process printed), the sidecar is started again, and the run goes on.
   */
  const step = async (name: string, measure: () => Promise<void>): Promise<void> => {
    try {
      await measure();
    } catch (err) {
      const ended = stack.sidecar.ended() ?? stack.backend.ended();
      if (ended === undefined || stack.backend.ended() !== undefined) throw err;
      log(`${name}: the sidecar died (${ended}); recording it and starting a new sidecar`);
      crashes.push({
        step: name,
        process: 'sidecar',
        ended,
        output: stack.sidecar.output().slice(-3000),
      });
      await stack.restartSidecar();
    }
  };
  try {
    for (const scenario of settings.scenarios) {
      await step(scenario.name, async () => {
        scenarios.push(await measureScenario(stack, scenario, settings));
      });
    }
    if (settings.dozenRoles) {
      await step(DOZEN_ROLE_SCENARIO.name, async () => {
        const dozen = await measureDozenRoles(settings);
        scenarios.push(dozen.result);
        profiles.push(...dozen.profiles);
      });
    }
    if (settings.noisyNeighbour) {
      await step(NOISY_NEIGHBOUR, async () => {
        noisyNeighbour = await measureNoisyNeighbour({ durationSeconds: settings.duration, log });
      });
    }
    for (const name of settings.halfRate) {
      const sat = scenarios.find((s) => s.name === name);
      if (sat === undefined) continue;
      const scenario = selectScenarios([name])[0] as Scenario;
      await step(`${name} at half rate`, async () => {
        halfRate.push(await measureHalfRate(stack, scenario, sat.direct.rps, settings));
      });
    }
    if (settings.soak > 0) {
      await step('soak', async () => {
        soak = await soakSidecar(stack, settings);
      });
    }
    if (settings.coldPath) {
      await step('cold-path', async () => {
        coldPath = await measureColdPath(stack, {
          durationSeconds: settings.duration,
          warmupSeconds: settings.warmup,
          connections: settings.connections,
          outDir: settings.outDir,
          log,
        });
      });
    }
    if (settings.profile) {
      await step('profile', async () => {
        // The profiled loads among those this run measured (the dozen stack profiles its own).
        const profiled = settings.scenarios.filter(
          (c) => c.name === 'get' || c.name === 'put-role',
        );
        profiles.push(...(await profileSidecar(stack, settings, profiled)));
      });
    }
    if (settings.peers) {
      peers = await measurePeers(stack, {
        durationSeconds: settings.duration,
        warmupSeconds: settings.warmup,
        connections: settings.connections,
        scenarios: ['get', 'put-role', 'put-role-dozen', 'permissions-20'],
        policyDir,
        log,
      });
    }
  } finally {
    await stack.close();
  }

  const partial = {
    startedAt,
    machine,
    settings: {
      durationSeconds: settings.duration,
      warmupSeconds: settings.warmup,
      connections: settings.connections,
      users: settings.users,
      logLevel: 'warn',
    },
    micro,
    scenarios,
    halfRate,
    soak,
    profiles,
    coldPath,
    peers,
    noisyNeighbour,
    diffTimings,
    crashes,
  };
  const results: BenchResults = {
    ...partial,
    finishedAt: new Date().toISOString(),
    loadAverageAtEnd: Math.round((loadavg()[0] ?? 0) * 100) / 100,
    targets: judgeTargets(partial),
  };
  mkdirSync(settings.outDir, { recursive: true });
  const jsonPath = join(settings.outDir, `${startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(jsonPath, `${JSON.stringify(results, null, 2)}\n`);
  log(`results: ${jsonPath}`);
  await publish(results, settings.writeDoc);
  return 0;
}

/**
 * `--store redis`: the scenarios (not the half-rate runs, the soak, the profile or the peers)
 * on Redis with `--replicas` sidecars, per EVENT_CONSISTENCY mode; JSON to
 * `<out-dir>/<time>-redis.json`, the tables to stdout and, with --write-doc, into
 * docs/benchmarks.md between the `bench:redis` markers.
 */
async function measureRedisStore(settings: Settings): Promise<number> {
  const startedAt = new Date().toISOString();
  const machine = describeMachine();
  log(`${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}; --store redis`);
  let stopRunning: (() => Promise<void>) | undefined;
  const interrupt = (signal: NodeJS.Signals) => {
    log(`${signal}: stopping the servers`);
    void (stopRunning?.() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  const results = await runRedisStore({
    users: settings.users,
    replicas: settings.replicas,
    consistency: settings.consistency,
    scenarios: settings.scenarios,
    policyDir: join(repoRoot, 'policies'),
    idleSeconds: REDIS_IDLE_SECONDS,
    log,
    measure: (stack, scenario, redis) => measureScenario(stack, scenario, settings, redis),
    onRunning: (stop) => (stopRunning = stop),
  });
  if (results.modes.every((m) => m.skipped !== undefined)) {
    log(`--store redis measured nothing:`);
    for (const m of results.modes) log(`  ${m.mode}: ${m.skipped}`);
    return 1;
  }
  const runSettings = {
    durationSeconds: settings.duration,
    warmupSeconds: settings.warmup,
    connections: settings.connections,
    users: settings.users,
  };
  mkdirSync(settings.outDir, { recursive: true });
  const jsonPath = join(settings.outDir, `${startedAt.replace(/[:.]/g, '-')}-redis.json`);
  const json = {
    startedAt,
    finishedAt: new Date().toISOString(),
    machine,
    loadAverageAtEnd: Math.round((loadavg()[0] ?? 0) * 100) / 100,
    settings: runSettings,
    ...results,
  };
  writeFileSync(jsonPath, `${JSON.stringify(json, null, 2)}\n`);
  log(`results: ${jsonPath}`);
  const markdown = renderRedisMarkdown(results, machine, runSettings);
  process.stdout.write(markdown);
  if (settings.writeDoc) {
    const doc = join(repoRoot, 'docs', 'benchmarks.md');
    await writeDocSection(doc, markdown, { begin: REDIS_DOC_BEGIN, end: REDIS_DOC_END });
    log(`wrote ${doc}`);
  }
  return 0;
}

/**
 * After a sidecar run that wrote, wait out the sidecar's user cache (USER_CACHE_TTL_MS, 5 s by
 * default). A write abandoned by autocannon at the deadline can land in the backend while the
 * sidecar sees the client gone and keeps its old copy of the user; the next run's first request
 * on that user would then go through the 412 path (and, for a self-update, is denied: see
 * docs/benchmarks.md). That is a cut-off artifact, not steady state.
 */
const USER_CACHE_TTL_MS = loadConfig('cli', {}).userCacheTtlMs;

function drainAfter(scenario: Scenario, path: PathKind): number {
  return scenario.writes && path === 'sidecar' ? USER_CACHE_TTL_MS + 500 : 500;
}

/** The servers a request of `path` runs through. */
function watchOf(stack: BenchStack, path: PathKind): { name: string; pid: number }[] {
  const backend = { name: 'backend', pid: stack.backend.pid };
  if (path === 'direct') return [backend];
  return [backend, ...stack.sidecars.map((p) => ({ name: p.name, pid: p.pid }))];
}

/** Where a run of `path` sends its requests: the backend, or every sidecar replica. */
function targetOf(stack: BenchStack, path: PathKind): { url: string; urls?: readonly string[] } {
  return path === 'direct'
    ? { url: stack.backendUrl }
    : { url: stack.sidecarUrl, urls: stack.sidecarUrls };
}

/** Prints the tables, and writes them into docs/benchmarks.md when asked. */
async function publish(results: BenchResults, writeDoc: boolean): Promise<void> {
  const markdown =
    renderMarkdown(results) +
    (results.noisyNeighbour == null ? '' : `\n${renderNoisyNeighbour(results.noisyNeighbour)}`) +
    (results.diffTimings == null || results.diffTimings.length === 0
      ? ''
      : `\n### \`policy diff\` by named roles\n\n${renderDiffTimings(results.diffTimings)}\n`);
  process.stdout.write(markdown);
  if (writeDoc) {
    const doc = join(repoRoot, 'docs', 'benchmarks.md');
    await writeDocSection(doc, markdown);
    log(`wrote ${doc}`);
  }
}

function urlOf(stack: BenchStack, path: PathKind): string {
  return path === 'direct' ? stack.backendUrl : stack.sidecarUrl;
}

async function measureScenario(
  stack: BenchStack,
  scenario: Scenario,
  s: Settings,
  redis?: RedisSampler,
): Promise<ScenarioResult> {
  const preflight = {
    direct: await preflightStatuses(stack, scenario, 'direct'),
    sidecar: await preflightStatuses(stack, scenario, 'sidecar'),
  };
  for (const path of ['direct', 'sidecar'] as const) {
    const bad = preflight[path].filter((code) => code < 200 || code >= 300);
    if (bad.length > 0)
      log(`WARNING ${scenario.name}/${path}: preflight answered ${preflight[path].join(', ')}`);
  }
  // Warm-up, then the measured run; the sidecar's cache counters are read around the latter.
  const runPath = async (
    path: PathKind,
  ): Promise<{ load: LoadResult; events: Record<string, number>; redis?: RedisCost }> => {
    const next = scenario.generator(stack, path);
    if (s.warmup > 0) {
      log(`${scenario.name}: ${path} warm-up ${s.warmup} s`);
      await runLoad({
        ...targetOf(stack, path),
        watch: watchOf(stack, path),
        connections: s.connections,
        durationSeconds: s.warmup,
        drainMs: drainAfter(scenario, path),
        next,
      });
    }
    const before = await stack.cacheCounters();
    log(`${scenario.name}: ${path} ${s.duration} s`);
    // Redis is read right as the load ends: the drain after it is not part of the requests.
    const redisBefore = await redis?.snapshot();
    let redisAfter: RedisSnapshot | undefined;
    const load = await runLoad({
      ...targetOf(stack, path),
      watch: watchOf(stack, path),
      connections: s.connections,
      durationSeconds: s.duration,
      drainMs: drainAfter(scenario, path),
      next,
      ...(redis === undefined
        ? {}
        : { afterRun: async () => void (redisAfter = await redis.snapshot()) }),
    });
    stack.assertRunning();
    const events = diffCounters(before, await stack.cacheCounters());
    log(
      `${scenario.name}: ${path} ${load.rps} req/s, p50 ${load.latencyMs.p50} ms, p99 ${load.latencyMs.p99} ms, non-2xx ${load.non2xx} ${JSON.stringify(load.statusCodes)}`,
    );
    if (redisBefore === undefined || redisAfter === undefined) return { load, events };
    const cost = costPerRequest(diffSnapshots(redisBefore, redisAfter), load.requests);
    log(
      `${scenario.name}: ${path} Redis ${cost.commandsPerRequest.total} commands/request (sidecar's own ${cost.commandsPerRequest.sidecar}), ${cost.cpuMsPer1000Requests} ms CPU / 1,000 requests`,
    );
    return { load, events, redis: cost };
  };
  const directRun = await runPath('direct');
  const direct = directRun.load;
  const { load: sidecar, events, redis: sidecarRedis } = await runPath('sidecar');
  return {
    name: scenario.name,
    description: scenario.description,
    direct,
    sidecar,
    ratio: round(direct.rps === 0 ? 0 : sidecar.rps / direct.rps, 3),
    sidecarCacheEvents: events,
    preflight,
    ...(directRun.redis === undefined || sidecarRedis === undefined
      ? {}
      : { redis: { direct: directRun.redis, sidecar: sidecarRedis } }),
  };
}

/**
 * put-role-dozen on a stack of its own: the backend must accept the twelve roles, so both
 * processes run on the generated policy directory. At most 2,000 users: the targets only need
 * to be distinct, and seeding is the slow part.
 */
async function measureDozenRoles(
  s: Settings,
): Promise<{ result: ScenarioResult; profiles: BenchResults['profiles'] }> {
  const policyDir = mkdtempSync(join(tmpdir(), 'cedargate-dozen-roles-'));
  try {
    writeDozenRolePolicies(policyDir);
    const users = Math.min(s.users, 2000);
    log(`${DOZEN_ROLE_SCENARIO.name}: seeding ${users} users, policies over a dozen roles`);
    const stack = await startBenchStack({ users, policyDir, log });
    try {
      const result = await measureScenario(stack, DOZEN_ROLE_SCENARIO, s);
      const profiles = s.profile ? await profileSidecar(stack, s, [DOZEN_ROLE_SCENARIO]) : [];
      return { result, profiles };
    } finally {
      await stack.close();
    }
  } finally {
    rmSync(policyDir, { recursive: true, force: true });
  }
}

async function measureHalfRate(
  stack: BenchStack,
  scenario: Scenario,
  directRps: number,
  s: Settings,
): Promise<HalfRateResult> {
  const rate = Math.max(1, Math.floor(directRps / 2));
  const at = async (path: PathKind) => {
    log(`${scenario.name} at ${rate} req/s: ${path} ${s.duration} s`);
    const r = await runLoad({
      ...targetOf(stack, path),
      watch: watchOf(stack, path),
      connections: s.connections,
      durationSeconds: s.duration,
      overallRate: rate,
      drainMs: drainAfter(scenario, path),
      next: scenario.generator(stack, path),
    });
    stack.assertRunning();
    log(
      `${scenario.name} at ${rate} req/s: ${path} p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, non-2xx ${r.non2xx}`,
    );
    return r;
  };
  const direct = await at('direct');
  const sidecar = await at('sidecar');
  return {
    scenario: scenario.name,
    rate,
    direct,
    sidecar,
    addedP50Ms: round(sidecar.latencyMs.p50 - direct.latencyMs.p50),
    addedP99Ms: round(sidecar.latencyMs.p99 - direct.latencyMs.p99),
  };
}

async function soakSidecar(stack: BenchStack, s: Settings): Promise<SoakResult> {
  const scenario = SCENARIOS.find((x) => x.name === 'mix') as Scenario;
  const everyMs = s.soak <= 60 ? 2000 : 5000;
  const pid = stack.sidecar.pid;
  const samples: { seconds: number; rssMiB: number }[] = [];
  const t0 = Date.now();
  const sample = () => {
    const rss = readRss(pid);
    if (rss !== undefined)
      samples.push({
        seconds: round((Date.now() - t0) / 1000, 1),
        rssMiB: round(rss / 2 ** 20, 1),
      });
  };
  log(`soak: ${scenario.name} through the sidecar for ${s.soak} s, RSS every ${everyMs / 1000} s`);
  sample();
  const timer = setInterval(() => {
    sample();
    const last = samples[samples.length - 1];
    if (last !== undefined) log(`soak: ${last.seconds} s, RSS ${last.rssMiB} MiB`);
  }, everyMs);
  let load: LoadResult;
  try {
    load = await runLoad({
      url: stack.sidecarUrl,
      watch: watchOf(stack, 'sidecar'),
      connections: s.connections,
      durationSeconds: s.soak,
      drainMs: drainAfter(scenario, 'sidecar'),
      next: scenario.generator(stack, 'sidecar'),
    });
  } finally {
    clearInterval(timer);
  }
  stack.assertRunning();
  sample();
  const perMin = (pts: typeof samples) =>
    round(slopeOf(pts.map((p) => ({ x: p.seconds / 60, y: p.rssMiB }))), 2);
  const rss = samples.map((p) => p.rssMiB);
  return {
    seconds: s.soak,
    scenario: scenario.name,
    load,
    samples,
    startMiB: samples[0]?.rssMiB ?? Number.NaN,
    endMiB: samples[samples.length - 1]?.rssMiB ?? Number.NaN,
    maxMiB: rss.length === 0 ? Number.NaN : Math.max(...rss),
    slopeMiBPerMin: perMin(samples),
    secondHalfSlopeMiBPerMin: perMin(samples.slice(Math.floor(samples.length / 2))),
  };
}

/** The sidecar under `node --cpu-prof`, once per profiled load; the profile is written at exit. */
async function profileSidecar(
  stack: BenchStack,
  s: Settings,
  scenarios: readonly Scenario[],
): Promise<BenchResults['profiles']> {
  const dir = s.outDir;
  mkdirSync(dir, { recursive: true });
  const out: BenchResults['profiles'] = [];
  for (const scenario of scenarios) {
    const { name } = scenario;
    // A .json name: bench/results/ keeps only JSON out of git, and DevTools loads it as a profile.
    const file = `${new Date().toISOString().replace(/[:.]/g, '-')}-${name}.cpuprofile.json`;
    log(`profile: restarting the sidecar under --cpu-prof for ${name}`);
    await stack.restartSidecar(['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${file}`]);
    const next = scenario.generator(stack, 'sidecar');
    if (s.warmup > 0)
      await runLoad({
        url: stack.sidecarUrl,
        connections: s.connections,
        durationSeconds: s.warmup,
        next,
      });
    const r = await runLoad({
      url: stack.sidecarUrl,
      connections: s.connections,
      durationSeconds: s.duration,
      next,
    });
    log(`profile: ${name} ${r.rps} req/s under the profiler`);
    await stack.restartSidecar();
    if (!readdirSync(dir).includes(file))
      throw new Error(`the sidecar wrote no profile ${join(dir, file)}`);
    out.push({ scenario: name, summary: summarizeProfile(join(dir, file)) });
  }
  return out;
}

/** Sends three requests of the scenario on one path and returns their status codes. */
async function preflightStatuses(
  stack: BenchStack,
  scenario: Scenario,
  path: PathKind,
): Promise<number[]> {
  const next = scenario.generator(stack, path);
  const statuses: number[] = [];
  for (let i = 0; i < 3; i++) {
    const req: BenchRequest = next();
    const res = await fetch(`${urlOf(stack, path)}${req.path}`, {
      method: req.method,
      headers: req.headers,
      ...(req.body === undefined ? {} : { body: req.body }),
    });
    const text = await res.text();
    statuses.push(res.status);
    if (res.status >= 300)
      log(
        `${scenario.name}/${path} preflight ${req.method} ${req.path}: ${res.status} ${text.slice(0, 300)}`,
      );
  }
  return statuses;
}

function diffCounters(
  before: Record<string, number>,
  after: Record<string, number>,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) out[k] = v - (before[k] ?? 0);
  return out;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof HelpRequested) {
      process.stdout.write(err.text);
      return;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`bench: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(
      `bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exitCode = 1;
  },
);
