/**
 * The worker side of the super-resolution compute pool: the per-block math of blocks.ts,
 * with arrays arriving and leaving as transferred buffers.
 */
import { parentPort } from "node:worker_threads";
import * as Comlink from "comlink/dist/esm/comlink.mjs";
import { nodeEndpoint } from "../store/worker/endpoint.js";
import { bigFTOfBlock, correlationsOfBlock } from "./blocks.js";

const api = {
  bigFT(data: Float64Array, scanY: number, scanX: number, pixels: number): Float64Array {
    const out = bigFTOfBlock(data, scanY, scanX, pixels);
    return Comlink.transfer(out, [out.buffer]);
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
