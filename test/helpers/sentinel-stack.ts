/**
 * Redis through Sentinel for end-to-end tests, on real processes: a primary, one replica in sync
 * with it, three redis-sentinel monitoring it, and `cedargate start` given REDIS_SENTINELS. The
 * Sentinel suites (failover, acknowledged writes, operations) all start from this.
 */
import { waitFor } from './net.js';
import {
  replicationLinkUp,
  startRedis,
  startSentinels,
  type RunningRedis,
  type RunningSentinels,
} from './redis.js';
import { startStack, type Stack } from './stack.js';

export interface SentinelStack {
  primary: RunningRedis;
  replica: RunningRedis;
  sentinels: RunningSentinels;
  stack: Stack;
  /** REDIS_SENTINELS and REDIS_SENTINEL_NAME: what a CLI command needs to reach the store. */
  env: Record<string, string>;
  /** Stops the stack, the sentinels, the replica and the primary, in that order. */
  stop(): Promise<void>;
}

/**
 * Starts the primary, its replica (resolves only once their link is up), the sentinels watching
 * `master`, then the stack with the sentinels' environment and `stackEnv` on top. What started is
 * stopped again if a later step fails.
 */
export async function startSentinelStack(
  master: string,
  stackEnv: Record<string, string> = {},
): Promise<SentinelStack> {
  const started: { stop(): Promise<void> }[] = [];
  const stop = async (): Promise<void> => {
    for (const p of [...started].reverse()) await p.stop();
  };
  try {
    const primary = await startRedis();
    started.push(primary);
    const replica = await startRedis({ replicaOf: primary.port });
    started.push(replica);
    await waitFor(() => replicationLinkUp(replica.port), 20_000, 'replica in sync');
    const sentinels = await startSentinels(primary.port, master);
    started.push(sentinels);
    const env = { REDIS_SENTINELS: sentinels.addresses, REDIS_SENTINEL_NAME: master };
    const stack = await startStack({ env: { ...env, ...stackEnv } });
    started.push(stack);
    return { primary, replica, sentinels, stack, env, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
