/**
 * VoxelAccumulator (seed 000 IDL; plan Module 3.S.2): bins corrected diffuse observations into
 * the GlobalVoxelGrid with ASU mapping, keeps streaming per-voxel statistics and stores every
 * observation for scaling, in memory or in HDF5 with bounded memory.
 *
 * Per observation: hkl = A_i^-1 q_lab with the still's own A_i = U_i B_avg (per frame for
 * scan-varying crystals), n = round(hkl ndiv), n -> ASU (cctbx map_to_asu via src/symmetry),
 * voxel index from the grid's box. Observations outside the resolution limits or the box are
 * not binned (counted in `rejected`).
 *
 * IDL -> TypeScript:
 *   VoxelAccumulator(grid, space_group_info, backend, storage_path)
 *                                   -> await VoxelAccumulator.create(grid, { spaceGroup, backend, storagePath })
 *                                      (async: opening HDF5 is); VoxelAccumulator.createInMemory(grid) is sync
 *   add_observations(still_id, q_vectors_lab, intensities, sigmas, frame_indices) -> addObservations(...)
 *   get_observations_for_voxel(voxel_idx)  -> getObservationsForVoxel(voxelIdx)
 *   get_all_binned_data_for_scaling()      -> getAllBinnedDataForScaling()  (Map voxel -> observations;
 *                                             observationBlocks() streams the same in bounded blocks)
 *   get_accumulation_statistics()          -> getAccumulationStatistics()
 *   finalize()                             -> await finalize()
 *   attributes global_voxel_grid, space_group, backend, storage_path, n_total_observations,
 *   n_unique_voxels -> globalVoxelGrid, spaceGroup (+ symmetry), backend, storagePath,
 *   nTotalObservations, nUniqueVoxels
 *   dict keys: intensities, sigmas, still_ids, q_vectors_lab, n_observations -> intensities,
 *   sigmas, stillIds, qVectorsLab, nObservations; total_observations, unique_voxels,
 *   observations_per_voxel_stats, still_distribution, resolution_range{d_min, d_max} ->
 *   totalObservations, uniqueVoxels, observationsPerVoxelStats, stillDistribution,
 *   resolutionRange{dMin, dMax}
 *   errors InvalidVoxelIndex, StorageBackendError, DataConsistencyError, SymmetryError ->
 *   InvalidVoxelIndexError, StorageBackendError, DataConsistencyError, SymmetryError (errors.ts;
 *   SymmetryError is src/symmetry's class, re-exported, so the package has one)
 *
 * Backends: "memory" keeps typed-array columns; "hdf5" appends observations in chunks to a
 * side file and keeps memory bounded however many arrive, refreshes the viewer map /map/* at
 * every commit (periodically during addObservations) and sorts by voxel at finalize(); file
 * layout in hdf5-store.ts. Both keep the same per-voxel statistics in memory (48 bytes a voxel).
 *
 * Deviations from the IDL, on purpose: intensities may be zero or negative (background-
 * subtracted diffuse intensities are); they must be finite. Sigmas must be finite and >= 0;
 * sigma = 0 (a pixel that counted zero photons) is binned, enters the unweighted statistics
 * and gets weight 0 in the inverse-variance sums. q vectors are stored as float32.
 *
 * Parallel accumulation: accumulate disjoint sets of stills in worker threads with memory
 * accumulators built from `grid.toJSON()`, post `toSnapshot()` back (transfer
 * `snapshotTransferList(s)`), and `merge()` the snapshots into one accumulator (Chan et al.:
 * counts merge exactly, means agree with one sequential pass to rounding).
 */
import fs from "node:fs";
import path from "node:path";
import { StoreError, type Compression, type Provenance } from "../store/index.js";
import { copyColumns, MemoryColumns, sliceColumns, type ObservationColumns } from "./columns.js";
import {
  DataConsistencyError,
  InvalidVoxelIndexError,
  StorageBackendError,
  SymmetryError,
} from "./errors.js";
import {
  forEachPixelSlab,
  GlobalVoxelGrid,
  type BinRejections,
  type GridJson,
  type StillCrystals,
} from "./grid.js";
import {
  emptyTotals,
  VoxelFileReader,
  VoxelFileWriter,
  zstdAvailable,
  type AccumulatorTotals,
} from "./hdf5-store.js";
import { LaueSymmetry } from "./symmetry-ops.js";
import {
  accumulateStats,
  mergeStats,
  STAT_STRIDE,
  voxelStatistics,
  type VoxelStatistics,
} from "./welford.js";
import type { Crystal } from "../geometry/models.js";

export type VoxelBackend = "memory" | "hdf5";

