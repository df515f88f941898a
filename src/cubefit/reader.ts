/**
 * Reading the HyperCube for a fit, and the model cube y_hat = A x.
 *
 * HyperCubeReader streams spaxel slabs read-only (SWMR: it works while another process
 * writes the file, e.g. a fit tracker) and hands a solver each spaxel's design block: the
 * (C * P, L_masked) float64 rows models[s, c, p, mask] (row c * P + p, as x is indexed) and
 * the observed y[s, mask] (readSpaxel, spaxels), or the same pixel-major (spaxel(s): the
 * solvers' DesignSource). The mask is applied the same way to both, so the "row L mismatch"
 * of the seed's troubleshooting cannot happen.
 *
 * reconstructModelCube writes /ModelCube (S, L) float64 = sum_{c,p} models[s, c, p, :]
 * x[c * P + p], in slabs of spaxels aligned to the models' S chunks (the last one shorter),
 * reading models in float32 blocks bounded by a byte budget and accumulating in float64. Each
 * slab is committed with a completion stamp (a digest of x and of the HyperCube's stamps), so
 * an interrupted run resumes, and a run with the same x on the same models is skipped.
 */
import { StoreReader, StoreWriter } from "../store/index.js";
import { CubeFitError } from "./errors.js";
import {
  Digest,
  fixedSpec,
  readerSource,
  SLAB_BYTES,
  writerSource,
  type CubeSource,
} from "./file.js";
import { loadInputs, statusOf, type HypercubeStatus, type ModelChunks } from "./hypercube.js";
import { CUBEFIT, type CubeDims } from "./layout.js";

/** One spaxel's rows for a solver. */
export interface SpaxelBlock {
  s: number;
  /** (C * P, Lm) row-major: A[(c * P + p) * Lm + j] = models[s, c, p, pixels[j]]. */
  A: Float64Array;
  /** (Lm,) observed spectrum at the used pixels. */
  y: Float64Array;
}

export interface HyperCubeReaderOptions {
  /** Refuse a HyperCube with tiles missing or stale (default true). */
  requireComplete?: boolean;
  /** The store reader's chunk cache (default 64 MiB). */
  chunkCacheBytes?: number;
}

function requireCompleteStatus(st: HypercubeStatus): void {
  if (!st.exists)
    throw new CubeFitError(CUBEFIT.models, "missing; call buildHyperCube() first", st.file);
  if (!st.complete) {
    throw new CubeFitError(
      CUBEFIT.models,
      `incomplete: ${st.tilesDone} of ${st.tilesTotal} tiles done (${st.tilesStale} stale, ${st.tilesMissing} missing); run buildHyperCube() to finish`,
      st.file,
    );
  }
}

export class HyperCubeReader {
  readonly S: number;
  readonly C: number;
  readonly P: number;
  readonly L: number;
  /** Used pixels (mask = 1), increasing; all of them without /Mask. */
  readonly pixels: Int32Array;
  /** (L,) 1 = use. */
  readonly mask: Uint8Array;

  private constructor(
    private readonly r: StoreReader,
    readonly file: string,
    readonly dims: CubeDims,
    readonly status: HypercubeStatus,
  ) {
    const { nSpat: S, nComp: C, nPop: P, nLSpec: L } = dims;
    this.S = S;
    this.C = C;
    this.P = P;
    this.L = L;
    const src = readerSource(r);
    this.mask = src.has(CUBEFIT.mask)
      ? Uint8Array.from(src.read(CUBEFIT.mask) as Uint8Array, (v) => (v ? 1 : 0))
      : new Uint8Array(L).fill(1);
    const used: number[] = [];
    this.mask.forEach((v, l) => v && used.push(l));
    this.pixels = Int32Array.from(used);
  }

  static async open(file: string, opts: HyperCubeReaderOptions = {}): Promise<HyperCubeReader> {
    const r = await StoreReader.open(file, {
      ...(opts.chunkCacheBytes !== undefined ? { chunkCacheBytes: opts.chunkCacheBytes } : {}),
    });
    try {
      const src = readerSource(r);
      const inputs = loadInputs(src);
      const { status } = statusOf(src, inputs, undefined);
      if (opts.requireComplete ?? true) requireCompleteStatus(status);
      else if (!status.exists)
        throw new CubeFitError(CUBEFIT.models, "missing; call buildHyperCube() first", file);
      return new HyperCubeReader(r, file, inputs.dims, status);
    } catch (e) {
      r.close();
      throw e;
    }
  }

