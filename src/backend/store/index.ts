/**
 * Picks the users store for a configuration: the one place that knows which implementations
 * exist. SQLite under DATA_DIR is the embedded default; REDIS_URL switches every process
 * (backends, `tenant create`) to the one shared Redis store.
 */
import type { Config } from '../../config.js';
import type { Logger } from '../../common/logger.js';
import { openRedisStore } from './redis.js';
import { openSqliteStore } from './sqlite.js';
import type { UserStore } from './store.js';

/** Opens the store the configuration asks for. */
export async function openStore(
  config: Pick<Config, 'dataDir' | 'redisUrl'> & Partial<Pick<Config, 'eventStreamMaxLen'>>,
  logger?: Logger,
  /** `waitForLocks`: a one-shot command's SQLite writes wait for another process (sqlite.ts). */
  options: { waitForLocks?: boolean } = {},
): Promise<UserStore> {
  if (config.redisUrl !== undefined) {
    return openRedisStore(config.redisUrl, {
      ...(logger === undefined ? {} : { logger }),
      ...(config.eventStreamMaxLen === undefined
        ? {}
        : { eventStreamMaxLen: config.eventStreamMaxLen }),
    });
  }
  return openSqliteStore(config.dataDir, { waitForLocks: options.waitForLocks === true });
}
