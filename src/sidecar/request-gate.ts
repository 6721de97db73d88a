/**
 * Fair admission of whole requests (issue 22, item 4). The fair scheduler (fair-scheduler.ts)
 * orders the expensive uncached steps; but a flood of cached requests is cheap one by one and
 * costly together: each is parsed, looked up, decided from the cache and proxied on the one
 * event loop, in arrival order, so a tenant with eight requests in flight gets eight turns of
 * the loop for every one of a tenant with one.
 *
 * So, while the sidecar is busy (in a sample of the last second, its event loop or its CPU past
 * a threshold: createLoopBusy) and more than one tenant is present (a request in the pipeline,
 * or one done within `lingerMs`: a client of one connection is away between its answer and its
 * next request, and must not lose its place to a flood meanwhile), each tenant may have at most
 * its share of `concurrency` (at least one) past this gate; the rest wait in their tenant's own
 * bounded queue, let in round robin as places free. When the loop is not busy, or one tenant is alone, every request passes
 * at once: the gate costs a counter, and a slow backend never throttles anyone.
 * Past its queue's bound a tenant is refused 503 `unavailable` with Retry-After.
 */
import { performance } from 'node:perf_hooks';
import { UnavailableError } from '../errors.js';

/** Options of {@link createRequestGate}. */
export interface RequestGateOptions {
  /** The places shared among the tenants with requests in flight, while busy (FAIR_CONCURRENCY). */
  concurrency: number;
  /** Requests one tenant may have waiting here (FAIR_QUEUE_MAX); past it, 503. */
  queueMax: number;
  /** Whether the event loop is busy now; default {@link createLoopBusy}. */
  busy: () => boolean;
  retryAfterSeconds?: number;
  /** How long a tenant stays present after its last request (default 1000 ms). */
  lingerMs?: number;
  now?: () => number;
  /** Told when a tenant is refused (metrics). */
  onRejected?: (tenant: string) => void;
}

/** Leaves the gate (once; later calls do nothing). */
export type Leave = () => void;

/** Why the gate refused a request (the `reason` of `cedargate_requests_shed_total`). */
export type ShedReason = 'tenant_queue_full';

/** The gate's counts, for /status and /metrics: no tenant named, so they stay bounded. */
export interface RequestGateStats {
  /** Requests past the gate now, over all tenants. */
  inside: number;
  /** Requests waiting at it now, over all tenants. */
  waiting: number;
  /** Whether the event loop counts as busy now (the gate holds requests back only then). */
  busy: boolean;
  /** Requests refused with 503 since start, by reason. */
  shed: Record<ShedReason, number>;
}

export interface RequestGate {
  /** Resolves once `tenant` may go on; throws 503 at once when its queue is full. */
  enter(tenant: string): Promise<Leave>;
  /** Forgets tenants gone for `lingerMs`, then lets in whoever may go on now (the sampler's). */
  tick(): void;
  stats(): RequestGateStats;
}

interface Tenant {
  inside: number;
  waiting: ((leave: Leave) => void)[];
  /** When its last request left. */
  leftAt: number;
}

/** Builds a gate; see the module comment. */
export function createRequestGate(options: RequestGateOptions): RequestGate {
  const { concurrency, queueMax, busy } = options;
  const lingerMs = options.lingerMs ?? 1000;
  const now = options.now ?? Date.now;
  const tenants = new Map<string, Tenant>();
  /** Tenants with requests waiting, in the order they are served. */
  const ring: string[] = [];
  let inside = 0;
  let waiting = 0;
  const shed: Record<ShedReason, number> = { tenant_queue_full: 0 };

  const share = (): number => Math.max(1, Math.floor(concurrency / Math.max(1, tenants.size)));
  const mayPass = (t: Tenant): boolean => tenants.size <= 1 || t.inside < share() || !busy();

  const pass = (t: Tenant): Leave => {
    t.inside++;
    inside++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      t.inside--;
      inside--;
      t.leftAt = now();
      drain();
    };
  };

  const drain = (): void =>
    drainRing(ring, tenants, mayPass, (name, t) => {
      const grant = t.waiting.shift() as (leave: Leave) => void;
      waiting--;
      if (t.waiting.length > 0) ring.push(name);
      grant(pass(t));
    });

  return {
    enter(name) {
      const t = tenants.get(name) ?? { inside: 0, waiting: [], leftAt: 0 };
      tenants.set(name, t);
      if (t.waiting.length === 0 && mayPass(t)) return Promise.resolve(pass(t));
      if (t.waiting.length >= queueMax) {
        shed.tenant_queue_full++;
        return Promise.reject(refusal(options, name));
      }
      const queue = t.waiting;
      if (queue.length === 0) ring.push(name);
      waiting++;
      return new Promise<Leave>((grant) => queue.push(grant));
    },
    tick() {
      const gone = now() - lingerMs;
      for (const [name, t] of tenants)
        if (t.inside === 0 && t.waiting.length === 0 && t.leftAt <= gone) tenants.delete(name);
      drain();
    },
    stats: () => ({ inside, waiting, busy: busy(), shed: { ...shed } }),
  };
}

