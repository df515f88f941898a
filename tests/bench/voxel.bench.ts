/**
 * Voxel accumulation (src/voxel) against numpy/h5py, same machine, same run, same data.
 *
 *   node --import tsx tests/bench/voxel.bench.ts        (npm run bench -- tests/bench/voxel)
 *
 * Data: STILLS stills (default 10) of a 1000 x 1000 pixel flat detector (1 M observations
 * each, in detector raster order as a pixel list has them), random crystal orientations, a
 * 60 x 70 x 80 A P212121 cell, grid ndiv 3 to 1.8 A (1.65 M voxels). Each operation is timed
 * REPS (3) times per side; the table gives medians and numpy time / stagelab time (> 1:
 * stagelab faster):
 *
 *   bin + statistics     addObservations on a statistics-only memory accumulator: q -> hkl with
 *                        the still's A^-1, rounding, ASU map, voxel index, Welford + weighted
 *                        Welford updates | numpy: the same per still, bincount sums
 *   add hdf5 none/zstd   addObservations on the hdf5 backend (observations appended to HDF5,
 *                        statistics) + commit | numpy + h5py appends (h5py: lzf, Debian's h5py
 *                        has no zstd: the closest fast codec)
 *   finalize none        the bounded-memory external sort (64 MiB) | numpy argsort in memory
 *   weighted mean        per-voxel statistics of pre-binned observations | two-pass bincount
 *   chan merge           merging two partial statistics arrays (Chan et al.) | vectorised numpy
 *
 * Memory: the hdf5 backend's process RSS and heap at N and 10 N observations (separate child
 * processes, observations generated on the fly), during accumulation and finalize.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Mat3 } from "../../src/geometry/models.js";
import { bMatrix, type UnitCell } from "../../src/geometry/crystal.js";
import { mat3Inverse, mat3Mul } from "../../src/geometry/vec3.js";
import { Rng } from "../../src/synth/random.js";
import {
  GlobalVoxelGrid,
  VoxelAccumulator,
  accumulateStats,
  allocateStats,
  mergeStats,
} from "../../src/voxel/index.js";

const python = process.env.STAGELAB_SYSTEM_PYTHON ?? "/usr/bin/python3";
const reps = Number(process.env.STAGELAB_BENCH_REPS ?? 3);
const nStills = Number(process.env.STAGELAB_BENCH_STILLS ?? 10);
const NF = 1000;
const NS = 1000;
const CELL: UnitCell = { aA: 60, bA: 70, cA: 80, alphaDeg: 90, betaDeg: 90, gammaDeg: 90 };
const HALL = " P 2ac 2ab";
const D_MIN = 1.8;
const NDIV = 3;
const MIB = 1024 * 1024;

function crystalOf(u: Mat3) {
  const r = mat3Inverse(mat3Mul(u, bMatrix(CELL)));
  return {
    realSpaceA: [r[0], r[1], r[2]] as const,
    realSpaceB: [r[3], r[4], r[5]] as const,
    realSpaceC: [r[6], r[7], r[8]] as const,
    spaceGroupHall: HALL,
  };
}

/**
 * One still on a flat 1000 x 1000 detector (0.172 mm pixels, 200 mm, 1 A), raster order:
 * q = s1 - s0; a smooth diffuse intensity in hkl with noise; sigma from counting statistics.
 */
function detectorStill(
  rng: Rng,
  u: Mat3,
  rows: number,
  out: { qLab: Float64Array; intensity: Float64Array; sigma: Float64Array },
): void {
  const a = mat3Mul(u, bMatrix(CELL));
  const ai = mat3Inverse(a);
  const lambda = 1;
  const px = 0.172;
  const dist = 200;
  let i = 0;
  for (let s = 0; i < rows; s++) {
    for (let f = 0; f < NF && i < rows; f++, i++) {
      const x = (f - NF / 2 + 0.5) * px;
      const y = ((s % NS) - NS / 2 + 0.5) * px;
      const r = Math.hypot(x, y, dist);
      const qx = x / r / lambda;
      const qy = y / r / lambda;
      const qz = -dist / r / lambda + 1 / lambda;
      out.qLab[3 * i] = qx;
      out.qLab[3 * i + 1] = qy;
      out.qLab[3 * i + 2] = qz;
      const h = ai[0] * qx + ai[1] * qy + ai[2] * qz;
      const k = ai[3] * qx + ai[4] * qy + ai[5] * qz;
      const q2 = qx * qx + qy * qy + qz * qz;
      const truth =
        40 * Math.exp(-4 * q2) + 8 + 4 * Math.cos(Math.PI * h) ** 2 * Math.cos(Math.PI * k) ** 2;
      const sg = Math.sqrt(truth);
      out.intensity[i] = truth + sg * rng.normal();
      out.sigma[i] = sg;
    }
  }
}

