/** Small numeric helpers of the benchmark: percentiles and a least-squares slope. */

/** Latency percentiles in milliseconds. */
export interface Percentiles {
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

/** Growable float buffer: recording a sample must not allocate per request. */
export interface Samples {
  push(value: number): void;
  readonly length: number;
  /** A sorted copy of what was recorded. */
  sorted(): Float64Array;
}

/** Creates an empty sample buffer. */
export function createSamples(initialCapacity = 1 << 16): Samples {
  let data = new Float64Array(initialCapacity);
  let length = 0;
  return {
    push(value) {
      if (length === data.length) {
        const bigger = new Float64Array(data.length * 2);
        bigger.set(data);
        data = bigger;
      }
      data[length++] = value;
    },
    get length() {
      return length;
    },
    sorted: () => data.slice(0, length).sort(),
  };
}

/** Nearest-rank percentile of an ascending array (`q` in 0..1); NaN when empty. */
export function percentileOf(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] as number;
}

/** p50 / p99 / p99.9 / max of an ascending array. */
export function percentilesOf(sorted: ArrayLike<number>): Percentiles {
  return {
    p50: percentileOf(sorted, 0.5),
    p99: percentileOf(sorted, 0.99),
    p999: percentileOf(sorted, 0.999),
    max: sorted.length === 0 ? Number.NaN : (sorted[sorted.length - 1] as number),
  };
}

/** Least-squares slope of y over x (units of y per unit of x); 0 with fewer than two points. */
export function slopeOf(points: ReadonlyArray<{ x: number; y: number }>): number {
  const n = points.length;
  if (n < 2) return 0;
  let sx = 0;
  let sy = 0;
  for (const p of points) {
    sx += p.x;
    sy += p.y;
  }
  const mx = sx / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** Rounds for reports: 3 significant decimals are plenty for ms and ratios. */
export function round(value: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
