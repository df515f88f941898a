// The exact NNLS (src/cubefit/solve/nnls.ts) against scipy.optimize.nnls: committed fixtures
// made by fixtures/solve/make_nnls_fixtures.py, plus a live cross-check on fresh random
// problems when Debian's python with scipy is there. The KKT residual is also checked on its
// own: for a convex problem, KKT at 1e-8 is a certificate of optimality that needs no reference.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Rng } from "../../src/synth/random.js";
import {
  CubeFitSolveError,
  GramAccumulator,
  InMemoryDesign,
  compareToOptimum,
  kktResidual,
  nnlsFit,
  normalEquations,
  residualSumOfSquares,
  solveKaczmarz,
  solveNnls,
} from "../../src/cubefit/solve/index.js";
import { synthProblem } from "./fixtures/solve/synth.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const PYTHON = process.env.STAGELAB_SYSTEM_PYTHON ?? "/usr/bin/python3";

interface Case {
  name: string;
  n: number;
  pixels: number[];
  A: string;
  y: string;
  x_scipy: string;
  objective_scipy: number;
  x_true: string | null;
}

const f64 = (b64: string) => {
  const u8 = Buffer.from(b64, "base64");
  return new Float64Array(u8.buffer.slice(u8.byteOffset, u8.byteOffset + u8.byteLength));
};

function designOf(A: Float64Array, y: Float64Array, n: number, pixels: number[]): InMemoryDesign {
  const blocks: { a: Float64Array; y: Float64Array }[] = [];
  let r = 0;
  for (const p of pixels) {
    blocks.push({ a: A.slice(r * n, (r + p) * n), y: y.slice(r, r + p) });
    r += p;
  }
  return InMemoryDesign.fromRows(n, blocks);
}

const cases = (
  JSON.parse(fs.readFileSync(path.join(here, "fixtures/solve/nnls_cases.json"), "utf8")) as {
    cases: Case[];
  }
).cases;

// Cases whose optimum is unique (full column rank): x itself must match scipy's.
const UNIQUE = new Set([
  "gauss_overdetermined",
  "templates_noisy",
  "ill_conditioned",
  "consistent_exact",
]);

for (const c of cases) {
  test(`NNLS matches scipy.optimize.nnls: ${c.name}`, async () => {
    const A = f64(c.A);
    const y = f64(c.y);
    const design = designOf(A, y, c.n, c.pixels);
    const ne = await normalEquations(design, { threads: 1 });
    const res = await solveNnls(ne);
    assert.ok(res.converged, "converged");
    assert.ok(res.kkt < 1e-8, `KKT residual ${res.kkt}`);
    const { rss, yy } = await residualSumOfSquares(design, res.x);
    assert.ok(
      Math.abs(rss - c.objective_scipy) <= 1e-8 * c.objective_scipy + 1e-12 * yy,
      `objective ${rss} vs scipy ${c.objective_scipy}`,
    );
    for (const v of res.x) assert.ok(v >= 0);
    const xs = f64(c.x_scipy);
    if (UNIQUE.has(c.name)) {
      let xmax = 0;
      for (const v of xs) xmax = Math.max(xmax, v);
      for (let j = 0; j < c.n; j++)
        assert.ok(Math.abs(res.x[j]! - xs[j]!) <= 1e-6 * xmax, `x[${j}] ${res.x[j]} vs ${xs[j]}`);
    }
    if (c.x_true) {
      // Noise-free, non-negative truth: recovered (well within 1%).
      const xt = f64(c.x_true);
      for (let j = 0; j < c.n; j++) assert.ok(Math.abs(res.x[j]! - xt[j]!) <= 1e-6 * (1 + xt[j]!));
    }
    // scipy's answer passes our certificate too (the definition is not tuned to our solver).
    assert.ok(kktResidual(ne, xs) < 1e-8, `scipy's KKT ${kktResidual(ne, xs)}`);
  });
}

test("normal equations: threads give the same G as one thread, and as a direct A^T A", async () => {
  const c = cases.find((k) => k.name === "templates_noisy")!;
  const A = f64(c.A);
  const y = f64(c.y);
  const n = c.n;
  const design = designOf(A, y, n, c.pixels);
  const one = await normalEquations(design, { threads: 1, blockRows: 16 });
  const two = await normalEquations(design, { threads: 2 });
  const m = y.length;
  assert.equal(one.rows, m);
  assert.equal(two.rows, m);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let g = 0;
      for (let r = 0; r < m; r++) g += A[r * n + i]! * A[r * n + j]!;
      assert.ok(Math.abs(one.gram[i * n + j]! - g) <= 1e-12 * Math.abs(g) + 1e-13);
      assert.ok(Math.abs(two.gram[i * n + j]! - g) <= 1e-12 * Math.abs(g) + 1e-13);
    }
  }
  const acc = new GramAccumulator(n, 7); // a block size that never divides the row count
  acc.add(A, y, m);
  const three = acc.finish();
  for (let k = 0; k < n * n; k++)
    assert.ok(Math.abs(three.gram[k]! - one.gram[k]!) <= 1e-12 * Math.abs(one.gram[k]!) + 1e-13);
  assert.ok(Math.abs(two.yty - one.yty) <= 1e-12 * one.yty);
});

