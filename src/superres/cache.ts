/**
 * The super-resolution cache file: the large intermediate arrays of the 5-step workflow
 * (bigFT after step 2, correlations after step 3) kept beside the main file, found again,
 * resumed block by block after a crash, slimmed (bigFT deleted) and cleaned up.
 *
 * Name: `{base}_superres_cache_{YYYYMMDD_HHMMSS}.h5` next to the main file (local time, as
 * the seed's Python tool names it). Layout (the seed's, plus two completion datasets):
 *
 *   /bigFT/data             complex128 [sy, sx, crop_dy, crop_dx]  (h5py reads complex128)
 *   /bigFT/done             uint64 [nby, nbx]   completion stamp per detector block
 *   /bigFT/metadata         attrs crop_bounds [y1, y2, x1, x2], bf_center [cy, cx],
 *                           bf_radius, computation_date, reference_smoothing
 *   /correlations/data      float64 [sy, sx, crop_dy, crop_dx]
 *   /correlations/done      uint64 [nby, nbx]
 *   /correlations/metadata  attrs reference_pixel [w_y, w_x], normalization_applied
 *   /metadata               attrs linked_emd_path, step_completed (1-5),
 *                           original_data_shape, cropped_data_shape, version "1.0";
 *                           and ours: datacube_dataset, datacube_dtype,
 *                           datacube_fingerprint, block_shape, and once steps 4/5 ran
 *                           detector_radius, quality_threshold, upscale_factor
 *   /bigFT                  attr deleted (time) once deleteBigFT removed /bigFT/data
 *
 * Blocks and chunks. Step 2 transforms, for a block of detector pixels, the whole scan
 * ([sy, sx, by, bx]); that block is the unit of writing, of completion and of resume. Chunks
 * are [ty, tx, by, bx]: a block is a whole number of chunks (never rewritten partially), and
 * the explorer's two reads, one detector pixel's [sy, sx] plane and one scan frequency's
 * [crop_dy, crop_dx] plane, each touch a balanced share of the chunks (see chooseLayout).
 * No compression: FFT output is noise-like, and gzip would cost hours at this size.
 *
 * Completion stamps. `done[b]` is 0 until block b is written, then a 64-bit hash of the
 * parameters the block was computed with (bigFT: datacube identity and step-1 parameters;
 * correlations: those plus the step-3 ones). The writer commits the block's data first and
 * its stamp second, so a stamp on disk means its data is on disk. A block counts as complete
 * only when its stamp equals the hash of the parameters in the file, so after kill -9 only
 * finished blocks count, and blocks of other parameters (an interrupted re-run with changed
 * parameters) are never taken for current ones. h5py users: `done != 0` marks written blocks.
 *
 * Concurrency follows the store: one writer (the lock), readers in SWMR mode from other
 * threads or processes, seeing committed data (refresh() to follow). The writer commits right
 * after creating the layout, so the explorer can open the cache while step 2 runs.
 */
import fs from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import {
  AsyncStoreReader,
  CorruptFileError,
  DatasetExistsError,
  FileNotFoundError,
  InvalidArgumentError,
  liveWriter,
  StoreError,
  StoreLockedError,
  StoreReader,
  StoreWriter,
  WriterCrashedError,
  type Attrs,
  type AttrValue,
  type DType,
  type JsonValue,
} from "../store/index.js";
import { acquireWriterLock } from "../store/lock.js";
import { readSuperblock } from "../store/superblock.js";
import {
  CacheBusyError,
  CacheCorruptError,
  CacheForeignError,
  CacheFormatError,
  CacheMissingError,
  CacheNotReadyError,
  CacheParameterError,
  CacheStepError,
} from "./cache-errors.js";

export const CACHE_VERSION = "1.0";
const STAGE = "superres.cache";
const NAME_RE = /^(.*)_superres_cache_(\d{8}_\d{6})\.h5$/;

/** The two cached arrays. */
export type CacheArray = "bigFT" | "correlations";

/** What the cached arrays depend on, step by step. */
export interface SuperResParameters {
  /** Step 1: detector crop [y1, y2, x1, x2] (half-open, detector pixels). */
  cropBounds: [number, number, number, number];
  /** Step 1: bright-field disk centre [cy, cx] and radius (detector pixels). */
  bfCenter: [number, number];
  bfRadius: number;
  /** Step 3: Gaussian sigma of the reference image (scan pixels). */
  referenceSmoothing: number;
  /** Step 3: reference detector pixel in the crop; default the crop's centre (shape // 2). */
  referencePixel?: [number, number];
  /** Step 3: normalise correlations; default true. */
  normalization?: boolean;
  /** Step 4 (shift maps). */
  detectorRadius?: number;
  qualityThreshold?: number;
  /** Step 5 (reconstruction). */
  upscaleFactor?: number;
}

/** Which data the cache was computed from (see Datacube in input.ts). */
export interface DatacubeIdentity {
  /** The main file (EMD, HDF5 or .npy): the cache lives beside it and is named after it. */
  file: string;
  /** Dataset path in an HDF5 main file, "" for .npy. */
  dataset: string;
  shape: [number, number, number, number];
  dtype: DType;
  /** Datacube.fingerprint(). */
  fingerprint: string;
}

export interface ParameterChange {
  name: keyof SuperResParameters | "datacube";
  /** The first step whose results the change invalidates. */
  step: number;
  was: JsonValue;
  now: JsonValue;
}

export interface CacheMeta {
  version: string;
  linkedEmdPath: string;
  /** step_completed as recorded (see CacheSnapshot.stepCompleted for what the data supports). */
  recordedStep: number;
  originalDataShape: [number, number, number, number];
  croppedDataShape: [number, number, number, number];
  computationDate: string;
  parameters: Required<Pick<SuperResParameters, "referencePixel" | "normalization">> &
    SuperResParameters;
  /** Absent for caches written by another program (no completion stamps). */
  datacube?: { dataset: string; dtype: DType; fingerprint: string };
  blockShape: [number, number];
  chunks: number[] | null;
}

/** Detector blocks: the unit of writing, completion and resume. */
export class BlockGrid {
  readonly counts: [number, number];

  constructor(
    readonly cropShape: [number, number],
    readonly blockShape: [number, number],
  ) {
    this.counts = [
      Math.ceil(cropShape[0] / blockShape[0]),
      Math.ceil(cropShape[1] / blockShape[1]),
    ];
  }

  get total(): number {
    return this.counts[0] * this.counts[1];
  }

  /** Block b (row-major over the grid): its detector rows [y0, y0 + h) and columns [x0, x0 + w). */
  block(b: number): {
    index: number;
    iy: number;
    ix: number;
    y0: number;
    x0: number;
    h: number;
    w: number;
  } {
    if (!Number.isInteger(b) || b < 0 || b >= this.total) {
      throw new RangeError(`block ${b} is outside 0..${this.total - 1}`);
    }
    const iy = Math.floor(b / this.counts[1]);
    const ix = b % this.counts[1];
    const y0 = iy * this.blockShape[0];
    const x0 = ix * this.blockShape[1];
    return {
      index: b,
      iy,
      ix,
      y0,
      x0,
      h: Math.min(this.blockShape[0], this.cropShape[0] - y0),
      w: Math.min(this.blockShape[1], this.cropShape[1] - x0),
    };
  }

