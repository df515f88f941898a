/**
 * The HDF5 backend of the VoxelAccumulator: file layout, appends, the live map, the external
 * sort at finalize, and reading back. Everything goes through the stagelab store
 * (`StoreWriter` / `StoreReader`, src/store).
 *
 * Two files. The main file (`storagePath`) is what viewers and later stages read:
 *
 *   /grid                      attrs: the GlobalVoxelGrid (GlobalVoxelGrid.toAttrs)
 *   /grid/still_id [s] uint32, /grid/u [s, 9] float64            per-still orientation U_i
 *   /grid/frame_still [f] uint32, /grid/frame_u [f, 9] float64     scan-varying U_i(frame)
 *   /map/intensity [nH, nK, nL] float32   current per-voxel merged intensity (NaN: no data)
 *   /map/sigma     [nH, nK, nL] float32   its sigma
 *   /map/n_obs     [nH, nK, nL] uint32    observations per voxel
 *   /map           attrs hkl_origin [3], ndiv [3], laue_class, space_group, unit_cell [6],
 *                  b_matrix [9] (row-major, average crystal), asu_only (true), units, ...
 *   /voxels/n_obs, mean, m2, sum_w, weighted_mean, weighted_m2  [nVoxels]  Welford statistics
 *   /voxels/summary [8] float64  totals (see SUMMARY_*)
 *   /voxels/offset  [nVoxels + 1] uint64  CSR index into /observations (after finalize)
 *   /stills/still_id [s] uint32, /stills/n_obs [s] uint64     observations per still
 *   /observations/voxel int32, intensity float64, sigma float64, still uint32, q_lab [n, 3] float32
 *                   sorted by voxel (written by finalize): voxel v's rows are offset[v]..offset[v+1]
 *
 * The map is refreshed at every commit (C order over [h, k, l] sub-Miller indices from
 * hkl_origin; voxel index = flat index, so /voxels/* are the same arrays flattened).
 *
 * The side file `<storagePath minus .h5>.unsorted.h5` holds /observations/* in arrival order
 * while accumulating (appended in chunks, so memory stays bounded however many observations
 * arrive). finalize() sorts it into the main file with an external bucket sort (the exact
 * per-voxel counts are known from the statistics, so every row's destination is known: pass 1
 * distributes rows into bucket regions of a scratch file, pass 2 sorts one bucket at a time in
 * memory and appends it), then deletes it. Memory during finalize is bounded by `bufferBytes`
 * plus 24 bytes per voxel (offsets and two cursors), besides the statistics (48 per voxel).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  StoreReader,
  StoreWriter,
  type Compression,
  type DatasetWriter,
  type Provenance,
} from "../store/index.js";
import {
  allocateColumns,
  offsetsFromCounts,
  ROW_BYTES,
  scatterByVoxel,
  type ObservationColumns,
} from "./columns.js";
import { DataConsistencyError, StorageBackendError, VoxelError } from "./errors.js";
import { GlobalVoxelGrid, type BinRejections, type StillOrientation } from "./grid.js";
import {
  accumulateStats,
  allocateStats,
  setStatColumn,
  STAT_FIELDS,
  STAT_STRIDE,
  statColumn,
} from "./welford.js";
import type { Mat3 } from "../geometry/models.js";

/** Everything an accumulator knows besides its observations. */
export interface AccumulatorTotals {
  stats: Float64Array;
  stillCounts: Map<number, number>;
  /** Smallest and largest |q|^2 binned (Infinity / 0 before any). */
  q2Min: number;
  q2Max: number;
  nTotal: number;
  rejections: BinRejections;
}

export function emptyTotals(nVoxels: number): AccumulatorTotals {
  return {
    stats: allocateStats(nVoxels),
    stillCounts: new Map(),
    q2Min: Infinity,
    q2Max: 0,
    nTotal: 0,
    rejections: { outsideResolution: 0, outsideGrid: 0 },
  };
}

export const SUMMARY_N_TOTAL = 0;
export const SUMMARY_Q2_MIN = 1;
export const SUMMARY_Q2_MAX = 2;
export const SUMMARY_OUTSIDE_RESOLUTION = 3;
export const SUMMARY_OUTSIDE_GRID = 4;
export const SUMMARY_FINALIZED = 5;
export const SUMMARY_UNIQUE_VOXELS = 6;
export const SUMMARY_LENGTH = 8;

export interface VoxelFileOptions {
  compression: Compression;
  mapCompression: Compression;
  chunkRows: number;
  units: string;
  provenance?: Provenance;
  overwrite: boolean;
}

/**
 * Non-negative integers (< 2^53) as uint64 without a BigInt per element: the two 32-bit
 * halves written through a Uint32Array view (little-endian, as every platform Node runs on).
 */
export function toUint64(a: Float64Array): BigUint64Array {
  const out = new BigUint64Array(a.length);
  const w = new Uint32Array(out.buffer);
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const hi = Math.floor(x / 4294967296);
    w[2 * i] = x - hi * 4294967296;
    w[2 * i + 1] = hi;
  }
  return out;
}

export function fromUint64(a: BigUint64Array): Float64Array {
  const out = new Float64Array(a.length);
  const w = new Uint32Array(a.buffer, a.byteOffset, 2 * a.length);
  for (let i = 0; i < a.length; i++) out[i] = w[2 * i + 1]! * 4294967296 + w[2 * i]!;
  return out;
}

