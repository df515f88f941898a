// The five steps as stages over the cache file: against numpy (bigFT through h5py), the
// in-memory math and the generator's truth; memory modes; abort, kill -9 and resume give the
// result of an uninterrupted run; changed parameters; .npy input; errors.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import {
  CacheMissingError,
  CacheStepError,
  listCaches,
  listSuperResRuns,
  readSuperResRun,
  superResolve,
  SuperResCacheReader,
  SuperResError,
  SuperResSession,
  type SuperResSessionOptions,
} from "../../src/superres/index.js";
import { syntheticStem4d } from "../../src/synth/stem.js";
import { writeEmdDatacubes } from "../../src/synth/emd.js";
import { writeNpy } from "../../src/formats/npy.js";
import { shiftErrors } from "./fixtures/truth.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PYTHON = process.env["STAGELAB_SYSTEM_PYTHON"] || "/usr/bin/python3";
const hasH5py = spawnSync(PYTHON, ["-c", "import h5py, numpy"]).status === 0;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-srstages-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const stem = syntheticStem4d({
  scanShape: [32, 32],
  detectorShape: [24, 24],
  diskCenterPx: [11.7, 12.2],
  diskRadiusPx: 6,
});
const cube = Float32Array.from(stem.data);

/** A fresh main file holding the synthetic cube, in its own directory (caches live beside it). */
async function mainFile(name: string): Promise<string> {
  const d = fs.mkdtempSync(path.join(dir, `${name}-`));
  const file = path.join(d, `${name}.emd`);
  await writeEmdDatacubes(file, [{ data: cube, shape: stem.shape }]);
  return file;
}

async function runAll(file: string, options: SuperResSessionOptions = {}) {
  const s = await SuperResSession.open(file, options);
  try {
    await s.detect();
    const two = await s.computeBigFT();
    const three = await s.correlate();
    const maps = await s.findShifts();
    const result = await s.reconstruct();
    return { session: s, two, three, maps, result };
  } finally {
    s.close();
  }
}

async function cacheArrays(cacheFile: string) {
  const r = await SuperResCacheReader.open(cacheFile);
  try {
    const out: Record<string, Float64Array[]> = { bigFT: [], correlations: [] };
    for (const which of ["bigFT", "correlations"] as const)
      for (let b = 0; b < r.grid.total; b++) out[which]!.push(await r.readBlock(which, b));
    return out;
  } finally {
    await r.close();
  }
}

const whole = await mainFile("whole");
const ref = await runAll(whole, { blockShape: [4, 4], detectorRadius: 1e6 });

test("stages: step 1-5 on an EMD file; in-memory equivalence and the generator's truth", async () => {
  const { session, two, three, maps, result } = ref;
  assert.equal(session.stepCompleted, 5);
  assert.deepEqual([two.complete, two.blocksDone, two.blocksTotal], [true, 25, 25]);
  assert.equal(three.complete, true);
  // The staged path computes what superResolve computes in memory.
  const mem = superResolve(cube, stem.shape, {});
  assert.deepEqual(session.brightField!.bounds, mem.bounds);
  for (const [a, b] of [
    [maps.shiftYPx, mem.shiftYPx],
    [maps.shiftXPx, mem.shiftXPx],
    [maps.quality, mem.quality],
    [result.superRes, mem.superRes],
    [result.standardBf, mem.standardBf],
    [result.referenceImage, mem.referenceImage],
  ] as const)
    for (let i = 0; i < a.length; i++)
      assert.ok(Math.abs(a[i]! - b[i]!) <= 1e-9 * (1 + Math.abs(b[i]!)));
  // Against the truth (noise-free: the aliased detail limits it, see shifts.test.ts).
  const bounds = session.brightField!.bounds;
  const e = shiftErrors(
    bounds,
    24,
    maps.shiftYPx,
    maps.shiftXPx,
    stem.truth,
    (c) => maps.fit.used[c] === 1,
  );
  assert.ok(e.rmsPx <= 0.05, `RMS ${e.rmsPx}`);
  assert.ok(Math.abs(maps.fit.rotationDeg - 20) / 20 <= 0.02, `rotation ${maps.fit.rotationDeg}`);
  assert.ok(Math.abs(maps.fit.defocus - 0.3) / 0.3 <= 0.02, `defocus ${maps.fit.defocus}`);
  // The run in the main file holds the same arrays and the seed's attributes.
  const run = await readSuperResRun(whole, result.group.split("run_")[1]!);
  assert.deepEqual(run.superresImage, result.superRes);
  assert.equal(run.upscaleFactor, 4);
  assert.equal(run.cacheFile, path.basename(session.cache!));
});

