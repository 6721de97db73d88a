/**
 * The environment, read once into one typed, frozen object. A bad value stops the process at
 * start with one line naming the variable and an example (contract §2); it is never a bad
 * request.
 */
import { resolve } from 'node:path';
import {
  bool,
  ConfigError,
  fraction,
  int,
  line,
  listenHost,
  port,
  str,
  url,
  type Env,
  type Mode,
} from './config/env.js';
import { eventConsistency, type EventConsistency } from './config/events.js';
import { httpLimits, upstreamTimeouts } from './config/http.js';
import { claimPath, issuerConfig, type IssuerConfig } from './config/identity.js';
import { redisTarget } from './config/redis.js';

export { ConfigError, isHttpUrl, type Mode } from './config/env.js';
export { EVENT_CONSISTENCIES, type EventConsistency } from './config/events.js';

/** DEFAULT_DENY_NOTICE's default: says no rule allows it, and nothing of any policy. */
export const DEFAULT_DENY_NOTICE = 'No policy allows this action for your roles.';

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
  /**
   * The backend answers a request's store calls within this (STORE_TIMEOUT_MS), or 503: below
   * `upstreamTimeoutMs`, so the client hears the backend's answer, not the sidecar's 504.
   */
  readonly storeTimeoutMs: number;
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
 * The parts are read in a fixed order: of several bad variables, the first read is the one named.
 */
export function loadConfig(mode: Mode, env: Env = process.env): Config {
  const upstream = upstreamConfig(env);
  const issuer = issuerConfig(mode, env);
  const redisUrl = redisTarget(env);
  const tenantClaim = claimPath(env, 'TENANT_CLAIM', 'tenant_id', '/org/id');
  const userClaim = claimPath(env, 'USER_CLAIM', 'sub', '/ext/uid');
  const trustSecret = trustSecretOf(env);
  const logLevel = logLevelOf(env);
  const http = httpLimits(mode, env);
  const policyDir = resolve(str(env, 'POLICY_DIR') ?? './policies');
  const candidatePolicyDir = candidateDir(env, policyDir);
  return Object.freeze({
    mode,
    ...listening(env),
    ...upstream,
    dataDir: resolve(str(env, 'DATA_DIR') ?? './data'),
    policyDir,
    candidatePolicyDir,
    redisUrl,
    ...issuerSettings(issuer),
    tenantClaim,
    userClaim,
    ...answers(env),
    trustSecret,
    ...upstreamTimeouts(mode, env),
    ...http,
    ...capacity(env),
    ...identityTuning(env),
    ...events(env),
    shutdownGraceMs: int(env, 'SHUTDOWN_GRACE_MS', 10_000, 0, 600_000, '10000'),
    policyPollMs: int(env, 'POLICY_POLL_MS', 5_000, 100, 3_600_000, '5000'),
    decisionCrosscheckRate: fraction(env, 'DECISION_CROSSCHECK_RATE', 0.001, '0.001'),
    logLevel,
  });
}

/** Where the two servers listen (the backend's port is the upstream's). */
function listening(env: Env): Pick<Config, 'port' | 'host' | 'adminPort' | 'adminHost'> {
  return {
    port: port(env, 'PORT', 8080),
    host: str(env, 'HOST') ?? '0.0.0.0',
    adminPort: port(env, 'ADMIN_PORT', 9901),
    adminHost: listenHost(env, 'ADMIN_HOST', '127.0.0.1'),
  };
}

/** The backend, and the URL the sidecar forwards to (the backend's own unless UPSTREAM_URL). */
function upstreamConfig(
  env: Env,
): Pick<Config, 'backendPort' | 'backendHost' | 'upstreamUrl' | 'upstreamUrlSet'> {
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
  return {
    backendPort,
    backendHost,
    upstreamUrl,
    upstreamUrlSet: str(env, 'UPSTREAM_URL') !== undefined,
  };
}

type IdentityKey =
  'jwksUrl' | 'jwksFile' | 'jwtIssuer' | 'jwtIssuerSet' | 'jwtAudience' | 'jwtTyp' | 'issuersFile';

