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
  histogram,
  percentileLimits,
  type ColorScale,
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
  /** For health checks: resolves once the worker runs. */
  ping(): string {
    return "pong";
  },
};

export type ComputeApi = typeof api;

expose(api);
