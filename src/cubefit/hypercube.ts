/**
 * The HyperCube: /HyperCube/models[s, c, p, :] = R_T^T (template_p * K_{s,c}), float32
 * (S, C, P, L), chunked in tiles (S_chunk, C_chunk, P_chunk, L), and /HyperCube/_done, one
 * completion stamp per tile (Sgrid, Cgrid, Pgrid).
 *
 * Build. A tile is a chunk: the unit of computing, of writing and of resume. Worker threads
 * compute tiles in float64 (ops.ts TileComputer); the main thread is the file's single writer.
 * Each tile's data is committed first and its stamp second, so a stamp on disk means its data
 * is on disk. A stamp is a 64-bit digest of everything the tile depends on: the grids, R_T,
 * the templates of its populations and the LOSVDs of its spaxels and components, and its box.
 * A tile counts as done only when its stored stamp equals the digest of the file's current
 * inputs: after kill -9 only finished tiles count, and tiles computed from other inputs (e.g.
 * LOSVDs replaced with updateCubeInputs) are recomputed. Every tile is the same pure function
 * of its inputs, so a resumed build equals an uninterrupted one bit for bit. h5py users:
 * `_done != 0` marks written tiles.
 *
 * Models are written uncompressed (the seed's advice: fastest); compressHypercube() rewrites
 * the file with gzip afterwards (HDF5 never shrinks a file in place, so "in place" is an
 * atomic replacement of the file by a compressed copy).
 */
import fs from "node:fs";
import os from "node:os";
import * as Comlink from "comlink/dist/esm/comlink.mjs";
import {
  itemBytes,
  StoreReader,
  StoreWriter,
  type Compression,
  type DType,
} from "../store/index.js";
import { acquireWriterLock } from "../store/lock.js";
import { InFlight } from "../parallel/in-flight.js";
import { WorkerPool } from "../parallel/worker-pool.js";
import type { BuildThreadApi } from "./build-thread.js";
import { CubeFitError, requireInt } from "./errors.js";
import {
  cubeDims,
  Digest,
  fixedSpec,
  readerSource,
  readF64,
  requireDataset,
  SLAB_BYTES,
  writerSource,
  type CubeSource,
} from "./file.js";
import { CUBEFIT, type CubeDims } from "./layout.js";
import { guardInfo } from "./manager.js";
import { RebinColumns, uniformStep, type TileBox, type TileContextData } from "./ops.js";

const STAGE = "cubefit.buildHyperCube";
const HYPERCUBE_GROUP = "/HyperCube";
/** Default tile (chunk) size target: large enough for efficient I/O, small enough to hold several. */
const TILE_BYTES = 8 * 1024 * 1024;

export type ModelChunks = [number, number, number, number];

/** The tiles of the models array: chunk-aligned boxes, the last ones along each axis partial. */
export class TileGrid {
  readonly counts: [number, number, number];
  readonly total: number;

  constructor(
    readonly shape: ModelChunks,
    readonly chunks: ModelChunks,
  ) {
    const [S, C, P] = shape;
    const [sc, cc, pc] = chunks;
    this.counts = [Math.ceil(S / sc), Math.ceil(C / cc), Math.ceil(P / pc)];
    this.total = this.counts[0] * this.counts[1] * this.counts[2];
  }

  /** Tile b (C order over (Sgrid, Cgrid, Pgrid)): its grid index and box. */
  tile(b: number): TileBox & { index: [number, number, number] } {
    const [, nc, np] = this.counts;
    const ip = b % np;
    const ic = Math.floor(b / np) % nc;
    const is = Math.floor(b / (np * nc));
    const [S, C, P] = this.shape;
    const [sc, cc, pc] = this.chunks;
    return {
      index: [is, ic, ip],
      s0: is * sc,
      s1: Math.min(S, (is + 1) * sc),
      c0: ic * cc,
      c1: Math.min(C, (ic + 1) * cc),
      p0: ip * pc,
      p1: Math.min(P, (ip + 1) * pc),
    };
  }
}

