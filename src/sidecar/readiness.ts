/**
 * /readyz: ready while the backend answers, the cluster channel (if any) is healthy — each of
 * its Redis connections is listed — and the sidecar is not draining. The backend is pinged at most once a second, however often probes come.
 */
import type { SidecarCluster } from './server.js';

/** What /readyz answers: ready or not, and what each check found. */
export interface Readiness {
  ready: boolean;
  checks: Record<string, string>;
}

export interface ReadinessDeps {
  policyVersion(): string;
  pingBackend(): Promise<void>;
  cluster?: SidecarCluster | undefined;
  draining(): boolean;
  /** Clock, for tests. */
  now?: () => number;
}

/** How long one backend ping answers for. */
const PING_EVERY_MS = 1000;

export function createReadiness(deps: ReadinessDeps): () => Promise<Readiness> {
  const now = deps.now ?? Date.now;
  let backend = { at: -Infinity, ok: false };
  return async () => {
    const checks: Record<string, string> = { policies: `loaded ${deps.policyVersion()}` };
    if (now() - backend.at > PING_EVERY_MS) {
      backend = await deps.pingBackend().then(
        () => ({ at: now(), ok: true }),
        () => ({ at: now(), ok: false }),
      );
    }
    checks.backend = backend.ok ? 'ok' : 'unreachable';
    const draining = deps.draining();
    let ready = backend.ok && !draining;
    if (deps.cluster !== undefined) {
      const h = deps.cluster.health();
      checks.redis = h.detail;
      Object.assign(checks, h.checks);
      ready = ready && h.ok;
    }
    if (draining) checks.shutdown = 'draining';
    return { ready, checks };
  };
}
