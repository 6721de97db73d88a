/** What the long-running commands share: living until a signal, and dying within a bound. */
import type { Logger } from '../common/logger.js';

/**
 * What a stop may take beyond SHUTDOWN_GRACE_MS before the process exits anyway: closing the
 * store, the change stream and the admin port once the requests have drained.
 */
export const SHUTDOWN_MARGIN_MS = 5_000;

export interface ServeOptions {
  /** SHUTDOWN_GRACE_MS: how long in-flight requests get. */
  graceMs: number;
  onHangup?: () => void;
}

/**
 * Resolves when SIGTERM or SIGINT arrives, after `stop` has drained; SIGHUP calls `onHangup`.
 * Whatever `stop` waits on (a Redis that went away mid-close, a key server, a backend), the
 * process ends within `graceMs` + {@link SHUTDOWN_MARGIN_MS} of the signal; a second signal
 * while stopping exits at once.
 */
export function serveUntilSignal(
  logger: Logger,
  stop: () => Promise<void>,
  options: ServeOptions,
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
      const deadline = setTimeout(() => {
        logger.error(
          { graceMs: options.graceMs, marginMs: SHUTDOWN_MARGIN_MS },
          'could not close everything within SHUTDOWN_GRACE_MS plus the margin: exiting now',
        );
        process.exit(1);
      }, options.graceMs + SHUTDOWN_MARGIN_MS);
      stop().then(
        () => {
          logger.info('stopped');
          // Nothing of ours should keep the process alive now; if a library's handle still
          // does, the deadline ends it (unref'd: it never keeps the process alive itself).
          deadline.unref();
          resolve(0);
        },
        (err: unknown) => {
          logger.error({ err }, 'error while stopping');
          deadline.unref();
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    if (options.onHangup !== undefined) process.on('SIGHUP', options.onHangup);
  });
}
