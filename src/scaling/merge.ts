/**
 * Merging of relatively scaled observations into voxels (plan Module 3.S.4): every
 * observation becomes (I - C_i) / M_i with sigma / |M_i| (the model's uncertainty neglected,
 * as the plan says), and each voxel gets the inverse-variance weighted mean, its sigma
 * (1 / sqrt(sum of weights)) and its number of observations.
 */
import { scalingAt, type DiffuseObservations, type ScalingResult } from "./relative.js";
import { ScalingError } from "./errors.js";

export interface MergedVoxels {
  /** Per voxel index: merged intensity (NaN without observations), sigma, count. */
  intensity: Float64Array;
  sigma: Float64Array;
  nObs: Uint32Array;
}

/** Inverse-variance merge of the scaled observations into `nVoxels` voxels. */
export function mergeScaled(
  obs: DiffuseObservations,
  scaling: ScalingResult,
  nVoxels: number,
): MergedVoxels {
  const sumW = new Float64Array(nVoxels),
    sumWI = new Float64Array(nVoxels);
  const nObs = new Uint32Array(nVoxels);
  for (let n = 0; n < obs.count; n++) {
    const v = obs.voxel[n]!;
    if (v < 0 || v >= nVoxels)
      throw new ScalingError(`observation ${n} has voxel ${v}, outside 0..${nVoxels - 1}`);
    const { multiplier, offset } = scalingAt(
      scaling,
      obs.still[n]!,
      obs.panel[n]!,
      obs.qLengthPerA[n]!,
      obs.xMm[n]!,
      obs.yMm[n]!,
    );
    const i = (obs.intensity[n]! - offset) / multiplier;
    const s = obs.sigma[n]! / Math.abs(multiplier);
    const w = 1 / (s * s);
    sumW[v]! += w;
    sumWI[v]! += w * i;
    nObs[v]!++;
  }
  const intensity = new Float64Array(nVoxels),
    sigma = new Float64Array(nVoxels);
  for (let v = 0; v < nVoxels; v++) {
    intensity[v] = nObs[v] ? sumWI[v]! / sumW[v]! : NaN;
    sigma[v] = nObs[v] ? 1 / Math.sqrt(sumW[v]!) : NaN;
  }
  return { intensity, sigma, nObs };
}
