/**
 * Merging of relatively scaled observations into voxels (plan Module 3.S.4): every
 * observation becomes (I - C_i) / M_i with sigma / |M_i| (the model's uncertainty neglected,
 * as the plan says), and each voxel gets the inverse-variance weighted mean, its sigma
 * (1 / sqrt(sum of weights)) and its number of observations. Observations can arrive in
 * slabs (`MergeAccumulator.add`), so merging never needs them all in memory.
 */
import { scalingAt, type DiffuseObservations, type ScalingResult } from "./relative.js";
import { ScalingError } from "./errors.js";

export interface MergedVoxels {
  /** Per voxel index: merged intensity (NaN without observations), sigma, count. */
  intensity: Float64Array;
  sigma: Float64Array;
  nObs: Uint32Array;
}

export class MergeAccumulator {
  private readonly sumW: Float64Array;
  private readonly sumWI: Float64Array;
  private readonly nObs: Uint32Array;

  constructor(
    private readonly scaling: ScalingResult,
    readonly nVoxels: number,
  ) {
    this.sumW = new Float64Array(nVoxels);
    this.sumWI = new Float64Array(nVoxels);
    this.nObs = new Uint32Array(nVoxels);
  }

  add(obs: DiffuseObservations): void {
    for (let n = 0; n < obs.count; n++) {
      const v = obs.voxel[n]!;
      if (v < 0 || v >= this.nVoxels)
        throw new ScalingError(`observation ${n} has voxel ${v}, outside 0..${this.nVoxels - 1}`);
      const { multiplier, offset } = scalingAt(
        this.scaling,
        obs.still[n]!,
        obs.panel[n]!,
        obs.qLengthPerA[n]!,
        obs.xMm[n]!,
        obs.yMm[n]!,
      );
      const s = obs.sigma[n]! / Math.abs(multiplier);
      const w = 1 / (s * s);
      this.sumW[v]! += w;
      this.sumWI[v]! += (w * (obs.intensity[n]! - offset)) / multiplier;
      this.nObs[v]!++;
    }
  }

  result(): MergedVoxels {
    const intensity = new Float64Array(this.nVoxels),
      sigma = new Float64Array(this.nVoxels);
    for (let v = 0; v < this.nVoxels; v++) {
      intensity[v] = this.nObs[v] ? this.sumWI[v]! / this.sumW[v]! : NaN;
      sigma[v] = this.nObs[v] ? 1 / Math.sqrt(this.sumW[v]!) : NaN;
    }
    return { intensity, sigma, nObs: Uint32Array.from(this.nObs) };
  }
}

/** Inverse-variance merge of the scaled observations into `nVoxels` voxels. */
export function mergeScaled(
  obs: DiffuseObservations,
  scaling: ScalingResult,
  nVoxels: number,
): MergedVoxels {
  const m = new MergeAccumulator(scaling, nVoxels);
  m.add(obs);
  return m.result();
}