export interface VoxelAccumulatorOptions {
  /**
   * IDL space_group_info: the space group for ASU mapping. Default the grid's; when given it
   * must have the same Laue group operators as the grid's (else SymmetryError).
   */
  spaceGroup?: string | number;
  /** "hdf5" (default, as the IDL) or "memory". */
  backend?: VoxelBackend;
  /**
   * hdf5 backend: the main HDF5 file, or an existing directory (the file is then
   * `<dir>/voxel_accumulator.h5`). A side file `<name>.unsorted.h5` holds observations until
   * finalize().
   */
  storagePath?: string;
  /** Replace an existing file. */
  overwrite?: boolean;
  /** Memory for the sort at finalize (bytes, default 64 MiB). */
  bufferBytes?: number;
  /** Rows per HDF5 chunk of the observation columns (default 65536). */
  chunkRows?: number;
  /** Compression of the observation and statistics datasets. Default zstd (level 1) if the plugin works, else gzip-1. */
  compression?: Compression;
  /**
   * Compression of /map/* (default none: it is rewritten at every commit, and every HDF5
   * reader reads it; 12 bytes a voxel).
   */
  mapCompression?: Compression;
  /** hdf5: commit (refresh /map for live viewers) at most this often during addObservations, seconds (default 10; 0: only on commit()). */
  commitIntervalS?: number;
  /** /map@units (default "counts/s/sr (corrected)", the pixel list's units). */
  units?: string;
  /** memory backend: keep every observation (default true); false keeps statistics only. */
  keepObservations?: boolean;
  provenance?: Provenance;
}

/** IDL voxel_observations. */
export interface VoxelObservations {
  intensities: Float64Array;
  sigmas: Float64Array;
  stillIds: Uint32Array;
  /** 3 per observation, lab frame, per Angstrom (float32). */
  qVectorsLab: Float32Array;
  nObservations: number;
}

/** IDL statistics. */
export interface AccumulationStatistics {
  totalObservations: number;
  uniqueVoxels: number;
  /** Over voxels with data; std is the population standard deviation. */
  observationsPerVoxelStats: { mean: number; std: number; min: number; max: number };
  /** still id -> observations binned. */
  stillDistribution: Map<number, number>;
  /** d-spacings (Angstrom) of the binned observations (NaN before any). */
  resolutionRange: { dMin: number; dMax: number };
  /** Observations not binned, and why. */
  rejected: BinRejections;
}

/** A run of whole voxels, voxel-sorted (observationBlocks). */
export interface ObservationBlock {
  /** Voxels with data in this block, ascending. */
  voxels: Int32Array;
  /** offsets[i]..offsets[i+1]: rows of voxels[i] in `columns`. */
  offsets: Float64Array;
  columns: ObservationColumns;
}

/** Everything an accumulator holds, as transferable arrays (worker threads, merge). */
export interface AccumulatorSnapshot {
  format: "stagelab.voxel_accumulator/1";
  grid: GridJson;
  stats: Float64Array;
  stillIds: Float64Array;
  stillCounts: Float64Array;
  q2Min: number;
  q2Max: number;
  nTotal: number;
  rejections: BinRejections;
  /** null: statistics only. */
  observations: ObservationColumns | null;
}

/** The ArrayBuffers of a snapshot, for postMessage's transfer list. */
export function snapshotTransferList(s: AccumulatorSnapshot): ArrayBuffer[] {
  const views: ArrayBufferView[] = [s.stats, s.stillIds, s.stillCounts];
  if (s.observations) {
    const o = s.observations;
    views.push(o.voxel, o.intensity, o.sigma, o.still, o.qLab);
  }
  return [...new Set(views.map((v) => v.buffer as ArrayBuffer))];
}

type State = "accumulating" | "finalized" | "closed";

/** First observation whose intensity is not finite or whose sigma is not finite and >= 0 (-1: none). */
function firstInvalid(
  intensities: ArrayLike<number>,
  sigmas: ArrayLike<number>,
  n: number,
): number {
  for (let i = 0; i < n; i++) {
    const x = intensities[i]!;
    const s = sigmas[i]!;
    // x - x is 0 exactly for finite x (NaN for NaN and +-Infinity).
    if (!(x - x === 0) || !(s >= 0 && s - s === 0)) return i;
  }
  return -1;
}

/**
 * Copy the binned observations of rows [a, b) (vox >= 0) into `blk` from row `at` and widen
 * the |q|^2 range [range[0], range[1]]. Returns how many.
 */
function compactBinned(
  vox: Int32Array,
  q2: Float64Array,
  intensities: ArrayLike<number>,
  sigmas: ArrayLike<number>,
  qLab: ArrayLike<number>,
  stillId: number,
  a: number,
  b: number,
  blk: ObservationColumns,
  at: number,
  range: Float64Array,
): number {
  let lo = range[0]!;
  let hi = range[1]!;
  const bv = blk.voxel;
  const bi = blk.intensity;
  const bs = blk.sigma;
  const bst = blk.still;
  const bq = blk.qLab;
  let k = at;
  for (let i = a; i < b; i++) {
    const v = vox[i]!;
    if (v < 0) continue;
    const qq = q2[i]!;
    lo = qq < lo ? qq : lo;
    hi = qq > hi ? qq : hi;
    bv[k] = v;
    bi[k] = intensities[i]!;
    bs[k] = sigmas[i]!;
    bst[k] = stillId;
    bq[3 * k] = qLab[3 * i]!;
    bq[3 * k + 1] = qLab[3 * i + 1]!;
    bq[3 * k + 2] = qLab[3 * i + 2]!;
    k++;
  }
  range[0] = lo;
  range[1] = hi;
  return k - at;
}

