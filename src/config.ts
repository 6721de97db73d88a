/**
 * The environment, read once into one typed, frozen object. A bad value stops the process at
 * start with one line naming the variable and an example (contract §2); it is never a bad
 * request.
 */
import { resolve } from 'node:path';
import {
  atMostRequestTimeout,
  bool,
  ConfigError,
  fraction,
  int,
  isHttpUrl,
  line,
  listenHost,
  port,
  str,
  url,
  type Env,
} from './config/env.js';
import { eventConsistency, type EventConsistency } from './config/events.js';
import { claimPath, exclusiveWithIssuersFile, typ } from './config/identity.js';
import { redisTarget } from './config/redis.js';

export { ConfigError, isHttpUrl } from './config/env.js';
export { EVENT_CONSISTENCIES, type EventConsistency } from './config/events.js';

/** DEFAULT_DENY_NOTICE's default: says no rule allows it, and nothing of any policy. */
export const DEFAULT_DENY_NOTICE = 'No policy allows this action for your roles.';

export type Mode = 'start' | 'sidecar' | 'backend' | 'cli';

export interface Config {
  readonly mode: Mode;
  /** Sidecar listen port (all interfaces). */
  readonly port: number;
  readonly host: string;
  /** Admin port: /healthz, /readyz, /metrics, /status. */
  readonly adminPort: number;
  /** Where the admin port listens (ADMIN_HOST): loopback unless set, never HOST. */
  readonly adminHost: string;
  readonly backendPort: number;
  readonly backendHost: string;
  /** Where the sidecar forwards. */
  readonly upstreamUrl: string;
  /** UPSTREAM_URL was set; unset, `start` forwards to the backend it started, wherever it bound. */
  readonly upstreamUrlSet: boolean;
  readonly dataDir: string;
  readonly policyDir: string;
  /** A second policy set decided in shadow beside the enforced one (CANDIDATE_POLICY_DIR). */
  readonly candidatePolicyDir: string | undefined;
  /** REDIS_URL, or REDIS_SENTINELS + REDIS_SENTINEL_NAME as a `redis-sentinel://` target. */
  readonly redisUrl: string | undefined;
  readonly jwksUrl: string | undefined;
  readonly jwksFile: string | undefined;
  readonly jwtIssuer: string;
  /** JWT_ISSUER was set (in `start`, an http(s) issuer without a key source means discovery). */
  readonly jwtIssuerSet: boolean;
  readonly jwtAudience: string;
  /** JWT_TYP: the header `typ` a token must carry; unset: `JWT`, `at+jwt` or none. */
  readonly jwtTyp: string | undefined;
  /** TENANT_CLAIM: a top-level claim name or a JSON Pointer (common/claim-path.ts). */
  readonly tenantClaim: string;
  /** USER_CLAIM: where the user id is, as TENANT_CLAIM (default `sub`). */
  readonly userClaim: string;
  /** ISSUERS_FILE: several issuers (YAML); exclusive with the single-issuer variables. */
  readonly issuersFile: string | undefined;
  /** false = shadow mode: policy denials are logged and forwarded, marked. */
  readonly enforce: boolean;
  /** PLAYGROUND: `/playground` on the admin port; off unless `true` (it answers without a credential). */
  readonly playground: boolean;
  /**
   * DEFAULT_DENY_NOTICE: the one notice of a deny no policy decided (no permit matched, no forbid
   * did): generic, never a policy's text. At most 500 characters, one line.
   */
  readonly defaultDenyNotice: string;
  /** Shared secret the backend requires from the sidecar; undefined = read/create in DATA_DIR. */
  readonly trustSecret: string | undefined;
  readonly upstreamTimeoutMs: number;
  readonly bodyLimitBytes: number;
  /** A request body must arrive within this long, or 408 (the decision waits for it). */
  readonly bodyTimeoutMs: number;
  /** The bytes all request bodies in flight may hold together; past it new bodies get 503. */
  readonly bodyBudgetBytes: number;
  /**
   * Expensive, uncached steps (a cold credential, an uncached decision, a permissions answer, a
   * user look-up that misses, up to sending it) run at most this many at once, taken from the
   * tenants' queues in turn (FAIR_CONCURRENCY; src/sidecar/fair-scheduler.ts).
   */
  readonly fairConcurrency: number;
  /** Such steps one tenant may have waiting (FAIR_QUEUE_MAX); past it that tenant gets 503. */
  readonly fairQueueMax: number;
  /** A list page's byte budget (contract §3: a page is bounded in bytes as well as in count). */
  readonly pageMaxBytes: number;
  readonly maxHeaderBytes: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  /**
   * How long the sidecar keeps an idle connection to the backend. Shorter than the backend's
   * keep-alive timeout, so the sidecar never reuses a socket the backend is about to close.
   */
  readonly upstreamIdleTimeoutMs: number;
  readonly clockToleranceSeconds: number;
  readonly jwksTimeoutMs: number;
  readonly jwksCooldownMs: number;
  readonly userCacheTtlMs: number;
  /** When Redis is down: refuse (503, default) or accept tokens unchecked for revocation. */
  readonly revocationFailOpen: boolean;
  /** EVENT_STREAM_MAXLEN: the change-event stream is trimmed to about this many entries. */
  readonly eventStreamMaxLen: number;
  /** EVENT_MAX_LAG_MS: a replica further behind the stream than this serves from short TTLs. */
  readonly eventMaxLagMs: number;
  /**
   * EVENT_CHECK_EACH_REQUEST: before deciding, ask Redis for the stream's newest id and wait
   * (up to EVENT_MAX_LAG_MS) until this replica has applied it, so a change acknowledged anywhere
   * is enforced by the very next request here. Off: events apply as they arrive (milliseconds).
   */
  readonly eventCheckEachRequest: boolean;
  /**
   * EVENT_CONSISTENCY: `next-request` (the per-request probe above, default) or `bounded` (no
   * Redis command on the request path: a request is decided at once while the reader has been
   * caught up within EVENT_MAX_STALENESS_MS, and waits for it otherwise; docs/scaling.md).
   */
  readonly eventConsistency: EventConsistency;
  /** EVENT_MAX_STALENESS_MS: `bounded`'s bound (default 100). */
  readonly eventMaxStalenessMs: number;
  readonly shutdownGraceMs: number;
  readonly policyPollMs: number;
  /**
   * DECISION_CROSSCHECK_RATE: the share (0..1, default 0.001) of the compiled decider's answers
   * that cedar-wasm decides again off the request path; 0 turns it off, 1 checks every one.
   */
  readonly decisionCrosscheckRate: number;
  readonly logLevel: string;
}

