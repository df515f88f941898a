/**
 * Gaussian PSF convolution at the PS1 default sigma 60 (radius 240): stagelab's
 * gaussianFilter / normalizedGaussianFilter (src/skycell/convolve.ts, FFT path) against
 * scipy.ndimage.gaussian_filter, same machine, same run, same data.
 *
 *   node --import tsx tests/bench/skycell-convolve.bench.ts
 *   npm run bench -- tests/bench/skycell-convolve
 *
 * Images 1000x1000 and 2000x2000 (STAGELAB_BENCH_CONVOLVE_SIZES="1000x1000,2000x2000", sigma
 * STAGELAB_BENCH_SIGMA), float32: smooth sky, stars, noise. Filters:
 *   plain       scipy: gaussian_filter(image, sigma); stagelab: gaussianFilter(image, ...)
 *   normalised  on the image with ~6% masked (blocks, a bad column) and 50 NaNs;
 *               scipy: w = valid; gaussian_filter(w * image), gaussian_filter(w), divide;
 *               stagelab: normalizedGaussianFilter(image, { sigma, mask })
 * stagelab runs three ways: the whole-image function on the main thread (allocating its
 * outputs, as a caller would), and the strip passes (rows pass, then columns pass, the same
 * code) in 1 and in 2 worker threads splitting the rows and then the columns, over
 * SharedArrayBuffers allocated once (tests/bench/skycell_convolve_worker.ts).
 * One warm-up round, then REPS rounds (STAGELAB_BENCH_REPS, default 5); within a round the
 * sides alternate (scipy in a python process kept open) so machine load hits both alike.
 * Medians; ratio = scipy time / stagelab time (> 1: stagelab faster). The outputs are compared
 * with scipy's at the end (scipy rounds its intermediate to float32, stagelab keeps float64).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import {
  gaussianFilter,
  gaussianPlan,
  normalizedGaussianFilter,
  type NormalizedGaussianResult,
} from "../../src/skycell/index.js";
import type { Pass, WorkerSetup } from "./skycell_convolve_worker.js";

const python = process.env.STAGELAB_SYSTEM_PYTHON ?? "/usr/bin/python3";
const reps = Number(process.env.STAGELAB_BENCH_REPS ?? 5);
const sigma = Number(process.env.STAGELAB_BENCH_SIGMA ?? 60);
const sizes = (process.env.STAGELAB_BENCH_CONVOLVE_SIZES ?? "1000x1000,2000x2000")
  .split(",")
  .map((s) => s.split("x").map(Number) as [number, number]);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * A sky-like float32 image, the same with NaNs, and a mask (deterministic: a 32-bit LCG for the
 * noise).
 */
function makeData(h: number, w: number) {
  let s = 12345;
  const uniform = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
  const image = new Float32Array(new SharedArrayBuffer(4 * h * w));
  const mask = new Uint8Array(new SharedArrayBuffer(h * w));
  const stars = Array.from({ length: 200 }, () => ({
    sx: uniform() * w,
    sy: uniform() * h,
    flux: 1e4 * uniform(),
  }));
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) image[y * w + x] = 100 + 0.01 * x + 20 * (uniform() - 0.5);
  for (const { sx, sy, flux } of stars)
    for (let y = Math.max(0, Math.floor(sy - 8)); y < Math.min(h, sy + 8); y++)
      for (let x = Math.max(0, Math.floor(sx - 8)); x < Math.min(w, sx + 8); x++)
        image[y * w + x] =
          image[y * w + x]! + flux * Math.exp(-((x - sx) ** 2 + (y - sy) ** 2) / 4.5);
  const block = (ya: number, yb: number, xa: number, xb: number) => {
    for (let y = Math.floor(ya * h); y < yb * h; y++)
      for (let x = Math.floor(xa * w); x < xb * w; x++) mask[y * w + x] = 1;
  };
  block(0.1, 0.3, 0.5, 0.7); // ~4%
  block(0.85, 1, 0, 0.1); // corner
  block(0, 1, 0.33, 0.335); // bad column
  const withNaN = new Float32Array(new SharedArrayBuffer(4 * h * w));
  withNaN.set(image);
  for (let k = 0; k < 50; k++) withNaN[Math.floor(uniform() * h * w)] = NaN;
  return { image, withNaN, mask };
}

