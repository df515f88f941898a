/**
 * The worker side of the HyperCube build: computes tiles of models (ops.ts TileComputer) in
 * float64 and returns them as float32, transferred. The main thread owns the file.
 */
import { parentPort } from "node:worker_threads";
import * as Comlink from "comlink/dist/esm/comlink.mjs";
import { nodeEndpoint } from "../store/worker/endpoint.js";
import { TileComputer, type TileBox, type TileContextData } from "./ops.js";

let computer: TileComputer | undefined;

const api = {
  /** The data every tile shares (templates, R_T, grids); once per worker and build. */
  init(ctx: TileContextData): void {
    computer = new TileComputer(ctx);
  },
  /** One tile; `losvd` is its (ds, V, dc) slab. */
  tile(box: TileBox, losvd: Float32Array): Float32Array {
    if (!computer) throw new Error("build thread: init() was not called");
    const out = computer.compute(box, losvd);
    return Comlink.transfer(out, [out.buffer]);
  },
};

export type BuildThreadApi = typeof api;

if (parentPort) Comlink.expose(api, nodeEndpoint(parentPort));
