/**
 * The 12 Laue groups of cctbx's reciprocal-space asymmetric units (11 Laue classes, -3m in
 * its two orientations relative to the lattice), with their integer operators.
 *
 * Operator convention (as cctbx for Miller indices): each operator is the integer rotation
 * part R of a direct-space symmetry operator of the reference setting, stored row-major
 * (`ops[9 * j + 3 * r + c]` = R[r][c]), and acts on a Miller index as a ROW vector:
 * h' = h . R, i.e. h'_c = sum_r h_r R[r][c]. Trigonal and hexagonal groups, including the
 * rhombohedral (R) space groups, use hexagonal axes (the cctbx reference setting).
 */
import { SymmetryError } from "./errors.js";
import { LAUE_CLASS_NAMES, LAUE_OPS } from "./space-group-table.js";

export type LaueClassName =
  | "-1"
  | "2/m"
  | "mmm"
  | "4/m"
  | "4/mmm"
  | "-3"
  | "-3m1"
  | "-31m"
  | "6/m"
  | "6/mmm"
  | "m-3"
  | "m-3m";

export interface LaueGroup {
  name: LaueClassName;
  /**
   * Integer rotation matrices (row-major, 9 per operator, identity first) acting on Miller
   * indices as a row vector times R (h' = h . R, cctbx's convention for reciprocal space),
   * inversion (Friedel) included so each Laue group has its full order. Shared: do not mutate.
   */
  ops: Int32Array;
  /** Number of operators (ops.length / 9). */
  order: number;
}

export { LAUE_CLASS_NAMES };

/**
 * cctbx's reference reciprocal-space ASU of each Laue group
 * (`sgtbx.reciprocal_space_asu().reference_as_string()`), in the cctbx wording.
 */
export const ASU_CONDITIONS: Readonly<Record<LaueClassName, string>> = {
  "-1": "l>0 or (l==0 and (h>0 or (h==0 and k>=0)))",
  "2/m": "k>=0 and (l>0 or (l==0 and h>=0))",
  mmm: "h>=0 and k>=0 and l>=0",
  "4/m": "l>=0 and ((h>=0 and k>0) or (h==0 and k==0))",
  "4/mmm": "h>=k and k>=0 and l>=0",
  "-3": "(h>=0 and k>0) or (h==0 and k==0 and l>=0)",
  "-3m1": "h>=k and k>=0 and (h>k or l>=0)",
  "-31m": "h>=k and k>=0 and (k>0 or l>=0)",
  "6/m": "l>=0 and ((h>=0 and k>0) or (h==0 and k==0))",
  "6/mmm": "h>=k and k>=0 and l>=0",
  "m-3": "h>=0 and ((l>=h and k>h) or (l==h and k==h))",
  "m-3m": "k>=l and l>=h and h>=0",
};

const GROUPS = new Map<string, LaueGroup>();
for (const name of LAUE_CLASS_NAMES) {
  const ops = Int32Array.from(LAUE_OPS[name]);
  GROUPS.set(name, { name, ops, order: ops.length / 9 });
}

/** Is `name` one of the 12 Laue class names? */
export function isLaueClassName(name: string): name is LaueClassName {
  return GROUPS.has(name);
}

/**
 * The Laue group with this class name (the same shared object `laueGroup()` returns), e.g.
 * to rebuild a group from a name stored in a file attribute.
 */
export function laueGroupByName(name: string): LaueGroup {
  const g = GROUPS.get(name);
  if (g === undefined) {
    throw new SymmetryError(
      `Unknown Laue class "${name}" (expected one of ${LAUE_CLASS_NAMES.join(", ")})`,
      name,
    );
  }
  return g;
}

/**
 * All distinct symmetry mates of (h, k, l) under the Laue group (Friedel mates included),
 * 3 ints per row, the input itself first. The row count equals cctbx's
 * `space_group.multiplicity(h, anomalous_flag=False)` for any space group of the class.
 */
export function symmetryMates(group: LaueGroup, h: number, k: number, l: number): Int32Array {
  if (!Number.isInteger(h) || !Number.isInteger(k) || !Number.isInteger(l)) {
    throw new SymmetryError(`symmetryMates: (${h}, ${k}, ${l}) are not integers`);
  }
  const ops = group.ops;
  const nOps = ops.length / 9;
  const out = new Int32Array(3 * nOps);
  let n = 0;
  for (let j = 0; j < nOps; j++) {
    const o = 9 * j;
    const a = h * ops[o]! + k * ops[o + 3]! + l * ops[o + 6]!;
    const b = h * ops[o + 1]! + k * ops[o + 4]! + l * ops[o + 7]!;
    const c = h * ops[o + 2]! + k * ops[o + 5]! + l * ops[o + 8]!;
    let seen = false;
    for (let q = 0; q < 3 * n; q += 3) {
      if (out[q] === a && out[q + 1] === b && out[q + 2] === c) {
        seen = true;
        break;
      }
    }
    if (!seen) {
      out[3 * n] = a;
      out[3 * n + 1] = b;
      out[3 * n + 2] = c;
      n++;
    }
  }
  return out.slice(0, 3 * n);
}
