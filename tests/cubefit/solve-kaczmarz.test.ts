// The seed's global Kaczmarz (src/cubefit/solve/kaczmarz.ts): convergence toward the exact
// NNLS optimum on consistent problems, weight recovery, the ratio penalty, seeding, resume
// priority, hooks, abort and typed errors; the wasm SIMD row kernel against kaczmarzRow.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../../src/synth/random.js";
import {
  CubeFitSolveError,
  InMemoryDesign,
  chooseRows,
  compareToOptimum,
  jacobiSeed,
  kaczmarzRow,
  nnlsFit,
  ratioPlan,
  ratioStep,
  residualSumOfSquares,
  resolveStart,
  solveKaczmarz,
} from "../../src/cubefit/solve/index.js";
import { wasmRowKernel } from "../../src/cubefit/solve/kaczmarz-wasm.js";
import { synthProblem } from "./fixtures/solve/synth.js";

function maxRelErr(x: Float64Array, truth: Float64Array): number {
  let xmax = 0;
  let e = 0;
  for (let j = 0; j < truth.length; j++) {
    xmax = Math.max(xmax, truth[j]!);
    e = Math.max(e, Math.abs(x[j]! - truth[j]!));
  }
  return e / xmax;
}

test("consistent problem: objective decreases epoch by epoch toward the NNLS optimum", async () => {
  const pr = synthProblem({ S: 12, C: 3, P: 4, L: 80, sparse: 0.2 });
  const opt = await nnlsFit(pr.design, { threads: 1 });
  assert.ok(opt.kkt < 1e-8);
  const objectives: number[] = [];
  const distances: number[] = [];
  await solveKaczmarz(pr.design, {
    epochs: 40,
    pixelsPerAperture: 64,
    onEpochEnd: async ({ x }) => {
      const c = await compareToOptimum(opt.normal, x, opt.x, pr.design);
      objectives.push(c.objective);
      distances.push(c.relDistance);
    },
  });
  assert.equal(objectives.length, 40);
  // Random row order is not monotone row by row; over 5-epoch windows it must be.
  for (let e = 5; e < 40; e += 5)
    assert.ok(
      objectives[e]! < objectives[e - 5]!,
      `epoch ${e}: ${objectives[e]} !< ${objectives[e - 5]}`,
    );
  assert.ok(objectives[39]! < 1e-4 * objectives[0]!, `${objectives[0]} -> ${objectives[39]}`);
  assert.ok(distances[39]! < 0.1 * distances[0]!, `distance ${distances[0]} -> ${distances[39]}`);
});

test("noise-free, known non-negative weights: NNLS to 1e-6, Kaczmarz within 1% after 200 epochs", async () => {
  // Documented tolerance: with the default lr 0.25 and K = 64 rows per spaxel this problem
  // (16 spaxels, C=4, P=6, 120 pixels) is at ~1e-5 after 200 epochs; 1% is reached by ~100.
  const pr = synthProblem({ S: 16, C: 4, P: 6, L: 120, sparse: 0.2 });
  const opt = await nnlsFit(pr.design, { threads: 1 });
  assert.ok(maxRelErr(opt.x, pr.xTrue) < 1e-6, `NNLS error ${maxRelErr(opt.x, pr.xTrue)}`);
  const kz = await solveKaczmarz(pr.design, { epochs: 200, pixelsPerAperture: 64 });
  assert.equal(kz.start, "jacobi");
  assert.equal(kz.epochs, 200);
  assert.equal(kz.rows, 200 * 16 * 64);
  assert.ok(maxRelErr(kz.x, pr.xTrue) < 0.01, `Kaczmarz error ${maxRelErr(kz.x, pr.xTrue)}`);
  for (const v of kz.x) assert.ok(v >= 0);
});