/** Run a store operation; anything but our own errors becomes a StorageBackendError. */
export function storage<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof VoxelError) throw e;
    throw new StorageBackendError(
      `Backend storage operation failed: ${what}: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
}

export async function storageAsync<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof VoxelError) throw e;
    throw new StorageBackendError(
      `Backend storage operation failed: ${what}: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
}

/** The arrival-order side file of a main file. */
export function unsortedPathFor(mainPath: string): string {
  return mainPath.replace(/\.(h5|hdf5|hdf|nxs)$/i, "") + ".unsorted.h5";
}

let zstdProbe: Promise<boolean> | undefined;

/** True when the zstd filter plugin works here (write and read back a small dataset once). */
export function zstdAvailable(): Promise<boolean> {
  zstdProbe ??= (async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-zstd-probe-"));
    const file = path.join(dir, "probe.h5");
    try {
      const w = await StoreWriter.create(file);
      const data = new Int32Array(4096).map((_, i) => i % 7);
      w.createDataset("/x", {
        dtype: "int32",
        shape: [0],
        chunks: [4096],
        compression: "zstd",
      }).append(data);
      w.close();
      const r = await StoreReader.open(file);
      try {
        const back = r.read<"int32">("/x").data;
        const info = r.info("/x");
        return back.every((v, i) => v === data[i]) && JSON.stringify(info).includes("zstd");
      } finally {
        r.close();
      }
    } catch {
      return false;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  })();
  return zstdProbe;
}

const OBS = "/observations";

function createObservationColumns(
  w: StoreWriter,
  chunkRows: number,
  compression: Compression,
  attrs: Record<string, string>,
): void {
  w.createDataset(`${OBS}/voxel`, { dtype: "int32", shape: [0], chunks: [chunkRows], compression });
  w.createDataset(`${OBS}/intensity`, {
    dtype: "float64",
    shape: [0],
    chunks: [chunkRows],
    compression,
  });
  w.createDataset(`${OBS}/sigma`, {
    dtype: "float64",
    shape: [0],
    chunks: [chunkRows],
    compression,
  });
  w.createDataset(`${OBS}/still`, {
    dtype: "uint32",
    shape: [0],
    chunks: [chunkRows],
    compression,
  });
  w.createDataset(`${OBS}/q_lab`, {
    dtype: "float32",
    shape: [0, 3],
    chunks: [chunkRows, 3],
    compression,
    attrs: { units: "1/Angstrom (lab frame, q = s1 - s0)" },
  });
  w.setAttrs(OBS, attrs);
}

/**
 * Appends rows to /observations/* in whole HDF5 chunks: rows are staged here (callers write
 * straight into the staging columns: beginWrite/endWrite) and every full chunk goes to the
 * dataset writers without another copy. flush() hands over a partial chunk (at commit).
 */
class ColumnAppender {
  private readonly voxel: DatasetWriter<"int32">;
  private readonly intensity: DatasetWriter<"float64">;
  private readonly sigma: DatasetWriter<"float64">;
  private readonly still: DatasetWriter<"uint32">;
  private readonly q: DatasetWriter<"float32">;
  private staging: ObservationColumns;
  private readonly chunkRows: number;

  constructor(w: StoreWriter) {
    this.voxel = w.dataset<"int32">(`${OBS}/voxel`);
    this.intensity = w.dataset<"float64">(`${OBS}/intensity`);
    this.sigma = w.dataset<"float64">(`${OBS}/sigma`);
    this.still = w.dataset<"uint32">(`${OBS}/still`);
    this.q = w.dataset<"float32">(`${OBS}/q_lab`);
    this.chunkRows = this.voxel.chunks[0] ?? 65536;
    this.staging = allocateColumns(2 * this.chunkRows);
  }

  /** Rows appended so far, staged ones included. */
  get rows(): number {
    return this.voxel.length + this.staging.count;
  }

  beginWrite(n: number): { cols: ObservationColumns; at: number } {
    const s = this.staging;
    if (s.count + n > s.voxel.length) {
      this.drainFullChunks();
      if (s.count + n > s.voxel.length) {
        const grown = allocateColumns(s.count + n + this.chunkRows);
        grown.voxel.set(s.voxel.subarray(0, s.count));
        grown.intensity.set(s.intensity.subarray(0, s.count));
        grown.sigma.set(s.sigma.subarray(0, s.count));
        grown.still.set(s.still.subarray(0, s.count));
        grown.qLab.set(s.qLab.subarray(0, 3 * s.count));
        grown.count = s.count;
        this.staging = grown;
      }
    }
    return { cols: this.staging, at: this.staging.count };
  }

  endWrite(k: number): void {
    this.staging.count += k;
    if (this.staging.count >= this.chunkRows) this.drainFullChunks();
  }

  private write(c: ObservationColumns, a: number, b: number): void {
    if (b <= a) return;
    this.voxel.append(c.voxel.subarray(a, b));
    this.intensity.append(c.intensity.subarray(a, b));
    this.sigma.append(c.sigma.subarray(a, b));
    this.still.append(c.still.subarray(a, b));
    this.q.append(c.qLab.subarray(3 * a, 3 * b));
  }