/** skycell_convolve_bench.py kept running: `run(cmd)` answers one line. */
async function startScipy(dir: string, h: number, w: number) {
  const child = spawn(
    python,
    [
      fileURLToPath(new URL("./skycell_convolve_bench.py", import.meta.url)),
      dir,
      String(h),
      String(w),
      String(sigma),
    ],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  const lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => {
    const r = await lines.next();
    if (r.done) throw new Error(`skycell_convolve_bench.py exited (${child.exitCode})`);
    return r.value;
  };
  if ((await next()) !== "READY") throw new Error("skycell_convolve_bench.py did not start");
  return {
    run: async (cmd: string) => {
      child.stdin.write(`${cmd}\n`);
      return next();
    },
    stop: () => child.stdin.end("quit\n"),
  };
}

/** Workers splitting rows and columns evenly, over the same shared arrays. */
function startWorkers(count: number, setup: Omit<WorkerSetup, "rows" | "cols">) {
  // A worker's --import hooks are not applied to its entry file: register tsx, then import it.
  const entry = new URL("./skycell_convolve_worker.ts", import.meta.url).href;
  const tsxApi = import.meta.resolve("tsx/esm/api");
  const [h, w] = setup.shape;
  const band = (n: number, k: number): [number, number] => [
    Math.floor((n * k) / count),
    Math.floor((n * (k + 1)) / count),
  ];
  const workers = Array.from(
    { length: count },
    (_, k) =>
      new Worker(
        `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`,
        { eval: true, workerData: { ...setup, rows: band(h, k), cols: band(w, k) } },
      ),
  );
  const pass = (p: Pass) =>
    Promise.all(
      workers.map(
        (wk) =>
          new Promise((resolve, reject) => {
            wk.once("error", reject);
            wk.once("message", (m) => {
              wk.off("error", reject);
              resolve(m);
            });
            wk.postMessage(p);
          }),
      ),
    );
  return {
    /** Seconds for the rows pass, then (all rows done) the columns pass. */
    run: async (kind: "plain" | "norm") => {
      const t0 = performance.now();
      await pass(`${kind}-rows`);
      await pass(`${kind}-cols`);
      return (performance.now() - t0) / 1000;
    },
    stop: () => workers.forEach((wk) => wk.postMessage("exit")),
  };
}

/** Largest |a - b| / max(|b|, 1e-3 max|b|) over pixels where both are numbers; NaNs must match. */
function compare(a: Float32Array, b: Float32Array): string {
  let scale = 0;
  for (const v of b) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  let nanMismatch = 0;
  for (let i = 0; i < b.length; i++) {
    if (Number.isNaN(a[i]!) || Number.isNaN(b[i]!)) {
      if (Number.isNaN(a[i]!) !== Number.isNaN(b[i]!)) nanMismatch++;
      continue;
    }
    worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(Math.abs(b[i]!), 1e-3 * scale));
  }
  return `${worst.toExponential(1)}${nanMismatch ? ` (${nanMismatch} NaN mismatches)` : ""}`;
}

const f32 = (n: number) => new Float32Array(new SharedArrayBuffer(4 * n));
const f64 = (n: number) => new Float64Array(new SharedArrayBuffer(8 * n));
const rows: string[] = [];
const checks: string[] = [];
let scipyVersion = "";

