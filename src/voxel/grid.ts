/**
 * GlobalVoxelGrid (plan Module 3.S.1): the common reciprocal-space grid all stills are merged on.
 *
 * Reference crystal. The average unit cell of all stills' crystals (`Crystal_avg_ref`), robustly:
 * by default the MEDIAN of each of the six cell parameters over the stills (a breakdown point of
 * 50%: a minority of badly indexed stills cannot drag it; "mean" is available). B_avg is the
 * dxtbx B matrix of that cell.
 *
 * Orientations. Stills are in random orientations, so ONE average setting matrix A cannot map
 * every still's q to hkl (the plan's text says "Crystal_avg_ref.get_A().inverse()" for all
 * stills; taken literally that bins every still but the reference into the wrong voxels).
 * Each still i keeps its own orientation U_i = A_i B_i^-1 (from its own crystal model) and is
 * mapped with A_i = U_i B_avg:  hkl = A_i^-1 q_lab = (U_i B_avg)^-1 q_lab.  Only the cell is
 * shared. For scan-varying (sequential) crystals each frame f gets U_i(f) from the crystal's
 * scan point f (`getAInverseForFrame`).
 *
 * Voxels. ndiv divisions per reciprocal lattice unit along each axis; voxel centres are at
 * hkl = n / ndiv with integer sub-Miller indices n = round(hkl * ndiv) = floor(hkl * ndiv + 1/2)
 * (exact ties, which real q never produce, round up; branch-free, 7x faster than rounding
 * half away from zero on random signs). The Laue group's operators act on n directly
 * (integer matrices), which is only consistent when ndiv is equal along axes an operator
 * mixes (e.g. h and k in tetragonal and hexagonal groups, all three in cubic): otherwise
 * IncompatibleNdivError. n is mapped to the ASU with cctbx's `map_to_asu` (`src/symmetry`),
 * and the grid stores the bounding box of the ASU n that occur (`create`: of the whole
 * resolution shell; `fromData` / `GridRangeBuilder` / `fromPixelList`: of the data): voxel index
 *   v = ((n_h - h0) * nK + (n_k - k0)) * nL + (n_l - l0)
 * i.e. C order over [nH, nK, nL], with (h0, k0, l0) = `hklOrigin`. Voxels of the box outside
 * the ASU never receive data. Voxel-centre q vectors are given in the lab frame of the
 * reference still (`referenceStillId`, default the first): q = U_ref B_avg hkl; |q| does not
 * depend on that choice.
 *
 * Stills can be registered after construction (`registerStill`): the orientation is per
 * still, the cell and the box are the grid's.
 *
 * Mapping to IDL / plan names: get_A_inverse_for_frame -> getAInverseForFrame,
 * hkl_to_voxel_idx -> hklToVoxelIndex, voxel_idx_to_hkl -> voxelIndexToHkl (the centre),
 * Crystal_avg_ref -> referenceCell / bMatrix / aReference.
 */
import type { Crystal, Mat3, Vec3 } from "../geometry/models.js";
import {
  bMatrix,
  crystalSettingForStill,
  uMatrix,
  unitCellFromA,
  type UnitCell,
} from "../geometry/crystal.js";
import { mat3Inverse, mat3Mul, mat3MulVec, norm } from "../geometry/vec3.js";
import { StoreReader } from "../store/index.js";
import { DataConsistencyError, InvalidVoxelIndexError, SymmetryError } from "./errors.js";
import { LaueSymmetry } from "./symmetry-ops.js";

/** Crystal models of the stills: a Map keyed by still id, or an array indexed by still id. */
export type StillCrystals = ReadonlyMap<number, Crystal> | readonly (Crystal | undefined)[];

export type Ndiv = number | readonly [number, number, number];

export interface GridOptions {
  /** Every still's crystal model (its orientation U_i and cell), keyed by still id. */
  stillCrystals: StillCrystals;
  /** Space group (symbol, number or Hall symbol). Default: the crystals' common `spaceGroupHall`. */
  spaceGroup?: string | number;
  /** Divisions per reciprocal lattice unit: one number for all axes or [h, k, l]. */
  ndiv: Ndiv;
  /** High-resolution limit (Angstrom): observations with d < dMinA are not binned. */
  dMinA: number;
  /** Low-resolution limit (Angstrom), default Infinity. */
  dMaxA?: number;
  /** How the reference cell is averaged over the stills (default "median"). */
  cellAveraging?: "median" | "mean";
  /** Use this cell instead of averaging (e.g. a reference cell from elsewhere). */
  referenceCell?: UnitCell;
  /** Still whose orientation defines the lab frame of voxel-centre q vectors (default: the first). */
  referenceStillId?: number;
}

/** Inclusive bounds of the sub-Miller indices n the grid holds. */
export interface SubMillerBox {
  min: readonly [number, number, number];
  max: readonly [number, number, number];
}

export interface StillOrientation {
  stillId: number;
  /** U_i, row-major. */
  u: Mat3;
  /** Per-frame U_i(f) of a scan-varying crystal. */
  uFrames?: Mat3[];
}

/** JSON form of a grid (toJSON / fromJSON; also what worker threads exchange). */
export interface GridJson {
  format: "stagelab.voxel_grid/1";
  spaceGroup: string;
  laueClass: string;
  ndiv: [number, number, number];
  dMinA: number;
  /** null for no low-resolution limit. */
  dMaxA: number | null;
  referenceCell: [number, number, number, number, number, number];
  cellAveraging: string;
  nCrystalsAveraged: number;
  referenceStillId: number | null;
  uReference: number[];
  hklOrigin: [number, number, number];
  shape: [number, number, number];
  stills: { stillId: number; u: number[]; uFrames?: number[][] }[];
}

/** Why observations were not binned (counts). */
export interface BinRejections {
  /** |q| outside [1/dMaxA, 1/dMinA]. */
  outsideResolution: number;
  /** ASU index outside the grid's box (data beyond what the grid was built from). */
  outsideGrid: number;
}

