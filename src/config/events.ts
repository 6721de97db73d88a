/** How fresh a sidecar's view of the change stream must be (docs/scaling.md). */
import { bool, ConfigError, int, str, type Env } from './env.js';

/** EVENT_CONSISTENCY's values (docs/scaling.md, "Consistency modes"). */
export const EVENT_CONSISTENCIES = ['next-request', 'bounded'] as const;
export type EventConsistency = (typeof EVENT_CONSISTENCIES)[number];

/**
 * EVENT_CONSISTENCY with its bound and EVENT_CHECK_EACH_REQUEST (which only `next-request` reads:
 * set beside `bounded` it would promise a check that never runs). The bound may not exceed
 * EVENT_MAX_LAG_MS, the longest a request waits for the reader.
 */
export function eventConsistency(env: Env): {
  eventConsistency: EventConsistency;
  eventMaxStalenessMs: number;
  eventCheckEachRequest: boolean;
} {
  const raw = str(env, 'EVENT_CONSISTENCY') ?? 'next-request';
  const mode = EVENT_CONSISTENCIES.find((m) => m === raw);
  if (mode === undefined) {
    throw new ConfigError(
      'EVENT_CONSISTENCY',
      `must be one of ${EVENT_CONSISTENCIES.join(', ')}; got "${raw}"`,
      'bounded',
    );
  }
  const maxLagMs = int(env, 'EVENT_MAX_LAG_MS', 2_000, 10, 600_000, '2000');
  const bound = int(env, 'EVENT_MAX_STALENESS_MS', 100, 10, 60_000, '100');
  if (bound > maxLagMs) {
    throw new ConfigError(
      'EVENT_MAX_STALENESS_MS',
      `must not exceed EVENT_MAX_LAG_MS (${maxLagMs}), got ${bound}`,
      String(Math.min(100, maxLagMs)),
    );
  }
  if (mode === 'bounded' && str(env, 'EVENT_CHECK_EACH_REQUEST') !== undefined) {
    throw new ConfigError(
      'EVENT_CHECK_EACH_REQUEST',
      'applies only to EVENT_CONSISTENCY=next-request; unset it with EVENT_CONSISTENCY=bounded',
      'true',
    );
  }
  return {
    eventConsistency: mode,
    eventMaxStalenessMs: bound,
    eventCheckEachRequest: bool(env, 'EVENT_CHECK_EACH_REQUEST', true),
  };
}
