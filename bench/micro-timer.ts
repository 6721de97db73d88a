/**
 * The micro-benchmarks' timer: per-call timings after a warm-up, summarized as one row. Shared
 * by micro.ts and micro-roles.ts so every micro row is measured and rounded the same way.
 */
import { createSamples, percentileOf, round } from './stats.js';

/** Per-call timings of one micro-benchmark, in microseconds. */
export interface MicroResult {
  name: string;
  iterations: number;
  p50Us: number;
  p99Us: number;
  meanUs: number;
  /** What every call returned, summarized (e.g. "allowed": proves the work was real). */
  outcome: string;
}

/** Times `fn` on each input after `warmup` untimed calls; outcome = the distinct results. */
export function timeSync<T>(
  name: string,
  inputs: readonly T[],
  warmup: number,
  fn: (input: T) => { allowed: boolean; cached: boolean },
): MicroResult {
  const samples = createSamples(inputs.length);
  const outcomes = new Set<string>();
  for (let i = 0; i < inputs.length; i++) {
    const input = inputs[i] as T;
    const t0 = process.hrtime.bigint();
    const d = fn(input);
    const t1 = process.hrtime.bigint();
    if (i >= warmup) {
      samples.push(Number(t1 - t0) / 1000);
      outcomes.add(`${d.allowed ? 'allowed' : 'denied'}${d.cached ? ' (cached)' : ''}`);
    }
  }
  return summarize(name, samples.sorted(), [...outcomes].sort().join(', '));
}

/** Times each awaited call of `fn`, no warm-up; the outcome is given. */
export async function timeAsync(
  name: string,
  inputs: readonly string[],
  fn: (input: string) => Promise<unknown>,
  outcome: string,
): Promise<MicroResult> {
  const samples = createSamples(inputs.length);
  for (const input of inputs) {
    const t0 = process.hrtime.bigint();
    await fn(input);
    samples.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  return summarize(name, samples.sorted(), outcome);
}

function summarize(name: string, sorted: Float64Array, outcome: string): MicroResult {
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    name,
    iterations: sorted.length,
    p50Us: round(percentileOf(sorted, 0.5), 2),
    p99Us: round(percentileOf(sorted, 0.99), 2),
    meanUs: round(sum / Math.max(1, sorted.length), 2),
    outcome,
  };
}
