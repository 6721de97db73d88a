/**
 * Assembles a running sidecar: the policy store, the credential verifier, the user directory,
 * the forwarder and the pipeline on a node:http server (express stays off the proxied hot path:
 * see docs/benchmarks.md), plus the admin server. Also owns the server limits and draining.
 */
import { serverLimitsOf } from '../common/http-server.js';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Config } from '../config.js';
import type { Logger } from '../common/logger.js';
import { InvalidInputError, NotFoundError, sendError } from '../errors.js';
import { listen } from '../common/listen.js';
import { answerClientError, writeRawError } from '../common/raw-answer.js';
import { createAdminApp } from './admin-app.js';
import { createBodyBudget } from '../common/body.js';
import {
  createCredentialVerifier,
  type KeySource,
  type RevocationCheck,
} from './authn/verifier.js';
import { createPolicyStore, type PolicyStore } from './authz/policy-store.js';
import { createUserDirectory, type UserDirectory } from './directory.js';
import { createSidecarMetrics, type SidecarMetrics } from './metrics.js';
import { createPipeline } from './pipeline.js';
import { createForwarder } from './proxy.js';
import { createUpstreamClient } from './upstream.js';

/**
 * What several replicas share (implemented on Redis): cross-replica invalidation and token
 * revocation. A single replica runs without one.
 */
export interface SidecarCluster {
  /** Tells every replica that a user changed; resolves once the channel has it (never rejects). */
  publishUserChanged(tenantId: string, userId: string): Promise<void> | void;
  /** Starts listening; the handlers run for changes made through any replica. */
  start(handlers: {
    onUserChanged(tenantId: string, userId: string): void;
    /** The channel is down: nothing guarantees invalidations; keep caches short. */
    onDegraded(): void;
    /** The channel is back: caches may be trusted again. */
    onRecovered(): void;
  }): Promise<void>;
  revocation: RevocationCheck;
  /** For /readyz and /status. */
  health(): { ok: boolean; detail: string };
  close(): Promise<void>;
}

export interface SidecarOptions {
  config: Config;
  logger: Logger;
  trustSecret: string;
  keys: KeySource;
  /** Overrides config.upstreamUrl (e.g. `start` with an ephemeral backend port). */
  upstreamUrl?: string;
  cluster?: SidecarCluster;
}

export interface RunningSidecar {
  port: number;
  adminPort: number;
  policies: PolicyStore;
  directory: UserDirectory;
  metrics: SidecarMetrics;
  /** Turns /readyz to 503, stops accepting, lets in-flight requests finish (up to the grace period). */
  close(): Promise<void>;
}

/** How long an acknowledged write waits for its invalidation to reach the other replicas. */
const PUBLISH_WAIT_MS = 250;

/** Resolves when `work` settles or after `ms`, whichever is first. */
function withinMs(ms: number, work: Promise<void> | void): Promise<void> | void {
  if (work === undefined) return undefined;
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    work.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      () => {
        clearTimeout(timer);
        resolve();
      },
    );
  });
}

/** While invalidations cannot be trusted, cached users live at most this long. */
const DEGRADED_USER_TTL_MS = 500;

