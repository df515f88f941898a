/**
 * Streaming per-voxel statistics: Welford's online mean/M2 (unweighted) and West's weighted
 * variant (inverse-variance weights w = 1/sigma^2), with exact merging of partial results by
 * the parallel algorithm of Chan, Golub & LeVeque (1979).
 *
 * Layout: one Float64Array, STAT_STRIDE numbers per voxel, interleaved, so one observation
 * touches one or two cache lines instead of six arrays:
 *
 *   [v*6 + 0] n       number of observations (an integer held exactly in a double, < 2^53)
 *   [v*6 + 1] mean    unweighted mean intensity
 *   [v*6 + 2] m2      sum of squared deviations from the mean (variance = m2 / (n - 1))
 *   [v*6 + 3] sumW    sum of weights 1/sigma^2 (observations with sigma = 0 have weight 0)
 *   [v*6 + 4] wMean   inverse-variance weighted mean (0 while sumW = 0)
 *   [v*6 + 5] wM2     weighted sum of squared deviations sum w (I - wMean)^2
 *
 * The weighted mean and sumW are what merging needs (I_merged = wMean, sigma_merged =
 * 1/sqrt(sumW)); wM2 gives the weighted scatter (a chi-square: wM2 / (n - 1) near 1 when the
 * sigmas describe the scatter).
 */

export const STAT_STRIDE = 6;
export const STAT_N = 0;
export const STAT_MEAN = 1;
export const STAT_M2 = 2;
export const STAT_SUM_W = 3;
export const STAT_W_MEAN = 4;
export const STAT_W_M2 = 5;

/** Names of the six fields, in layout order (also the HDF5 dataset names under /voxels). */
export const STAT_FIELDS = [
  "n_obs",
  "mean",
  "m2",
  "sum_w",
  "weighted_mean",
  "weighted_m2",
] as const;
export type StatField = (typeof STAT_FIELDS)[number];

export function allocateStats(nVoxels: number): Float64Array {
  return new Float64Array(nVoxels * STAT_STRIDE);
}

/**
 * Add observations to the statistics: `voxels[i]` (negative = skip), `intensity[i]`,
 * `sigma[i]` for i in [0, count). Observations are applied in index order (so a rerun over
 * the same data in the same order gives bit-identical statistics).
 */
export function accumulateStats(
  stats: Float64Array,
  voxels: Int32Array,
  intensity: ArrayLike<number>,
  sigma: ArrayLike<number>,
  count: number,
  intensityOffset = 0,
): void {
  for (let i = 0; i < count; i++) {
    const v = voxels[i]!;
    if (v < 0) continue;
    const x = intensity[intensityOffset + i]!;
    const s = sigma[intensityOffset + i]!;
    const o = v * STAT_STRIDE;
    const n = stats[o]! + 1;
    stats[o] = n;
    const mean = stats[o + 1]!;
    const d = x - mean;
    const newMean = mean + d / n;
    stats[o + 1] = newMean;
    stats[o + 2]! += d * (x - newMean);
    if (s > 0) {
      const w = 1 / (s * s);
      const sw = stats[o + 3]! + w;
      stats[o + 3] = sw;
      const wm = stats[o + 4]!;
      const dw = x - wm;
      const newWm = wm + (dw * w) / sw;
      stats[o + 4] = newWm;
      stats[o + 5]! += w * dw * (x - newWm);
    }
  }
}

/**
 * Merge the statistics `from` into `into` (same grid): Chan et al.'s pairwise update,
 *   n = nA + nB,  d = meanB - meanA,  mean = meanA + d nB / n,  M2 = M2A + M2B + d^2 nA nB / n,
 * and the same with weights. Counts add exactly; the merged means agree with one sequential
 * pass to rounding (a few ulps).
 */
export function mergeStats(into: Float64Array, from: Float64Array): void {
  if (into.length !== from.length) {
    throw new RangeError(`statistics of different grids: ${into.length} vs ${from.length} numbers`);
  }
  for (let o = 0; o < from.length; o += STAT_STRIDE) {
    const nB = from[o]!;
    if (nB === 0) continue;
    const nA = into[o]!;
    if (nA === 0) {
      for (let k = 0; k < STAT_STRIDE; k++) into[o + k] = from[o + k]!;
      continue;
    }
    const n = nA + nB;
    const d = from[o + 1]! - into[o + 1]!;
    into[o] = n;
    into[o + 1] = into[o + 1]! + (d * nB) / n;
    into[o + 2] = into[o + 2]! + from[o + 2]! + ((d * d * nA) / n) * nB;
    const wB = from[o + 3]!;
    if (wB === 0) continue;
    const wA = into[o + 3]!;
    if (wA === 0) {
      into[o + 3] = wB;
      into[o + 4] = from[o + 4]!;
      into[o + 5] = from[o + 5]!;
      continue;
    }
    const w = wA + wB;
    const dw = from[o + 4]! - into[o + 4]!;
    into[o + 3] = w;
    into[o + 4] = into[o + 4]! + (dw * wB) / w;
    into[o + 5] = into[o + 5]! + from[o + 5]! + ((dw * dw * wA) / w) * wB;
  }
}

/** One field of voxels [start, start + count) into `out` (de-interleaved). */
export function statColumn(
  stats: Float64Array,
  field: number,
  start: number,
  count: number,
  out: Float64Array = new Float64Array(count),
): Float64Array {
  for (let i = 0, o = start * STAT_STRIDE + field; i < count; i++, o += STAT_STRIDE)
    out[i] = stats[o]!;
  return out;
}

/** Inverse of statColumn: set one field of voxels [start, start + values.length). */
export function setStatColumn(
  stats: Float64Array,
  field: number,
  start: number,
  values: ArrayLike<number>,
): void {
  for (let i = 0, o = start * STAT_STRIDE + field; i < values.length; i++, o += STAT_STRIDE) {
    stats[o] = values[i]!;
  }
}

/** Per-voxel summary of one voxel's statistics. */
export interface VoxelStatistics {
  nObservations: number;
  mean: number;
  /** Sample variance m2 / (n - 1) (NaN for n < 2). */
  variance: number;
  sumWeights: number;
  /** Inverse-variance weighted mean (NaN when no observation has sigma > 0). */
  weightedMean: number;
  /** 1 / sqrt(sum of weights): the sigma of the weighted mean (NaN without weights). */
  weightedSigma: number;
  /** Weighted scatter sum w (I - weightedMean)^2. */
  weightedM2: number;
}

export function voxelStatistics(stats: Float64Array, voxel: number): VoxelStatistics {
  const o = voxel * STAT_STRIDE;
  const n = stats[o]!;
  const sw = stats[o + 3]!;
  return {
    nObservations: n,
    mean: n > 0 ? stats[o + 1]! : NaN,
    variance: n > 1 ? stats[o + 2]! / (n - 1) : NaN,
    sumWeights: sw,
    weightedMean: sw > 0 ? stats[o + 4]! : NaN,
    weightedSigma: sw > 0 ? 1 / Math.sqrt(sw) : NaN,
    weightedM2: stats[o + 5]!,
  };
}