/** One round robin pass after another over `ring`, while some waiting tenant may go on. */
function drainRing(
  ring: string[],
  tenants: ReadonlyMap<string, Tenant>,
  mayPass: (t: Tenant) => boolean,
  grantTo: (name: string, t: Tenant) => void,
): void {
  for (let blocked = 0; ring.length > 0 && blocked < ring.length;) {
    const name = ring.shift() as string;
    const t = tenants.get(name) as Tenant;
    if (!mayPass(t)) {
      ring.push(name);
      blocked++;
      continue;
    }
    blocked = 0;
    grantTo(name, t);
  }
}

/** The 503 a tenant gets past its own queue (counted by `onRejected`). */
function refusal(options: RequestGateOptions, name: string): UnavailableError {
  options.onRejected?.(name);
  return new UnavailableError('too many requests from this tenant are waiting; try again', {
    retryAfterSeconds: options.retryAfterSeconds ?? 1,
  });
}

/** Options of {@link createLoopBusy}. */
export interface LoopBusyOptions {
  /** How often the loop is sampled (default 100 ms). */
  sampleMs?: number;
  /** The share of a sample, of the loop's time or of one core's, that makes it busy (0.8). */
  threshold?: number;
  /** How long the loop stays busy after the last busy sample (default 1000 ms). */
  holdMs?: number;
  /** Runs after each sample (the gate's drain). */
  onSample?: () => void;
}

/** What one sample saw: the share of the loop's time used, and the cores the process used. */
export interface LoadSample {
  loop: number;
  cores: number;
}

/**
 * Busy from a sample that reached `threshold` (of the loop's time, or of one core) until
 * `holdMs` after it. The hold is there because the gate itself makes the loop less busy: let go
 * at the first quiet sample, the flood it held came back in whole at the next one, and the gate
 * was open about half the time under a steady flood (issue 22 item 4: busy in 35% to 48% of
 * the samples of a plain-GET flood; with the hold, 96% to 100%).
 */
export function createBusyWindow(options: {
  threshold: number;
  holdMs: number;
  now: () => number;
}): { record(sample: LoadSample): void; busy(): boolean } {
  const { threshold, holdMs, now } = options;
  let busyUntil = -Infinity;
  return {
    record({ loop, cores }) {
      if (loop >= threshold || cores >= threshold) busyUntil = now() + holdMs;
    },
    busy: () => now() < busyUntil,
  };
}

/**
 * Whether the sidecar is busy ({@link createBusyWindow}), sampled by an unref'd timer every
 * `sampleMs`: the event loop's utilization, and the process's CPU over the same time. The CPU
 * counts the work off the loop — a cold ES256 verification runs on libuv's threads — which the
 * other tenants' requests lack as much.
 */
export function createLoopBusy(options: LoopBusyOptions = {}): {
  busy: () => boolean;
  close: () => void;
} {
  const window = createBusyWindow({
    threshold: options.threshold ?? 0.8,
    holdMs: options.holdMs ?? 1000,
    now: () => performance.now(),
  });
  let last = performance.eventLoopUtilization();
  let lastCpu = process.cpuUsage();
  let lastAt = performance.now();
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const cpu = process.cpuUsage(lastCpu);
    const at = performance.now();
    window.record({
      loop: performance.eventLoopUtilization(now, last).utilization,
      cores: (cpu.user + cpu.system) / 1000 / Math.max(1, at - lastAt),
    });
    last = now;
    lastCpu = process.cpuUsage();
    lastAt = at;
    options.onSample?.();
  }, options.sampleMs ?? 100);
  timer.unref();
  return { busy: () => window.busy(), close: () => clearInterval(timer) };
}