  /** The block holding crop pixel (ky, kx). */
  blockOf(ky: number, kx: number): number {
    return (
      Math.floor(ky / this.blockShape[0]) * this.counts[1] + Math.floor(kx / this.blockShape[1])
    );
  }
}

export interface LayoutChoice {
  blockShape: [number, number];
  chunks: [number, number, number, number];
}

/** Largest block a step holds in memory: sy * sx * by * bx complex values. */
const MAX_BLOCK_BYTES = 128 * 1024 * 1024;
/** Scan rows per chunk at most: the store's writer keeps a buffer of chunk[0] whole rows. */
const MAX_TILE_ROWS = 8;

/**
 * Block and chunk shapes for a [sy, sx, cdy, cdx] complex128 array. Reading one detector
 * pixel's plane costs (detector pixels per chunk) x (plane bytes), one scan frequency's plane
 * (scan positions per chunk) x (its plane bytes); with chunks of C elements both are equal at
 * by*bx = sqrt(C * cdy*cdx / (sy*sx)). Blocks are square powers of two near that, at most
 * 128 MiB of complex data; the scan tile [ty, tx] fills the chunk, ty a divisor of sy
 * (so the store never re-reads a partial chunk row band) and at most 8.
 */
export function chooseLayout(
  scan: [number, number],
  crop: [number, number],
  opts: { blockShape?: [number, number]; chunkBytes?: number } = {},
): LayoutChoice {
  const [sy, sx] = scan;
  const [cdy, cdx] = crop;
  const c = Math.max(1, Math.floor((opts.chunkBytes ?? 256 * 1024) / 16));
  let by: number;
  let bx: number;
  if (opts.blockShape) {
    [by, bx] = opts.blockShape.map((v, a) => Math.max(1, Math.min(Math.floor(v), crop[a]!))) as [
      number,
      number,
    ];
  } else {
    const perChunk = Math.sqrt((c * cdy * cdx) / (sy * sx));
    let b = 2 ** Math.max(0, Math.round(Math.log2(Math.sqrt(perChunk))));
    while (b > 1 && sy * sx * b * b * 16 > MAX_BLOCK_BYTES) b /= 2;
    by = Math.min(b, cdy);
    bx = Math.min(b, cdx);
  }
  const tile = Math.max(1, Math.floor(c / (by * bx)));
  const rowsWanted = Math.min(MAX_TILE_ROWS, Math.max(1, Math.floor(Math.sqrt(tile))));
  let ty = rowsWanted;
  while (sy % ty !== 0) ty--;
  const tx = Math.max(1, Math.min(sx, Math.floor(tile / ty)));
  return { blockShape: [by, bx], chunks: [ty, tx, by, bx] };
}

// ---- naming and finding ---------------------------------------------------------------

/** YYYYMMDD_HHMMSS in local time. */
export function cacheTimestamp(date: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return (
    `${p(date.getFullYear(), 4)}${p(date.getMonth() + 1)}${p(date.getDate())}_` +
    `${p(date.getHours())}${p(date.getMinutes())}${p(date.getSeconds())}`
  );
}

function baseName(mainFile: string): string {
  const b = path.basename(mainFile);
  const dot = b.lastIndexOf(".");
  return dot > 0 ? b.slice(0, dot) : b;
}

/** `{dir}/{base}_superres_cache_{timestamp}.h5` for a main file. */
export function cachePathFor(mainFile: string, date: Date = new Date()): string {
  return path.join(
    path.dirname(mainFile),
    `${baseName(mainFile)}_superres_cache_${cacheTimestamp(date)}.h5`,
  );
}

/** Cache files of a main file, newest first. */
export function findCaches(mainFile: string): string[] {
  const dir = path.dirname(mainFile);
  const base = baseName(mainFile);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .map((n) => ({ n, m: NAME_RE.exec(n) }))
    .filter((x) => x.m && x.m[1] === base)
    .sort((a, b) => b.m![2]!.localeCompare(a.m![2]!))
    .map((x) => path.join(dir, x.n));
}

// ---- parameters and stamps ------------------------------------------------------------

const STEP_OF: Record<keyof SuperResParameters, number> = {
  cropBounds: 1,
  bfCenter: 1,
  bfRadius: 1,
  referenceSmoothing: 3,
  referencePixel: 3,
  normalization: 3,
  detectorRadius: 4,
  qualityThreshold: 4,
  upscaleFactor: 5,
};

function withDefaults(p: SuperResParameters): CacheMeta["parameters"] {
  const [y1, y2, x1, x2] = p.cropBounds;
  return {
    ...p,
    referencePixel: p.referencePixel ?? [(y2 - y1) >> 1, (x2 - x1) >> 1],
    normalization: p.normalization ?? true,
  };
}

function checkParameters(
  file: string,
  shape: [number, number, number, number],
  p: CacheMeta["parameters"],
): void {
  const bad = (why: string) => new CacheParameterError(file, why);
  const [, , dy, dx] = shape;
  const [y1, y2, x1, x2] = p.cropBounds;
  if (
    !p.cropBounds.every(Number.isInteger) ||
    y1 < 0 ||
    x1 < 0 ||
    y2 > dy ||
    x2 > dx ||
    y1 >= y2 ||
    x1 >= x2
  ) {
    throw bad(
      `crop bounds ${JSON.stringify(p.cropBounds)} are not a non-empty integer box [y1, y2, x1, x2] inside the ${dy}x${dx} detector`,
    );
  }
  const [wy, wx] = p.referencePixel;
  if (
    !Number.isInteger(wy) ||
    !Number.isInteger(wx) ||
    wy < 0 ||
    wx < 0 ||
    wy >= y2 - y1 ||
    wx >= x2 - x1
  ) {
    throw bad(
      `reference pixel ${JSON.stringify(p.referencePixel)} is outside the ${y2 - y1}x${x2 - x1} crop`,
    );
  }
  for (const k of [
    "bfRadius",
    "referenceSmoothing",
    "detectorRadius",
    "qualityThreshold",
    "upscaleFactor",
  ] as const) {
    const v = p[k];
    if (v !== undefined && !(typeof v === "number" && Number.isFinite(v) && v >= 0)) {
      throw bad(`${k} must be a finite non-negative number, got ${String(v)}`);
    }
  }
  if (!p.bfCenter.every(Number.isFinite))
    throw bad(`bf_center ${JSON.stringify(p.bfCenter)} is not finite`);
}

/** A non-zero 64-bit digest of a JSON value. */
function stampOf(value: JsonValue): bigint {
  const h = createHash("sha256").update(JSON.stringify(value)).digest();
  const v = h.readBigUInt64LE(0);
  return v === 0n ? 1n : v;
}

interface Stamps {
  bigFT: bigint;
  correlations: bigint;
}

function stampsFor(
  id: { dataset: string; shape: number[]; dtype: DType; fingerprint: string },
  p: CacheMeta["parameters"],
): Stamps {
  const step1 = {
    datacube: {
      dataset: id.dataset,
      shape: id.shape,
      dtype: id.dtype,
      fingerprint: id.fingerprint,
    },
    cropBounds: p.cropBounds,
    bfCenter: p.bfCenter,
    bfRadius: p.bfRadius,
  };
  const bigFT = stampOf(step1);
  const step3 = {
    bigFT: bigFT.toString(16),
    referenceSmoothing: p.referenceSmoothing,
    referencePixel: p.referencePixel,
    normalization: p.normalization,
  };
  return { bigFT, correlations: stampOf(step3) };
}

