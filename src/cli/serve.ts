/** What the long-running commands share: key source from config, and living until a signal. */
import type { Config } from '../config.js';
import type { Logger } from '../common/logger.js';
import type { KeySource } from '../sidecar/authn/verifier.js';

/** JWKS_URL, JWKS_FILE, or (in `start` only) the development key in DATA_DIR. */
export function keySourceOf(config: Config, logger: Logger): KeySource {
  if (config.jwksUrl !== undefined) {
    return {
      kind: 'url',
      url: config.jwksUrl,
      timeoutMs: config.jwksTimeoutMs,
      cooldownMs: config.jwksCooldownMs,
    };
  }
  if (config.jwksFile !== undefined) return { kind: 'file', path: config.jwksFile };
  if (config.mode !== 'start') throw new Error('a key source is required outside `start`');
  logger.warn(
    { dataDir: config.dataDir },
    'no JWKS_URL or JWKS_FILE: trusting the DEVELOPMENT signing key in DATA_DIR (fine on a laptop, never in production)',
  );
  return { kind: 'dev', dataDir: config.dataDir };
}

/**
 * Resolves when SIGTERM or SIGINT arrives, after `stop` has drained; SIGHUP calls `onHangup`.
 * A second signal while stopping exits at once.
 */
export function serveUntilSignal(
  logger: Logger,
  stop: () => Promise<void>,
  onHangup?: () => void,
): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal }, 'shutting down: draining in-flight requests');
      stop().then(
        () => {
          logger.info('stopped');
          resolve(0);
        },
        (err: unknown) => {
          logger.error({ err }, 'error while stopping');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    if (onHangup !== undefined) process.on('SIGHUP', onHangup);
  });
}
