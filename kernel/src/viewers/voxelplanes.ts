/**
 * VoxelView's geometry, pure (no I/O): which voxel of a merged 3-d map each pixel of a
 * displayed plane shows, with or without expanding the stored asymmetric unit to full
 * reciprocal space through the Laue operators.
 *
 * Indices are integer sub-Miller indices n (fractional hkl = n / ndiv); voxel [i, j, k] of the
 * stored arrays is n = hkl_origin + [i, j, k]. A plane fixes one axis at one n and shows the
 * other two: h-k (l fixed), h-l (k fixed), k-l (h fixed), first axis across, second up.
 */

export type Axis = 0 | 1 | 2;
export type Vec3 = [number, number, number];
/** Inclusive range of sub-Miller indices along one axis. */
export type Range = [number, number];
export type Extent = [Range, Range, Range];

/** The Laue operators the view needs (bound to one Laue group). */
export interface LaueOps {
  /** Map integer indices (3 per row) into the asymmetric unit (cctbx's map_to_asu). */
  mapToAsu(hkl: Int32Array, out?: Int32Array): Int32Array;
  /** Every symmetry mate of one index (3 per row). */
  mates(h: number, k: number, l: number): Int32Array;
}

/** The plane that fixes `fixed` shows these axes across (x) and up (y). */
export const PLANE_AXES: Record<Axis, [Axis, Axis]> = { 0: [1, 2], 1: [0, 2], 2: [0, 1] };
export const AXIS_NAMES = ["h", "k", "l"] as const;

/** One displayed axis: pixel p shows n = start + p * step. */
export interface PlaneAxis {
  axis: Axis;
  start: number;
  step: number;
  count: number;
}

export interface PlaneGrid {
  fixed: Axis;
  index: number;
  /** Columns, left to right. */
  x: PlaneAxis;
  /** Rows, top to bottom (step < 0: the largest index is on top). */
  y: PlaneAxis;
}

/** The sub-Miller indices the stored arrays cover. */
export function storedExtent(shape: readonly number[], origin: readonly number[]): Extent {
  return [0, 1, 2].map((a) => [origin[a]!, origin[a]! + Math.max(1, shape[a]!) - 1]) as Extent;
}

/**
 * The box of full reciprocal space the stored box expands to: the bounding box of the symmetry
 * mates (and their Friedel mates) of its corners. Operators are linear, so the image of the box
 * is the hull of the images of its corners.
 */
export function expandedExtent(stored: Extent, ops: LaueOps): Extent {
  const lo = [Infinity, Infinity, Infinity];
  const hi = [-Infinity, -Infinity, -Infinity];
  for (let c = 0; c < 8; c++) {
    const corner = [0, 1, 2].map((a) => stored[a]![(c >> a) & 1]!) as Vec3;
    const mates = ops.mates(corner[0], corner[1], corner[2]);
    const rows = [
      corner,
      ...Array.from({ length: mates.length / 3 }, (_, i) => [
        mates[3 * i]!,
        mates[3 * i + 1]!,
        mates[3 * i + 2]!,
      ]),
    ];
    for (const m of rows)
      for (let a = 0; a < 3; a++) {
        const v = Math.abs(m[a]!);
        lo[a] = Math.min(lo[a]!, -v, m[a]!);
        hi[a] = Math.max(hi[a]!, v, m[a]!);
      }
  }
  return [0, 1, 2].map((a) => [lo[a]!, hi[a]!]) as Extent;
}

/** Clamp a position into an extent. */
export function clampPosition(p: readonly number[], extent: Extent): Vec3 {
  return [0, 1, 2].map((a) =>
    Math.min(extent[a]![1], Math.max(extent[a]![0], Math.round(Number(p[a] ?? 0)))),
  ) as Vec3;
}

/** The pixels of the plane fixing `fixed` at `index`, at most `maxPerAxis` per axis (strided). */
export function planeGrid(fixed: Axis, index: number, extent: Extent, maxPerAxis = 512): PlaneGrid {
  const [xa, ya] = PLANE_AXES[fixed];
  const axis = (a: Axis, up: boolean): PlaneAxis => {
    const [lo, hi] = extent[a];
    const span = hi - lo + 1;
    const step = Math.max(1, Math.ceil(span / Math.max(1, maxPerAxis)));
    const count = Math.floor((hi - lo) / step) + 1;
    return up
      ? { axis: a, start: lo + (count - 1) * step, step: -step, count }
      : { axis: a, start: lo, step, count };
  };
  return { fixed, index, x: axis(xa, false), y: axis(ya, true) };
}