/**
 * Default chunks: C_chunk 1 and P_chunk up to 360 (the seed's advice), S_chunk so that a tile
 * is about 8 MiB (at most 128 spaxels). The seed's S_chunk = 128 with P_chunk = 360 makes
 * tiles of hundreds of MiB for long spectra: more than a worker message or the store's 64 MiB
 * chunk limit should carry. Among S_chunks from half that size up, one dividing S is
 * preferred: the store's dataset writer keeps the partial last chunk row of a dataset (for
 * appends) and re-reads and rewrites it around every write, which costs a whole S-chunk row
 * of models per tile when S_chunk does not divide S.
 */
export function defaultModelChunks(dims: CubeDims): ModelChunks {
  const { nSpat: S, nComp: C, nPop: P, nLSpec: L } = dims;
  const cc = Math.min(C, 1);
  const pc = Math.min(P, 360);
  const target = Math.max(1, Math.min(S, 128, Math.floor(TILE_BYTES / (cc * pc * L * 4))));
  let sc = target;
  for (let d = target; 2 * d >= target; d--) {
    if (S % d === 0) {
      sc = d;
      break;
    }
  }
  return [sc, cc, pc, L];
}

function checkChunks(dims: CubeDims, chunks: ModelChunks): void {
  const { nSpat: S, nComp: C, nPop: P, nLSpec: L } = dims;
  requireInt("sChunk", chunks[0], 1);
  requireInt("cChunk", chunks[1], 1);
  requireInt("pChunk", chunks[2], 1);
  if (chunks[0] > S || chunks[1] > C || chunks[2] > P || chunks[3] !== L) {
    throw new CubeFitError(
      "chunks",
      `[${chunks.join(", ")}] must fit inside (S, C, P, L) = (${S}, ${C}, ${P}, ${L}) with whole spectra (L)`,
    );
  }
  const bytes = chunks.reduce((a, b) => a * b, 1) * 4;
  if (bytes > 64 * 1024 * 1024)
    throw new CubeFitError(
      "chunks",
      `[${chunks.join(", ")}] is ${bytes} bytes per tile; keep it under 64 MiB`,
    );
}

// ---- inputs and stamps ---------------------------------------------------------------------

export interface BuildInputs {
  dims: CubeDims;
  /** (P, T) as stored. */
  templates: Float32Array;
  losvd: Float32Array;
  /** As stored, for the stamps. */
  raw: { temPix: Float64Array; obsPix: Float64Array; velPix: Float64Array; rt: Float32Array };
}

export function loadInputs(src: CubeSource): BuildInputs {
  const dims = cubeDims(src);
  for (const ds of [CUBEFIT.temPix, CUBEFIT.obsPix, CUBEFIT.velPix])
    requireDataset(src, ds, "populateCubeFile()");
  requireDataset(src, CUBEFIT.rebinT, "ensureRebinAndResample()");
  const { nTSpec: T, nLSpec: L } = dims;
  const rtShape = src.shape(CUBEFIT.rebinT);
  if (rtShape[0] !== T || rtShape[1] !== L)
    throw new CubeFitError(
      CUBEFIT.rebinT,
      `is (${rtShape.join(", ")}), expected (T, L) = (${T}, ${L})`,
      src.file,
    );
  const temPix = readF64(src, CUBEFIT.temPix);
  const obsPix = readF64(src, CUBEFIT.obsPix);
  const velPix = readF64(src, CUBEFIT.velPix);
  const rt = src.read(CUBEFIT.rebinT) as Float32Array;
  uniformStep(CUBEFIT.temPix, temPix);
  return {
    dims,
    templates: src.read(CUBEFIT.templates) as Float32Array,
    losvd: src.read(CUBEFIT.losvd) as Float32Array,
    raw: { temPix, obsPix, velPix, rt },
  };
}

