/**
 * `cold-path` (issue 25 item 3): where the sidecar's CPU goes on a request whose token it has
 * never seen — `mix`'s cold case: a GET of another user, the caller's token fresh (one ES256
 * verification), the caller not in its cache (one look-up: with the shipped policies the target
 * is not looked up, no read policy reading more of it than its id and tenant), one decision, one
 * forward.
 *
 * The sidecar is restarted under `--cpu-prof`, warmed with fresh tokens, then loaded with other
 * fresh tokens; each profile sample taken during the measured run is charged to the step its
 * stack is in — the deepest frame of a step's code: jose or src/sidecar/authn (verify), the
 * user look-up modules (look-up), the policy code (decide), the proxy (proxy), the rest of the
 * sidecar's pipeline, GC, and what no frame of ours is under (HTTP parsing, sockets, timers: the
 * runtime, shared by the look-ups, the proxy and the server itself).
 */
import { readFileSync, readdirSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runLoad, type BenchRequest } from './load.js';
import type { BenchStack, SeededUser } from './stack.js';
import { round } from './stats.js';

/** The steps a sample is charged to, in the table's order. */
export const COLD_STEPS = [
  'verify (jose ES256, claims)',
  'user look-up (principal and target)',
  'decide',
  'proxy',
  'pipeline (routing, headers, tenancy, logs, metrics)',
  'GC',
  'HTTP and runtime (parsing, sockets, timers)',
] as const;
export type ColdStep = (typeof COLD_STEPS)[number];

/** One step's share. */
export interface ColdStepShare {
  step: ColdStep;
  cpuMs: number;
  /** Of the busy (non-idle) time sampled during the measured run, in percent. */
  percent: number;
  microsPerRequest: number;
}

export interface ColdPathResult {
  requests: number;
  rps: number;
  /** Requests whose token had been sent before (the pool of fresh tokens ran out). */
  reusedTokens: number;
  busyMs: number;
  steps: ColdStepShare[];
  /** Whether the samples were cut to the measured run (false: the clocks did not line up). */
  windowed: boolean;
}

interface CallFrame {
  functionName: string;
  url: string;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** The step one frame belongs to, or null when the frame says nothing (shared code). */
export function stepOfFrame(frame: CallFrame): ColdStep | null {
  const { url, functionName } = frame;
  if (url === '') return functionName === '(garbage collector)' ? 'GC' : null;
  if (url.includes('/node_modules/jose/') || url.includes('/dist/src/sidecar/authn/'))
    return 'verify (jose ES256, claims)';
  if (/\/dist\/src\/sidecar\/(upstream|directory|backend-user|user-facts)\.js/.test(url))
    return 'user look-up (principal and target)';
  if (
    url.includes('/dist/src/policy/') ||
    url.includes('/dist/src/sidecar/authz/') ||
    url.includes('/node_modules/@cedar-policy/')
  )
    return 'decide';
  if (
    url.includes('/node_modules/http-proxy') ||
    url.includes('/dist/src/sidecar/proxy.js') ||
    url.includes('/dist/src/sidecar/decide-and-forward.js')
  )
    return 'proxy';
  if (url.includes('/dist/src/sidecar/') || url.includes('/node_modules/pino'))
    return 'pipeline (routing, headers, tenancy, logs, metrics)';
  return null;
}

/**
 * Charges each sample between `fromUs` and `toUs` (the profile's clock; null: every sample) to
 * the step of the deepest frame on its stack that belongs to one.
 */
export function stepSharesOf(
  profile: CpuProfile,
  requests: number,
  window: { fromUs: number; toUs: number } | null,
): { busyMs: number; steps: ColdStepShare[] } {
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const stepOfNode = new Map<number, ColdStep | 'idle'>();
  const classify = (id: number): ColdStep | 'idle' => {
    const known = stepOfNode.get(id);
    if (known !== undefined) return known;
    const frame = byId.get(id)?.callFrame;
    let step: ColdStep | 'idle';
    if (frame?.functionName === '(idle)') step = 'idle';
    else {
      const own = frame === undefined ? null : stepOfFrame(frame);
      const up = parent.get(id);
      step =
        own ?? (up === undefined ? 'HTTP and runtime (parsing, sockets, timers)' : classify(up));
      if (step === 'idle') step = 'HTTP and runtime (parsing, sockets, timers)';
    }
    stepOfNode.set(id, step);
    return step;
  };
  const us = new Map<ColdStep, number>();
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    if (window !== null && (at < window.fromUs || at > window.toUs)) continue;
    const step = classify(profile.samples[i] as number);
    if (step === 'idle') continue;
    us.set(step, (us.get(step) ?? 0) + (profile.timeDeltas[i + 1] ?? 0));
  }
  const busyUs = [...us.values()].reduce((a, b) => a + b, 0);
  const steps = COLD_STEPS.map((step) => {
    const v = us.get(step) ?? 0;
    return {
      step,
      cpuMs: round(v / 1000, 1),
      percent: round((100 * v) / Math.max(1, busyUs), 1),
      microsPerRequest: round(v / Math.max(1, requests), 1),
    };
  });
  return { busyMs: round(busyUs / 1000, 1), steps };
}