test("KKT certificate on many random problems (removals in the inner loop, warm starts)", async () => {
  const rng = new Rng(99);
  for (let trial = 0; trial < 30; trial++) {
    const n = 5 + Math.floor(rng.next() * 60);
    const m = Math.max(3, Math.floor(n * (0.5 + 2 * rng.next())));
    const A = new Float64Array(m * n);
    const y = new Float64Array(m);
    const positive = trial % 2 === 0;
    for (let k = 0; k < A.length; k++) A[k] = positive ? rng.next() : rng.normal();
    for (let r = 0; r < m; r++) y[r] = rng.normal() + (positive ? 1 : 0);
    const design = InMemoryDesign.fromRows(n, [{ a: A, y }]);
    const ne = await normalEquations(design, { threads: 1 });
    const cold = await solveNnls(ne);
    assert.ok(cold.converged && cold.kkt < 1e-8, `trial ${trial} (${m}x${n}): KKT ${cold.kkt}`);
    // Warm start from a perturbed, partly wrong support: same optimum value.
    const x0 = cold.x.map((v, j) => (j % 3 === 0 ? rng.next() : v * (0.5 + rng.next())));
    const warm = await solveNnls(ne, { x0 });
    assert.ok(
      warm.warmStarted && warm.converged && warm.kkt < 1e-8,
      `trial ${trial} warm KKT ${warm.kkt}`,
    );
    assert.ok(Math.abs(warm.objective - cold.objective) <= 1e-9 * (ne.yty + 1));
  }
});

test("Kaczmarz warm start, and its distance to the optimum", async () => {
  const pr = synthProblem({ S: 10, C: 3, P: 4, L: 60, noise: 0.01, sparse: 0.3 });
  const fit = await nnlsFit(pr.design, { threads: 1 });
  assert.ok(fit.kkt < 1e-8);
  const kz = await solveKaczmarz(pr.design, { epochs: 20, pixelsPerAperture: 60 });
  const cmp = await compareToOptimum(fit.normal, kz.x, fit.x, pr.design);
  // A fixed-step Kaczmarz on noisy data stops near, not at, the optimum; the report says how near.
  assert.ok(cmp.gap >= -1e-12 * cmp.optimum, `gap ${cmp.gap}`);
  assert.ok(cmp.relDistance > 0 && cmp.relDistance < 0.5, `relDistance ${cmp.relDistance}`);
  assert.ok(cmp.kkt > fit.kkt);
  const warm = await solveNnls(fit.normal, { x0: kz.x });
  assert.ok(warm.warmStarted && warm.kkt < 1e-8);
  assert.ok(warm.iterations <= fit.iterations, `warm ${warm.iterations} vs cold ${fit.iterations}`);
  assert.ok(Math.abs(warm.objective - fit.objective) <= 1e-10 * fit.normal.yty);
});

test("NNLS typed errors name the bad argument", async () => {
  const pr = synthProblem({ S: 2, C: 1, P: 3, L: 20 });
  const ne = await normalEquations(pr.design, { threads: 1 });
  await assert.rejects(solveNnls(ne, { x0: new Float64Array(2) }), (e: unknown) => {
    assert.ok(e instanceof CubeFitSolveError);
    assert.equal(e.field, "x0");
    return true;
  });
  await assert.rejects(solveNnls(ne, { tol: -1 }), /tol: must be > 0/);
  await assert.rejects(
    normalEquations(pr.design, { threads: 0 }),
    /threads: must be an integer >= 1/,
  );
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(normalEquations(pr.design, { signal: ac.signal, threads: 1 }), /signal/);
});

test("live cross-check against scipy.optimize.nnls on fresh random problems", async (t) => {
  const probe = spawnSync(PYTHON, ["-c", "import scipy.optimize, numpy"], { encoding: "utf8" });
  if (probe.status !== 0) {
    t.skip(`scipy is not available to ${PYTHON}`);
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cubefit-nnls-"));
  try {
    const rng = new Rng(2024);
    const problems: { m: number; n: number; A: number[]; y: number[] }[] = [];
    for (let k = 0; k < 6; k++) {
      const n = 10 + 15 * k;
      const m = 2 * n + 7;
      const A = Array.from({ length: m * n }, () => (k % 2 ? rng.normal() : rng.next()));
      const y = Array.from({ length: m }, () => rng.normal());
      problems.push({ m, n, A, y });
    }
    const input = path.join(dir, "in.json");
    fs.writeFileSync(input, JSON.stringify(problems));
    const script = [
      "import json, sys, numpy as np",
      "from scipy.optimize import nnls",
      "out = []",
      "for p in json.load(open(sys.argv[1])):",
      "    A = np.array(p['A']).reshape(p['m'], p['n']); y = np.array(p['y'])",
      "    x, r = nnls(A, y, maxiter=50 * p['n'])",
      "    out.append({'x': x.tolist(), 'obj': float(np.sum((A @ x - y) ** 2))})",
      "print(json.dumps(out))",
    ].join("\n");
    const run = spawnSync(PYTHON, ["-c", script, input], { encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
    const ref = JSON.parse(run.stdout) as { x: number[]; obj: number }[];
    for (let k = 0; k < problems.length; k++) {
      const { n, A, y } = problems[k]!;
      const design = InMemoryDesign.fromRows(n, [
        { a: Float64Array.from(A), y: Float64Array.from(y) },
      ]);
      const ne = await normalEquations(design, { threads: 1 });
      const res = await solveNnls(ne);
      const { rss, yy } = await residualSumOfSquares(design, res.x);
      assert.ok(res.kkt < 1e-8, `problem ${k}: KKT ${res.kkt}`);
      assert.ok(
        Math.abs(rss - ref[k]!.obj) <= 1e-8 * ref[k]!.obj + 1e-12 * yy,
        `problem ${k}: objective ${rss} vs scipy ${ref[k]!.obj}`,
      );
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
