/** Prometheus metrics of the sidecar (prom-client), on a registry of its own. */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { DecisionSource } from './authz/decision-cache.js';
import type { FairSchedulerStats } from './fair-scheduler.js';
import type { RequestGateStats } from './request-gate.js';
import { createTalliedHistogram, type TalliedHistogram } from './tallied-histogram.js';

/**
 * The per-request hot path records through these: a tally of plain numbers per label combination,
 * looked up once and kept, which prom-client reads at scrape; prom-client's own children hash their
 * label object on every call (about 1 µs for a counter, 2 µs for the histogram, per request).
 */
export interface RequestRecorders {
  observeRequest(action: string, decision: string, status: number, seconds: number): void;
  /**
   * One decision, by who asked for it (`source`: request, permissions, candidate); the decision
   * cache's hit or miss is counted for the request path's own cache only.
   */
  countDecision(action: string, result: string, cached: boolean, source: DecisionSource): void;
}

/** Running totals the credential and user caches keep for themselves. */
export interface CacheTotals {
  credential: { hits: number; misses: number };
  user: { hits: number; misses: number };
}

export interface SidecarMetrics extends RequestRecorders {
  registry: Registry;
  requestDuration: TalliedHistogram;
  decisions: Counter<'action' | 'result' | 'source'>;
  cacheEvents: Counter<'cache' | 'result'>;
  policyReloads: Counter<'result'>;
  upstreamErrors: Counter<'kind'>;
  /** Failed fetches (or re-reads) of an issuer's key set, by issuer. */
  keyFetchFailures: Counter<'issuer'>;
  /** Requests the candidate set in shadow decided: agree, disagree, dropped, unloaded. */
  candidateDecisions: Counter<'agreement'>;
  /** The fair scheduler's queue depth, running steps and refusals, read at each scrape. */
  watchFairness(read: () => FairSchedulerStats): void;
  /** The caches' totals, read at each scrape and turned into counter increments. */
  countCaches(read: () => CacheTotals): void;
  /** The compiled decider's cross-checks by cedar-wasm (checked, disagreeing), read at each scrape. */
  watchCrosschecks(read: () => { checked: number; disagreements: number }): void;
  /** The change stream's lag and the caches dropped for lost events, read at each scrape. */
  watchEvents(read: () => EventTotals): void;
  /** The request gate's waiting requests and refusals by reason, read at each scrape. */
  watchGate(read: () => RequestGateStats): void;
}

/** The change stream's state, as the cluster reports it. */
export interface EventTotals {
  lagSeconds: number;
  cachesDropped: number;
  generationChanges: number;
}

export function createSidecarMetrics(): SidecarMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'cedargate_' });
  return {
    registry,
    ...createRequestRecorders(registry),
    ...createOutcomeCounters(registry),
    watchFairness: (read) => watchFairness(registry, read),
    watchGate: (read) => watchGate(registry, read),
    watchCrosschecks: (read) => watchCrosschecks(registry, read),
    watchEvents: (read) => watchEvents(registry, read),
  };
}

/** The per-request histogram and decision counter, with their memoized tallies. */
function createRequestRecorders(registry: Registry) {
  const requestDuration = createTalliedHistogram({
    name: 'cedargate_request_duration_seconds',
    help: 'Time from request to response through the sidecar, by action, decision and status',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registry,
  });
  const counted: { labels: Record<'action' | 'result' | 'source', string>; n: number }[] = [];
  const decisions: Counter<'action' | 'result' | 'source'> = new Counter({
    name: 'cedargate_decisions_total',
    help: 'Policy decisions by action, result (allow, deny, shadow_deny) and who asked for them (source: request, permissions, candidate)',
    labelNames: ['action', 'result', 'source'],
    registers: [registry],
    // prom-client calls this on every scrape, before it reads the values.
    collect() {
      for (const c of counted) {
        if (c.n > 0) decisions.inc(c.labels, c.n);
        c.n = 0;
      }
    },
  });
  const caches = createCacheEvents(registry);
  const durationOf = memoize3((action: string, decision: string, status: number) =>
    requestDuration.tally({ action, decision, status: String(status) }),
  );
  const decisionsOf = memoize3((action: string, result: string, source: DecisionSource) => {
    const c = { labels: { action, result, source }, n: 0 };
    counted.push(c);
    return c;
  });
  return {
    requestDuration,
    decisions,
    cacheEvents: caches.counter,
    countCaches: (read: () => CacheTotals) => caches.countCaches(read),
    observeRequest(action: string, decision: string, status: number, seconds: number) {
      durationOf(action, decision, status).observe(seconds);
    },
    countDecision(action: string, result: string, cached: boolean, source: DecisionSource) {
      decisionsOf(action, result, source).n++;
      if (source === 'request') caches.decisions[cached ? 'hits' : 'misses']++;
    },
  };
}

