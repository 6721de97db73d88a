/**
 * What Redis itself says a run cost: `INFO commandstats` (calls per command, including the
 * commands a Lua script runs) and `INFO cpu` (the server's CPU seconds), read before and after a
 * measured run; the difference per request is the figure issue 26 asks for.
 *
 * Commands are told apart by name, because Redis 7.0 counts calls per command, not per client:
 * the sidecar's own are the stream and generation commands it sends (XREVRANGE, XREAD, XINFO,
 * the generation's SET NX GET); everything else that touches data is the backend's store
 * (EVALSHA and the commands its scripts run, HGETALL, ZRANGE …). The one overlap is SET: the
 * backend also re-reads the generation with SET NX GET, once a second; that counts as the
 * sidecar's here (≤ 1 call a second, stated in docs/benchmarks.md). INFO (the bench's own
 * sampling, the backend's /healthz), PING and the connection handshake are `connection`.
 */

/** One command's counters from `INFO commandstats`. */
export interface CommandStat {
  calls: number;
  /** Microseconds Redis spent executing it (all calls). */
  usec: number;
}

/** One reading of the server. */
export interface RedisSnapshot {
  /** `xrevrange`, `xinfo|stream`, … → counters. */
  commands: Record<string, CommandStat>;
  /** used_cpu_user + used_cpu_sys, seconds. */
  cpuSeconds: number;
  /** When it was read (ms, any monotonic clock). */
  atMs: number;
}

/** Whose command it is (see the module comment). */
export type CommandOwner = 'sidecar' | 'backend' | 'connection';

const SIDECAR_COMMANDS = new Set(['xrevrange', 'xread', 'xinfo', 'xinfo|stream', 'set']);
const CONNECTION_COMMANDS = new Set(['info', 'ping', 'hello', 'select', 'auth', 'quit']);

/** Whose command `name` (as commandstats spells it) is. */
export function commandOwner(name: string): CommandOwner {
  if (SIDECAR_COMMANDS.has(name)) return 'sidecar';
  const base = name.split('|')[0] ?? name;
  if (CONNECTION_COMMANDS.has(base) || base === 'client' || base === 'command') return 'connection';
  return 'backend';
}

/** `key:value` lines of an INFO reply (section headers and blank lines skipped). */
export function parseInfoFields(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon > 0) out.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return out;
}

/** `cmdstat_<name>:calls=N,usec=N,…` lines → name → counters. */
export function parseCommandStats(text: string): Record<string, CommandStat> {
  const out: Record<string, CommandStat> = {};
  for (const [key, value] of parseInfoFields(text)) {
    if (!key.startsWith('cmdstat_')) continue;
    const fields = new Map(
      value.split(',').map((kv) => kv.split('=', 2) as [string, string | undefined]),
    );
    const calls = Number(fields.get('calls'));
    const usec = Number(fields.get('usec'));
    if (!Number.isFinite(calls) || !Number.isFinite(usec)) {
      throw new Error(`unreadable INFO commandstats line: ${key}:${value}`);
    }
    out[key.slice('cmdstat_'.length)] = { calls, usec };
  }
  return out;
}

/** used_cpu_user + used_cpu_sys of an `INFO cpu` reply, in seconds. */
export function parseCpuSeconds(text: string): number {
  const fields = parseInfoFields(text);
  const user = Number(fields.get('used_cpu_user'));
  const sys = Number(fields.get('used_cpu_sys'));
  if (!fields.has('used_cpu_user') || !fields.has('used_cpu_sys') || !Number.isFinite(user + sys)) {
    throw new Error('INFO cpu has no used_cpu_user / used_cpu_sys');
  }
  return user + sys;
}

/** One reading from an `INFO commandstats` + `INFO cpu` reply (one `INFO commandstats cpu`). */
export function snapshotOf(infoText: string, atMs: number): RedisSnapshot {
  return { commands: parseCommandStats(infoText), cpuSeconds: parseCpuSeconds(infoText), atMs };
}