// ---- attributes ----------------------------------------------------------------------

const i64 = (v: number[]) => BigInt64Array.from(v.map((x) => BigInt(x)));

function metadataAttrs(meta: CacheMeta): Record<string, Attrs> {
  const p = meta.parameters;
  const top: Attrs = {
    linked_emd_path: meta.linkedEmdPath,
    step_completed: BigInt(meta.recordedStep),
    original_data_shape: i64(meta.originalDataShape),
    cropped_data_shape: i64(meta.croppedDataShape),
    version: meta.version,
    block_shape: i64(meta.blockShape),
  };
  if (meta.datacube) {
    top["datacube_dataset"] = meta.datacube.dataset;
    top["datacube_dtype"] = meta.datacube.dtype;
    top["datacube_fingerprint"] = meta.datacube.fingerprint;
  }
  // Step 4-5 parameters are recorded once those steps completed.
  if (meta.recordedStep >= 4 && p.detectorRadius !== undefined)
    top["detector_radius"] = p.detectorRadius;
  if (meta.recordedStep >= 4 && p.qualityThreshold !== undefined)
    top["quality_threshold"] = p.qualityThreshold;
  if (meta.recordedStep >= 5 && p.upscaleFactor !== undefined)
    top["upscale_factor"] = p.upscaleFactor;
  return {
    "/metadata": top,
    "/bigFT/metadata": {
      crop_bounds: i64(p.cropBounds),
      bf_center: Float64Array.from(p.bfCenter),
      bf_radius: p.bfRadius,
      computation_date: meta.computationDate,
      reference_smoothing: p.referenceSmoothing,
    },
    "/correlations/metadata": {
      reference_pixel: i64(p.referencePixel),
      normalization_applied: p.normalization,
    },
  };
}

function numbers(v: AttrValue | undefined, n: number): number[] | undefined {
  const arr =
    typeof v === "number" || typeof v === "bigint"
      ? [v]
      : Array.isArray(v)
        ? v
        : ArrayBuffer.isView(v)
          ? Array.from(v as ArrayLike<number | bigint>)
          : undefined;
  if (!arr || arr.length !== n) return undefined;
  const out = arr.map((x) => (typeof x === "bigint" ? Number(x) : x));
  return out.every((x) => typeof x === "number" && Number.isFinite(x))
    ? (out as number[])
    : undefined;
}

const scalar = (v: AttrValue | undefined) => numbers(v, 1)?.[0];

function parseMeta(
  file: string,
  top: Attrs,
  big: Attrs,
  corr: Attrs,
  chunks: number[] | null,
): CacheMeta {
  const missing = (what: string) =>
    new CacheFormatError(
      file,
      `is not a super-resolution cache: ${what} (expected the layout of cache version ${CACHE_VERSION})`,
    );
  const version = top["version"];
  if (typeof version !== "string") throw missing("no /metadata version attribute");
  if (version.split(".")[0] !== CACHE_VERSION.split(".")[0]) {
    throw new CacheFormatError(
      file,
      `cache version ${version} is not supported (this reads ${CACHE_VERSION})`,
    );
  }
  const linked = top["linked_emd_path"];
  const step = scalar(top["step_completed"]);
  const original = numbers(top["original_data_shape"], 4);
  const cropped = numbers(top["cropped_data_shape"], 4);
  const crop = numbers(big["crop_bounds"], 4);
  const center = numbers(big["bf_center"], 2);
  const radius = scalar(big["bf_radius"]);
  const smoothing = scalar(big["reference_smoothing"]);
  const refPixel = numbers(corr["reference_pixel"], 2);
  const norm = corr["normalization_applied"];
  if (typeof linked !== "string") throw missing("no linked_emd_path");
  if (step === undefined || !Number.isInteger(step) || step < 1 || step > 5)
    throw missing("step_completed is not 1-5");
  if (!original || !cropped) throw missing("no original_data_shape / cropped_data_shape");
  if (!crop || !center || radius === undefined || smoothing === undefined)
    throw missing("incomplete /bigFT/metadata");
  if (!refPixel || (typeof norm !== "boolean" && typeof norm !== "number"))
    throw missing("incomplete /correlations/metadata");
  const [y1, y2, x1, x2] = crop as [number, number, number, number];
  if (
    cropped[2] !== y2 - y1 ||
    cropped[3] !== x2 - x1 ||
    cropped[0] !== original[0] ||
    cropped[1] !== original[1]
  ) {
    throw new CacheFormatError(
      file,
      `cropped_data_shape ${JSON.stringify(cropped)} does not match crop_bounds ${JSON.stringify(crop)} of ${JSON.stringify(original)}`,
    );
  }
  const parameters: CacheMeta["parameters"] = {
    cropBounds: crop as [number, number, number, number],
    bfCenter: center as [number, number],
    bfRadius: radius,
    referenceSmoothing: smoothing,
    referencePixel: refPixel as [number, number],
    normalization: typeof norm === "boolean" ? norm : norm !== 0,
  };
  const dr = scalar(top["detector_radius"]);
  const qt = scalar(top["quality_threshold"]);
  const uf = scalar(top["upscale_factor"]);
  // Attributes of a step that is no longer complete (parameters changed since) are stale.
  if (dr !== undefined && step >= 4) parameters.detectorRadius = dr;
  if (qt !== undefined && step >= 4) parameters.qualityThreshold = qt;
  if (uf !== undefined && step >= 5) parameters.upscaleFactor = uf;
  const ds = top["datacube_dataset"];
  const dt = top["datacube_dtype"];
  const fp = top["datacube_fingerprint"];
  const cropShape: [number, number] = [y2 - y1, x2 - x1];
  const block =
    numbers(top["block_shape"], 2) ??
    (chunks
      ? [chunks[2]!, chunks[3]!]
      : chooseLayout([original[0]!, original[1]!], cropShape).blockShape);
  const meta: CacheMeta = {
    version,
    linkedEmdPath: linked,
    recordedStep: step,
    originalDataShape: original as CacheMeta["originalDataShape"],
    croppedDataShape: cropped as CacheMeta["croppedDataShape"],
    computationDate: typeof big["computation_date"] === "string" ? big["computation_date"] : "",
    parameters,
    blockShape: block as [number, number],
    chunks,
  };
  if (typeof ds === "string" && typeof dt === "string" && typeof fp === "string") {
    meta.datacube = { dataset: ds, dtype: dt as DType, fingerprint: fp };
  }
  return meta;
}

// ---- reading a cache (any thread, any process) -------------------------------------------

type Handle = StoreReader | AsyncStoreReader;

/** What a cache holds, as read at one moment. */
export interface CacheSnapshot {
  path: string;
  meta: CacheMeta;
  grid: BlockGrid;
  /** Completion per block (1 = complete for the parameters in the file). */
  done: Record<CacheArray, Uint8Array>;
  /** Was /bigFT/data deleted (deleteBigFT)? */
  bigFTDeleted: boolean;
  /** Written by stagelab with completion stamps; false for caches of other programs (read-only). */
  stamped: boolean;
  /** The raw completion stamps (stamped caches). */
  stamps?: Record<CacheArray, BigUint64Array>;
  /** The last step the data supports: at most step_completed for 4-5, inferred from the blocks for 2-3. */
  stepCompleted: number;
  /** "writing" while a writer has it open (or died with it open), else "complete". */
  state: "writing" | "complete" | "foreign";
}