/** What the workers need for every tile (R_T by columns: only its non-zeros). */
function tileContext(inputs: BuildInputs): TileContextData {
  const { nTSpec: T, nLSpec: L, nPop: P, nVel: V } = inputs.dims;
  const { temPix, velPix, rt } = inputs.raw;
  return {
    T,
    L,
    P,
    V,
    templates: inputs.templates,
    rebin: RebinColumns.fromDense(T, L, [rt]).toData(),
    dlogTem: uniformStep(CUBEFIT.temPix, temPix),
    velPix,
  };
}

/** The (ds, V, dc) LOSVD slab of a tile, from the (S, V, C) array. */
function losvdSlab(losvd: Float32Array, dims: CubeDims, box: TileBox): Float32Array {
  const { nVel: V, nComp: C } = dims;
  const dc = box.c1 - box.c0;
  const out = new Float32Array((box.s1 - box.s0) * V * dc);
  let o = 0;
  for (let s = box.s0; s < box.s1; s++)
    for (let v = 0; v < V; v++) {
      const i = (s * V + v) * C;
      for (let c = box.c0; c < box.c1; c++) out[o++] = losvd[i + c]!;
    }
  return out;
}

/** What every tile's stamp depends on, as a digest of the file's current inputs. */
function expectedStamps(inputs: BuildInputs, grid: TileGrid): BigUint64Array {
  const { nTSpec: T } = inputs.dims;
  const { temPix, obsPix, velPix, rt } = inputs.raw;
  const common = new Digest()
    .add("cubefit.models/1", ...grid.shape)
    .add(temPix, obsPix, velPix, rt)
    .hex();
  const [ns, nc, np] = grid.counts;
  const tpl = Array.from({ length: np }, (_, ip) => {
    const b = grid.tile(ip);
    return new Digest().add(inputs.templates.subarray(b.p0 * T, b.p1 * T)).hex();
  });
  const out = new BigUint64Array(grid.total);
  for (let is = 0; is < ns; is++)
    for (let ic = 0; ic < nc; ic++) {
      const first = grid.tile((is * nc + ic) * np);
      const los = new Digest().add(losvdSlab(inputs.losvd, inputs.dims, first)).hex();
      for (let ip = 0; ip < np; ip++) {
        const b = (is * nc + ic) * np + ip;
        const t = grid.tile(b);
        out[b] = new Digest()
          .add(common, los, tpl[ip]!, t.s0, t.s1, t.c0, t.c1, t.p0, t.p1)
          .stamp();
      }
    }
  return out;
}

// ---- status --------------------------------------------------------------------------------

export interface HypercubeStatus {
  file: string;
  /** False when the file has no /HyperCube/models yet. */
  exists: boolean;
  shape?: ModelChunks;
  chunks?: ModelChunks;
  /** Tiles along S, C, P. */
  grid?: [number, number, number];
  tilesTotal: number;
  /** Tiles whose stamp matches the current inputs. */
  tilesDone: number;
  /** Tiles written from other inputs (to recompute). */
  tilesStale: number;
  /** Tiles never written. */
  tilesMissing: number;
  complete: boolean;
  /** e.g. "none", "gzip-2". */
  compression?: string;
  /** The first few done tiles (is, ic, ip). */
  firstDone: [number, number, number][];
}

/** A file's HyperCube state: status, tiling, and the stored and expected stamps. */
export interface HypercubeState {
  status: HypercubeStatus;
  grid?: TileGrid;
  expected?: BigUint64Array;
  stored?: BigUint64Array;
}

