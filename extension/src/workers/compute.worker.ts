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
};

export type ComputeApi = typeof api;

expose(api);
