/**
 * What the sidecar asks of the cluster channel, whatever implements it (src/sidecar/cluster/redis-cluster.ts
 * on Redis): the interface the request path, readiness and /status are written against.
 */
import type { RevocationCheck } from '../authn/verifier.js';

/**
 * What several replicas share (implemented on Redis): the change-event stream (invalidation)
 * and token revocation. A single replica runs without one.
 */
export interface SidecarCluster {
  /** Starts following; the handlers run for changes made through any replica. */
  start(handlers: {
    onUserChanged(tenantId: string, userId: string): void;
    /** The stream cannot be trusted now (unread, lagging, or no way to check): keep caches short. */
    onDegraded(): void;
    /** Trusted again: caches may be kept for their full TTL. */
    onRecovered(): void;
    /** Events were lost (trimmed before they were read): drop every cache. */
    onEventsLost(): void;
  }): Promise<void>;
  /**
   * Resolves once every change this replica must enforce on a request arriving now has been
   * applied here (EVENT_CONSISTENCY: everything the stream held when called, or everything
   * acknowledged more than EVENT_MAX_STALENESS_MS ago), or at once when that cannot be known
   * (the channel then being degraded). A replica too far behind decides on facts read now;
   * rejects (UnavailableError) only when it cannot read them either.
   */
  catchUp(): Promise<void>;
  /** Before /readyz looks at `health`: lets a reader that is only a moment late catch up. */
  settle?(): Promise<void>;
  revocation: RevocationCheck;
  /** For /readyz: overall, and one line per Redis connection. */
  health(): { ok: boolean; detail: string; checks: Record<string, string> };
  /** For /status. */
  status(): ClusterStatus;
  close(): Promise<void>;
}

/** What /status says about the cluster channel. */
export interface ClusterStatus {
  ok: boolean;
  detail: string;
  checks: Record<string, string>;
  reader: string;
  applied_id: string | null;
  newest_id: string;
  lag_seconds: number;
  max_lag_ms: number;
  degraded: boolean;
  check_each_request: boolean;
  /** EVENT_CONSISTENCY, its bound (`bounded` only) and how long ago the reader was caught up. */
  consistency: string;
  max_staleness_ms: number | null;
  caught_up_ms_ago: number | null;
  caches_dropped_for_lost_events: number;
  last_loss: { at: string; reason: string } | null;
  /** The store generation this replica knows, and how often it changed under it. */
  store_generation: string | null;
  store_generation_changes: number;
  last_generation_change: { at: string; old: string; new: string; reason: string } | null;
  revoked: { jtis: number; subjects: number };
}