async function exists(h: Handle, p: string): Promise<boolean> {
  const parent = p.slice(0, p.lastIndexOf("/")) || "/";
  const nodes = await h.tree(parent);
  return nodes.some((n) => n.path === p);
}

async function readStamps(
  h: Handle,
  ds: string,
  total: number,
): Promise<BigUint64Array | undefined> {
  if (!(await exists(h, ds))) return undefined;
  const a = await h.read(ds);
  if (!(a.data instanceof BigUint64Array) || a.data.length !== total) return undefined;
  return a.data;
}

function stepFrom(
  recorded: number,
  done: Record<CacheArray, Uint8Array>,
  bigFTDeleted: boolean,
): number {
  const all = (d: Uint8Array) => d.length > 0 && d.every((v) => v === 1);
  const big = !bigFTDeleted && all(done.bigFT);
  const corr = all(done.correlations);
  // Blocks can be complete beyond step_completed (a crash before close()); steps 4-5 leave no
  // data in the cache, so only the record says they ran.
  let step = corr && (big || bigFTDeleted) ? 3 : big ? 2 : 1;
  if (step === 3 && recorded >= 4) step = Math.min(recorded, 5);
  return step;
}

async function snapshotOf(h: Handle, file: string): Promise<CacheSnapshot> {
  let top: Attrs;
  let big: Attrs;
  let corr: Attrs;
  try {
    [top, big, corr] = [
      await h.attrs("/metadata"),
      await h.attrs("/bigFT/metadata"),
      await h.attrs("/correlations/metadata"),
    ];
  } catch (e) {
    if (e instanceof StoreError) {
      throw new CacheFormatError(
        file,
        `is not a super-resolution cache (no /metadata, /bigFT/metadata and /correlations/metadata groups)`,
      );
    }
    throw e;
  }
  const bigFTDeleted = !(await exists(h, "/bigFT/data"));
  const dataPath = bigFTDeleted ? "/correlations/data" : "/bigFT/data";
  if (!(await exists(h, dataPath)))
    throw new CacheFormatError(file, `is not a super-resolution cache: no ${dataPath}`);
  const info = await h.info(dataPath);
  const meta = parseMeta(file, top, big, corr, info.chunks);
  const [sy, sx] = meta.originalDataShape;
  const expectShape = [sy, sx, meta.croppedDataShape[2], meta.croppedDataShape[3]];
  const wantDtype = bigFTDeleted ? "float64" : "complex128";
  if (JSON.stringify(info.shape) !== JSON.stringify(expectShape) || info.dtype !== wantDtype) {
    throw new CacheFormatError(
      file,
      `${dataPath} is ${info.dtype} ${JSON.stringify(info.shape)}, the metadata says ${wantDtype} ${JSON.stringify(expectShape)}`,
    );
  }
  const grid = new BlockGrid([expectShape[2]!, expectShape[3]!], meta.blockShape);
  const bigStamps = await readStamps(h, "/bigFT/done", grid.total);
  const corrStamps = await readStamps(h, "/correlations/done", grid.total);
  const stamps =
    meta.datacube && bigStamps && corrStamps
      ? { bigFT: bigStamps, correlations: corrStamps }
      : undefined;
  const done: Record<CacheArray, Uint8Array> = {
    bigFT: new Uint8Array(grid.total),
    correlations: new Uint8Array(grid.total),
  };
  if (stamps) {
    const want = stampsFor({ ...meta.datacube!, shape: meta.originalDataShape }, meta.parameters);
    for (const which of ["bigFT", "correlations"] as const) {
      stamps[which].forEach((s, b) => (done[which][b] = s === want[which] ? 1 : 0));
    }
  } else {
    // Another program's cache has no stamps: trust its step record, all or nothing.
    done.bigFT.fill(meta.recordedStep >= 2 ? 1 : 0);
    done.correlations.fill(
      meta.recordedStep >= 3 && (await exists(h, "/correlations/data")) ? 1 : 0,
    );
  }
  const state = h instanceof StoreReader ? h.state : (await h.status()).state;
  return {
    path: file,
    meta,
    grid,
    done,
    bigFTDeleted,
    stamped: stamps !== undefined,
    ...(stamps ? { stamps } : {}),
    stepCompleted: stepFrom(meta.recordedStep, done, bigFTDeleted),
    state,
  };
}

/**
 * A file whose writer died keeps its "open" flag, and then neither HDF5 in SWMR mode nor the
 * store can tell a truncated copy from a file still growing: reads past the end return
 * zeros, so stamped blocks would read as zeros. When the superblock records more bytes than
 * the file has and no live writer holds the lock, the file was cut: refuse it.
 */
function refuseTruncatedCrash(file: string): void {
  const sb = fs.existsSync(file) ? readSuperblock(file) : undefined;
  if (!sb || sb.writerFlags === 0 || BigInt(sb.offset) + sb.endOfFile <= BigInt(sb.size)) return;
  try {
    acquireWriterLock(file, "superres.truncation-check").lock.release();
  } catch (e) {
    if (e instanceof StoreLockedError) return; // a live writer is growing it
    throw e;
  }
  throw new CacheCorruptError(
    file,
    `truncated: HDF5 records ${BigInt(sb.offset) + sb.endOfFile} bytes, the file has ${sb.size} (its writer died); delete it and start again`,
  );
}

/** Turn store failures at open into the cache's typed errors. */
function openFailure(file: string, e: unknown): unknown {
  if (e instanceof FileNotFoundError) return new CacheMissingError(file, "no such cache file");
  if (e instanceof CorruptFileError) {
    return new CacheCorruptError(
      file,
      `cache file is damaged (${e.message.slice(file.length + 2)}); delete it and start again`,
    );
  }
  if (e instanceof WriterCrashedError) {
    return new CacheBusyError(
      file,
      "its writer has not committed yet, or died before its first commit (then the file holds nothing: delete it)",
    );
  }
  if (e instanceof StoreLockedError)
    return new CacheBusyError(file, e.message.slice(file.length + 2));
  if (e instanceof InvalidArgumentError && /in this thread/.test(e.message)) {
    return new CacheBusyError(
      file,
      "this thread holds the cache's writer: read it from a store thread (SuperResCacheReader.open(path, { worker: true }) or SuperResCache.openReader())",
    );
  }
  if (e instanceof StoreError) {
    return new CacheCorruptError(file, `cannot read the cache (${e.message})`);
  }
  return e;
}

/**
 * A read-only view of a cache: the explorer's and the later steps' reader. It sees committed
 * blocks only, and reports a block complete only when its stamp matches the file's parameters.
 * refresh() follows a writer. With `worker: true` it reads in a store thread, so it works in
 * the thread that holds the cache's writer (and keeps that thread responsive).
 */
export class SuperResCacheReader {
  private constructor(
    private readonly h: Handle,
    readonly path: string,
    private snap: CacheSnapshot,
  ) {}

