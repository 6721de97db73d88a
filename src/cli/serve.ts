/** What the long-running commands share: living until a signal. */
import type { Logger } from '../common/logger.js';

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