test("ratio penalty moves component ratios toward the orbit weights", async () => {
  // Components 0 and 1 have identical models: the data fix only their sum, so the split is
  // the penalty's to choose (without it, it stays where the symmetric seed put it).
  const base = synthProblem({ S: 8, C: 2, P: 3, L: 60 });
  const { S, C, P, L } = base;
  const m = base.models.slice();
  for (let s = 0; s < S; s++)
    for (let p = 0; p < P; p++)
      for (let l = 0; l < L; l++)
        m[((s * C + 1) * P + p) * L + l] = m[((s * C + 0) * P + p) * L + l]!;
  const data = new Float64Array(S * L);
  for (let s = 0; s < S; s++)
    for (let l = 0; l < L; l++) {
      let v = 0;
      for (let j = 0; j < C * P; j++) v += m[(s * C * P + j) * L + l]! * base.xTrue[j]!;
      data[s * L + l] = v;
    }
  const design = InMemoryDesign.fromModels(m, [S, C, P, L], data);
  const frac0 = (x: Float64Array) => {
    const s = [0, 0];
    for (let c = 0; c < 2; c++) for (let p = 0; p < P; p++) s[c]! += x[c * P + p]!;
    return s[0]! / (s[0]! + s[1]!);
  };
  const off = await solveKaczmarz(design, { epochs: 30, pixelsPerAperture: 60 });
  const on31 = await solveKaczmarz(design, {
    epochs: 30,
    pixelsPerAperture: 60,
    orbitWeights: [3, 1],
  });
  const on13 = await solveKaczmarz(design, {
    epochs: 30,
    pixelsPerAperture: 60,
    orbitWeights: [1, 3],
  });
  assert.equal(off.ratioSteps, 0);
  assert.ok(on31.ratioSteps > 100, `${on31.ratioSteps} ratio steps`);
  assert.ok(
    Math.abs(frac0(on31.x) - 0.75) < Math.abs(frac0(off.x) - 0.75) / 10,
    `${frac0(on31.x)}`,
  );
  assert.ok(
    Math.abs(frac0(on13.x) - 0.25) < Math.abs(frac0(off.x) - 0.25) / 10,
    `${frac0(on13.x)}`,
  );
  // The data fit is not given up for it.
  const r = await residualSumOfSquares(design, on31.x);
  assert.ok(r.rss < 1e-6 * r.yy, `rss ${r.rss} of ${r.yy}`);
  // ratioUse: false switches it off even with weights.
  const forcedOff = await solveKaczmarz(design, {
    epochs: 2,
    orbitWeights: [3, 1],
    ratioUse: false,
  });
  assert.equal(forcedOff.ratioSteps, 0);
});

test("ratio step: eta 1 projects exactly onto s_c = (w_c / w_anchor) s_anchor", () => {
  const plan = ratioPlan(12, 0.25, {
    orbitWeights: [4, 1, 2],
    ratioEta: 1,
    ratioBatch: 2,
    ratioProb: 1,
  })!;
  assert.equal(plan.anchor, 0); // "auto": the largest weight
  assert.deepEqual([...plan.eligible], [1, 2]);
  assert.equal(plan.nPop, 4);
  const x = Float64Array.from([5, 5, 5, 5, 1, 2, 3, 4, 9, 9, 9, 9]);
  const n = ratioStep(x, plan, new Rng(1), false);
  assert.equal(n, 2);
  const s = [0, 0, 0];
  for (let c = 0; c < 3; c++) for (let p = 0; p < 4; p++) s[c]! += x[c * 4 + p]!;
  // Both components were projected, one after the other; the second projection moved the
  // anchor, so check the last one exactly and the ratios' direction for both.
  const r1 = s[1]! / s[0]!;
  const r2 = s[2]! / s[0]!;
  assert.ok(Math.abs(r1 - 0.25) < 1e-12 || Math.abs(r2 - 0.5) < 1e-12, `${r1} ${r2}`);
  assert.ok(
    Math.abs(r1 - 0.25) < Math.abs(10 / 20 - 0.25) && Math.abs(r2 - 0.5) < Math.abs(36 / 20 - 0.5),
  );
  // ratioMinWeight is relative to max(w): 0.3 * 4 = 1.2 excludes component 1.
  const plan2 = ratioPlan(12, 0.25, { orbitWeights: [4, 1, 2], ratioMinWeight: 0.3 })!;
  assert.deepEqual([...plan2.eligible], [2]);
  assert.ok(Math.abs(plan2.eta - 0.025) < 1e-15); // default 0.1 * lr
  assert.equal(ratioPlan(12, 0.25, {}), undefined); // no weights: off
  const plan3 = ratioPlan(12, 0.25, { orbitWeights: [4, 1, 2], ratioAnchor: 2 })!;
  assert.deepEqual([...plan3.eligible], [0, 1]);
});

