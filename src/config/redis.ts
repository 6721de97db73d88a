/** Where the Redis the processes share is: REDIS_URL, or a Sentinel-monitored master. */
import { sentinelTargetUrl } from '../common/redis-connection.js';
import { ConfigError, str, url, type Env } from './env.js';

const SENTINELS_EXAMPLE = '10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379';

/** REDIS_URL, or Sentinel: both REDIS_SENTINELS and REDIS_SENTINEL_NAME, never with REDIS_URL. */
export function redisTarget(env: Env): string | undefined {
  const direct = url(env, 'REDIS_URL', ['redis:', 'rediss:'], 'redis://127.0.0.1:6379');
  const sentinels = str(env, 'REDIS_SENTINELS');
  const name = str(env, 'REDIS_SENTINEL_NAME');
  if (sentinels === undefined && name === undefined) return direct;
  if (direct !== undefined) {
    throw new ConfigError(
      'REDIS_SENTINELS',
      'set REDIS_URL or REDIS_SENTINELS and REDIS_SENTINEL_NAME, not both',
      SENTINELS_EXAMPLE,
    );
  }
  if (sentinels === undefined) {
    throw new ConfigError(
      'REDIS_SENTINELS',
      'REDIS_SENTINEL_NAME needs the Sentinel addresses too',
      SENTINELS_EXAMPLE,
    );
  }
  if (name === undefined) {
    throw new ConfigError(
      'REDIS_SENTINEL_NAME',
      'REDIS_SENTINELS needs the name of the monitored master too',
      'mymaster',
    );
  }
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) {
    throw new ConfigError('REDIS_SENTINEL_NAME', `is not a master name: "${name}"`, 'mymaster');
  }
  const nodes = sentinels.split(',').map((item) => {
    const m = /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):(\d{1,5})$/.exec(item.trim());
    const port = m === null ? NaN : Number(m[2]);
    if (m === null || port < 1 || port > 65535) {
      throw new ConfigError(
        'REDIS_SENTINELS',
        `"${item.trim()}" is not host:port (a comma-separated list)`,
        SENTINELS_EXAMPLE,
      );
    }
    return { host: (m[1] as string).replace(/^\[|\]$/g, ''), port };
  });
  return sentinelTargetUrl({ name, nodes });
}
