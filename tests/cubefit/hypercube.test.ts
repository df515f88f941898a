// The HyperCube build: a tiled build (partial tiles on every axis) equals an untiled one, the
// synthetic generator's models and numpy's np.convolve + R_T over the same file read with h5py;
// abort and kill -9 then resume give the uninterrupted result bit for bit; changed LOSVDs
// invalidate only their tiles; compress and re-tile rewrite the file without changing a model.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { spawn } from "node:child_process";
import { StoreReader } from "../../src/store/index.js";
import {
  buildHyperCube,
  compressHypercube,
  CubeFitError,
  CUBEFIT,
  formatHypercubeStatus,
  hypercubeStatus,
  repackCubeFile,
  updateCubeInputs,
} from "../../src/cubefit/index.js";
import { syntheticIfu } from "../../src/synth/ifu.js";
import { HERE, hasH5py, pythonReference, tempDir, writeProblem } from "./fixtures/helpers.js";

const dir = tempDir("hypercube");
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const OPTS = { keepModels: true } as const;
const ifu = syntheticIfu(OPTS);
const { S, C, P, L, V } = ifu;

async function readAll(file: string, ds: string) {
  const r = await StoreReader.open(file);
  try {
    return r.read(ds).data;
  } finally {
    r.close();
  }
}

const tiled = path.join(dir, "tiled.h5");
const whole = path.join(dir, "whole.h5");

test("hypercube: a tiled build equals an untiled one, the generator's models and numpy", async (t) => {
  await writeProblem(tiled, OPTS);
  await writeProblem(whole, OPTS);
  const seen: number[] = [];
  const a = await buildHyperCube(tiled, {
    sChunk: 5,
    cChunk: 2,
    pChunk: 3,
    workers: 2,
    onProgress: (d) => seen.push(d),
  });
  assert.deepEqual([a.complete, a.tilesTotal, a.tilesComputed], [true, 18, 18]);
  assert.deepEqual(a.grid, [3, 2, 3]);
  assert.equal(a.modelsComputed, S * C * P);
  assert.deepEqual(
    seen,
    Array.from({ length: 19 }, (_, i) => i),
  );
  const b = await buildHyperCube(whole, { sChunk: S, cChunk: C, pChunk: P, workers: 1 });
  assert.deepEqual([b.complete, b.tilesTotal], [true, 1]);
  const ma = await readAll(tiled, CUBEFIT.models);
  assert.deepEqual(ma, await readAll(whole, CUBEFIT.models));
  assert.deepEqual(ma, ifu.models);
  const st = await hypercubeStatus(tiled);
  assert.deepEqual(
    [st.tilesDone, st.tilesTotal, st.tilesStale, st.complete, st.compression],
    [18, 18, 0, true, "none"],
  );
  assert.deepEqual(st.chunks, [5, 2, 3, L]);
  assert.match(formatHypercubeStatus(st), /_done: 18\/18 tiles complete \(100\.0%\)/);
  if (!hasH5py) return t.skip("no h5py/numpy/scipy in /usr/bin/python3");
  const ref = pythonReference(tiled);
  assert.equal(ref["models_dtype"], "float32");
  assert.deepEqual(ref["models_chunks"], [5, 2, 3, L]);
  assert.deepEqual([ref["done_nonzero"], ref["done_size"]], [18, 18]);
  // Stored float32 models are numpy's float64 models correctly rounded (<= 1/2 ulp, plus
  // float64 summation-order noise).
  assert.ok((ref["models_err_ulps"] as number) <= 0.51, `ulps ${ref["models_err_ulps"]}`);
  assert.ok((ref["models_err"] as number) < 1e-7);
  assert.ok((ref["scipy_vs_numpy_conv"] as number) < 1e-12);
});

test("hypercube: abort between tiles, then resume to the same models", async () => {
  const file = path.join(dir, "abort.h5");
  await writeProblem(file, OPTS);
  const ac = new AbortController();
  const first = await buildHyperCube(file, {
    sChunk: 5,
    cChunk: 2,
    pChunk: 3,
    workers: 2,
    tilesInFlight: 2,
    signal: ac.signal,
    onProgress: (d) => d >= 4 && ac.abort(),
  });
  assert.equal(first.complete, false);
  assert.ok(first.tilesDone >= 4 && first.tilesDone < 18, `${first.tilesDone}`);
  const st = await hypercubeStatus(file);
  assert.deepEqual(
    [st.tilesDone, st.tilesMissing, st.complete],
    [first.tilesDone, 18 - first.tilesDone, false],
  );
  const second = await buildHyperCube(file, { workers: 2 });
  assert.equal(second.complete, true);
  assert.equal(second.tilesComputed, 18 - first.tilesDone);
  assert.deepEqual(await readAll(file, CUBEFIT.models), ifu.models);
  assert.deepEqual(
    await readAll(file, CUBEFIT.modelsDone),
    await readAll(tiled, CUBEFIT.modelsDone),
  );
});

/** Run the build in a child and SIGKILL it once `after` tiles are done; returns its output. */
function killDuring(
  file: string,
  chunks: [number, number, number],
  afterTiles: number,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", path.join(HERE, "build-child.mts"), file, ...chunks.map(String)],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d;
      const last = out.trim().split("\n").at(-1)!.split(" ").map(Number);
      if (last[0]! >= afterTiles) child.kill("SIGKILL");
    });
    child.stderr.on("data", (d: Buffer) => (err += d));
    child.on("exit", (code, signal) =>
      signal === "SIGKILL" ? resolve(out) : reject(new Error(`child ended ${code}: ${err}`)),
    );
  });
}