test("streaming-Jacobi seed: non-negative, and the rescale lowers the objective", async () => {
  const pr = synthProblem({ S: 12, C: 3, P: 4, L: 80 });
  const raw = await jacobiSeed(pr.design, { spaxels: 4, pixels: 32, rescale: false });
  const scaled = await jacobiSeed(pr.design, { spaxels: 4, pixels: 32 });
  for (const v of raw) assert.ok(v >= 0 && Number.isFinite(v));
  // Same shape, different scale.
  const k = scaled[0]! / raw[0]!;
  for (let j = 0; j < raw.length; j++)
    assert.ok(Math.abs(scaled[j]! - k * raw[j]!) <= 1e-12 * scaled[j]!);
  const a = await residualSumOfSquares(pr.design, raw);
  const b = await residualSumOfSquares(pr.design, scaled);
  assert.ok(b.rss < 0.5 * a.rss, `${b.rss} vs ${a.rss}`);
  assert.ok(k < 1, "the unscaled seed overshoots");
});

test("rows: seeded and reproducible; random rows distinct; sequential epochs cover every pixel", async () => {
  const pr = synthProblem({ S: 4, C: 2, P: 3, L: 50 });
  const a = await solveKaczmarz(pr.design, { epochs: 3, pixelsPerAperture: 20, seed: 5 });
  const b = await solveKaczmarz(pr.design, { epochs: 3, pixelsPerAperture: 20, seed: 5 });
  const c = await solveKaczmarz(pr.design, { epochs: 3, pixelsPerAperture: 20, seed: 6 });
  assert.deepEqual(a.x, b.x);
  assert.notDeepEqual(a.x, c.x);
  const rng = new Rng(3);
  const out = new Int32Array(20);
  const perm = new Int32Array(50);
  for (let e = 0; e < 5; e++) {
    assert.equal(chooseRows(out, perm, 50, 20, "random", e, rng), 20);
    assert.equal(new Set(out).size, 20);
    for (const l of out) assert.ok(l >= 0 && l < 50);
  }
  const seen = new Set<number>();
  for (let e = 0; e < 3; e++) {
    chooseRows(out, perm, 50, 20, "sequential", e, rng);
    assert.equal(out[0], (e * 20) % 50);
    for (const l of out) seen.add(l);
  }
  assert.equal(seen.size, 50);
  // Fewer pixels than K: all of them, once.
  assert.equal(chooseRows(out, perm, 7, 20, "random", 0, rng), 7);
  assert.deepEqual([...out.subarray(0, 7)].sort(), [0, 1, 2, 3, 4, 5, 6]);
});

test("hooks, progress, awaited promises and abort", async () => {
  const pr = synthProblem({ S: 6, C: 2, P: 2, L: 30 });
  const batches: number[] = [];
  const fractions: number[] = [];
  let epochEnds = 0;
  let slowDone = 0;
  const res = await solveKaczmarz(pr.design, {
    epochs: 2,
    pixelsPerAperture: 10,
    onBatch: async (rmse, info) => {
      batches.push(rmse);
      assert.ok(info.epochsDone > 0 && info.epochsDone <= 2);
      await new Promise((r) => setTimeout(r, 1));
      slowDone++;
    },
    onEpochEnd: (info) => {
      epochEnds++;
      assert.ok(info.trainRmse > 0 && info.rows === 60);
      assert.equal(slowDone, (info.epoch + 1) * 6, "onBatch promises were awaited");
    },
    onProgress: (p) => fractions.push(p.fraction),
  });
  assert.equal(batches.length, 12);
  assert.equal(epochEnds, 2);
  assert.equal(fractions.at(-1), 1);
  assert.equal(res.aborted, false);
  for (const b of batches) assert.ok(Number.isFinite(b) && b >= 0);

  const ac = new AbortController();
  let seen = 0;
  const stopped = await solveKaczmarz(pr.design, {
    epochs: 100,
    pixelsPerAperture: 10,
    signal: ac.signal,
    onBatch: () => {
      if (++seen === 9) ac.abort();
    },
  });
  assert.equal(stopped.aborted, true);
  assert.equal(stopped.rows, 90);
  assert.equal(stopped.epochs, 1); // the first epoch (6 spaxels) finished, the second did not
  assert.equal(stopped.x.length, pr.design.nCols);
});

