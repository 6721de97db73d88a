/**
 * The parts a sidecar is built on, opened in the order they depend on each other: the policy
 * store, the candidate in shadow, the cluster channel, the issuers and the credential verifier,
 * the backend's client, the fair gate and the request gate, the user directory, and the metrics
 * that watch them. Each part registers its close as it opens, so that a failed start can close
 * whatever was opened before it (assemble.ts builds the servers on them).
 */
import { isHttpUrl, type Config } from '../config.js';
import type { Logger } from '../common/logger.js';
import { resolveTrustSecret } from '../common/trust.js';
import { createBodyBudget, type BodyBudget } from '../common/body.js';
import {
  createCredentialVerifier,
  type CredentialVerifier,
  type KeySource,
} from './authn/verifier.js';
import { openIdentity, type Identity } from './authn/identity.js';
import { createCandidateShadow, type CandidateShadow } from './authz/candidate.js';
import { createPolicyStore, type PolicyStore } from './authz/policy-store.js';
import { openCluster } from './cluster/index.js';
import { createUserDirectory, type UserDirectory } from './directory.js';
import { createFairGate, type FairGate } from './fair-gate.js';
import { createFairScheduler } from './fair-scheduler.js';
import { createLoopBusy, createRequestGate, type RequestGate } from './request-gate.js';
import { createSidecarMetrics, type SidecarMetrics } from './metrics.js';
import type { SidecarCluster } from './cluster/cluster.js';
import { createUpstreamClient, type UpstreamClient } from './upstream.js';

export interface SidecarOptions {
  config: Config;
  logger: Logger;
  /** Overrides config.upstreamUrl (e.g. `start` with an ephemeral backend port). */
  upstreamUrl?: string;
  /** Used instead of the one REDIS_URL opens (tests). */
  cluster?: SidecarCluster;
}

/** The parts the servers are built on. */
export interface Parts {
  metrics: SidecarMetrics;
  policies: PolicyStore;
  /** The candidate set in shadow (CANDIDATE_POLICY_DIR), when there is one. */
  candidate: CandidateShadow | undefined;
  cluster: SidecarCluster | undefined;
  identity: Identity;
  verifier: CredentialVerifier;
  upstream: UpstreamClient;
  directory: UserDirectory;
  bodyBudget: BodyBudget;
  trustSecret: string;
  /** Where uncached work waits for its tenant's turn (FAIR_CONCURRENCY, FAIR_QUEUE_MAX). */
  fair: FairGate;
  /** Where whole requests wait for their tenant's share while the loop is busy (request-gate.ts). */
  gate: RequestGate;
}

/** Closes what was opened, last first; one failing close does not keep the others open. */
export interface Closers {
  add(close: () => Promise<void> | void): void;
  closeAll(): Promise<void>;
}

export function createClosers(logger: Logger): Closers {
  const stack: (() => Promise<void> | void)[] = [];
  return {
    add: (close) => void stack.push(close),
    async closeAll() {
      for (let close = stack.pop(); close !== undefined; close = stack.pop()) {
        try {
          await close();
        } catch (err) {
          logger.warn({ err }, 'error while closing');
        }
      }
    },
  };
}

/** Opens the parts in the order they depend on each other; each registers its close. */
export async function openParts(options: SidecarOptions, closers: Closers): Promise<Parts> {
  const { config, logger } = options;
  const metrics = createSidecarMetrics();
  const policies = await openPolicies(config, logger, metrics, closers);
  const candidate = await openCandidate(config, logger, metrics);
  if (candidate !== undefined) closers.add(() => candidate.close());
  const cluster = options.cluster ?? (await openCluster(config, logger));
  if (cluster !== undefined) closers.add(() => cluster.close());
  const identity = await openSidecarIdentity(config, logger, metrics, closers);
  const verifier = await createVerifier(config, logger, identity, cluster);
  const trustSecret = resolveTrustSecret(config);
  const upstream = openUpstream(options, trustSecret, closers);
  const fair = createFair(config, metrics);
  const gate = createGate(config, closers);
  metrics.watchGate(() => gate.stats());
  const directory = openDirectory(config, upstream, fair, closers);
  if (cluster !== undefined) {
    await startCluster(cluster, { directory, policies }, config, logger);
    watchCluster(metrics, cluster);
  }
  countCaches(metrics, verifier, directory);
  const bodyBudget = createBodyBudget(config.bodyBudgetBytes);
  return {
    metrics,
    policies,
    candidate,
    cluster,
    identity,
    verifier,
    upstream,
    directory,
    bodyBudget,
    trustSecret,
    fair,
    gate,
  };
}

