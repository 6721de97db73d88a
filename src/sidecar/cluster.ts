/**
 * The cross-replica channel. Without REDIS_URL a sidecar runs alone and needs none; the Redis
 * implementation (invalidation and revocation) plugs in here.
 */
import type { Config } from '../config.js';
import type { Logger } from '../common/logger.js';
import type { SidecarCluster } from './server.js';

export async function openCluster(config: Config, _logger: Logger): Promise<SidecarCluster | undefined> {
  if (config.redisUrl === undefined) return undefined;
  throw new Error('REDIS_URL is set, but the Redis cluster channel is not available in this build');
}