test(
  "stages: bigFT in the cache equals numpy.fft.fft2 of the cropped cube (h5py reads both files)",
  { skip: !hasH5py && "needs system python3 with h5py" },
  () => {
    const r = spawnSync(
      PYTHON,
      [
        "-c",
        `import sys, json, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as m, h5py.File(sys.argv[2], "r") as c:
    y1, y2, x1, x2 = c["bigFT/metadata"].attrs["crop_bounds"]
    cube = m["version_1/data/datacubes/datacube_000/data"][:, :, y1:y2, x1:x2].astype(np.float64)
    want = np.fft.fft2(cube, axes=(0, 1))
    got = c["bigFT/data"][...]
    corr = c["correlations/data"][...]
    print(json.dumps({"rel": float(np.abs(got - want).max() / np.abs(want).max()), "dtype": str(got.dtype), "step": int(c["metadata"].attrs["step_completed"]), "corrMax": float(corr.max())}))`,
        whole,
        ref.session.cache!,
      ],
      { encoding: "utf8" },
    );
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      rel: number;
      dtype: string;
      step: number;
      corrMax: number;
    };
    assert.ok(out.rel <= 1e-10, `relative error ${out.rel}`);
    assert.equal(out.dtype, "complex128");
    assert.equal(out.step, 5);
    assert.ok(out.corrMax > 0.5 && out.corrMax <= 1 + 1e-12);
  },
);

test("stages: streaming with one worker writes the same bytes as memory mode with two", async () => {
  const file = await mainFile("stream");
  const s = await SuperResSession.open(file, {
    blockShape: [4, 4],
    workers: 1,
    memoryBudgetBytes: 200_000,
  });
  try {
    await s.detect();
    const two = await s.computeBigFT();
    assert.equal(two.mode, "streaming");
    assert.equal(ref.two.mode, "memory");
    await s.correlate();
    const [a, b] = [await cacheArrays(s.cache!), await cacheArrays(ref.session.cache!)];
    assert.deepEqual(a, b);
  } finally {
    s.close();
  }
});

test("stages: an aborted step keeps its finished blocks; a new session resumes to the same result", async () => {
  const file = await mainFile("abort");
  const opts = { blockShape: [4, 4] as [number, number], detectorRadius: 1e6 };
  const s = await SuperResSession.open(file, opts);
  await s.detect();
  const stop = new AbortController();
  const two = await s.computeBigFT({
    signal: stop.signal,
    onProgress: (d) => d >= 7 && stop.abort(),
  });
  assert.equal(two.complete, false);
  assert.ok(two.blocksDone >= 7 && two.blocksDone < 25, `done ${two.blocksDone}`);
  assert.equal(s.stepCompleted, 1);
  await assert.rejects(() => s.correlate(), CacheStepError);
  s.close();
  const again = await SuperResSession.open(file, opts);
  assert.equal(again.resumePlan.action, "resume");
  assert.equal(again.stepCompleted, 1);
  const det = await again.detect();
  assert.equal(det.fromCache, true);
  const rest = await again.computeBigFT();
  assert.equal(rest.blocksComputed, 25 - two.blocksDone);
  await again.correlate();
  const result = await again.reconstruct();
  // The run is listed while the session still holds the main file open in this thread.
  assert.deepEqual(
    (await listSuperResRuns(file)).map((r) => [r.group, r.complete]),
    [[result.group, true]],
  );
  again.close();
  assert.deepEqual(await cacheArrays(again.cache!), await cacheArrays(ref.session.cache!));
  assert.deepEqual(result.superRes, ref.result.superRes);
});

/** Kill the child with SIGKILL once `step` has finished `after` blocks; returns its output. */
function killDuring(file: string, step: number, afterBlocks: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", path.join(HERE, "helpers", "stage-child.mts"), file, "2"],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d;
      const last = out.trim().split("\n").at(-1)!.split(" ").map(Number);
      if (last[0] === step && last[1]! >= afterBlocks) child.kill("SIGKILL");
    });
    child.stderr.on("data", (d: Buffer) => (err += d));
    child.on("exit", (code, signal) =>
      signal === "SIGKILL" ? resolve(out) : reject(new Error(`child ended ${code}: ${err}`)),
    );
  });
}