  private drainFullChunks(): void {
    const s = this.staging;
    // Up to chunk boundaries of the dataset (a commit may have left a partial chunk in the
    // dataset writer's buffer): then every later chunk goes straight from here to HDF5.
    const lead = (this.chunkRows - (this.voxel.length % this.chunkRows)) % this.chunkRows;
    if (s.count < lead) return;
    const whole = lead + Math.floor((s.count - lead) / this.chunkRows) * this.chunkRows;
    if (whole === 0) return;
    this.write(s, 0, whole);
    const rest = s.count - whole;
    if (rest > 0) {
      s.voxel.copyWithin(0, whole, s.count);
      s.intensity.copyWithin(0, whole, s.count);
      s.sigma.copyWithin(0, whole, s.count);
      s.still.copyWithin(0, whole, s.count);
      s.qLab.copyWithin(0, 3 * whole, 3 * s.count);
    }
    s.count = rest;
  }

  /** Hand every staged row to the dataset writers (they keep a partial chunk buffered). */
  flush(): void {
    this.write(this.staging, 0, this.staging.count);
    this.staging.count = 0;
  }

  append(c: ObservationColumns): void {
    for (let a = 0; a < c.count; a += this.chunkRows) {
      const b = Math.min(c.count, a + this.chunkRows);
      const n = b - a;
      const { cols, at } = this.beginWrite(n);
      cols.voxel.set(c.voxel.subarray(a, b), at);
      cols.intensity.set(c.intensity.subarray(a, b), at);
      cols.sigma.set(c.sigma.subarray(a, b), at);
      cols.still.set(c.still.subarray(a, b), at);
      cols.qLab.set(c.qLab.subarray(3 * a, 3 * b), 3 * at);
      this.endWrite(n);
    }
  }
}

/** Read rows [a, b) of /observations/* into `into` (count set to b - a). */
function readColumns(
  r: StoreReader,
  a: number,
  b: number,
  into: ObservationColumns,
): ObservationColumns {
  const n = b - a;
  into.count = n;
  if (n === 0) return into;
  r.readInto(`${OBS}/voxel`, [[a, b]], into.voxel);
  r.readInto(`${OBS}/intensity`, [[a, b]], into.intensity);
  r.readInto(`${OBS}/sigma`, [[a, b]], into.sigma);
  r.readInto(`${OBS}/still`, [[a, b]], into.still);
  r.readInto(`${OBS}/q_lab`, [[a, b], null], into.qLab);
  return into;
}

function mapChunks(shape: readonly number[]): number[] {
  return shape.map((s) => Math.max(1, Math.min(s, 32)));
}

/**
 * One slab of the viewer map: intensity = inverse-variance weighted mean (the unweighted mean
 * where no observation has sigma > 0), sigma = 1/sqrt(sum w) (NaN there), n_obs; NaN without data.
 */
export function mapSlab(
  stats: Float64Array,
  v0: number,
  count: number,
  intensity: Float32Array,
  sigma: Float32Array,
  nObs: Uint32Array,
): void {
  for (let i = 0, o = v0 * STAT_STRIDE; i < count; i++, o += STAT_STRIDE) {
    const n = stats[o]!;
    nObs[i] = n;
    if (n === 0) {
      intensity[i] = NaN;
      sigma[i] = NaN;
      continue;
    }
    const sw = stats[o + 3]!;
    if (sw > 0) {
      intensity[i] = stats[o + 4]!;
      sigma[i] = 1 / Math.sqrt(sw);
    } else {
      intensity[i] = stats[o + 1]!;
      sigma[i] = NaN;
    }
  }
}

/** Reads the grid (attributes of /grid plus the per-still orientation datasets). */
function readGrid(r: StoreReader): { grid: GlobalVoxelGrid; nStills: number; nFrames: number } {
  const attrs = r.attrs("/grid") as Record<string, unknown>;
  const ids = r.read<"uint32">("/grid/still_id").data;
  const u = r.read<"float64">("/grid/u").data;
  const fStill = r.read<"uint32">("/grid/frame_still").data;
  const fU = r.read<"float64">("/grid/frame_u").data;
  const mat = (a: Float64Array, i: number): Mat3 => {
    const s = a.subarray(9 * i, 9 * i + 9);
    return [s[0]!, s[1]!, s[2]!, s[3]!, s[4]!, s[5]!, s[6]!, s[7]!, s[8]!];
  };
  const frames = new Map<number, Mat3[]>();
  fStill.forEach((s, i) => {
    const list = frames.get(s) ?? [];
    list.push(mat(fU, i));
    frames.set(s, list);
  });
  const orientations: StillOrientation[] = Array.from(ids, (id, i) => {
    const uf = frames.get(id);
    return { stillId: id, u: mat(u, i), ...(uf ? { uFrames: uf } : {}) };
  });
  return {
    grid: GlobalVoxelGrid.fromAttrs(attrs, orientations),
    nStills: ids.length,
    nFrames: fStill.length,
  };
}