/** Sub-Miller indices of every pixel of the plane, row-major, 3 per pixel. */
export function planeIndices(g: PlaneGrid): Int32Array {
  const n = g.x.count * g.y.count;
  const out = new Int32Array(3 * n);
  let p = 0;
  for (let r = 0; r < g.y.count; r++) {
    const ny = g.y.start + r * g.y.step;
    for (let c = 0; c < g.x.count; c++, p++) {
      out[3 * p + g.fixed] = g.index;
      out[3 * p + g.x.axis] = g.x.start + c * g.x.step;
      out[3 * p + g.y.axis] = ny;
    }
  }
  return out;
}

/**
 * For each pixel, the flat index of the stored voxel it shows (C order over `shape`), or -1
 * when that voxel is outside the stored arrays. With `ops`, each pixel's index is first mapped
 * into the asymmetric unit.
 */
export function planeVoxels(
  g: PlaneGrid,
  shape: readonly number[],
  origin: readonly number[],
  ops?: LaueOps,
): Int32Array {
  let hkl = planeIndices(g);
  if (ops) hkl = ops.mapToAsu(hkl, new Int32Array(hkl.length));
  const n = hkl.length / 3;
  const out = new Int32Array(n);
  const [s0, s1, s2] = [shape[0]!, shape[1]!, shape[2]!];
  for (let p = 0; p < n; p++) {
    const i = hkl[3 * p]! - origin[0]!;
    const j = hkl[3 * p + 1]! - origin[1]!;
    const k = hkl[3 * p + 2]! - origin[2]!;
    out[p] = i >= 0 && i < s0 && j >= 0 && j < s1 && k >= 0 && k < s2 ? (i * s1 + j) * s2 + k : -1;
  }
  return out;
}

/** The smallest box of the stored arrays holding every voxel in `voxels` (null: none). */
export function voxelBox(
  voxels: Int32Array,
  shape: readonly number[],
): { start: Vec3; count: Vec3 } | null {
  const s1 = shape[1]!;
  const s2 = shape[2]!;
  const lo = [Infinity, Infinity, Infinity];
  const hi = [-1, -1, -1];
  for (let p = 0; p < voxels.length; p++) {
    const v = voxels[p]!;
    if (v < 0) continue;
    const k = v % s2;
    const ij = (v - k) / s2;
    const j = ij % s1;
    const i = (ij - j) / s1;
    const idx = [i, j, k];
    for (let a = 0; a < 3; a++) {
      if (idx[a]! < lo[a]!) lo[a] = idx[a]!;
      if (idx[a]! > hi[a]!) hi[a] = idx[a]!;
    }
  }
  if (hi[0]! < 0) return null;
  return {
    start: [lo[0]!, lo[1]!, lo[2]!],
    count: [hi[0]! - lo[0]! + 1, hi[1]! - lo[1]! + 1, hi[2]! - lo[2]! + 1],
  };
}

/**
 * Values of the pixels from `box` (the voxels read from the stored arrays, C order): `fill`
 * where a pixel shows no stored voxel.
 */
export function gather<T extends Float32Array | Uint32Array>(
  voxels: Int32Array,
  shape: readonly number[],
  box: { start: Vec3; count: Vec3 },
  boxValues: ArrayLike<number | bigint>,
  out: T,
  fill: number,
): T {
  const s1 = shape[1]!;
  const s2 = shape[2]!;
  const [b0, b1, b2] = box.start;
  const [, c1, c2] = box.count;
  for (let p = 0; p < voxels.length; p++) {
    const v = voxels[p]!;
    if (v < 0) {
      out[p] = fill;
      continue;
    }
    const k = v % s2;
    const ij = (v - k) / s2;
    const j = ij % s1;
    const i = (ij - j) / s1;
    out[p] = Number(boxValues[((i - b0) * c1 + (j - b1)) * c2 + (k - b2)]!);
  }
  return out;
}
