/**
 * Observation storage as typed-array columns: the memory backend, and the unit blocks the
 * HDF5 backend appends, sorts and reads back.
 *
 * Per observation: voxel (int32), intensity and sigma (float64, exactly as given), still id
 * (uint32) and q_lab (float32 x 3, per Angstrom: kept for traceability; the binning used the
 * full float64 q). 36 bytes a row.
 */

export const ROW_BYTES = 4 + 8 + 8 + 4 + 12;

/** A block of observations, columnar (`count` rows; arrays may be longer). */
export interface ObservationColumns {
  count: number;
  voxel: Int32Array;
  intensity: Float64Array;
  sigma: Float64Array;
  still: Uint32Array;
  /** 3 per row. */
  qLab: Float32Array;
}

export function allocateColumns(rows: number): ObservationColumns {
  return {
    count: 0,
    voxel: new Int32Array(rows),
    intensity: new Float64Array(rows),
    sigma: new Float64Array(rows),
    still: new Uint32Array(rows),
    qLab: new Float32Array(3 * rows),
  };
}

/** Rows [a, b) of a block as views (no copy). */
export function sliceColumns(c: ObservationColumns, a: number, b: number): ObservationColumns {
  return {
    count: b - a,
    voxel: c.voxel.subarray(a, b),
    intensity: c.intensity.subarray(a, b),
    sigma: c.sigma.subarray(a, b),
    still: c.still.subarray(a, b),
    qLab: c.qLab.subarray(3 * a, 3 * b),
  };
}

/** Exactly `count` rows copied into fresh arrays (e.g. to hand to another thread). */
export function copyColumns(c: ObservationColumns): ObservationColumns {
  const s = sliceColumns(c, 0, c.count);
  return {
    count: c.count,
    voxel: s.voxel.slice(),
    intensity: s.intensity.slice(),
    sigma: s.sigma.slice(),
    still: s.still.slice(),
    qLab: s.qLab.slice(),
  };
}

/**
 * Stable counting sort of rows by voxel: `offsets` (nVoxels + 1 prefix sums of the voxel
 * counts) gives each voxel's first row; `cursor` is scratch of nVoxels entries. Rows land at
 * `dst[cursor[v]++ - base]`, so a caller can sort one bucket of the output rows at a time.
 */
export function scatterByVoxel(
  src: ObservationColumns,
  cursor: Float64Array,
  base: number,
  dst: ObservationColumns,
): void {
  const { voxel, intensity, sigma, still, qLab } = src;
  for (let i = 0; i < src.count; i++) {
    const v = voxel[i]!;
    const d = cursor[v]! - base;
    cursor[v] = d + base + 1;
    dst.voxel[d] = v;
    dst.intensity[d] = intensity[i]!;
    dst.sigma[d] = sigma[i]!;
    dst.still[d] = still[i]!;
    dst.qLab[3 * d] = qLab[3 * i]!;
    dst.qLab[3 * d + 1] = qLab[3 * i + 1]!;
    dst.qLab[3 * d + 2] = qLab[3 * i + 2]!;
  }
}

/** Prefix sums: offsets[v] = rows of voxels < v; offsets[nVoxels] = total. */
export function offsetsFromCounts(counts: (v: number) => number, nVoxels: number): Float64Array {
  const off = new Float64Array(nVoxels + 1);
  let s = 0;
  for (let v = 0; v < nVoxels; v++) {
    off[v] = s;
    s += counts(v);
  }
  off[nVoxels] = s;
  return off;
}

/** Growable in-memory columns (the memory backend's store). */
export class MemoryColumns {
  private cols: ObservationColumns = allocateColumns(1024);
  /** Rows [0, sortedRows) are sorted by voxel and indexed by `offsets`. */
  private sortedRows = 0;
  private offsets: Float64Array | undefined;

  get count(): number {
    return this.cols.count;
  }

  private reserve(extra: number): void {
    const need = this.cols.count + extra;
    if (need <= this.cols.voxel.length) return;
    let cap = this.cols.voxel.length;
    while (cap < need) cap *= 2;
    const grown = allocateColumns(cap);
    const n = this.cols.count;
    grown.voxel.set(this.cols.voxel.subarray(0, n));
    grown.intensity.set(this.cols.intensity.subarray(0, n));
    grown.sigma.set(this.cols.sigma.subarray(0, n));
    grown.still.set(this.cols.still.subarray(0, n));
    grown.qLab.set(this.cols.qLab.subarray(0, 3 * n));
    grown.count = n;
    this.cols = grown;
  }

  /** Room for `n` more rows: write them at `cols` rows `at`.., then call endWrite(k). */
  beginWrite(n: number): { cols: ObservationColumns; at: number } {
    this.reserve(n);
    return { cols: this.cols, at: this.cols.count };
  }

  endWrite(k: number): void {
    this.cols.count += k;
  }

  append(src: ObservationColumns): void {
    this.reserve(src.count);
    const c = this.cols;
    const n = c.count;
    c.voxel.set(src.voxel.subarray(0, src.count), n);
    c.intensity.set(src.intensity.subarray(0, src.count), n);
    c.sigma.set(src.sigma.subarray(0, src.count), n);
    c.still.set(src.still.subarray(0, src.count), n);
    c.qLab.set(src.qLab.subarray(0, 3 * src.count), 3 * n);
    c.count = n + src.count;
  }

  /** All rows (views). */
  view(): ObservationColumns {
    return sliceColumns(this.cols, 0, this.cols.count);
  }

  /** Sort all rows by voxel (stable: rows of a voxel keep their order) and index them. */
  sort(nVoxels: number): Float64Array {
    if (
      this.offsets &&
      this.sortedRows === this.cols.count &&
      this.offsets.length === nVoxels + 1
    ) {
      return this.offsets;
    }
    const n = this.cols.count;
    const counts = new Float64Array(nVoxels);
    const vox = this.cols.voxel;
    for (let i = 0; i < n; i++) counts[vox[i]!]!++;
    const offsets = offsetsFromCounts((v) => counts[v]!, nVoxels);
    const cursor = offsets.slice(0, nVoxels);
    const dst = allocateColumns(Math.max(n, 1024));
    scatterByVoxel(sliceColumns(this.cols, 0, n), cursor, 0, dst);
    dst.count = n;
    this.cols = dst;
    this.sortedRows = n;
    this.offsets = offsets;
    return offsets;
  }

  /** Rows of one voxel after sort() (views). */
  rowsOf(voxel: number): ObservationColumns {
    const off = this.offsets!;
    return sliceColumns(this.cols, off[voxel]!, off[voxel + 1]!);
  }

  /** Rows [a, b) (views). */
  rows(a: number, b: number): ObservationColumns {
    return sliceColumns(this.cols, a, b);
  }
}
