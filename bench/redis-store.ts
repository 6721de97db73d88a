/**
 * `npm run bench -- --store redis`: the scenarios with the users in Redis and `--replicas N`
 * sidecars on it, once per EVENT_CONSISTENCY mode. For each mode a redis-server of its own on a
 * free loopback port (no persistence: `--save '' --appendonly no`), the tenant seeded into it,
 * the backend and the sidecars started with REDIS_URL; then an idle window (what Redis does with
 * no request at all) and each scenario, direct and through the sidecars, with Redis's own
 * counters read around each measured run (bench/redis-stats.ts).
 *
 * Whether this build knows EVENT_CONSISTENCY is asked of its config (the variable accepted, and
 * its value kept); a mode it does not know is skipped with a line saying why, never run as
 * something else under its name.
 */
import { createClient } from 'redis';
import { loadConfig } from '../src/config.js';
import { startRedis, type RunningRedis } from '../test/helpers/redis.js';
import type { ScenarioResult } from './report.js';
import {
  diffSnapshots,
  ratesPerSecond,
  readRedisSnapshot,
  type RedisSnapshot,
} from './redis-stats.js';
import type { Scenario } from './scenarios.js';
import { startBenchStack, type BenchStack } from './stack.js';

export const CONSISTENCY_MODES = ['next-request', 'bounded'] as const;
export type ConsistencyMode = (typeof CONSISTENCY_MODES)[number];

/** Whether this build runs `mode` when EVENT_CONSISTENCY says so. */
export interface ModeSupport {
  mode: ConsistencyMode;
  supported: boolean;
  /** Why not, or how it is run. */
  note: string;
}

/**
 * Asks this build's config about EVENT_CONSISTENCY=`mode`: refused (a config error naming the
 * variable), ignored (loaded, but no setting holds the value: a build before the variable), or
 * taken. `next-request` on a build that ignores the variable is today's per-request check, so
 * it runs, saying so; `bounded` there does not exist and is skipped.
 */
export function consistencySupport(
  mode: ConsistencyMode,
  load: (env: Record<string, string>) => object = (env) => loadConfig('cli', env),
): ModeSupport {
  let config: object;
  try {
    config = load({ EVENT_CONSISTENCY: mode });
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    return {
      mode,
      supported: false,
      note: `this build refuses EVENT_CONSISTENCY=${mode}: ${text}`,
    };
  }
  // Wherever the config keeps it (a top-level field or a nested one), the value is there.
  if (JSON.stringify(config).includes(JSON.stringify(mode))) {
    return { mode, supported: true, note: `EVENT_CONSISTENCY=${mode}` };
  }
  return mode === 'next-request'
    ? {
        mode,
        supported: true,
        note: 'this build has no EVENT_CONSISTENCY: its built-in check before each request (EVENT_CHECK_EACH_REQUEST=true), which is next-request',
      }
    : {
        mode,
        supported: false,
        note: `this build ignores EVENT_CONSISTENCY (the bounded mode of issue 26 item 1 is not in it): ${mode} skipped`,
      };
}

/** Background cost with no request: commands/s by owner and Redis cores. */
export type IdleRates = ReturnType<typeof ratesPerSecond>;

/** One mode's run. */
export interface RedisModeResult {
  mode: ConsistencyMode;
  note: string;
  /** Set when the mode was not measured (unsupported, or the sidecars would not start). */
  skipped?: string;
  idle?: IdleRates;
  scenarios: ScenarioResult[];
}

/** Everything `--store redis` measured. */
export interface RedisStoreResults {
  replicas: number;
  redisVersion: string;
  modes: RedisModeResult[];
}

/** Reads Redis's counters for the measurement of one scenario. */
export interface RedisSampler {
  snapshot(): Promise<RedisSnapshot>;
}

/** Options of {@link runRedisStore}. */
export interface RedisStoreOptions {
  users: number;
  replicas: number;
  /** The modes asked for; undefined = every mode this build has. */
  consistency: readonly ConsistencyMode[] | undefined;
  scenarios: readonly Scenario[];
  policyDir: string;
  idleSeconds: number;
  log: (line: string) => void;
  /** Measures one scenario direct and through the sidecars, reading `redis` around each run. */
  measure(stack: BenchStack, scenario: Scenario, redis: RedisSampler): Promise<ScenarioResult>;
  /** Called with a function that stops whatever runs now (for Ctrl-C). */
  onRunning?(stop: () => Promise<void>): void;
}

/** Every requested mode, measured or skipped with its reason (the caller says when all were). */
export async function runRedisStore(options: RedisStoreOptions): Promise<RedisStoreResults> {
  const { log } = options;
  const wanted = options.consistency ?? CONSISTENCY_MODES;
  const support = wanted.map((m) => consistencySupport(m));
  const modes: RedisModeResult[] = [];
  let redisVersion = 'unknown';
  for (const s of support) {
    if (!s.supported) {
      log(`--store redis: ${s.note}`);
      modes.push({ mode: s.mode, note: s.note, skipped: s.note, scenarios: [] });
      continue;
    }
    log(`--store redis, ${s.mode}: ${s.note}`);
    const redis = await startRedis();
    try {
      const measured = await measureMode(redis, s, options);
      redisVersion = measured.version;
      modes.push(measured.result);
    } finally {
      await redis.stop();
    }
  }
  return { replicas: options.replicas, redisVersion, modes };
}

async function measureMode(
  redis: RunningRedis,
  support: ModeSupport,
  options: RedisStoreOptions,
): Promise<{ version: string; result: RedisModeResult }> {
  const { log } = options;
  const client = createClient({ url: redis.url, name: 'cedargate-bench-stats' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const version = /redis_version:(\S+)/.exec(await client.info('server'))?.[1] ?? 'unknown';
    const sampler: RedisSampler = { snapshot: () => readRedisSnapshot(client) };
    let stack: BenchStack;
    try {
      stack = await startBenchStack({
        users: options.users,
        policyDir: options.policyDir,
        redisUrl: redis.url,
        replicas: options.replicas,
        sidecarEnv: { EVENT_CONSISTENCY: support.mode },
        log,
      });
    } catch (err) {
      const why = `the sidecars did not start with EVENT_CONSISTENCY=${support.mode}: ${firstLines(err)}`;
      log(`--store redis: ${why}`);
      return {
        version,
        result: { mode: support.mode, note: support.note, skipped: why, scenarios: [] },
      };
    }
    options.onRunning?.(() => stack.close());
    try {
      const before = await sampler.snapshot();
      await new Promise((r) => setTimeout(r, options.idleSeconds * 1000));
      const idle = ratesPerSecond(diffSnapshots(before, await sampler.snapshot()));
      log(
        `${support.mode} idle: sidecar ${idle.sidecar}/s, backend ${idle.backend}/s Redis commands, Redis ${(idle.cpuCores * 100).toFixed(1)} % of a core`,
      );
      const scenarios: ScenarioResult[] = [];
      for (const scenario of options.scenarios) {
        scenarios.push(await options.measure(stack, scenario, sampler));
      }
      return { version, result: { mode: support.mode, note: support.note, idle, scenarios } };
    } finally {
      await stack.close();
    }
  } finally {
    client.destroy();
  }
}

function firstLines(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n').slice(0, 6).join(' | ');
}
