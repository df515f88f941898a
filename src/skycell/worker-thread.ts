// A pipeline worker. Stage 1 (read a cell piece's bands and masks from the input store) and
// stage 2 (linearise and combine the bands, OR the masks) run back to back in the same
// thread, so the raw bands never cross threads and one worker is one core's worth of work:
// `workers` threads keep that many cores busy. The same threads run the assembler's
// convolution (bands of rows, then of columns, over the shared master arrays) and compress
// the convolved cells' Zarr chunks for the saver, which then only writes.
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
import {
  combineBands,
  readSkycellRegion,
  SkycellReadCache,
  type PixelRect,
  type Ps1Band,
  type Ps1BandWeights,
} from "./dataset.js";
import type { Rect } from "./geometry.js";
import { extractRect } from "./window.js";
import { encodeZarrV2, type EncodedZarrArray } from "./zarr-encode.js";

/** A piece read and combined, or why not (and at which stage). */
export type PieceOutcome =
  | {
      ok: true;
      /** Weighted linear flux, NaN where invalid. */
      flux: Float32Array;
      mask: Uint16Array;
      /** The first weighted band's header: it stands for the cell (WCS, that band's scaling). */
      header: Record<string, unknown> | undefined;
    }
  | { ok: false; stage: "read" | "combine"; message: string; missing: boolean };

/** What the worker encodes of a convolved cell: where it lies in the window, and its arrays. */
export interface CellToEncode {
  /** The array directory of the cell in the output store ("PPPP/name"). */
  base: string;
  /** The window the shared arrays are laid out over, and the cell in it (mosaic px). */
  window: Rect;
  rect: Rect;
  data: Float32Array;
  weight: Float32Array;
  mask: Uint16Array;
  chunkPx: number;
}

let cached: { key: string; plan: GaussianPlan } | undefined;
/** A worker lives for one run, over a store that does not change meanwhile. */
const storeCache = new SkycellReadCache();

/** Plans are cheap but hold FFT spectra: reuse the last one (every window of a run alike). */
function planFor(shape: [number, number], opts: GaussianOptions): GaussianPlan {
  const key = JSON.stringify([shape, opts]);
  if (cached?.key !== key) cached = { key, plan: gaussianPlan(shape, opts) };
  return cached.plan;
}

const api = {
  async readCombined(
    storeRoot: string,
    projection: number,
    skycellName: string,
    region: PixelRect,
    bands: Ps1Band[],
    weights: Ps1BandWeights,
    badMaskBits: number,
  ): Promise<PieceOutcome> {
    let bundle;
    try {
      bundle = await readSkycellRegion(
        storeRoot,
        projection,
        skycellName,
        region,
        bands,
        storeCache,
      );
    } catch (e) {
      const err = e as Error;
      return {
        ok: false,
        stage: "read",
        message: err.message,
        missing: err.name === "SkycellMissingError",
      };
    }
    try {
      const { flux, mask } = combineBands(bundle, weights, badMaskBits);
      const header = bundle.bands[bands[0]!]?.header as Record<string, unknown> | undefined;
      return Comlink.transfer({ ok: true, flux, mask, header }, [flux.buffer, mask.buffer]);
    } catch (e) {
      return { ok: false, stage: "combine", message: (e as Error).message, missing: false };
    }
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

  /** A convolved cell's image, weight and mask as zlib-compressed Zarr v2 arrays. */
  encodeCell(cell: CellToEncode): EncodedZarrArray[] {
    const shape: [number, number] = [cell.rect.y1 - cell.rect.y0, cell.rect.x1 - cell.rect.x0];
    const chunks: [number, number] = [
      Math.min(cell.chunkPx, shape[0]),
      Math.min(cell.chunkPx, shape[1]),
    ];
    const arrays = (
      [
        ["image", cell.data, NaN],
        ["weight", cell.weight, NaN],
        ["mask", cell.mask, 0],
      ] as const
    ).map(([name, all, fillValue]) =>
      encodeZarrV2(`${cell.base}/${name}`, extractRect(all, cell.window, cell.rect), shape, {
        chunks,
        compressor: "zlib",
        level: 1,
        fillValue,
      }),
    );
    const buffers = arrays.flatMap((a) => a.files.map((f) => f.bytes.buffer));
    return Comlink.transfer(arrays, buffers);
  },
};

export type WorkerThreadApi = typeof api;

if (parentPort) Comlink.expose(api, nodeEndpoint(parentPort));
