/**
 * Statistics of the values on display, computed in a Worker (stats-worker.ts) so that a large
 * sample never blocks the page: the count, min, max, mean and standard deviation of the finite
 * values, the NaN and infinity counts, and a histogram of the finite values; for 64-bit integers
 * also the exact min and max. Pure, so the tests compute the same histogram in Node.
 *
 * @module
 */

/** Bars of the histogram. */
export const HISTOGRAM_BINS = 64;

/** What the page shows for the values of one array (or its sample). */
export interface Stats {
  readonly count: number;
  readonly finite: number;
  readonly min: number;
  readonly max: number;
  readonly mean: number;
  /** Population standard deviation (numpy's `std`). */
  readonly std: number;
  readonly nan: number;
  readonly inf: number;
  /** {@link HISTOGRAM_BINS} counts of finite values over [min, max]; the last bin includes max. */
  readonly histogram: number[];
  /** For 64-bit integers (given as such), the exact min and max, which `min` and `max` (doubles) may round. */
  readonly exact?: { readonly min: bigint; readonly max: bigint };
}

/** The bin of `value` in a histogram of `bins` bins over [min, max]. */
export function binOf(value: number, min: number, max: number, bins: number): number {
  return max > min ? Math.min(bins - 1, Math.floor(((value - min) / (max - min)) * bins)) : 0;
}

/**
 * The statistics of `values`; `integers`, the same elements as 64-bit integers when they are
 * (int64, uint64), gives the exact min and max.
 */
export function computeStats(values: Float64Array, integers?: BigInt64Array | BigUint64Array): Stats {
  let min = Infinity;
  let max = -Infinity;
  let nan = 0;
  let inf = 0;
  let sum = 0;
  for (const v of values) {
    if (Number.isNaN(v)) nan++;
    else if (!Number.isFinite(v)) inf++;
    else {
      if (v < min) min = v;
      if (v > max) max = v;
      sum += v;
    }
  }
  const finite = values.length - nan - inf;
  const mean = finite > 0 ? sum / finite : NaN;
  let squares = 0;
  const histogram = new Array<number>(HISTOGRAM_BINS).fill(0);
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    squares += (v - mean) ** 2;
    histogram[binOf(v, min, max, HISTOGRAM_BINS)]!++;
  }
  const stats = { count: values.length, finite, min: finite ? min : NaN, max: finite ? max : NaN, mean, std: finite ? Math.sqrt(squares / finite) : NaN, nan, inf, histogram };
  return integers?.length ? { ...stats, exact: exactRange(integers) } : stats;
}

function exactRange(integers: BigInt64Array | BigUint64Array): { min: bigint; max: bigint } {
  let min = integers[0]!;
  let max = min;
  for (const v of integers) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max };
}
