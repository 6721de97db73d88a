/**
 * The cross-replica channel. Without REDIS_URL a sidecar runs alone and needs none; with it,
 * change events and revocations travel through Redis (./redis-cluster.ts).
 */
import type { Config } from '../../config.js';
import type { Logger } from '../../common/logger.js';
import { createRedisCluster } from './redis-cluster.js';
import type { SidecarCluster } from './cluster.js';

/** The cluster channel the configuration asks for, or undefined for a lone replica. */
// async with nothing to await: a failure to set the channel up reaches callers as a rejection,
// the same as a connection failure once the Redis client connects asynchronously.
// eslint-disable-next-line @typescript-eslint/require-await
export async function openCluster(
  config: Config,
  logger: Logger,
): Promise<SidecarCluster | undefined> {
  if (config.redisUrl === undefined) return undefined;
  return createRedisCluster({
    url: config.redisUrl,
    logger: logger.child({ component: 'cluster' }),
    failOpen: config.revocationFailOpen,
    clockToleranceSeconds: config.clockToleranceSeconds,
    maxLagMs: config.eventMaxLagMs,
    checkEachRequest: config.eventCheckEachRequest,
    consistency: config.eventConsistency,
    maxStalenessMs: config.eventMaxStalenessMs,
  });
}