/** Statistics and totals as last written to a main file. */
function readTotals(
  r: StoreReader,
  grid: GlobalVoxelGrid,
): { totals: AccumulatorTotals; finalized: boolean } {
  const t = emptyTotals(grid.nVoxels);
  const nV = grid.nVoxels;
  const slab = 1 << 20;
  const buf = new Float64Array(Math.min(nV, slab));
  const nBuf = new Uint32Array(Math.min(nV, slab));
  for (let v0 = 0; v0 < nV; v0 += slab) {
    const c = Math.min(slab, nV - v0);
    STAT_FIELDS.forEach((f, k) => {
      if (k === 0) {
        r.readInto(`/voxels/${f}`, [[v0, v0 + c]], nBuf);
        setStatColumn(t.stats, k, v0, nBuf.subarray(0, c));
      } else {
        r.readInto(`/voxels/${f}`, [[v0, v0 + c]], buf);
        setStatColumn(t.stats, k, v0, buf.subarray(0, c));
      }
    });
  }
  const s = r.read<"float64">("/voxels/summary").data;
  t.nTotal = s[SUMMARY_N_TOTAL]!;
  t.q2Min = s[SUMMARY_Q2_MIN]! < 0 ? Infinity : s[SUMMARY_Q2_MIN]!;
  t.q2Max = s[SUMMARY_Q2_MAX]!;
  t.rejections = {
    outsideResolution: s[SUMMARY_OUTSIDE_RESOLUTION]!,
    outsideGrid: s[SUMMARY_OUTSIDE_GRID]!,
  };
  const ids = r.read<"uint32">("/stills/still_id").data;
  const counts = r.read<"uint64">("/stills/n_obs").data;
  ids.forEach((id, i) => t.stillCounts.set(id, Number(counts[i]!)));
  return { totals: t, finalized: s[SUMMARY_FINALIZED] === 1 };
}

/** The writer side: both files open, accumulating. */
export class VoxelFileWriter {
  private readonly appender: ColumnAppender;
  private persistedStills: number;
  private lastUniqueVoxels = 0;

  private constructor(
    readonly path: string,
    readonly unsortedPath: string,
    private readonly main: StoreWriter,
    private readonly raw: StoreWriter,
    readonly grid: GlobalVoxelGrid,
    persistedStills: number,
    /** Stills already in /grid/still_id. */
  ) {
    this.appender = new ColumnAppender(raw);
    this.persistedStills = persistedStills;
  }