export function statusOf(
  src: CubeSource,
  inputs: BuildInputs,
  compression?: string,
): HypercubeState {
  const file = src.file;
  if (!src.has(CUBEFIT.models)) {
    return {
      status: {
        file,
        exists: false,
        tilesTotal: 0,
        tilesDone: 0,
        tilesStale: 0,
        tilesMissing: 0,
        complete: false,
        firstDone: [],
      },
    };
  }
  const { nSpat: S, nComp: C, nPop: P, nLSpec: L } = inputs.dims;
  const shape = src.shape(CUBEFIT.models) as ModelChunks;
  if (shape.join() !== [S, C, P, L].join() || src.dtype(CUBEFIT.models) !== "float32") {
    throw new CubeFitError(
      CUBEFIT.models,
      `is ${src.dtype(CUBEFIT.models)} (${shape.join(", ")}), expected float32 (S, C, P, L) = (${S}, ${C}, ${P}, ${L})`,
      file,
    );
  }
  const chunks = (src.chunks(CUBEFIT.models) ?? shape) as ModelChunks;
  const grid = new TileGrid(shape, chunks);
  requireDataset(src, CUBEFIT.modelsDone, "buildHyperCube()");
  const doneShape = src.shape(CUBEFIT.modelsDone);
  if (doneShape.join() !== grid.counts.join() || src.dtype(CUBEFIT.modelsDone) !== "uint64") {
    throw new CubeFitError(
      CUBEFIT.modelsDone,
      `is ${src.dtype(CUBEFIT.modelsDone)} (${doneShape.join(", ")}), expected uint64 stamps (${grid.counts.join(", ")}) for chunks [${chunks.join(", ")}]`,
      file,
    );
  }
  const stored = src.read(CUBEFIT.modelsDone) as BigUint64Array;
  const expected = expectedStamps(inputs, grid);
  let done = 0;
  let stale = 0;
  const firstDone: [number, number, number][] = [];
  stored.forEach((s, b) => {
    if (s === expected[b]) {
      done++;
      if (firstDone.length < 5) firstDone.push(grid.tile(b).index);
    } else if (s !== 0n) stale++;
  });
  return {
    status: {
      file,
      exists: true,
      shape,
      chunks,
      grid: grid.counts,
      tilesTotal: grid.total,
      tilesDone: done,
      tilesStale: stale,
      tilesMissing: grid.total - done - stale,
      complete: done === grid.total,
      ...(compression ? { compression } : {}),
      firstDone,
    },
    grid,
    expected,
    stored,
  };
}

/** Shape, chunks and done/total tiles of a file's HyperCube (the seed's print_hypercube_done_status). */
export async function hypercubeStatus(file: string): Promise<HypercubeStatus> {
  const r = await StoreReader.open(file);
  try {
    const src = readerSource(r);
    const compression = src.has(CUBEFIT.models) ? r.info(CUBEFIT.models).compression : undefined;
    return statusOf(src, loadInputs(src), compression).status;
  } finally {
    r.close();
  }
}

/** The status as the seed prints it. */
export function formatHypercubeStatus(st: HypercubeStatus): string {
  if (!st.exists) return `${st.file}: no /HyperCube/models yet (buildHyperCube)`;
  const pct = ((100 * st.tilesDone) / Math.max(1, st.tilesTotal)).toFixed(1);
  return [
    `models shape=(${st.shape!.join(", ")}) chunks=(${st.chunks!.join(", ")}) compression=${st.compression ?? "?"}`,
    `_done: ${st.tilesDone}/${st.tilesTotal} tiles complete (${pct}%)` +
      (st.tilesStale ? `, ${st.tilesStale} stale (computed from other inputs)` : ""),
    st.firstDone.length
      ? `first finished tiles (is,ic,ip): ${JSON.stringify(st.firstDone)}`
      : "no finished tiles yet.",
  ].join("\n");
}

// ---- build ---------------------------------------------------------------------------------

export interface BuildOptions {
  /** Tile = chunk shape (S_chunk, C_chunk, P_chunk). Defaults: defaultModelChunks; an existing
   * HyperCube keeps its chunks (asking for others is an error: repack to change them). */
  sChunk?: number;
  cChunk?: number;
  pChunk?: number;
  /** Worker threads. Default os.availableParallelism(). */
  workers?: number;
  /** Compression of a new models dataset. Default "none" (compress after: compressHypercube). */
  compression?: Compression;
  /** Tiles computed or waiting to be written at once. Default 2 x workers. */
  tilesInFlight?: number;
  /** Build even when the template guard is too small (edge models then see zeros). */
  allowUnsafeEdges?: boolean;
  /** Tiles done (including earlier runs') of the total, after each tile. */
  onProgress?: (done: number, total: number) => void;
  /** Stops between tiles; finished tiles stay. */
  signal?: AbortSignal;
}

