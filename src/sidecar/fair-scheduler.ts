/**
 * A scheduler of the sidecar's expensive, uncached steps that is fair across tenants (issue 22,
 * item 4): verifying a credential not seen before, an uncached decision, a permissions answer,
 * a user look-up that misses. Node runs them all on one thread; left to the event loop, a tenant
 * with eight requests in flight gets eight turns for every one of a tenant with one, and its
 * uncached work (a cold ES256 verification, 25 Cedar decisions) sits in front of everyone's.
 *
 * Here each tenant has its own bounded queue; the queues are served by deficit round robin
 * (each step declares its cost — a permissions answer costs its decisions — so a tenant's share
 * is counted in work, not in steps), and at most `concurrency` steps run at once, so that the
 * queues, not the arrival order, decide what runs next. Between two steps the scheduler yields
 * to the event loop (setImmediate): a synchronous step (Cedar, ES256) never runs back to back
 * with the next while other requests' I/O waits. Past its queue's bound a tenant is refused 503
 * `unavailable` with Retry-After; the other tenants' queues are untouched.
 *
 * Cached work never comes here: the caller asks the scheduler only when its cache missed.
 */
import { UnavailableError } from '../errors.js';

/** Options of {@link createFairScheduler}. */
export interface FairSchedulerOptions {
  /** Steps running at once (FAIR_CONCURRENCY). */
  concurrency: number;
  /** Steps one tenant may have waiting (FAIR_QUEUE_MAX); past it, 503. */
  queueMax: number;
  /** The Retry-After of a refusal, in seconds (default 1). */
  retryAfterSeconds?: number;
  /** Runs `fn` after pending I/O (default setImmediate); tests pass their own. */
  defer?: (fn: () => void) => void;
  /** Told when a tenant is refused (metrics). */
  onRejected?: (tenant: string) => void;
}

/** A place to run one step: call `release` when it is done (once; later calls do nothing). */
export type Release = () => void;

/** The scheduler's counts, for /status and /metrics. */
export interface FairSchedulerStats {
  running: number;
  /** Steps waiting, over all tenants. */
  queued: number;
  /** Tenants with steps waiting. */
  tenantsWaiting: number;
  /** Steps refused because their tenant's queue was full, since start. */
  rejected: number;
}

export interface FairScheduler {
  /**
   * Waits for `tenant`'s turn to run a step of `cost` (≥ 1); resolves to its release. Throws
   * UnavailableError (503, Retry-After) at once when the tenant's queue is full.
   */
  acquire(tenant: string, cost: number): Promise<Release>;
  /** Runs `work` in `tenant`'s turn and releases after it, whatever it does. */
  run<T>(tenant: string, cost: number, work: () => T | Promise<T>): Promise<T>;
  /** Steps waiting for `tenant` now. */
  depth(tenant: string): number;
  stats(): FairSchedulerStats;
}

interface Waiter {
  cost: number;
  grant: (release: Release) => void;
}

interface TenantQueue {
  tenant: string;
  waiting: Waiter[];
  /** What the tenant has earned and not spent (deficit round robin, one unit per visit). */
  deficit: number;
}

/** The scheduler's state, shared by the steps below. */
interface SchedulerState {
  readonly concurrency: number;
  readonly queueMax: number;
  readonly retryAfterSeconds: number;
  readonly defer: (fn: () => void) => void;
  readonly onRejected: ((tenant: string) => void) | undefined;
  /** The tenants with steps waiting, by name. */
  readonly queues: Map<string, TenantQueue>;
  /** Tenants with steps waiting, in service order; the head is served next. */
  readonly ring: TenantQueue[];
  running: number;
  queued: number;
  rejected: number;
  dispatchPending: boolean;
}

/** Builds a scheduler; see the module comment. */
export function createFairScheduler(options: FairSchedulerOptions): FairScheduler {
  const state = initialState(options);
  const acquire = (tenant: string, cost: number): Promise<Release> =>
    acquireStep(state, tenant, cost);
  return {
    acquire,
    async run(tenant, cost, work) {
      const release = await acquire(tenant, cost);
      try {
        return await work();
      } finally {
        release();
      }
    },
    depth: (tenant) => state.queues.get(tenant)?.waiting.length ?? 0,
    stats: () => ({
      running: state.running,
      queued: state.queued,
      tenantsWaiting: state.ring.length,
      rejected: state.rejected,
    }),
  };
}

