/**
 * One thread of normalEquations(): it keeps its own partial A^T A for the spaxels it is
 * sent and returns it (transferred) at the end.
 */
import { parentPort } from "node:worker_threads";
import * as Comlink from "comlink/dist/esm/comlink.mjs";
import { nodeEndpoint } from "../../store/worker/endpoint.js";
import { GramAccumulator } from "./gram.js";

let acc: GramAccumulator | undefined;

const api = {
  init(n: number, blockRows: number): void {
    acc = new GramAccumulator(n, blockRows);
  },
  add(a: Float64Array, y: Float64Array, pixels: number): void {
    if (!acc) throw new Error("gram thread: add before init");
    acc.add(a, y, pixels);
  },
  finish() {
    if (!acc) throw new Error("gram thread: finish before init");
    const p = acc.partial();
    acc = undefined;
    return Comlink.transfer(p, [p.g.buffer, p.aty.buffer]);
  },
};

export type GramThreadApi = typeof api;

if (parentPort) Comlink.expose(api, nodeEndpoint(parentPort));