export interface BuildReport {
  complete: boolean;
  tilesDone: number;
  tilesTotal: number;
  /** Tiles this call computed (the rest were done already). */
  tilesComputed: number;
  /** Models (s, c, p spectra) this call computed, and per second of the call. */
  modelsComputed: number;
  modelsPerSecond: number;
  chunks: ModelChunks;
  grid: [number, number, number];
  /** True when the file's previous writer had died (kill -9) and the store rebuilt the file
   * from its committed data before this build continued. */
  recovered: boolean;
  seconds: number;
}

/** Build (or continue building) /HyperCube/models; see the module comment. */
export async function buildHyperCube(file: string, opts: BuildOptions = {}): Promise<BuildReport> {
  const t0 = performance.now();
  const asked = [opts.sChunk, opts.cChunk, opts.pChunk];
  if (opts.workers !== undefined) requireInt("workers", opts.workers, 1);
  if (opts.tilesInFlight !== undefined) requireInt("tilesInFlight", opts.tilesInFlight, 1);

  // A read-only look: a complete HyperCube is not touched.
  let toDo: number;
  {
    const r = await StoreReader.open(file);
    try {
      const src = readerSource(r);
      const inputs = loadInputs(src);
      const { status, grid } = statusOf(src, inputs);
      if (grid) checkAsked(file, grid.chunks, asked);
      if (status.complete) return report(status, 0, 0, false, t0);
      toDo = grid
        ? status.tilesTotal - status.tilesDone
        : tileCount(inputs.dims, chosenChunks(inputs.dims, asked));
    } finally {
      r.close();
    }
  }
  if (opts.signal?.aborted) toDo = 0;

  // The workers start now, so that their start-up overlaps the writer's opening and reads.
  const workers = Math.min(opts.workers ?? os.availableParallelism(), toDo);
  const pool =
    workers > 0
      ? new WorkerPool<BuildThreadApi>(new URL("./build-thread", import.meta.url), workers)
      : undefined;
  try {
    const w = await StoreWriter.open(file, { provenance: { stage: STAGE } });
    try {
      return await buildWith(w, pool, asked, opts, t0);
    } catch (e) {
      w.abandon();
      throw e;
    }
  } finally {
    await pool?.close();
  }
}

function tileCount(dims: CubeDims, chunks: ModelChunks): number {
  return new TileGrid([dims.nSpat, dims.nComp, dims.nPop, dims.nLSpec], chunks).total;
}

