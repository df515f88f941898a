// The super-resolution cache: naming and finding, chunk layout, the 5-step life cycle with
// completion stamps, resume verdicts under changed parameters, deleting bigFT (space really
// reclaimed), cleanup, damaged and foreign files, a seed-layout cache written by h5py,
// h5py reading ours, kill -9 of a writer in the middle of step 2 (with a reader following
// it from this process), and the results runs in the main file.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import {
  BlockGrid,
  cachePathFor,
  cacheTimestamp,
  chooseLayout,
  cleanupCaches,
  deleteBigFT,
  findCaches,
  inspectCache,
  listCaches,
  planResume,
  SuperResCache,
  SuperResCacheReader,
  type DatacubeIdentity,
  type ResumeExpectation,
  type SuperResParameters,
} from "../../src/superres/cache.js";
import { blockFromPlanes, planesFromBlock } from "../../src/superres/blocks.js";
import {
  CacheForeignError,
  CacheFormatError,
  CacheMissingError,
  CacheNotReadyError,
  CacheParameterError,
  CacheStepError,
  SuperResRunError,
} from "../../src/superres/cache-errors.js";
import { Datacube } from "../../src/superres/input.js";
import {
  listSuperResRuns,
  readSuperResRun,
  writeSuperResRun,
  type SuperResRun,
} from "../../src/superres/results.js";
import { writeEmdDatacubes } from "../../src/synth/emd.js";
import { UnsupportedFormatError } from "../../src/store/index.js";
import { blockValues } from "./fixtures/cache/formula.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const FIXTURES = path.join(HERE, "fixtures", "cache");
const PYTHON = process.env["STAGELAB_SYSTEM_PYTHON"] || "/usr/bin/python3";
const hasH5py = spawnSync(PYTHON, ["-c", "import h5py"]).status === 0;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-srcache-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const P: SuperResParameters = {
  cropBounds: [1, 8, 1, 7],
  bfCenter: [4.5, 4],
  bfRadius: 3,
  referenceSmoothing: 0.5,
};

/** A main EMD file with a [sy, sx, dy, dx] cube, and its identity. */
async function mainFile(name: string, shape: [number, number, number, number], seed = 0) {
  const file = path.join(dir, name);
  const n = shape.reduce((a, b) => a * b, 1);
  await writeEmdDatacubes(file, [
    { data: Float32Array.from({ length: n }, (_, i) => (i * 31 + seed) % 97), shape },
  ]);
  const cube = await Datacube.open(file);
  const id: DatacubeIdentity = {
    file,
    dataset: cube.dataset,
    shape: cube.shape,
    dtype: cube.dtype,
    fingerprint: cube.fingerprint(),
  };
  cube.close();
  return id;
}

