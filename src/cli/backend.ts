/**
 * `cedargate backend`: the users backend alone (its own container in a pod). Runs until
 * SIGTERM or SIGINT, then closes gracefully and exits 0 — within SHUTDOWN_GRACE_MS plus a margin
 * whatever the store does (serve.ts).
 */
import { loadConfig } from '../config.js';
import { createLogger, routeConsoleTo } from '../common/logger.js';
import { startBackend } from '../backend/server.js';
import { serveUntilSignal } from './serve.js';
import { parseFlags } from './usage.js';

const USAGE = 'cedargate backend   (configured by the environment: BACKEND_PORT, DATA_DIR, ...)';

export async function run(args: string[]): Promise<number> {
  parseFlags(args, {}, USAGE);
  const config = loadConfig('backend');
  const logger = createLogger(config.logLevel, 'cedargate-backend');
  routeConsoleTo(logger);
  const backend = await startBackend(config, logger);
  logger.info(
    { host: config.backendHost, port: backend.port, dataDir: config.dataDir },
    `backend listening on http://${config.backendHost}:${backend.port}`,
  );
  return serveUntilSignal(logger, () => backend.close(), { graceMs: config.shutdownGraceMs });
}
