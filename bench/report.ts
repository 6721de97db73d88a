/**
 * The run's results as data (the JSON written to bench/results/), the issue-7 targets judged
 * against them, and the markdown that is printed and written into docs/benchmarks.md.
 */
import { renderColdPath, type ColdPathResult } from './cold-path.js';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { LoadResult } from './load.js';
import type { MachineInfo } from './machine.js';
import type { MicroResult } from './micro.js';
import type { NoisyNeighbourResult } from './noisy-neighbour.js';
import type { DiffTiming } from './diff-timings.js';
import { PEER_NAMES, type PeerName, type PeerResults } from './peers.js';
import type { ProfileSummary } from './profile.js';
import type { RedisCost } from './redis-stats.js';

/** Direct and through-sidecar runs of one scenario, measured back to back. */
export interface ScenarioResult {
  name: string;
  description: string;
  direct: LoadResult;
  sidecar: LoadResult;
  /** sidecar rps / direct rps. */
  ratio: number;
  /** The sidecar's cache events during its measured run (`cache/result` → count). */
  sidecarCacheEvents: Record<string, number>;
  /** Status codes of a few requests sent before the runs, per path. */
  preflight: { direct: number[]; sidecar: number[] };
  /** With `--store redis`: what Redis counted during each measured run, per request. */
  redis?: { direct: RedisCost; sidecar: RedisCost };
}

/** Both paths at one fixed rate: half the direct saturation rate. */
export interface HalfRateResult {
  scenario: string;
  rate: number;
  direct: LoadResult;
  sidecar: LoadResult;
  addedP50Ms: number;
  addedP99Ms: number;
}

/** The sidecar's resident memory under steady load. */
export interface SoakResult {
  seconds: number;
  scenario: string;
  load: LoadResult;
  samples: { seconds: number; rssMiB: number }[];
  startMiB: number;
  endMiB: number;
  maxMiB: number;
  slopeMiBPerMin: number;
  /** Over the second half of the samples, once the caches have filled. */
  secondHalfSlopeMiBPerMin: number;
}

/** One target of issue 7. */
export interface TargetVerdict {
  target: string;
  measured: string;
  verdict: 'met' | 'not met' | 'not measured';
}

/** Everything one `npm run bench` measured. */
export interface BenchResults {
  startedAt: string;
  finishedAt: string;
  machine: MachineInfo;
  /** 1-minute load average when the run ended. */
  loadAverageAtEnd: number;
  settings: {
    durationSeconds: number;
    warmupSeconds: number;
    connections: number;
    users: number;
    logLevel: string;
  };
  micro: MicroResult[];
  scenarios: ScenarioResult[];
  halfRate: HalfRateResult[];
  soak: SoakResult | null;
  profiles: { scenario: string; summary: ProfileSummary }[];
  /** The cold path's CPU by step (bench/cold-path.ts); absent or null when not run. */
  coldPath?: ColdPathResult | null;
  /** With --peers: cedargate beside the other authorizers on one in-memory app (null without). */
  peers?: PeerResults | null;
  /** The noisy-neighbour scenario (bench/noisy-neighbour.ts); null when not run. */
  noisyNeighbour?: NoisyNeighbourResult | null;
  /** `policy diff` at 8, 10 and 12 named roles (bench/diff-timings.ts); absent when not run. */
  diffTimings?: DiffTiming[] | null;
  /** Server processes that died during a step (that step's numbers are missing). */
  crashes: { step: string; process: string; ended: string; output: string }[];
  targets: TargetVerdict[];
}

/** A soak counts as flat when, after the caches filled, RSS grows by at most this much per minute. */
export const FLAT_SLOPE_MIB_PER_MIN = 1;
const FULL_SOAK_SECONDS = 300;

