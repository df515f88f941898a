// Synthetic stills for the voxel tests: random orientations, slightly jittered cells, and
// observations at random fractional hkl within a resolution shell.
import type { Crystal, Mat3 } from "../../src/geometry/models.js";
import { bMatrix, type UnitCell } from "../../src/geometry/crystal.js";
import { mat3Inverse, mat3Mul, mat3MulVec } from "../../src/geometry/vec3.js";
import { Rng } from "../../src/synth/random.js";

/** A uniformly random rotation. */
export const randomRotation = (rng: Rng): Mat3 => rng.rotation();

export function crystalFrom(u: Mat3, cell: UnitCell, hall: string): Crystal {
  const r = mat3Inverse(mat3Mul(u, bMatrix(cell)));
  return {
    realSpaceA: [r[0], r[1], r[2]],
    realSpaceB: [r[3], r[4], r[5]],
    realSpaceC: [r[6], r[7], r[8]],
    spaceGroupHall: hall,
  };
}

export const ORTHO_CELL: UnitCell = {
  aA: 40,
  bA: 50,
  cA: 60,
  alphaDeg: 90,
  betaDeg: 90,
  gammaDeg: 90,
};
export const P212121_HALL = " P 2ac 2ab";

export interface SyntheticStill {
  stillId: number;
  crystal: Crystal;
  u: Mat3;
  cell: UnitCell;
  qLab: Float64Array;
  intensity: Float64Array;
  sigma: Float64Array;
  /** The fractional hkl each observation was generated at (its own still's setting). */
  hkl: Float64Array;
}

/**
 * `nStills` stills with `perStill` observations each: hkl uniform in a box, kept when
 * dMinA <= d; intensity a smooth function of |hkl| plus noise; sigma positive.
 */
export function syntheticStills(
  nStills: number,
  perStill: number,
  opts: {
    seed?: number;
    cell?: UnitCell;
    hall?: string;
    dMinA?: number;
    cellJitter?: number;
    zeroSigmaFraction?: number;
  } = {},
): SyntheticStill[] {
  const rng = new Rng(opts.seed ?? 7);
  const base = opts.cell ?? ORTHO_CELL;
  const hall = opts.hall ?? P212121_HALL;
  const dMin = opts.dMinA ?? 3;
  const jitter = opts.cellJitter ?? 0.002;
  const out: SyntheticStill[] = [];
  for (let s = 0; s < nStills; s++) {
    const f = 1 + jitter * (rng.next() - 0.5);
    const cell: UnitCell = { ...base, aA: base.aA * f, bA: base.bA * f, cA: base.cA * f };
    const u = randomRotation(rng);
    const a = mat3Mul(u, bMatrix(cell));
    const hmax = [cell.aA / dMin, cell.bA / dMin, cell.cA / dMin];
    const qLab = new Float64Array(3 * perStill);
    const intensity = new Float64Array(perStill);
    const sigma = new Float64Array(perStill);
    const hkl = new Float64Array(3 * perStill);
    for (let i = 0; i < perStill;) {
      const h: [number, number, number] = [
        (2 * rng.next() - 1) * hmax[0]!,
        (2 * rng.next() - 1) * hmax[1]!,
        (2 * rng.next() - 1) * hmax[2]!,
      ];
      const q = mat3MulVec(a, h);
      const ql = Math.hypot(...q);
      if (ql > 0.98 / dMin || ql < 0.01) continue;
      qLab.set(q, 3 * i);
      hkl.set(h, 3 * i);
      const truth = 100 * Math.exp(-ql * ql * 8) + 5 + 3 * Math.cos(h[0] * 0.7) ** 2;
      const sg = Math.sqrt(truth) * 0.5 + 0.1;
      intensity[i] = truth + sg * rng.normal();
      sigma[i] = rng.next() < (opts.zeroSigmaFraction ?? 0) ? 0 : sg;
      i++;
    }
    out.push({
      stillId: s,
      crystal: crystalFrom(u, cell, hall),
      u,
      cell,
      qLab,
      intensity,
      sigma,
      hkl,
    });
  }
  return out;
}

export function crystalsOf(stills: SyntheticStill[]): Map<number, Crystal> {
  return new Map(stills.map((s) => [s.stillId, s.crystal]));
}
