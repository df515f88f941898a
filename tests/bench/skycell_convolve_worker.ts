// Worker for tests/bench/skycell-convolve.bench.ts: runs one strip pass of the Gaussian filter on
// its band of rows or columns of images in SharedArrayBuffers, when told which pass.
import { parentPort, workerData } from "node:worker_threads";
import {
  convolveColsPass,
  convolveRowsPass,
  gaussianPlan,
  normalizedColsPass,
  normalizedRowsPass,
} from "../../src/skycell/index.js";

export type Pass = "plain-rows" | "plain-cols" | "norm-rows" | "norm-cols";

export interface WorkerSetup {
  shape: [number, number];
  sigma: number;
  /** This worker's rows [y0, y1) and columns [x0, x1). */
  rows: [number, number];
  cols: [number, number];
  /**
   * float32: image (for the plain filter), withNaN (for the normalised one), out, data, weight;
   * float64: tmp, num, den; uint8: mask.
   */
  buffers: Record<
    "image" | "withNaN" | "mask" | "tmp" | "out" | "num" | "den" | "data" | "weight",
    SharedArrayBuffer
  >;
}

const setup = workerData as WorkerSetup;
const b = setup.buffers;
const image = new Float32Array(b.image);
const withNaN = new Float32Array(b.withNaN);
const mask = new Uint8Array(b.mask);
const tmp = new Float64Array(b.tmp);
const out = new Float32Array(b.out);
const num = new Float64Array(b.num);
const den = new Float64Array(b.den);
const data = new Float32Array(b.data);
const weight = new Float32Array(b.weight);
const plan = gaussianPlan(setup.shape, { sigma: setup.sigma });
const [y0, y1] = setup.rows;
const [x0, x1] = setup.cols;

parentPort!.on("message", (pass: Pass | "exit") => {
  if (pass === "exit") process.exit(0);
  if (pass === "plain-rows") convolveRowsPass(image, tmp, plan, y0, y1);
  else if (pass === "plain-cols") convolveColsPass(tmp, out, plan, x0, x1);
  else if (pass === "norm-rows") normalizedRowsPass(withNaN, mask, num, den, plan, y0, y1);
  else normalizedColsPass(num, den, data, weight, plan, x0, x1);
  parentPort!.postMessage(pass);
});