test("resume priority: x_best, then X_global, then x0, then the Jacobi seed", () => {
  const n = 4;
  const xb = Float64Array.of(1, 1, 1, 1);
  const xg = Float64Array.of(2, 2, 2, 2);
  const x0 = Float64Array.of(3, 3, 3, 3);
  assert.equal(resolveStart(n, { xBest: xb, xGlobal: xg }, x0).source, "x_best");
  assert.equal(resolveStart(n, { xGlobal: xg }, x0).source, "X_global");
  assert.equal(resolveStart(n, { xBest: new Float64Array(0), xGlobal: xg }).source, "X_global");
  assert.equal(resolveStart(n, {}, x0).source, "x0");
  assert.equal(resolveStart(n, {}).source, "jacobi");
  assert.equal(resolveStart(n, {}).x, undefined);
  assert.equal(resolveStart(n, { xBest: xb }, x0, { preferX0: true }).source, "x0");
  assert.throws(
    () => resolveStart(n, { xBest: new Float64Array(3) }),
    /\/Fit\/x_best: has 3 entries/,
  );
});

test("typed errors name the knob", async () => {
  const pr = synthProblem({ S: 2, C: 3, P: 2, L: 20 });
  const bad = async (opts: Parameters<typeof solveKaczmarz>[1], field: string) =>
    assert.rejects(solveKaczmarz(pr.design, opts), (e: unknown) => {
      assert.ok(e instanceof CubeFitSolveError, String(e));
      assert.equal(e.field, field);
      return true;
    });
  await bad({ lr: 2 }, "lr");
  await bad({ pixelsPerAperture: 0 }, "pixelsPerAperture");
  await bad({ orbitWeights: [1, 1, 1, 1] }, "orbitWeights"); // 4 does not divide 6
  await bad({ orbitWeights: [1, -1, 1] }, "orbitWeights");
  await bad({ ratioUse: true }, "ratioUse");
  await bad({ orbitWeights: [1, 0, 1], ratioAnchor: 1 }, "ratioAnchor");
  await bad({ x0: new Float64Array(5) }, "x0");
  await bad({ rowOrder: "backwards" as never }, "rowOrder");
  const broken = {
    nSpaxels: 1,
    nCols: 6,
    spaxel: async () => ({ a: new Float64Array(6), y: new Float64Array(2), pixels: 2 }),
  };
  await assert.rejects(solveKaczmarz(broken, {}), /spaxel 0: declares 2 pixels x 6 columns/);
});

test("fromModels: the seed's models[s,c,p,l] give A_s[l, c*P+p], with the mask applied", async () => {
  const S = 2,
    C = 2,
    P = 3,
    L = 5;
  const models = Float32Array.from({ length: S * C * P * L }, (_, i) => i);
  const data = Float64Array.from({ length: S * L }, (_, i) => 100 + i);
  const mask = [1, 0, 1, 1, 0];
  const d = InMemoryDesign.fromModels(models, [S, C, P, L], data, mask);
  const sp = await d.spaxel(1);
  assert.equal(sp.pixels, 3);
  assert.deepEqual([...sp.y], [105, 107, 108]);
  const used = [0, 2, 3];
  for (let i = 0; i < 3; i++)
    for (let c = 0; c < C; c++)
      for (let p = 0; p < P; p++)
        assert.equal(sp.a[i * C * P + c * P + p], ((1 * C + c) * P + p) * L + used[i]!);
  await assert.rejects(d.spaxel(2), /outside \[0, 2\)/);
});