/** Judges the issue-7 targets against the results. */
export function judgeTargets(
  r: Omit<BenchResults, 'targets' | 'finishedAt' | 'loadAverageAtEnd'>,
): TargetVerdict[] {
  const out: TargetVerdict[] = [];
  const ratio = (name: string, min: number, label: string) => {
    const s = r.scenarios.find((x) => x.name === name);
    out.push(
      s === undefined
        ? { target: label, measured: '—', verdict: 'not measured' }
        : {
            target: label,
            measured: `${s.ratio.toFixed(2)}×`,
            verdict: s.ratio >= min ? 'met' : 'not met',
          },
    );
  };
  ratio('get', 0.75, 'GET through the sidecar ≥ 0.75× direct req/s');
  ratio('put-role', 0.6, 'Cedar-decided role PUT through the sidecar ≥ 0.6× direct req/s');
  for (const name of ['get', 'put-role']) {
    const h = r.halfRate.find((x) => x.scenario === name);
    const label = `p99 added latency ≤ 1 ms at half the direct saturation rate (${name}${h === undefined ? '' : `, ${h.rate} req/s`})`;
    out.push(
      h === undefined
        ? { target: label, measured: '—', verdict: 'not measured' }
        : {
            target: label,
            measured: `${h.addedP99Ms.toFixed(3)} ms`,
            verdict: h.addedP99Ms <= 1 ? 'met' : 'not met',
          },
    );
  }
  const micro = (prefix: string, max: number, label: string) => {
    const m = r.micro.find((x) => x.name.startsWith(prefix));
    out.push(
      m === undefined
        ? { target: label, measured: '—', verdict: 'not measured' }
        : { target: label, measured: `${m.p50Us} µs`, verdict: m.p50Us <= max ? 'met' : 'not met' },
    );
  };
  micro('decision, uncached', 100, 'uncached decision p50 ≤ 100 µs');
  micro('decision, cached', 5, 'cached decision p50 ≤ 5 µs');
  const label = 'resident memory flat over 5 minutes of load';
  if (r.soak === null) out.push({ target: label, measured: '—', verdict: 'not measured' });
  else {
    const s = r.soak;
    const measured = `${s.startMiB} → ${s.endMiB} MiB (max ${s.maxMiB}) over ${s.seconds} s; second-half slope ${s.secondHalfSlopeMiBPerMin} MiB/min`;
    out.push({
      target: label,
      measured:
        s.seconds < FULL_SOAK_SECONDS
          ? `${measured} (short soak: run --soak 300 to judge)`
          : measured,
      verdict:
        s.seconds < FULL_SOAK_SECONDS
          ? 'not measured'
          : Math.abs(s.secondHalfSlopeMiBPerMin) <= FLAT_SLOPE_MIB_PER_MIN
            ? 'met'
            : 'not met',
    });
  }
  return out;
}

const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : '—');

/** Decision-cache hits over decisions, from a run's cache events; undefined without decisions. */
export function decisionHitRate(events: Record<string, number>): number | undefined {
  const hits = events['decision/hit'] ?? 0;
  const total = hits + (events['decision/miss'] ?? 0);
  return total === 0 ? undefined : hits / total;
}

function hitRateText(events: Record<string, number>): string {
  const rate = decisionHitRate(events);
  return rate === undefined ? '—' : `${(rate * 100).toFixed(2)}%`;
}

const PEER_LABELS: Record<PeerName, string> = {
  bare: 'bare app (no authorization)',
  'cedar-express': 'Cedar express middleware',
  cerbos: 'express + Cerbos PDP',
  cedargate: 'cedargate sidecar',
};

/** Issue 13's targets this run measured (direct ratios, hit rate, peers); "—" where it did not. */
export function renderIssue13Targets(r: BenchResults): string[] {
  const rows: [string, string, boolean | undefined][] = [];
  const direct = (name: string, min: number) => {
    const s = r.scenarios.find((x) => x.name === name);
    rows.push([
      `${name} through the sidecar ≥ ${min}× direct`,
      s === undefined ? '—' : `${fmt(s.ratio)}×`,
      s === undefined ? undefined : s.ratio >= min,
    ]);
  };
  direct('put-role', 0.7);
  direct('get', 0.75);
  const role = r.scenarios.find((x) => x.name === 'put-role');
  const rate = role === undefined ? undefined : decisionHitRate(role.sidecarCacheEvents);
  rows.push([
    'role-PUT decision-cache hit rate ≥ 99% after the first pass',
    rate === undefined ? '—' : `${(rate * 100).toFixed(2)}%`,
    rate === undefined ? undefined : rate >= 0.99,
  ]);
  const versus = (scenario: string, min: number) => {
    const x = r.peers?.ratios.find((q) => q.scenario === scenario && q.versus === 'cerbos');
    rows.push([
      `${scenario} ≥ ${min}× Cerbos's req/s on the same app`,
      x === undefined ? '—' : `${fmt(x.ratio)}×`,
      x === undefined ? undefined : x.ratio >= min,
    ]);
  };
  versus('put-role', 2.5);
  versus('get', 4);
  const lines = ['### Targets (issue 13, measured here)', '', '| target | measured | verdict |'];
  lines.push('| --- | --- | --- |');
  for (const [target, measured, met] of rows)
    lines.push(
      `| ${target} | ${measured} | ${met === undefined ? '**not measured**' : met ? 'met' : '**not met**'} |`,
    );
  lines.push(
    '',
    'The decision micro-benchmark targets (uncached p50 ≤ 200 µs, cached ≤ 3 µs) are in the micro-benchmark table.',
  );
  return lines;
}