/** The enforced set (POLICY_DIR), watched; its reloads and cross-checks are counted. */
async function openPolicies(
  config: Config,
  logger: Logger,
  metrics: SidecarMetrics,
  closers: Closers,
): Promise<PolicyStore> {
  const policies = await createPolicyStore({
    dir: config.policyDir,
    logger: logger.child({ component: 'policies' }),
    watch: true,
    pollMs: config.policyPollMs,
    onReload: (result) => metrics.policyReloads.inc({ result }),
    crosscheckRate: config.decisionCrosscheckRate,
  });
  metrics.watchCrosschecks(() => policies.crosschecks?.() ?? { checked: 0, disagreements: 0 });
  closers.add(() => policies.close());
  return policies;
}

/** The issuers and their keys; failed key fetches are counted by issuer. */
async function openSidecarIdentity(
  config: Config,
  logger: Logger,
  metrics: SidecarMetrics,
  closers: Closers,
): Promise<Identity> {
  const identity = await openIdentity(config, {
    keySource: () => keySourceOf(config, logger),
    logger: logger.child({ component: 'authn' }),
    onFetchFailure: (issuer) => metrics.keyFetchFailures.inc({ issuer }),
  });
  closers.add(() => identity.close());
  return identity;
}

/** The backend's HTTP client (UPSTREAM_URL, or the URL `start` gives). */
function openUpstream(
  options: SidecarOptions,
  trustSecret: string,
  closers: Closers,
): UpstreamClient {
  const { config, logger } = options;
  const upstream = createUpstreamClient({
    baseUrl: options.upstreamUrl ?? config.upstreamUrl,
    trustSecret,
    timeoutMs: config.upstreamTimeoutMs,
    idleTimeoutMs: config.upstreamIdleTimeoutMs,
    logger: logger.child({ component: 'upstream' }),
  });
  closers.add(() => upstream.close());
  return upstream;
}

/** Uncached work waits for its tenant's turn; the queues are counted. */
function createFair(config: Config, metrics: SidecarMetrics): FairGate {
  const fair = createFairGate({
    scheduler: createFairScheduler({
      concurrency: config.fairConcurrency,
      queueMax: config.fairQueueMax,
    }),
  });
  metrics.watchFairness(() => fair.stats());
  return fair;
}

/** The users' facts, cached; a look-up that misses takes its tenant's turn at the fair gate. */
function openDirectory(
  config: Config,
  upstream: UpstreamClient,
  fair: FairGate,
  closers: Closers,
): UserDirectory {
  const directory = createUserDirectory({
    upstream,
    ttlMs: config.userCacheTtlMs,
    schedule: (tenantId, work) => fair.run(tenantId, 1, work),
  });
  closers.add(() => directory.close());
  return directory;
}

/** The cluster channel's lag, losses and store generation changes, in /metrics. */
function watchCluster(metrics: SidecarMetrics, cluster: SidecarCluster): void {
  metrics.watchEvents(() => {
    const s = cluster.status();
    return {
      lagSeconds: s.lag_seconds,
      cachesDropped: s.caches_dropped_for_lost_events,
      generationChanges: s.store_generation_changes,
    };
  });
}

/** The credential and user caches' hits and misses, in /metrics. */
function countCaches(
  metrics: SidecarMetrics,
  verifier: CredentialVerifier,
  directory: UserDirectory,
): void {
  metrics.countCaches(() => {
    const c = verifier.stats();
    const u = directory.stats();
    return {
      credential: { hits: c.cacheHits, misses: c.cacheMisses },
      user: { hits: u.hits, misses: u.misses },
    };
  });
}