test("hypercube: kill -9 during the build, resume: identical to an uninterrupted build", async () => {
  const file = path.join(dir, "killed.h5");
  await writeProblem(file, OPTS);
  const out = await killDuring(file, [2, 1, 2], 15);
  assert.ok(!out.includes("finished"));
  const st = await hypercubeStatus(file);
  assert.equal(st.tilesTotal, 6 * 3 * 4);
  assert.ok(st.tilesDone >= 15 && st.tilesDone < st.tilesTotal, formatHypercubeStatus(st));
  assert.equal(st.tilesStale, 0);
  const resumed = await buildHyperCube(file, { workers: 2 });
  assert.deepEqual([resumed.complete, resumed.recovered], [true, true]);
  assert.equal(resumed.tilesComputed, st.tilesTotal - st.tilesDone);
  assert.deepEqual(await readAll(file, CUBEFIT.models), await readAll(whole, CUBEFIT.models));
  const stamps = (await readAll(file, CUBEFIT.modelsDone)) as BigUint64Array;
  assert.ok(stamps.every((s) => s !== 0n));
  assert.equal((await hypercubeStatus(file)).complete, true);
});

test("hypercube: changed LOSVDs invalidate only their tiles", async () => {
  const file = path.join(dir, "changed.h5");
  fs.copyFileSync(tiled, file);
  // Spaxel 7 (S tile 1 of chunks of 5) gets a narrower, shifted LOSVD in every component.
  const losvd = Float32Array.from(ifu.inputs.losvd.data);
  const vel = ifu.inputs.velPix;
  for (let c = 0; c < C; c++) {
    let sum = 0;
    for (let v = 0; v < V; v++) sum += Math.exp(-0.5 * ((vel[v]! - 200) / 40) ** 2);
    for (let v = 0; v < V; v++)
      losvd[(7 * V + v) * C + c] = Math.exp(-0.5 * ((vel[v]! - 200) / 40) ** 2) / sum;
  }
  await updateCubeInputs(file, { losvd: { data: losvd, shape: [S, V, C] } });
  const st = await hypercubeStatus(file);
  assert.deepEqual([st.tilesStale, st.tilesDone, st.complete], [2 * 3, 18 - 6, false]);
  const rebuilt = await buildHyperCube(file, { workers: 2 });
  assert.deepEqual([rebuilt.complete, rebuilt.tilesComputed], [true, 6]);
  // The same problem populated fresh with the new LOSVDs, built in one tile.
  const fresh = path.join(dir, "changed-fresh.h5");
  await writeProblem(fresh, OPTS);
  await updateCubeInputs(fresh, { losvd: { data: losvd, shape: [S, V, C] } });
  await buildHyperCube(fresh, { sChunk: S, cChunk: C, pChunk: P, workers: 1 });
  const got = (await readAll(file, CUBEFIT.models)) as Float32Array;
  assert.deepEqual(got, await readAll(fresh, CUBEFIT.models));
  // Other spaxels kept their models.
  const block = C * P * L;
  assert.deepEqual(got.subarray(0, 5 * block), ifu.models!.subarray(0, 5 * block));
  assert.notDeepEqual(
    got.subarray(7 * block, 8 * block),
    ifu.models!.subarray(7 * block, 8 * block),
  );
});

test("hypercube: compress and re-tile rewrite the file, models unchanged", async (t) => {
  const file = path.join(dir, "compress.h5");
  fs.copyFileSync(tiled, file);
  const c = await compressHypercube(file);
  assert.equal(c.compression, "gzip-2");
  assert.ok(c.bytesAfter < c.bytesBefore, `${c.bytesAfter} vs ${c.bytesBefore}`);
  const st = await hypercubeStatus(file);
  assert.deepEqual([st.complete, st.compression], [true, "gzip-2"]);
  assert.deepEqual(await readAll(file, CUBEFIT.models), ifu.models);
  assert.deepEqual(await readAll(file, CUBEFIT.dataCube), ifu.inputs.datacube.data);
  assert.ok(!fs.readdirSync(dir).some((n) => n.includes(".repack-")));
  const re = await repackCubeFile(file, { chunks: [4, 3, 8] });
  assert.deepEqual(re.chunks, [4, 3, 8, L]);
  const st2 = await hypercubeStatus(file);
  assert.deepEqual([st2.complete, st2.tilesTotal, st2.compression], [true, 3, "gzip-2"]);
  assert.deepEqual(await readAll(file, CUBEFIT.models), ifu.models);
  if (!hasH5py) return t.skip("no h5py/numpy/scipy in /usr/bin/python3");
  const ref = pythonReference(file);
  assert.equal(ref["models_compression"], "gzip");
  assert.deepEqual(ref["models_chunks"], [4, 3, 8, L]);
  assert.ok((ref["models_err_ulps"] as number) <= 0.51);
});

test("hypercube: a complete build is not touched; other chunks on an existing cube are refused", async () => {
  const before = fs.statSync(tiled).mtimeMs;
  const again = await buildHyperCube(tiled);
  assert.deepEqual([again.complete, again.tilesComputed], [true, 0]);
  assert.equal(fs.statSync(tiled).mtimeMs, before);
  await assert.rejects(
    buildHyperCube(tiled, { sChunk: 4 }),
    (e: unknown) =>
      e instanceof CubeFitError && e.field === "chunks" && /repackCubeFile/.test(e.message),
  );
  const file = path.join(dir, "badchunks.h5");
  await writeProblem(file, OPTS);
  await assert.rejects(
    buildHyperCube(file, { sChunk: S + 1 }),
    (e: unknown) => e instanceof CubeFitError && e.field === "chunks",
  );
  await assert.rejects(
    buildHyperCube(file, { workers: 0 }),
    (e: unknown) => e instanceof CubeFitError && e.field === "workers",
  );
});