/** The `--peers` section: answers checked, then req/s and latency per stack and the ratios. */
export function renderPeers(p: PeerResults): string[] {
  const lines: string[] = ['### Peers on the same in-memory users app', ''];
  const names = PEER_NAMES.filter((n) => p.checks.some((c) => c.answers[n] !== undefined));
  lines.push(
    'Answers to the fixed requests, checked before timing (the bare app authorizes nothing, so it is not compared):',
    '',
  );
  lines.push(
    `| request | ${names.join(' | ')} |`,
    `| --- | ${names.map(() => '---:').join(' | ')} |`,
  );
  for (const c of p.checks)
    lines.push(`| ${c.label} | ${names.map((n) => c.answers[n] ?? '—').join(' | ')} |`);
  for (const x of p.excluded) {
    lines.push('', `**${x.peer} was not timed: ${x.reason}.**`);
    for (const m of x.mismatches)
      lines.push(`- "${m.label}": cedargate ${m.expected}, ${x.peer} ${m.got ?? 'no answer'}`);
  }
  lines.push(
    '',
    '| scenario | stack | req/s | p50 ms | p99 ms | non-2xx | CPU µs/req (stack) | cedargate ÷ this | decision hit rate |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const run of p.runs) {
    const l = run.load;
    const ratio = p.ratios.find((x) => x.scenario === run.scenario && x.versus === run.peer);
    lines.push(
      `| ${run.scenario} | ${PEER_LABELS[run.peer]} | ${fmt(l.rps, 0)} | ${fmt(l.latencyMs.p50, 3)} | ${fmt(l.latencyMs.p99, 3)} | ${l.non2xx + l.errors} | ${fmt(run.stackCpuMicrosPerRequest, 0)} | ${ratio === undefined ? '' : `**${fmt(ratio.ratio)}×**`} | ${run.cacheEvents === undefined ? '' : hitRateText(run.cacheEvents)} |`,
    );
  }
  return lines;
}

