// VoxelAccumulator: statistics against an independent numpy two-pass computation, merged
// partial accumulators (in-process and from worker threads) against one big accumulator,
// memory vs hdf5 backends, the bounded-memory external sort, close/resume/crash/reopen,
// the live /map layout (read by h5py while the writer works), the pixel-list stream, and
// every typed error.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { StoreReader, StoreWriter } from "../../src/store/index.js";
import { mat3Mul, mat3MulVec } from "../../src/geometry/vec3.js";
import { bMatrix } from "../../src/geometry/crystal.js";
import { Rng } from "../../src/synth/random.js";
import {
  DataConsistencyError,
  GlobalVoxelGrid,
  InvalidVoxelIndexError,
  STAT_STRIDE,
  StorageBackendError,
  SymmetryError,
  VoxelAccumulator,
  unsortedPathFor,
  type AccumulatorSnapshot,
  type VoxelObservations,
} from "../../src/voxel/index.js";
import {
  crystalsOf,
  randomRotation,
  crystalFrom,
  ORTHO_CELL,
  P212121_HALL,
  syntheticStills,
  type SyntheticStill,
} from "./helpers.js";

const python = process.env.STAGELAB_SYSTEM_PYTHON ?? "/usr/bin/python3";
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-voxel-"));
process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));

const D_MIN = 3;
const D_MAX = 40;
const NDIV: [number, number, number] = [2, 2, 3];
const stills = syntheticStills(8, 30000, { seed: 21, dMinA: 2.9, zeroSigmaFraction: 0.05 });
const gridOpts = { stillCrystals: crystalsOf(stills), ndiv: NDIV, dMinA: D_MIN, dMaxA: D_MAX };
const grid = GlobalVoxelGrid.create(gridOpts);

function addAll(acc: VoxelAccumulator, list: SyntheticStill[]): number {
  let n = 0;
  for (const s of list) n += acc.addObservations(s.stillId, s.qLab, s.intensity, s.sigma);
  return n;
}

const big = VoxelAccumulator.createInMemory(grid);
const bigBinned = addAll(big, stills);

function relClose(a: number, b: number, rel: number, abs: number, what: string): void {
  assert.ok(Math.abs(a - b) <= rel * Math.abs(b) + abs, `${what}: ${a} vs ${b} (diff ${a - b})`);
}

function sortedObs(o: VoxelObservations): string[] {
  const rows: string[] = [];
  for (let i = 0; i < o.nObservations; i++) {
    rows.push(
      `${o.stillIds[i]}|${o.intensities[i]}|${o.sigmas[i]}|${o.qVectorsLab[3 * i]},${o.qVectorsLab[3 * i + 1]},${o.qVectorsLab[3 * i + 2]}`,
    );
  }
  return rows.sort();
}

