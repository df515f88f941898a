/**
 * CubeFit solvers against numpy/scipy, same machine, same run, same data:
 *
 * 1. Kaczmarz throughput: solveKaczmarz (rowOrder "sequential", no ratio penalty) against the
 *    seed's loop written in numpy (cubefit_solve_bench.py), row updates per second. Both do
 *    the same arithmetic, so the final x must agree (checked, 1e-8 relative).
 * 2. Exact NNLS, time to a KKT residual <= 1e-6: normalEquations (1 and 2 threads) +
 *    solveNnls(tol 1e-6) against scipy.optimize.nnls(A, y). Both answers' KKT residuals are
 *    checked (<= 1e-6) and the objectives compared.
 *
 *   node --import tsx tests/bench/cubefit-solve.bench.ts      (npm run bench -- tests/bench/cubefit-solve)
 *
 * Runs alternate (one numpy/scipy run, then stagelab's), REPS times (STAGELAB_BENCH_REPS,
 * default 5); the table gives medians. Sizes: STAGELAB_BENCH_KZ_COLS (default "720,3600",
 * i.e. C*P with P = 360 and C = 2 or 10), STAGELAB_BENCH_NNLS ("20000x200,40000x500", rows x
 * columns).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Rng } from "../../src/synth/random.js";
import {
  InMemoryDesign,
  normalEquations,
  solveKaczmarz,
  solveNnls,
} from "../../src/cubefit/solve/index.js";

const python = process.env.STAGELAB_SYSTEM_PYTHON ?? "/usr/bin/python3";
const reps = Number(process.env.STAGELAB_BENCH_REPS ?? 5);
const kzCols = (process.env.STAGELAB_BENCH_KZ_COLS ?? "720,3600").split(",").map(Number);
const nnlsSizes = (process.env.STAGELAB_BENCH_NNLS ?? "20000x200,40000x500")
  .split(",")
  .map((s) => s.split("x").map(Number) as [number, number]);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function writeF64(file: string, a: Float64Array): void {
  fs.writeFileSync(file, new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
}

async function startPython(args: string[]) {
  const child = spawn(
    python,
    [fileURLToPath(new URL("./cubefit_solve_bench.py", import.meta.url)), ...args],
    {
      stdio: ["pipe", "pipe", "inherit"],
    },
  );
  const lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => {
    const r = await lines.next();
    if (r.done)
      throw new Error(`cubefit_solve_bench.py exited (${child.exitCode ?? child.signalCode})`);
    return r.value;
  };
  const ready = await next();
  if (!ready.startsWith("READY ")) throw new Error(`cubefit_solve_bench.py: unexpected "${ready}"`);
  return {
    reference: JSON.parse(ready.slice(6)) as { x: number[]; objective?: number; kkt?: number },
    run: async () => {
      child.stdin.write("run\n");
      return Number(await next());
    },
    stop: () => child.stdin.end(),
  };
}

/** Spectral-like positive design: Gaussian bumps over a continuum, plus a little noise. */
function makeDesign(rows: number, n: number, period: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  const centers = Float64Array.from({ length: n }, () => rng.next() * period);
  const widths = Float64Array.from({ length: n }, () => 2 + 20 * rng.next());
  const A = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    const l = r % period;
    for (let j = 0; j < n; j++) {
      const d = (l - centers[j]!) / widths[j]!;
      A[r * n + j] = 0.2 + Math.exp(-0.5 * d * d) + 0.05 * rng.next();
    }
  }
  return A;
}

function targets(A: Float64Array, rows: number, n: number, seed: number, noise: number) {
  const rng = new Rng(seed, 1);
  const x = Float64Array.from({ length: n }, () => (rng.next() < 0.5 ? 0 : rng.next()));
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let v = 0;
    for (let j = 0; j < n; j++) v += A[r * n + j]! * x[j]!;
    y[r] = v * (1 + noise * rng.normal());
  }
  return y;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-bench-cubefit-"));