/** The results as markdown: machine, settings, and one table per kind of measurement. */
export function renderMarkdown(r: BenchResults): string {
  const m = r.machine;
  const lines: string[] = [];
  lines.push(
    `Measured ${r.startedAt} on ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB RAM, Node ${m.node}, ${m.os}; 1-minute load average ${m.loadAverageAtStart} at the start, ${r.loadAverageAtEnd} at the end.`,
  );
  lines.push('');
  lines.push(
    `Settings: ${r.settings.users.toLocaleString('en-US')} users, ${r.settings.connections} connections, ${r.settings.warmupSeconds} s warm-up + ${r.settings.durationSeconds} s measured per path and scenario, backend and sidecar at LOG_LEVEL=${r.settings.logLevel}, load generator in the same 2-core machine.`,
  );
  lines.push('', '### Saturation: direct vs through the sidecar', '');
  lines.push(
    '| scenario | path | req/s | p50 ms | p99 ms | p99.9 ms | non-2xx | sidecar/direct | CPU µs/req backend | CPU µs/req sidecar | CPU µs/req load generator |',
  );
  lines.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const s of r.scenarios) {
    for (const [path, l] of [
      ['direct', s.direct],
      ['sidecar', s.sidecar],
    ] as const) {
      const cpu = (name: string) => {
        const v = l.cpuMicrosPerRequest[name];
        return v === undefined ? '—' : fmt(v, 0);
      };
      lines.push(
        `| ${s.name} | ${path} | ${fmt(l.rps, 0)} | ${fmt(l.latencyMs.p50, 3)} | ${fmt(l.latencyMs.p99, 3)} | ${fmt(l.latencyMs.p999, 3)} | ${l.non2xx + l.errors} | ${path === 'sidecar' ? `**${fmt(s.ratio)}×**` : ''} | ${cpu('backend')} | ${cpu('sidecar')} | ${cpu('load generator')} |`,
      );
    }
  }
  lines.push('', 'Sidecar cache events during each measured sidecar run:', '');
  lines.push(
    '| scenario | credential hit/miss | user hit/miss | decision hit/miss | decision hit rate |',
  );
  lines.push('| --- | ---: | ---: | ---: | ---: |');
  for (const s of r.scenarios) {
    const c = s.sidecarCacheEvents;
    const pair = (cache: string) => `${c[`${cache}/hit`] ?? 0} / ${c[`${cache}/miss`] ?? 0}`;
    lines.push(
      `| ${s.name} | ${pair('credential')} | ${pair('user')} | ${pair('decision')} | ${hitRateText(c)} |`,
    );
  }
  lines.push(
    '',
    'Each measured run follows its warm-up (and the preflight requests), so for `put-role` the hit rate is the one after its first pass over the role transitions; `put-role-dozen` runs on a stack of its own whose schema has twelve roles.',
  );
  if (r.halfRate.length > 0) {
    lines.push('', '### Added latency at half the direct saturation rate', '');
    lines.push(
      '| scenario | rate req/s | direct p50 / p99 ms | sidecar p50 / p99 ms | added p50 ms | added p99 ms | non-2xx |',
    );
    lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const h of r.halfRate) {
      lines.push(
        `| ${h.scenario} | ${h.rate} | ${fmt(h.direct.latencyMs.p50, 3)} / ${fmt(h.direct.latencyMs.p99, 3)} | ${fmt(h.sidecar.latencyMs.p50, 3)} / ${fmt(h.sidecar.latencyMs.p99, 3)} | ${fmt(h.addedP50Ms, 3)} | **${fmt(h.addedP99Ms, 3)}** | ${h.direct.non2xx + h.sidecar.non2xx} |`,
      );
    }
  }
  if (r.micro.length > 0) {
    lines.push('', '### Micro-benchmarks (in-process, per call)', '');
    lines.push('| what | calls | p50 µs | p99 µs | mean µs |');
    lines.push('| --- | ---: | ---: | ---: | ---: |');
    for (const x of r.micro)
      lines.push(`| ${x.name} | ${x.iterations} | ${x.p50Us} | ${x.p99Us} | ${x.meanUs} |`);
  }
  if (r.soak !== null) {
    const s = r.soak;
    lines.push('', `### Memory soak (${s.scenario} through the sidecar, ${s.seconds} s)`, '');
    lines.push(
      '| start MiB | end MiB | max MiB | slope MiB/min | second-half slope MiB/min | req/s | non-2xx |',
    );
    lines.push('| ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    lines.push(
      `| ${s.startMiB} | ${s.endMiB} | ${s.maxMiB} | ${s.slopeMiBPerMin} | ${s.secondHalfSlopeMiBPerMin} | ${fmt(s.load.rps, 0)} | ${s.load.non2xx + s.load.errors} |`,
    );
  }
  for (const p of r.profiles) {
    lines.push('', `### Sidecar CPU profile under ${p.scenario} (self time, % of busy time)`, '');
    lines.push('| area | % |', '| --- | ---: |');
    for (const a of p.summary.areas.slice(0, 12)) lines.push(`| ${a.name} | ${a.percent} |`);
    lines.push('', '| function | % |', '| --- | ---: |');
    for (const f of p.summary.topFunctions.slice(0, 15))
      lines.push(`| \`${f.name}\` | ${f.percent} |`);
  }
  if (r.coldPath !== undefined && r.coldPath !== null)
    lines.push('', ...renderColdPath(r.coldPath));
  if (r.peers !== undefined && r.peers !== null) lines.push('', ...renderPeers(r.peers));
  for (const c of r.crashes) {
    lines.push('', `### CRASH: the ${c.process} died during "${c.step}" (${c.ended})`, '');
    lines.push(
      'That step has no numbers; a new sidecar was started for the rest of the run. Its last output:',
      '',
    );
    lines.push(
      '```',
      ...c.output
        .split('\n')
        .filter((l) => l.trim() !== '')
        .slice(0, 14),
      '```',
    );
  }
  lines.push('', ...renderIssue13Targets(r));
  lines.push('', '### Targets (issue 7)', '');
  lines.push('| target | measured | verdict |', '| --- | --- | --- |');
  for (const t of r.targets)
    lines.push(
      `| ${t.target} | ${t.measured} | ${t.verdict === 'met' ? 'met' : `**${t.verdict}**`} |`,
    );
  return `${lines.join('\n')}\n`;
}

export const DOC_BEGIN = '<!-- bench:results:begin (written by `npm run bench -- --write-doc`) -->';
export const DOC_END = '<!-- bench:results:end -->';

/**
 * Puts `markdown` between the markers (by default the results section's) of `docPath`, keeping everything else (the hand-written
 * method and analysis); creates the file with the markers when it does not exist. The page is
 * formatted with the repository's prettier settings, so `npm run lint` stays green.
 */
export async function writeDocSection(
  docPath: string,
  markdown: string,
  markers: { begin: string; end: string } = { begin: DOC_BEGIN, end: DOC_END },
): Promise<void> {
  const section = `${markers.begin}\n\n${markdown}\n${markers.end}`;
  let next: string;
  if (!existsSync(docPath)) {
    next = `# Benchmarks\n\n${section}\n`;
  } else {
    const text = readFileSync(docPath, 'utf8');
    const begin = text.indexOf(markers.begin);
    const end = text.indexOf(markers.end);
    next =
      begin !== -1 && end > begin
        ? `${text.slice(0, begin)}${section}${text.slice(end + markers.end.length)}`
        : `${text.trimEnd()}\n\n${section}\n`;
  }
  const prettier = await import('prettier');
  const config = (await prettier.resolveConfig(docPath)) ?? {};
  writeFileSync(docPath, await prettier.format(next, { ...config, filepath: docPath }));
}