  /** Used pixels (L_masked). */
  get Lm(): number {
    return this.pixels.length;
  }

  /** The models' chunks (S_chunk, C_chunk, P_chunk, L): read whole S chunks when streaming. */
  get chunks(): ModelChunks {
    return this.status.chunks!;
  }

  private checkRange(s0: number, s1: number): void {
    if (!Number.isInteger(s0) || !Number.isInteger(s1) || s0 < 0 || s1 > this.S || s0 >= s1)
      throw new CubeFitError(
        "spaxels",
        `[${s0}, ${s1}) is not a non-empty range inside [0, ${this.S})`,
        this.file,
      );
  }

  /** models[s0:s1] as stored: (s1 - s0, C, P, L) float32. */
  readModels(s0: number, s1: number): Float32Array {
    this.checkRange(s0, s1);
    return this.r.read<"float32">(CUBEFIT.models, [[s0, s1], null, null, null]).data;
  }

  /** The observed spectra [s0, s1) (all pixels): (s1 - s0, L) float64. */
  readData(s0: number, s1 = s0 + 1): Float64Array {
    this.checkRange(s0, s1);
    return this.r.read<"float64">(CUBEFIT.dataCube, [[s0, s1], null]).data;
  }

  /** Spaxels (the solvers' DesignSource, solve/design.ts). */
  get nSpaxels(): number {
    return this.S;
  }

  /** Columns of the global design: C * P (x is indexed c * P + p). */
  get nCols(): number {
    return this.C * this.P;
  }

  /**
   * Spaxel s's rows, pixel-major, as the solvers read them (DesignSource): row j (used pixel
   * pixels[j]) is a[j * nCols .. (j + 1) * nCols) = models[s, :, :, pixels[j]] (float64), so a
   * Kaczmarz step reads one contiguous row. Fresh arrays (`owned`).
   */
  spaxel(s: number): Promise<{ a: Float64Array; y: Float64Array; pixels: number; owned: true }> {
    const { L, pixels } = this;
    const n = this.nCols;
    const Lm = pixels.length;
    const m = this.readModels(s, s + 1);
    const a = new Float64Array(Lm * n);
    for (let j = 0; j < n; j++) {
      const from = j * L;
      for (let i = 0; i < Lm; i++) a[i * n + j] = m[from + pixels[i]!]!;
    }
    const data = this.readData(s);
    const y = Float64Array.from(pixels, (l) => data[l]!);
    return Promise.resolve({ a, y, pixels: Lm, owned: true });
  }

  /** Spaxel s's design block and data at the used pixels (float64). */
  readSpaxel(s: number): SpaxelBlock {
    return this.blocks(s, this.readModels(s, s + 1), this.readData(s), 0);
  }

  private blocks(s: number, models: Float32Array, data: Float64Array, i: number): SpaxelBlock {
    const { C, P, L, pixels } = this;
    const Lm = pixels.length;
    const A = new Float64Array(C * P * Lm);
    const base = i * C * P * L;
    for (let row = 0; row < C * P; row++) {
      const from = base + row * L;
      const to = row * Lm;
      for (let j = 0; j < Lm; j++) A[to + j] = models[from + pixels[j]!]!;
    }
    const y = new Float64Array(Lm);
    for (let j = 0; j < Lm; j++) y[j] = data[i * L + pixels[j]!]!;
    return { s, A, y };
  }

  /**
   * Every spaxel in [from, to), in order, read a slab of whole S chunks at a time (at most
   * maxBytes of float32 models, default 64 MiB; at least one spaxel).
   */
  *spaxels(from = 0, to = this.S, maxBytes = SLAB_BYTES): Generator<SpaxelBlock> {
    this.checkRange(from, to);
    const perSpaxel = this.C * this.P * this.L * 4;
    const sc = this.chunks[0];
    let n = Math.max(1, Math.floor(maxBytes / perSpaxel));
    if (n >= sc) n -= n % sc;
    for (let s0 = from; s0 < to;) {
      // With n a whole number of chunks, every slab but the first ends on a chunk boundary:
      // no chunk is read twice.
      const end = n >= sc ? Math.floor(s0 / sc) * sc + n : s0 + n;
      const s1 = Math.min(to, end);
      const models = this.readModels(s0, s1);
      const data = this.readData(s0, s1);
      for (let s = s0; s < s1; s++) yield this.blocks(s, models, data, s - s0);
      s0 = s1;
    }
  }