const out: string[] = [];
try {
  console.log(
    `CubeFit solver benchmark, ${reps} reps, ${os.availableParallelism()} cores; numpy/scipy from ${python}`,
  );

  // 1. Kaczmarz.
  const S = 8;
  const L = 512;
  const K = 256;
  const epochs = 2;
  const lr = 0.25;
  const x0 = 0.01;
  out.push(
    `\nKaczmarz: ${S} spaxels x ${L} pixels, K = ${K} rows per spaxel, ${epochs} epochs ` +
      `(${S * K * epochs} row updates per run), lr ${lr}, sequential rows\n`,
    "| nCols | stagelab | numpy loop | ratio | max |x - x_numpy| / max x |",
    "| --- | --- | --- | --- | --- |",
  );
  for (const n of kzCols) {
    const rows = S * L;
    const A = makeDesign(rows, n, L, n);
    const y = targets(A, rows, n, n, 0.01);
    const fa = path.join(dir, "A.f64");
    const fy = path.join(dir, "y.f64");
    writeF64(fa, A);
    writeF64(fy, y);
    const py = await startPython(
      ["kaczmarz", fa, fy, rows, n, S, L, K, epochs, lr, x0].map(String),
    );
    fs.rmSync(fa);
    fs.rmSync(fy);
    const blocks = Array.from({ length: S }, (_, s) => ({
      a: A.subarray(s * L * n, (s + 1) * L * n),
      y: y.subarray(s * L, (s + 1) * L),
    }));
    const design = InMemoryDesign.fromRows(n, blocks);
    const opts = {
      epochs,
      pixelsPerAperture: K,
      lr,
      rowOrder: "sequential" as const,
      x0: new Float64Array(n).fill(x0),
    };
    const first = await solveKaczmarz(design, opts);
    let diff = 0;
    let xmax = 0;
    for (let j = 0; j < n; j++) {
      diff = Math.max(diff, Math.abs(first.x[j]! - py.reference.x[j]!));
      xmax = Math.max(xmax, Math.abs(py.reference.x[j]!));
    }
    const rel = diff / xmax;
    if (!(rel < 1e-8)) throw new Error(`Kaczmarz n=${n}: differs from numpy by ${rel}`);
    const ours: number[] = [];
    const theirs: number[] = [];
    try {
      for (let k = 0; k < reps; k++) {
        theirs.push(await py.run());
        const t0 = performance.now();
        await solveKaczmarz(design, opts);
        ours.push((performance.now() - t0) / 1000);
      }
    } finally {
      py.stop();
    }
    const updates = S * K * epochs;
    const fmt = (s: number) =>
      `${(updates / s / 1e3).toFixed(0)} k rows/s (${(s * 1000).toFixed(0)} ms)`;
    out.push(
      `| ${n} | ${fmt(median(ours))} | ${fmt(median(theirs))} | ${(median(theirs) / median(ours)).toFixed(2)}x | ${rel.toExponential(1)} |`,
    );
    console.log(out.at(-1));
  }

  // 2. NNLS. Thread start-up (a worker importing the module graph; under tsx that includes
  // compiling it) is part of every normalEquations call with threads > 1: measured apart.
  const tiny = InMemoryDesign.fromRows(4, [
    { a: new Float64Array(4).fill(1), y: Float64Array.of(1) },
    { a: new Float64Array(4).fill(1), y: Float64Array.of(1) },
  ]);
  const startups: number[] = [];
  for (let k = 0; k < 3; k++) {
    const t0 = performance.now();
    await normalEquations(tiny, { threads: 2 });
    startups.push((performance.now() - t0) / 1000);
  }
  out.push(
    `\nthread start-up of normalEquations({ threads: 2 }) (included below): ${median(startups).toFixed(2)} s`,
  );
  out.push(
    "\nExact NNLS to KKT <= 1e-6: stagelab = normal equations + active set (tol 1e-6); scipy.optimize.nnls(A, y)\n",
    "| rows x cols | stagelab 1 thread (G + solve) | stagelab 2 threads | scipy nnls | ratio (1 thread) | ratio (2 threads) | KKT stagelab / scipy | objective rel. diff |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
  );
  for (const [rows, n] of nnlsSizes) {
    const spaxels = 16;
    const per = Math.ceil(rows / spaxels);
    const A = makeDesign(rows, n, per, rows + n);
    const y = targets(A, rows, n, rows, 0.05);
    const fa = path.join(dir, "A.f64");
    const fy = path.join(dir, "y.f64");
    writeF64(fa, A);
    writeF64(fy, y);
    const py = await startPython(["nnls", fa, fy, rows, n].map(String));
    fs.rmSync(fa);
    fs.rmSync(fy);
    const blocks = [];
    for (let r = 0; r < rows; r += per) {
      const e = Math.min(rows, r + per);
      blocks.push({ a: A.subarray(r * n, e * n), y: y.subarray(r, e) });
    }
    const design = InMemoryDesign.fromRows(n, blocks);
    const ref = py.reference;
    if (!(ref.kkt! <= 1e-6)) throw new Error(`scipy's KKT residual is ${ref.kkt}`);
    const run = async (threads: number) => {
      const t0 = performance.now();
      const ne = await normalEquations(design, { threads });
      const t1 = performance.now();
      const res = await solveNnls(ne, { tol: 1e-6 });
      const t2 = performance.now();
      if (!(res.converged && res.kkt <= 1e-6)) throw new Error(`NNLS KKT ${res.kkt}`);
      return { gram: (t1 - t0) / 1000, solve: (t2 - t1) / 1000, res };
    };
    const warm = await run(1);
    const relObj = (warm.res.objective - ref.objective!) / ref.objective!;
    const one: { gram: number; solve: number }[] = [];
    const two: { gram: number; solve: number }[] = [];
    const theirs: number[] = [];
    try {
      for (let k = 0; k < reps; k++) {
        theirs.push(await py.run());
        one.push(await run(1));
        two.push(await run(2));
      }
    } finally {
      py.stop();
    }
    const tot = (a: { gram: number; solve: number }[]) => median(a.map((t) => t.gram + t.solve));
    const fmt = (a: { gram: number; solve: number }[]) =>
      `${tot(a).toFixed(2)} s (${median(a.map((t) => t.gram)).toFixed(2)} + ${median(a.map((t) => t.solve)).toFixed(2)})`;
    out.push(
      `| ${rows} x ${n} | ${fmt(one)} | ${fmt(two)} | ${median(theirs).toFixed(2)} s | ` +
        `${(median(theirs) / tot(one)).toFixed(2)}x | ${(median(theirs) / tot(two)).toFixed(2)}x | ` +
        `${warm.res.kkt.toExponential(1)} / ${ref.kkt!.toExponential(1)} | ${relObj.toExponential(1)} |`,
    );
    console.log(out.at(-1));
  }
  console.log("\nratio > 1: stagelab faster");
  for (const l of out) console.log(l);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
