/**
 * Assembles a running sidecar, for `start` and `sidecar` alike: the parts (parts.ts: the policy
 * store, the cluster channel, the credential verifier, the user directory...), the forwarder and
 * the pipeline on the data port, plus the admin server. Whatever is opened is closed again if a
 * later step fails.
 */
import type { Server } from 'node:http';
import type { Config } from '../config.js';
import type { Logger } from '../common/logger.js';
import { boundPort, closeGracefully, createHttpServer, listen } from '../common/http-server.js';
import { createAdminApp } from './admin/admin-app.js';
import { createPlayground, type Playground } from './admin/playground.js';
import { createPlaygroundRouter } from './admin/playground-app.js';
import type { Identity } from './authn/identity.js';
import type { PolicyStore } from './authz/policy-store.js';
import type { UserDirectory } from './directory.js';
import type { SidecarMetrics } from './metrics.js';
import {
  createClosers,
  openParts,
  type Closers,
  type Parts,
  type SidecarOptions,
} from './parts.js';
import { createPipeline } from './pipeline.js';
import { createForwarder } from './proxy.js';
import { createReadiness } from './admin/readiness.js';
import { createSidecarServer } from './server.js';

export type { SidecarOptions } from './parts.js';

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