  /** Re-open to see what a writer committed since; true when something changed. */
  refresh(): boolean {
    return this.r.refresh();
  }

  close(): void {
    this.r.close();
  }
}

// ---- the model cube ------------------------------------------------------------------------

export interface ReconstructOptions {
  /** Output dataset (S, L) float64. Default "/ModelCube". */
  arrayName?: string;
  /** Spaxels per slab (and the output's chunk rows). Default: the models' S chunk. */
  sTile?: number;
  /** Float32 models held at once. Default 64 MiB (at least one spaxel x one P chunk). */
  maxBytesPerSlab?: number;
  /** Recompute even when the output matches x. */
  force?: boolean;
  /** Slabs done of the total, after each slab. */
  onProgress?: (done: number, total: number) => void;
  /** Stops between slabs; finished slabs stay. */
  signal?: AbortSignal;
}

export interface ReconstructReport {
  /** True when the output already matched x and the models: nothing was computed. */
  skipped: boolean;
  complete: boolean;
  slabsTotal: number;
  slabsComputed: number;
  /** sha256 of x (float64 bytes), hex: the output's x_digest attribute. */
  xDigest: string;
  arrayName: string;
  seconds: number;
}

interface Plan {
  dims: CubeDims;
  chunks: ModelChunks;
  sTile: number;
  stamps: BigUint64Array;
  modelsDigest: string;
  pending: number[];
}

function planOf(
  src: CubeSource,
  name: string,
  x: Float64Array,
  xDigest: string,
  opts: ReconstructOptions,
): Plan {
  const inputs = loadInputs(src);
  const state = statusOf(src, inputs);
  requireCompleteStatus(state.status);
  const dims = inputs.dims;
  const { nSpat: S, nLSpec: L, nComp: C, nPop: P } = dims;
  if (x.length !== C * P)
    throw new CubeFitError("x", `has ${x.length} values, C * P = ${C * P}`, src.file);
  const chunks = state.grid!.chunks;
  const modelsDigest = new Digest().add(state.expected!).hex();
  const doneName = `${name}_done`;
  let sTile = opts.sTile ?? chunks[0];
  if (src.has(name)) {
    const shape = src.shape(name);
    if (shape.join() !== [S, L].join() || src.dtype(name) !== "float64")
      throw new CubeFitError(
        name,
        `is ${src.dtype(name)} (${shape.join(", ")}), expected float64 (S, L) = (${S}, ${L})`,
        src.file,
      );
    const have = src.chunks(name)?.[0] ?? S;
    if (opts.sTile !== undefined && opts.sTile !== have)
      throw new CubeFitError(
        "sTile",
        `${name} exists with ${have} spaxels per chunk; asked for ${opts.sTile}`,
        src.file,
      );
    sTile = have;
  }
  if (!Number.isInteger(sTile) || sTile < 1 || sTile > S)
    throw new CubeFitError("sTile", `must be an integer in [1, ${S}], got ${sTile}`, src.file);
  const nSlabs = Math.ceil(S / sTile);
  const stamps = new BigUint64Array(nSlabs);
  for (let i = 0; i < nSlabs; i++)
    stamps[i] = new Digest()
      .add("cubefit.modelcube/1", xDigest, modelsDigest, i * sTile, Math.min(S, (i + 1) * sTile))
      .stamp();
  let stored: BigUint64Array = new BigUint64Array(nSlabs);
  if (src.has(name) && src.has(doneName) && src.shape(doneName)[0] === nSlabs)
    stored = src.read(doneName) as BigUint64Array;
  const pending: number[] = [];
  for (let i = 0; i < nSlabs; i++) if (opts.force || stored[i] !== stamps[i]) pending.push(i);
  return { dims, chunks, sTile, stamps, modelsDigest, pending };
}

/**
 * Write /ModelCube (or `arrayName`) = A x for a complete HyperCube; see the module comment.
 * x is indexed c * P + p; any finite values (a fit's x is non-negative, a difference need not be).
 */