function makeGrid(us: Mat3[]): GlobalVoxelGrid {
  return GlobalVoxelGrid.create({
    stillCrystals: us.map(crystalOf),
    ndiv: NDIV,
    dMinA: D_MIN,
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function mem() {
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers };
}

/** Child-process mode: accumulate `total` observations into hdf5 and report memory. */
async function memoryRun(total: number, dir: string): Promise<void> {
  const perStill = 500_000;
  const n = Math.ceil(total / perStill);
  const rng = new Rng(17);
  const us = Array.from({ length: n }, () => rng.rotation());
  const grid = makeGrid(us);
  const buf = {
    qLab: new Float64Array(3 * perStill),
    intensity: new Float64Array(perStill),
    sigma: new Float64Array(perStill),
  };
  const acc = await VoxelAccumulator.create(grid, {
    storagePath: path.join(dir, `mem-${total}.h5`),
    overwrite: true,
    bufferBytes: 64 * MIB,
  });
  global.gc?.();
  const start = mem();
  const peakAdd = { ...start };
  const peak = (p: typeof start, m = mem()) => {
    p.rss = Math.max(p.rss, m.rss);
    p.heapUsed = Math.max(p.heapUsed, m.heapUsed);
    p.arrayBuffers = Math.max(p.arrayBuffers, m.arrayBuffers);
  };
  const t0 = performance.now();
  let added = 0;
  for (let s = 0; s < n; s++) {
    const rows = Math.min(perStill, total - added);
    detectorStill(rng, us[s]!, rows, buf);
    acc.addObservations(
      s,
      buf.qLab.subarray(0, 3 * rows),
      buf.intensity.subarray(0, rows),
      buf.sigma.subarray(0, rows),
    );
    added += rows;
    peak(peakAdd);
  }
  acc.commit();
  const tAdd = (performance.now() - t0) / 1000;
  const peakFin = mem();
  const t1 = performance.now();
  await acc.finalize({ onProgress: () => peak(peakFin) });
  peak(peakFin);
  const tFin = (performance.now() - t1) / 1000;
  const size = fs.statSync(path.join(dir, `mem-${total}.h5`)).size;
  acc.close();
  console.log(
    "MEM_JSON " +
      JSON.stringify({
        total: acc.nTotalObservations,
        start,
        peakAdd,
        peakFin,
        tAdd,
        tFin,
        fileBytes: size,
      }),
  );
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-voxel-bench-"));
  try {
    const rows = NF * NS;
    const rng = new Rng(5);
    const us = Array.from({ length: nStills }, () => rng.rotation());
    const grid = makeGrid(us);
    const n = rows * nStills;
    const q = new Float64Array(3 * n);
    const inten = new Float64Array(n);
    const sig = new Float64Array(n);
    const stills = us.map((u, k) => {
      const v = {
        qLab: q.subarray(3 * k * rows, 3 * (k + 1) * rows),
        intensity: inten.subarray(k * rows, (k + 1) * rows),
        sigma: sig.subarray(k * rows, (k + 1) * rows),
      };
      detectorStill(rng, u, rows, v);
      return v;
    });
    const put = (name: string, a: ArrayBufferView) =>
      fs.writeFileSync(path.join(dir, name), new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    put("q.f64", q);
    put("intensity.f64", inten);
    put("sigma.f64", sig);
    const scaled = us.map((_, k) => {
      const ai = grid.getAInverseForStill(k);
      return Array.from(ai, (x, i) => x * NDIV + 0 * i);
    });
    fs.writeFileSync(
      path.join(dir, "meta.json"),
      JSON.stringify({
        scaled,
        origin: grid.hklOrigin,
        shape: grid.shape,
        q2_min: 0,
        q2_max: 1 / (D_MIN * D_MIN),
        rows_per_still: rows,
        chunk_rows: 65536,
      }),
    );
    console.log(
      `voxel benchmark: ${nStills} stills x ${rows} observations (detector raster order), ` +
        `grid ${grid.shape.join(" x ")} = ${grid.nVoxels} voxels (${grid.symmetry.laueClass}), ${reps} reps`,
    );
    const ref = JSON.parse(
      execFileSync(
        python,
        [fileURLToPath(new URL("./voxel_bench.py", import.meta.url)), dir, String(reps)],
        {
          encoding: "utf8",
          maxBuffer: 1 << 24,
        },
      )
        .split("\n")
        .find((l) => l.startsWith("BENCH_JSON "))!
        .slice(11),
    ) as { times: Record<string, number[]>; binned: number };

    const ours: Record<string, number[]> = {};
    const timed = async (name: string, fn: () => Promise<void> | void) => {
      const t0 = performance.now();
      await fn();
      (ours[name] ??= []).push((performance.now() - t0) / 1000);
    };
    let binned = 0;
    for (let rep = 0; rep < reps; rep++) {
      await timed("bin + statistics", () => {
        const acc = VoxelAccumulator.createInMemory(grid, { keepObservations: false });
        binned = 0;
        stills.forEach((s, k) => (binned += acc.addObservations(k, s.qLab, s.intensity, s.sigma)));
      });
      for (const label of ["none", "zstd"] as const) {
        const file = path.join(dir, `ts-${label}.h5`);
        const acc = await VoxelAccumulator.create(grid, {
          storagePath: file,
          overwrite: true,
          compression: label === "none" ? "none" : { zstd: 1 },
          commitIntervalS: 0,
          bufferBytes: 64 * MIB,
        });
        await timed(`add hdf5 ${label}`, () => {
          stills.forEach((s, k) => acc.addObservations(k, s.qLab, s.intensity, s.sigma));
          acc.commit();
        });
        if (label === "none") await timed("finalize none", () => acc.finalize());
        else await acc.finalize();
        acc.close();
        fs.rmSync(file, { force: true });
      }
    }
    if (binned !== ref.binned)
      throw new Error(`binned ${binned} observations, numpy ${ref.binned}`);
    // Pre-binned observations for the merge benches.
    const vox = new Int32Array(n);
    stills.forEach((s, k) =>
      grid.computeVoxelIndices(k, s.qLab, undefined, vox.subarray(k * rows, (k + 1) * rows)),
    );
    const keep = vox.reduce((a, v) => a + (v >= 0 ? 1 : 0), 0);
    const v2 = new Int32Array(keep);
    const x2 = new Float64Array(keep);
    const s2 = new Float64Array(keep);
    for (let i = 0, j = 0; i < n; i++) {
      if (vox[i]! < 0) continue;
      v2[j] = vox[i]!;
      x2[j] = inten[i]!;
      s2[j++] = sig[i]!;
    }
    const half = keep >> 1;
    const partA = allocateStats(grid.nVoxels);
    const partB = allocateStats(grid.nVoxels);
    accumulateStats(partA, v2, x2, s2, half);
    accumulateStats(partB, v2.subarray(half), x2.subarray(half), s2.subarray(half), keep - half);
    for (let rep = 0; rep < reps; rep++) {
      const target = allocateStats(grid.nVoxels);
      await timed("weighted mean", () => {
        accumulateStats(target, v2, x2, s2, keep);
      });
      const into = partA.slice();
      await timed("chan merge", () => {
        mergeStats(into, partB);
      });
    }

    const units: Record<string, [number, string]> = {
      "bin + statistics": [n, "obs"],
      "add hdf5 none": [n, "obs"],
      "add hdf5 zstd": [n, "obs"],
      "finalize none": [binned, "obs"],
      "weighted mean": [keep, "obs"],
      "chan merge": [grid.nVoxels, "voxels"],
    };
    const npName: Record<string, string> = { "add hdf5 zstd": "add hdf5 lzf" };
    console.log("\n| operation | stagelab | numpy | ratio (numpy time / stagelab time) |");
    console.log("| --- | --- | --- | --- |");
    for (const op of Object.keys(units)) {
      const o = median(ours[op]!);
      const r = median(ref.times[npName[op] ?? op] ?? [NaN]);
      const [count, what] = units[op]!;
      const fmt = (s: number) =>
        `${(count / s / 1e6).toFixed(2)} M ${what}/s (${(s * 1000).toFixed(0)} ms)`;
      console.log(
        `| ${op}${npName[op] ? " (numpy: h5py lzf)" : ""} | ${fmt(o)} | ${fmt(r)} | ${(r / o).toFixed(2)}x |`,
      );
    }

    // Memory at N and 10 N observations, each in a fresh process.
    const nMem = Number(process.env.STAGELAB_BENCH_MEM_N ?? 2_000_000);
    console.log(
      "\n| observations | RSS after create | add: peak RSS | add: peak heapUsed | add: peak arrayBuffers | finalize: peak RSS | add (incl. generating the data) | finalize | file |",
    );
    console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (const total of [nMem, 10 * nMem]) {
      const out = execFileSync(
        process.execPath,
        ["--expose-gc", "--import", "tsx", fileURLToPath(import.meta.url)],
        {
          encoding: "utf8",
          env: { ...process.env, STAGELAB_VOXEL_MEM: String(total), STAGELAB_VOXEL_MEM_DIR: dir },
          maxBuffer: 1 << 24,
        },
      );
      const m = JSON.parse(
        out
          .split("\n")
          .find((l) => l.startsWith("MEM_JSON "))!
          .slice(9),
      );
      const mb = (b: number) => `${(b / MIB).toFixed(0)} MiB`;
      console.log(
        `| ${m.total} | ${mb(m.start.rss)} | ${mb(m.peakAdd.rss)} | ${mb(m.peakAdd.heapUsed)} | ${mb(m.peakAdd.arrayBuffers)} | ` +
          `${mb(m.peakFin.rss)} | ${(m.total / m.tAdd / 1e6).toFixed(2)} M obs/s | ${m.tFin.toFixed(1)} s | ${mb(m.fileBytes)} |`,
      );
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.env.STAGELAB_VOXEL_MEM) {
  await memoryRun(
    Number(process.env.STAGELAB_VOXEL_MEM),
    process.env.STAGELAB_VOXEL_MEM_DIR ?? os.tmpdir(),
  );
} else {
  await main();
}