  /** Create both files and the whole layout (SWMR freezes it at the first commit). */
  static async create(
    file: string,
    grid: GlobalVoxelGrid,
    opts: VoxelFileOptions,
  ): Promise<VoxelFileWriter> {
    const unsorted = unsortedPathFor(file);
    if (!opts.overwrite && fs.existsSync(file)) {
      throw new StorageBackendError(
        `Backend storage operation failed: ${file} already exists (pass overwrite: true to replace it, or VoxelAccumulator.open to continue it)`,
      );
    }
    storage(`creating the directory of ${file}`, () =>
      fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true }),
    );
    let main: StoreWriter | undefined;
    let raw: StoreWriter | undefined;
    try {
      main = await storageAsync(`creating ${file}`, () =>
        StoreWriter.create(file, {
          overwrite: opts.overwrite,
          ...(opts.provenance ? { provenance: opts.provenance } : {}),
        }),
      );
      raw = await storageAsync(`creating ${unsorted}`, () =>
        StoreWriter.create(unsorted, {
          overwrite: true,
          ...(opts.provenance ? { provenance: opts.provenance } : {}),
        }),
      );
      const m = main;
      const rw = raw;
      storage("creating the layout", () => {
        const c = opts.compression;
        const [nH, nK, nL] = grid.shape;
        const nV = grid.nVoxels;
        m.setAttrs("/grid", grid.toAttrs());
        m.createDataset("/grid/still_id", {
          dtype: "uint32",
          shape: [0],
          chunks: [4096],
          compression: c,
        });
        m.createDataset("/grid/u", {
          dtype: "float64",
          shape: [0, 9],
          chunks: [4096, 9],
          compression: c,
        });
        m.createDataset("/grid/frame_still", {
          dtype: "uint32",
          shape: [0],
          chunks: [4096],
          compression: c,
        });
        m.createDataset("/grid/frame_u", {
          dtype: "float64",
          shape: [0, 9],
          chunks: [4096, 9],
          compression: c,
        });
        const mapShape = [nH, nK, nL];
        const mc = opts.mapCompression;
        for (const [name, dtype] of [
          ["intensity", "float32"],
          ["sigma", "float32"],
          ["n_obs", "uint32"],
        ] as const) {
          m.createDataset(`/map/${name}`, {
            dtype,
            shape: mapShape,
            maxshape: mapShape,
            chunks: mapChunks(mapShape),
            compression: mc,
          });
        }
        m.setAttrs("/map", {
          hkl_origin: new Int32Array(grid.hklOrigin),
          ndiv: new Int32Array(grid.ndiv),
          laue_class: grid.symmetry.laueClass,
          space_group: grid.symmetry.spaceGroup,
          unit_cell: new Float64Array([
            grid.referenceCell.aA,
            grid.referenceCell.bA,
            grid.referenceCell.cA,
            grid.referenceCell.alphaDeg,
            grid.referenceCell.betaDeg,
            grid.referenceCell.gammaDeg,
          ]),
          b_matrix: new Float64Array(grid.bMatrix),
          asu_only: true,
          units: opts.units,
          axes: "h, k, l: element [i, j, k] is sub-Miller index hkl_origin + [i, j, k], i.e. hkl = (hkl_origin + [i, j, k]) / ndiv",
          intensity_kind:
            "inverse-variance weighted mean (unweighted mean where every sigma is 0); NaN: no data",
          sigma_kind: "1/sqrt(sum of 1/sigma^2); NaN: no data or every sigma 0",
          d_min: grid.dMinA,
          d_max: Number.isFinite(grid.dMaxA) ? grid.dMaxA : -1,
        });
        const vChunk = [Math.max(1, Math.min(nV, 65536))];
        for (const f of STAT_FIELDS) {
          m.createDataset(`/voxels/${f}`, {
            dtype: f === "n_obs" ? "uint32" : "float64",
            shape: [nV],
            maxshape: [nV],
            chunks: vChunk,
            compression: c,
          });
        }
        m.createDataset("/voxels/summary", {
          dtype: "float64",
          shape: [SUMMARY_LENGTH],
          maxshape: [SUMMARY_LENGTH],
          chunks: [SUMMARY_LENGTH],
          compression: "none",
          attrs: {
            fields:
              "n_total, q2_min (-1: none), q2_max, n_outside_resolution, n_outside_grid, finalized (0/1), n_unique_voxels, reserved",
          },
        });
        m.createDataset("/voxels/offset", {
          dtype: "uint64",
          shape: [0],
          maxshape: [nV + 1],
          chunks: [Math.max(1, Math.min(nV + 1, 65536))],
          compression: c,
        });
        m.setAttrs("/voxels", {
          description:
            "Welford statistics per voxel (flat C-order index over /map's shape): n_obs, mean, m2 (variance = m2/(n-1)), " +
            "sum_w, weighted_mean, weighted_m2 with w = 1/sigma^2; offset: rows of /observations per voxel after finalize",
          finalized: false,
        });
        m.createDataset("/stills/still_id", {
          dtype: "uint32",
          shape: [0],
          chunks: [4096],
          compression: c,
        });
        m.createDataset("/stills/n_obs", {
          dtype: "uint64",
          shape: [0],
          chunks: [4096],
          compression: c,
        });
        createObservationColumns(m, opts.chunkRows, c, {
          sorted_by:
            "voxel (written by finalize); voxel v's rows are /voxels/offset[v] .. /voxels/offset[v+1]",
        });
        createObservationColumns(rw, opts.chunkRows, c, {
          sorted_by: "none (arrival order); sorted into the main file by finalize",
          main_file: path.basename(file),
        });
      });
      const w = new VoxelFileWriter(file, unsorted, m, rw, grid, 0);
      // The statistics datasets read as zeros (HDF5's fill value) until written; the map
      // needs its NaNs now, so a viewer can open the file at once.
      w.commit(emptyTotals(grid.nVoxels), false);
      return w;
    } catch (e) {
      raw?.abandon();
      main?.abandon();
      throw e;
    }
  }

  /**
   * Continue an accumulation that was closed (or crashed) before finalize: the statistics
   * are recomputed from the side file's committed rows in their original order, so they are
   * bit-identical to an uninterrupted run over the same rows.
   */
  static async resume(
    file: string,
  ): Promise<{ writer: VoxelFileWriter; totals: AccumulatorTotals; finalized: boolean }> {
    const unsorted = unsortedPathFor(file);
    const rd = await storageAsync(`opening ${file}`, () => StoreReader.open(file));
    let grid: GlobalVoxelGrid;
    let nStills: number;
    let saved: AccumulatorTotals;
    let finalized: boolean;
    try {
      ({ grid, nStills } = storage("reading the grid", () => readGrid(rd)));
      ({ totals: saved, finalized } = storage("reading the statistics", () =>
        readTotals(rd, grid),
      ));
    } finally {
      rd.close();
    }
    if (finalized) {
      throw new StorageBackendError(
        `Backend storage operation failed: ${file} is finalized (its observations are sorted); open it read-only`,
      );
    }
    if (!fs.existsSync(unsorted)) {
      throw new StorageBackendError(
        `Backend storage operation failed: ${unsorted} (the unsorted observations of ${file}) is missing`,
      );
    }
    const totals = emptyTotals(grid.nVoxels);
    totals.rejections = saved.rejections;
    const rr = await storageAsync(`opening ${unsorted}`, () => StoreReader.open(unsorted));
    try {
      storage("re-reading the unsorted observations", () => {
        const n = rr.committedShape(`${OBS}/voxel`)[0] ?? 0;
        const slab = 1 << 18;
        const block = allocateColumns(slab);
        for (let a = 0; a < n; a += slab) {
          const b = Math.min(n, a + slab);
          readColumns(rr, a, b, block);
          addTotals(totals, block, null);
        }
      });
    } finally {
      rr.close();
    }
    const main = await storageAsync(`reopening ${file}`, () => StoreWriter.open(file));
    let raw: StoreWriter;
    try {
      raw = await storageAsync(`reopening ${unsorted}`, () => StoreWriter.open(unsorted));
    } catch (e) {
      main.abandon();
      throw e;
    }
    const writer = new VoxelFileWriter(file, unsorted, main, raw, grid, nStills);
    return { writer, totals, finalized };
  }

  get unsortedRows(): number {
    return this.appender.rows;
  }

  append(block: ObservationColumns): void {
    storage(`appending observations to ${this.unsortedPath}`, () => this.appender.append(block));
  }

  /** Room for n rows in the staging columns (write at `at`.., then endWrite(k)). */
  beginWrite(n: number): { cols: ObservationColumns; at: number } {
    return this.appender.beginWrite(n);
  }

  endWrite(k: number): void {
    storage(`appending observations to ${this.unsortedPath}`, () => this.appender.endWrite(k));
  }

  private persistStills(): void {
    const ids = this.grid.stillIds;
    if (ids.length <= this.persistedStills) return;
    const fresh = ids.slice(this.persistedStills);
    const u = new Float64Array(9 * fresh.length);
    const frameStill: number[] = [];
    const frameU: number[] = [];
    fresh.forEach((id, i) => {
      const o = this.grid.stillOrientation(id);
      u.set(o.u, 9 * i);
      for (const m of o.uFrames ?? []) {
        frameStill.push(id);
        frameU.push(...m);
      }
    });
    this.main.dataset<"uint32">("/grid/still_id").append(new Uint32Array(fresh));
    this.main.dataset<"float64">("/grid/u").append(u);
    if (frameStill.length) {
      this.main.dataset<"uint32">("/grid/frame_still").append(new Uint32Array(frameStill));
      this.main.dataset<"float64">("/grid/frame_u").append(new Float64Array(frameU));
    }
    this.persistedStills = ids.length;
  }

  private writeMap(stats: Float64Array): number {
    const [nH, nK, nL] = this.grid.shape;
    const plane = nK * nL;
    const chunk0 = mapChunks(this.grid.shape)[0]!;
    let planes = Math.max(1, Math.floor((1 << 22) / plane));
    if (planes >= chunk0) planes -= planes % chunk0;
    planes = Math.min(planes, nH);
    const inten = new Float32Array(planes * plane);
    const sig = new Float32Array(planes * plane);
    const nObs = new Uint32Array(planes * plane);
    const di = this.main.dataset<"float32">("/map/intensity");
    const ds = this.main.dataset<"float32">("/map/sigma");
    const dn = this.main.dataset<"uint32">("/map/n_obs");
    let unique = 0;
    for (let h = 0; h < nH; h += planes) {
      const np = Math.min(planes, nH - h);
      const n = np * plane;
      mapSlab(stats, h * plane, n, inten, sig, nObs);
      for (let i = 0; i < n; i++) if (nObs[i]! > 0) unique++;
      di.write([h, 0, 0], [np, nK, nL], inten.subarray(0, n));
      ds.write([h, 0, 0], [np, nK, nL], sig.subarray(0, n));
      dn.write([h, 0, 0], [np, nK, nL], nObs.subarray(0, n));
    }
    return unique;
  }

  private writeStats(stats: Float64Array): void {
    const nV = this.grid.nVoxels;
    const slab = 1 << 20;
    const buf = new Float64Array(Math.min(slab, nV));
    const nBuf = new Uint32Array(Math.min(slab, nV));
    for (let v0 = 0; v0 < nV; v0 += slab) {
      const c = Math.min(slab, nV - v0);
      STAT_FIELDS.forEach((f, k) => {
        if (k === 0) {
          const col = statColumn(stats, 0, v0, c, buf);
          for (let i = 0; i < c; i++) nBuf[i] = col[i]!;
          this.main.dataset<"uint32">(`/voxels/${f}`).write([v0], [c], nBuf.subarray(0, c));
        } else {
          this.main
            .dataset<"float64">(`/voxels/${f}`)
            .write([v0], [c], statColumn(stats, k, v0, c, buf).subarray(0, c));
        }
      });
    }
  }

  private writeSummary(t: AccumulatorTotals, finalized: boolean, unique: number): void {
    const s = new Float64Array(SUMMARY_LENGTH);
    s[SUMMARY_N_TOTAL] = t.nTotal;
    s[SUMMARY_Q2_MIN] = Number.isFinite(t.q2Min) ? t.q2Min : -1;
    s[SUMMARY_Q2_MAX] = t.q2Max;
    s[SUMMARY_OUTSIDE_RESOLUTION] = t.rejections.outsideResolution;
    s[SUMMARY_OUTSIDE_GRID] = t.rejections.outsideGrid;
    s[SUMMARY_FINALIZED] = finalized ? 1 : 0;
    s[SUMMARY_UNIQUE_VOXELS] = unique;
    this.main.dataset<"float64">("/voxels/summary").write([0], [SUMMARY_LENGTH], s);
    const ids = [...t.stillCounts.keys()];
    if (ids.length) {
      this.main
        .dataset<"uint32">("/stills/still_id")
        .write([0], [ids.length], new Uint32Array(ids));
      this.main.dataset<"uint64">("/stills/n_obs").write(
        [0],
        [ids.length],
        BigUint64Array.from(ids, (id) => BigInt(t.stillCounts.get(id)!)),
      );
    }
  }

  /**
   * Make everything so far visible: the side file's rows, then (main file) new still
   * orientations, the map, the per-still counts and the summary; the dense statistics too
   * when `withStats` (they are large: written at close and finalize, and on demand).
   */
  commit(t: AccumulatorTotals, withStats: boolean, finalized = false): void {
    storage(`committing ${this.path}`, () => {
      this.appender.flush();
      this.raw.commit();
      this.persistStills();
      this.lastUniqueVoxels = this.writeMap(t.stats);
      if (withStats) this.writeStats(t.stats);
      this.writeSummary(t, finalized, this.lastUniqueVoxels);
      this.main.commit();
    });
  }

  get uniqueVoxelsAtLastCommit(): number {
    return this.lastUniqueVoxels;
  }

  /** Commit with the statistics and close both files (resumable with VoxelFileWriter.resume). */
  close(t: AccumulatorTotals): void {
    this.commit(t, true);
    storage(`closing ${this.path}`, () => {
      this.raw.close();
      this.main.close();
    });
  }

  abandon(): void {
    this.raw.abandon();
    this.main.abandon();
  }

  /**
   * Sort the side file's rows by voxel into the main file, write the index, statistics and
   * map, close, and delete the side file (unless keepUnsorted). Memory: about bufferBytes
   * plus 24 bytes per voxel. Returns the CSR offsets (nVoxels + 1).
   */
  async finalize(
    t: AccumulatorTotals,
    opts: {
      bufferBytes: number;
      keepUnsorted?: boolean;
      onProgress?: (phase: string, done: number, total: number) => void;
    },
  ): Promise<Float64Array> {
    storage(`closing ${this.unsortedPath}`, () => {
      this.appender.flush();
      this.raw.close();
    });
    const rr = await storageAsync(`opening ${this.unsortedPath}`, () =>
      StoreReader.open(this.unsortedPath),
    );
    const scratch = `${this.path}.sort.tmp`;
    const nV = this.grid.nVoxels;
    const offsets = offsetsFromCounts((v) => t.stats[v * STAT_STRIDE]!, nV);
    try {
      storage(`sorting the observations into ${this.path}`, () => {
        const n = rr.committedShape(`${OBS}/voxel`)[0] ?? 0;
        if (n !== t.nTotal) {
          throw new DataConsistencyError(
            `${this.unsortedPath} holds ${n} observations but the statistics count ${t.nTotal}`,
          );
        }
        const sorted = new ColumnAppender(this.main);
        externalSort(rr, n, offsets, nV, sorted, scratch, opts.bufferBytes, opts.onProgress);
        sorted.flush();
        const off = this.main.dataset<"uint64">("/voxels/offset");
        const slab = 1 << 20;
        for (let v0 = 0; v0 <= nV; v0 += slab) {
          off.append(toUint64(offsets.subarray(v0, Math.min(nV + 1, v0 + slab))));
        }
      });
    } finally {
      rr.close();
      fs.rmSync(scratch, { force: true });
    }
    this.commitMainOnly(t);
    storage(`closing ${this.path}`, () => {
      this.main.setAttrs("/voxels", { finalized: true });
      this.main.close();
    });
    if (!opts.keepUnsorted) fs.rmSync(this.unsortedPath, { force: true });
    return offsets;
  }

  private commitMainOnly(t: AccumulatorTotals): void {
    storage(`committing ${this.path}`, () => {
      this.persistStills();
      this.lastUniqueVoxels = this.writeMap(t.stats);
      this.writeStats(t.stats);
      this.writeSummary(t, true, this.lastUniqueVoxels);
      this.main.commit();
    });
  }
}