export async function reconstructModelCube(
  file: string,
  xIn: ArrayLike<number>,
  opts: ReconstructOptions = {},
): Promise<ReconstructReport> {
  const t0 = performance.now();
  const name = opts.arrayName
    ? opts.arrayName.startsWith("/")
      ? opts.arrayName
      : `/${opts.arrayName}`
    : CUBEFIT.modelCube;
  const x = Float64Array.from(xIn);
  x.forEach((v, i) => {
    if (!Number.isFinite(v)) throw new CubeFitError("x", `x[${i}] is ${v}`, file);
  });
  const xDigest = new Digest().add(x).hex();
  const done = (
    skipped: boolean,
    complete: boolean,
    total: number,
    computed: number,
  ): ReconstructReport => ({
    skipped,
    complete,
    slabsTotal: total,
    slabsComputed: computed,
    xDigest,
    arrayName: name,
    seconds: (performance.now() - t0) / 1000,
  });

  // Read-only first: a current output is not touched.
  {
    const r = await StoreReader.open(file);
    try {
      const plan = planOf(readerSource(r), name, x, xDigest, opts);
      if (plan.pending.length === 0) {
        opts.onProgress?.(plan.stamps.length, plan.stamps.length);
        return done(true, true, plan.stamps.length, 0);
      }
    } finally {
      r.close();
    }
  }

  const w = await StoreWriter.open(file, { provenance: { stage: "cubefit.reconstructModelCube" } });
  try {
    const src = writerSource(w);
    const doneName = `${name}_done`;
    const first = planOf(src, name, x, xDigest, opts);
    const { nSpat: S, nLSpec: L, nComp: C, nPop: P } = first.dims;
    if (!src.has(name)) {
      w.createDataset(
        name,
        fixedSpec("float64", [S, L], {
          chunks: [first.sTile, L],
          attrs: { semantic: "model cube sum_{c,p} models[s, c, p, :] x[c * P + p]" },
        }),
      );
    }
    if (!src.has(doneName)) {
      w.createDataset(
        doneName,
        fixedSpec("uint64", [first.stamps.length], {
          attrs: {
            semantic: `completion stamp per slab of ${first.sTile} spaxels of ${name} (digest of x and the models)`,
          },
        }),
      );
    }
    w.commit();
    const plan = planOf(src, name, x, xDigest, opts);
    const total = plan.stamps.length;
    let finished = total - plan.pending.length;
    opts.onProgress?.(finished, total);
    const budget = opts.maxBytesPerSlab ?? SLAB_BYTES;
    const pc = plan.chunks[2];
    const models = w.dataset<"float32">(CUBEFIT.models);
    let computed = 0;
    for (const i of plan.pending) {
      if (opts.signal?.aborted) break;
      const s0 = i * plan.sTile;
      const ds = Math.min(S, s0 + plan.sTile) - s0;
      // Populations per read: whole P chunks within the budget (at least one).
      const perP = ds * C * L * 4;
      let dp = Math.max(1, Math.floor(budget / perP));
      dp = dp >= pc ? dp - (dp % pc) : dp;
      dp = Math.min(P, dp);
      const acc = new Float64Array(ds * L);
      for (let p0 = 0; p0 < P; p0 += dp) {
        const np = Math.min(dp, P - p0);
        const m = models.read([s0, 0, p0, 0], [ds, C, np, L]);
        for (let si = 0; si < ds; si++)
          for (let c = 0; c < C; c++)
            for (let pi = 0; pi < np; pi++) {
              const xv = x[c * P + p0 + pi]!;
              if (xv === 0) continue;
              const from = ((si * C + c) * np + pi) * L;
              const to = si * L;
              for (let l = 0; l < L; l++) acc[to + l] = acc[to + l]! + m[from + l]! * xv;
            }
      }
      w.dataset<"float64">(name).write([s0, 0], [ds, L], acc);
      w.commit();
      w.dataset<"uint64">(doneName).write([i], [1], BigUint64Array.of(plan.stamps[i]!));
      w.commit();
      computed++;
      finished++;
      opts.onProgress?.(finished, total);
    }
    const complete = finished === total;
    w.setAttrs(name, {
      x_digest: xDigest,
      models_digest: plan.modelsDigest,
      complete,
      s_tile: plan.sTile,
    });
    w.close();
    return done(false, complete, total, computed);
  } catch (e) {
    w.abandon();
    throw e;
  }
}

/** The stored x digest of a model cube (undefined when absent). */
export async function modelCubeDigest(
  file: string,
  arrayName = CUBEFIT.modelCube,
): Promise<string | undefined> {
  const r = await StoreReader.open(file);
  try {
    const src = readerSource(r);
    if (!src.has(arrayName)) return undefined;
    const d = r.attrs(arrayName)["x_digest"];
    return typeof d === "string" ? d : undefined;
  } finally {
    r.close();
  }
}