function py(script: string, ...args: string[]): unknown {
  const r = spawnSync(PYTHON, ["-c", script, ...args], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** Write every pending block of an array with the formula's values. */
function fill(c: SuperResCache, which: "bigFT" | "correlations", scan: [number, number], salt = 0) {
  for (const b of c.pendingBlocks(which))
    c.writeBlock(which, b, blockValues(which, c.grid, b, scan, salt));
}

describe("naming, finding and layout", () => {
  test("cache names follow the seed; findCaches lists a main file's caches newest first", () => {
    const d = new Date(2025, 0, 7, 15, 30, 45);
    assert.equal(cacheTimestamp(d), "20250107_153045");
    assert.equal(
      cachePathFor("/data/x/mydata.emd", d),
      "/data/x/mydata_superres_cache_20250107_153045.h5",
    );
    const sub = path.join(dir, "naming");
    fs.mkdirSync(sub);
    for (const n of [
      "scan_superres_cache_20250107_153045.h5",
      "scan_superres_cache_20250108_090000.h5",
      "scan_superres_cache_20250108_090000.h5.lock",
      "scan_superres_cache_20250108_090000.h5.repack-12",
      "scan2_superres_cache_20250109_000000.h5",
      "scan_superres_cache_latest.h5",
      "scan.emd",
    ])
      fs.writeFileSync(path.join(sub, n), "");
    assert.deepEqual(
      findCaches(path.join(sub, "scan.emd")).map((p) => path.basename(p)),
      ["scan_superres_cache_20250108_090000.h5", "scan_superres_cache_20250107_153045.h5"],
    );
    assert.deepEqual(findCaches(path.join(dir, "nowhere", "scan.emd")), []);
  });

  test("chooseLayout: blocks are whole chunks, chunk rows divide the scan, both plane reads balanced", () => {
    assert.deepEqual(chooseLayout([256, 256], [64, 64]), {
      blockShape: [8, 8],
      chunks: [8, 32, 8, 8],
    });
    for (const [scan, crop] of [
      [
        [256, 256],
        [64, 64],
      ],
      [
        [100, 127],
        [40, 33],
      ],
      [
        [512, 512],
        [128, 128],
      ],
      [
        [7, 13],
        [5, 3],
      ],
    ] as [[number, number], [number, number]][]) {
      const { blockShape, chunks } = chooseLayout(scan, crop);
      assert.deepEqual(chunks.slice(2), blockShape);
      assert.equal(scan[0] % chunks[0], 0, `${scan}: chunk rows divide sy`);
      assert.ok(chunks[0] <= 8 && chunks[1] <= scan[1]);
      assert.ok(
        chunks.reduce((a, b) => a * b, 1) * 16 <= 256 * 1024,
        `${scan}/${crop}: chunk size`,
      );
      assert.ok(scan[0] * scan[1] * blockShape[0] * blockShape[1] * 16 <= 128 * 1024 * 1024);
      assert.ok(blockShape[0] <= crop[0] && blockShape[1] <= crop[1]);
    }
    // Reading a detector pixel's plane and a scan frequency's plane cost the same bytes.
    const { chunks } = chooseLayout([256, 256], [64, 64]);
    const detectorPlane = Math.ceil(256 / chunks[0]) * Math.ceil(256 / chunks[1]);
    const scanPlane = Math.ceil(64 / chunks[2]) * Math.ceil(64 / chunks[3]);
    assert.ok(detectorPlane / scanPlane <= 4 && scanPlane / detectorPlane <= 4);
    assert.deepEqual(chooseLayout([16, 16], [9, 9], { blockShape: [4, 20] }).blockShape, [4, 9]);
  });
});

test("block data converts to and from per-pixel planes (the scan FFT's layout)", () => {
  const grid = new BlockGrid([7, 6], [3, 2]);
  const scan: [number, number] = [4, 5];
  const { y0, x0, h, w } = grid.block(5);
  for (const which of ["bigFT", "correlations"] as const) {
    const data = blockValues(which, grid, 5, scan);
    const { re, im } = planesFromBlock(data, which === "bigFT", h * w, scan);
    assert.equal(im === undefined, which === "correlations");
    // Pixel (ky, kx) = (y0 + 1, x0 + 1) is plane 3; scan position (2, 3) is element 13.
    assert.equal(re[3 * 20 + 13], 2000 + 30 + y0 + 1 + (x0 + 1) / 100);
    if (im) assert.equal(im[3 * 20 + 13], -((y0 + 1) * 100 + x0 + 1));
    assert.deepEqual(blockFromPlanes(re, im, h * w, scan), data);
  }
  assert.throws(() => blockFromPlanes(new Float64Array(5), undefined, 6, scan), RangeError);
});

describe("life cycle, resume verdicts, bigFT deletion, cleanup", () => {
  const scan: [number, number] = [12, 10];
  let id: DatacubeIdentity;
  let expect: ResumeExpectation;
  let cachePath: string;
  before(async () => {
    id = await mainFile("life.emd", [12, 10, 9, 8]);
    expect = { datacube: id, parameters: P };
  });

  test("steps 1-3: create, write bigFT, read it from a store thread while writing correlations", async () => {
    await assert.rejects(
      SuperResCache.create({ datacube: id, parameters: { ...P, cropBounds: [0, 10, 0, 4] } }),
      CacheParameterError,
    );
    await assert.rejects(
      SuperResCache.create({ datacube: id, parameters: { ...P, referencePixel: [7, 0] } }),
      CacheParameterError,
    );
    const c = await SuperResCache.create({
      ...expect,
      blockShape: [3, 2],
      timestamp: new Date(2025, 0, 7, 15, 30, 45),
    });
    cachePath = c.path;
    assert.equal(path.basename(c.path), "life_superres_cache_20250107_153045.h5");
    assert.deepEqual([c.grid.counts, c.grid.total, c.stepCompleted], [[3, 3], 9, 1]);
    assert.deepEqual(c.parameters.referencePixel, [3, 3]);
    assert.deepEqual(c.grid.block(8), { index: 8, iy: 2, ix: 2, y0: 6, x0: 4, h: 1, w: 2 });
    // The writer's own thread cannot read its file: listing says so instead of failing.
    const busy = await inspectCache(c.path);
    assert.equal(busy.status, "busy", busy.message);
    assert.throws(() => c.completeStep(2), CacheStepError);
    assert.throws(() => c.writeBlock("bigFT", 0, new Float64Array(3)), CacheParameterError);
    fill(c, "bigFT", scan);
    c.completeStep(2);
    const r = await c.openReader();
    try {
      assert.deepEqual(Array.from(r.done("bigFT")), Array(9).fill(1));
      assert.equal(r.snapshot.state, "writing");
      for (const b of c.pendingBlocks("correlations")) {
        const big = await r.readBlock("bigFT", b);
        assert.deepEqual(big, blockValues("bigFT", c.grid, b, scan));
        c.writeBlock(
          "correlations",
          b,
          big.filter((_, i) => i % 2 === 0),
        );
      }
    } finally {
      await r.close();
    }
    c.completeStep(3);
    assert.throws(() => c.completeStep(5), CacheStepError);
    c.close();
    assert.throws(() => c.writeBlock("bigFT", 0, new Float64Array(0)), CacheStepError);
  });

  test("a reader sees the seed's layout and reads blocks, detector pixels and scan planes", async () => {
    const r = await SuperResCacheReader.open(cachePath);
    try {
      const s = r.snapshot;
      assert.deepEqual(
        [s.state, s.stepCompleted, s.meta.recordedStep, s.stamped, s.bigFTDeleted],
        ["complete", 3, 3, true, false],
      );
      assert.deepEqual(s.meta.originalDataShape, [12, 10, 9, 8]);
      assert.deepEqual(s.meta.croppedDataShape, [12, 10, 7, 6]);
      assert.equal(s.meta.linkedEmdPath, path.resolve(id.file));
      const pixel = await r.readDetectorPixel("bigFT", 6, 5);
      assert.equal(pixel!.length, 12 * 10 * 2);
      assert.deepEqual([pixel![2 * 13], pixel![2 * 13 + 1]], [1 * 1000 + 3 * 10 + 6 + 0.05, -605]);
      const plane = await r.readScanPlane("correlations", 2, 3);
      assert.deepEqual(Array.from(plane.valid), Array(42).fill(1));
      assert.equal(plane.data[4 * 6 + 1], 2030 + 4 + 0.01);
      await assert.rejects(r.readBlock("bigFT", 9), RangeError);
    } finally {
      await r.close();
    }
  });

  test(
    "h5py reads bigFT as complex128, the stamps and the metadata",
    { skip: !hasH5py && "no h5py" },
    () => {
      const got = py(
        `
import json, sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
d = f["bigFT/data"]
m = f["metadata"].attrs
print(json.dumps({
  "dtype": str(d.dtype), "shape": list(d.shape), "chunks": list(d.chunks),
  "v": [d[1, 3, 6, 5].real, d[1, 3, 6, 5].imag],
  "corr": [str(f["correlations/data"].dtype), float(f["correlations/data"][2, 3, 4, 1])],
  "done": [str(f["bigFT/done"].dtype), int((f["bigFT/done"][()] != 0).sum())],
  "step": [int(m["step_completed"]), m["step_completed"].dtype.kind],
  "shapes": [list(map(int, m["original_data_shape"])), list(map(int, m["cropped_data_shape"]))],
  "version": m["version"], "linked": m["linked_emd_path"],
  "big": [list(map(int, f["bigFT/metadata"].attrs["crop_bounds"])), list(map(float, f["bigFT/metadata"].attrs["bf_center"])),
          float(f["bigFT/metadata"].attrs["bf_radius"]), float(f["bigFT/metadata"].attrs["reference_smoothing"]),
          f["bigFT/metadata"].attrs["computation_date"][:2]],
  "corrmeta": [list(map(int, f["correlations/metadata"].attrs["reference_pixel"])), bool(f["correlations/metadata"].attrs["normalization_applied"])],
}))
`,
        cachePath,
      );
      assert.deepEqual(got, {
        dtype: "complex128",
        shape: [12, 10, 7, 6],
        chunks: [6, 10, 3, 2],
        v: [1030 + 6.05, -605],
        corr: ["float64", 2030 + 4.01],
        done: ["uint64", 9],
        step: [3, "i"],
        shapes: [
          [12, 10, 9, 8],
          [12, 10, 7, 6],
        ],
        version: "1.0",
        linked: path.resolve(id.file),
        big: [[1, 8, 1, 7], [4.5, 4], 3, 0.5, "20"],
        corrmeta: [[3, 3], true],
      });
    },
  );

  test("resume verdicts: same, step-3 change, step-1 change, other data, step 4 recorded", async () => {
    const same = await planResume(expect);
    assert.equal(same.action, "resume");
    assert.deepEqual(same.action === "resume" && [same.cache, same.stepCompleted, same.changes], [
      cachePath,
      3,
      [],
    ]);
    const smoother = await planResume({
      datacube: id,
      parameters: { ...P, referenceSmoothing: 1 },
    });
    assert.deepEqual(smoother.action === "resume" && [smoother.stepCompleted, smoother.changes], [
      2,
      [{ name: "referenceSmoothing", step: 3, was: 0.5, now: 1 }],
    ]);
    const moved = await planResume({
      datacube: id,
      parameters: { ...P, cropBounds: [0, 7, 1, 7] },
    });
    assert.equal(moved.action, "fresh");
    assert.match(
      moved.action === "fresh" ? moved.reasons[0]! : "",
      /step-1 parameters changed \(cropBounds\)/,
    );
    const other = await mainFile("other.emd", [12, 10, 9, 8], 5);
    const foreign = await planResume({ datacube: { ...other, file: id.file }, parameters: P });
    assert.match(
      foreign.action === "fresh" ? foreign.reasons[0]! : "",
      /made for .*life\.emd.*not for this datacube/,
    );
    await assert.rejects(
      SuperResCache.open(cachePath, { datacube: other, parameters: P }),
      CacheForeignError,
    );
    await assert.rejects(
      SuperResCache.open(cachePath, { datacube: id, parameters: { ...P, bfRadius: 4 } }),
      CacheParameterError,
    );

    const c = await SuperResCache.open(cachePath, {
      datacube: id,
      parameters: { ...P, detectorRadius: 2, qualityThreshold: 0.8 },
    });
    assert.equal(c.stepCompleted, 3);
    c.completeStep(4);
    c.close();
    const four = await planResume({
      datacube: id,
      parameters: { ...P, detectorRadius: 2, qualityThreshold: 0.8 },
    });
    assert.equal(four.action === "resume" && four.stepCompleted, 4);
    const threshold = await planResume({
      datacube: id,
      parameters: { ...P, detectorRadius: 2, qualityThreshold: 0.9 },
    });
    assert.equal(threshold.action === "resume" && threshold.stepCompleted, 3);
  });

  test("changed step-3 parameters: correlations recomputed; an interrupted re-run never passes for the old ones", async () => {
    const P2 = { ...P, referenceSmoothing: 2 };
    const c = await SuperResCache.open(cachePath, { datacube: id, parameters: P2 });
    assert.deepEqual(
      [c.stepCompleted, c.pendingBlocks("bigFT").length, c.pendingBlocks("correlations").length],
      [2, 0, 9],
    );
    for (const b of [0, 1, 2])
      c.writeBlock("correlations", b, blockValues("correlations", c.grid, b, scan, 0.5));
    c.abandon(); // as if killed: committed blocks stay, state stays "writing"
    const back = await planResume(expect);
    assert.deepEqual(
      back.action === "resume" && [back.stepCompleted, back.changes.map((x) => x.name)],
      [2, ["referenceSmoothing"]],
    );
    const again = await SuperResCache.open(cachePath, expect);
    assert.equal(again.pendingBlocks("correlations").length, 9, "blocks of P2 do not count for P");
    fill(again, "correlations", scan);
    again.completeStep(3);
    again.close();
    const r = await SuperResCacheReader.open(cachePath);
    assert.equal(r.snapshot.stepCompleted, 3);
    assert.deepEqual(
      await r.readBlock("correlations", 1),
      blockValues("correlations", r.grid, 1, scan),
    );
    await r.close();
  });

  test("deleteBigFT: only after step 3, reclaims the space, keeps correlations, atomic", async () => {
    const early = await SuperResCache.create({
      ...expect,
      blockShape: [3, 2],
      timestamp: new Date(2025, 0, 1),
    });
    fill(early, "bigFT", scan);
    early.close();
    await assert.rejects(deleteBigFT(early.path), CacheStepError);

    const { bytesBefore, bytesAfter } = await deleteBigFT(cachePath);
    const bigFTBytes = 12 * 10 * 7 * 6 * 16;
    assert.ok(
      bytesBefore - bytesAfter >= bigFTBytes * 0.9,
      `freed ${bytesBefore - bytesAfter} of ${bigFTBytes}`,
    );
    assert.deepEqual(
      fs.readdirSync(dir).filter((n) => n.includes(".repack-")),
      [],
    );
    const r = await SuperResCacheReader.open(cachePath);
    assert.deepEqual(
      [r.snapshot.bigFTDeleted, r.snapshot.stepCompleted, r.snapshot.state],
      [true, 3, "complete"],
    );
    await assert.rejects(r.readBlock("bigFT", 0), CacheNotReadyError);
    assert.deepEqual(
      await r.readBlock("correlations", 4),
      blockValues("correlations", r.grid, 4, scan),
    );
    await r.close();
    assert.deepEqual(await deleteBigFT(cachePath), { bytesBefore: bytesAfter, bytesAfter });
    const c = await SuperResCache.open(cachePath, expect);
    assert.equal(c.stepCompleted, 3);
    assert.throws(() => c.writeBlock("bigFT", 0, new Float64Array(0)), CacheNotReadyError);
    c.close();
    // Correlations invalid and bigFT gone: nothing to resume from.
    const plan = await planResume({ datacube: id, parameters: { ...P, normalization: false } });
    assert.equal(plan.action === "resume" && plan.cache === cachePath, false);
    if (hasH5py) {
      assert.deepEqual(
        py(
          `import sys, json, h5py; f = h5py.File(sys.argv[1], "r"); print(json.dumps(["data" in f["bigFT"], list(f["correlations/data"].shape), "deleted" in f["bigFT"].attrs]))`,
          cachePath,
        ),
        [false, [12, 10, 7, 6], true],
      );
    }
  });

  test("cleanupCaches deletes every cache of the file but those kept or busy", async () => {
    const extra = await SuperResCache.create({ ...expect, timestamp: new Date(2025, 0, 2) });
    const listed = await listCaches(id.file);
    assert.deepEqual(
      listed.map((l) => [path.basename(l.path), l.status]),
      [
        [path.basename(cachePath), "ok"],
        [path.basename(extra.path), "busy"],
        ["life_superres_cache_20250101_000000.h5", "ok"],
      ],
    );
    assert.ok(listed.every((l) => l.sizeBytes > 0));
    const res = cleanupCaches(id.file, { keep: [cachePath] });
    assert.deepEqual(
      res.deleted.map((p) => path.basename(p)),
      ["life_superres_cache_20250101_000000.h5"],
    );
    assert.deepEqual(
      res.skipped.map((s) => path.basename(s.path)),
      [path.basename(extra.path)],
    );
    assert.ok(res.freedBytes > 0);
    extra.close();
    const all = cleanupCaches(id.file);
    assert.equal(all.deleted.length, 2);
    assert.deepEqual(findCaches(id.file), []);
    assert.ok(fs.existsSync(id.file), "the main file stays");
  });
});

describe("damaged, foreign and other programs' caches", () => {
  let id: DatacubeIdentity;
  let good: string;
  before(async () => {
    id = await mainFile("bad.emd", [6, 5, 4, 4]);
    const c = await SuperResCache.create({
      datacube: id,
      parameters: { ...P, cropBounds: [0, 4, 0, 4], bfCenter: [2, 2] },
      timestamp: new Date(2025, 5, 1),
    });
    fill(c, "bigFT", [6, 5]);
    c.close();
    good = c.path;
  });
  const expectFor = () => ({
    datacube: id,
    parameters: { ...P, cropBounds: [0, 4, 0, 4], bfCenter: [2, 2] } as SuperResParameters,
  });

  test("truncated, garbage, not-a-cache and missing files: clear statuses and a fresh start", async () => {
    const truncated = cachePathFor(id.file, new Date(2025, 5, 2));
    const bytes = fs.readFileSync(good);
    fs.writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    const garbage = cachePathFor(id.file, new Date(2025, 5, 3));
    fs.writeFileSync(garbage, Buffer.alloc(4096, 0x5a));
    const notCache = cachePathFor(id.file, new Date(2025, 5, 4));
    fs.copyFileSync(id.file, notCache);
    const listed = await listCaches(id.file);
    assert.deepEqual(
      listed.map((l) => [path.basename(l.path), l.status]),
      [
        [path.basename(notCache), "not-a-cache"],
        [path.basename(garbage), "corrupt"],
        [path.basename(truncated), "corrupt"],
        [path.basename(good), "ok"],
      ],
    );
    assert.match(listed[1]!.message!, /not an HDF5 file/);
    assert.match(listed[2]!.message!, /truncated/);
    const plan = await planResume(expectFor());
    assert.equal(plan.action === "resume" && plan.cache, good);
    assert.equal(plan.action === "resume" && plan.skipped.length, 3);
    fs.rmSync(good);
    const fresh = await planResume(expectFor());
    assert.equal(fresh.action, "fresh");
    assert.equal(fresh.action === "fresh" && fresh.reasons.length, 3);
    await assert.rejects(SuperResCacheReader.open(good), CacheMissingError);
    await assert.rejects(SuperResCache.open(truncated), /damaged/);
    await assert.rejects(SuperResCache.open(notCache), CacheFormatError);
    assert.equal((await inspectCache(good)).status, "missing");
    cleanupCaches(id.file);
  });

  test("a cache linked to another main file is not reused, unless that file holds the same data", async () => {
    const a = await mainFile("a.emd", [6, 5, 4, 4], 1);
    const b = await mainFile("b.emd", [6, 5, 4, 4], 2);
    const params = expectFor().parameters;
    const c = await SuperResCache.create({
      datacube: a,
      parameters: params,
      timestamp: new Date(2025, 6, 1),
    });
    fill(c, "bigFT", [6, 5]);
    c.close();
    fs.copyFileSync(c.path, cachePathFor(b.file, new Date(2025, 6, 1)));
    const plan = await planResume({ datacube: b, parameters: params });
    assert.equal(plan.action, "fresh");
    assert.match(plan.action === "fresh" ? plan.reasons[0]! : "", /made for .*a\.emd/);
    fs.copyFileSync(a.file, path.join(dir, "a-copy.emd"));
    fs.copyFileSync(c.path, cachePathFor(path.join(dir, "a-copy.emd"), new Date(2025, 6, 1)));
    const copy = { ...a, file: path.join(dir, "a-copy.emd") };
    const reuse = await planResume({ datacube: copy, parameters: params });
    assert.equal(reuse.action === "resume" && reuse.stepCompleted, 2);
    assert.match(reuse.action === "resume" ? reuse.notes[0]! : "", /same datacube .* relinked/);
  });

  test("a seed-layout cache written by h5py is read (complex128 compound), not resumed", async () => {
    const fixture = path.join(FIXTURES, "emd10_superres_cache_20250107_153045.h5");
    const r = await SuperResCacheReader.open(fixture);
    try {
      const s = r.snapshot;
      assert.deepEqual(
        [s.stamped, s.stepCompleted, s.state, s.meta.linkedEmdPath],
        [false, 3, "foreign", "emd10.emd"],
      );
      assert.deepEqual(s.meta.parameters, {
        cropBounds: [1, 4, 2, 4],
        bfCenter: [2.5, 3],
        bfRadius: 1.5,
        referenceSmoothing: 0.5,
        referencePixel: [1, 1],
        normalization: true,
      });
      assert.deepEqual(r.grid.blockShape, [1, 1]);
      const big = await r.readBlock("bigFT", 3);
      // Block 3 is crop pixel (1, 1): flat index ((y*5 + x)*3 + 1)*2 + 1.
      for (let k = 0; k < 20; k++) {
        const i = k * 6 + 3;
        assert.deepEqual([big[2 * k], big[2 * k + 1]], [i / 2, -i / 4]);
      }
      const plane = await r.readScanPlane("correlations", 0, 1);
      assert.deepEqual(
        Array.from(plane.data),
        [6, 7, 8, 9, 10, 11].map((i) => i / 8),
      );
    } finally {
      await r.close();
    }
    const emd = await Datacube.open(path.join(FIXTURES, "emd10.emd"));
    const id10 = {
      file: path.join(FIXTURES, "emd10.emd"),
      dataset: emd.dataset,
      shape: emd.shape,
      dtype: emd.dtype,
      fingerprint: emd.fingerprint(),
    };
    emd.close();
    const plan = await planResume({
      datacube: id10,
      parameters: {
        cropBounds: [1, 4, 2, 4],
        bfCenter: [2.5, 3],
        bfRadius: 1.5,
        referenceSmoothing: 0.5,
      },
    });
    assert.match(plan.action === "fresh" ? plan.reasons[0]! : "", /another program/);
    await assert.rejects(SuperResCache.open(fixture), CacheFormatError);
  });
});

describe("kill -9 in the middle of step 2", () => {
  test(
    "complete blocks survive and are the only ones reported; a reader follows the writer; resume finishes",
    { timeout: 120_000 },
    async () => {
      const id = await mainFile("killed.emd", [40, 36, 20, 20]);
      const expect: ResumeExpectation = {
        datacube: id,
        parameters: { ...P, cropBounds: [2, 18, 2, 18], bfCenter: [10, 10] },
      };
      const child = spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          path.join(FIXTURES, "kill_writer.ts"),
          JSON.stringify({ expect, blockShape: [2, 2], pauseMs: 15 }),
        ],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      let out = "";
      let err = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
      child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
      const exited = new Promise<NodeJS.Signals | null>((res) =>
        child.on("close", (_c, s) => res(s)),
      );
      const lines = () =>
        out
          .split("\n")
          .filter((l) => l.startsWith("{"))
          .map((l) => JSON.parse(l) as { event: string; block?: number; path?: string });
      const waitFor = async (n: number) => {
        const t0 = Date.now();
        while (lines().filter((l) => l.event === "done").length < n) {
          if (child.exitCode !== null || Date.now() - t0 > 60_000)
            throw new Error(`child: ${out}\n${err}`);
          await new Promise((r) => setTimeout(r, 5));
        }
      };
      let reader: SuperResCacheReader | undefined;
      try {
        await waitFor(3);
        // The explorer: another process reads the cache while step 2 writes it.
        const file = lines().find((l) => l.event === "open")!.path!;
        reader = await SuperResCacheReader.open(file);
        await waitFor(8);
        await reader.refresh();
        const seen = reader.done("bigFT");
        const printed = lines()
          .filter((l) => l.event === "done")
          .map((l) => l.block!);
        for (const b of printed.slice(0, 8))
          assert.equal(seen[b], 1, `block ${b} printed done, reader disagrees`);
        for (let b = 0; b < reader.grid.total; b++) {
          if (seen[b])
            assert.deepEqual(
              await reader.readBlock("bigFT", b),
              blockValues("bigFT", reader.grid, b, [40, 36]),
            );
        }
        const plane = await reader.readScanPlane("bigFT", 3, 4);
        for (let k = 0; k < 256; k++) {
          const b: number = reader.grid.blockOf(Math.floor(k / 16), k % 16);
          assert.equal(plane.valid[k], seen[b]);
          if (!seen[b]) assert.deepEqual([plane.data[2 * k], plane.data[2 * k + 1]], [0, 0]);
        }
        await new Promise((r) => setTimeout(r, Math.random() * 20));
      } finally {
        child.kill("SIGKILL");
      }
      assert.equal(await exited, "SIGKILL", `the writer ended by itself: ${err}`);
      await reader!.close();
      const file = lines().find((l) => l.event === "open")!.path!;
      const printed = lines()
        .filter((l) => l.event === "done")
        .map((l) => l.block!);
      assert.ok(printed.length < 64, "killed before the end");
      // A cut copy of a crashed cache still carries the writer's "open" flag: HDF5 would read
      // its lost blocks as zeros. It must be refused, never resumed.
      const cut = cachePathFor(id.file, new Date(2024, 0, 1));
      const bytes = fs.readFileSync(file);
      fs.writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
      const cutListing = await inspectCache(cut);
      assert.deepEqual(
        [cutListing.status, /truncated/.test(cutListing.message!)],
        ["corrupt", true],
      );
      fs.rmSync(cut);

      const r = await SuperResCacheReader.open(file);
      const done = Array.from(r.done("bigFT"));
      assert.equal(r.snapshot.state, "writing");
      for (const b of printed) assert.equal(done[b], 1, `printed block ${b} lost`);
      // At most one block completes between its commit and the child printing it.
      const extra = done.map((v, b) => (v && !printed.includes(b) ? b : -1)).filter((b) => b >= 0);
      assert.ok(extra.length <= 1, `unprinted complete blocks ${extra}`);
      for (let b = 0; b < 64; b++) {
        if (done[b])
          assert.deepEqual(
            await r.readBlock("bigFT", b),
            blockValues("bigFT", r.grid, b, [40, 36]),
          );
        else {
          await assert.rejects(r.readBlock("bigFT", b), CacheNotReadyError);
          const { y0, x0 } = r.grid.block(b);
          assert.equal(await r.readDetectorPixel("bigFT", y0, x0), null);
        }
      }
      await r.close();
      const plan = await planResume(expect);
      assert.deepEqual(plan.action === "resume" && [plan.cache, plan.stepCompleted], [file, 1]);

      const c = await SuperResCache.open(file, expect);
      assert.deepEqual(
        c.pendingBlocks("bigFT"),
        done.map((v, b) => (v ? -1 : b)).filter((b) => b >= 0),
      );
      fill(c, "bigFT", [40, 36]);
      c.completeStep(2);
      c.close();
      const final = await SuperResCacheReader.open(file);
      assert.deepEqual([final.snapshot.stepCompleted, final.snapshot.state], [2, "complete"]);
      for (const b of [0, 27, 63])
        assert.deepEqual(
          await final.readBlock("bigFT", b),
          blockValues("bigFT", final.grid, b, [40, 36]),
        );
      await final.close();
    },
  );
});

describe("results runs in the main file", () => {
  const run = (timestamp: string): SuperResRun => ({
    timestamp,
    bfCenter: [4.5, 4],
    bfRadius: 3,
    cropBounds: [1, 8, 1, 7],
    upscaleFactor: 2,
    referenceSmoothing: 0.5,
    detectorRadius: 2,
    qualityThreshold: 0.8,
    cacheFile: `/somewhere/main_superres_cache_${timestamp}.h5`,
    shiftY: Float64Array.from({ length: 42 }, (_, i) => i / 10),
    shiftX: Float64Array.from({ length: 42 }, (_, i) => -i / 10),
    quality: Float64Array.from({ length: 42 }, (_, i) => i / 42),
    scanShape: [12, 10],
    superresImage: Float64Array.from({ length: 24 * 20 }, (_, i) => Math.sin(i)),
    standardBf: Float64Array.from({ length: 120 }, (_, i) => i),
    referenceImage: Float64Array.from({ length: 120 }, (_, i) => 120 - i),
  });

  test(
    "write, list and read runs while the datacube stays open; h5py reads them",
    { timeout: 60_000 },
    async () => {
      const id = await mainFile("results.emd", [12, 10, 9, 8]);
      const cube = await Datacube.open(id.file); // the session keeps its input open
      const group = await writeSuperResRun(id.file, run("20250107_153045"));
      assert.equal(group, "/superres_results/run_20250107_153045");
      await writeSuperResRun(id.file, run("20250108_090000"));
      assert.equal(cube.readScanRows(0, 1).shape[0], 1);
      cube.close();
      await assert.rejects(writeSuperResRun(id.file, run("20250107_153045")), SuperResRunError);
      await assert.rejects(
        writeSuperResRun(id.file, { ...run("20250109_000000"), shiftY: new Float64Array(3) }),
        /shift_y needs/,
      );
      await assert.rejects(
        writeSuperResRun(id.file, { ...run("2025"), upscaleFactor: 2 }),
        /YYYYMMDD_HHMMSS/,
      );
      const runs = await listSuperResRuns(id.file);
      assert.deepEqual(
        runs.map((r) => [r.timestamp, r.complete]),
        [
          ["20250107_153045", true],
          ["20250108_090000", true],
        ],
      );
      const back = await readSuperResRun(id.file, "20250107_153045");
      assert.deepEqual(back, {
        ...run("20250107_153045"),
        cacheFile: "main_superres_cache_20250107_153045.h5",
      });
      await assert.rejects(readSuperResRun(id.file, "20990101_000000"), SuperResRunError);
      if (hasH5py) {
        const got = py(
          `
import json, sys, h5py
g = h5py.File(sys.argv[1], "r")["superres_results/run_20250107_153045"]
a = g.attrs
print(json.dumps({k: (a[k].tolist() if hasattr(a[k], "tolist") else a[k]) for k in sorted(a.keys()) if not k.startswith("_")} | {"shapes": {k: list(g[k].shape) for k in g}}))
`,
          id.file,
        );
        assert.deepEqual(got, {
          timestamp: "20250107_153045",
          bf_center: [4.5, 4],
          bf_radius: 3,
          crop_bounds: [1, 8, 1, 7],
          upscale_factor: 2,
          reference_smoothing: 0.5,
          detector_radius: 2,
          quality_threshold: 0.8,
          cache_file: "main_superres_cache_20250107_153045.h5",
          shapes: {
            quality: [7, 6],
            reference_image: [12, 10],
            shift_x: [7, 6],
            shift_y: [7, 6],
            standard_bf: [12, 10],
            superres_image: [24, 20],
          },
        });
      }
    },
  );

  test(
    "an h5py-format (pre-1.10) EMD is refused until upgradeFormat rewrites it",
    { timeout: 60_000 },
    async () => {
      const file = path.join(dir, "h5py.emd");
      fs.copyFileSync(path.join(FIXTURES, "emd10.emd"), file);
      const r = {
        ...run("20250107_153045"),
        scanShape: [4, 5] as [number, number],
        superresImage: new Float64Array(8 * 10),
        standardBf: new Float64Array(20),
        referenceImage: new Float64Array(20),
      };
      await assert.rejects(
        writeSuperResRun(file, r),
        (e: Error) => e instanceof UnsupportedFormatError && /upgradeFormat/.test(e.message),
      );
      if (!hasH5py) return;
      // The store's rewrite copies chunked datasets (h5py's contiguous ones it cannot yet).
      const chunked = path.join(dir, "h5py-chunked.emd");
      spawnSync(PYTHON, [
        "-c",
        `import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "w") as f:
    f.create_dataset("version_1/data/datacubes/datacube_000/data", data=np.arange(4*5*6*7, dtype="<u2").reshape(4, 5, 6, 7), chunks=(1, 1, 6, 7))`,
        chunked,
      ]);
      await writeSuperResRun(chunked, r, { upgradeFormat: true });
      assert.deepEqual(
        (await listSuperResRuns(chunked)).map((x) => x.complete),
        [true],
      );
      const cube = await Datacube.open(chunked);
      assert.equal(cube.readBlock([3, 4, 5, 6], [1, 1, 1, 1]).data[0], 4 * 5 * 6 * 7 - 1);
      cube.close();
    },
  );
});