test("statistics equal an independent numpy two-pass computation (bincount)", () => {
  const d = path.join(dir, "numpy");
  fs.mkdirSync(d);
  const n = stills.reduce((a, s) => a + s.intensity.length, 0);
  const q = new Float64Array(3 * n);
  const inten = new Float64Array(n);
  const sig = new Float64Array(n);
  const still = new Uint32Array(n);
  let at = 0;
  for (const s of stills) {
    q.set(s.qLab, 3 * at);
    inten.set(s.intensity, at);
    sig.set(s.sigma, at);
    still.fill(s.stillId, at, at + s.intensity.length);
    at += s.intensity.length;
  }
  const put = (name: string, a: ArrayBufferView) =>
    fs.writeFileSync(path.join(d, name), new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  put("q.f64", q);
  put("intensity.f64", inten);
  put("sigma.f64", sig);
  put("still.u32", still);
  fs.writeFileSync(
    path.join(d, "meta.json"),
    JSON.stringify({
      // The generating truth, not what the grid derived: numpy redoes the median, B and U.
      cells: stills.map((s) => [
        s.cell.aA,
        s.cell.bA,
        s.cell.cA,
        s.cell.alphaDeg,
        s.cell.betaDeg,
        s.cell.gammaDeg,
      ]),
      us: stills.map((s) => [...s.u]),
      ndiv: NDIV,
      origin: grid.hklOrigin,
      shape: grid.shape,
      d_min: D_MIN,
      d_max: D_MAX,
    }),
  );
  execFileSync(python, [fileURLToPath(new URL("./voxel_reference.py", import.meta.url)), d]);
  const get = (name: string) =>
    new Float64Array(fs.readFileSync(path.join(d, name)).buffer.slice(0));
  const ref = {
    voxel: new Int32Array(fs.readFileSync(path.join(d, "voxel.i32")).buffer.slice(0)),
    count: get("count.f64"),
    mean: get("mean.f64"),
    m2: get("m2.f64"),
    sumw: get("sumw.f64"),
    wmean: get("wmean.f64"),
    wm2: get("wm2.f64"),
  };
  const summary = JSON.parse(fs.readFileSync(path.join(d, "summary.json"), "utf8"));
  // B of the median cell agrees.
  summary.b_matrix.forEach((b: number, i: number) =>
    relClose(grid.bMatrix[i]!, b, 1e-12, 1e-15, `B[${i}]`),
  );
  // Voxel of every observation.
  at = 0;
  for (const s of stills) {
    const v = big.computeVoxelIndices(s.stillId, s.qLab);
    for (let i = 0; i < v.length; i++)
      assert.equal(v[i], ref.voxel[at + i], `still ${s.stillId} obs ${i}`);
    at += v.length;
  }
  assert.equal(bigBinned, summary.n_binned);
  assert.ok(bigBinned < n && bigBinned > 0.9 * n, "some observations fall outside 3..40 A");
  const st = big.statistics;
  let checked = 0;
  for (let v = 0; v < grid.nVoxels; v++) {
    const o = v * STAT_STRIDE;
    assert.equal(st[o], ref.count[v], `count of voxel ${v}`);
    if (ref.count[v] === 0) continue;
    checked++;
    const scale = Math.abs(ref.mean[v]!);
    relClose(st[o + 1]!, ref.mean[v]!, 1e-12, 0, `mean ${v}`);
    relClose(st[o + 2]!, ref.m2[v]!, 1e-10, 1e-12 * scale * scale, `m2 ${v}`);
    relClose(st[o + 3]!, ref.sumw[v]!, 1e-12, 0, `sum_w ${v}`);
    if (ref.sumw[v]! > 0) {
      relClose(st[o + 4]!, ref.wmean[v]!, 1e-12, 0, `weighted mean ${v}`);
      relClose(
        st[o + 5]!,
        ref.wm2[v]!,
        1e-10,
        1e-12 * ref.sumw[v]! * scale * scale,
        `weighted m2 ${v}`,
      );
    }
  }
  assert.ok(checked > 1000, `${checked} voxels with data`);
  const stats = big.getAccumulationStatistics();
  assert.equal(stats.totalObservations, summary.n_binned);
  assert.equal(stats.uniqueVoxels, checked);
  relClose(stats.resolutionRange.dMin, 1 / Math.sqrt(summary.q2_max), 1e-14, 0, "d_min");
  relClose(stats.resolutionRange.dMax, 1 / Math.sqrt(summary.q2_min), 1e-14, 0, "d_max");
  assert.ok(stats.resolutionRange.dMin >= D_MIN && stats.resolutionRange.dMax <= D_MAX);
  const counts = Array.from(ref.count).filter((c) => c > 0);
  const mean = counts.reduce((a, b) => a + b, 0) / counts.length;
  relClose(stats.observationsPerVoxelStats.mean, mean, 1e-12, 0, "obs/voxel mean");
  relClose(
    stats.observationsPerVoxelStats.std,
    Math.sqrt(counts.reduce((a, c) => a + (c - mean) ** 2, 0) / counts.length),
    1e-10,
    0,
    "obs/voxel std",
  );
  assert.equal(stats.observationsPerVoxelStats.min, Math.min(...counts));
  assert.equal(stats.observationsPerVoxelStats.max, Math.max(...counts));
  assert.equal(stats.rejected.outsideResolution, n - bigBinned);
  assert.equal(
    [...stats.stillDistribution.values()].reduce((a, b) => a + b, 0),
    bigBinned,
  );
  stills.forEach((s, i) => {
    let k = 0;
    for (let j = 0; j < s.intensity.length; j++) if (ref.voxel[i * 30000 + j]! >= 0) k++;
    assert.equal(stats.stillDistribution.get(s.stillId), k);
  });
});

function assertMergedEqualsBig(acc: VoxelAccumulator, what: string): void {
  const a = acc.statistics;
  const b = big.statistics;
  for (let v = 0; v < grid.nVoxels; v++) {
    const o = v * STAT_STRIDE;
    assert.equal(a[o], b[o], `${what}: count of voxel ${v} bit for bit`);
    if (b[o] === 0) continue;
    relClose(a[o + 1]!, b[o + 1]!, 1e-12, 0, `${what}: mean ${v}`);
    relClose(a[o + 2]!, b[o + 2]!, 1e-9, 1e-12 * b[o + 1]! ** 2, `${what}: m2 ${v}`);
    relClose(a[o + 3]!, b[o + 3]!, 1e-12, 0, `${what}: sum_w ${v}`);
    relClose(a[o + 4]!, b[o + 4]!, 1e-12, 0, `${what}: weighted mean ${v}`);
    relClose(
      a[o + 5]!,
      b[o + 5]!,
      1e-9,
      1e-12 * b[o + 3]! * b[o + 1]! ** 2,
      `${what}: weighted m2 ${v}`,
    );
  }
  const sa = acc.getAccumulationStatistics();
  const sb = big.getAccumulationStatistics();
  assert.deepEqual(sa, sb, `${what}: accumulation statistics`);
}

test("merged partial accumulators equal one big accumulator (counts bit for bit, means 1e-12)", () => {
  const parts = [stills.slice(0, 3), stills.slice(3, 4), stills.slice(4)].map((list) => {
    const p = VoxelAccumulator.createInMemory(grid);
    addAll(p, list);
    return p;
  });
  const merged = VoxelAccumulator.createInMemory(grid);
  for (const p of parts) merged.merge(p);
  assertMergedEqualsBig(merged, "memory merge");
  // Merge order does not matter beyond rounding; snapshots merge like accumulators.
  const rev = VoxelAccumulator.createInMemory(grid);
  for (const p of [...parts].reverse()) rev.merge(p.toSnapshot());
  assertMergedEqualsBig(rev, "reverse snapshot merge");
  // Same observation multisets per voxel.
  for (let v = 0; v < grid.nVoxels; v += 7) {
    assert.deepEqual(
      sortedObs(rev.getObservationsForVoxel(v)),
      sortedObs(big.getObservationsForVoxel(v)),
    );
  }
  // A statistics-only accumulator merges statistics.
  const statsOnly = VoxelAccumulator.createInMemory(grid, { keepObservations: false });
  for (const p of parts) statsOnly.merge(p);
  assertMergedEqualsBig(statsOnly, "statistics-only merge");
  assert.throws(() => statsOnly.getObservationsForVoxel(0), StorageBackendError);
  assert.throws(() => merged.merge(statsOnly), DataConsistencyError);
  assert.throws(() => merged.merge(merged), DataConsistencyError);
  const other = GlobalVoxelGrid.create({ ...gridOpts, ndiv: 1 });
  assert.throws(() => merged.merge(VoxelAccumulator.createInMemory(other)), DataConsistencyError);
});

test("worker threads accumulate partial snapshots; merged into an hdf5 accumulator they equal one pass", async () => {
  // A worker's --import hooks are not applied to its entry file: register tsx, then import it.
  const entry = new URL("./accumulate-worker.ts", import.meta.url).href;
  const tsxApi = import.meta.resolve("tsx/esm/api");
  const workers = [0, 1].map(
    () =>
      new Worker(
        `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`,
        {
          eval: true,
        },
      ),
  );
  try {
    const jobs = [stills.slice(0, 5), stills.slice(5)].map(
      (list, i) =>
        new Promise<AccumulatorSnapshot>((resolve, reject) => {
          const w = workers[i]!;
          w.once("message", resolve);
          w.once("error", reject);
          w.postMessage({
            grid: grid.toJSON(),
            stills: list.map((s) => ({
              stillId: s.stillId,
              qLab: s.qLab,
              intensity: s.intensity,
              sigma: s.sigma,
            })),
          });
        }),
    );
    const snaps = await Promise.all(jobs);
    const acc = await VoxelAccumulator.create(grid, {
      storagePath: path.join(dir, "parallel.h5"),
      bufferBytes: 1 << 20,
    });
    for (const s of snaps) acc.merge(s);
    assertMergedEqualsBig(acc, "worker merge");
    await acc.finalize();
    for (let v = 0; v < grid.nVoxels; v += 5) {
      assert.deepEqual(
        sortedObs(acc.getObservationsForVoxel(v)),
        sortedObs(big.getObservationsForVoxel(v)),
      );
    }
    acc.close();
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
});

test("memory and hdf5 backends agree; the external sort with a tiny buffer is exact", async () => {
  const file = path.join(dir, "h5", "acc.h5");
  const acc = await VoxelAccumulator.create(grid, {
    backend: "hdf5",
    storagePath: file,
    bufferBytes: 256 * 1024, // ~3600-row buckets: dozens of buckets for 230k rows
    chunkRows: 4096,
  });
  assert.equal(acc.backend, "hdf5");
  assert.equal(acc.storagePath, file);
  // Commits between stills leave partial chunks behind: the appends must realign.
  let added = 0;
  for (const s of stills) {
    added += acc.addObservations(s.stillId, s.qLab, s.intensity, s.sigma);
    acc.commit();
  }
  assert.equal(added, bigBinned);
  assert.throws(
    () => acc.getObservationsForVoxel(0),
    StorageBackendError,
    "readable after finalize",
  );
  const phases = new Set<string>();
  await acc.finalize({ onProgress: (p) => phases.add(p) });
  assert.deepEqual([...phases].sort(), ["distribute", "merge"]);
  assert.ok(!fs.existsSync(unsortedPathFor(file)), "the unsorted side file is removed");
  assert.ok(!fs.existsSync(`${file}.sort.tmp`), "the scratch file is removed");
  assert.deepEqual(acc.statistics, big.statistics);
  assert.equal(acc.nTotalObservations, big.nTotalObservations);
  assert.equal(acc.nUniqueVoxels, big.nUniqueVoxels);
  assert.deepEqual(acc.getAccumulationStatistics(), big.getAccumulationStatistics());
  // Same rows in the same (arrival) order within each voxel: the sorts are stable.
  for (let v = 0; v < grid.nVoxels; v++) {
    const a = acc.getObservationsForVoxel(v);
    const b = big.getObservationsForVoxel(v);
    assert.equal(a.nObservations, b.nObservations);
    assert.deepEqual(a.intensities, b.intensities);
    assert.deepEqual(a.sigmas, b.sigmas);
    assert.deepEqual(a.stillIds, b.stillIds);
    assert.deepEqual(a.qVectorsLab, b.qVectorsLab);
  }
  // Blocks and the IDL dict view hold the same.
  const all = acc.getAllBinnedDataForScaling();
  assert.equal(all.size, big.nUniqueVoxels);
  let rows = 0;
  for (const blk of acc.observationBlocks(5000)) {
    assert.ok(blk.columns.count <= 5000 || blk.voxels.length === 1);
    blk.voxels.forEach((v, i) => {
      const a = blk.offsets[i]!;
      const b = blk.offsets[i + 1]!;
      assert.deepEqual(blk.columns.intensity.subarray(a, b), all.get(v)!.intensities);
      assert.ok(blk.columns.voxel.subarray(a, b).every((x) => x === v));
    });
    rows += blk.columns.count;
  }
  assert.equal(rows, bigBinned);
  const memAll = big.getAllBinnedDataForScaling();
  assert.deepEqual([...memAll.keys()], [...all.keys()]);
  // Finalized: no more data.
  const s0 = stills[0]!;
  assert.throws(() => acc.addObservations(0, s0.qLab, s0.intensity, s0.sigma), StorageBackendError);
  acc.close();
  // Reopen read-only.
  const re = await VoxelAccumulator.open(path.dirname(file).concat("/acc.h5"));
  assert.ok(re.isFinalized);
  assert.deepEqual(re.statistics, big.statistics);
  assert.deepEqual(re.getAccumulationStatistics(), big.getAccumulationStatistics());
  assert.deepEqual(re.globalVoxelGrid.toJSON(), grid.toJSON());
  const v = grid.hklToVoxelIndex([2, 3, 4]);
  assert.deepEqual(re.getObservationsForVoxel(v), big.getObservationsForVoxel(v));
  // A finalized hdf5 accumulator merges into others (observations streamed from its file).
  const m = VoxelAccumulator.createInMemory(grid);
  m.merge(re);
  assert.deepEqual(m.statistics, big.statistics);
  re.close();
  assert.throws(() => re.getObservationsForVoxel(v), StorageBackendError);
});

test("the live map: layout and attributes for viewers, readable by h5py while the writer works", async () => {
  const file = path.join(dir, "live.h5");
  const acc = await VoxelAccumulator.create(grid, {
    storagePath: file,
    commitIntervalS: 0,
    units: "test units",
  });
  addAll(acc, stills.slice(0, 4));
  acc.commit();
  const nCommitted = acc.nTotalObservations;
  const script = `
import h5py, json, sys, numpy as np
f = h5py.File(sys.argv[1], "r", libver="latest", swmr=True)
m = f["map"]
n = m["n_obs"][...]
i = m["intensity"][...]
out = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in m.attrs.items()}
out = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in out.items()}
out["shape"] = list(n.shape); out["dtypes"] = [str(m[k].dtype) for k in ("intensity", "sigma", "n_obs")]
out["n_sum"] = int(n.sum()); out["nan_where_empty"] = bool(np.isnan(i[n == 0]).all())
out["finite_where_data"] = bool(np.isfinite(i[n > 0]).all())
print(json.dumps(out))
`;
  const live = JSON.parse(execFileSync(python, ["-c", script, file], { encoding: "utf8" }));
  assert.equal(live.n_sum, nCommitted, "h5py sees the committed map");
  assert.deepEqual(live.shape, [...grid.shape]);
  assert.deepEqual(live.dtypes, ["float32", "float32", "uint32"]);
  assert.ok(live.nan_where_empty && live.finite_where_data);
  assert.deepEqual(live.hkl_origin, [...grid.hklOrigin]);
  assert.deepEqual(live.ndiv, NDIV);
  assert.equal(live.laue_class, "mmm");
  assert.equal(live.space_group, "P 21 21 21");
  assert.equal(live.unit_cell.length, 6);
  assert.deepEqual(live.b_matrix, [...grid.bMatrix]);
  assert.ok(live.asu_only === true || live.asu_only === 1, "asu_only");
  assert.equal(live.units, "test units");
  addAll(acc, stills.slice(4));
  await acc.finalize();
  acc.close();
  const r = await StoreReader.open(file);
  try {
    const n = r.read<"uint32">("/map/n_obs");
    const inten = r.read<"float32">("/map/intensity").data;
    const sig = r.read<"float32">("/map/sigma").data;
    assert.deepEqual(n.shape, [...grid.shape]);
    const st = big.statistics;
    for (let v = 0; v < grid.nVoxels; v++) {
      const o = v * STAT_STRIDE;
      assert.equal(n.data[v], st[o]);
      if (st[o] === 0) assert.ok(Number.isNaN(inten[v]!));
      else if (st[o + 3]! > 0) {
        assert.equal(inten[v], Math.fround(st[o + 4]!));
        assert.equal(sig[v], Math.fround(1 / Math.sqrt(st[o + 3]!)));
      } else {
        assert.equal(inten[v], Math.fround(st[o + 1]!));
        assert.ok(Number.isNaN(sig[v]!));
      }
    }
    assert.equal(r.attrs("/voxels").finalized, true);
    const off = r.read<"uint64">("/voxels/offset").data;
    assert.equal(off.length, grid.nVoxels + 1);
    assert.equal(Number(off[grid.nVoxels]), bigBinned);
  } finally {
    r.close();
  }
});

test("close and resume; a crashed writer resumes from its last commit", async () => {
  const file = path.join(dir, "resume.h5");
  const first = await VoxelAccumulator.create(grid, { storagePath: file, commitIntervalS: 0 });
  addAll(first, stills.slice(0, 3));
  first.close();
  const second = await VoxelAccumulator.open(file);
  assert.ok(!second.isFinalized);
  const ref = VoxelAccumulator.createInMemory(grid);
  addAll(ref, stills.slice(0, 3));
  assert.deepEqual(second.statistics, ref.statistics, "statistics recomputed bit for bit");
  addAll(second, stills.slice(3, 6));
  second.commit();
  // Rows added after the last commit are lost in a crash; the committed ones survive.
  addAll(second, stills.slice(6, 7));
  second.abandon();
  const third = await VoxelAccumulator.open(file);
  addAll(ref, stills.slice(3, 6));
  assert.deepEqual(third.statistics, ref.statistics);
  addAll(third, stills.slice(6));
  addAll(ref, stills.slice(6));
  await third.finalize();
  assert.deepEqual(third.statistics, big.statistics);
  for (let v = 0; v < grid.nVoxels; v += 3) {
    assert.deepEqual(third.getObservationsForVoxel(v), big.getObservationsForVoxel(v));
  }
  third.close();
  assert.rejects(VoxelAccumulator.open(path.join(dir, "missing.h5")), StorageBackendError);
});

test("pixel-list stream: same as direct adds; progress, abort, unknown stills registered", async () => {
  const file = path.join(dir, "pixels.h5");
  const w = await StoreWriter.create(file);
  w.createDataset("/diffuse/pixels/q_lab", { dtype: "float64", shape: [0, 3], chunks: [4096, 3] });
  for (const c of ["intensity", "sigma"])
    w.createDataset(`/diffuse/pixels/${c}`, { dtype: "float64", shape: [0], chunks: [4096] });
  w.createDataset("/diffuse/pixels/still", { dtype: "uint32", shape: [0], chunks: [4096] });
  const list = stills.slice(0, 3);
  for (const s of list) {
    w.dataset<"float64">("/diffuse/pixels/q_lab").append(s.qLab);
    w.dataset<"float64">("/diffuse/pixels/intensity").append(s.intensity);
    w.dataset<"float64">("/diffuse/pixels/sigma").append(s.sigma);
    w.dataset<"uint32">("/diffuse/pixels/still").append(
      new Uint32Array(s.intensity.length).fill(s.stillId),
    );
  }
  w.close();
  // The grid knows only still 0; the others come in through stillCrystals.
  const g = GlobalVoxelGrid.create({
    ...gridOpts,
    stillCrystals: [stills[0]!.crystal],
    referenceCell: grid.referenceCell,
  });
  assert.equal(g.geometryKey, grid.geometryKey);
  const acc = VoxelAccumulator.createInMemory(g);
  const seen: number[] = [];
  const res = await acc.addObservationsFromPixelList(file, {
    stillCrystals: crystalsOf(list),
    slabRows: 25000,
    onProgress: (p) => seen.push(p.rowsDone),
  });
  assert.equal(res.rows, 90000);
  const ref = VoxelAccumulator.createInMemory(grid);
  assert.equal(res.binned, addAll(ref, list));
  assert.deepEqual(acc.statistics, ref.statistics);
  assert.equal(seen.at(-1), 90000);
  // Abort after the first slab.
  const ac = new AbortController();
  const acc2 = VoxelAccumulator.createInMemory(g);
  await assert.rejects(
    acc2.addObservationsFromPixelList(file, {
      slabRows: 25000,
      signal: ac.signal,
      onProgress: () => ac.abort(),
    }),
    (e: Error) => e.name === "AbortError",
  );
  assert.ok(acc2.nTotalObservations > 0 && acc2.nTotalObservations < res.binned);
  await assert.rejects(
    acc2.addObservationsFromPixelList(path.join(dir, "nope.h5")),
    StorageBackendError,
  );
});

test("typed errors", async () => {
  const acc = VoxelAccumulator.createInMemory(grid);
  const s = stills[0]!;
  const n = s.intensity.length;
  // DataConsistencyError: shapes, values, unknown still, frames.
  assert.throws(
    () => acc.addObservations(0, s.qLab.subarray(3), s.intensity, s.sigma),
    DataConsistencyError,
  );
  assert.throws(
    () => acc.addObservations(0, s.qLab, s.intensity, s.sigma.subarray(1)),
    DataConsistencyError,
  );
  assert.throws(
    () => acc.addObservations(0, s.qLab, s.intensity, s.sigma, new Int32Array(2)),
    DataConsistencyError,
  );
  const badI = s.intensity.slice();
  badI[5] = NaN;
  assert.throws(() => acc.addObservations(0, s.qLab, badI, s.sigma), /observation 5/);
  const badS = s.sigma.slice();
  badS[7] = -1;
  assert.throws(() => acc.addObservations(0, s.qLab, s.intensity, badS), DataConsistencyError);
  const badQ = s.qLab.slice();
  badQ[30] = Infinity;
  assert.throws(() => acc.addObservations(0, badQ, s.intensity, s.sigma), DataConsistencyError);
  assert.throws(() => acc.addObservations(99, s.qLab, s.intensity, s.sigma), DataConsistencyError);
  assert.equal(acc.nTotalObservations, 0, "nothing added by failed calls");
  assert.ok(acc.statistics.every((x) => x === 0));
  // Negative intensities and zero sigmas are fine (diffuse data have them).
  const neg = s.intensity.map((x) => -x);
  assert.ok(acc.addObservations(0, s.qLab, neg, new Float64Array(n)) > 0);
  const v0 = acc.computeVoxelIndices(0, s.qLab).find((v) => v >= 0)!;
  const vs = acc.getVoxelStatistics(v0);
  assert.ok(vs.mean < 0 && vs.sumWeights === 0 && Number.isNaN(vs.weightedMean));
  // InvalidVoxelIndexError.
  for (const bad of [-1, grid.nVoxels, 1.5, NaN]) {
    assert.throws(() => acc.getObservationsForVoxel(bad), InvalidVoxelIndexError);
    assert.throws(() => acc.getVoxelStatistics(bad), InvalidVoxelIndexError);
  }
  // StorageBackendError: no path, existing file, unwritable place, unknown backend.
  await assert.rejects(VoxelAccumulator.create(grid, { backend: "hdf5" }), StorageBackendError);
  const file = path.join(dir, "exists.h5");
  fs.writeFileSync(file, "x");
  await assert.rejects(VoxelAccumulator.create(grid, { storagePath: file }), StorageBackendError);
  await assert.rejects(
    // A directory that cannot exist (its parent is a file).
    VoxelAccumulator.create(grid, { storagePath: path.join(file, "sub", "acc.h5") }),
    StorageBackendError,
  );
  await assert.rejects(
    VoxelAccumulator.create(grid, {
      backend: "zarr" as "hdf5",
      storagePath: path.join(dir, "z.h5"),
    }),
    StorageBackendError,
  );
  // SymmetryError: a space group of another Laue class than the grid's, or an unknown one.
  assert.throws(() => VoxelAccumulator.createInMemory(grid, { spaceGroup: "P 4" }), SymmetryError);
  assert.throws(() => VoxelAccumulator.createInMemory(grid, { spaceGroup: "X 1" }), SymmetryError);
  assert.equal(VoxelAccumulator.createInMemory(grid, { spaceGroup: 19 }).symmetry.laueClass, "mmm");
  assert.equal(
    VoxelAccumulator.createInMemory(grid, { spaceGroup: "P 2 2 2" }).spaceGroup,
    "P 21 21 21",
  );
});

test("different stills with the same hkl share a voxel; Friedel mates too (P1)", () => {
  const rng = new Rng(99);
  const crystals = [0, 1, 2].map(() => crystalFrom(randomRotation(rng), ORTHO_CELL, " P 1"));
  const g = GlobalVoxelGrid.create({ stillCrystals: crystals, ndiv: 2, dMinA: 3 });
  assert.equal(g.symmetry.laueClass, "-1");
  const acc = VoxelAccumulator.createInMemory(g);
  const hkl: [number, number, number] = [3.2, -4.1, 5.3];
  crystals.forEach((c, i) => {
    const a = mat3Mul(randomRotationOf(c), bMatrix(ORTHO_CELL));
    const sign = i === 2 ? -1 : 1;
    const q = mat3MulVec(a, [sign * hkl[0], sign * hkl[1], sign * hkl[2]]);
    acc.addObservations(i, new Float64Array(q), new Float64Array([10 + i]), new Float64Array([1]));
  });
  const v = g.hklToVoxelIndex(hkl);
  const o = acc.getObservationsForVoxel(v);
  assert.equal(o.nObservations, 3);
  assert.deepEqual([...o.stillIds], [0, 1, 2]);
  assert.equal(acc.nUniqueVoxels, 1);
  assert.equal(acc.getVoxelStatistics(v).mean, 11);
});

/** U of a crystal built by crystalFrom (A B^-1). */
function randomRotationOf(c: ReturnType<typeof crystalFrom>) {
  const g = GlobalVoxelGrid.create({
    stillCrystals: [c],
    spaceGroup: "P 1",
    ndiv: 1,
    dMinA: 10,
    referenceCell: ORTHO_CELL,
  });
  return g.stillOrientation(0).u;
}

void P212121_HALL;