/** The counters the other parts increment themselves (reloads, shadow, key fetches, upstream). */
function createOutcomeCounters(registry: Registry) {
  return {
    policyReloads: new Counter({
      name: 'cedargate_policy_reloads_total',
      help: 'Policy reloads by result (success, failure, unchanged)',
      labelNames: ['result'],
      registers: [registry],
    }),
    candidateDecisions: new Counter({
      name: 'cedargate_candidate_decisions_total',
      help: 'Requests the candidate policy set (CANDIDATE_POLICY_DIR) decided in shadow, by agreement with the enforced set (agree, disagree), or not compared (dropped: the candidate fell behind; unloaded: it has not loaded)',
      labelNames: ['agreement'],
      registers: [registry],
    }),
    keyFetchFailures: new Counter({
      name: 'cedargate_jwks_fetch_failures_total',
      help: "Failed fetches of an issuer's key set (or its discovery document, or a re-read of its file), by issuer",
      labelNames: ['issuer'],
      registers: [registry],
    }),
    upstreamErrors: new Counter({
      name: 'cedargate_upstream_errors_total',
      help: 'Failed calls to the users backend by kind (unavailable, timeout)',
      labelNames: ['kind'],
      registers: [registry],
    }),
  };
}

/**
 * A counter that follows a running total kept elsewhere: at each scrape, prom-client calls
 * `collect()`, which adds what the total grew by since the last one.
 */
function followTotal(registry: Registry, name: string, help: string, read: () => number): void {
  let counted = 0;
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const now = read();
      if (now > counted) this.inc(now - counted);
      counted = now;
    },
  });
}

/** The change stream's lag (a gauge) and its losses (counters), read at each scrape. */
function watchEvents(registry: Registry, read: () => EventTotals): void {
  new Gauge({
    name: 'cedargate_event_lag_seconds',
    help: 'How far behind the change-event stream this replica is (while unreadable: for how long)',
    registers: [registry],
    collect() {
      this.set(read().lagSeconds);
    },
  });
  followTotal(
    registry,
    'cedargate_event_caches_dropped_total',
    'Times the user and decision caches were dropped because change events were lost',
    () => read().cachesDropped,
  );
  followTotal(
    registry,
    'cedargate_store_generation_changes_total',
    'Times the store came back with less data than this replica had seen (a new generation)',
    () => read().generationChanges,
  );
}

/**
 * The fair scheduler's gauges and refusal counter. No tenant label: tenants are unbounded, and
 * /status names nobody either; the log line of each 503 carries its tenant.
 */
function watchFairness(registry: Registry, read: () => FairSchedulerStats): void {
  new Gauge({
    name: 'cedargate_fair_queued',
    help: "Uncached steps (cold credentials, uncached decisions, permissions answers, user look-ups that miss) waiting for their tenant's turn",
    registers: [registry],
    collect() {
      this.set(read().queued);
    },
  });
  new Gauge({
    name: 'cedargate_fair_tenants_waiting',
    help: 'Tenants with uncached steps waiting for their turn',
    registers: [registry],
    collect() {
      this.set(read().tenantsWaiting);
    },
  });
  followTotal(
    registry,
    'cedargate_fair_rejections_total',
    'Uncached steps refused with 503 because their tenant already had FAIR_QUEUE_MAX waiting',
    () => read().rejected,
  );
}

/**
 * The request gate's refusals, by reason, and the requests waiting at it. No tenant label, as
 * for the fair scheduler: the 503's decision line names the tenant.
 */