/** compactBinned without copying (statistics-only accumulators). */
function binnedRange(
  vox: Int32Array,
  q2: Float64Array,
  a: number,
  b: number,
  range: Float64Array,
): number {
  let lo = range[0]!;
  let hi = range[1]!;
  let k = 0;
  for (let i = a; i < b; i++) {
    if (vox[i]! < 0) continue;
    const qq = q2[i]!;
    lo = qq < lo ? qq : lo;
    hi = qq > hi ? qq : hi;
    k++;
  }
  range[0] = lo;
  range[1] = hi;
  return k;
}

const BLOCK = 65536;
const DEFAULT_FILE = "voxel_accumulator.h5";

function resolveStoragePath(p: string | undefined): string {
  if (!p) {
    throw new StorageBackendError(
      "Backend storage operation failed: the hdf5 backend needs storagePath",
    );
  }
  if (fs.existsSync(p) && fs.statSync(p).isDirectory()) return path.join(p, DEFAULT_FILE);
  return p;
}

export class VoxelAccumulator {
  /** IDL global_voxel_grid. */
  readonly globalVoxelGrid: GlobalVoxelGrid;
  /** IDL backend. */
  readonly backend: VoxelBackend;
  /** IDL storage_path: the main HDF5 file (null for the memory backend). */
  readonly storagePath: string | null;
  readonly keepObservations: boolean;
  private totals: AccumulatorTotals;
  private mem: MemoryColumns | undefined;
  private writer: VoxelFileWriter | undefined;
  private reader: VoxelFileReader | undefined;
  private state: State = "accumulating";
  private readonly commitIntervalMs: number;
  private readonly bufferBytes: number;
  private lastCommit = performance.now();
  private uniqueCache = -1;
  private vox = new Int32Array(0);
  private q2 = new Float64Array(0);
  private readonly q2Range = new Float64Array(2);

  private constructor(
    grid: GlobalVoxelGrid,
    backend: VoxelBackend,
    storagePath: string | null,
    opts: { keepObservations: boolean; commitIntervalS: number; bufferBytes: number },
    totals?: AccumulatorTotals,
  ) {
    this.globalVoxelGrid = grid;
    this.backend = backend;
    this.storagePath = storagePath;
    this.keepObservations = opts.keepObservations;
    this.commitIntervalMs = opts.commitIntervalS * 1000;
    this.bufferBytes = opts.bufferBytes;
    this.totals = totals ?? emptyTotals(grid.nVoxels);
    if (backend === "memory" && opts.keepObservations) this.mem = new MemoryColumns();
  }

  private static checkSpaceGroup(grid: GlobalVoxelGrid, sg: string | number | undefined): void {
    if (sg === undefined) return;
    const s = LaueSymmetry.of(sg);
    if (!s.sameGroupAs(grid.symmetry)) {
      throw new SymmetryError(
        `space group ${sg} (Laue class ${s.laueClass}) does not have the Laue group of the voxel grid ` +
          `(${grid.symmetry.spaceGroup}, ${grid.symmetry.laueClass})`,
      );
    }
  }

  /** IDL constructor. The hdf5 backend creates its files (and their whole layout) now. */
  static async create(
    grid: GlobalVoxelGrid,
    opts: VoxelAccumulatorOptions = {},
  ): Promise<VoxelAccumulator> {
    const backend = opts.backend ?? "hdf5";
    if (backend === "memory") return VoxelAccumulator.createInMemory(grid, opts);
    if (backend !== "hdf5") {
      throw new StorageBackendError(
        `Backend storage operation failed: unknown backend ${JSON.stringify(backend)} (memory or hdf5)`,
      );
    }
    VoxelAccumulator.checkSpaceGroup(grid, opts.spaceGroup);
    if (opts.keepObservations === false) {
      throw new DataConsistencyError(
        "the hdf5 backend always keeps the observations (keepObservations: false is for memory)",
      );
    }
    const file = resolveStoragePath(opts.storagePath);
    const compression = opts.compression ?? ((await zstdAvailable()) ? { zstd: 1 } : { gzip: 1 });
    const writer = await VoxelFileWriter.create(file, grid, {
      compression,
      mapCompression: opts.mapCompression ?? "none",
      chunkRows: opts.chunkRows ?? 65536,
      units: opts.units ?? "counts/s/sr (corrected)",
      overwrite: opts.overwrite ?? false,
      provenance: opts.provenance ?? {
        stage: "voxel.accumulate",
        parameters: { grid: grid.geometryKey, bufferBytes: opts.bufferBytes ?? 64 << 20 },
      },
    });
    const acc = new VoxelAccumulator(grid, "hdf5", file, {
      keepObservations: true,
      commitIntervalS: opts.commitIntervalS ?? 10,
      bufferBytes: opts.bufferBytes ?? 64 << 20,
    });
    acc.writer = writer;
    return acc;
  }

