/** The HTTP servers' limits: how long a request may take, how large its body, how long a socket idles. */
import { atMostRequestTimeout, ConfigError, int, type Env, type Mode } from './env.js';

/** The timeouts of a request's arrival (node's server options). */
export interface RequestTimeouts {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
}

/** How large request bodies may be, one and all together, and how long one may take to arrive. */
export interface BodyLimits {
  bodyLimitBytes: number;
  bodyTimeoutMs: number;
  bodyBudgetBytes: number;
}

/** How long an idle connection is kept, on the servers and toward the backend. */
export interface KeepAlive {
  keepAliveTimeoutMs: number;
  upstreamIdleTimeoutMs: number;
}

export type HttpLimits = RequestTimeouts & BodyLimits & KeepAlive;

/** Every HTTP limit, each checked against the ones it must stay within. */
export function httpLimits(mode: Mode, env: Env): HttpLimits {
  const timeouts = requestTimeouts(env);
  return {
    ...timeouts,
    ...bodyLimits(env, timeouts.requestTimeoutMs),
    ...keepAlive(mode, env),
  };
}

/** node refuses (with a RangeError, at listen time) a headers timeout over the request timeout. */
function requestTimeouts(env: Env): RequestTimeouts {
  const headersTimeoutMs = int(env, 'HEADERS_TIMEOUT_MS', 10_000, 100, 600_000, '10000');
  const requestTimeoutMs = int(env, 'REQUEST_TIMEOUT_MS', 30_000, 100, 600_000, '30000');
  atMostRequestTimeout('HEADERS_TIMEOUT_MS', headersTimeoutMs, requestTimeoutMs, 10_000);
  return { headersTimeoutMs, requestTimeoutMs };
}

function bodyLimits(env: Env, requestTimeoutMs: number): BodyLimits {
  const bodyLimitBytes = int(
    env,
    'BODY_LIMIT_BYTES',
    1024 * 1024,
    1024,
    64 * 1024 * 1024,
    '1048576',
  );
  // A few seconds, and never past the request timeout (node's own 408 would come first).
  const bodyTimeoutDefault = Math.min(5_000, requestTimeoutMs);
  const bodyTimeoutMs = int(
    env,
    'BODY_TIMEOUT_MS',
    bodyTimeoutDefault,
    100,
    600_000,
    String(bodyTimeoutDefault),
  );
  atMostRequestTimeout('BODY_TIMEOUT_MS', bodyTimeoutMs, requestTimeoutMs, 5_000);
  return { bodyLimitBytes, bodyTimeoutMs, bodyBudgetBytes: bodyBudget(env, bodyLimitBytes) };
}

/** A budget under the per-body limit would refuse a body the limit allows, even alone. */
function bodyBudget(env: Env, bodyLimitBytes: number): number {
  const bodyBudgetBytes = int(
    env,
    'BODY_BUDGET_BYTES',
    64 * 1024 * 1024,
    1024,
    16 * 1024 * 1024 * 1024,
    '67108864',
  );
  if (bodyBudgetBytes < bodyLimitBytes) {
    throw new ConfigError(
      'BODY_BUDGET_BYTES',
      `must be at least BODY_LIMIT_BYTES (${bodyLimitBytes})`,
      String(Math.max(64 * 1024 * 1024, bodyLimitBytes)),
    );
  }
  return bodyBudgetBytes;
}

/** How long the sidecar waits for the backend, and the backend for its store. */
export interface UpstreamTimeouts {
  upstreamTimeoutMs: number;
  storeTimeoutMs: number;
}

/**
 * The backend answers within STORE_TIMEOUT_MS (503 past it), by default a margin under the
 * sidecar's UPSTREAM_TIMEOUT_MS from the same env (`start`, or one ConfigMap for both containers
 * of a pod): a store that cannot answer now (a Sentinel failover) is then the backend's 503,
 * which says whether a write may have been applied, not the sidecar's 504, which cannot.
 */
export function upstreamTimeouts(mode: Mode, env: Env): UpstreamTimeouts {
  const upstreamTimeoutMs = int(env, 'UPSTREAM_TIMEOUT_MS', 5000, 1, 600_000, '5000');
  const storeDefault = Math.max(
    1,
    upstreamTimeoutMs - Math.min(1000, Math.floor(upstreamTimeoutMs / 5)),
  );
  const storeTimeoutMs = int(
    env,
    'STORE_TIMEOUT_MS',
    storeDefault,
    1,
    600_000,
    String(storeDefault),
  );
  if (mode === 'start' && storeTimeoutMs >= upstreamTimeoutMs) {
    throw new ConfigError(
      'STORE_TIMEOUT_MS',
      `must be under UPSTREAM_TIMEOUT_MS (${upstreamTimeoutMs}), or a write the store holds is answered 504 with nothing said of it`,
      String(storeDefault),
    );
  }
  return { upstreamTimeoutMs, storeTimeoutMs };
}

/**
 * By default the sidecar lets a connection to the backend go a margin before the keep-alive
 * timeout the backend shares with it (one env in `start`, the same ConfigMap for both containers
 * of a pod), so it never reuses a socket the backend is about to close.
 */
function keepAlive(mode: Mode, env: Env): KeepAlive {
  const keepAliveTimeoutMs = int(env, 'KEEP_ALIVE_TIMEOUT_MS', 5_000, 100, 600_000, '5000');
  const idleDefault = keepAliveTimeoutMs - Math.min(1000, Math.floor(keepAliveTimeoutMs / 2));
  const upstreamIdleTimeoutMs = int(
    env,
    'UPSTREAM_IDLE_TIMEOUT_MS',
    idleDefault,
    50,
    600_000,
    String(idleDefault),
  );
  if (mode === 'start' && upstreamIdleTimeoutMs >= keepAliveTimeoutMs) {
    throw new ConfigError(
      'UPSTREAM_IDLE_TIMEOUT_MS',
      `must be under KEEP_ALIVE_TIMEOUT_MS (${keepAliveTimeoutMs}), or the sidecar may reuse a connection the backend is closing`,
      String(idleDefault),
    );
  }
  return { keepAliveTimeoutMs, upstreamIdleTimeoutMs };
}
