/**
 * The seed's global Kaczmarz fit: one non-negative x[C*P] for every spaxel at once. Per
 * epoch, per spaxel, `pixelsPerAperture` rows get a standard Kaczmarz step in float64
 *
 *   x <- x + lr * (y_l - a_l . x) / ||a_l||^2 * a_l,   then x <- max(x, 0)
 *
 * with no per-column prior scaling (the seed's rule), plus an optional scale-invariant ratio
 * penalty that nudges the component sums s_c = sum_p x[c*P + p] toward the orbit weights.
 *
 * A fixed-step projected Kaczmarz reaches only a neighbourhood of the NNLS optimum on noisy
 * data; nnls.ts gives the exact optimum (with a KKT certificate) and measures how far this
 * solution is from it. This one is the live, resumable, RAM-bounded fit.
 *
 * Threads. The loop runs on one thread on purpose, and has no `threads` knob. Every step
 * reads and writes all of x (the rows are dense), so each row depends on the previous one:
 * splitting one row's dot product over threads costs a synchronisation per row (microseconds,
 * as long as the row itself at nCols ~ 3000), and lock-free shared-x updates (Hogwild) make
 * every step bounce all of x's cache lines between cores. The remaining option, threads that
 * each run rows on a private copy of x and then average, was simulated on a consistent
 * 16-spaxel problem (C=4, P=6, 64 rows per thread per round, 300 rounds, lr 0.25): plain
 * averaging ends at the same residual as one thread (8.4e-6 vs 8.8e-6 relative, 2 or 4
 * threads), i.e. no gain per unit of wall-clock. Extrapolated averaging (x += 1.5 * mean
 * step) at lr 0.25 matched one thread at lr 0.375 (a larger step in disguise); at lr 1 it
 * did gain (1e-9 vs 1.9e-8 after 300 rounds), but with 2x extrapolation it diverged. So more
 * threads would change the seed's semantics (lr, per-spaxel batches, ratio steps, hooks) for
 * a gain that depends on the problem and on tuning. What does overlap is reading: the next
 * spaxel is requested before the current one is processed, so a DesignSource that reads in a
 * worker thread (HDF5 decode, f32 -> f64) runs beside the math. The exact solver's
 * normal-equation pass (gram.ts), which is compute-bound and splits by spaxel, does use threads.
 */
import { Rng } from "../../synth/random.js";
import { checkSpaxel, type DesignSource, type SpaxelRows } from "./design.js";
import { CubeFitSolveError, requireInt, requireRange, requireVector } from "./errors.js";
import { wasmRowKernel } from "./kaczmarz-wasm.js";

export type RowOrder = "random" | "sequential";

export interface BatchInfo {
  epoch: number;
  /** Index of the spaxel just processed. */
  spaxel: number;
  /** Position of that spaxel in this epoch (0-based). */
  step: number;
  /** Epochs completed as a fraction (epoch + (step + 1) / nSpaxels), for time series. */
  epochsDone: number;
  /** The live solution: read it or copy it, do not keep it (it changes with the next row). */
  x: Float64Array;
}

export interface EpochInfo {
  epoch: number;
  x: Float64Array;
  /** sqrt(mean of the squared pre-step residuals of the rows used in this epoch). */
  trainRmse: number;
  rows: number;
}

export interface KaczmarzProgress {
  epoch: number;
  epochs: number;
  spaxelsDone: number;
  nSpaxels: number;
  rows: number;
  /** 0..1 over the whole run. */
  fraction: number;
}

export interface RatioOptions {
  /** Per-component prior weights w (length C); turns the ratio penalty on by default. */
  orbitWeights?: ArrayLike<number>;
  /** undefined: on exactly when orbitWeights is given. */
  ratioUse?: boolean;
  /** Probability of a ratio step after each data row. Default 0.02. */
  ratioProb?: number;
  /** Step size of a ratio step. Default 0.1 * lr. */
  ratioEta?: number;
  /** "auto": the component with the largest weight. */
  ratioAnchor?: "auto" | number;
  /**
   * Components with w_c < ratioMinWeight * max(w) get no ratio steps (their target ratio is
   * too small to be meaningful). Relative to max(w), as the seed says. Default 0: all.
   */
  ratioMinWeight?: number;
  /** Components nudged per ratio step (drawn without replacement). Default 2. */
  ratioBatch?: number;
}