  /** A memory-backend accumulator, synchronously (e.g. in a worker thread). */
  static createInMemory(
    grid: GlobalVoxelGrid,
    opts: Pick<VoxelAccumulatorOptions, "spaceGroup" | "keepObservations"> = {},
  ): VoxelAccumulator {
    VoxelAccumulator.checkSpaceGroup(grid, opts.spaceGroup);
    return new VoxelAccumulator(grid, "memory", null, {
      keepObservations: opts.keepObservations ?? true,
      commitIntervalS: 0,
      bufferBytes: 0,
    });
  }

  /**
   * Re-open an hdf5 accumulation: a finalized file opens read-only (retrieval, statistics,
   * merge into others); an unfinalized one (closed, or its writer crashed) resumes
   * accumulating, with statistics recomputed from the committed observations.
   */
  static async open(
    storagePath: string,
    opts: Pick<VoxelAccumulatorOptions, "bufferBytes" | "commitIntervalS"> = {},
  ): Promise<VoxelAccumulator> {
    const file = resolveStoragePath(storagePath);
    if (!fs.existsSync(file))
      throw new StorageBackendError(`Backend storage operation failed: no such file ${file}`);
    const rd = await VoxelFileReader.open(file);
    const o = {
      keepObservations: true,
      commitIntervalS: opts.commitIntervalS ?? 10,
      bufferBytes: opts.bufferBytes ?? 64 << 20,
    };
    if (rd.finalized) {
      const acc = new VoxelAccumulator(rd.grid, "hdf5", file, o, rd.totals);
      acc.reader = rd;
      acc.state = "finalized";
      return acc;
    }
    rd.close();
    const { writer, totals } = await VoxelFileWriter.resume(file);
    const acc = new VoxelAccumulator(writer.grid, "hdf5", file, o, totals);
    acc.writer = writer;
    return acc;
  }

  /** A memory accumulator holding a snapshot (see toSnapshot). */
  static fromSnapshot(s: AccumulatorSnapshot): VoxelAccumulator {
    const acc = VoxelAccumulator.createInMemory(GlobalVoxelGrid.fromJSON(s.grid), {
      keepObservations: s.observations !== null,
    });
    acc.merge(s);
    return acc;
  }

  // ---- attributes -----------------------------------------------------------------------

  /** IDL space_group (the space group as given; `symmetry` has the Laue group). */
  get spaceGroup(): string {
    return this.globalVoxelGrid.symmetry.spaceGroup;
  }

  get symmetry(): LaueSymmetry {
    return this.globalVoxelGrid.symmetry;
  }

  /** IDL n_total_observations. */
  get nTotalObservations(): number {
    return this.totals.nTotal;
  }

  /** IDL n_unique_voxels: voxels with at least one observation. */
  get nUniqueVoxels(): number {
    if (this.uniqueCache < 0) {
      const s = this.totals.stats;
      let u = 0;
      for (let o = 0; o < s.length; o += STAT_STRIDE) if (s[o]! > 0) u++;
      this.uniqueCache = u;
    }
    return this.uniqueCache;
  }

  get isFinalized(): boolean {
    return this.state === "finalized";
  }

  /**
   * The per-voxel statistics, interleaved (welford.ts: n, mean, m2, sumW, wMean, wM2 per
   * voxel). Read-only: the accumulator's own array.
   */
  get statistics(): Float64Array {
    return this.totals.stats;
  }

  // ---- accumulation ---------------------------------------------------------------------

  private requireAccumulating(what: string): void {
    if (this.state !== "accumulating") {
      throw new StorageBackendError(
        `Backend storage operation failed: cannot ${what}: the accumulator is ${this.state}`,
      );
    }
  }

  /**
   * Voxel index of each observation (-1: not binned) without adding anything. Validates like
   * addObservations.
   */
  computeVoxelIndices(
    stillId: number,
    qLab: Float64Array | Float32Array,
    frameIndices?: ArrayLike<number>,
    out?: Int32Array,
  ): Int32Array {
    const n = qLab.length / 3;
    const res = out ?? new Int32Array(n);
    this.globalVoxelGrid.computeVoxelIndices(stillId, qLab, frameIndices, res);
    return res;
  }

