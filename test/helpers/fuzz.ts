/**
 * FUZZ_RUNS and FUZZ_SEED, read one way by every property suite: FUZZ_RUNS=<n> sets the runs of
 * each property (a suite's own default otherwise), FUZZ_SEED=<n> replays the run that seed drew.
 */
import type fc from 'fast-check';

/** FUZZ_SEED=<n> when set: the seed to replay; undefined lets fast-check draw one. */
export const FUZZ_SEED: number | undefined =
  process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);

/** FUZZ_RUNS=<n> when set (and not 0), else the suite's `byDefault`. */
export function fuzzRuns(byDefault: number): number {
  return Number(process.env.FUZZ_RUNS ?? 0) || byDefault;
}

/** fast-check's parameters: `numRuns` runs, `more`, and FUZZ_SEED's seed when it is set. */
export function fuzzParameters<T>(numRuns: number, more: fc.Parameters<T> = {}): fc.Parameters<T> {
  return { numRuns, ...more, ...(FUZZ_SEED === undefined ? {} : { seed: FUZZ_SEED }) };
}
