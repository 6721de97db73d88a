/**
 * Picks the users store for a configuration: the one place that knows which implementations
 * exist. SQLite under DATA_DIR is the embedded default.
 */
import { ConfigError, type Config } from '../../config.js';
import { openSqliteStore } from './sqlite.js';
import type { UserStore } from './store.js';

/** Opens the store the configuration asks for. */
export async function openStore(config: Pick<Config, 'dataDir' | 'redisUrl'>): Promise<UserStore> {
  if (config.redisUrl !== undefined) {
    // The Redis store (redis.ts) plugs in here. Until it exists, refusing is safer than
    // silently giving each replica its own SQLite file while REDIS_URL promises shared data.
    throw new ConfigError(
      'REDIS_URL',
      'the Redis users store is not available in this build; unset REDIS_URL to use SQLite',
      'redis://127.0.0.1:6379',
    );
  }
  return openSqliteStore(config.dataDir);
}