  /**
   * IDL add_observations: bin one still's observations (q_lab: 3 numbers per observation,
   * per Angstrom; intensities; sigmas; optional 0-based scan frame of each observation for
   * scan-varying crystals). Returns the number binned. Invalid input throws before anything
   * is added; a StorageBackendError from the HDF5 append leaves the accumulator unusable
   * (abandon() it; VoxelAccumulator.open() resumes from the last commit).
   */
  addObservations(
    stillId: number,
    qLab: Float64Array | Float32Array,
    intensities: Float64Array | Float32Array,
    sigmas: Float64Array | Float32Array,
    frameIndices?: ArrayLike<number>,
  ): number {
    this.requireAccumulating("add observations");
    const n = intensities.length;
    if (
      qLab.length !== 3 * n ||
      sigmas.length !== n ||
      (frameIndices && frameIndices.length !== n)
    ) {
      throw new DataConsistencyError(
        `Input array dimensions mismatch: q_vectors_lab has ${qLab.length} numbers (need 3 x ${n}), ` +
          `intensities ${n}, sigmas ${sigmas.length}` +
          (frameIndices ? `, frame_indices ${frameIndices.length}` : ""),
      );
    }
    if (!Number.isInteger(stillId) || stillId < 0 || stillId > 0xffffffff) {
      throw new DataConsistencyError(`still ids must be integers 0..2^32-1, got ${stillId}`);
    }
    const bad = firstInvalid(intensities, sigmas, n);
    if (bad >= 0) {
      throw new DataConsistencyError(
        `observation ${bad} of still ${stillId}: intensity ${intensities[bad]} and sigma ${sigmas[bad]} must be finite, sigma >= 0`,
      );
    }
    if (this.vox.length < n) {
      this.vox = new Int32Array(Math.max(n, 2 * this.vox.length));
      this.q2 = new Float64Array(this.vox.length);
    }
    const vox = this.vox;
    const q2 = this.q2;
    const rej: BinRejections = { outsideResolution: 0, outsideGrid: 0 };
    this.globalVoxelGrid.computeVoxelIndices(stillId, qLab, frameIndices, vox, rej, q2);
    // From here on nothing throws on bad input: state changes are all-or-nothing per call.
    this.totals.rejections.outsideResolution += rej.outsideResolution;
    this.totals.rejections.outsideGrid += rej.outsideGrid;
    accumulateStats(this.totals.stats, vox, intensities, sigmas, n);
    const t = this.totals;
    const range = this.q2Range;
    range[0] = t.q2Min;
    range[1] = t.q2Max;
    let binned = 0;
    for (let a = 0; a < n; a += BLOCK) {
      const b = Math.min(n, a + BLOCK);
      let k: number;
      const sink = this.mem ?? this.writer;
      if (sink) {
        // Straight into the store's own columns: no intermediate copy.
        const { cols, at } = sink.beginWrite(b - a);
        k = compactBinned(vox, q2, intensities, sigmas, qLab, stillId, a, b, cols, at, range);
        sink.endWrite(k);
      } else {
        k = binnedRange(vox, q2, a, b, range);
      }
      binned += k;
    }
    t.q2Min = range[0]!;
    t.q2Max = range[1]!;
    if (binned > 0) {
      t.nTotal += binned;
      t.stillCounts.set(stillId, (t.stillCounts.get(stillId) ?? 0) + binned);
      this.uniqueCache = -1;
    }
    if (
      this.writer &&
      this.commitIntervalMs > 0 &&
      performance.now() - this.lastCommit >= this.commitIntervalMs
    ) {
      this.commit();
    }
    return binned;
  }

  private store(c: ObservationColumns): void {
    if (this.mem) this.mem.append(c);
    else if (this.writer) this.writer.append(c);
  }

  /**
   * Stream a corrected pixel-list file (`/diffuse/pixels`, src/diffuse/pixel-list.ts) in
   * slabs through addObservations. `positiveSigmaOnly` skips rows without a positive sigma (a
   * pixel that counted 0, whose Poisson variance estimate is 0), as the inverse-variance merge
   * must: the diffuse pipeline sets it so its accumulator and merge count the same observations. `stillCrystals` registers the orientations of stills the
   * grid does not know yet (keyed by the file's `still` column). Observations added before an
   * abort stay added.
   */
  async addObservationsFromPixelList(
    file: string,
    opts: {
      stillCrystals?: StillCrystals;
      onProgress?: (p: { rowsDone: number; rowsTotal: number; binned: number }) => void;
      signal?: AbortSignal;
      slabRows?: number;
      positiveSigmaOnly?: boolean;
    } = {},
  ): Promise<{ rows: number; binned: number }> {
    this.requireAccumulating("add observations");
    const sc = opts.stillCrystals;
    if (sc) {
      const entries: [number, Crystal | undefined][] =
        sc instanceof Map
          ? [...(sc as ReadonlyMap<number, Crystal>)]
          : [...(sc as readonly (Crystal | undefined)[]).entries()];
      for (const [id, c] of entries) if (c) this.globalVoxelGrid.registerStill(id, c);
    }
    let binned = 0;
    const rows = await forEachPixelSlab(
      file,
      opts.slabRows ?? 262144,
      opts.signal,
      (still, q, inten, sig, first, total) => {
        const kept = opts.positiveSigmaOnly
          ? withPositiveSigma(q, inten, sig)
          : { q, intensity: inten, sigma: sig };
        binned += this.addObservations(still, kept.q, kept.intensity, kept.sigma);
        opts.onProgress?.({ rowsDone: first + inten.length, rowsTotal: total, binned });
      },
      true,
    ).catch((e: unknown) => {
      if (e instanceof StoreError) {
        throw new StorageBackendError(
          `Backend storage operation failed: reading ${file}: ${e.message}`,
          { cause: e },
        );
      }
      throw e;
    });
    return { rows, binned };
  }