/** The issuer's variables with their defaults (the development issuer) and paths resolved. */
function issuerSettings(issuer: IssuerConfig): Pick<Config, IdentityKey> {
  const { jwksFile, jwtIssuer, jwtAudience, issuersFile } = issuer;
  return {
    jwksUrl: issuer.jwksUrl,
    jwksFile: jwksFile === undefined ? undefined : resolve(jwksFile),
    jwtIssuer: jwtIssuer ?? 'cedargate-dev',
    jwtIssuerSet: jwtIssuer !== undefined,
    jwtAudience: jwtAudience ?? 'cedargate',
    jwtTyp: issuer.jwtTyp,
    issuersFile: issuersFile === undefined ? undefined : resolve(issuersFile),
  };
}

/** What the sidecar answers with: enforcing or in shadow, the playground, a default deny's notice. */
function answers(env: Env): Pick<Config, 'enforce' | 'playground' | 'defaultDenyNotice'> {
  return {
    enforce: bool(env, 'ENFORCE', true),
    playground: bool(env, 'PLAYGROUND', false),
    defaultDenyNotice: line(
      env,
      'DEFAULT_DENY_NOTICE',
      DEFAULT_DENY_NOTICE,
      500,
      '"Ask your tenant admin for a role that allows this."',
    ),
  };
}

/** How much the sidecar takes on at once: the fair scheduler's bounds, a page, the headers. */
function capacity(
  env: Env,
): Pick<Config, 'fairConcurrency' | 'fairQueueMax' | 'pageMaxBytes' | 'maxHeaderBytes'> {
  return {
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
  };
}

/** How a credential is checked: the clock's slack, the key fetches, the users' and tokens' caches. */
function identityTuning(
  env: Env,
): Pick<
  Config,
  | 'clockToleranceSeconds'
  | 'jwksTimeoutMs'
  | 'jwksCooldownMs'
  | 'userCacheTtlMs'
  | 'revocationFailOpen'
> {
  return {
    clockToleranceSeconds: int(env, 'CLOCK_TOLERANCE_SECONDS', 30, 0, 300, '30'),
    jwksTimeoutMs: int(env, 'JWKS_TIMEOUT_MS', 2_000, 50, 60_000, '2000'),
    jwksCooldownMs: int(env, 'JWKS_COOLDOWN_MS', 30_000, 0, 3_600_000, '30000'),
    userCacheTtlMs: int(env, 'USER_CACHE_TTL_MS', 5_000, 0, 3_600_000, '5000'),
    revocationFailOpen: bool(env, 'REVOCATION_FAIL_OPEN', false),
  };
}

/** The change stream between replicas: its length, the lag allowed, the consistency mode. */
function events(
  env: Env,
): Pick<
  Config,
  | 'eventStreamMaxLen'
  | 'eventMaxLagMs'
  | 'eventConsistency'
  | 'eventMaxStalenessMs'
  | 'eventCheckEachRequest'
> {
  return {
    eventStreamMaxLen: int(env, 'EVENT_STREAM_MAXLEN', 100_000, 1_000, 100_000_000, '100000'),
    eventMaxLagMs: int(env, 'EVENT_MAX_LAG_MS', 2_000, 10, 600_000, '2000'),
    ...eventConsistency(env),
  };
}

function trustSecretOf(env: Env): string | undefined {
  const trustSecret = str(env, 'TRUST_SECRET');
  if (trustSecret !== undefined && trustSecret.length < 16) {
    throw new ConfigError(
      'TRUST_SECRET',
      'must be at least 16 characters',
      'a-long-random-string-from-a-secret',
    );
  }
  return trustSecret;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function logLevelOf(env: Env): string {
  const logLevel = (str(env, 'LOG_LEVEL') ?? 'info').toLowerCase();
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(
      'LOG_LEVEL',
      `must be one of ${LOG_LEVELS.join(', ')}; got "${logLevel}"`,
      'info',
    );
  }
  return logLevel;
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
