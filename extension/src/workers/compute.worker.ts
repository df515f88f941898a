/**
 * The compute web worker: per-pixel and per-sample work off the UI thread (histograms,
 * contrast limits, colormapping, complex parts; FFTs and fits later). Exposed with comlink;
 * create it through `computeWorker()` in ./index.ts, never directly. The numeric kernels
 * are the pure ones of @stagelab/core/viewer, shared with the kernel's static previews.
 *
 * The builder (rspack, webpack 5 syntax) emits this file as its own chunk into
 * labextension/static/ because index.ts creates it with
 * `new Worker(new URL("./compute.worker.js", import.meta.url))`.
 */
import { expose, transfer } from "comlink";
import {
  applyColormap,
  complexParts,
  decodeToFloat64,
  histogram,
  percentileLimits,
  powerSpectrum,
  type ColorScale,
  type DType,
} from "@stagelab/core/viewer";

const api = {
  histogram(values: ArrayLike<number>, bins: number, range?: [number, number]): Uint32Array {
    return histogram(values, bins, range);
  },
  /** Percentile contrast limits ("auto"). */
  limits(
    values: ArrayLike<number>,
    lowPct: number,
    highPct: number,
    log: boolean,
  ): [number, number] {
    return percentileLimits(values, lowPct, highPct, { log });
  },
  /** RGBA pixels for the values (transferred back, not copied). */
  colorize(values: ArrayLike<number>, scale: ColorScale): Uint8ClampedArray {
    const rgba = applyColormap(values, scale);
    return transfer(rgba, [rgba.buffer as ArrayBuffer]);
  },
  complexPart(
    interleaved: ArrayLike<number>,
    part: "amplitude" | "phase" | "real" | "imag",
  ): Float64Array {
    const out = complexParts(interleaved, part);
    return transfer(out, [out.buffer]);
  },
  /** Bytes from the kernel to float64 values (the bytes are transferred in). */
  decode(dtype: DType, bytes: Uint8Array): Float64Array {
    const out = decodeToFloat64(dtype, bytes);
    return transfer(out, [out.buffer]);
  },
  /** |FFT| of an image, zero frequency centred, padded to powers of two. */
  powerSpectrum(
    values: ArrayLike<number>,
    rows: number,
    cols: number,
  ): { values: Float64Array; rows: number; cols: number } {
    const ps = powerSpectrum(values, rows, cols);
    return transfer(ps, [ps.values.buffer]);
  },
  /** For health checks: resolves once the worker runs. */
  ping(): string {
    return "pong";
  },
  /**
   * VoxelView: the histogram and percentile limits of several planes taken together. With
   * `log`, of log10 of the positive values: `range` is then in log10, `limits` stay linear.
   */
  planeStats(
    planes: ArrayLike<number>[],
    bins: number,
    log: boolean,
    lowPct: number,
    highPct: number,
  ): { counts: Uint32Array; range: [number, number]; limits: [number, number] } {
    const total = planes.reduce((n, p) => n + p.length, 0);
    const values = new Float64Array(total);
    let at = 0;
    for (const p of planes) {
      for (let i = 0; i < p.length; i++) {
        const v = p[i]!;
        values[at++] = log ? (v > 0 ? Math.log10(v) : NaN) : v;
      }
    }
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of values) {
      if (!Number.isFinite(v)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const range: [number, number] = lo <= hi ? [lo, hi > lo ? hi : lo + 1] : [0, 1];
    const counts = histogram(values, bins, range);
    const [plo, phi] = percentileLimits(values, lowPct, highPct);
    const limits: [number, number] =
      lo <= hi ? (log ? [10 ** plo, 10 ** phi] : [plo, phi]) : log ? [1, 10] : [0, 1];
    return transfer({ counts, range, limits }, [counts.buffer]);
  },
  /** VoxelView: RGBA pixels of several planes on one colour scale (transferred back). */
  colorizePlanes(planes: ArrayLike<number>[], scale: ColorScale): Uint8ClampedArray[] {
    const out = planes.map((p) => applyColormap(p, scale));
    return transfer(
      out,
      out.map((o) => o.buffer as ArrayBuffer),
    );
  },
};

export type ComputeApi = typeof api;

expose(api);