  // ---- retrieval ------------------------------------------------------------------------

  private checkVoxel(voxelIdx: number): void {
    if (!Number.isInteger(voxelIdx) || voxelIdx < 0 || voxelIdx >= this.globalVoxelGrid.nVoxels) {
      throw new InvalidVoxelIndexError(voxelIdx, this.globalVoxelGrid.nVoxels);
    }
  }

  private requireObservations(): void {
    if (this.state === "closed") {
      throw new StorageBackendError("Backend storage operation failed: the accumulator is closed");
    }
    if (!this.keepObservations) {
      throw new StorageBackendError(
        "Backend storage operation failed: this accumulator keeps statistics only (keepObservations: false)",
      );
    }
    if (this.backend === "hdf5" && !this.reader) {
      throw new StorageBackendError(
        "Backend storage operation failed: hdf5 observations are readable by voxel after finalize() (they are sorted then)",
      );
    }
  }

  /** IDL get_observations_for_voxel (fresh arrays). */
  getObservationsForVoxel(voxelIdx: number): VoxelObservations {
    this.checkVoxel(voxelIdx);
    this.requireObservations();
    let c: ObservationColumns;
    if (this.mem) {
      this.mem.sort(this.globalVoxelGrid.nVoxels);
      c = copyColumns(this.mem.rowsOf(voxelIdx));
    } else {
      const off = this.reader!.offsets!;
      c = this.reader!.rows(off[voxelIdx]!, off[voxelIdx + 1]!);
    }
    return {
      intensities: c.intensity.subarray(0, c.count),
      sigmas: c.sigma.subarray(0, c.count),
      stillIds: c.still.subarray(0, c.count),
      qVectorsLab: c.qLab.subarray(0, 3 * c.count),
      nObservations: c.count,
    };
  }

  /**
   * Voxel-sorted observations in blocks of whole voxels of about `maxRows` rows (a voxel with
   * more rows gets a block of its own): the bounded-memory way through all data for scaling.
   */
  *observationBlocks(maxRows = 1 << 20): Generator<ObservationBlock> {
    this.requireObservations();
    const nV = this.globalVoxelGrid.nVoxels;
    const off = this.mem ? this.mem.sort(nV) : this.reader!.offsets!;
    const rowsOf = this.mem
      ? (a: number, b: number) => copyColumns(this.mem!.rows(a, b))
      : (a: number, b: number) => this.reader!.rows(a, b);
    let v = 0;
    while (v < nV) {
      while (v < nV && off[v + 1] === off[v]) v++;
      if (v >= nV) break;
      const r0 = off[v]!;
      let w = v + 1;
      while (w < nV && off[w + 1]! - r0 <= maxRows) w++;
      const r1 = off[w]!;
      const columns = rowsOf(r0, r1);
      const voxels: number[] = [];
      const offsets: number[] = [0];
      for (let u = v; u < w; u++) {
        if (off[u + 1]! > off[u]!) {
          voxels.push(u);
          offsets.push(off[u + 1]! - r0);
        }
      }
      yield { voxels: Int32Array.from(voxels), offsets: Float64Array.from(offsets), columns };
      v = w;
    }
  }

  /** IDL get_all_binned_data_for_scaling: voxel -> its observations, for every voxel with data. */
  getAllBinnedDataForScaling(): Map<number, VoxelObservations> {
    const out = new Map<number, VoxelObservations>();
    for (const blk of this.observationBlocks()) {
      const c = blk.columns;
      blk.voxels.forEach((v, i) => {
        const a = blk.offsets[i]!;
        const b = blk.offsets[i + 1]!;
        const s = sliceColumns(c, a, b);
        out.set(v, {
          intensities: s.intensity,
          sigmas: s.sigma,
          stillIds: s.still,
          qVectorsLab: s.qLab,
          nObservations: b - a,
        });
      });
    }
    return out;
  }