export interface KaczmarzOptions extends RatioOptions {
  /** Default 1. */
  epochs?: number;
  /** K rows per spaxel per epoch (all of them when the spaxel has fewer). Default 256. */
  pixelsPerAperture?: number;
  /** Relaxation of each step. Default 0.25. */
  lr?: number;
  /** Clamp x at 0 after every step. Default true. */
  projectNonneg?: boolean;
  /**
   * "random": K distinct rows drawn afresh per spaxel and epoch. "sequential": K consecutive
   * rows starting where the previous epoch stopped (wrapping), so epochs cover every pixel.
   */
  rowOrder?: RowOrder;
  /** Seed of the row and ratio-step draws (and of the Jacobi seed's pixels). Default 0. */
  seed?: number;
  /** Warm start. Overrides the seeding (resume priority is resolveStart's job). */
  x0?: Float64Array;
  /** Spaxels and pixels per spaxel of the streaming-Jacobi seed. Defaults 16 and K. */
  seedSpaxels?: number;
  seedPixels?: number;
  /** Rescale the Jacobi seed by the least-squares factor on its subset. Default true. */
  seedRescale?: boolean;
  /** Once per spaxel, with the RMSE of that spaxel's pre-step residuals. Awaited if it returns a promise. */
  onBatch?: (rmse: number, info: BatchInfo) => void | Promise<unknown>;
  /** After each epoch. Awaited if it returns a promise. */
  onEpochEnd?: (info: EpochInfo) => void | Promise<unknown>;
  /** After each spaxel. */
  onProgress?: (p: KaczmarzProgress) => void;
  /** Checked between spaxels: the run stops and returns what it has (aborted: true). */
  signal?: AbortSignal;
}

export interface KaczmarzResult {
  x: Float64Array;
  /** Where x started: the caller's x0 or the streaming-Jacobi seed. */
  start: "x0" | "jacobi";
  /** Epochs completed. */
  epochs: number;
  /** Kaczmarz data rows applied. */
  rows: number;
  ratioSteps: number;
  /** trainRmse of each completed epoch. */
  epochRmse: number[];
  seconds: number;
  rowsPerSec: number;
  aborted: boolean;
}

/** The resolved knobs (defaults applied), as they run. */
export interface KaczmarzConfig {
  epochs: number;
  pixelsPerAperture: number;
  lr: number;
  projectNonneg: boolean;
  rowOrder: RowOrder;
  seed: number;
  ratio: RatioPlan | undefined;
}

export interface RatioPlan {
  /** C and P (x index c*P + p). */
  nComp: number;
  nPop: number;
  weights: Float64Array;
  anchor: number;
  /** Components that get ratio steps (never the anchor). */
  eligible: Int32Array;
  prob: number;
  eta: number;
  batch: number;
}

/** Apply the defaults and check every knob; throws CubeFitSolveError naming the bad one. */
export function kaczmarzConfig(nCols: number, opts: KaczmarzOptions = {}): KaczmarzConfig {
  const epochs = opts.epochs ?? 1;
  requireInt("epochs", epochs, 0);
  const pixelsPerAperture = opts.pixelsPerAperture ?? 256;
  requireInt("pixelsPerAperture", pixelsPerAperture, 1);
  const lr = opts.lr ?? 0.25;
  // Kaczmarz relaxation converges for 0 < lr < 2.
  if (!(lr > 0 && lr < 2)) throw new CubeFitSolveError("lr", `must be in (0, 2), got ${lr}`);
  const rowOrder = opts.rowOrder ?? "random";
  if (rowOrder !== "random" && rowOrder !== "sequential")
    throw new CubeFitSolveError(
      "rowOrder",
      `must be "random" or "sequential", got ${String(rowOrder)}`,
    );
  const seed = opts.seed ?? 0;
  if (!Number.isFinite(seed)) throw new CubeFitSolveError("seed", `must be a number, got ${seed}`);
  return {
    epochs,
    pixelsPerAperture,
    lr,
    projectNonneg: opts.projectNonneg ?? true,
    rowOrder,
    seed,
    ratio: ratioPlan(nCols, lr, opts),
  };
}