for (const step of [2, 3]) {
  test(`stages: kill -9 during step ${step}, resume: the result equals an uninterrupted run`, async () => {
    const file = await mainFile(`kill${step}`);
    const out = await killDuring(file, step, 20);
    assert.ok(!out.includes("finished"));
    const [listing] = await listCaches(file);
    assert.equal(listing!.status, "ok", listing!.message);
    const s = await SuperResSession.open(file, { blockShape: [2, 2], detectorRadius: 1e6 });
    assert.equal(s.resumePlan.action, "resume");
    assert.equal(s.stepCompleted, step - 1);
    await s.detect();
    const two = await s.computeBigFT();
    const three = await s.correlate();
    const result = await s.reconstruct();
    s.close();
    if (step === 2) assert.ok(two.blocksComputed > 0 && two.blocksComputed < two.blocksTotal);
    else assert.equal(two.blocksComputed, 0);
    assert.ok(three.blocksComputed < three.blocksTotal || step === 2);
    // An uninterrupted run with the same block shape, on a copy of the main file.
    const whole2 = await runAll(await mainFile(`kill${step}-ref`), {
      blockShape: [2, 2],
      detectorRadius: 1e6,
    });
    assert.deepEqual(await cacheArrays(s.cache!), await cacheArrays(whole2.session.cache!));
    assert.deepEqual(result.superRes, whole2.result.superRes);
    assert.deepEqual(result.standardBf, whole2.result.standardBf);
  });
}

test("stages: changed step-3 parameters keep bigFT and recompute correlations", async () => {
  const s = await SuperResSession.open(whole, { blockShape: [4, 4], referenceSmoothing: 1 });
  try {
    assert.equal(s.resumePlan.action, "resume");
    assert.equal(s.stepCompleted, 2);
    // Two calls at once (a widget's Proceed and a cell): the second waits, then has nothing to do.
    const [three, again] = await Promise.all([s.correlate(), s.correlate()]);
    assert.equal(three.blocksComputed, 25);
    assert.deepEqual([again.complete, again.blocksComputed], [true, 0]);
    assert.throws(() => s.shifts!.fit, TypeError);
  } finally {
    s.close();
  }
});

test("stages: a .npy main file; results go to an HDF5 file beside it", async () => {
  const d = fs.mkdtempSync(path.join(dir, "npy-"));
  const file = path.join(d, "scan.npy");
  writeNpy(file, cube, stem.shape);
  const { result } = await runAll(file, { blockShape: [8, 8], detectorRadius: 1e6 });
  assert.equal(result.resultsFile, path.join(d, "scan_superres_results.h5"));
  assert.deepEqual(result.superRes, ref.result.superRes);
});

test("stages: a truncated cache is passed over with its reason; a cache deleted mid-session starts fresh", async () => {
  const file = await mainFile("damaged");
  const first = await SuperResSession.open(file, { blockShape: [8, 8] });
  await first.detect();
  await first.computeBigFT();
  first.close();
  fs.truncateSync(first.cache!, 2000);
  const s = await SuperResSession.open(file, { blockShape: [8, 8] });
  try {
    assert.equal(s.resumePlan.action, "fresh");
    const reasons = s.resumePlan.action === "fresh" ? s.resumePlan.reasons : [];
    assert.ok(
      reasons.some((r) => r.includes(path.basename(first.cache!))),
      reasons.join("; "),
    );
    await s.detect();
    assert.notEqual(s.cache, first.cache);
    assert.equal(fs.statSync(first.cache!).size, 2000, "the damaged cache is left alone");
    fs.rmSync(s.cache!);
    await assert.rejects(
      () => s.computeBigFT(),
      (e: unknown) => e instanceof CacheMissingError && /detect\(\)/.test(e.message),
    );
    assert.equal(s.stepCompleted, 0);
    await s.detect();
    assert.equal((await s.computeBigFT()).complete, true);
  } finally {
    s.close();
  }
});

test("stages: a reader opened while a step re-opens the cache for writing waits for it", async () => {
  // Between the writer's open and its first commit HDF5 shows readers an inconsistent file;
  // the explorer opens the cache exactly then when a cell starts step 2 and the explorer together.
  const file = await mainFile("race");
  for (let k = 0; k < 4; k++) {
    const s = await SuperResSession.open(file, { fresh: true, blockShape: [8, 8] });
    await s.detect();
    const two = s.computeBigFT();
    const r = await SuperResCacheReader.open(s.cache!, { worker: true });
    assert.equal(r.grid.total, 9);
    await r.close();
    await two;
    s.close();
  }
});

test("stages: steps out of order and bad options are typed errors naming the problem", async () => {
  const s = await SuperResSession.open(whole, { fresh: true });
  try {
    assert.equal(s.stepCompleted, 0);
    await assert.rejects(
      () => s.computeBigFT(),
      (e: unknown) => e instanceof CacheStepError && /detect\(\)|step 1/.test(e.message),
    );
    await assert.rejects(() => s.correlate(), CacheStepError);
  } finally {
    s.close();
  }
  await assert.rejects(
    () => SuperResSession.open(whole, { workers: 0 }),
    (e: unknown) => e instanceof SuperResError && e.field === "workers",
  );
});