  /** Statistics of one voxel (Welford and inverse-variance weighted). */
  getVoxelStatistics(voxelIdx: number): VoxelStatistics {
    this.checkVoxel(voxelIdx);
    return voxelStatistics(this.totals.stats, voxelIdx);
  }

  /** IDL get_accumulation_statistics. */
  getAccumulationStatistics(): AccumulationStatistics {
    const s = this.totals.stats;
    let unique = 0;
    let mean = 0;
    let m2 = 0;
    let min = Infinity;
    let max = 0;
    for (let o = 0; o < s.length; o += STAT_STRIDE) {
      const n = s[o]!;
      if (n === 0) continue;
      unique++;
      const d = n - mean;
      mean += d / unique;
      m2 += d * (n - mean);
      if (n < min) min = n;
      if (n > max) max = n;
    }
    this.uniqueCache = unique;
    const t = this.totals;
    const ids = [...t.stillCounts.keys()].sort((a, b) => a - b);
    return {
      totalObservations: t.nTotal,
      uniqueVoxels: unique,
      observationsPerVoxelStats:
        unique > 0
          ? { mean, std: Math.sqrt(m2 / unique), min, max }
          : { mean: 0, std: 0, min: 0, max: 0 },
      stillDistribution: new Map(ids.map((id) => [id, t.stillCounts.get(id)!])),
      resolutionRange:
        t.nTotal > 0
          ? { dMin: 1 / Math.sqrt(t.q2Max), dMax: t.q2Min > 0 ? 1 / Math.sqrt(t.q2Min) : Infinity }
          : { dMin: NaN, dMax: NaN },
      rejected: { ...t.rejections },
    };
  }

  // ---- merging and snapshots --------------------------------------------------------------

  /**
   * Everything this accumulator holds as plain arrays (copies): post it from a worker with
   * snapshotTransferList(s), merge it elsewhere. hdf5 accumulators give statistics only
   * unless finalized (then with observations, read back: mind the size).
   */
  toSnapshot(opts: { includeObservations?: boolean } = {}): AccumulatorSnapshot {
    const t = this.totals;
    const ids = [...t.stillCounts.keys()];
    let observations: ObservationColumns | null = null;
    const want = opts.includeObservations ?? this.backend === "memory";
    if (want && this.keepObservations) {
      if (this.mem) observations = copyColumns(this.mem.view());
      else if (this.reader) observations = this.reader.rows(0, t.nTotal);
      else {
        throw new StorageBackendError(
          "Backend storage operation failed: an hdf5 accumulator's observations can be snapshot after finalize()",
        );
      }
    }
    return {
      format: "stagelab.voxel_accumulator/1",
      grid: this.globalVoxelGrid.toJSON(),
      stats: t.stats.slice(),
      stillIds: Float64Array.from(ids),
      stillCounts: Float64Array.from(ids, (id) => t.stillCounts.get(id)!),
      q2Min: t.q2Min,
      q2Max: t.q2Max,
      nTotal: t.nTotal,
      rejections: { ...t.rejections },
      observations,
    };
  }