interface StillMaps {
  u: Mat3;
  /** diag(ndiv) (U_i B_avg)^-1, row-major: q -> hkl * ndiv in one product. */
  scaled: Float64Array;
  uFrames?: Mat3[];
  /** Per-frame scaled matrices, 9 per frame. */
  scaledFrames?: Float64Array;
}

const BLOCK = 16384;

function toMat3(a: ArrayLike<number>): Mat3 {
  return [a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, a[8]!];
}

function normalizeNdiv(ndiv: Ndiv): [number, number, number] {
  const n: [number, number, number] =
    typeof ndiv === "number" ? [ndiv, ndiv, ndiv] : [ndiv[0], ndiv[1], ndiv[2]];
  if (n.some((d) => !Number.isInteger(d) || d < 1 || d > 1000)) {
    throw new DataConsistencyError(`ndiv must be integers 1..1000, got ${JSON.stringify(ndiv)}`);
  }
  return n;
}

function entriesOf(stills: StillCrystals): [number, Crystal][] {
  const out: [number, Crystal][] = [];
  if (stills instanceof Map) {
    for (const [id, c] of stills as ReadonlyMap<number, Crystal>) out.push([id, c]);
  } else {
    (stills as readonly (Crystal | undefined)[]).forEach((c, i) => {
      if (c) out.push([i, c]);
    });
  }
  for (const [id] of out) {
    if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) {
      throw new DataConsistencyError(`still ids must be integers 0..2^32-1, got ${id}`);
    }
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function cellArray(c: UnitCell): [number, number, number, number, number, number] {
  return [c.aA, c.bA, c.cA, c.alphaDeg, c.betaDeg, c.gammaDeg];
}

function cellFromArray(a: readonly number[]): UnitCell {
  return { aA: a[0]!, bA: a[1]!, cA: a[2]!, alphaDeg: a[3]!, betaDeg: a[4]!, gammaDeg: a[5]! };
}

/**
 * Robust average cell: per-parameter median (default) or mean of the stills' cells (each from
 * its static setting, `aMatrixForStill`: scan point 0 of a scan-varying crystal).
 */
export function averageUnitCell(
  crystals: readonly Crystal[],
  method: "median" | "mean" = "median",
): UnitCell {
  if (crystals.length === 0)
    throw new DataConsistencyError("no crystal models to average a unit cell from");
  const cells = crystals.map((c) => cellArray(crystalSettingForStill(c).cell));
  const avg = [0, 1, 2, 3, 4, 5].map((k) => {
    const xs = cells.map((c) => c[k]!);
    return method === "median" ? median(xs) : xs.reduce((a, b) => a + b, 0) / xs.length;
  });
  return cellFromArray(avg);
}

/** The frame-independent geometry every voxel index depends on (merging needs it equal). */
interface GridGeometry {
  symmetry: LaueSymmetry;
  ndiv: [number, number, number];
  dMinA: number;
  dMaxA: number;
  referenceCell: UnitCell;
  cellAveraging: string;
  nCrystalsAveraged: number;
  referenceStillId: number | null;
  uReference: Mat3;
}

export class GlobalVoxelGrid {
  readonly symmetry: LaueSymmetry;
  readonly ndiv: readonly [number, number, number];
  readonly dMinA: number;
  readonly dMaxA: number;
  /** The averaged reference cell (Crystal_avg_ref's cell). */
  readonly referenceCell: UnitCell;
  /** B_avg (dxtbx B of the reference cell), row-major. */
  readonly bMatrix: Mat3;
  readonly cellAveraging: string;
  readonly nCrystalsAveraged: number;
  /** Still whose orientation defines the lab frame of voxel-centre q (null: crystal frame, U = 1). */
  readonly referenceStillId: number | null;
  readonly uReference: Mat3;
  /** A_ref = U_ref B_avg: voxel centre q = A_ref hkl. */
  readonly aReference: Mat3;
  /** Sub-Miller index (n_h, n_k, n_l) of voxel 0 (element [0,0,0] of the map). */
  readonly hklOrigin: readonly [number, number, number];
  /** [nH, nK, nL]. */
  readonly shape: readonly [number, number, number];
  readonly nVoxels: number;
  private readonly stills = new Map<number, StillMaps>();
  private readonly bInverse: Mat3;
  private readonly q2Max: number;
  private readonly q2Min: number;
  // Scratch for the hot path.
  private readonly nBuf = new Int32Array(3 * BLOCK);
  private readonly asuBuf = new Int32Array(3 * BLOCK);

  private constructor(geom: GridGeometry, box: SubMillerBox) {
    this.symmetry = geom.symmetry;
    this.ndiv = geom.ndiv;
    this.dMinA = geom.dMinA;
    this.dMaxA = geom.dMaxA;
    this.referenceCell = geom.referenceCell;
    this.bMatrix = bMatrix(geom.referenceCell);
    this.bInverse = mat3Inverse(this.bMatrix);
    this.cellAveraging = geom.cellAveraging;
    this.nCrystalsAveraged = geom.nCrystalsAveraged;
    this.referenceStillId = geom.referenceStillId;
    this.uReference = geom.uReference;
    this.aReference = mat3Mul(geom.uReference, this.bMatrix);
    this.hklOrigin = [box.min[0], box.min[1], box.min[2]];
    const shape: [number, number, number] = [0, 1, 2].map((a) => box.max[a]! - box.min[a]! + 1) as [
      number,
      number,
      number,
    ];
    if (shape.some((s) => !(s >= 1))) {
      throw new DataConsistencyError(`empty sub-Miller box ${JSON.stringify(box)}`);
    }
    this.shape = shape;
    this.nVoxels = shape[0] * shape[1] * shape[2];
    if (this.nVoxels > 2 ** 31 - 1) {
      throw new DataConsistencyError(
        `the grid would have ${this.nVoxels} voxels (${shape.join(" x ")}): reduce ndiv or the resolution range`,
      );
    }
    this.q2Max = 1 / (geom.dMinA * geom.dMinA);
    this.q2Min = Number.isFinite(geom.dMaxA) ? 1 / (geom.dMaxA * geom.dMaxA) : 0;
  }

  // ---- construction ---------------------------------------------------------------------

  private static geometry(opts: GridOptions): {
    geom: GridGeometry;
    crystals: [number, Crystal][];
  } {
    const ndiv = normalizeNdiv(opts.ndiv);
    const dMaxA = opts.dMaxA ?? Infinity;
    if (!(opts.dMinA > 0) || !(dMaxA > opts.dMinA)) {
      throw new DataConsistencyError(
        `resolution limits need 0 < dMinA < dMaxA, got dMinA=${opts.dMinA}, dMaxA=${dMaxA}`,
      );
    }
    const crystals = entriesOf(opts.stillCrystals);
    let sg = opts.spaceGroup;
    if (sg === undefined) {
      const halls = new Set(crystals.map(([, c]) => c.spaceGroupHall.trim()));
      if (halls.size !== 1) {
        throw new SymmetryError(
          halls.size === 0
            ? "no space group: pass spaceGroup (no crystal models given)"
            : `the stills' crystals disagree on the space group (${[...halls].join(" | ")}): pass spaceGroup`,
        );
      }
      sg = crystals[0]![1].spaceGroupHall;
    }
    const symmetry = LaueSymmetry.of(sg);
    symmetry.checkNdiv(ndiv);
    const referenceCell =
      opts.referenceCell ??
      averageUnitCell(
        crystals.map(([, c]) => c),
        opts.cellAveraging ?? "median",
      );
    let referenceStillId: number | null = null;
    let uReference: Mat3 = [1, 0, 0, 0, 1, 0, 0, 0, 1];
    const refEntry =
      opts.referenceStillId === undefined
        ? crystals[0]
        : crystals.find(([id]) => id === opts.referenceStillId);
    if (opts.referenceStillId !== undefined && !refEntry) {
      throw new DataConsistencyError(
        `reference still ${opts.referenceStillId} has no crystal model`,
      );
    }
    if (refEntry) {
      referenceStillId = refEntry[0];
      uReference = crystalSettingForStill(refEntry[1]).u;
    }
    return {
      geom: {
        symmetry,
        ndiv,
        dMinA: opts.dMinA,
        dMaxA,
        referenceCell,
        cellAveraging: opts.referenceCell ? "given" : (opts.cellAveraging ?? "median"),
        nCrystalsAveraged: opts.referenceCell ? 0 : crystals.length,
        referenceStillId,
        uReference,
      },
      crystals,
    };
  }

  /**
   * A grid whose box covers the ASU part of the whole resolution shell dMaxA..dMinA (no data
   * pass; every observation within the limits lands in it). Or give `hklBox` explicitly.
   */
  static create(opts: GridOptions & { hklBox?: SubMillerBox }): GlobalVoxelGrid {
    const { geom, crystals } = GlobalVoxelGrid.geometry(opts);
    const box = opts.hklBox ?? resolutionShellAsuBox(geom);
    const grid = new GlobalVoxelGrid(geom, box);
    for (const [id, c] of crystals) grid.registerStill(id, c);
    return grid;
  }

  /**
   * A grid whose box is the ASU range of the data (plan 3.S.1 step 2): every q of every batch,
   * within the resolution limits, is transformed with its still's A_i^-1, rounded and mapped to
   * the ASU; the box is the range of those indices.
   */
  static fromData(
    opts: GridOptions,
    batches: Iterable<{
      stillId: number;
      qLab: Float64Array | Float32Array;
      frameIndices?: ArrayLike<number>;
    }>,
  ): GlobalVoxelGrid {
    const b = new GridRangeBuilder(opts);
    for (const x of batches) b.add(x.stillId, x.qLab, x.frameIndices);
    return b.build();
  }

  /**
   * fromData over an on-disk corrected pixel list (`/diffuse/pixels`, src/diffuse/pixel-list.ts),
   * streamed in slabs of `slabRows`. Still ids are the file's `still` column.
   */
  static async fromPixelList(
    file: string,
    opts: GridOptions & { slabRows?: number; signal?: AbortSignal },
  ): Promise<GlobalVoxelGrid> {
    const b = new GridRangeBuilder(opts);
    await forEachPixelSlab(file, opts.slabRows ?? 262144, opts.signal, (still, q) => {
      b.add(still, q);
    });
    return b.build();
  }

  /**
   * @internal A grid whose box is the whole resolution ball (no ASU enumeration): every index
   * within the limits fits. GridRangeBuilder bins with it, then shrinks the box to the data.
   */
  static withResolutionBallBox(opts: GridOptions): GlobalVoxelGrid {
    const { geom, crystals } = GlobalVoxelGrid.geometry(opts);
    const hmax = ballHalfWidths(geom.referenceCell, geom.ndiv, geom.dMinA);
    const grid = new GlobalVoxelGrid(geom, { min: [-hmax[0], -hmax[1], -hmax[2]], max: hmax });
    for (const [id, c] of crystals) grid.registerStill(id, c);
    return grid;
  }

  /** @internal the grid with a different box, same geometry and stills (GridRangeBuilder). */
  withBox(box: SubMillerBox): GlobalVoxelGrid {
    const g = new GlobalVoxelGrid(this.geometryRecord(), box);
    for (const [id, s] of this.stills) g.stills.set(id, s);
    return g;
  }

  private geometryRecord(): GridGeometry {
    return {
      symmetry: this.symmetry,
      ndiv: [...this.ndiv],
      dMinA: this.dMinA,
      dMaxA: this.dMaxA,
      referenceCell: this.referenceCell,
      cellAveraging: this.cellAveraging,
      nCrystalsAveraged: this.nCrystalsAveraged,
      referenceStillId: this.referenceStillId,
      uReference: this.uReference,
    };
  }

  // ---- stills ---------------------------------------------------------------------------

  /**
   * Register (or confirm) a still's orientation from its crystal model: U_i = A_i B_i^-1, and
   * per frame for a scan-varying crystal. Re-registering the same orientation is a no-op;
   * a different one is a DataConsistencyError (data may already be binned with the old one).
   * Returns true when the still was new.
   */
  registerStill(stillId: number, crystal: Crystal): boolean {
    const u = crystalSettingForStill(crystal).u;
    const frames = crystal.aAtScanPoints;
    const uFrames =
      frames && frames.length > 1
        ? frames.map((a) => uMatrix(a, bMatrix(unitCellFromA(a))))
        : undefined;
    return this.registerOrientation({ stillId, u, ...(uFrames ? { uFrames } : {}) });
  }

  /** registerStill with U_i (and per-frame U) already known. */
  registerOrientation(o: StillOrientation): boolean {
    if (!Number.isInteger(o.stillId) || o.stillId < 0 || o.stillId > 0xffffffff) {
      throw new DataConsistencyError(`still ids must be integers 0..2^32-1, got ${o.stillId}`);
    }
    const old = this.stills.get(o.stillId);
    if (old) {
      const same =
        old.u.every((x, i) => Math.abs(x - o.u[i]!) < 1e-9) &&
        (old.uFrames?.length ?? 0) === (o.uFrames?.length ?? 0);
      if (!same) {
        throw new DataConsistencyError(
          `still ${o.stillId} is already registered with a different orientation`,
        );
      }
      return false;
    }
    const scaled = this.scaledInverse(o.u);
    const s: StillMaps = { u: o.u, scaled };
    if (o.uFrames && o.uFrames.length > 0) {
      s.uFrames = o.uFrames;
      s.scaledFrames = new Float64Array(9 * o.uFrames.length);
      o.uFrames.forEach((uf, f) => s.scaledFrames!.set(this.scaledInverse(uf), 9 * f));
    }
    this.stills.set(o.stillId, s);
    return true;
  }

  private scaledInverse(u: Mat3): Float64Array {
    const inv = mat3Inverse(mat3Mul(u, this.bMatrix));
    const out = new Float64Array(9);
    for (let r = 0; r < 3; r++)
      for (let c = 0; c < 3; c++) out[3 * r + c] = inv[3 * r + c]! * this.ndiv[r]!;
    return out;
  }

  hasStill(stillId: number): boolean {
    return this.stills.has(stillId);
  }

  get stillIds(): number[] {
    return [...this.stills.keys()];
  }

  get nStills(): number {
    return this.stills.size;
  }

  stillOrientation(stillId: number): StillOrientation {
    const s = this.requireStill(stillId);
    return { stillId, u: s.u, ...(s.uFrames ? { uFrames: s.uFrames } : {}) };
  }

  private requireStill(stillId: number): StillMaps {
    const s = this.stills.get(stillId);
    if (!s)
      throw new DataConsistencyError(
        `still ${stillId} has no crystal model in the voxel grid (registerStill first)`,
      );
    return s;
  }

  /** A_i = U_i B_avg of a still (static setting). */
  getAForStill(stillId: number): Mat3 {
    return mat3Mul(this.requireStill(stillId).u, this.bMatrix);
  }

  /** A_i^-1 = (U_i B_avg)^-1: hkl = A_i^-1 q_lab. */
  getAInverseForStill(stillId: number): Mat3 {
    return mat3Inverse(this.getAForStill(stillId));
  }

  /**
   * IDL get_A_inverse_for_frame: (U(f) B_avg)^-1 for 0-based scan frame f of a scan-varying
   * crystal (U(f) from the crystal's scan point f). `stillId` picks the crystal; it may be
   * omitted when exactly one registered crystal is scan-varying. A still crystal without scan
   * points gives its static A^-1 for every frame.
   */
  getAInverseForFrame(frameIndex: number, stillId?: number): Mat3 {
    let id = stillId;
    if (id === undefined) {
      const seq = [...this.stills].filter(([, s]) => s.uFrames);
      if (seq.length !== 1) {
        throw new DataConsistencyError(
          `getAInverseForFrame needs a still id: ${seq.length} scan-varying crystals are registered`,
        );
      }
      id = seq[0]![0];
    }
    const s = this.requireStill(id);
    if (!s.uFrames) return this.getAInverseForStill(id);
    const u = s.uFrames[frameIndex];
    if (!Number.isInteger(frameIndex) || !u) {
      throw new DataConsistencyError(
        `frame ${frameIndex} is outside still ${id}'s ${s.uFrames.length} scan points`,
      );
    }
    return mat3Inverse(mat3Mul(u, this.bMatrix));
  }

  // ---- hkl <-> voxel --------------------------------------------------------------------

  /** n = round(hkl * ndiv) = floor(hkl * ndiv + 1/2). */
  subMillerFromHkl(hkl: Vec3): [number, number, number] {
    return [
      roundToVoxel(hkl[0] * this.ndiv[0]),
      roundToVoxel(hkl[1] * this.ndiv[1]),
      roundToVoxel(hkl[2] * this.ndiv[2]),
    ];
  }

  /** ASU image of integer sub-Miller indices. */
  mapSubMillerToAsu(n: readonly [number, number, number]): [number, number, number] {
    const out = this.symmetry.map(new Int32Array(n), new Int32Array(3));
    return [out[0]!, out[1]!, out[2]!];
  }

  /** Voxel index of integer sub-Miller indices as given (no ASU mapping); -1 outside the box. */
  voxelIndexFromSubMiller(n: readonly [number, number, number]): number {
    const a = n[0] - this.hklOrigin[0];
    const b = n[1] - this.hklOrigin[1];
    const c = n[2] - this.hklOrigin[2];
    if (a < 0 || b < 0 || c < 0 || a >= this.shape[0] || b >= this.shape[1] || c >= this.shape[2])
      return -1;
    return (a * this.shape[1] + b) * this.shape[2] + c;
  }

  /**
   * IDL hkl_to_voxel_idx: voxel of fractional Miller indices: rounded to the nearest voxel
   * centre, mapped to the ASU (unless `asu: false`, for indices already in the ASU).
   * -1 when the voxel is outside the grid.
   */
  hklToVoxelIndex(hkl: Vec3, opts: { asu?: boolean } = {}): number {
    const n = this.subMillerFromHkl(hkl);
    return this.voxelIndexFromSubMiller(opts.asu === false ? n : this.mapSubMillerToAsu(n));
  }

  private checkIndex(voxelIndex: number): void {
    if (!Number.isInteger(voxelIndex) || voxelIndex < 0 || voxelIndex >= this.nVoxels) {
      throw new InvalidVoxelIndexError(voxelIndex, this.nVoxels);
    }
  }

  /** Integer sub-Miller indices of a voxel (throws InvalidVoxelIndexError). */
  voxelIndexToSubMiller(voxelIndex: number): [number, number, number] {
    this.checkIndex(voxelIndex);
    const c = voxelIndex % this.shape[2];
    const t = (voxelIndex - c) / this.shape[2];
    const b = t % this.shape[1];
    const a = (t - b) / this.shape[1];
    return [a + this.hklOrigin[0], b + this.hklOrigin[1], c + this.hklOrigin[2]];
  }

  /** IDL voxel_idx_to_hkl: the voxel centre in fractional Miller indices, n / ndiv. */
  voxelIndexToHkl(voxelIndex: number): Vec3 {
    const n = this.voxelIndexToSubMiller(voxelIndex);
    return [n[0] / this.ndiv[0], n[1] / this.ndiv[1], n[2] / this.ndiv[2]];
  }

  /** Voxel centre q (per Angstrom) in the lab frame of the reference crystal: U_ref B_avg hkl. */
  voxelCentreQ(voxelIndex: number): Vec3 {
    return mat3MulVec(this.aReference, this.voxelIndexToHkl(voxelIndex));
  }

  /** |q| of a voxel centre (per Angstrom, orientation independent). */
  voxelCentreQLength(voxelIndex: number): number {
    return norm(mat3MulVec(this.bMatrix, this.voxelIndexToHkl(voxelIndex)));
  }

  /** Voxel centres of many voxels: hkl (3 per voxel), q (3 per voxel, reference lab frame), |q|. */
  voxelCentres(voxelIndices: ArrayLike<number>): {
    hkl: Float64Array;
    q: Float64Array;
    qLength: Float64Array;
  } {
    const n = voxelIndices.length;
    const hkl = new Float64Array(3 * n);
    const q = new Float64Array(3 * n);
    const qLength = new Float64Array(n);
    const a = this.aReference;
    for (let i = 0; i < n; i++) {
      const [h, k, l] = this.voxelIndexToHkl(voxelIndices[i]!);
      hkl[3 * i] = h;
      hkl[3 * i + 1] = k;
      hkl[3 * i + 2] = l;
      const x = a[0] * h + a[1] * k + a[2] * l;
      const y = a[3] * h + a[4] * k + a[5] * l;
      const z = a[6] * h + a[7] * k + a[8] * l;
      q[3 * i] = x;
      q[3 * i + 1] = y;
      q[3 * i + 2] = z;
      qLength[i] = Math.sqrt(x * x + y * y + z * z);
    }
    return { hkl, q, qLength };
  }

  /** hkl of q in the crystal frame of the reference: B_avg^-1 applied to U_ref^T q. */
  hklFromReferenceQ(q: Vec3): Vec3 {
    return mat3MulVec(mat3Inverse(this.aReference), q);
  }

  /** @internal B_avg^-1. */
  get bInverseMatrix(): Mat3 {
    return this.bInverse;
  }

  // ---- the binning kernel ---------------------------------------------------------------

  /**
   * Voxel index of every observation of one still: hkl = A_i^-1 q (per frame when
   * `frameIndices` is given and the still's crystal is scan-varying), n = round(hkl ndiv),
   * ASU map, box lookup. `out[i]` = voxel index, or -1 (outside the resolution limits: also
   * counted in `rejections.outsideResolution`; outside the box: `rejections.outsideGrid`).
   * `q2` (optional) receives |q|^2 of every observation.
   */
  computeVoxelIndices(
    stillId: number,
    qLab: Float64Array | Float32Array,
    frameIndices: ArrayLike<number> | undefined,
    out: Int32Array,
    rejections: BinRejections = { outsideResolution: 0, outsideGrid: 0 },
    q2?: Float64Array,
    onBlock?: (n: Int32Array, start: number, count: number) => void,
  ): BinRejections {
    const s = this.requireStill(stillId);
    const nObs = qLab.length / 3;
    if (!Number.isInteger(nObs)) {
      throw new DataConsistencyError(
        `q_lab must hold 3 numbers per observation, got ${qLab.length}`,
      );
    }
    if (out.length < nObs)
      throw new DataConsistencyError(`voxel output holds ${out.length}, need ${nObs}`);
    if (frameIndices && frameIndices.length !== nObs) {
      throw new DataConsistencyError(
        `frame_indices has ${frameIndices.length} entries for ${nObs} observations`,
      );
    }
    const frames = frameIndices && s.scaledFrames ? frameIndices : undefined;
    const nFrames = s.uFrames?.length ?? 0;
    const m = s.scaled;
    const nb = this.nBuf;
    const asu = this.asuBuf;
    const q2Max = this.q2Max;
    const q2Min = this.q2Min;
    const [h0, k0, l0] = this.hklOrigin;
    const [nH, nK, nL] = this.shape;
    for (let start = 0; start < nObs; start += BLOCK) {
      const count = Math.min(BLOCK, nObs - start);
      const bad = frames
        ? roundFramed(
            qLab,
            start,
            count,
            s.scaledFrames!,
            frames,
            nFrames,
            q2Min,
            q2Max,
            nb,
            out,
            q2,
          )
        : roundStatic(qLab, start, count, m, q2Min, q2Max, nb, out, q2);
      if (bad >= 0) {
        const f = frames?.[bad];
        throw new DataConsistencyError(
          frames && !(f! >= 0 && f! < nFrames && f === Math.floor(f!))
            ? `frame index ${f} of observation ${bad} is outside still ${stillId}'s ${nFrames} scan points`
            : `q_lab of observation ${bad} (still ${stillId}) is not finite`,
        );
      }
      const nView = nb.subarray(0, 3 * count);
      const aView = asu.subarray(0, 3 * count);
      this.symmetry.map(nView, aView);
      if (onBlock) onBlock(aView, start, count);
      for (let j = 0; j < count; j++) {
        const i = start + j;
        if (out[i] === -2) {
          out[i] = -1;
          rejections.outsideResolution++;
          continue;
        }
        const a = aView[3 * j]! - h0;
        const b = aView[3 * j + 1]! - k0;
        const c = aView[3 * j + 2]! - l0;
        if (a < 0 || b < 0 || c < 0 || a >= nH || b >= nK || c >= nL) {
          out[i] = -1;
          rejections.outsideGrid++;
        } else {
          out[i] = (a * nK + b) * nL + c;
        }
      }
    }
    return rejections;
  }

  // ---- serialisation --------------------------------------------------------------------

  toJSON(): GridJson {
    return {
      format: "stagelab.voxel_grid/1",
      spaceGroup: this.symmetry.spaceGroup,
      laueClass: this.symmetry.laueClass,
      ndiv: [...this.ndiv],
      dMinA: this.dMinA,
      dMaxA: Number.isFinite(this.dMaxA) ? this.dMaxA : null,
      referenceCell: cellArray(this.referenceCell),
      cellAveraging: this.cellAveraging,
      nCrystalsAveraged: this.nCrystalsAveraged,
      referenceStillId: this.referenceStillId,
      uReference: [...this.uReference],
      hklOrigin: [...this.hklOrigin],
      shape: [...this.shape],
      stills: [...this.stills].map(([stillId, s]) => ({
        stillId,
        u: [...s.u],
        ...(s.uFrames ? { uFrames: s.uFrames.map((m) => [...m]) } : {}),
      })),
    };
  }

  static fromJSON(j: GridJson): GlobalVoxelGrid {
    if (j.format !== "stagelab.voxel_grid/1") {
      throw new DataConsistencyError(
        `not a voxel grid description (format ${JSON.stringify(j.format)})`,
      );
    }
    const symmetry = LaueSymmetry.of(j.spaceGroup);
    const ndiv = normalizeNdiv(j.ndiv);
    symmetry.checkNdiv(ndiv);
    const g = new GlobalVoxelGrid(
      {
        symmetry,
        ndiv,
        dMinA: j.dMinA,
        dMaxA: j.dMaxA ?? Infinity,
        referenceCell: cellFromArray(j.referenceCell),
        cellAveraging: j.cellAveraging,
        nCrystalsAveraged: j.nCrystalsAveraged,
        referenceStillId: j.referenceStillId,
        uReference: toMat3(j.uReference),
      },
      {
        min: j.hklOrigin,
        max: [
          j.hklOrigin[0] + j.shape[0] - 1,
          j.hklOrigin[1] + j.shape[1] - 1,
          j.hklOrigin[2] + j.shape[2] - 1,
        ],
      },
    );
    for (const s of j.stills) {
      g.registerOrientation({
        stillId: s.stillId,
        u: toMat3(s.u),
        ...(s.uFrames ? { uFrames: s.uFrames.map(toMat3) } : {}),
      });
    }
    return g;
  }

  /**
   * A string that is equal for two grids exactly when their voxel indices mean the same
   * (space group, ndiv, resolution limits, cell, box): partial accumulators merge only then.
   * Still orientations are not part of it.
   */
  get geometryKey(): string {
    return GlobalVoxelGrid.geometryKeyOf(this.toJSON());
  }

  /** geometryKey of a grid's JSON form (without building the grid). */
  static geometryKeyOf(j: GridJson): string {
    return JSON.stringify([
      j.spaceGroup,
      j.ndiv,
      j.dMinA,
      j.dMaxA,
      j.referenceCell,
      j.hklOrigin,
      j.shape,
    ]);
  }

  /** Attributes describing the grid (without per-still orientations), for HDF5 groups. */
  toAttrs(): Record<string, string | number | boolean | Int32Array | Float64Array> {
    return {
      format: "stagelab.voxel_grid/1",
      space_group: this.symmetry.spaceGroup,
      laue_class: this.symmetry.laueClass,
      ndiv: new Int32Array(this.ndiv),
      d_min: this.dMinA,
      d_max: Number.isFinite(this.dMaxA) ? this.dMaxA : -1,
      unit_cell: new Float64Array(cellArray(this.referenceCell)),
      b_matrix: new Float64Array(this.bMatrix),
      cell_averaging: this.cellAveraging,
      n_crystals_averaged: this.nCrystalsAveraged,
      reference_still_id: this.referenceStillId ?? -1,
      u_reference: new Float64Array(this.uReference),
      hkl_origin: new Int32Array(this.hklOrigin),
      shape: new Int32Array(this.shape),
    };
  }

  /** Inverse of toAttrs plus the stills' orientations (as stored in datasets next to them). */
  static fromAttrs(
    attrs: Record<string, unknown>,
    stills: StillOrientation[] = [],
  ): GlobalVoxelGrid {
    const num = (k: string): number => {
      const v = attrs[k];
      if (typeof v === "number") return v;
      if (typeof v === "bigint") return Number(v);
      throw new DataConsistencyError(`grid attribute ${k} is missing or not a number`);
    };
    const arr = (k: string, n: number): number[] => {
      const v = attrs[k] as ArrayLike<number | bigint> | undefined;
      if (!v || typeof v !== "object" || v.length !== n) {
        throw new DataConsistencyError(
          `grid attribute ${k} is missing or does not hold ${n} numbers`,
        );
      }
      return Array.from(v, Number);
    };
    const dMax = num("d_max");
    const ref = num("reference_still_id");
    return GlobalVoxelGrid.fromJSON({
      format: "stagelab.voxel_grid/1",
      spaceGroup: String(attrs.space_group),
      laueClass: String(attrs.laue_class),
      ndiv: arr("ndiv", 3) as [number, number, number],
      dMinA: num("d_min"),
      dMaxA: dMax < 0 ? null : dMax,
      referenceCell: arr("unit_cell", 6) as GridJson["referenceCell"],
      cellAveraging: String(attrs.cell_averaging),
      nCrystalsAveraged: num("n_crystals_averaged"),
      referenceStillId: ref < 0 ? null : ref,
      uReference: arr("u_reference", 9),
      hklOrigin: arr("hkl_origin", 3) as [number, number, number],
      shape: arr("shape", 3) as [number, number, number],
      stills: stills.map((s) => ({
        stillId: s.stillId,
        u: [...s.u],
        ...(s.uFrames ? { uFrames: s.uFrames.map((m) => [...m]) } : {}),
      })),
    });
  }
}

/**
 * n = floor(diag(ndiv) A^-1 q + 1/2) for observations [start, start + count),
 * into nb (3 per row, block-relative); out[i] = -2 outside the resolution shell (nb row 0),
 * else 0. Returns the first observation with a non-finite q, or -1.
 */
function roundStatic(
  qLab: Float64Array | Float32Array,
  start: number,
  count: number,
  m: Float64Array,
  q2Min: number,
  q2Max: number,
  nb: Int32Array,
  out: Int32Array,
  q2: Float64Array | undefined,
): number {
  const m0 = m[0]!,
    m1 = m[1]!,
    m2 = m[2]!,
    m3 = m[3]!,
    m4 = m[4]!,
    m5 = m[5]!,
    m6 = m[6]!,
    m7 = m[7]!,
    m8 = m[8]!;
  for (let j = 0; j < count; j++) {
    const i = start + j;
    const qx = qLab[3 * i]!;
    const qy = qLab[3 * i + 1]!;
    const qz = qLab[3 * i + 2]!;
    const qq = qx * qx + qy * qy + qz * qz;
    if (q2) q2[i] = qq;
    if (!(qq <= q2Max && qq >= q2Min)) {
      if (!(qq <= Number.MAX_VALUE)) return i;
      nb[3 * j] = 0;
      nb[3 * j + 1] = 0;
      nb[3 * j + 2] = 0;
      out[i] = -2;
      continue;
    }
    const x = m0 * qx + m1 * qy + m2 * qz;
    const y = m3 * qx + m4 * qy + m5 * qz;
    const z = m6 * qx + m7 * qy + m8 * qz;
    // Branch-free rounding (a sign test per component mispredicts half the time: 7x slower).
    nb[3 * j] = Math.floor(x + 0.5);
    nb[3 * j + 1] = Math.floor(y + 0.5);
    nb[3 * j + 2] = Math.floor(z + 0.5);
    out[i] = 0;
  }
  return -1;
}

/** roundStatic with a matrix per scan frame (9 per frame in `mats`). */
function roundFramed(
  qLab: Float64Array | Float32Array,
  start: number,
  count: number,
  mats: Float64Array,
  frames: ArrayLike<number>,
  nFrames: number,
  q2Min: number,
  q2Max: number,
  nb: Int32Array,
  out: Int32Array,
  q2: Float64Array | undefined,
): number {
  for (let j = 0; j < count; j++) {
    const i = start + j;
    const qx = qLab[3 * i]!;
    const qy = qLab[3 * i + 1]!;
    const qz = qLab[3 * i + 2]!;
    const qq = qx * qx + qy * qy + qz * qz;
    if (q2) q2[i] = qq;
    if (!(qq <= q2Max && qq >= q2Min)) {
      if (!(qq <= Number.MAX_VALUE)) return i;
      nb[3 * j] = 0;
      nb[3 * j + 1] = 0;
      nb[3 * j + 2] = 0;
      out[i] = -2;
      continue;
    }
    const f = frames[i]!;
    if (!(f >= 0 && f < nFrames) || f !== Math.floor(f)) return i;
    const o = 9 * f;
    const x = mats[o]! * qx + mats[o + 1]! * qy + mats[o + 2]! * qz;
    const y = mats[o + 3]! * qx + mats[o + 4]! * qy + mats[o + 5]! * qz;
    const z = mats[o + 6]! * qx + mats[o + 7]! * qy + mats[o + 8]! * qz;
    nb[3 * j] = Math.floor(x + 0.5);
    nb[3 * j + 1] = Math.floor(y + 0.5);
    nb[3 * j + 2] = Math.floor(z + 0.5);
    out[i] = 0;
  }
  return -1;
}

/** The grid's rounding to the nearest voxel centre: floor(x + 1/2) (ties round up). */
export function roundToVoxel(x: number): number {
  return Math.floor(x + 0.5);
}

/**
 * The range of ASU sub-Miller indices over the data (plan 3.S.1 step 2), streamed:
 * add every still's q vectors, then build() the grid.
 */
export class GridRangeBuilder {
  private readonly probe: GlobalVoxelGrid;
  private readonly min: [number, number, number] = [Infinity, Infinity, Infinity];
  private readonly max: [number, number, number] = [-Infinity, -Infinity, -Infinity];
  private idx = new Int32Array(0);
  /** Observations seen and observations within the resolution limits. */
  nSeen = 0;
  nWithinResolution = 0;

  constructor(opts: GridOptions) {
    this.probe = GlobalVoxelGrid.withResolutionBallBox(opts);
  }

  /** The grid's stills can be extended before adding their data. */
  registerStill(stillId: number, crystal: Crystal): boolean {
    return this.probe.registerStill(stillId, crystal);
  }

  add(stillId: number, qLab: Float64Array | Float32Array, frameIndices?: ArrayLike<number>): void {
    const n = qLab.length / 3;
    if (this.idx.length < Math.min(n, BLOCK))
      this.idx = new Int32Array(Math.min(Math.max(n, 1024), BLOCK));
    const { min, max } = this;
    for (let s = 0; s < n; s += BLOCK) {
      const c = Math.min(BLOCK, n - s);
      const q = qLab.subarray(3 * s, 3 * (s + c));
      const f = frameIndices ? Array.prototype.slice.call(frameIndices, s, s + c) : undefined;
      const idx = this.idx;
      this.probe.computeVoxelIndices(
        stillId,
        q,
        f,
        idx,
        undefined,
        undefined,
        (asu, _start, count) => {
          for (let j = 0; j < count; j++) {
            if (idx[j] === -2) continue;
            for (let a = 0; a < 3; a++) {
              const v = asu[3 * j + a]!;
              if (v < min[a]!) min[a] = v;
              if (v > max[a]!) max[a] = v;
            }
            this.nWithinResolution++;
          }
        },
      );
      this.nSeen += c;
    }
  }

  build(): GlobalVoxelGrid {
    if (this.nWithinResolution === 0) {
      throw new DataConsistencyError(
        `none of the ${this.nSeen} observations is within the resolution limits: no grid range`,
      );
    }
    return this.probe.withBox({ min: this.min, max: this.max });
  }
}

function ballHalfWidths(
  cell: UnitCell,
  ndiv: readonly number[],
  dMinA: number,
): [number, number, number] {
  // |h| <= |a| |q| for h = a . q: the ball |q| <= 1/dMin spans |h| <= |a| / dMin (+ margin
  // for rounding to voxel centres and for a reference cell that breaks the symmetry slightly).
  const edges = [cell.aA, cell.bA, cell.cA];
  return [0, 1, 2].map((i) => Math.ceil((edges[i]! * ndiv[i]! * 1.01) / dMinA) + 2) as [
    number,
    number,
    number,
  ];
}

/** Bounding box of the ASU images of every voxel centre within the resolution shell. */
function resolutionShellAsuBox(geom: GridGeometry): SubMillerBox {
  const [H, K, L] = ballHalfWidths(geom.referenceCell, geom.ndiv, geom.dMinA);
  const b = bMatrix(geom.referenceCell);
  const [nh, nk, nl] = geom.ndiv;
  // An observation inside the shell can round to a voxel whose centre is just outside it:
  // widen the shell by half a voxel diagonal (bounded by the triangle inequality).
  let halfDiag = 0;
  for (let c = 0; c < 3; c++) {
    halfDiag += (0.5 * Math.hypot(b[c]!, b[3 + c]!, b[6 + c]!)) / geom.ndiv[c]!;
  }
  const qOuter = 1 / geom.dMinA + halfDiag;
  const qInner = Number.isFinite(geom.dMaxA) ? Math.max(0, 1 / geom.dMaxA - halfDiag) : 0;
  const q2Max = qOuter * qOuter;
  const q2Min = qInner * qInner;
  const buf = new Int32Array(3 * BLOCK);
  const out = new Int32Array(3 * BLOCK);
  const min = [Infinity, Infinity, Infinity];
  const max = [-Infinity, -Infinity, -Infinity];
  let fill = 0;
  const flush = () => {
    if (fill === 0) return;
    geom.symmetry.map(buf.subarray(0, 3 * fill), out.subarray(0, 3 * fill));
    for (let j = 0; j < fill; j++) {
      for (let a = 0; a < 3; a++) {
        const v = out[3 * j + a]!;
        if (v < min[a]!) min[a] = v;
        if (v > max[a]!) max[a] = v;
      }
    }
    fill = 0;
  };
  for (let i = -H; i <= H; i++) {
    const h = i / nh;
    for (let j = -K; j <= K; j++) {
      const k = j / nk;
      const x0 = b[0] * h + b[1] * k;
      const y0 = b[3] * h + b[4] * k;
      const z0 = b[6] * h + b[7] * k;
      for (let m = -L; m <= L; m++) {
        const l = m / nl;
        const x = x0 + b[2] * l;
        const y = y0 + b[5] * l;
        const z = z0 + b[8] * l;
        const qq = x * x + y * y + z * z;
        if (qq > q2Max || qq < q2Min) continue;
        buf[3 * fill] = i;
        buf[3 * fill + 1] = j;
        buf[3 * fill + 2] = m;
        if (++fill === BLOCK) flush();
      }
    }
  }
  flush();
  if (!Number.isFinite(min[0]!)) {
    throw new DataConsistencyError(`no voxel centre lies within d ${geom.dMaxA}..${geom.dMinA} A`);
  }
  return { min: min as [number, number, number], max: max as [number, number, number] };
}

/**
 * Stream `/diffuse/pixels` of a pixel-list file in slabs; calls `fn(still, qLab, intensity,
 * sigma, firstRow)` for every run of rows of one still (rows are stored still by still).
 */
export async function forEachPixelSlab(
  file: string,
  slabRows: number,
  signal: AbortSignal | undefined,
  fn: (
    still: number,
    qLab: Float64Array,
    intensity: Float64Array,
    sigma: Float64Array,
    firstRow: number,
    totalRows: number,
  ) => void,
  withValues = false,
): Promise<number> {
  const r = await StoreReader.open(file);
  try {
    const total = r.committedShape("/diffuse/pixels/still")[0] ?? 0;
    const q = new Float64Array(3 * slabRows);
    const still = new Uint32Array(slabRows);
    const inten = new Float64Array(withValues ? slabRows : 0);
    const sig = new Float64Array(withValues ? slabRows : 0);
    for (let r0 = 0; r0 < total; r0 += slabRows) {
      if (signal?.aborted) throw signal.reason ?? new Error("aborted");
      const r1 = Math.min(total, r0 + slabRows);
      const n = r1 - r0;
      r.readInto("/diffuse/pixels/q_lab", [[r0, r1], null], q);
      r.readInto("/diffuse/pixels/still", [[r0, r1]], still);
      if (withValues) {
        r.readInto("/diffuse/pixels/intensity", [[r0, r1]], inten);
        r.readInto("/diffuse/pixels/sigma", [[r0, r1]], sig);
      }
      let a = 0;
      while (a < n) {
        const s = still[a]!;
        let b = a + 1;
        while (b < n && still[b] === s) b++;
        fn(
          s,
          q.subarray(3 * a, 3 * b),
          inten.subarray(withValues ? a : 0, withValues ? b : 0),
          sig.subarray(withValues ? a : 0, withValues ? b : 0),
          r0 + a,
          total,
        );
        a = b;
      }
      // Let an abort (or progress display) through between slabs.
      await new Promise((res) => setImmediate(res));
    }
    return total;
  } finally {
    r.close();
  }
}
