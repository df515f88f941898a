/**
 * The Laue group as the voxel grid uses it (src/symmetry underneath): cctbx `map_to_asu` of
 * integer sub-Miller indices, the group's integer operators, and the ndiv check.
 *
 * Sub-Miller indices n = hkl * ndiv are mapped with the same integer operators as Miller
 * indices. That is exact only if diag(ndiv) commutes with every operator, i.e. ndiv is equal
 * along any two axes an operator mixes (h, k in tetragonal and hexagonal groups; h, k, l in
 * cubic and rhombohedral ones); checkNdiv enforces it. The ASU conditions of cctbx are
 * homogeneous (sign and order comparisons between components), so they are scale invariant
 * along unmixed axes and the mapped n is the ASU representative of the voxel.
 */
import {
  laueGroup,
  mapToAsu,
  spaceGroupInfo,
  SymmetryError,
  type LaueGroup,
} from "../symmetry/index.js";
import { IncompatibleNdivError } from "./errors.js";

export class LaueSymmetry {
  /** Integer operators, row-major (9 each), h' = h . R (src/symmetry's convention), identity first. */
  readonly operators: readonly Int32Array[];

  private constructor(
    /** The space group: its Hermann-Mauguin symbol as resolved by src/symmetry. */
    readonly spaceGroup: string,
    /** The space group as the caller gave it. */
    readonly given: string | number,
    readonly group: LaueGroup,
  ) {
    const ops: Int32Array[] = [];
    for (let j = 0; j < group.order; j++) ops.push(group.ops.subarray(9 * j, 9 * j + 9));
    this.operators = ops;
  }

  /** Laue class name ("-1", "2/m", "mmm", "4/m", "4/mmm", "-3", "-3m1", "-31m", "6/m", "6/mmm", "m-3", "m-3m"). */
  get laueClass(): string {
    return this.group.name;
  }

  /** Throws SymmetryError (src/symmetry's) for unknown or unsupported space groups. */
  static of(spaceGroup: string | number): LaueSymmetry {
    const info = spaceGroupInfo(spaceGroup);
    return new LaueSymmetry(info.setting.hermannMauguin, spaceGroup, laueGroup(spaceGroup));
  }

  /** Map rows of integer indices (3 per row) to the ASU, into `out` (may be `hkl`). */
  map(hkl: Int32Array, out: Int32Array): Int32Array {
    try {
      return mapToAsu(this.group, hkl, out);
    } catch (e) {
      if (e instanceof SymmetryError) throw e;
      throw new SymmetryError(`ASU mapping failed: ${(e as Error).message}`, this.spaceGroup);
    }
  }

  /** Throws IncompatibleNdivError when an operator mixes axes r and c with ndiv_r != ndiv_c. */
  checkNdiv(ndiv: readonly [number, number, number]): void {
    for (const m of this.operators) {
      for (let r = 0; r < 3; r++) {
        for (let c = 0; c < 3; c++) {
          if (m[3 * r + c] !== 0 && ndiv[r] !== ndiv[c]) {
            throw new IncompatibleNdivError(ndiv, [r, c], this.spaceGroup);
          }
        }
      }
    }
  }

  /** Same operators (so the same ASU) as another. */
  sameGroupAs(other: LaueSymmetry): boolean {
    return this.group.name === other.group.name;
  }
}
