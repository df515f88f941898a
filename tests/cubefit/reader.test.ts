// Reading the HyperCube for a solver (mask-aware spaxel blocks, streamed slabs, refusal of
// incomplete cubes) and the model cube A x: against numpy's einsum over the file read with
// h5py, the synthetic truth (A x_true = y), a last tile shorter than the others, skip on the
// same x, resume after an abort; plus the synthetic IFU's own properties.
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { StoreReader } from "../../src/store/index.js";
import {
  buildHyperCube,
  CubeFitError,
  CUBEFIT,
  diagnoseRebinEdges,
  HyperCubeReader,
  modelCubeDigest,
  reconstructModelCube,
} from "../../src/cubefit/index.js";
import { syntheticIfu } from "../../src/synth/ifu.js";
import { hasH5py, pythonReference, tempDir, writeProblem } from "./fixtures/helpers.js";

const dir = tempDir("reader");
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const OPTS = { keepModels: true } as const;
const file = path.join(dir, "cube.h5");
let ifu: ReturnType<typeof syntheticIfu>;

before(async () => {
  ifu = await writeProblem(file, OPTS);
  await buildHyperCube(file, { sChunk: 5, cChunk: 1, pChunk: 4, workers: 2 });
});

async function readAll(f: string, ds: string) {
  const r = await StoreReader.open(f);
  try {
    return r.read(ds).data;
  } finally {
    r.close();
  }
}

test("reader: a spaxel's design block is the models at the unmasked pixels, and A x_true = y", async () => {
  const r = await HyperCubeReader.open(file);
  try {
    const { S, C, P, L } = ifu;
    assert.deepEqual([r.S, r.C, r.P, r.L, r.Lm], [S, C, P, L, L - 8]);
    const used = Array.from(r.pixels);
    assert.deepEqual(
      used,
      Array.from({ length: L }, (_, l) => l).filter((l) => ifu.inputs.mask![l]),
    );
    for (const s of [0, 7, S - 1]) {
      const { A, y } = r.readSpaxel(s);
      assert.equal(A.length, C * P * r.Lm);
      for (const [cp, j] of [
        [0, 0],
        [C * P - 1, r.Lm - 1],
        [9, 100],
      ] as const)
        assert.equal(A[cp * r.Lm + j], ifu.models![(s * C * P + cp) * L + used[j]!]);
      // y = A x_true (noise-free synthetic data), to float64 rounding.
      let err = 0;
      let scale = 0;
      for (let j = 0; j < r.Lm; j++) {
        let acc = 0;
        for (let cp = 0; cp < C * P; cp++) acc += A[cp * r.Lm + j]! * ifu.xTrue[cp]!;
        err = Math.max(err, Math.abs(acc - y[j]!));
        scale = Math.max(scale, Math.abs(y[j]!));
      }
      assert.ok(err <= 1e-13 * scale, `spaxel ${s}: ${err}`);
    }
    // Pixel-major rows (the solvers' DesignSource) are the same numbers transposed.
    assert.deepEqual([r.nSpaxels, r.nCols], [S, C * P]);
    const rows = await r.spaxel(7);
    const blk = r.readSpaxel(7);
    assert.equal(rows.pixels, r.Lm);
    assert.deepEqual(rows.y, blk.y);
    for (let j = 0; j < r.Lm; j += 17)
      for (let cp = 0; cp < C * P; cp += 5)
        assert.equal(rows.a[j * C * P + cp], blk.A[cp * r.Lm + j]);
    // Streaming in slabs of whole chunks gives the same blocks, every spaxel once, in order.
    const streamed = [...r.spaxels(2, S, 6 * C * P * L * 4)];
    assert.deepEqual(
      streamed.map((b) => b.s),
      Array.from({ length: S - 2 }, (_, i) => i + 2),
    );
    assert.deepEqual(streamed[5]!.A, r.readSpaxel(7).A);
    assert.deepEqual(streamed[5]!.y, r.readSpaxel(7).y);
    assert.throws(
      () => r.readSpaxel(S),
      (e: unknown) => e instanceof CubeFitError && e.field === "spaxels",
    );
  } finally {
    r.close();
  }
});

test("reader: an incomplete HyperCube is refused unless asked", async () => {
  const partial = path.join(dir, "partial.h5");
  await writeProblem(partial, OPTS);
  await assert.rejects(
    HyperCubeReader.open(partial),
    (e: unknown) =>
      e instanceof CubeFitError && e.field === CUBEFIT.models && /buildHyperCube/.test(e.message),
  );
  const ac = new AbortController();
  await buildHyperCube(partial, {
    sChunk: 2,
    workers: 1,
    tilesInFlight: 1,
    signal: ac.signal,
    onProgress: (d) => d >= 2 && ac.abort(),
  });
  await assert.rejects(
    HyperCubeReader.open(partial),
    (e: unknown) => e instanceof CubeFitError && /incomplete: \d+ of 18 tiles done/.test(e.message),
  );
  const r = await HyperCubeReader.open(partial, { requireComplete: false });
  assert.equal(r.status.complete, false);
  r.close();
  await assert.rejects(
    reconstructModelCube(partial, ifu.xTrue),
    (e: unknown) => e instanceof CubeFitError && /incomplete/.test(e.message),
  );
});

