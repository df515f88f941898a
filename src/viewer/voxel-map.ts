/**
 * What the kernel and the browser both need to know about a dense voxel map (`/map` layout of
 * the voxel accumulator and the merge stage): its metadata as the VoxelView widget syncs it,
 * fractional-index text, and |q| from the B matrix. Pure and browser-safe.
 */

type Triple = [number, number, number];

/** The map's metadata as widget state (file-controlled strings: render as text only). */
export interface VoxelMapInfo extends Record<string, unknown> {
  group: string;
  shape: Triple;
  /** Sub-Miller index of element [0, 0, 0]. */
  origin: Triple;
  ndiv: Triple;
  laue_class: string;
  space_group: string;
  unit_cell: number[];
  /** Row-major B (q = B·hkl, per Å); null when neither b_matrix nor unit_cell is usable. */
  b_matrix: number[] | null;
  asu_only: boolean;
  units: string;
  dtype: string;
  has_sigma: boolean;
  has_n_obs: boolean;
}

/** Fractional index text: n / ndiv with at most 3 decimals, trailing zeros dropped. */
export function fracText(n: number, ndiv: number): string {
  const s = (n / ndiv).toFixed(3).replace(/\.?0+$/, "");
  return s === "-0" ? "0" : s;
}

/** |q| (1/Å) of fractional hkl through the row-major B matrix (q = B·hkl). */
export function qLength(b: readonly number[], h: number, k: number, l: number): number {
  let s = 0;
  for (let r = 0; r < 3; r++) {
    const q = b[3 * r]! * h + b[3 * r + 1]! * k + b[3 * r + 2]! * l;
    s += q * q;
  }
  return Math.sqrt(s);
}