/** The build proper, with the file's writer open (closed here on success). */
async function buildWith(
  w: StoreWriter,
  pool: WorkerPool<BuildThreadApi> | undefined,
  asked: (number | undefined)[],
  opts: BuildOptions,
  t0: number,
): Promise<BuildReport> {
  const file = w.path;
  // This thread holds the file as writer, so it reads through the writer (no reader may open it).
  const src = writerSource(w);
  const inputs = loadInputs(src);
  const { dims } = inputs;
  const guard = guardInfo(inputs.raw.temPix, inputs.raw.obsPix, inputs.raw.velPix);
  if (!guard.safe && !opts.allowUnsafeEdges) {
    throw new CubeFitError(
      "guard",
      `the templates extend ${guard.left_margin_px.toFixed(2)} / ${guard.right_margin_px.toFixed(2)} template pixels beyond the observed range, the LOSVD kernel needs ${guard.need_left_px} / ${guard.need_right_px}: models near the edges would see zeros beyond the templates. Widen the template grid (or pass allowUnsafeEdges)`,
      file,
    );
  }
  if (!src.has(CUBEFIT.models)) {
    const chunks = chosenChunks(dims, asked);
    checkChunks(dims, chunks);
    const grid = new TileGrid([dims.nSpat, dims.nComp, dims.nPop, dims.nLSpec], chunks);
    w.createGroup(HYPERCUBE_GROUP, {
      semantic:
        "models[s, c, p, :] = R_T^T (Templates[p] convolved with the LOSVD kernel of (s, c))",
      chunks_S: chunks[0],
      chunks_C: chunks[1],
      chunks_P: chunks[2],
      chunks_L: chunks[3],
      complete: false,
    });
    w.createDataset(
      CUBEFIT.models,
      fixedSpec("float32", [...grid.shape], {
        chunks: [...chunks],
        compression: opts.compression ?? "none",
        attrs: { semantic: "convolved and rebinned templates (S, C, P, L)" },
      }),
    );
    w.createDataset(
      CUBEFIT.modelsDone,
      fixedSpec("uint64", [...grid.counts], {
        chunks: [...grid.counts],
        attrs: {
          semantic:
            "completion stamp per tile (0 = not written; else a digest of the inputs the tile was computed from); done != 0",
        },
      }),
    );
  }
  // Readers (a live snapshot, the status) can follow from this commit on.
  w.commit();
  const { status, grid, expected, stored } = statusOf(src, inputs);
  checkAsked(file, grid!.chunks, asked);
  const pending: number[] = [];
  for (let b = 0; b < grid!.total; b++) if (stored![b] !== expected![b]) pending.push(b);
  let done = status.tilesDone;
  const total = grid!.total;
  opts.onProgress?.(done, total);
  let computed = 0;
  let models = 0;
  if (pool && pending.length && !opts.signal?.aborted) {
    const ctx = tileContext(inputs);
    await pool.each((r) => r.init(ctx));
    const limited = new InFlight(opts.tilesInFlight ?? 2 * pool.size);
    const modelsDs = w.dataset<"float32">(CUBEFIT.models);
    const doneDs = w.dataset<"uint64">(CUBEFIT.modelsDone);
    const L = dims.nLSpec;
    try {
      for (const b of pending) {
        if (opts.signal?.aborted) break;
        const box = grid!.tile(b);
        const slab = losvdSlab(inputs.losvd, dims, box);
        const work = pool.run((r) => r.tile(box, Comlink.transfer(slab, [slab.buffer])));
        await limited.add(
          work.then((data) => {
            // The tile's data reaches the file (commit) before its stamp does.
            const count = [box.s1 - box.s0, box.c1 - box.c0, box.p1 - box.p0, L];
            modelsDs.write([box.s0, box.c0, box.p0, 0], count, data);
            w.commit();
            doneDs.write(box.index, [1, 1, 1], BigUint64Array.of(expected![b]!));
            w.commit();
            computed++;
            models += count[0]! * count[1]! * count[2]!;
            done++;
            opts.onProgress?.(done, total);
          }),
        );
      }
      await limited.drain();
    } catch (e) {
      await limited.settle();
      throw e;
    }
  }
  const complete = done === total;
  w.setAttrs(HYPERCUBE_GROUP, { complete });
  w.close();
  return report(
    { ...status, tilesDone: done, complete },
    computed,
    models,
    w.recovered !== undefined,
    t0,
  );
}

function chosenChunks(dims: CubeDims, asked: (number | undefined)[]): ModelChunks {
  const d = defaultModelChunks(dims);
  return [asked[0] ?? d[0], asked[1] ?? d[1], asked[2] ?? d[2], dims.nLSpec];
}

function checkAsked(file: string, chunks: ModelChunks, asked: (number | undefined)[]): void {
  asked.forEach((a, i) => {
    if (a !== undefined && a !== chunks[i]) {
      throw new CubeFitError(
        "chunks",
        `/HyperCube/models exists with chunks [${chunks.join(", ")}]; asked for ${["sChunk", "cChunk", "pChunk"][i]} = ${a}. Use repackCubeFile(file, { chunks }) to change the tiling`,
        file,
      );
    }
  });
}