/** The ratio penalty's plan, or undefined when it is off. */
export function ratioPlan(nCols: number, lr: number, opts: RatioOptions): RatioPlan | undefined {
  const w = opts.orbitWeights;
  const use = opts.ratioUse ?? w !== undefined;
  if (!use) return undefined;
  if (!w || w.length === 0)
    throw new CubeFitSolveError(
      "ratioUse",
      "the ratio penalty needs orbitWeights (one per component)",
    );
  const C = w.length;
  if (nCols % C !== 0)
    throw new CubeFitSolveError(
      "orbitWeights",
      `has ${C} components, which does not divide nCols = ${nCols} (x is C*P)`,
    );
  const weights = Float64Array.from(w);
  let wmax = -Infinity;
  let argmax = 0;
  for (let c = 0; c < C; c++) {
    if (!(weights[c]! >= 0))
      throw new CubeFitSolveError("orbitWeights", `entry ${c} is ${weights[c]} (must be >= 0)`);
    if (weights[c]! > wmax) {
      wmax = weights[c]!;
      argmax = c;
    }
  }
  if (!(wmax > 0)) throw new CubeFitSolveError("orbitWeights", "are all zero: no ratio to match");
  const anchorOpt = opts.ratioAnchor ?? "auto";
  const anchor = anchorOpt === "auto" ? argmax : anchorOpt;
  if (!Number.isInteger(anchor) || anchor < 0 || anchor >= C)
    throw new CubeFitSolveError(
      "ratioAnchor",
      `must be "auto" or a component in [0, ${C}), got ${anchorOpt}`,
    );
  if (!(weights[anchor]! > 0))
    throw new CubeFitSolveError(
      "ratioAnchor",
      `component ${anchor} has weight 0: ratios to it are undefined`,
    );
  const minW = opts.ratioMinWeight ?? 0;
  requireRange("ratioMinWeight", minW, 0, 1);
  const eligible: number[] = [];
  for (let c = 0; c < C; c++) if (c !== anchor && weights[c]! >= minW * wmax) eligible.push(c);
  const prob = opts.ratioProb ?? 0.02;
  requireRange("ratioProb", prob, 0, 1);
  const eta = opts.ratioEta ?? 0.1 * lr;
  requireRange("ratioEta", eta, 0, 2);
  const batch = opts.ratioBatch ?? 2;
  requireInt("ratioBatch", batch, 1);
  return {
    nComp: C,
    nPop: nCols / C,
    weights,
    anchor,
    eligible: Int32Array.from(eligible),
    prob,
    eta,
    batch,
  };
}

/**
 * One ratio step: for `batch` components c drawn from the eligible ones, a relaxed Kaczmarz
 * projection onto the hyperplane s_c - (w_c / w_i) s_i = 0 (i the anchor). The row has +1 on
 * component c's P entries and -w_c/w_i on the anchor's, so ||row||^2 = P (1 + rho^2) and the
 * step moves the pair toward the prior ratio by a fraction eta, whatever the global flux.
 * Returns the number of components nudged.
 */
export function ratioStep(
  x: Float64Array,
  plan: RatioPlan,
  rng: Rng,
  project: boolean,
  scratch: Int32Array = new Int32Array(plan.eligible.length),
): number {
  const { nPop: P, anchor, eligible, weights, eta } = plan;
  const m = eligible.length;
  if (m === 0) return 0;
  const k = Math.min(plan.batch, m);
  scratch.set(eligible);
  const ia = anchor * P;
  for (let t = 0; t < k; t++) {
    // Partial Fisher-Yates: distinct components.
    const pick = t + Math.floor(rng.next() * (m - t));
    const c = scratch[pick]!;
    scratch[pick] = scratch[t]!;
    scratch[t] = c;
    const rho = weights[c]! / weights[anchor]!;
    const ic = c * P;
    let sc = 0;
    let si = 0;
    for (let p = 0; p < P; p++) {
      sc += x[ic + p]!;
      si += x[ia + p]!;
    }
    const res = rho * si - sc; // 0 - row . x
    const coef = (eta * res) / (P * (1 + rho * rho));
    const dAnchor = -rho * coef;
    for (let p = 0; p < P; p++) {
      const vc = x[ic + p]! + coef;
      const vi = x[ia + p]! + dAnchor;
      x[ic + p] = project && vc < 0 ? 0 : vc;
      x[ia + p] = project && vi < 0 ? 0 : vi;
    }
  }
  return k;
}