test("reader: /ModelCube = A x equals numpy's einsum; same x skips; a new x recomputes", async (t) => {
  const first = await reconstructModelCube(file, ifu.xTrue);
  assert.deepEqual(
    [first.skipped, first.complete, first.slabsTotal, first.slabsComputed],
    [false, true, 3, 3],
  );
  const mc = (await readAll(file, CUBEFIT.modelCube)) as Float64Array;
  // A x_true is the synthetic (noise-free) data cube, last tile (2 spaxels of 5) included.
  assert.deepEqual(mc, ifu.yClean);
  assert.equal(await modelCubeDigest(file), first.xDigest);
  const again = await reconstructModelCube(file, ifu.xTrue);
  assert.deepEqual([again.skipped, again.slabsComputed], [true, 0]);
  if (hasH5py) {
    const ref = pythonReference(file, ifu.xTrue);
    assert.ok((ref["ModelCube_err"] as number) < 1e-13, `einsum ${ref["ModelCube_err"]}`);
    assert.equal(ref["ModelCube_x_digest"], first.xDigest);
    assert.ok((ref["datacube_vs_Ax"] as number) < 1e-13);
  } else t.diagnostic("no h5py: numpy check skipped");
  // Another x (any sign): every slab again, with a small read budget (one P chunk at a time).
  const x2 = Float64Array.from(ifu.xTrue, (v, i) => (i % 3) - v);
  const second = await reconstructModelCube(file, x2, {
    maxBytesPerSlab: 5 * ifu.C * 4 * ifu.L * 4,
  });
  assert.deepEqual([second.skipped, second.slabsComputed], [false, 3]);
  const mc2 = (await readAll(file, CUBEFIT.modelCube)) as Float64Array;
  const { S, C, P, L } = ifu;
  let err = 0;
  for (let s = 0; s < S; s++)
    for (let l = 0; l < L; l++) {
      let acc = 0;
      for (let cp = 0; cp < C * P; cp++) acc += ifu.models![(s * C * P + cp) * L + l]! * x2[cp]!;
      err = Math.max(err, Math.abs(acc - mc2[s * L + l]!));
    }
  assert.ok(err < 1e-12, `${err}`);
});

test("reader: the model cube resumes after an abort and takes its own tiling and name", async () => {
  const ac = new AbortController();
  const name = "/ModelCubeTrue";
  const part = await reconstructModelCube(file, ifu.xTrue, {
    arrayName: name,
    sTile: 4,
    signal: ac.signal,
    onProgress: (d) => d >= 1 && ac.abort(),
  });
  assert.deepEqual([part.complete, part.slabsComputed, part.slabsTotal], [false, 1, 3]);
  const rest = await reconstructModelCube(file, ifu.xTrue, { arrayName: name });
  assert.deepEqual([rest.complete, rest.slabsComputed], [true, 2]);
  assert.deepEqual(await readAll(file, name), ifu.yClean);
  await assert.rejects(
    reconstructModelCube(file, ifu.xTrue, { arrayName: name, sTile: 3 }),
    (e: unknown) => e instanceof CubeFitError && e.field === "sTile",
  );
  await assert.rejects(
    reconstructModelCube(file, [1, 2, 3]),
    (e: unknown) => e instanceof CubeFitError && e.field === "x" && /C \* P/.test(e.message),
  );
  await assert.rejects(
    reconstructModelCube(
      file,
      Float64Array.from(ifu.xTrue, () => Number.NaN),
    ),
    (e: unknown) => e instanceof CubeFitError && e.field === "x",
  );
});

test("synthetic IFU: deterministic, valid LOSVDs, sparse non-negative truth, guard safe, known noise", async () => {
  const a = syntheticIfu({ seed: 5 });
  const b = syntheticIfu({ seed: 5 });
  const c = syntheticIfu({ seed: 6 });
  assert.deepEqual(a.inputs.datacube.data, b.inputs.datacube.data);
  assert.deepEqual(a.xTrue, b.xTrue);
  assert.notDeepEqual(a.xTrue, c.xTrue);
  const { S, C, P, V } = a;
  for (let s = 0; s < S; s++)
    for (let k = 0; k < C; k++) {
      let sum = 0;
      for (let v = 0; v < V; v++) {
        const h = a.inputs.losvd.data[(s * V + v) * C + k]!;
        assert.ok(h >= 0);
        sum += h;
      }
      assert.ok(Math.abs(sum - 1) < 1e-6);
    }
  // Components differ in mean velocity and dispersion.
  assert.ok(Math.abs(a.kinematics.mean[0]! - a.kinematics.mean[2]!) > 50);
  assert.ok(a.kinematics.sigma[1]! > 2 * a.kinematics.sigma[0]!);
  assert.ok(a.xTrue.every((x) => x >= 0));
  const nz = a.xTrue.filter((x) => x > 0).length;
  assert.ok(nz >= C && nz < C * P, `${nz} non-zero`);
  for (let k = 0; k < C; k++) assert.ok(a.xTrue.subarray(k * P, (k + 1) * P).some((x) => x > 0));
  const noisy = syntheticIfu({ seed: 5, noiseSigma: 0.01 });
  assert.deepEqual(noisy.yClean, a.yClean);
  let ss = 0;
  const y = noisy.inputs.datacube.data;
  for (let i = 0; i < y.length; i++) ss += (y[i]! - noisy.yClean[i]!) ** 2;
  const std = Math.sqrt(ss / y.length);
  assert.ok(Math.abs(std - 0.01) < 0.001, `noise std ${std}`);
  const f = path.join(dir, "synth.h5");
  await writeProblem(f, { seed: 5 });
  assert.equal((await diagnoseRebinEdges(f)).safe, true);
  assert.throws(
    () => syntheticIfu({ templatePixels: 520 }),
    (e: unknown) => e instanceof CubeFitError && e.field === "templatePixels",
  );
});