for (const [h, w] of sizes) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-bench-convolve-"));
  try {
    const n = h * w;
    const { image, withNaN, mask } = makeData(h, w);
    fs.writeFileSync(path.join(dir, "image.f32"), image);
    fs.writeFileSync(path.join(dir, "image_nan.f32"), withNaN);
    fs.writeFileSync(path.join(dir, "mask.u8"), mask);
    const scipy = await startScipy(dir, h, w);
    const setup = {
      shape: [h, w] as [number, number],
      sigma,
      buffers: {
        image: image.buffer as SharedArrayBuffer,
        withNaN: withNaN.buffer as SharedArrayBuffer,
        mask: mask.buffer as SharedArrayBuffer,
        tmp: f64(n).buffer as SharedArrayBuffer,
        out: f32(n).buffer as SharedArrayBuffer,
        num: f64(n).buffer as SharedArrayBuffer,
        den: f64(n).buffer as SharedArrayBuffer,
        data: f32(n).buffer as SharedArrayBuffer,
        weight: f32(n).buffer as SharedArrayBuffer,
      },
    };
    const pools = { 1: startWorkers(1, setup), 2: startWorkers(2, setup) };
    const t: Record<string, number[]> = {};
    const record = (key: string, seconds: number, round: number) => {
      if (round > 0) (t[key] ??= []).push(seconds);
    };
    let plain: Float32Array = new Float32Array(0);
    let norm: NormalizedGaussianResult = { data: plain, weight: plain };
    for (let round = 0; round <= reps; round++) {
      for (const kind of ["plain", "norm"] as const) {
        record(`${kind} scipy`, Number(await scipy.run(kind)), round);
        const t0 = performance.now();
        if (kind === "plain") plain = gaussianFilter(image, [h, w], { sigma });
        else norm = normalizedGaussianFilter(withNaN, [h, w], { sigma, mask });
        record(`${kind} api`, (performance.now() - t0) / 1000, round);
        for (const k of [1, 2] as const) record(`${kind} ${k}w`, await pools[k].run(kind), round);
      }
    }
    scipyVersion = await scipy.run("save");
    scipy.stop();
    pools[1].stop();
    pools[2].stop();
    const read = (name: string) => {
      const buf = fs.readFileSync(path.join(dir, name));
      return new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
    };
    const plan = gaussianPlan([h, w], { sigma });
    const label = `${h}x${w}`;
    for (const [kind, name] of [
      ["plain", "plain"],
      ["norm", "normalised"],
    ] as const) {
      const sp = median(t[`${kind} scipy`]!);
      const api = median(t[`${kind} api`]!);
      const w1 = median(t[`${kind} 1w`]!);
      const w2 = median(t[`${kind} 2w`]!);
      const s = (x: number) => `${x.toFixed(3)} s`;
      const cells = [label, name, s(sp), s(api), (sp / api).toFixed(2), s(w1), s(w2)];
      rows.push(`| ${[...cells, (sp / w2).toFixed(2), `${(w1 / w2).toFixed(2)}x`].join(" | ")} |`);
    }
    const shared = {
      plain: new Float32Array(setup.buffers.out),
      data: new Float32Array(setup.buffers.data),
    };
    checks.push(
      `${label} (FFT lengths ${plan.y.fftLength} x ${plan.x.fftLength}): plain vs scipy ` +
        `${compare(plain, read("scipy_plain.f32"))}, workers vs scipy ` +
        `${compare(shared.plain, read("scipy_plain.f32"))}; normalised vs scipy ` +
        `${compare(norm.data, read("scipy_norm.f32"))}, weight ` +
        `${compare(norm.weight, read("scipy_weight.f32"))}, workers vs scipy ` +
        `${compare(shared.data, read("scipy_norm.f32"))}`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

console.log(
  `Gaussian filter, sigma ${sigma} (truncate 4), float32 images; medians of ${reps} ` +
    `(scipy ${scipyVersion}, Node ${process.version}, ${os.cpus().length} CPUs)\n`,
);
const head = ["image", "filter", "scipy", "stagelab", "ratio", "stagelab 1 worker", "2 workers"];
console.log(`| ${[...head, "ratio", "1 -> 2 workers"].join(" | ")} |`);
console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
for (const r of rows) console.log(r);
console.log(
  "\nratio = scipy / stagelab (> 1: stagelab faster). Largest difference from scipy " +
    "(relative, floor 1e-3 of the image's peak):",
);
for (const c of checks) console.log(`  ${c}`);