/**
 * One Kaczmarz step on row `off` of `a` (n entries): returns the pre-step residual.
 * The dot product and the row norm share one pass (four accumulators each: a single add
 * chain would wait on floating-point latency), the update and the projection the other.
 * solveKaczmarz runs it as a wasm SIMD kernel with the same bits (kaczmarz-wasm.ts); this is
 * that kernel's reference, and the fallback where there is no wasm SIMD.
 */
export function kaczmarzRow(
  a: Float64Array,
  off: number,
  yl: number,
  x: Float64Array,
  n: number,
  lr: number,
  project: boolean,
): number {
  let d0 = 0,
    d1 = 0,
    d2 = 0,
    d3 = 0,
    q0 = 0,
    q1 = 0,
    q2 = 0,
    q3 = 0;
  let j = 0;
  for (; j + 3 < n; j += 4) {
    const a0 = a[off + j]!,
      a1 = a[off + j + 1]!,
      a2 = a[off + j + 2]!,
      a3 = a[off + j + 3]!;
    d0 += a0 * x[j]!;
    d1 += a1 * x[j + 1]!;
    d2 += a2 * x[j + 2]!;
    d3 += a3 * x[j + 3]!;
    q0 += a0 * a0;
    q1 += a1 * a1;
    q2 += a2 * a2;
    q3 += a3 * a3;
  }
  for (; j < n; j++) {
    const v = a[off + j]!;
    d0 += v * x[j]!;
    q0 += v * v;
  }
  const r = yl - (d0 + d1 + (d2 + d3));
  const nrm = q0 + q1 + (q2 + q3);
  // An all-zero row (a masked-out or empty model) carries no information.
  if (!(nrm > 0)) return r;
  const step = (lr * r) / nrm;
  if (project) {
    for (let i = 0; i < n; i++) {
      const v = x[i]! + step * a[off + i]!;
      x[i] = v > 0 ? v : 0;
    }
  } else {
    for (let i = 0; i < n; i++) x[i] = x[i]! + step * a[off + i]!;
  }
  return r;
}

/**
 * Choose min(K, pixels) rows of a spaxel into `out` and return how many: "random" draws
 * distinct rows (partial Fisher-Yates over `perm`, which needs `pixels` entries);
 * "sequential" takes K consecutive rows from (epoch * K) mod pixels, wrapping.
 */
export function chooseRows(
  out: Int32Array,
  perm: Int32Array,
  pixels: number,
  K: number,
  order: RowOrder,
  epoch: number,
  rng: Rng,
): number {
  const k = Math.min(K, pixels);
  if (order === "sequential") {
    const start = (epoch * K) % pixels;
    for (let i = 0; i < k; i++) out[i] = (start + i) % pixels;
    return k;
  }
  for (let i = 0; i < pixels; i++) perm[i] = i;
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(rng.next() * (pixels - i));
    const t = perm[j]!;
    perm[j] = perm[i]!;
    perm[i] = t;
    out[i] = t;
  }
  return k;
}

export interface JacobiSeedOptions {
  /** Spaxels used (evenly spread over the cube). Default 16. */
  spaxels?: number;
  /** Random pixels per spaxel. Default 256. */
  pixels?: number;
  seed?: number;
  /** Least-squares rescale on the subset (see below). Default true. */
  rescale?: boolean;
}

/**
 * The seed's streaming-Jacobi initializer: over a small Ns x K subset of rows,
 * d += a*a, b += a*y, and x0 = max(b / (d + eps), 0), with eps = 1e-12 * max(d) so a column
 * that never appears gets 0 rather than a division by zero.
 *
 * Each x0_j fits the data alone, as if no other column existed, so with many overlapping
 * columns sum_j a_j x0_j overshoots y by about the number of columns. With `rescale` x0 is
 * multiplied by the factor alpha minimizing ||alpha A_sub x0 - y_sub|| on the same rows
 * (one more pass over the subset), which keeps the shape of the seed and fixes its scale;
 * the first Kaczmarz epoch otherwise spends its rows undoing the overshoot.
 */