/** Whole requests share the loop by tenant while it is busy (issue 22, item 4). */
function createGate(config: Config, closers: Closers): RequestGate {
  let tick = (): void => undefined;
  const loop = createLoopBusy({ onSample: () => tick() });
  closers.add(() => loop.close());
  const gate = createRequestGate({
    concurrency: config.fairConcurrency,
    queueMax: config.fairQueueMax,
    busy: loop.busy,
  });
  tick = () => gate.tick();
  return gate;
}

/** The candidate set in shadow; one that does not load is retried, and never stops the start. */
async function openCandidate(
  config: Config,
  logger: Logger,
  metrics: SidecarMetrics,
): Promise<CandidateShadow | undefined> {
  if (config.candidatePolicyDir === undefined) return undefined;
  const shadow = await createCandidateShadow({
    dir: config.candidatePolicyDir,
    logger: logger.child({ component: 'candidate' }),
    pollMs: config.policyPollMs,
    onCount: (agreement) => metrics.candidateDecisions.inc({ agreement }),
    onDecision: (action, d) =>
      metrics.countDecision(action, d.allowed ? 'allow' : 'deny', d.cached, 'candidate'),
  });
  const version = shadow.status().policies?.live.version;
  logger.info(
    { dir: config.candidatePolicyDir, version: version ?? null },
    'candidate policies in shadow: decided beside the enforced set, never enforced',
  );
  return shadow;
}

function createVerifier(
  config: Config,
  logger: Logger,
  identity: Identity,
  cluster: SidecarCluster | undefined,
): Promise<CredentialVerifier> {
  const options: Parameters<typeof createCredentialVerifier>[0] = {
    trust: identity.trust,
    clockToleranceSeconds: config.clockToleranceSeconds,
    logger: logger.child({ component: 'authn' }),
  };
  if (cluster !== undefined) options.revocation = cluster.revocation;
  return createCredentialVerifier(options);
}

/**
 * JWKS_URL, JWKS_FILE, the issuer's discovery document (JWT_ISSUER an http(s) URL: always in
 * `sidecar`, in `start` when JWT_ISSUER was set), or (in `start` only) the development key.
 */
export function keySourceOf(config: Config, logger: Logger): KeySource {
  const remote = { timeoutMs: config.jwksTimeoutMs, cooldownMs: config.jwksCooldownMs };
  if (config.jwksUrl !== undefined) {
    return { kind: 'url', url: config.jwksUrl, issuer: config.jwtIssuer, ...remote };
  }
  if (config.jwksFile !== undefined) return { kind: 'file', path: config.jwksFile };
  const discover = config.mode !== 'start' || config.jwtIssuerSet;
  if (discover && isHttpUrl(config.jwtIssuer)) {
    return { kind: 'discovery', issuer: config.jwtIssuer, ...remote };
  }
  if (config.mode !== 'start') throw new Error('a key source is required outside `start`');
  logger.warn(
    { dataDir: config.dataDir },
    'no JWKS_URL or JWKS_FILE: trusting the DEVELOPMENT signing key in DATA_DIR (fine on a laptop, never in production)',
  );
  return { kind: 'dev', dataDir: config.dataDir };
}

/** While invalidations cannot be trusted, cached users live at most this long. */
const DEGRADED_USER_TTL_MS = 500;

function startCluster(
  cluster: SidecarCluster,
  { directory, policies }: { directory: UserDirectory; policies: PolicyStore },
  config: Config,
  logger: Logger,
): Promise<void> {
  return cluster.start({
    onUserChanged: (t, u) => directory.invalidate(t, u),
    onEventsLost: () => {
      directory.clear();
      policies.dropDecisions();
    },
    onDegraded: () => {
      directory.clear();
      directory.setTtl(Math.min(DEGRADED_USER_TTL_MS, config.userCacheTtlMs));
      logger.warn('cluster channel down: user cache shortened to %d ms', DEGRADED_USER_TTL_MS);
    },
    onRecovered: () => {
      directory.clear();
      directory.setTtl(config.userCacheTtlMs);
      logger.info('cluster channel back: user cache restored');
    },
  });
}
