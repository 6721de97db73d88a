/**
 * /readyz: ready while the backend answers a trusted lookup (the same call a request makes, so
 * a wrong TRUST_SECRET is not ready), every issuer's keys were fetched at least once, the policy
 * engine decides the live set's canaries as the set says (`checks.engine`), the cluster channel (if
 * any) is healthy — each of its Redis
 * connections is listed — and the sidecar is not draining. The backend is pinged at most once a
 * second, however often probes come.
 */
import type { SidecarCluster } from '../cluster/cluster.js';
import { TrustRejectedError } from '../upstream.js';

/** What /readyz answers: ready or not, and what each check found. */
export interface Readiness {
  ready: boolean;
  checks: Record<string, string>;
}

export interface ReadinessDeps {
  policyVersion(): string;
  /** Every issuer's keys fetched at least once (until then, not ready). */
  keys?: () => { ok: boolean; detail: string };
  pingBackend(): Promise<void>;
  cluster?: SidecarCluster | undefined;
  draining(): boolean;
  /** Whether the live engine decides its canaries (policy-store.ts); absent: not checked. */
  engine?: (() => { ok: boolean; detail: string }) | undefined;
  /** Clock, for tests. */
  now?: () => number;
}

/** How long one backend ping answers for. */
const PING_EVERY_MS = 1000;

export function createReadiness(deps: ReadinessDeps): () => Promise<Readiness> {
  const now = deps.now ?? Date.now;
  let backend = { at: -Infinity, ok: false, detail: 'unreachable' };
  return async () => {
    const checks: Record<string, string> = { policies: `loaded ${deps.policyVersion()}` };
    if (now() - backend.at > PING_EVERY_MS) {
      backend = await deps.pingBackend().then(
        () => ({ at: now(), ok: true, detail: 'ok' }),
        (err: unknown) => ({ at: now(), ok: false, detail: backendProblemOf(err) }),
      );
    }
    checks.backend = backend.detail;
    const draining = deps.draining();
    let ready = backend.ok && !draining;
    if (deps.keys !== undefined) {
      const keys = deps.keys();
      checks.keys = keys.detail;
      ready = ready && keys.ok;
    }
    if (deps.engine !== undefined) {
      const engine = deps.engine();
      checks.engine = engine.detail;
      ready = ready && engine.ok;
    }
    if (deps.cluster !== undefined) {
      await deps.cluster.settle?.();
      const h = deps.cluster.health();
      checks.redis = h.detail;
      Object.assign(checks, h.checks);
      ready = ready && h.ok;
    }
    if (draining) checks.shutdown = 'draining';
    return { ready, checks };
  };
}

/** What an operator should read in `checks.backend` for a failed ping. */
function backendProblemOf(err: unknown): string {
  if (err instanceof TrustRejectedError)
    return 'trust secret rejected: TRUST_SECRET differs from the backend';
  return 'unreachable';
}