/** What happened between two readings. */
export interface RedisDelta {
  seconds: number;
  cpuSeconds: number;
  /** Calls per command (only commands that were called). */
  calls: Record<string, number>;
  /** Microseconds of execution per command. */
  usec: Record<string, number>;
}

/** `after − before`; a counter that went down means CONFIG RESETSTAT or a restart: an error. */
export function diffSnapshots(before: RedisSnapshot, after: RedisSnapshot): RedisDelta {
  const calls: Record<string, number> = {};
  const usec: Record<string, number> = {};
  for (const [name, a] of Object.entries(after.commands)) {
    const b = before.commands[name] ?? { calls: 0, usec: 0 };
    if (a.calls < b.calls) throw new Error(`Redis counters went back (${name}): restarted?`);
    if (a.calls === b.calls) continue;
    calls[name] = a.calls - b.calls;
    usec[name] = a.usec - b.usec;
  }
  const cpuSeconds = after.cpuSeconds - before.cpuSeconds;
  if (cpuSeconds < 0) throw new Error('Redis CPU time went back: restarted?');
  return { seconds: (after.atMs - before.atMs) / 1000, cpuSeconds, calls, usec };
}

/** A run's Redis cost, per request. */
export interface RedisCost {
  requests: number;
  seconds: number;
  /** Commands per request: all, and split by owner. */
  commandsPerRequest: Record<CommandOwner | 'total', number>;
  /** Each command's calls per request, largest first in insertion order. */
  perCommand: Record<string, number>;
  /** Redis CPU per 1,000 requests, ms. */
  cpuMsPer1000Requests: number;
  /** Redis CPU over the run, as a share of one core (1 = a whole core). */
  cpuCores: number;
}

const round4 = (n: number): number => Math.round(n * 10_000) / 10_000;

/** The per-request arithmetic: `delta` spread over `requests` answered requests. */
export function costPerRequest(delta: RedisDelta, requests: number): RedisCost {
  const per = (n: number): number => (requests > 0 ? round4(n / requests) : Number.NaN);
  const owned: Record<CommandOwner | 'total', number> = {
    total: 0,
    sidecar: 0,
    backend: 0,
    connection: 0,
  };
  const sorted = Object.entries(delta.calls).sort((a, b) => b[1] - a[1]);
  const perCommand: Record<string, number> = {};
  for (const [name, calls] of sorted) {
    const owner = commandOwner(name);
    owned[owner] += calls;
    if (owner !== 'connection') owned.total += calls;
    perCommand[name] = per(calls);
  }
  return {
    requests,
    seconds: round4(delta.seconds),
    commandsPerRequest: {
      total: per(owned.total),
      sidecar: per(owned.sidecar),
      backend: per(owned.backend),
      connection: per(owned.connection),
    },
    perCommand,
    cpuMsPer1000Requests: requests > 0 ? round4((delta.cpuSeconds * 1e6) / requests) : Number.NaN,
    cpuCores: delta.seconds > 0 ? round4(delta.cpuSeconds / delta.seconds) : Number.NaN,
  };
}

/** Commands per second by owner, for a window with no requests (the background cost). */
export function ratesPerSecond(delta: RedisDelta): Record<CommandOwner, number> & {
  cpuCores: number;
} {
  const out = { sidecar: 0, backend: 0, connection: 0 };
  for (const [name, calls] of Object.entries(delta.calls)) out[commandOwner(name)] += calls;
  const s = delta.seconds > 0 ? delta.seconds : Number.NaN;
  return {
    sidecar: round4(out.sidecar / s),
    backend: round4(out.backend / s),
    connection: round4(out.connection / s),
    cpuCores: round4(delta.cpuSeconds / s),
  };
}

/** The part of a Redis client a reading needs. */
export interface InfoClient {
  sendCommand(args: string[]): Promise<unknown>;
}

/** Reads the server now (one `INFO commandstats cpu`). */
export async function readRedisSnapshot(
  client: InfoClient,
  now: () => number = () => performance.now(),
): Promise<RedisSnapshot> {
  const reply = await client.sendCommand(['INFO', 'commandstats', 'cpu']);
  return snapshotOf(String(reply), now());
}
