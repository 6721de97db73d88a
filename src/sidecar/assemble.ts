/**
 * Assembles a running sidecar, for `start` and `sidecar` alike: the policy store, the cluster
 * channel, the credential verifier, the user directory, the forwarder and the pipeline on the
 * data port, plus the admin server. Whatever is opened is closed again if a later step fails.
 */
import type { Server } from 'node:http';
import { isHttpUrl, type Config } from '../config.js';
import type { Logger } from '../common/logger.js';
import { boundPort, closeGracefully, createHttpServer, listen } from '../common/http-server.js';
import { resolveTrustSecret } from '../common/trust.js';
import { createBodyBudget, type BodyBudget } from '../common/body.js';
import { createAdminApp } from './admin/admin-app.js';
import { createPlayground, type Playground } from './admin/playground.js';
import { createPlaygroundRouter } from './admin/playground-app.js';
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
import { createPipeline } from './pipeline.js';
import { createForwarder } from './proxy.js';
import { createReadiness } from './admin/readiness.js';
import { createSidecarServer } from './server.js';
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

export interface RunningSidecar {
  port: number;
  adminPort: number;
  policies: PolicyStore;
  /** The issuers and their keys: `reload('SIGHUP')` re-reads ISSUERS_FILE and refetches keys. */
  identity: Identity;
  directory: UserDirectory;
  metrics: SidecarMetrics;
  /** Turns /readyz to 503, stops accepting, lets in-flight requests finish (up to the grace period). */
  close(): Promise<void>;
}

