// Stage 2, a pre-processor: band linearisation and weighted combination, mask combination.
// The same threads run the assembler's convolution, split into bands of rows (the axis-1
// pass) and of columns (the axis-0 pass) over the shared master arrays.
import { parentPort } from "node:worker_threads";
import * as Comlink from "comlink/dist/esm/comlink.mjs";
import { nodeEndpoint } from "../store/worker/endpoint.js";
import {
  gaussianPlan,
  normalizedColsPass,
  normalizedRowsPass,
  type GaussianOptions,
  type GaussianPlan,
} from "./convolve.js";
import { combineBands, type Ps1BandWeights, type SkycellBundle } from "./dataset.js";

export interface CombinedPiece {
  /** Weighted linear flux, NaN where invalid. */
  flux: Float32Array;
  mask: Uint16Array;
}

let cached: { key: string; plan: GaussianPlan } | undefined;

/** Plans are cheap but hold FFT spectra: reuse the last one (every window of a run alike). */
function planFor(shape: [number, number], opts: GaussianOptions): GaussianPlan {
  const key = JSON.stringify([shape, opts]);
  if (cached?.key !== key) cached = { key, plan: gaussianPlan(shape, opts) };
  return cached.plan;
}

const api = {
  combine(bundle: SkycellBundle, weights: Ps1BandWeights, badMaskBits: number): CombinedPiece {
    const { flux, mask } = combineBands(bundle, weights, badMaskBits);
    return Comlink.transfer({ flux, mask }, [flux.buffer, mask.buffer]);
  },

  /** Axis-1 pass over rows [y0, y1) of the window: num = G_x*(w x), den = G_x*(w). */
  rowsPass(
    image: Float32Array,
    num: Float32Array,
    den: Float32Array,
    shape: [number, number],
    opts: GaussianOptions,
    y0: number,
    y1: number,
  ): void {
    normalizedRowsPass(image, undefined, num, den, planFor(shape, opts), y0, y1);
  },

  /** Axis-0 pass and division over columns [x0, x1): data = G*(w x) / G*(w), weight = G*(w). */
  colsPass(
    num: Float32Array,
    den: Float32Array,
    data: Float32Array,
    weight: Float32Array,
    shape: [number, number],
    opts: GaussianOptions,
    x0: number,
    x1: number,
    minWeight: number,
  ): void {
    normalizedColsPass(num, den, data, weight, planFor(shape, opts), x0, x1, minWeight);
  },
};

export type PreprocessThreadApi = typeof api;

if (parentPort) Comlink.expose(api, nodeEndpoint(parentPort));