/** Options of {@link measureColdPath}. */
export interface ColdPathOptions {
  durationSeconds: number;
  warmupSeconds: number;
  connections: number;
  outDir: string;
  log: (line: string) => void;
  /** Fresh tokens signed for the measured run (default: enough for ~2,000 req/s). */
  tokens?: number;
}

/** Runs the cold path under the profiler and charges its CPU to the steps. */
export async function measureColdPath(
  stack: BenchStack,
  o: ColdPathOptions,
): Promise<ColdPathResult> {
  const tokens = o.tokens ?? Math.max(2_000, 2_000 * o.durationSeconds);
  const warm = Math.min(2_000, Math.ceil(tokens / 4));
  o.log(`cold-path: signing ${tokens + warm} fresh tokens`);
  const users = stack.users;
  const callers: SeededUser[] = [];
  const pool: string[] = [];
  for (let i = 0; i < tokens + warm; i += 500) {
    const batch = Array.from({ length: Math.min(500, tokens + warm - i) }, (_, k) => {
      const u = users[(i + k) % users.length] as SeededUser;
      callers.push(u);
      return stack.sign(u.user.id);
    });
    pool.push(...(await Promise.all(batch)));
  }
  const dir = join(o.outDir, `cold-path-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  try {
    await stack.restartSidecar(['--cpu-prof', `--cpu-prof-dir=${dir}`]);
    let at = 0;
    let reused = 0;
    const requestOf = (from: number, size: number) => (): BenchRequest => {
      const k = at++;
      if (k >= from + size) reused++;
      const i = from + (k % size);
      // Another user than the caller, far from it in the seed: a look-up the cache has not seen.
      const target = users[(i * 7919 + (users.length >> 1)) % users.length] as SeededUser;
      return {
        method: 'GET',
        path: `/v1/users/${target.user.id}`,
        headers: { authorization: `Bearer ${pool[i] as string}`, 'x-tenant-id': stack.tenantId },
      };
    };
    if (o.warmupSeconds > 0)
      await runLoad({
        url: stack.sidecarUrl,
        connections: o.connections,
        durationSeconds: o.warmupSeconds,
        next: requestOf(tokens, warm),
      });
    at = 0;
    reused = 0;
    const fromUs = Number(process.hrtime.bigint() / 1000n);
    const load = await runLoad({
      url: stack.sidecarUrl,
      connections: o.connections,
      durationSeconds: o.durationSeconds,
      drainMs: 0,
      next: requestOf(0, tokens),
    });
    const toUs = Number(process.hrtime.bigint() / 1000n);
    await stack.restartSidecar();
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (file === undefined) throw new Error(`cold-path: the sidecar wrote no profile in ${dir}`);
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
    let shares = stepSharesOf(profile, load.requests, { fromUs, toUs });
    const windowed = shares.busyMs > 0;
    if (!windowed) shares = stepSharesOf(profile, load.requests, null);
    o.log(`cold-path: ${load.rps} req/s, ${load.requests} requests, ${reused} reused tokens`);
    return {
      requests: load.requests,
      rps: load.rps,
      reusedTokens: reused,
      ...shares,
      windowed,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The cold path as a markdown table. */
export function renderColdPath(r: ColdPathResult): string[] {
  const lines = [
    '### Cold path: a request with a token never seen, by step',
    '',
    `GET of another user with a fresh token (one ES256 verification, two user look-ups, one decision, one forward): ${r.requests} requests at ${round(r.rps, 0)} req/s under the profiler, ${r.reusedTokens} of them with a token already sent; ${r.busyMs} ms of sidecar CPU sampled${r.windowed ? ' during the measured run' : ' (the whole profile: the clocks did not line up)'}. Each sample is charged to the deepest frame of a step's code on its stack; what no frame of ours is under (HTTP parsing, sockets) is the runtime's.`,
    '',
    '| step | CPU ms | share | CPU µs per request |',
    '| --- | ---: | ---: | ---: |',
  ];
  for (const s of r.steps)
    lines.push(`| ${s.step} | ${s.cpuMs} | ${s.percent}% | ${s.microsPerRequest} |`);
  return lines;
}
