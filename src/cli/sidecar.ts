/** `cedargate sidecar`: the sidecar alone, in front of a backend at UPSTREAM_URL. */
import { loadConfig } from '../config.js';
import { createLogger } from '../common/logger.js';
import { resolveTrustSecret } from '../common/trust.js';
import { startSidecar, type SidecarOptions } from '../sidecar/server.js';
import { openCluster } from '../sidecar/cluster/index.js';
import { keySourceOf, serveUntilSignal } from './serve.js';
import { parseFlags } from './usage.js';

export async function run(args: string[]): Promise<number> {
  parseFlags(args, {}, 'cedargate sidecar   (configured by environment: see README)');
  const config = loadConfig('sidecar');
  const logger = createLogger(config.logLevel);
  const options: SidecarOptions = {
    config,
    logger,
    trustSecret: resolveTrustSecret(config),
    keys: keySourceOf(config, logger),
  };
  const cluster = await openCluster(config, logger);
  if (cluster !== undefined) options.cluster = cluster;
  const sidecar = await startSidecar(options);
  return serveUntilSignal(
    logger,
    () => sidecar.close(),
    () => void sidecar.policies.reload('SIGHUP'),
  );
}