function report(
  st: HypercubeStatus,
  computed: number,
  models: number,
  recovered: boolean,
  t0: number,
): BuildReport {
  const seconds = (performance.now() - t0) / 1000;
  return {
    complete: st.complete,
    tilesDone: st.tilesDone,
    tilesTotal: st.tilesTotal,
    tilesComputed: computed,
    modelsComputed: models,
    modelsPerSecond: seconds > 0 ? models / seconds : 0,
    chunks: st.chunks!,
    grid: st.grid!,
    recovered,
    seconds,
  };
}

// ---- compress and repack -------------------------------------------------------------------

export interface RepackOptions {
  /** Compression of /HyperCube/models in the new file. Default: as it is. */
  compression?: Compression;
  /** New tiling (S_chunk, C_chunk, P_chunk); the stamps are recomputed for it. Default: as it is. */
  chunks?: [number, number, number];
}

export interface RepackReport {
  bytesBefore: number;
  bytesAfter: number;
  compression: string;
  chunks: ModelChunks | undefined;
  seconds: number;
}

/** A store Compression from the reader's description ("none", "gzip-4", "zstd-3", "blosc-lz4-5"). */
function compressionOf(desc: string): Compression {
  if (desc === "none") return "none";
  let m = /^gzip-(\d+)$/.exec(desc);
  if (m) return { gzip: Number(m[1]) };
  m = /^zstd-(\d+)$/.exec(desc);
  if (m) return { zstd: Number(m[1]) };
  m = /^blosc-(\w+)-(\d+)$/.exec(desc);
  if (m)
    return {
      blosc: {
        cname: m[1] as "lz4",
        clevel: Number(m[2]),
      },
    };
  throw new CubeFitError("compression", `cannot reproduce the filter "${desc}" in a copy`);
}

/**
 * Rewrite the whole file into a new one that atomically replaces it (HDF5 never shrinks a
 * file: this is how space comes back), optionally with /HyperCube/models compressed or
 * re-tiled. Every other dataset keeps its dtype, chunks and compression, every attribute is
 * copied. Holds the file's writer lock throughout; readers still open see the old file until
 * they re-open. Re-tiling needs a complete HyperCube (the new tiles' stamps are recomputed).
 */
