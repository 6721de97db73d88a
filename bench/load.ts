/**
 * One load run with autocannon (as a library). autocannon's own latency histogram has a 1 ms
 * resolution, too coarse for a sidecar whose budget is under a millisecond, so every response
 * time (a float in ms from process.hrtime) is also recorded here and the percentiles come from
 * those samples.
 */
import autocannon from 'autocannon';
import { readCpuMicros } from './processes.js';
import { createSamples, percentilesOf, round, type Percentiles } from './stats.js';

const DEFAULT_DRAIN_MS = 500;

/** One HTTP request of a scenario. */
export interface BenchRequest {
  method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  path: string;
  headers: Record<string, string>;
  body?: string;
}

/** What one run measured. */
export interface LoadResult {
  durationSeconds: number;
  connections: number;
  /** The fixed overall rate asked for, or null when saturating. */
  targetRate: number | null;
  requests: number;
  rps: number;
  /** Over 2xx responses, in ms. */
  latencyMs: Percentiles;
  non2xx: number;
  statusCodes: Record<string, number>;
  errors: number;
  timeouts: number;
  /** CPU time per answered request, in µs, of each watched process and of the load generator. */
  cpuMicrosPerRequest: Record<string, number>;
}

/** Options of {@link runLoad}. */
export interface LoadOptions {
  url: string;
  /**
   * Several servers of one kind (replicas): one autocannon each, at the same time, sharing the
   * connections and the rate evenly; `url` is then ignored.
   */
  urls?: readonly string[];
  /** Called as soon as the run ends, before the drain (e.g. to read the servers' counters). */
  afterRun?: () => Promise<void>;
  connections: number;
  durationSeconds: number;
  /** Requests per second over all connections; omitted = as fast as the server answers. */
  overallRate?: number;
  /** Pause after the run (default 500 ms). */
  drainMs?: number;
  /** Processes whose CPU time per request is reported (the servers on the path). */
  watch?: readonly { name: string; pid: number }[];
  /** Called once per request sent, in order. */
  next: () => BenchRequest;
}

/** Drives `options.next()` requests at `options.url` and measures them. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const samples = createSamples();
  const statusCodes: Record<string, number> = {};
  let non2xx = 0;
  const urls = options.urls ?? [options.url];
  const share = (total: number, i: number): number =>
    Math.max(1, Math.floor(total / urls.length) + (i < total % urls.length ? 1 : 0));
  // Without a callback autocannon returns its instance, which is also a promise of the result.
  const watched = options.watch ?? [];
  const cpuBefore = watched.map((p) => readCpuMicros(p.pid));
  const selfBefore = process.cpuUsage();
  const instances = urls.map((url, i) => {
    const opts: autocannon.Options = {
      url,
      connections: share(options.connections, i),
      duration: options.durationSeconds,
      requests: [{ setupRequest: () => options.next() }],
    };
    if (options.overallRate !== undefined) opts.overallRate = share(options.overallRate, i);
    const instance = autocannon(opts) as unknown as autocannon.Instance &
      PromiseLike<autocannon.Result>;
    instance.on('response', ((_client: unknown, status: number, _bytes: number, ms: number) => {
      statusCodes[status] = (statusCodes[status] ?? 0) + 1;
      if (status >= 200 && status < 300) samples.push(ms);
      else non2xx++;
    }) as never);
    return instance;
  });
  const results = await Promise.all(instances);
  const self = process.cpuUsage(selfBefore);
  const cpuAfter = watched.map((p) => readCpuMicros(p.pid));
  await options.afterRun?.();
  // autocannon cuts its connections at the deadline; the requests it abandoned still run in the
  // servers. Let them finish, so they neither load the next run nor race its first requests.
  await new Promise((r) => setTimeout(r, options.drainMs ?? DEFAULT_DRAIN_MS));
  const requests = samples.length + non2xx;
  const perRequest = (micros: number) => round(micros / Math.max(1, requests), 1);
  const cpuMicrosPerRequest: Record<string, number> = {};
  watched.forEach((p, i) => {
    const [before, after] = [cpuBefore[i], cpuAfter[i]];
    if (before !== undefined && after !== undefined)
      cpuMicrosPerRequest[p.name] = perRequest(after - before);
  });
  cpuMicrosPerRequest['load generator'] = perRequest(self.user + self.system);
  return {
    durationSeconds: options.durationSeconds,
    connections: options.connections,
    targetRate: options.overallRate ?? null,
    requests,
    rps: round(requests / options.durationSeconds, 1),
    latencyMs: roundAll(percentilesOf(samples.sorted())),
    non2xx,
    statusCodes,
    errors: results.reduce((n, r) => n + r.errors, 0),
    timeouts: results.reduce((n, r) => n + r.timeouts, 0),
    cpuMicrosPerRequest,
  };
}

function roundAll(p: Percentiles): Percentiles {
  return { p50: round(p.p50), p99: round(p.p99), p999: round(p.p999), max: round(p.max) };
}
