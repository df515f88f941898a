/**
 * The streamed normal equations of the global problem: G = A^T A (nCols x nCols), h = A^T y
 * and y^T y, accumulated spaxel by spaxel in float64, so the exact NNLS never holds A.
 *
 * Cost is rows * nCols^2 multiply-adds (only G's upper triangle is computed). The kernel
 * gathers `blockRows` rows transposed (column j of the block contiguous), then adds each
 * 4 x 4 tile of G from 16 running sums over the block: each G entry is loaded and stored once
 * per block instead of once per row, and the 4 + 4 loads per 16 multiply-adds keep it near
 * what scalar JavaScript can issue (about 1.8 GFlop/s per core here; BLAS's syrk is ~10x
 * that with SIMD and FMA, which JavaScript does not expose). Threads help: `normalEquations`
 * splits spaxels over worker threads that each keep their own partial G, summed at the end.
 */
import os from "node:os";
import type { Worker } from "node:worker_threads";
import * as Comlink from "comlink/dist/esm/comlink.mjs";
import { nodeEndpoint } from "../../store/worker/endpoint.js";
import { spawnModuleWorker } from "../../store/worker/spawn.js";
import { checkSpaxel, type DesignSource } from "./design.js";
import { CubeFitSolveError, requireInt } from "./errors.js";
import type { GramThreadApi } from "./gram-thread.js";

export interface NormalEquations {
  n: number;
  /** A^T A, n x n row-major, both triangles filled. */
  gram: Float64Array;
  /** A^T y. */
  aty: Float64Array;
  /** y^T y (the objective is x^T G x - 2 h^T x + y^T y). */
  yty: number;
  /** Rows of A accumulated. */
  rows: number;
}

/** Accumulates A^T A, A^T y, y^T y from rows pushed in any grouping. */
export class GramAccumulator {
  readonly n: number;
  /** n rounded up to a multiple of 4 (the tile); padded columns stay zero. */
  private readonly n4: number;
  private readonly g: Float64Array;
  private readonly at: Float64Array;
  private fill = 0;
  readonly aty: Float64Array;
  yty = 0;
  rows = 0;

  constructor(
    n: number,
    readonly blockRows = 128,
  ) {
    requireInt("nCols", n, 1);
    requireInt("blockRows", blockRows, 1);
    this.n = n;
    this.n4 = Math.ceil(n / 4) * 4;
    this.g = new Float64Array(this.n4 * this.n4);
    this.at = new Float64Array(this.n4 * blockRows);
    this.aty = new Float64Array(n);
  }

  /** Add `pixels` rows (pixel-major, n values each) and their targets. */
  add(a: Float64Array, y: Float64Array, pixels: number): void {
    const { n, at, aty, blockRows: B } = this;
    for (let r = 0; r < pixels; r++) {
      const off = r * n;
      const yr = y[r]!;
      this.yty += yr * yr;
      const col = this.fill;
      for (let j = 0; j < n; j++) {
        const v = a[off + j]!;
        at[j * B + col] = v;
        aty[j] = aty[j]! + v * yr;
      }
      this.rows++;
      if (++this.fill === B) this.flush();
    }
  }

  private flush(): void {
    if (this.fill > 0) syrkUpper(this.at, this.blockRows, this.fill, this.n4, this.g);
    this.fill = 0;
  }

  /** The upper triangle of G so far (n4 x n4, padded) after flushing, for merging partials. */
  partial(): { g: Float64Array; aty: Float64Array; yty: number; rows: number; n4: number } {
    this.flush();
    return { g: this.g, aty: this.aty, yty: this.yty, rows: this.rows, n4: this.n4 };
  }

  /** The normal equations, with G symmetric n x n. */
  finish(): NormalEquations {
    const p = this.partial();
    return assemble(this.n, [p]);
  }
}

/** Sum partial upper triangles (n4 x n4) into a full symmetric n x n G. */
export function assemble(
  n: number,
  parts: { g: Float64Array; aty: Float64Array; yty: number; rows: number; n4: number }[],
): NormalEquations {
  const gram = new Float64Array(n * n);
  const aty = new Float64Array(n);
  let yty = 0;
  let rows = 0;
  for (const p of parts) {
    for (let i = 0; i < n; i++) {
      const src = i * p.n4;
      for (let j = i; j < n; j++) gram[i * n + j] = gram[i * n + j]! + p.g[src + j]!;
      aty[i] = aty[i]! + p.aty[i]!;
    }
    yty += p.yty;
    rows += p.rows;
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) gram[i * n + j] = gram[j * n + i]!;
  return { n, gram, aty, yty, rows };
}

/**
 * g[i, j] += sum_r at[i, r] * at[j, r] for j >= i (4 x 4 tiles; the diagonal tiles also fill
 * a few lower entries, which assemble() ignores). `at` is n4 x B row-major, `len` <= B rows used.
 */