function watchGate(registry: Registry, read: () => RequestGateStats): void {
  new Gauge({
    name: 'cedargate_gate_waiting',
    help: "Requests waiting at the request gate for their tenant's share while the event loop is busy",
    registers: [registry],
    collect() {
      this.set(read().waiting);
    },
  });
  const counted = new Map<string, number>();
  const shed: Counter<'reason'> = new Counter({
    name: 'cedargate_requests_shed_total',
    help: "Requests the request gate refused with 503 unavailable, by reason (tenant_queue_full: FAIR_QUEUE_MAX of the tenant's requests already waiting)",
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      for (const [reason, now] of Object.entries(read().shed)) {
        const before = counted.get(reason) ?? 0;
        shed.inc({ reason }, Math.max(0, now - before));
        counted.set(reason, Math.max(before, now));
      }
    },
  });
}

/**
 * `make`, called once per distinct pair; later calls get the kept result. Nested maps, so that a
 * lookup builds no key string (the per-request cost the memo is there to save).
 */
function memoize2<A, B, R>(make: (a: A, b: B) => R): (a: A, b: B) => R {
  const kept = new Map<A, Map<B, R>>();
  return (a, b) => {
    let inner = kept.get(a);
    if (inner === undefined) kept.set(a, (inner = new Map<B, R>()));
    let value = inner.get(b);
    if (value === undefined) inner.set(b, (value = make(a, b)));
    return value;
  };
}

/** {@link memoize2} for three arguments. */
function memoize3<A, B, C, R>(make: (a: A, b: B, c: C) => R): (a: A, b: B, c: C) => R {
  const kept = new Map<A, (b: B, c: C) => R>();
  return (a, b, c) => {
    let inner = kept.get(a);
    if (inner === undefined) kept.set(a, (inner = memoize2((b2: B, c2: C) => make(a, b2, c2))));
    return inner(b, c);
  };
}

/**
 * The cache counter. The decision cache's counts are bumped per request, the credential and user
 * caches keep their own totals; prom-client's `collect()` turns both into increments per scrape.
 */
function createCacheEvents(registry: Registry) {
  let readCaches: (() => CacheTotals) | undefined;
  const seen: CacheTotals = { credential: { hits: 0, misses: 0 }, user: { hits: 0, misses: 0 } };
  // The decision cache's counts since the last scrape, bumped per request.
  const decisions = { hits: 0, misses: 0 };
  const counter: Counter<'cache' | 'result'> = new Counter({
    name: 'cedargate_cache_events_total',
    help: 'Cache hits and misses by cache (credential, user, decision)',
    labelNames: ['cache', 'result'],
    registers: [registry],
    // prom-client calls this on every scrape, before it reads the values.
    collect() {
      if (decisions.hits > 0) counter.inc({ cache: 'decision', result: 'hit' }, decisions.hits);
      if (decisions.misses > 0)
        counter.inc({ cache: 'decision', result: 'miss' }, decisions.misses);
      decisions.hits = 0;
      decisions.misses = 0;
      if (readCaches === undefined) return;
      const now = readCaches();
      for (const cache of ['credential', 'user'] as const) {
        counter.inc({ cache, result: 'hit' }, now[cache].hits - seen[cache].hits);
        counter.inc({ cache, result: 'miss' }, now[cache].misses - seen[cache].misses);
        seen[cache] = { hits: now[cache].hits, misses: now[cache].misses };
      }
    },
  });
  return {
    counter,
    decisions,
    countCaches(read: () => CacheTotals): void {
      readCaches = read;
    },
  };
}

/** Counters that follow totals kept elsewhere (the policy store's cross-check counts). */
function watchCrosschecks(
  registry: Registry,
  read: () => { checked: number; disagreements: number },
): void {
  followTotal(
    registry,
    'cedargate_decision_crosschecks_total',
    'Compiled decisions decided again by cedar-wasm (DECISION_CROSSCHECK_RATE)',
    () => read().checked,
  );
  followTotal(
    registry,
    'cedargate_decision_crosscheck_disagreements_total',
    'Cross-checked decisions where cedar-wasm answered otherwise than the compiled decider (each turns the compiled path off for that policy set)',
    () => read().disagreements,
  );
}