export async function startSidecar(options: SidecarOptions): Promise<RunningSidecar> {
  const { config, logger, cluster } = options;
  const metrics = createSidecarMetrics();
  const policies = await createPolicyStore({
    dir: config.policyDir,
    logger: logger.child({ component: 'policies' }),
    watch: true,
    pollMs: config.policyPollMs,
    onReload: (result) => metrics.policyReloads.inc({ result }),
  });
  const verifierOptions: Parameters<typeof createCredentialVerifier>[0] = {
    keys: options.keys,
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    tenantClaim: config.tenantClaim,
    clockToleranceSeconds: config.clockToleranceSeconds,
    logger: logger.child({ component: 'authn' }),
  };
  if (cluster !== undefined) verifierOptions.revocation = cluster.revocation;
  const verifier = await createCredentialVerifier(verifierOptions);
  const upstream = createUpstreamClient({
    baseUrl: options.upstreamUrl ?? config.upstreamUrl,
    trustSecret: options.trustSecret,
    timeoutMs: config.upstreamTimeoutMs,
    idleTimeoutMs: config.upstreamIdleTimeoutMs,
  });
  const directory = createUserDirectory({ upstream, ttlMs: config.userCacheTtlMs });
  const forwarder = createForwarder({
    target: upstream.baseUrl.origin,
    agent: upstream.agent,
    trustSecret: options.trustSecret,
    timeoutMs: config.upstreamTimeoutMs,
  });
  if (cluster !== undefined) {
    await cluster.start({
      onUserChanged: (t, u) => directory.invalidate(t, u),
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
  registerCacheCollectors(metrics, verifier, directory);
  const bodyBudget = createBodyBudget(config.bodyBudgetBytes);

  const pipelineDeps: Parameters<typeof createPipeline>[0] = {
    verifier,
    policies,
    directory,
    forwarder,
    metrics,
    logger: logger.child({ component: 'decision' }),
    enforce: config.enforce,
    bodyLimitBytes: config.bodyLimitBytes,
    bodyTimeoutMs: config.bodyTimeoutMs,
    bodyBudget,
  };
  if (cluster !== undefined) {
    // Wait for the channel to take the invalidation before answering the write, but never
    // longer than a moment: with Redis down, the other replicas are on short TTLs anyway.
    pipelineDeps.onUserChanged = (t, u) =>
      withinMs(PUBLISH_WAIT_MS, cluster.publishUserChanged(t, u));
  }
  const pipeline = createPipeline(pipelineDeps);

  let draining = false;
  const server = createServer(
    {
      ...serverLimitsOf(config),
      // node would answer a missing Host with a bare 400; the pipeline refuses it in the contract's format.
      requireHostHeader: false,
    },
    (req, res) => {
      // While draining, finish this request and close the connection after it.
      if (draining) res.shouldKeepAlive = false;
      pipeline(req, res);
    },
  );
  // Malformed or slow framing never reaches the pipeline (src/common/raw-answer.ts).
  server.on('clientError', answerClientError);
  // Without these listeners node answers `Expect: <anything but 100-continue>` with a bare 417,
  // and drops a CONNECT without a word. Neither is an API route: answer in the contract's format.
  server.on('checkExpectation', (_req: IncomingMessage, res: ServerResponse) => {
    res.shouldKeepAlive = false; // the body, if any, was not read
    sendError(res, new InvalidInputError('only "Expect: 100-continue" is supported'));
  });
  server.on('connect', (_req: IncomingMessage, socket: Duplex) =>
    writeRawError(socket, new NotFoundError('no such route')),
  );

  let backendOk = { at: 0, ok: false };
  const readiness = async (): Promise<{ ready: boolean; checks: Record<string, string> }> => {
    const checks: Record<string, string> = {};
    checks.policies = `loaded ${policies.current().version}`;
    if (Date.now() - backendOk.at > 1000) {
      backendOk = await upstream.ping().then(
        () => ({ at: Date.now(), ok: true }),
        () => ({ at: Date.now(), ok: false }),
      );
    }
    checks.backend = backendOk.ok ? 'ok' : 'unreachable';
    let ready = backendOk.ok && !draining;
    if (cluster !== undefined) {
      const h = cluster.health();
      checks.redis = h.detail;
      ready = ready && h.ok;
    }
    if (draining) checks.shutdown = 'draining';
    return { ready, checks };
  };
  const admin = createAdminApp({
    metrics,
    readiness,
    status: () => ({
      enforce: config.enforce,
      draining,
      policies: policies.status(),
      caches: { credentials: verifier.stats(), users: directory.stats() },
      bodies: bodyBudget.stats(),
      cluster: cluster?.health() ?? null,
    }),
  });
  const adminServer = createServer(admin);

  try {
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
  } catch (err) {
    // Let go of everything already open (the Redis connections, the policy watcher), or the
    // process would print its error and never exit.
    server.close();
    adminServer.close();
    policies.close();
    upstream.close();
    await cluster?.close();
    throw err;
  }
  const port = boundPort(server);
  const adminPort = boundPort(adminServer);
  logger.info(
    { port, adminPort, upstream: upstream.baseUrl.origin, enforce: config.enforce },
    'sidecar listening',
  );

  let closing: Promise<void> | undefined;
  return {
    port,
    adminPort,
    policies,
    directory,
    metrics,
    close() {
      closing ??= (async () => {
        draining = true;
        await closeGracefully(server, config.shutdownGraceMs);
        await closeGracefully(adminServer, 1000);
        policies.close();
        upstream.close();
        directory.close();
        await cluster?.close();
      })();
      return closing;
    },
  };
}

function registerCacheCollectors(
  metrics: SidecarMetrics,
  verifier: { stats(): { cacheHits: number; cacheMisses: number } },
  directory: UserDirectory,
): void {
  // The caches count for themselves; /metrics turns their totals into counter increments.
  const seen = { credHit: 0, credMiss: 0, userHit: 0, userMiss: 0 };
  const original = metrics.registry.metrics.bind(metrics.registry);
  metrics.registry.metrics = async () => {
    const c = verifier.stats();
    const u = directory.stats();
    metrics.cacheEvents.inc({ cache: 'credential', result: 'hit' }, c.cacheHits - seen.credHit);
    metrics.cacheEvents.inc({ cache: 'credential', result: 'miss' }, c.cacheMisses - seen.credMiss);
    metrics.cacheEvents.inc({ cache: 'user', result: 'hit' }, u.hits - seen.userHit);
    metrics.cacheEvents.inc({ cache: 'user', result: 'miss' }, u.misses - seen.userMiss);
    Object.assign(seen, {
      credHit: c.cacheHits,
      credMiss: c.cacheMisses,
      userHit: u.hits,
      userMiss: u.misses,
    });
    return original();
  };
}

export function boundPort(server: Server): number {
  const addr = server.address();
  if (addr === null || typeof addr === 'string')
    throw new Error('server is not listening on a TCP port');
  return addr.port;
}

/**
 * Stops accepting, lets in-flight requests finish, closes idle keep-alive connections, and
 * cuts whatever is still open when the grace period ends.
 */
export function closeGracefully(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    timer.unref();
    // A keep-alive connection whose in-flight request finishes goes idle, and would hold the
    // close open until its keep-alive timeout: sweep those as they appear, not just once.
    const sweep = setInterval(() => server.closeIdleConnections(), 100);
    sweep.unref();
    server.close(() => {
      clearTimeout(timer);
      clearInterval(sweep);
      resolve();
    });
    server.closeIdleConnections();
  });
}