export function syrkUpper(
  at: Float64Array,
  B: number,
  len: number,
  n4: number,
  g: Float64Array,
): void {
  for (let i0 = 0; i0 < n4; i0 += 4) {
    const a0 = i0 * B,
      a1 = a0 + B,
      a2 = a1 + B,
      a3 = a2 + B;
    for (let j0 = i0; j0 < n4; j0 += 4) {
      const b0 = j0 * B,
        b1 = b0 + B,
        b2 = b1 + B,
        b3 = b2 + B;
      let c00 = 0,
        c01 = 0,
        c02 = 0,
        c03 = 0,
        c10 = 0,
        c11 = 0,
        c12 = 0,
        c13 = 0,
        c20 = 0,
        c21 = 0,
        c22 = 0,
        c23 = 0,
        c30 = 0,
        c31 = 0,
        c32 = 0,
        c33 = 0;
      for (let r = 0; r < len; r++) {
        const x0 = at[a0 + r]!,
          x1 = at[a1 + r]!,
          x2 = at[a2 + r]!,
          x3 = at[a3 + r]!;
        const y0 = at[b0 + r]!,
          y1 = at[b1 + r]!,
          y2 = at[b2 + r]!,
          y3 = at[b3 + r]!;
        c00 += x0 * y0;
        c01 += x0 * y1;
        c02 += x0 * y2;
        c03 += x0 * y3;
        c10 += x1 * y0;
        c11 += x1 * y1;
        c12 += x1 * y2;
        c13 += x1 * y3;
        c20 += x2 * y0;
        c21 += x2 * y1;
        c22 += x2 * y2;
        c23 += x2 * y3;
        c30 += x3 * y0;
        c31 += x3 * y1;
        c32 += x3 * y2;
        c33 += x3 * y3;
      }
      let o = i0 * n4 + j0;
      g[o] = g[o]! + c00;
      g[o + 1] = g[o + 1]! + c01;
      g[o + 2] = g[o + 2]! + c02;
      g[o + 3] = g[o + 3]! + c03;
      o += n4;
      g[o] = g[o]! + c10;
      g[o + 1] = g[o + 1]! + c11;
      g[o + 2] = g[o + 2]! + c12;
      g[o + 3] = g[o + 3]! + c13;
      o += n4;
      g[o] = g[o]! + c20;
      g[o + 1] = g[o + 1]! + c21;
      g[o + 2] = g[o + 2]! + c22;
      g[o + 3] = g[o + 3]! + c23;
      o += n4;
      g[o] = g[o]! + c30;
      g[o + 1] = g[o + 1]! + c31;
      g[o + 2] = g[o + 2]! + c32;
      g[o + 3] = g[o + 3]! + c33;
    }
  }
}

export interface NormalEquationsOptions {
  /**
   * Worker threads accumulating partial G's (spaxel s goes to thread s mod threads, so the
   * sum, and the result bit for bit, depends only on this number). 1: the calling thread.
   * Default: os.availableParallelism(), at most 8.
   */
  threads?: number;
  /** Rows per kernel block. Default 128. */
  blockRows?: number;
  signal?: AbortSignal;
  onProgress?: (p: { spaxelsDone: number; nSpaxels: number; rows: number }) => void;
}

/** Stream the design once and return its normal equations. */
export async function normalEquations(
  design: DesignSource,
  opts: NormalEquationsOptions = {},
): Promise<NormalEquations> {
  const n = design.nCols;
  const S = design.nSpaxels;
  const threads = opts.threads ?? Math.min(8, Math.max(1, os.availableParallelism()));
  requireInt("threads", threads, 1);
  const B = opts.blockRows ?? 128;
  const stopped = () =>
    new CubeFitSolveError("signal", "normal equations stopped before the last spaxel");
  if (threads === 1 || S < 2) {
    const acc = new GramAccumulator(n, B);
    for (let s = 0; s < S; s++) {
      if (opts.signal?.aborted) throw stopped();
      const sp = await design.spaxel(s);
      checkSpaxel(design, s, sp);
      acc.add(sp.a, sp.y, sp.pixels);
      opts.onProgress?.({ spaxelsDone: s + 1, nSpaxels: S, rows: acc.rows });
    }
    return acc.finish();
  }
  const pool = Array.from({ length: Math.min(threads, S) }, () => {
    const worker: Worker = spawnModuleWorker(new URL("./gram-thread", import.meta.url));
    const remote = Comlink.wrap<GramThreadApi>(nodeEndpoint(worker));
    return { worker, remote, inFlight: [] as Promise<void>[] };
  });
  try {
    await Promise.all(pool.map((w) => w.remote.init(n, B)));
    let rows = 0;
    for (let s = 0; s < S; s++) {
      if (opts.signal?.aborted) throw stopped();
      const w = pool[s % pool.length]!;
      // At most two blocks queued per thread: reading stays ahead without piling up memory.
      if (w.inFlight.length >= 2) await w.inFlight.shift();
      const sp = await design.spaxel(s);
      checkSpaxel(design, s, sp);
      const k = sp.pixels;
      // Transfer when the source made the arrays for us; otherwise copy (the source keeps them).
      const a = sp.owned && sp.a.length === k * n ? sp.a : sp.a.slice(0, k * n);
      const y = sp.owned && sp.y.length === k && sp.y.buffer !== a.buffer ? sp.y : sp.y.slice(0, k);
      w.inFlight.push(
        w.remote.add(Comlink.transfer(a, [a.buffer]), Comlink.transfer(y, [y.buffer]), k),
      );
      rows += k;
      opts.onProgress?.({ spaxelsDone: s + 1, nSpaxels: S, rows });
    }
    const parts = await Promise.all(
      pool.map(async (w) => {
        await Promise.all(w.inFlight);
        return w.remote.finish();
      }),
    );
    return assemble(n, parts);
  } finally {
    for (const w of pool) w.remote[Comlink.releaseProxy]();
    await Promise.all(pool.map((w) => w.worker.terminate()));
  }
}