/** Checks the options (a bound under 1 is a mistake, not a request to run nothing). */
function initialState(options: FairSchedulerOptions): SchedulerState {
  const { concurrency, queueMax } = options;
  if (!(Number.isSafeInteger(concurrency) && concurrency >= 1))
    throw new Error(`concurrency must be a whole number ≥ 1, got ${concurrency}`);
  if (!(Number.isSafeInteger(queueMax) && queueMax >= 1))
    throw new Error(`queueMax must be a whole number ≥ 1, got ${queueMax}`);
  return {
    concurrency,
    queueMax,
    retryAfterSeconds: options.retryAfterSeconds ?? 1,
    defer: options.defer ?? ((fn: () => void) => void setImmediate(fn)),
    onRejected: options.onRejected,
    queues: new Map(),
    ring: [],
    running: 0,
    queued: 0,
    rejected: 0,
    dispatchPending: false,
  };
}

/** Queues one step of `tenant`, or refuses it at once when the tenant's queue is full. */
function acquireStep(s: SchedulerState, tenant: string, cost: number): Promise<Release> {
  let q = s.queues.get(tenant);
  if (q !== undefined && q.waiting.length >= s.queueMax) {
    s.rejected++;
    s.onRejected?.(tenant);
    return Promise.reject(
      new UnavailableError('too much uncached work from this tenant is waiting; try again', {
        retryAfterSeconds: s.retryAfterSeconds,
      }),
    );
  }
  if (q === undefined) {
    q = { tenant, waiting: [], deficit: 0 };
    s.queues.set(tenant, q);
    s.ring.push(q);
  }
  const waiting = q.waiting;
  s.queued++;
  const granted = new Promise<Release>((grant) => {
    waiting.push({ cost: Math.max(1, Math.ceil(cost)), grant });
  });
  scheduleDispatch(s);
  return granted;
}

/** Asks for a dispatch after pending I/O, unless one is asked for or nothing may start. */
function scheduleDispatch(s: SchedulerState): void {
  if (s.dispatchPending || s.ring.length === 0 || s.running >= s.concurrency) return;
  s.dispatchPending = true;
  s.defer(() => dispatch(s));
}

/** Starts one step (the next by deficit round robin), then yields again. */
function dispatch(s: SchedulerState): void {
  s.dispatchPending = false;
  if (s.running >= s.concurrency) return;
  const next = takeNext(s);
  if (next === undefined) return;
  s.running++;
  next.grant(releaseOf(s));
  scheduleDispatch(s);
}

/** The release of one running step: frees its place once, then dispatches again. */
function releaseOf(s: SchedulerState): Release {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    s.running--;
    scheduleDispatch(s);
  };
}

/**
 * Deficit round robin, one step per visit: each visit earns the tenant one unit of cost, and
 * its next step runs once it has earned that step's cost; then the tenant goes to the back of
 * the ring. A tenant of one-unit steps alternates with every other; a step of 25 units waits
 * until the others have run about 25 units of theirs.
 */
function takeNext(s: SchedulerState): Waiter | undefined {
  const { ring } = s;
  for (let unserved = 0; ;) {
    const q = ring.shift();
    if (q === undefined) return undefined;
    q.deficit += 1;
    const head = q.waiting[0] as Waiter;
    if (q.deficit >= head.cost) {
      q.deficit -= head.cost;
      q.waiting.shift();
      s.queued--;
      // An idle tenant keeps no credit, and no entry: the map holds waiting tenants only.
      if (q.waiting.length === 0) s.queues.delete(q.tenant);
      else ring.push(q);
      return head;
    }
    ring.push(q);
    if (++unserved >= ring.length) {
      // A whole pass and nobody could pay: give every tenant the rounds it would take the
      // nearest one to get there, at once, instead of going round that many times.
      skipRounds(ring);
      unserved = 0;
    }
  }
}

function skipRounds(ring: readonly TenantQueue[]): void {
  let rounds = Infinity;
  for (const q of ring) rounds = Math.min(rounds, (q.waiting[0] as Waiter).cost - q.deficit - 1);
  if (rounds > 0) for (const q of ring) q.deficit += rounds;
}
