/** The markdown of `--store redis`: one table per EVENT_CONSISTENCY mode. */
import type { MachineInfo } from './machine.js';
import type { RedisStoreResults } from './redis-store.js';
import { commandOwner, type RedisCost } from './redis-stats.js';

/** The run's settings as the report states them. */
export interface RedisRunSettings {
  durationSeconds: number;
  warmupSeconds: number;
  connections: number;
  users: number;
}

const fmt = (n: number | undefined, digits = 2): string =>
  n === undefined || Number.isNaN(n) ? '–' : n.toFixed(digits);

/** The sidecar's own commands per request, e.g. `xrevrange 0.61, set 0.61`. */
export function sidecarCommands(cost: RedisCost | undefined): string {
  if (cost === undefined) return '–';
  const own = Object.entries(cost.perCommand).filter(([name]) => commandOwner(name) === 'sidecar');
  return own.length === 0 ? 'none' : own.map(([name, n]) => `${name} ${fmt(n, 3)}`).join(', ');
}

/** Tables for every measured mode, and a line for every skipped one. */
export function renderRedisMarkdown(
  results: RedisStoreResults,
  machine: MachineInfo,
  settings: RedisRunSettings,
): string {
  const lines: string[] = [
    `Redis ${results.redisVersion} on loopback (no persistence), ${results.replicas} sidecar replica(s), ` +
      `${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}; ` +
      `${settings.durationSeconds} s per path after ${settings.warmupSeconds} s warm-up, ` +
      `${settings.connections} connections spread over the replicas, ${settings.users} users; ` +
      `load average ${machine.loadAverageAtStart} at start.`,
    '',
  ];
  for (const mode of results.modes) {
    lines.push(`#### EVENT_CONSISTENCY=${mode.mode}`, '');
    if (mode.skipped !== undefined) {
      lines.push(`Not measured: ${mode.skipped}`, '');
      continue;
    }
    lines.push(`(${mode.note})`, '');
    if (mode.idle !== undefined) {
      lines.push(
        `Idle (no request): ${fmt(mode.idle.sidecar, 1)} sidecar commands/s, ` +
          `${fmt(mode.idle.backend, 1)} backend commands/s, Redis ${fmt(mode.idle.cpuCores * 100, 2)} % of a core.`,
        '',
      );
    }
    lines.push(
      '| scenario | direct req/s | via sidecars req/s | ratio | Redis cmds/req direct | via sidecars: all | of which the sidecar’s own | Redis CPU ms / 1,000 req direct | via sidecars | the sidecar’s own, per request |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    );
    for (const s of mode.scenarios) {
      const d = s.redis?.direct;
      const v = s.redis?.sidecar;
      lines.push(
        `| ${s.name} | ${Math.round(s.direct.rps)} | ${Math.round(s.sidecar.rps)} | ${fmt(s.ratio)} | ` +
          `${fmt(d?.commandsPerRequest.total)} | ${fmt(v?.commandsPerRequest.total)} | ` +
          `${fmt(v?.commandsPerRequest.sidecar, 3)} | ${fmt(d?.cpuMsPer1000Requests, 1)} | ` +
          `${fmt(v?.cpuMsPer1000Requests, 1)} | ${sidecarCommands(v)} |`,
      );
    }
    lines.push('');
  }
  return `${lines.join('\n')}\n`;
}