/**
 * Reads the configuration for one process kind. `sidecar` refuses to start without a key source
 * and required claims; `start` falls back to the development key and the dev issuer/audience.
 */
export function loadConfig(mode: Mode, env: Env = process.env): Config {
  const backendPort = port(env, 'BACKEND_PORT', 8081);
  const backendHost = str(env, 'BACKEND_HOST') ?? '127.0.0.1';
  // http only: the sidecar's forwarder and its agent speak plain HTTP, so an https URL would be
  // accepted and then not honoured. The backend listens on loopback in the same pod; TLS beyond
  // that belongs to a mesh or a local TLS proxy, named here as such.
  const upstreamUrl =
    url(
      env,
      'UPSTREAM_URL',
      ['http:'],
      'http://127.0.0.1:8081',
      'TLS to the backend is not supported (it listens on loopback beside the sidecar)',
    ) ?? `http://127.0.0.1:${backendPort}`;
  const jwksUrl = url(
    env,
    'JWKS_URL',
    ['http:', 'https:'],
    'https://issuer.example.com/.well-known/jwks.json',
  );
  const jwksFile = str(env, 'JWKS_FILE');
  if (jwksUrl !== undefined && jwksFile !== undefined) {
    throw new ConfigError(
      'JWKS_FILE',
      'set JWKS_URL or JWKS_FILE, not both',
      '/etc/cedargate/jwks.json',
    );
  }
  const issuerEnv = str(env, 'JWT_ISSUER');
  const audienceEnv = str(env, 'JWT_AUDIENCE');
  const jwtTyp = typ(env, 'JWT_TYP');
  const issuersFile = str(env, 'ISSUERS_FILE');
  if (issuersFile !== undefined) {
    exclusiveWithIssuersFile(env);
  } else if (mode === 'sidecar') {
    if (issuerEnv === undefined)
      throw new ConfigError(
        'JWT_ISSUER',
        'the sidecar needs the required issuer (or ISSUERS_FILE)',
        'https://issuer.example.com/',
      );
    if (audienceEnv === undefined)
      throw new ConfigError('JWT_AUDIENCE', 'the sidecar needs the required audience', 'users-api');
    if (jwksUrl === undefined && jwksFile === undefined && !isHttpUrl(issuerEnv)) {
      throw new ConfigError(
        'JWKS_URL',
        `the sidecar needs JWKS_URL or JWKS_FILE, or a JWT_ISSUER URL to discover them from (got "${issuerEnv}")`,
        'https://issuer.example.com/.well-known/jwks.json',
      );
    }
  }
  const redisUrl = redisTarget(env);
  const tenantClaim = claimPath(env, 'TENANT_CLAIM', 'tenant_id', '/org/id');
  const userClaim = claimPath(env, 'USER_CLAIM', 'sub', '/ext/uid');
  const trustSecret = str(env, 'TRUST_SECRET');
  if (trustSecret !== undefined && trustSecret.length < 16) {
    throw new ConfigError(
      'TRUST_SECRET',
      'must be at least 16 characters',
      'a-long-random-string-from-a-secret',
    );
  }
  const logLevel = (str(env, 'LOG_LEVEL') ?? 'info').toLowerCase();
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new ConfigError(
      'LOG_LEVEL',
      `must be one of fatal, error, warn, info, debug, trace, silent; got "${logLevel}"`,
      'info',
    );
  }
  // node refuses (with a RangeError, at listen time) a headers timeout over the request timeout.
  const headersTimeoutMs = int(env, 'HEADERS_TIMEOUT_MS', 10_000, 100, 600_000, '10000');
  const requestTimeoutMs = int(env, 'REQUEST_TIMEOUT_MS', 30_000, 100, 600_000, '30000');
  atMostRequestTimeout('HEADERS_TIMEOUT_MS', headersTimeoutMs, requestTimeoutMs, 10_000);
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
  const bodyBudgetBytes = int(
    env,
    'BODY_BUDGET_BYTES',
    64 * 1024 * 1024,
    1024,
    16 * 1024 * 1024 * 1024,
    '67108864',
  );
  // A budget under the per-body limit would refuse a body the limit allows, even alone.
  if (bodyBudgetBytes < bodyLimitBytes) {
    throw new ConfigError(
      'BODY_BUDGET_BYTES',
      `must be at least BODY_LIMIT_BYTES (${bodyLimitBytes})`,
      String(Math.max(64 * 1024 * 1024, bodyLimitBytes)),
    );
  }
  const keepAliveTimeoutMs = int(env, 'KEEP_ALIVE_TIMEOUT_MS', 5_000, 100, 600_000, '5000');
  // By default a margin under the keep-alive timeout that the backend shares with the sidecar
  // (one env in `start`, the same ConfigMap for both containers of a pod).
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
  const policyDir = resolve(str(env, 'POLICY_DIR') ?? './policies');
  const candidatePolicyDir = candidateDir(env, policyDir);
  return Object.freeze({
    mode,
    port: port(env, 'PORT', 8080),
    host: str(env, 'HOST') ?? '0.0.0.0',
    adminPort: port(env, 'ADMIN_PORT', 9901),
    adminHost: listenHost(env, 'ADMIN_HOST', '127.0.0.1'),
    backendPort,
    backendHost,
    upstreamUrl,
    upstreamUrlSet: str(env, 'UPSTREAM_URL') !== undefined,
    dataDir: resolve(str(env, 'DATA_DIR') ?? './data'),
    policyDir,
    candidatePolicyDir,
    redisUrl,
    jwksUrl,
    jwksFile: jwksFile === undefined ? undefined : resolve(jwksFile),
    jwtIssuer: issuerEnv ?? 'cedargate-dev',
    jwtIssuerSet: issuerEnv !== undefined,
    jwtAudience: audienceEnv ?? 'cedargate',
    jwtTyp,
    tenantClaim,
    userClaim,
    issuersFile: issuersFile === undefined ? undefined : resolve(issuersFile),
    enforce: bool(env, 'ENFORCE', true),
    playground: bool(env, 'PLAYGROUND', false),
    defaultDenyNotice: line(
      env,
      'DEFAULT_DENY_NOTICE',
      DEFAULT_DENY_NOTICE,
      500,
      '"Ask your tenant admin for a role that allows this."',
    ),
    trustSecret,
    upstreamTimeoutMs: int(env, 'UPSTREAM_TIMEOUT_MS', 5000, 1, 600_000, '5000'),
    bodyLimitBytes,
    bodyTimeoutMs,
    bodyBudgetBytes,
    fairConcurrency: int(env, 'FAIR_CONCURRENCY', 4, 1, 1024, '4'),
    fairQueueMax: int(env, 'FAIR_QUEUE_MAX', 64, 1, 100_000, '64'),
    pageMaxBytes: int(
      env,
      'PAGE_MAX_BYTES',
      4 * 1024 * 1024,
      16 * 1024,
      256 * 1024 * 1024,
      '4194304',
    ),
    maxHeaderBytes: int(env, 'MAX_HEADER_BYTES', 16 * 1024, 1024, 1024 * 1024, '16384'),
    headersTimeoutMs,
    requestTimeoutMs,
    keepAliveTimeoutMs,
    upstreamIdleTimeoutMs,
    clockToleranceSeconds: int(env, 'CLOCK_TOLERANCE_SECONDS', 30, 0, 300, '30'),
    jwksTimeoutMs: int(env, 'JWKS_TIMEOUT_MS', 2_000, 50, 60_000, '2000'),
    jwksCooldownMs: int(env, 'JWKS_COOLDOWN_MS', 30_000, 0, 3_600_000, '30000'),
    userCacheTtlMs: int(env, 'USER_CACHE_TTL_MS', 5_000, 0, 3_600_000, '5000'),
    revocationFailOpen: bool(env, 'REVOCATION_FAIL_OPEN', false),
    eventStreamMaxLen: int(env, 'EVENT_STREAM_MAXLEN', 100_000, 1_000, 100_000_000, '100000'),
    eventMaxLagMs: int(env, 'EVENT_MAX_LAG_MS', 2_000, 10, 600_000, '2000'),
    ...eventConsistency(env),
    shutdownGraceMs: int(env, 'SHUTDOWN_GRACE_MS', 10_000, 0, 600_000, '10000'),
    policyPollMs: int(env, 'POLICY_POLL_MS', 5_000, 100, 3_600_000, '5000'),
    decisionCrosscheckRate: fraction(env, 'DECISION_CROSSCHECK_RATE', 0.001, '0.001'),
    logLevel,
  });
}

/** CANDIDATE_POLICY_DIR, resolved; the enforced directory itself would compare a set with itself. */
function candidateDir(env: Env, policyDir: string): string | undefined {
  const raw = str(env, 'CANDIDATE_POLICY_DIR');
  if (raw === undefined) return undefined;
  const dir = resolve(raw);
  if (dir === policyDir) {
    throw new ConfigError(
      'CANDIDATE_POLICY_DIR',
      'is POLICY_DIR itself; the candidate must be another directory',
      '/etc/cedargate/candidate-policies',
    );
  }
  return dir;
}

/** What the `policy` commands take from the environment. */
export interface PolicyCliConfig {
  /** The policy directory when the command line names none. */
  readonly policyDir: string;
}

/**
 * The `policy` commands' configuration: POLICY_DIR as given, not resolved (the commands print
 * paths the way the author wrote them), `./policies` when unset or blank, as for the servers.
 */
export function loadPolicyCliConfig(env: Env = process.env): PolicyCliConfig {
  return Object.freeze({ policyDir: str(env, 'POLICY_DIR') ?? './policies' });
}
