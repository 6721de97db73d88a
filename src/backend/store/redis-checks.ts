/**
 * What the users store re-reads on every (re)connection, before any command runs on it: whether
 * this Redis may hold the store (its eviction policy, redis-health.ts) and which data set it is
 * (the store generation its users' ETags carry, src/common/store-generation.ts). The generation
 * is also re-read every `generationCheckMs`, and after a refused conditional write.
 */
import type { Logger } from '../../common/logger.js';
import { ensureGeneration, logGenerationChange } from '../../common/store-generation.js';
import { checkEvictionPolicy, evictionRefusal, SAFE_EVICTION_POLICY } from './redis-health.js';
import type { StoreClient } from './redis-scripts.js';

/** The checks' findings, and how to run them again. */
export interface StoreChecks {
  /** Resolves once the checks of the current connection ran (whatever they found). */
  settled(): Promise<void>;
  /** Why the store refuses to serve (an evicting Redis), or undefined. */
  refusal(): string | undefined;
  /** The generation this store remembers; its users' ETags carry it. */
  generation(): string;
  /** Runs both checks again; commands wait for them. */
  recheck(): Promise<void>;
  /** Re-reads the generation only. */
  checkGeneration(): Promise<void>;
  close(): void;
}

/**
 * Runs the checks on every `ready` of `client` and the generation's every `generationCheckMs`.
 * Commands wait on {@link StoreChecks.settled}, so none runs on an unchecked connection.
 */
export function watchStoreChecks(
  client: StoreClient,
  options: { prefix: string; logger: Logger | undefined; generationCheckMs: number },
): StoreChecks {
  const eviction = evictionWatch(client, options.logger);
  const { prefix, logger } = options;
  let generation = '';
  async function checkGeneration(): Promise<void> {
    const found = await ensureGeneration(client, prefix);
    if (generation !== '' && found !== generation) {
      logGenerationChange(logger, {
        old: generation,
        new: found,
        reason: 'the store generation is not the one this process read',
        component: 'users store',
      });
    }
    generation = found;
  }
  let checking: Promise<void> = Promise.resolve();
  function recheck(): Promise<void> {
    // offline: the command itself says so
    checking = Promise.all([eviction.check(), checkGeneration()]).then(
      () => undefined,
      () => undefined,
    );
    return checking;
  }
  client.on('ready', () => void recheck());
  const timer = setInterval(() => {
    if (client.isReady) checkGeneration().catch(() => undefined);
  }, options.generationCheckMs);
  timer.unref();
  return {
    settled: () => checking,
    refusal: () => eviction.refusal,
    generation: () => generation,
    recheck,
    checkGeneration,
    close: () => clearInterval(timer),
  };
}

/** The eviction policy, read again on each call; the refusal logged when it changes. */
function evictionWatch(client: StoreClient, logger: Logger | undefined) {
  const state: { refusal: string | undefined; warnedUnknown: boolean } = {
    refusal: undefined,
    warnedUnknown: false,
  };
  async function check(): Promise<void> {
    const found = await checkEvictionPolicy(client);
    if (found.kind === 'evicting') {
      const message = evictionRefusal(found.policy);
      if (state.refusal !== message) {
        logger?.error({ setting: 'maxmemory-policy', value: found.policy }, message);
      }
      state.refusal = message;
      return;
    }
    if (state.refusal !== undefined) {
      logger?.info(`users store: Redis maxmemory-policy is ${SAFE_EVICTION_POLICY}; serving again`);
    }
    state.refusal = undefined;
    if (found.kind === 'unknown' && !state.warnedUnknown) {
      state.warnedUnknown = true;
      logger?.warn(
        { setting: 'maxmemory-policy', reason: found.reason },
        `users store: cannot read maxmemory-policy from Redis; serving, but make sure it is ` +
          `${SAFE_EVICTION_POLICY} (an evicting policy loses users and revocations)`,
      );
    }
  }
  return {
    check,
    get refusal() {
      return state.refusal;
    },
  };
}