export async function repackCubeFile(
  file: string,
  opts: RepackOptions = {},
): Promise<RepackReport> {
  const t0 = performance.now();
  const lock = acquireWriterLock(file, "cubefit.repack").lock;
  const tmp = `${file}.repack-${process.pid}`;
  try {
    const bytesBefore = fs.statSync(file).size;
    const r = await StoreReader.open(file);
    let w: StoreWriter | undefined;
    let compression = "none";
    let newChunks: ModelChunks | undefined;
    try {
      const src = readerSource(r);
      const hasModels = src.has(CUBEFIT.models);
      let loaded: HypercubeState | undefined;
      if (hasModels) {
        loaded = statusOf(src, loadInputs(src));
        newChunks = loaded.grid!.chunks;
        if (opts.chunks) {
          const dims = cubeDims(src);
          const c: ModelChunks = [...opts.chunks, dims.nLSpec];
          checkChunks(dims, c);
          if (c.join() !== newChunks.join() && !loaded.status.complete) {
            throw new CubeFitError(
              "chunks",
              `re-tiling needs a complete HyperCube (${loaded.status.tilesDone} of ${loaded.status.tilesTotal} tiles done): finish buildHyperCube first`,
              file,
            );
          }
          newChunks = c;
        }
      } else if (opts.chunks || opts.compression) {
        throw new CubeFitError(CUBEFIT.models, "missing; call buildHyperCube() first", file);
      }
      w = await StoreWriter.create(tmp, { overwrite: true });
      w.setAttrs("/", r.attrs("/"));
      const datasets: string[] = [];
      for (const node of r.tree("/")) {
        if (node.kind === "group") w.createGroup(node.path, r.attrs(node.path));
        else if (node.kind === "dataset") datasets.push(node.path);
      }
      const retiled = loaded && newChunks!.join() !== loaded.grid!.chunks.join();
      for (const ds of datasets) {
        const info = r.info(ds);
        let chunks = info.chunks ?? undefined;
        let comp = compressionOf(info.compression);
        let shape = info.shape;
        if (ds === CUBEFIT.models) {
          chunks = [...newChunks!];
          if (opts.compression) comp = opts.compression;
        }
        if (ds === CUBEFIT.modelsDone && retiled) {
          shape = [...new TileGrid(loaded!.grid!.shape, newChunks!).counts];
          chunks = shape;
        }
        w.createDataset(ds, {
          dtype: info.dtype,
          shape,
          maxshape: ds === CUBEFIT.modelsDone && retiled ? shape : info.maxshape,
          ...(chunks ? { chunks } : {}),
          compression: comp,
          attrs: info.attrs,
        });
      }
      for (const ds of datasets) {
        if (ds === CUBEFIT.models) {
          const grid = new TileGrid(loaded!.grid!.shape, newChunks!);
          const d = w.dataset<"float32">(ds);
          for (let b = 0; b < grid.total; b++) {
            const t = grid.tile(b);
            const start = [t.s0, t.c0, t.p0, 0];
            const count = [t.s1 - t.s0, t.c1 - t.c0, t.p1 - t.p0, grid.shape[3]];
            d.write(start, count, src.read(ds, start, count) as Float32Array);
          }
        } else if (ds === CUBEFIT.modelsDone && retiled) {
          const grid = new TileGrid(loaded!.grid!.shape, newChunks!);
          const inputs = loadInputs(src);
          w.dataset<"uint64">(ds).write([0, 0, 0], [...grid.counts], expectedStamps(inputs, grid));
        } else copyRows(src, w, ds, r.info(ds).dtype);
      }
      compression = describe(opts.compression, r, hasModels);
      w.close();
      w = undefined;
    } catch (e) {
      w?.abandon();
      throw e;
    } finally {
      r.close();
    }
    const fd = fs.openSync(tmp, "r");
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, file);
    return {
      bytesBefore,
      bytesAfter: fs.statSync(file).size,
      compression,
      chunks: newChunks,
      seconds: (performance.now() - t0) / 1000,
    };
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  } finally {
    lock.release();
  }
}

function describe(asked: Compression | undefined, r: StoreReader, hasModels: boolean): string {
  if (!hasModels) return "none";
  if (asked === undefined) return r.info(CUBEFIT.models).compression;
  if (asked === "none") return "none";
  if (asked === "gzip") return "gzip-4";
  if (typeof asked === "object" && "gzip" in asked) return `gzip-${asked.gzip}`;
  return JSON.stringify(asked);
}

/** Copy a dataset in blocks of whole rows of at most SLAB_BYTES. */
function copyRows(src: CubeSource, w: StoreWriter, ds: string, dtype: DType): void {
  const shape = src.shape(ds);
  if (shape.some((d) => d === 0)) return;
  const rowBytes = shape.slice(1).reduce((a, b) => a * b, 1) * itemBytes(dtype);
  const rows = Math.max(1, Math.floor(SLAB_BYTES / Math.max(1, rowBytes)));
  for (let r0 = 0; r0 < shape[0]!; r0 += rows) {
    const n = Math.min(rows, shape[0]! - r0);
    const start = [r0, ...shape.slice(1).map(() => 0)];
    const count = [n, ...shape.slice(1)];
    w.dataset(ds).write(start, count, src.read(ds, start, count) as never);
  }
}

/**
 * Compress /HyperCube/models after the build (the seed's compress_hypercube_inplace): an atomic
 * rewrite of the file with gzip (default level 2; h5wasm applies one filter per dataset, so no
 * separate shuffle filter).
 */
export function compressHypercube(
  file: string,
  opts: { compression?: Compression } = {},
): Promise<RepackReport> {
  return repackCubeFile(file, { compression: opts.compression ?? { gzip: 2 } });
}
