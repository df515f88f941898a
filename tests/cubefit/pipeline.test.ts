// CubeFit end to end through one file: populate -> HyperCube build -> Kaczmarz fit with the
// tracker writing /Fit -> exact NNLS from the Kaczmarz warm start -> /ModelCube -> residuals.
// The truth is the generator's weights; with noise, the recovered weights are judged against
// the errors the noise implies (the NNLS covariance on its free set, sigma^2 (A^T A)^-1).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { buildHyperCube } from "../../src/cubefit/hypercube.js";
import { HyperCubeReader, reconstructModelCube } from "../../src/cubefit/reader.js";
import { compareToOptimum, kktResidual, nnlsFit, solveAll } from "../../src/cubefit/solve/index.js";
import { StoreReader } from "../../src/store/index.js";
import { tempDir, writeProblem } from "./fixtures/helpers.js";

const dir = tempDir("pipeline");
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Inverse of the symmetric positive definite G restricted to `free` (Gauss-Jordan). */
function inverseOn(gram: Float64Array, n: number, free: number[]): Float64Array {
  const k = free.length;
  const a = new Float64Array(k * 2 * k);
  free.forEach((i, r) => {
    free.forEach((j, c) => (a[r * 2 * k + c] = gram[i * n + j]!));
    a[r * 2 * k + k + r] = 1;
  });
  for (let p = 0; p < k; p++) {
    const piv = a[p * 2 * k + p]!;
    for (let c = 0; c < 2 * k; c++) a[p * 2 * k + c]! /= piv;
    for (let r = 0; r < k; r++) {
      if (r === p) continue;
      const f = a[r * 2 * k + p]!;
      for (let c = 0; c < 2 * k; c++) a[r * 2 * k + c]! -= f * a[p * 2 * k + c]!;
    }
  }
  const inv = new Float64Array(k * k);
  for (let r = 0; r < k; r++) for (let c = 0; c < k; c++) inv[r * k + c] = a[r * 2 * k + k + c]!;
  return inv;
}

async function pipeline(name: string, noiseSigma: number) {
  const file = path.join(dir, `${name}.h5`);
  const ifu = await writeProblem(file, { noiseSigma, seed: 7 });
  const build = await buildHyperCube(file, { workers: 2 });
  assert.equal(build.complete, true);
  const design = await HyperCubeReader.open(file);
  try {
    const kz = await solveAll(file, design, {
      epochs: 30,
      pixelsPerAperture: 64,
      lr: 0.5,
      seed: 3,
      tracker: { metricsIntervalSec: 0, valIntervalSec: 0, ckptIntervalSec: 0, Ns: 4, Kval: 16 },
    });
    const exact = await nnlsFit(design, { x0: kz.x, threads: 1 });
    return { file, ifu, kz, exact };
  } finally {
    design.close();
  }
}

test("noise-free: NNLS recovers the weights within 1%; Kaczmarz approaches it; /Fit and /ModelCube", async () => {
  const { file, ifu, kz, exact } = await pipeline("clean", 0);
  assert.ok(exact.converged && exact.kkt < 1e-8, `KKT ${exact.kkt}`);
  const peak = Math.max(...ifu.xTrue);
  let worst = 0;
  for (let j = 0; j < ifu.xTrue.length; j++)
    worst = Math.max(worst, Math.abs(exact.x[j]! - ifu.xTrue[j]!) / peak);
  assert.ok(worst <= 0.01, `largest weight error ${worst} of the largest weight`);
  // The Kaczmarz answer is a neighbourhood of the optimum: reported, and closer than the start.
  const gap = await compareToOptimum(exact.normal, kz.x, exact.x);
  const gapStart = await compareToOptimum(exact.normal, new Float64Array(kz.x.length), exact.x);
  assert.ok(gap.relDistance < gapStart.relDistance && gap.relGap < 1e-3, JSON.stringify(gap));
  assert.ok(kktResidual(exact.normal, kz.x) > exact.kkt);
  // The tracker wrote the seed's /Fit while the solver ran.
  const r = await StoreReader.open(file);
  try {
    const epochs = r.read<"float64">("/Fit/metrics/epoch").data;
    assert.ok(epochs.length >= 2);
    assert.equal(r.read<"float64">("/Fit/x_best").data.length, ifu.C * ifu.P);
  } finally {
    r.close();
  }
  // y = A x into /ModelCube equals the noise-free cube.
  const recon = await reconstructModelCube(file, exact.x);
  assert.equal(recon.complete, true);
  const r2 = await StoreReader.open(file);
  try {
    const model = r2.read<"float64">("/ModelCube").data;
    let err = 0;
    let scale = 0;
    for (let i = 0; i < model.length; i++) {
      err = Math.max(err, Math.abs(model[i]! - ifu.yClean[i]!));
      scale = Math.max(scale, Math.abs(ifu.yClean[i]!));
    }
    assert.ok(err <= 1e-3 * scale, `ModelCube error ${err} of ${scale}`);
  } finally {
    r2.close();
  }
});

test("with noise: residuals at the noise level, weights within 4 expected standard errors", async () => {
  const sigma = 0.02;
  const { ifu, exact } = await pipeline("noisy", sigma);
  const n = exact.normal.n;
  const chi2 = exact.objective / (sigma * sigma);
  const dof = exact.normal.rows - exact.passive;
  assert.ok(Math.abs(chi2 / dof - 1) < 0.15, `chi2/dof ${chi2 / dof}`);
  const free = [...exact.x.keys()].filter((j) => exact.x[j]! > 0);
  const cov = inverseOn(exact.normal.gram, n, free);
  let worst = 0;
  free.forEach((j, r) => {
    const se = sigma * Math.sqrt(cov[r * free.length + r]!);
    worst = Math.max(worst, Math.abs(exact.x[j]! - ifu.xTrue[j]!) / se);
  });
  assert.ok(
    worst < 4,
    `largest error ${worst.toFixed(2)} standard errors over ${free.length} free weights`,
  );
});