/**
 * Bucket sort of `n` rows of /observations in `rr` into `out`, voxel-sorted, with bounded
 * memory. offsets = CSR of the exact per-voxel counts, so row i of voxel v goes to
 * d = offsets[v] + (rows of v before it); bucket b holds d in [b R, (b+1) R).
 */
function externalSort(
  rr: StoreReader,
  n: number,
  offsets: Float64Array,
  nVoxels: number,
  out: ColumnAppender,
  scratchPath: string,
  bufferBytes: number,
  onProgress?: (phase: string, done: number, total: number) => void,
): void {
  if (n === 0) return;
  const bucketRows = Math.max(1024, Math.floor(bufferBytes / (2 * ROW_BYTES)));
  const slabRows = Math.min(bucketRows, 1 << 18);
  if (n <= bucketRows) {
    // Everything fits: read in slabs, scatter straight into the appender's staging rows.
    const { cols, at } = out.beginWrite(n);
    const src = allocateColumns(Math.min(slabRows, n));
    const cursor = offsets.slice(0, nVoxels);
    for (let a = 0; a < n; a += slabRows) {
      readColumns(rr, a, Math.min(n, a + slabRows), src);
      scatterByVoxel(src, cursor, -at, cols);
      onProgress?.("sort", Math.min(n, a + slabRows), n);
    }
    out.endWrite(n);
    return;
  }
  const nb = Math.ceil(n / bucketRows);
  const rowsOf = (b: number) => Math.min(n, (b + 1) * bucketRows) - b * bucketRows;
  // Columnar bucket regions: [voxel int32][intensity f64][sigma f64][still u32][q f32 x3].
  const widths = [4, 8, 8, 4, 12];
  const colStart = (b: number, col: number) => {
    let at = b * bucketRows * ROW_BYTES;
    for (let c = 0; c < col; c++) at += widths[c]! * rowsOf(b);
    return at;
  };
  const bufRows = Math.max(64, Math.min(65536, Math.floor(bufferBytes / 2 / (nb * ROW_BYTES))));
  const bufs = Array.from({ length: nb }, () => allocateColumns(bufRows));
  const written = new Float64Array(nb);
  const fd = fs.openSync(scratchPath, "w+");
  try {
    const writeAt = (arr: ArrayBufferView, bytes: number, pos: number) => {
      const u8 = new Uint8Array(arr.buffer, arr.byteOffset, bytes);
      let done = 0;
      while (done < bytes) done += fs.writeSync(fd, u8, done, bytes - done, pos + done);
    };
    const readAt = (arr: ArrayBufferView, bytes: number, pos: number) => {
      const u8 = new Uint8Array(arr.buffer, arr.byteOffset, bytes);
      let done = 0;
      while (done < bytes) {
        const got = fs.readSync(fd, u8, done, bytes - done, pos + done);
        if (got === 0) throw new StorageBackendError(`scratch file ${scratchPath} is truncated`);
        done += got;
      }
    };
    const flush = (b: number) => {
      const c = bufs[b]!;
      const k = c.count;
      if (k === 0) return;
      const w = written[b]!;
      writeAt(c.voxel, 4 * k, colStart(b, 0) + 4 * w);
      writeAt(c.intensity, 8 * k, colStart(b, 1) + 8 * w);
      writeAt(c.sigma, 8 * k, colStart(b, 2) + 8 * w);
      writeAt(c.still, 4 * k, colStart(b, 3) + 4 * w);
      writeAt(c.qLab, 12 * k, colStart(b, 4) + 12 * w);
      written[b] = w + k;
      c.count = 0;
    };
    // Pass 1: distribute.
    const cursor = offsets.slice(0, nVoxels);
    const src = allocateColumns(slabRows);
    for (let a = 0; a < n; a += slabRows) {
      readColumns(rr, a, Math.min(n, a + slabRows), src);
      const { voxel, intensity, sigma, still, qLab } = src;
      for (let i = 0; i < src.count; i++) {
        const v = voxel[i]!;
        const d = cursor[v]!;
        cursor[v] = d + 1;
        const b = Math.floor(d / bucketRows);
        const c = bufs[b]!;
        const j = c.count;
        c.voxel[j] = v;
        c.intensity[j] = intensity[i]!;
        c.sigma[j] = sigma[i]!;
        c.still[j] = still[i]!;
        c.qLab[3 * j] = qLab[3 * i]!;
        c.qLab[3 * j + 1] = qLab[3 * i + 1]!;
        c.qLab[3 * j + 2] = qLab[3 * i + 2]!;
        c.count = j + 1;
        if (j + 1 === bufRows) flush(b);
      }
      onProgress?.("distribute", Math.min(n, a + slabRows), n);
    }
    for (let b = 0; b < nb; b++) flush(b);
    bufs.length = 0;
    // Pass 2: one bucket at a time, sorted in memory, appended in order.
    const cursor2 = offsets.slice(0, nVoxels);
    const inb = allocateColumns(bucketRows);
    for (let b = 0; b < nb; b++) {
      const k = rowsOf(b);
      readAt(inb.voxel, 4 * k, colStart(b, 0));
      readAt(inb.intensity, 8 * k, colStart(b, 1));
      readAt(inb.sigma, 8 * k, colStart(b, 2));
      readAt(inb.still, 4 * k, colStart(b, 3));
      readAt(inb.qLab, 12 * k, colStart(b, 4));
      inb.count = k;
      // Sorted straight into the appender's staging rows (no intermediate block).
      const { cols, at } = out.beginWrite(k);
      scatterByVoxel(inb, cursor2, b * bucketRows - at, cols);
      out.endWrite(k);
      onProgress?.("merge", b + 1, nb);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Add a block's observations to the totals (stats, per-still counts, |q| range). */
export function addTotals(
  t: AccumulatorTotals,
  c: ObservationColumns,
  q2: Float64Array | null,
): void {
  accumulateStats(t.stats, c.voxel, c.intensity, c.sigma, c.count);
  const { still, qLab } = c;
  let lastStill = -1;
  let lastCount = 0;
  for (let i = 0; i < c.count; i++) {
    const s = still[i]!;
    if (s !== lastStill) {
      if (lastStill >= 0)
        t.stillCounts.set(lastStill, (t.stillCounts.get(lastStill) ?? 0) + lastCount);
      lastStill = s;
      lastCount = 0;
    }
    lastCount++;
    let qq: number;
    if (q2) {
      qq = q2[i]!;
    } else {
      const x = qLab[3 * i]!;
      const y = qLab[3 * i + 1]!;
      const z = qLab[3 * i + 2]!;
      qq = x * x + y * y + z * z;
    }
    if (qq < t.q2Min) t.q2Min = qq;
    if (qq > t.q2Max) t.q2Max = qq;
  }
  if (lastStill >= 0) t.stillCounts.set(lastStill, (t.stillCounts.get(lastStill) ?? 0) + lastCount);
  t.nTotal += c.count;
}

/** The reader side of a main file (finalized, or a live view of one being written). */
export class VoxelFileReader {
  private constructor(
    readonly path: string,
    private readonly r: StoreReader,
    readonly grid: GlobalVoxelGrid,
    readonly totals: AccumulatorTotals,
    readonly finalized: boolean,
    readonly offsets: Float64Array | undefined,
  ) {}

  static async open(file: string): Promise<VoxelFileReader> {
    const r = await storageAsync(`opening ${file}`, () => StoreReader.open(file));
    try {
      return storage(`reading ${file}`, () => {
        const { grid } = readGrid(r);
        const { totals, finalized } = readTotals(r, grid);
        let offsets: Float64Array | undefined;
        if (finalized) {
          const raw = r.read<"uint64">("/voxels/offset").data;
          if (raw.length !== grid.nVoxels + 1) {
            throw new DataConsistencyError(
              `${file}: /voxels/offset has ${raw.length} entries, expected ${grid.nVoxels + 1}`,
            );
          }
          offsets = fromUint64(raw);
        }
        return new VoxelFileReader(file, r, grid, totals, finalized, offsets);
      });
    } catch (e) {
      r.close();
      throw e;
    }
  }

  /** A reader of a file just finalized by this process (statistics and index already in memory). */
  static async attach(
    file: string,
    grid: GlobalVoxelGrid,
    totals: AccumulatorTotals,
    offsets: Float64Array,
  ): Promise<VoxelFileReader> {
    const r = await storageAsync(`opening ${file}`, () => StoreReader.open(file));
    return new VoxelFileReader(file, r, grid, totals, true, offsets);
  }

  /** Sorted rows [a, b) (fresh arrays). */
  rows(a: number, b: number): ObservationColumns {
    return storage(`reading observations ${a}..${b} of ${this.path}`, () =>
      readColumns(this.r, a, b, allocateColumns(b - a)),
    );
  }

  close(): void {
    this.r.close();
  }
}