  /**
   * Open a cache for reading. While a live writer holds the cache (a step re-opening it
   * between its open and its first commit, when HDF5 shows readers an inconsistent file), the
   * open is retried for up to `waitMs` (default 10000), and once more when the writer has
   * gone; a cache without a live writer answers after that one retry.
   */
  static async open(
    file: string,
    opts: { worker?: boolean; waitMs?: number } = {},
  ): Promise<SuperResCacheReader> {
    const deadline = Date.now() + (opts.waitMs ?? 10_000);
    for (let writing = true; ;) {
      try {
        return await SuperResCacheReader.openOnce(file, opts.worker ?? false);
      } catch (e) {
        const transient =
          e instanceof CacheFormatError ||
          e instanceof CacheCorruptError ||
          e instanceof CacheBusyError;
        // One more attempt once the writer has gone: it may have closed the file meanwhile.
        if (!transient || !writing || Date.now() >= deadline) throw e;
        writing = liveWriter(file) !== undefined;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  private static async openOnce(file: string, worker: boolean): Promise<SuperResCacheReader> {
    let h: Handle;
    try {
      refuseTruncatedCrash(file);
      h = worker
        ? await AsyncStoreReader.open(file, { waitMs: 0 })
        : await StoreReader.open(file, { waitMs: 0 });
    } catch (e) {
      throw openFailure(file, e);
    }
    try {
      return new SuperResCacheReader(h, file, await snapshotOf(h, file));
    } catch (e) {
      await h.close();
      throw openFailure(file, e);
    }
  }

  get snapshot(): CacheSnapshot {
    return this.snap;
  }

  get meta(): CacheMeta {
    return this.snap.meta;
  }

  get grid(): BlockGrid {
    return this.snap.grid;
  }

  /** Completion per block of one array (as of the last open or refresh). */
  done(which: CacheArray): Uint8Array {
    return this.snap.done[which];
  }

  /** The root's attributes (provenance). */
  async rootAttrs(): Promise<Attrs> {
    return this.h.attrs("/");
  }

  /** Re-read the file: true when something was committed since. */
  async refresh(): Promise<boolean> {
    const changed = await this.h.refresh();
    if (changed) this.snap = await snapshotOf(this.h, this.path);
    return changed;
  }

  private dataset(which: CacheArray): string {
    if (which === "bigFT" && this.snap.bigFTDeleted) {
      throw new CacheNotReadyError(this.path, "bigFT was deleted from this cache (deleteBigFT)");
    }
    return `/${which}/data`;
  }

  /**
   * Block b: [sy, sx, h, w], C order; complex values interleaved (re, im) for bigFT.
   * CacheNotReadyError while the block is not complete.
   */
  async readBlock(which: CacheArray, b: number): Promise<Float64Array> {
    const ds = this.dataset(which);
    const { y0, x0, h, w } = this.grid.block(b);
    if (!this.snap.done[which][b]) {
      throw new CacheNotReadyError(this.path, `${which} block ${b} is not complete yet`);
    }
    const a = await this.h.read<"float64" | "complex128">(ds, [
      null,
      null,
      [y0, y0 + h],
      [x0, x0 + w],
    ]);
    return a.data;
  }

  /** One crop pixel's [sy, sx] plane, or null while its block is not complete. */
  async readDetectorPixel(which: CacheArray, ky: number, kx: number): Promise<Float64Array | null> {
    const ds = this.dataset(which);
    const [cdy, cdx] = this.grid.cropShape;
    if (
      !Number.isInteger(ky) ||
      !Number.isInteger(kx) ||
      ky < 0 ||
      kx < 0 ||
      ky >= cdy ||
      kx >= cdx
    ) {
      throw new RangeError(`detector pixel (${ky}, ${kx}) is outside the ${cdy}x${cdx} crop`);
    }
    if (!this.snap.done[which][this.grid.blockOf(ky, kx)]) return null;
    return (await this.h.read<"float64" | "complex128">(ds, [null, null, ky, kx])).data;
  }

  /**
   * The [crop_dy, crop_dx] plane at scan index (y, x) (a scan frequency for bigFT): values of
   * complete blocks, zeros elsewhere, and `valid` (1 per complete pixel).
   */
  async readScanPlane(
    which: CacheArray,
    y: number,
    x: number,
  ): Promise<{ data: Float64Array; valid: Uint8Array }> {
    const ds = this.dataset(which);
    const [cdy, cdx] = this.grid.cropShape;
    const data = (await this.h.read<"float64" | "complex128">(ds, [y, x, null, null])).data;
    const lanes = which === "bigFT" ? 2 : 1;
    const valid = new Uint8Array(cdy * cdx);
    for (let ky = 0; ky < cdy; ky++) {
      for (let kx = 0; kx < cdx; kx++) {
        const i = ky * cdx + kx;
        if (this.snap.done[which][this.grid.blockOf(ky, kx)]) valid[i] = 1;
        else data.fill(0, i * lanes, (i + 1) * lanes);
      }
    }
    return { data, valid };
  }

  async close(): Promise<void> {
    await this.h.close();
  }
}

/** Read a cache's snapshot and close it again; typed errors for every kind of bad file. */
export async function readCacheSnapshot(file: string): Promise<CacheSnapshot> {
  const r = await SuperResCacheReader.open(file);
  try {
    return r.snapshot;
  } finally {
    await r.close();
  }
}

// ---- listing, validation, resume ---------------------------------------------------------

export interface CacheListing {
  path: string;
  timestamp: string;
  sizeBytes: number;
  /** "ok", or why the cache cannot be used (it is never deleted automatically). */
  status: "ok" | "missing" | "corrupt" | "not-a-cache" | "busy";
  message?: string;
  snapshot?: CacheSnapshot;
}

/** Every cache of a main file, newest first, with size, status and (when readable) contents. */
export async function listCaches(mainFile: string): Promise<CacheListing[]> {
  const out: CacheListing[] = [];
  for (const p of findCaches(mainFile)) out.push(await inspectCache(p));
  return out;
}

/** One cache's listing entry; never throws for a bad file (the status says what is wrong). */
export async function inspectCache(file: string): Promise<CacheListing> {
  const timestamp = NAME_RE.exec(path.basename(file))?.[2] ?? "";
  let sizeBytes = 0;
  try {
    sizeBytes = fs.statSync(file).size;
  } catch {
    return {
      path: file,
      timestamp,
      sizeBytes,
      status: "missing",
      message: `${file}: no such cache file`,
    };
  }
  try {
    return {
      path: file,
      timestamp,
      sizeBytes,
      status: "ok",
      snapshot: await readCacheSnapshot(file),
    };
  } catch (e) {
    const status =
      e instanceof CacheFormatError
        ? "not-a-cache"
        : e instanceof CacheBusyError
          ? "busy"
          : e instanceof CacheMissingError
            ? "missing"
            : "corrupt";
    return {
      path: file,
      timestamp,
      sizeBytes,
      status,
      message: e instanceof Error ? e.message : String(e),
    };
  }
}

export interface ResumeExpectation {
  datacube: DatacubeIdentity;
  parameters: SuperResParameters;
}

export interface CacheVerdict {
  /** Can this cache continue the run? */
  usable: boolean;
  /** When not usable: why, in words. */
  reason?: string;
  /** The last step whose results stay valid under the expected parameters. */
  stepCompleted: number;
  changes: ParameterChange[];
  /** Things worth telling the user that do not prevent reuse (e.g. the main file moved). */
  notes: string[];
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Judge a snapshot against the datacube and parameters a run wants. */
export function judgeCache(snap: CacheSnapshot, expect: ResumeExpectation): CacheVerdict {
  const name = path.basename(snap.path);
  const no = (reason: string, changes: ParameterChange[] = []): CacheVerdict => ({
    usable: false,
    reason: `${name}: ${reason}`,
    stepCompleted: 0,
    changes,
    notes: [],
  });
  if (!snap.stamped) {
    return no("written by another program without completion stamps: it can be read, not resumed");
  }
  const id = expect.datacube;
  const mine = snap.meta.datacube!;
  const stored = {
    dataset: mine.dataset,
    shape: snap.meta.originalDataShape,
    dtype: mine.dtype,
    fingerprint: mine.fingerprint,
  };
  const wanted = {
    dataset: id.dataset,
    shape: id.shape,
    dtype: id.dtype,
    fingerprint: id.fingerprint,
  };
  if (!sameJson(stored, wanted)) {
    return no(
      `made for ${snap.meta.linkedEmdPath} (${describe(stored)}), not for this datacube (${id.file}: ${describe(wanted)})`,
      [
        {
          name: "datacube",
          step: 1,
          was: stored as unknown as JsonValue,
          now: wanted as unknown as JsonValue,
        },
      ],
    );
  }
  const want = withDefaults(expect.parameters);
  const have = snap.meta.parameters;
  const changes: ParameterChange[] = [];
  for (const k of Object.keys(STEP_OF) as (keyof SuperResParameters)[]) {
    const a = have[k];
    const b = want[k];
    // Step 4-5 parameters are recorded once those steps ran; unknown ones do not conflict.
    if (a === undefined || b === undefined || sameJson(a, b)) continue;
    changes.push({ name: k, step: STEP_OF[k], was: a as JsonValue, now: b as JsonValue });
  }
  const firstInvalid = Math.min(6, ...changes.map((c) => c.step));
  if (firstInvalid === 1) {
    return no(
      `step-1 parameters changed (${changes
        .filter((c) => c.step === 1)
        .map((c) => c.name)
        .join(", ")}): everything must be computed again`,
      changes,
    );
  }
  let step = Math.min(snap.stepCompleted, firstInvalid - 1);
  if (step < 3 && snap.bigFTDeleted) {
    return no("bigFT was deleted and the correlations are not valid for these parameters", changes);
  }
  step = Math.max(1, step);
  const notes =
    path.resolve(snap.meta.linkedEmdPath) === path.resolve(id.file)
      ? []
      : [
          `${name} was made for ${snap.meta.linkedEmdPath}; ${id.file} holds the same datacube (same fingerprint), so it is reused and relinked`,
        ];
  return { usable: true, stepCompleted: step, changes, notes };
}

function describe(d: { dataset: string; shape: number[]; dtype: string; fingerprint: string }) {
  return `${d.dataset || ".npy"} ${JSON.stringify(d.shape)} ${d.dtype}, fingerprint ${d.fingerprint}`;
}

export type ResumePlan =
  | {
      action: "resume";
      cache: string;
      /** Continue with step stepCompleted + 1. */
      stepCompleted: number;
      changes: ParameterChange[];
      notes: string[];
      /** Newer caches that were passed over, and why. */
      skipped: string[];
    }
  | { action: "fresh"; reasons: string[] };

/**
 * Where to continue a run: the newest cache of the main file that holds this datacube with
 * compatible parameters, or a fresh start (with the reason each cache was not taken:
 * missing, truncated, damaged, foreign, changed parameters). Never throws for bad caches.
 */
export async function planResume(expect: ResumeExpectation): Promise<ResumePlan> {
  const skipped: string[] = [];
  for (const listing of await listCaches(expect.datacube.file)) {
    if (listing.status !== "ok") {
      skipped.push(listing.message ?? `${listing.path}: ${listing.status}`);
      continue;
    }
    const v = judgeCache(listing.snapshot!, expect);
    if (v.usable) {
      return {
        action: "resume",
        cache: listing.path,
        stepCompleted: v.stepCompleted,
        changes: v.changes,
        notes: v.notes,
        skipped,
      };
    }
    skipped.push(v.reason!);
  }
  return {
    action: "fresh",
    reasons: skipped.length ? skipped : ["no cache file for this main file"],
  };
}

// ---- writing a cache ---------------------------------------------------------------------

export interface CreateCacheOptions extends ResumeExpectation {
  /** Names the file; default now. A taken name moves on by a second. */
  timestamp?: Date;
  /** Detector block shape [by, bx]; default from chooseLayout. */
  blockShape?: [number, number];
  /** Target chunk size in bytes of complex data (default 256 KiB). */
  chunkBytes?: number;
}

function createLayout(
  w: StoreWriter,
  meta: CacheMeta,
  chunks: number[] | null,
  withBigFT: boolean,
): void {
  const [sy, sx] = meta.originalDataShape;
  const shape = [sy, sx, meta.croppedDataShape[2], meta.croppedDataShape[3]];
  const grid = new BlockGrid([shape[2]!, shape[3]!], meta.blockShape);
  const stampSpec = {
    dtype: "uint64" as const,
    shape: [...grid.counts],
    maxshape: [...grid.counts],
    chunks: [...grid.counts],
    compression: "none" as const,
    attrs: {
      description:
        "completion stamp per detector block (0 = not written; else a hash of the parameters it was computed with)",
      block_shape: i64(meta.blockShape),
    },
  };
  for (const which of ["bigFT", "correlations"] as const) {
    if (which === "correlations" || withBigFT) {
      w.createDataset(`/${which}/data`, {
        dtype: which === "bigFT" ? "complex128" : "float64",
        shape,
        maxshape: shape,
        ...(chunks ? { chunks } : {}),
        compression: "none",
      });
    }
    w.createDataset(`/${which}/done`, stampSpec);
  }
  for (const [p, attrs] of Object.entries(metadataAttrs(meta))) w.setAttrs(p, attrs);
}

/**
 * The writer of one cache: creates it (after step 1) or re-opens it to continue, writes
 * blocks with their completion stamps, records completed steps. One per cache (the store's
 * lock); close() when a step (or the session) ends, abandon() on error.
 */
export class SuperResCache {
  private stepNow: number;
  private closed = false;

  private constructor(
    private readonly w: StoreWriter,
    readonly path: string,
    private meta: CacheMeta,
    readonly grid: BlockGrid,
    private readonly stamps: Stamps,
    private readonly blockStamps: Record<CacheArray, BigUint64Array>,
    readonly bigFTDeleted: boolean,
    stepCompleted: number,
  ) {
    this.stepNow = stepCompleted;
  }

  /** Create a new cache beside the datacube's main file, after step 1 (step_completed = 1). */
  static async create(opts: CreateCacheOptions): Promise<SuperResCache> {
    const id = opts.datacube;
    const parameters = withDefaults(opts.parameters);
    checkParameters(id.file, id.shape, parameters);
    const [sy, sx, dy, dx] = id.shape;
    const [y1, y2, x1, x2] = parameters.cropBounds;
    const layout = chooseLayout([sy, sx], [y2 - y1, x2 - x1], {
      ...(opts.blockShape ? { blockShape: opts.blockShape } : {}),
      ...(opts.chunkBytes ? { chunkBytes: opts.chunkBytes } : {}),
    });
    const meta: CacheMeta = {
      version: CACHE_VERSION,
      linkedEmdPath: path.resolve(id.file),
      recordedStep: 1,
      originalDataShape: [sy, sx, dy, dx],
      croppedDataShape: [sy, sx, y2 - y1, x2 - x1],
      computationDate: new Date().toISOString(),
      parameters,
      datacube: { dataset: id.dataset, dtype: id.dtype, fingerprint: id.fingerprint },
      blockShape: layout.blockShape,
      chunks: layout.chunks,
    };
    const provenance = {
      stage: STAGE,
      parameters: { datacube: id.dataset, cropBounds: parameters.cropBounds },
    };
    const t0 = (opts.timestamp ?? new Date()).getTime();
    let file = "";
    let created: StoreWriter | undefined;
    for (let k = 0; !created; k++) {
      file = cachePathFor(id.file, new Date(t0 + k * 1000));
      if (fs.existsSync(file)) continue;
      try {
        created = await StoreWriter.create(file, { provenance });
      } catch (e) {
        // Another process took this name between the check and the create: next second.
        const taken = e instanceof StoreLockedError || e instanceof DatasetExistsError;
        if (!taken || k > 60) throw e;
      }
    }
    const w = created;
    try {
      createLayout(w, meta, layout.chunks, true);
      // Readers (the explorer) can follow from this commit on.
      w.commit();
    } catch (e) {
      w.abandon();
      fs.rmSync(file, { force: true });
      throw e;
    }
    const grid = new BlockGrid([y2 - y1, x2 - x1], layout.blockShape);
    return new SuperResCache(
      w,
      file,
      meta,
      grid,
      stampsFor({ ...meta.datacube!, shape: meta.originalDataShape }, parameters),
      { bigFT: new BigUint64Array(grid.total), correlations: new BigUint64Array(grid.total) },
      false,
      1,
    );
  }

  /**
   * Re-open a cache to continue. With `expect`, the cache must hold that datacube with
   * compatible parameters (else CacheForeignError / CacheParameterError saying why); changed
   * step 3-5 parameters are recorded, and blocks of other parameters are cleared (their data
   * is overwritten as the step runs again). A cache whose writer died is first rebuilt from
   * its committed data (the store's recovery); every complete block survives.
   */
  static async open(file: string, expect?: ResumeExpectation): Promise<SuperResCache> {
    const snap = await readCacheSnapshot(file);
    if (!snap.stamps) {
      throw new CacheFormatError(
        file,
        "was written by another program without completion stamps: it can be read (SuperResCacheReader), not continued",
      );
    }
    let meta = snap.meta;
    let step = snap.stepCompleted;
    if (expect) {
      const v = judgeCache(snap, expect);
      if (!v.usable) {
        const cls = v.changes.some((c) => c.name === "datacube")
          ? CacheForeignError
          : CacheParameterError;
        throw new cls(file, v.reason!);
      }
      const parameters = withDefaults(expect.parameters);
      checkParameters(file, meta.originalDataShape, parameters);
      step = v.stepCompleted;
      meta = {
        ...meta,
        linkedEmdPath: path.resolve(expect.datacube.file),
        parameters: { ...meta.parameters, ...parameters },
        recordedStep: step,
      };
    }
    let w: StoreWriter;
    try {
      w = await StoreWriter.open(file, { provenance: { stage: STAGE } });
    } catch (e) {
      throw openFailure(file, e);
    }
    try {
      const stamps = stampsFor(
        { ...meta.datacube!, shape: meta.originalDataShape },
        meta.parameters,
      );
      const blockStamps = { bigFT: snap.stamps.bigFT, correlations: snap.stamps.correlations };
      // Before the first commit (SWMR freezes attributes): the parameters new blocks are
      // stamped with, and cleared stamps of blocks computed with other ones.
      for (const [p, attrs] of Object.entries(metadataAttrs(meta))) w.setAttrs(p, attrs);
      for (const which of ["bigFT", "correlations"] as const) {
        const s = blockStamps[which];
        if (s.some((v) => v !== 0n && v !== stamps[which])) {
          s.forEach((v, b) => (s[b] = v === stamps[which] ? v : 0n));
          w.dataset<"uint64">(`/${which}/done`).write([0, 0], [...snap.grid.counts], s);
        }
      }
      w.commit();
      return new SuperResCache(
        w,
        file,
        meta,
        snap.grid,
        stamps,
        blockStamps,
        snap.bigFTDeleted,
        step,
      );
    } catch (e) {
      w.abandon();
      throw openFailure(file, e);
    }
  }

  get parameters(): CacheMeta["parameters"] {
    return this.meta.parameters;
  }

  /** The last completed step (what the cache's data supports). */
  get stepCompleted(): number {
    return this.stepNow;
  }

  isDone(which: CacheArray, b: number): boolean {
    this.grid.block(b);
    return this.blockStamps[which][b] === this.stamps[which];
  }

  /** Blocks still to compute, in order. */
  pendingBlocks(which: CacheArray): number[] {
    const out: number[] = [];
    for (let b = 0; b < this.grid.total; b++) if (!this.isDone(which, b)) out.push(b);
    return out;
  }

  private live(): StoreWriter {
    if (this.closed) throw new CacheStepError(this.path, "the cache writer is closed");
    return this.w;
  }

  /**
   * Write block b ([sy, sx, h, w], C order; complex interleaved for bigFT) and then its
   * stamp, each committed: a kill -9 at any moment leaves the block either complete or not
   * counted.
   */
  writeBlock(which: CacheArray, b: number, data: Float64Array): void {
    const w = this.live();
    if (which === "bigFT" && this.bigFTDeleted) {
      throw new CacheNotReadyError(
        this.path,
        "bigFT was deleted from this cache; it cannot be written again",
      );
    }
    const { iy, ix, y0, x0, h, w: bw } = this.grid.block(b);
    const [sy, sx] = this.meta.originalDataShape;
    const lanes = which === "bigFT" ? 2 : 1;
    if (!(data instanceof Float64Array) || data.length !== sy * sx * h * bw * lanes) {
      throw new CacheParameterError(
        this.path,
        `${which} block ${b} needs a Float64Array of ${sy * sx * h * bw * lanes} values ([${sy}, ${sx}, ${h}, ${bw}]${lanes === 2 ? " complex, interleaved" : ""}), got ${data.length}`,
      );
    }
    w.dataset<"float64" | "complex128">(`/${which}/data`).write(
      [0, 0, y0, x0],
      [sy, sx, h, bw],
      data,
    );
    w.commit();
    const stamp = this.stamps[which];
    w.dataset<"uint64">(`/${which}/done`).write([iy, ix], [1, 1], BigUint64Array.of(stamp));
    w.commit();
    this.blockStamps[which][b] = stamp;
  }

  /**
   * Block b of a complete array, read through this writer ([sy, sx, h, w], C order; complex
   * interleaved for bigFT): what step 3 and 4 read while they write.
   */
  readBlock(which: CacheArray, b: number): Float64Array {
    const w = this.live();
    if (!this.isDone(which, b)) {
      throw new CacheNotReadyError(this.path, `${which} block ${b} is not complete`);
    }
    if (which === "bigFT" && this.bigFTDeleted) {
      throw new CacheNotReadyError(this.path, "bigFT was deleted from this cache (deleteBigFT)");
    }
    const { y0, x0, h, w: bw } = this.grid.block(b);
    const [sy, sx] = this.meta.originalDataShape;
    return w
      .dataset<"float64" | "complex128">(`/${which}/data`)
      .read([0, 0, y0, x0], [sy, sx, h, bw]);
  }

  /**
   * Record that `step` completed (written to the file at close(): SWMR keeps attributes until
   * then; blocks already count without it). Steps 2-3 need every block of their array;
   * steps 4-5 record their parameters (default: those the cache was opened with).
   */
  completeStep(
    step: 1 | 2 | 3 | 4 | 5,
    params: Pick<SuperResParameters, "detectorRadius" | "qualityThreshold" | "upscaleFactor"> = {},
  ): void {
    const w = this.live();
    const need = (which: CacheArray) => {
      const left = this.pendingBlocks(which).length;
      if (left > 0)
        throw new CacheStepError(
          this.path,
          `step ${step} is not complete: ${left} of ${this.grid.total} ${which} blocks are missing`,
        );
    };
    if (step >= 2 && !this.bigFTDeleted) need("bigFT");
    if (step >= 3) need("correlations");
    if (step >= 4 && this.stepNow < step - 1) {
      throw new CacheStepError(
        this.path,
        `step ${step} cannot complete before step ${step - 1} (step ${this.stepNow} is the last completed)`,
      );
    }
    const p = { ...this.meta.parameters, ...params };
    const extra: Attrs = {};
    if (step === 2) extra["computation_date"] = new Date().toISOString();
    if (step >= 4) {
      if (p.detectorRadius === undefined || p.qualityThreshold === undefined) {
        throw new CacheStepError(this.path, "step 4 needs detectorRadius and qualityThreshold");
      }
      extra["detector_radius"] = p.detectorRadius;
      extra["quality_threshold"] = p.qualityThreshold;
    }
    if (step === 5) {
      if (p.upscaleFactor === undefined)
        throw new CacheStepError(this.path, "step 5 needs upscaleFactor");
      extra["upscale_factor"] = p.upscaleFactor;
    }
    this.meta = { ...this.meta, parameters: p, recordedStep: step };
    this.stepNow = step;
    const { computation_date: date, ...top } = extra;
    w.setAttrs("/metadata", { ...top, step_completed: BigInt(step) });
    if (date !== undefined) w.setAttrs("/bigFT/metadata", { computation_date: date });
  }

  /** Commit, record the step and attributes, mark the file complete, release the lock. */
  close(): void {
    this.live().close();
    this.closed = true;
  }

  /** Release the cache without marking it complete (after an error): committed blocks stay. */
  abandon(): void {
    if (this.closed) return;
    this.closed = true;
    this.w.abandon();
  }

  /** A reader of this cache in a store thread (e.g. step 3 reading bigFT while writing correlations). */
  openReader(): Promise<SuperResCacheReader> {
    this.live();
    return SuperResCacheReader.open(this.path, { worker: true });
  }
}

// ---- slimming and cleanup ------------------------------------------------------------------

/**
 * Delete bigFT from a cache whose correlations are complete (step 3 done), reclaiming its
 * space. HDF5 never shrinks a file, so the cache is rewritten without /bigFT/data (only
 * complete correlation blocks are copied) into a temporary file that replaces it atomically,
 * under the cache's writer lock. Readers still open see the old file until they re-open.
 */
export async function deleteBigFT(
  file: string,
): Promise<{ bytesBefore: number; bytesAfter: number }> {
  let lock;
  try {
    lock = acquireWriterLock(file, "superres.deleteBigFT").lock;
  } catch (e) {
    throw openFailure(file, e);
  }
  const tmp = `${file}.repack-${process.pid}`;
  try {
    const bytesBefore = fs.statSync(file).size;
    const r = await SuperResCacheReader.open(file);
    let w: StoreWriter | undefined;
    try {
      const snap = r.snapshot;
      if (snap.bigFTDeleted) return { bytesBefore, bytesAfter: bytesBefore };
      if (!snap.stamped)
        throw new CacheFormatError(file, "was written by another program: not rewritten");
      if (snap.stepCompleted < 3) {
        throw new CacheStepError(
          file,
          `bigFT can be deleted once step 3 (correlations) is complete; the cache is at step ${snap.stepCompleted}`,
        );
      }
      w = await StoreWriter.create(tmp, { overwrite: true });
      w.setAttrs("/", await r.rootAttrs());
      createLayout(w, snap.meta, snap.meta.chunks, false);
      const [sy, sx] = snap.meta.originalDataShape;
      for (let b = 0; b < snap.grid.total; b++) {
        if (!snap.done.correlations[b]) continue;
        const { y0, x0, h, w: bw } = snap.grid.block(b);
        w.dataset<"float64">("/correlations/data").write(
          [0, 0, y0, x0],
          [sy, sx, h, bw],
          await r.readBlock("correlations", b),
        );
      }
      for (const which of ["bigFT", "correlations"] as const) {
        w.dataset<"uint64">(`/${which}/done`).write(
          [0, 0],
          [...snap.grid.counts],
          snap.stamps![which],
        );
      }
      w.setAttrs("/bigFT", { deleted: new Date().toISOString() });
      w.close();
      w = undefined;
    } catch (e) {
      w?.abandon();
      throw e;
    } finally {
      await r.close();
    }
    const fd = fs.openSync(tmp, "r");
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, file);
    return { bytesBefore, bytesAfter: fs.statSync(file).size };
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw openFailure(file, e);
  } finally {
    lock.release();
  }
}

/** Delete one cache file under its writer lock (CacheBusyError while a writer has it). */
export function deleteCache(file: string): number {
  let lock;
  try {
    lock = acquireWriterLock(file, "superres.deleteCache").lock;
  } catch (e) {
    throw openFailure(file, e);
  }
  try {
    const size = fs.existsSync(file) ? fs.statSync(file).size : 0;
    fs.rmSync(file, { force: true });
    // A rewrite (deleteBigFT) that died leaves its temporary file behind.
    const dir = path.dirname(file);
    for (const n of fs.readdirSync(dir)) {
      if (n.startsWith(`${path.basename(file)}.repack-`))
        fs.rmSync(path.join(dir, n), { force: true });
    }
    return size;
  } finally {
    lock.release();
  }
}

/** Delete every cache of a main file (but those in `keep`); busy ones are skipped and listed. */
export function cleanupCaches(
  mainFile: string,
  opts: { keep?: string[] } = {},
): { deleted: string[]; freedBytes: number; skipped: { path: string; reason: string }[] } {
  const keep = new Set((opts.keep ?? []).map((p) => path.resolve(p)));
  const out = {
    deleted: [] as string[],
    freedBytes: 0,
    skipped: [] as { path: string; reason: string }[],
  };
  for (const p of findCaches(mainFile)) {
    if (keep.has(path.resolve(p))) continue;
    try {
      out.freedBytes += deleteCache(p);
      out.deleted.push(p);
    } catch (e) {
      if (!(e instanceof CacheBusyError)) throw e;
      out.skipped.push({ path: p, reason: e.message });
    }
  }
  return out;
}
