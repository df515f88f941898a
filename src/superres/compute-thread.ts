/**
 * The worker side of the super-resolution compute pool: the per-block math of blocks.ts,
 * with arrays arriving and leaving as transferred buffers.
 */
import { parentPort } from "node:worker_threads";
import * as Comlink from "comlink/dist/esm/comlink.mjs";
import { nodeEndpoint } from "../store/worker/endpoint.js";
import { bigFTOfBand, correlationsOfBlock, type BandCut } from "./blocks.js";
import type { PixelArray } from "./input.js";

const api = {
  bigFT(
    data: PixelArray,
    scanY: number,
    scanX: number,
    rows: number,
    width: number,
    cuts: BandCut[],
  ): Float64Array[] {
    // The band arrived by transfer (or was widened here, off the main thread): transform it
    // in place.
    const re = data instanceof Float64Array ? data : Float64Array.from(data);
    const outs = bigFTOfBand(re, scanY, scanX, rows, width, cuts, { overwrite: true });
    return Comlink.transfer(
      outs,
      outs.map((o) => o.buffer),
    );
  },
  correlations(
    bigFT: Float64Array,
    scanY: number,
    scanX: number,
    pixels: number,
    reference: Float64Array,
    subtractMean: boolean,
  ): Float64Array {
    const out = correlationsOfBlock(bigFT, scanY, scanX, pixels, reference, { subtractMean });
    return Comlink.transfer(out, [out.buffer]);
  },
};

export type ComputeThreadApi = typeof api;

if (parentPort) Comlink.expose(api, nodeEndpoint(parentPort));