  /**
   * Merge another accumulator (or a snapshot) over the same grid geometry into this one:
   * statistics by Chan et al.'s pairwise formulas (counts exactly), per-still counts, ranges,
   * and its observations appended to this one's store. Stills the other knows are registered
   * here. Returns this.
   */
  merge(other: VoxelAccumulator | AccumulatorSnapshot): this {
    this.requireAccumulating("merge");
    const snap = other instanceof VoxelAccumulator ? null : other;
    const acc = other instanceof VoxelAccumulator ? other : null;
    if (acc === this) throw new DataConsistencyError("cannot merge an accumulator into itself");
    const gridJson = acc ? acc.globalVoxelGrid.toJSON() : snap!.grid;
    if (snap && snap.format !== "stagelab.voxel_accumulator/1") {
      throw new DataConsistencyError(
        `not an accumulator snapshot (format ${JSON.stringify(snap.format)})`,
      );
    }
    if (GlobalVoxelGrid.geometryKeyOf(gridJson) !== this.globalVoxelGrid.geometryKey) {
      throw new DataConsistencyError(
        "cannot merge accumulators over different voxel grids (space group, ndiv, resolution, cell or box differ)",
      );
    }
    const stats = acc ? acc.totals.stats : snap!.stats;
    if (stats.length !== this.totals.stats.length) {
      throw new DataConsistencyError(
        `statistics arrays differ in size (${stats.length} vs ${this.totals.stats.length})`,
      );
    }
    const nOther = acc ? acc.totals.nTotal : snap!.nTotal;
    // Observations first (the only step that can fail half-way: storage I/O).
    if (this.keepObservations && nOther > 0) {
      if (acc) {
        if (!acc.keepObservations) {
          throw new DataConsistencyError(
            "the other accumulator kept statistics only: its observations cannot be merged",
          );
        }
        if (acc.mem) this.store(acc.mem.view());
        else {
          if (!acc.reader) {
            throw new StorageBackendError(
              "Backend storage operation failed: finalize() the other hdf5 accumulator before merging it",
            );
          }
          for (const blk of acc.observationBlocks()) this.store(blk.columns);
        }
      } else {
        if (!snap!.observations) {
          throw new DataConsistencyError(
            "the snapshot holds statistics only: its observations cannot be merged",
          );
        }
        this.store(snap!.observations);
      }
    }
    for (const s of gridJson.stills) {
      if (!this.globalVoxelGrid.hasStill(s.stillId)) {
        const toM = (a: number[]) =>
          [a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, a[8]!] as const;
        this.globalVoxelGrid.registerOrientation({
          stillId: s.stillId,
          u: toM(s.u),
          ...(s.uFrames ? { uFrames: s.uFrames.map(toM) } : {}),
        });
      }
    }
    mergeStats(this.totals.stats, stats);
    const t = this.totals;
    if (acc) {
      for (const [id, n] of acc.totals.stillCounts)
        t.stillCounts.set(id, (t.stillCounts.get(id) ?? 0) + n);
      t.q2Min = Math.min(t.q2Min, acc.totals.q2Min);
      t.q2Max = Math.max(t.q2Max, acc.totals.q2Max);
      t.rejections.outsideResolution += acc.totals.rejections.outsideResolution;
      t.rejections.outsideGrid += acc.totals.rejections.outsideGrid;
    } else {
      const s = snap!;
      s.stillIds.forEach((id, i) =>
        t.stillCounts.set(id, (t.stillCounts.get(id) ?? 0) + s.stillCounts[i]!),
      );
      t.q2Min = Math.min(t.q2Min, s.q2Min);
      t.q2Max = Math.max(t.q2Max, s.q2Max);
      t.rejections.outsideResolution += s.rejections.outsideResolution;
      t.rejections.outsideGrid += s.rejections.outsideGrid;
    }
    t.nTotal += nOther;
    this.uniqueCache = -1;
    return this;
  }

  // ---- lifecycle --------------------------------------------------------------------------

  /** hdf5: make all observations so far durable and refresh /map (live viewers see it). */
  commit(): void {
    if (this.writer && this.state === "accumulating") {
      this.writer.commit(this.totals, false);
      this.lastCommit = performance.now();
    }
  }

  /**
   * IDL finalize: memory: sort the observations by voxel; hdf5: external sort into the main
   * file, write index, statistics and map, close the files (then reopened read-only for
   * retrieval). No more observations can be added.
   */
  async finalize(
    opts: {
      keepUnsorted?: boolean;
      onProgress?: (phase: string, done: number, total: number) => void;
    } = {},
  ): Promise<void> {
    this.requireAccumulating("finalize");
    if (this.mem) this.mem.sort(this.globalVoxelGrid.nVoxels);
    if (this.writer) {
      const w = this.writer;
      const offsets = await w.finalize(this.totals, {
        bufferBytes: this.bufferBytes,
        ...(opts.keepUnsorted !== undefined ? { keepUnsorted: opts.keepUnsorted } : {}),
        ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      });
      this.writer = undefined;
      this.reader = await VoxelFileReader.attach(
        w.path,
        this.globalVoxelGrid,
        this.totals,
        offsets,
      );
    }
    this.state = "finalized";
  }

  /**
   * Release everything. hdf5 while accumulating: commit with the statistics and close the
   * files; VoxelAccumulator.open() continues later. Finalized: close the reader.
   */
  close(): void {
    if (this.state === "closed") return;
    if (this.writer) {
      this.writer.close(this.totals);
      this.writer = undefined;
    }
    this.reader?.close();
    this.reader = undefined;
    this.state = "closed";
  }

  /** Close without the final commit (after an error): the last commit stays readable. */
  abandon(): void {
    this.writer?.abandon();
    this.writer = undefined;
    this.reader?.close();
    this.reader = undefined;
    this.state = "closed";
  }
}

/** The rows of a pixel-list slab whose sigma is > 0 (the slab itself when all are). */
function withPositiveSigma(
  q: Float64Array,
  intensity: Float64Array,
  sigma: Float64Array,
): { q: Float64Array; intensity: Float64Array; sigma: Float64Array } {
  let n = 0;
  for (let k = 0; k < sigma.length; k++) if (sigma[k]! > 0) n++;
  if (n === sigma.length) return { q, intensity, sigma };
  const out = {
    q: new Float64Array(3 * n),
    intensity: new Float64Array(n),
    sigma: new Float64Array(n),
  };
  for (let k = 0, j = 0; k < sigma.length; k++) {
    if (!(sigma[k]! > 0)) continue;
    out.q.set(q.subarray(3 * k, 3 * k + 3), 3 * j);
    out.intensity[j] = intensity[k]!;
    out.sigma[j++] = sigma[k]!;
  }
  return out;
}