/** The textbook step, one accumulator: the independent check of both kernels. */
function plainStep(
  a: Float64Array,
  off: number,
  yl: number,
  x: Float64Array,
  lr: number,
  project: boolean,
) {
  let dot = 0;
  let nrm = 0;
  for (let j = 0; j < x.length; j++) {
    dot += a[off + j]! * x[j]!;
    nrm += a[off + j]! ** 2;
  }
  const r = yl - dot;
  if (nrm > 0)
    for (let j = 0; j < x.length; j++) {
      const v = x[j]! + ((lr * r) / nrm) * a[off + j]!;
      x[j] = project ? Math.max(v, 0) : v;
    }
  return r;
}

const bits = (x: Float64Array) => new BigUint64Array(x.buffer, x.byteOffset, x.length);

test("wasm SIMD row kernel: kaczmarzRow bit for bit, the textbook step to rounding", () => {
  const rng = new Rng(11);
  // Every remainder mod 4 (the kernel's block size), short rows and the bench's long ones.
  for (const n of [1, 2, 3, 4, 5, 6, 7, 9, 37, 720, 3601])
    for (const project of [true, false]) {
      const kernel = wasmRowKernel(n);
      assert.ok(kernel, "Node has wasm SIMD");
      const rows = 12;
      // Mixed signs and exact zeros; row 5 is all zero (no step); odd offsets into `a`.
      const a = Float64Array.from({ length: rows * n + 3 }, () =>
        rng.next() < 0.1 ? 0 : rng.normal(),
      );
      a.fill(0, 5 * n + 1, 6 * n + 1);
      const x0 = Float64Array.from({ length: n }, () => rng.next() - 0.3);
      kernel.x.set(x0);
      const ref = x0.slice();
      const plain = x0.slice();
      for (let t = 0; t < rows; t++) {
        const off = t * n + (t % 4 === 1 ? 1 : 0);
        const yl = 3 * rng.normal();
        const lr = 0.25 + rng.next();
        const r = kernel.row(a, off, yl, lr, project);
        assert.ok(Object.is(r, kaczmarzRow(a, off, yl, ref, n, lr, project)), `n ${n} row ${t}`);
        assert.deepEqual(bits(kernel.x), bits(ref), `n ${n} row ${t}: x`);
        const rp = plainStep(a, off, yl, plain, lr, project);
        const scale = Math.max(1, ...plain.map(Math.abs));
        assert.ok(Math.abs(r - rp) <= 1e-11 * Math.max(1, Math.abs(rp)), `${r} vs ${rp}`);
        for (let j = 0; j < n; j++) {
          assert.ok(Math.abs(kernel.x[j]! - plain[j]!) <= 1e-11 * scale, `n ${n} x[${j}]`);
          if (project) assert.ok(Object.is(kernel.x[j], Math.abs(kernel.x[j]!)), "x >= +0");
        }
        plain.set(kernel.x); // rounding differences stay per step, not compounded
      }
    }
});

test("solveKaczmarz (wasm kernel) follows the textbook loop: sequential rows, x0, no ratio", async () => {
  const rng = new Rng(12);
  const n = 37;
  const L = 20;
  const K = 8;
  const blocks = Array.from({ length: 3 }, () => ({
    a: Float64Array.from({ length: L * n }, () => 0.1 + rng.next()),
    y: Float64Array.from({ length: L }, () => 10 * rng.next()),
  }));
  const x0 = Float64Array.from({ length: n }, () => rng.next());
  const res = await solveKaczmarz(InMemoryDesign.fromRows(n, blocks), {
    epochs: 3,
    pixelsPerAperture: K,
    lr: 0.5,
    rowOrder: "sequential",
    x0,
  });
  const x = x0.slice();
  for (let e = 0; e < 3; e++)
    for (const { a, y } of blocks)
      for (let i = 0; i < K; i++) {
        const l = (((e * K) % L) + i) % L;
        plainStep(a, l * n, y[l]!, x, 0.5, true);
      }
  assert.equal(res.rows, 3 * 3 * K);
  assert.ok(maxRelErr(res.x, x) < 1e-12, `${maxRelErr(res.x, x)}`);
  assert.equal(res.x.buffer.byteLength, n * 8, "the result owns its x (not a view of wasm memory)");
});