export async function jacobiSeed(
  design: DesignSource,
  opts: JacobiSeedOptions = {},
): Promise<Float64Array> {
  const n = design.nCols;
  const S = design.nSpaxels;
  const ns = Math.min(opts.spaxels ?? 16, S);
  const K = opts.pixels ?? 256;
  requireInt("seedSpaxels", ns, S > 0 ? 1 : 0);
  requireInt("seedPixels", K, 1);
  const rng = new Rng(opts.seed ?? 0, 0x5eed);
  const d = new Float64Array(n);
  const b = new Float64Array(n);
  const picked: { sp: SpaxelRows; rows: Int32Array; k: number }[] = [];
  for (let i = 0; i < ns; i++) {
    const s = Math.floor(((i + 0.5) * S) / ns);
    const sp = await design.spaxel(s);
    checkSpaxel(design, s, sp);
    const rows = new Int32Array(Math.min(K, sp.pixels));
    const k = chooseRows(rows, new Int32Array(sp.pixels), sp.pixels, K, "random", 0, rng);
    for (let t = 0; t < k; t++) {
      const off = rows[t]! * n;
      const yl = sp.y[rows[t]!]!;
      for (let j = 0; j < n; j++) {
        const v = sp.a[off + j]!;
        d[j] = d[j]! + v * v;
        b[j] = b[j]! + v * yl;
      }
    }
    if (opts.rescale ?? true) picked.push({ sp, rows, k });
  }
  let dmax = 0;
  for (let j = 0; j < n; j++) dmax = Math.max(dmax, d[j]!);
  const eps = 1e-12 * dmax + Number.MIN_VALUE;
  const x0 = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const v = b[j]! / (d[j]! + eps);
    x0[j] = v > 0 ? v : 0;
  }
  if (picked.length) {
    let num = 0;
    let den = 0;
    for (const { sp, rows, k } of picked) {
      for (let t = 0; t < k; t++) {
        let m = 0;
        const off = rows[t]! * n;
        for (let j = 0; j < n; j++) m += sp.a[off + j]! * x0[j]!;
        num += m * sp.y[rows[t]!]!;
        den += m * m;
      }
    }
    const alpha = den > 0 ? num / den : 0;
    if (alpha > 0) for (let j = 0; j < n; j++) x0[j] = x0[j]! * alpha;
  }
  return x0;
}