/** The parts the servers are built on. */
interface Parts {
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
interface Closers {
  add(close: () => Promise<void> | void): void;
  closeAll(): Promise<void>;
}

function createClosers(logger: Logger): Closers {
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

/** Starts the sidecar; on failure, closes whatever it had opened (the process can then exit). */
export async function startSidecar(options: SidecarOptions): Promise<RunningSidecar> {
  const closers = createClosers(options.logger);
  try {
    const parts = await openParts(options, closers);
    return await serve(options, parts, closers);
  } catch (err) {
    // Left open, the Redis connections, the policy watcher or the upstream agent would keep
    // the process alive after it printed its error.
    await closers.closeAll();
    throw err;
  }
}

async function openParts(options: SidecarOptions, closers: Closers): Promise<Parts> {
  const { config, logger } = options;
  const metrics = createSidecarMetrics();
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
  const candidate = await openCandidate(config, logger, metrics);
  if (candidate !== undefined) closers.add(() => candidate.close());
  const cluster = options.cluster ?? (await openCluster(config, logger));
  if (cluster !== undefined) closers.add(() => cluster.close());
  const identity = await openIdentity(config, {
    keySource: () => keySourceOf(config, logger),
    logger: logger.child({ component: 'authn' }),
    onFetchFailure: (issuer) => metrics.keyFetchFailures.inc({ issuer }),
  });
  closers.add(() => identity.close());
  const verifier = await createVerifier(config, logger, identity, cluster);
  const trustSecret = resolveTrustSecret(config);
  const upstream = createUpstreamClient({
    baseUrl: options.upstreamUrl ?? config.upstreamUrl,
    trustSecret,
    timeoutMs: config.upstreamTimeoutMs,
    idleTimeoutMs: config.upstreamIdleTimeoutMs,
    logger: logger.child({ component: 'upstream' }),
  });
  closers.add(() => upstream.close());
  const fair = createFairGate({
    scheduler: createFairScheduler({
      concurrency: config.fairConcurrency,
      queueMax: config.fairQueueMax,
    }),
  });
  metrics.watchFairness(() => fair.stats());
  const gate = createGate(config, closers);
  metrics.watchGate(() => gate.stats());
  const directory = createUserDirectory({
    upstream,
    ttlMs: config.userCacheTtlMs,
    schedule: (tenantId, work) => fair.run(tenantId, 1, work),
  });
  closers.add(() => directory.close());
  if (cluster !== undefined) {
    await startCluster(cluster, { directory, policies }, config, logger);
    metrics.watchEvents(() => {
      const s = cluster.status();
      return {
        lagSeconds: s.lag_seconds,
        cachesDropped: s.caches_dropped_for_lost_events,
        generationChanges: s.store_generation_changes,
      };
    });
  }
  metrics.countCaches(() => {
    const c = verifier.stats();
    const u = directory.stats();
    return {
      credential: { hits: c.cacheHits, misses: c.cacheMisses },
      user: { hits: u.hits, misses: u.misses },
    };
  });
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

function createDataServer(config: Config, logger: Logger, parts: Parts): Server {
  const { verifier, policies, directory, metrics, upstream, cluster } = parts;
  const deps: Parameters<typeof createPipeline>[0] = {
    verifier,
    policies,
    directory,
    forwarder: createForwarder({
      target: upstream.baseUrl.origin,
      agent: upstream.agent,
      trustSecret: parts.trustSecret,
      timeoutMs: config.upstreamTimeoutMs,
    }),
    metrics,
    logger: logger.child({ component: 'decision' }),
    enforce: config.enforce,
    defaultDenyNotice: config.defaultDenyNotice,
    bodyLimitBytes: config.bodyLimitBytes,
    bodyTimeoutMs: config.bodyTimeoutMs,
    bodyBudget: parts.bodyBudget,
    fair: parts.fair,
    gate: parts.gate,
  };
  // The other replicas learn of a write from the store's own change event (no publish from
  // here: docs/scaling.md); before deciding, this one applies whatever the stream holds.
  if (cluster !== undefined) deps.catchUp = () => cluster.catchUp();
  const { candidate } = parts;
  if (candidate !== undefined) deps.onDecided = (decided) => candidate.observe(decided);
  return createSidecarServer(config, createPipeline(deps));
}

function createAdminServer(
  config: Config,
  parts: Parts,
  draining: () => boolean,
  playground: Playground | undefined,
): Server {
  const { policies, upstream, cluster, verifier, directory } = parts;
  const readiness = createReadiness({
    policyVersion: () => policies.current().version,
    keys: () => parts.identity.trust.keysReady(),
    pingBackend: () => upstream.ping(),
    cluster,
    draining,
    engine: policies.engineHealth,
  });
  const admin = createAdminApp({
    metrics: parts.metrics,
    readiness,
    status: () => ({
      enforce: config.enforce,
      draining: draining(),
      policies: policies.status(),
      candidate: parts.candidate?.status() ?? null,
      caches: { credentials: verifier.stats(), users: directory.stats() },
      identity: parts.identity.status(),
      bodies: parts.bodyBudget.stats(),
      fair: parts.fair.stats(),
      gate: parts.gate.stats(),
      cluster: cluster?.status() ?? null,
    }),
    ...(playground !== undefined && { playground: createPlaygroundRouter(playground) }),
  });
  return createHttpServer(config, admin);
}

async function serve(
  options: SidecarOptions,
  parts: Parts,
  closers: Closers,
): Promise<RunningSidecar> {
  const { config, logger } = options;
  let draining = false;
  const server = createDataServer(config, logger, parts);
  const playground = config.playground
    ? createPlayground({ policies: parts.policies, policyDir: config.policyDir })
    : undefined;
  if (playground !== undefined) closers.add(() => playground.close());
  if (playground !== undefined && !['127.0.0.1', '::1', 'localhost'].includes(config.adminHost)) {
    // It shows every policy and answers without a credential: it is for a laptop.
    logger.warn(
      { adminHost: config.adminHost },
      'PLAYGROUND is on and the admin port is not on loopback',
    );
  }
  const adminServer = createAdminServer(config, parts, () => draining, playground);
  closers.add(async () => {
    draining = true;
    // The admin port stays up while the data port drains, so /readyz can say 503 meanwhile.
    await closeGracefully(server, config.shutdownGraceMs);
    await closeGracefully(adminServer, 1000);
  });
  await listen(server, {
    port: config.port,
    host: config.host,
    portVariable: 'PORT',
    hostVariable: 'HOST',
  });
  // Its own address (loopback unless ADMIN_HOST says otherwise): /status and /metrics tell
  // the policy set, its errors and the cache sizes to whoever can reach them.
  await listen(adminServer, {
    port: config.adminPort,
    host: config.adminHost,
    portVariable: 'ADMIN_PORT',
    hostVariable: 'ADMIN_HOST',
  });
  const port = boundPort(server);
  const adminPort = boundPort(adminServer);
  const upstream = parts.upstream.baseUrl.origin;
  logger.info({ port, adminPort, upstream, enforce: config.enforce }, 'sidecar listening');
  let closing: Promise<void> | undefined;
  const { policies, directory, metrics, identity } = parts;
  return {
    port,
    adminPort,
    policies,
    identity,
    directory,
    metrics,
    close: () => (closing ??= closers.closeAll()),
  };
}
