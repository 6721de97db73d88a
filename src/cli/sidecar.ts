/** `cedargate sidecar`: the sidecar alone, in front of a backend at UPSTREAM_URL. */
import { loadConfig } from '../config.js';
import { createLogger, routeConsoleTo } from '../common/logger.js';
import { startSidecar } from '../sidecar/assemble.js';
import { serveUntilSignal } from './serve.js';
import { parseFlags } from './usage.js';

export async function run(args: string[]): Promise<number> {
  parseFlags(args, {}, 'cedargate sidecar   (configured by environment: see README)');
  const config = loadConfig('sidecar');
  const logger = createLogger(config.logLevel);
  routeConsoleTo(logger);
  const sidecar = await startSidecar({ config, logger });
  return serveUntilSignal(logger, () => sidecar.close(), {
    graceMs: config.shutdownGraceMs,
    onHangup: () => {
      void sidecar.policies.reload('SIGHUP');
      void sidecar.identity.reload('SIGHUP');
    },
  });
}
