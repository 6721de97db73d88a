/**
 * The backend process: store, trust secret, roles and the express app behind one HTTP server,
 * with a graceful close (stop accepting, let in-flight requests finish, drop idle keep-alive
 * sockets, then close the store).
 */
import { mkdirSync } from 'node:fs';
import type { Config } from '../config.js';
import { boundPort, closeGracefully, createHttpServer, listen } from '../common/http-server.js';
import type { Logger } from '../common/logger.js';
import { resolveTrustSecret } from '../common/trust.js';
import { watchAllowedRoles } from './allowed-roles.js';
import { createBackendApp } from './app.js';
import { openStore } from './store/index.js';
import { lockDataDir } from './store/sqlite-lock.js';
import type { UserStore } from './store/store.js';

export interface RunningBackend {
  port: number;
  store: UserStore;
  /** Idempotent; resolves when the server and the store are closed. */
  close(): Promise<void>;
}

/** Options of {@link startBackend}. */
export interface BackendOptions {
  /**
   * Where the allowed roles come from when another part of the process already loads the schema
   * (`start`: the sidecar's policy store), so both change at the same reload. Without it the
   * backend watches `POLICY_DIR/schema.cedarschema` itself.
   */
  allowedRoles?: () => readonly string[];
}

/** Starts the users backend on `config.backendHost:config.backendPort` (0 = any free port). */
export async function startBackend(
  config: Config,
  logger: Logger,
  options: BackendOptions = {},
): Promise<RunningBackend> {
  const given = options.allowedRoles;
  const roles =
    given === undefined
      ? watchAllowedRoles(config.policyDir, { pollMs: config.policyPollMs, logger })
      : { current: given, close: () => undefined };
  let store: UserStore;
  let unlock = (): void => undefined;
  try {
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    if (config.redisUrl === undefined) unlock = lockDataDir(config.dataDir);
    store = await openStore(config, logger);
  } catch (err) {
    unlock();
    roles.close();
    throw err;
  }
  const app = createBackendApp({
    store,
    allowedRoles: () => roles.current(),
    trustSecret: resolveTrustSecret(config),
    logger,
    bodyLimitBytes: config.bodyLimitBytes,
    storeTimeoutMs: config.storeTimeoutMs,
    pageMaxBytes: config.pageMaxBytes,
  });
  // Requests node's parser refuses or times out never reach express (src/common/http-server.ts).
  const server = createHttpServer(config, app);
  try {
    await listen(server, {
      port: config.backendPort,
      host: config.backendHost,
      portVariable: 'BACKEND_PORT',
      hostVariable: 'BACKEND_HOST',
    });
  } catch (err) {
    roles.close();
    await store.close();
    unlock();
    throw err;
  }
  const port = boundPort(server);

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await closeGracefully(server, config.shutdownGraceMs);
      roles.close();
      await store.close();
      unlock();
    })();
    return closing;
  };
  return { port, store, close };
}
