/** Prometheus metrics of the sidecar (prom-client), on a registry of its own. */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface SidecarMetrics {
  registry: Registry;
  requestDuration: Histogram<'action' | 'decision' | 'status'>;
  decisions: Counter<'action' | 'result'>;
  cacheEvents: Counter<'cache' | 'result'>;
  policyReloads: Counter<'result'>;
  upstreamErrors: Counter<'kind'>;
}

export function createSidecarMetrics(): SidecarMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'cedargate_' });
  return {
    registry,
    requestDuration: new Histogram({
      name: 'cedargate_request_duration_seconds',
      help: 'Time from request to response through the sidecar, by action, decision and status',
      labelNames: ['action', 'decision', 'status'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    decisions: new Counter({
      name: 'cedargate_decisions_total',
      help: 'Policy decisions by action and result (allow, deny, shadow_deny)',
      labelNames: ['action', 'result'],
      registers: [registry],
    }),
    cacheEvents: new Counter({
      name: 'cedargate_cache_events_total',
      help: 'Cache hits and misses by cache (credential, user, decision)',
      labelNames: ['cache', 'result'],
      registers: [registry],
    }),
    policyReloads: new Counter({
      name: 'cedargate_policy_reloads_total',
      help: 'Policy reloads by result (success, failure, unchanged)',
      labelNames: ['result'],
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