/** The global Kaczmarz fit. Resolves with the solution (also when stopped by `signal`). */
export async function solveKaczmarz(
  design: DesignSource,
  opts: KaczmarzOptions = {},
): Promise<KaczmarzResult> {
  const n = design.nCols;
  const S = design.nSpaxels;
  requireInt("design.nCols", n, 1);
  requireInt("design.nSpaxels", S, 0);
  const cfg = kaczmarzConfig(n, opts);
  const t0 = performance.now();
  // The SIMD kernel where there is wasm, kaczmarzRow (same bits) where there is not.
  const kernel = wasmRowKernel(n);
  const x = kernel?.x ?? new Float64Array(n);
  let start: KaczmarzResult["start"];
  if (opts.x0) {
    requireVector("x0", opts.x0, n);
    x.set(opts.x0);
    if (cfg.projectNonneg) for (let j = 0; j < n; j++) if (x[j]! < 0) x[j] = 0;
    start = "x0";
  } else {
    x.set(
      await jacobiSeed(design, {
        spaxels: opts.seedSpaxels ?? 16,
        pixels: opts.seedPixels ?? cfg.pixelsPerAperture,
        seed: cfg.seed,
        rescale: opts.seedRescale ?? true,
      }),
    );
    start = "jacobi";
  }
  const rng = new Rng(cfg.seed);
  const K = cfg.pixelsPerAperture;
  const rowsIdx = new Int32Array(K);
  let perm = new Int32Array(0);
  const ratioScratch = new Int32Array(cfg.ratio?.eligible.length ?? 0);
  let rows = 0;
  let ratioSteps = 0;
  const epochRmse: number[] = [];
  let aborted = false;

  outer: for (let epoch = 0; epoch < cfg.epochs; epoch++) {
    let epochSq = 0;
    let epochRows = 0;
    // Request spaxel s+1 before working on s, so a reader in another thread overlaps the math.
    let next: Promise<SpaxelRows> | undefined = S > 0 ? design.spaxel(0) : undefined;
    for (let s = 0; s < S; s++) {
      if (opts.signal?.aborted) {
        next?.catch(() => {});
        aborted = true;
        break outer;
      }
      const sp = await next!;
      next = s + 1 < S ? design.spaxel(s + 1) : undefined;
      checkSpaxel(design, s, sp);
      const { a, y, pixels } = sp;
      if (perm.length < pixels) perm = new Int32Array(pixels);
      const k = chooseRows(rowsIdx, perm, pixels, K, cfg.rowOrder, epoch, rng);
      let sq = 0;
      const ratio = cfg.ratio;
      for (let t = 0; t < k; t++) {
        const l = rowsIdx[t]!;
        const r = kernel
          ? kernel.row(a, l * n, y[l]!, cfg.lr, cfg.projectNonneg)
          : kaczmarzRow(a, l * n, y[l]!, x, n, cfg.lr, cfg.projectNonneg);
        sq += r * r;
        if (ratio && rng.next() < ratio.prob)
          ratioSteps += ratioStep(x, ratio, rng, cfg.projectNonneg, ratioScratch);
      }
      rows += k;
      epochSq += sq;
      epochRows += k;
      if (opts.onBatch) {
        const ret = opts.onBatch(k > 0 ? Math.sqrt(sq / k) : 0, {
          epoch,
          spaxel: s,
          step: s,
          epochsDone: epoch + (s + 1) / S,
          x,
        });
        if (ret) await ret;
      }
      opts.onProgress?.({
        epoch,
        epochs: cfg.epochs,
        spaxelsDone: s + 1,
        nSpaxels: S,
        rows,
        fraction: (epoch * S + s + 1) / (cfg.epochs * S),
      });
    }
    const trainRmse = epochRows > 0 ? Math.sqrt(epochSq / epochRows) : 0;
    epochRmse.push(trainRmse);
    if (opts.onEpochEnd) {
      const ret = opts.onEpochEnd({ epoch, x, trainRmse, rows: epochRows });
      if (ret) await ret;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    // The live x may sit in the kernel's wasm memory: the result gets its own array.
    x: x.slice(),
    start,
    epochs: epochRmse.length,
    rows,
    ratioSteps,
    epochRmse,
    seconds,
    rowsPerSec: seconds > 0 ? rows / seconds : 0,
    aborted,
  };
}

/** Where a fit starts, by the seed's resume priority. */
export interface StartChoice {
  x: Float64Array | undefined;
  source: "x_best" | "X_global" | "x0" | "jacobi";
}

/**
 * The seed's resume priority: /Fit/x_best, then /X_global, then the caller's x0; with none of
 * them, undefined (the solver then builds the streaming-Jacobi seed). `held` is what the file
 * holds (readFitStart reads it); entries of the wrong length are refused, not skipped, because
 * a different C*P means the file belongs to another problem. `preferX0` is the seed's "pass
 * x0 to override resume/seed logic".
 */
export function resolveStart(
  nCols: number,
  held: { xBest?: Float64Array | undefined; xGlobal?: Float64Array | undefined },
  x0?: Float64Array,
  opts: { preferX0?: boolean } = {},
): StartChoice {
  requireInt("nCols", nCols, 1);
  if (x0) requireVector("x0", x0, nCols);
  if (x0 && opts.preferX0) return { x: x0, source: "x0" };
  if (held.xBest && held.xBest.length > 0) {
    requireVector("/Fit/x_best", held.xBest, nCols);
    return { x: held.xBest, source: "x_best" };
  }
  if (held.xGlobal && held.xGlobal.length > 0) {
    requireVector("/X_global", held.xGlobal, nCols);
    return { x: held.xGlobal, source: "X_global" };
  }
  if (x0) return { x: x0, source: "x0" };
  return { x: undefined, source: "jacobi" };
}
