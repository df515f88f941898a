/**
 * HDF5 store throughput against h5py, same machine, same run, same data.
 *
 *   npm run bench -- tests/bench/store          (512 MiB float32; STAGELAB_BENCH_MIB to change)
 *
 * Operations: chunk-aligned write and read (uncompressed and gzip-1, 64 MiB slabs of whole
 * 1 MiB chunks; STAGELAB_BENCH_CHUNK_ROWS=64 for 4 MiB) and 2000 random small slices. Each is timed REPS times per side; the table
 * reports medians and the ratio h5py_time / stagelab_time (>1 means stagelab is faster).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { StoreReader, StoreWriter } from "../../src/index.js";

const MIB = 1024 * 1024;
const totalMiB = Number(process.env.STAGELAB_BENCH_MIB ?? 512);
const reps = Number(process.env.STAGELAB_BENCH_REPS ?? 3);
const rowElems = 16384; // 64 KiB rows
const chunkRows = Number(process.env.STAGELAB_BENCH_CHUNK_ROWS ?? 16); // 16 rows = 1 MiB chunks (the store default)
const slabRows = 1024; // 64 MiB per call
const rows = Math.floor((totalMiB * MIB) / (rowElems * 4));
const python = process.env.STAGELAB_SYSTEM_PYTHON ?? "/usr/bin/python3";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-bench-"));
try {
  // Smooth signal plus deterministic noise: compressible like real detector data, not trivially.
  const data = new Float32Array(rows * rowElems);
  let seed = 12345;
  for (let i = 0; i < data.length; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    data[i] = Math.sin(i / 977) * 100 + (seed >>> 16) / 65536;
  }
  const raw = path.join(dir, "data.f32");
  fs.writeFileSync(raw, new Uint8Array(data.buffer));
  const slices: [number, number, number, number][] = [];
  for (let k = 0; k < 2000; k++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const r0 = seed % (rows - 16);
    seed = (seed * 1103515245 + 12345) >>> 0;
    const c0 = seed % (rowElems - 64);
    slices.push([r0, c0, 16, 64]);
  }
  const slicesFile = path.join(dir, "slices.json");
  fs.writeFileSync(slicesFile, JSON.stringify(slices));

  console.log(
    `store benchmark: ${rows} x ${rowElems} float32 (${totalMiB} MiB), chunks ${chunkRows} x ${rowElems}, ${reps} reps`,
  );
  const ref = JSON.parse(
    execFileSync(
      python,
      [
        fileURLToPath(new URL("./h5py_store_bench.py", import.meta.url)),
        raw,
        String(rows),
        String(rowElems),
        String(chunkRows),
        String(slabRows),
        String(reps),
        dir,
        slicesFile,
      ],
      {
        encoding: "utf8",
        maxBuffer: 1 << 20,
      },
    ),
  ) as Record<string, number[]>;

  const ours: Record<string, number[]> = {};
  const timed = async (name: string, fn: () => Promise<void> | void) => {
    const t0 = performance.now();
    await fn();
    (ours[name] ??= []).push((performance.now() - t0) / 1000);
  };
  for (const label of ["none", "gzip-1"] as const) {
    const file = path.join(dir, `stagelab-${label}.h5`);
    for (let rep = 0; rep < reps; rep++) {
      await timed(`write ${label}`, async () => {
        const w = await StoreWriter.create(file, { overwrite: true });
        const ds = w.createDataset("/x", {
          dtype: "float32",
          shape: [0, rowElems],
          chunks: [chunkRows, rowElems],
          compression: label === "none" ? "none" : { gzip: 1 },
        });
        for (let r = 0; r < rows; r += slabRows) {
          ds.append(data.subarray(r * rowElems, Math.min(rows, r + slabRows) * rowElems));
        }
        w.close();
      });
      await timed(`read ${label}`, async () => {
        // Into one reused slab, as h5py's read_direct does on its side.
        const rd = await StoreReader.open(file);
        const slab = new Float32Array(slabRows * rowElems);
        for (let r = 0; r < rows; r += slabRows)
          rd.readInto("/x", [[r, Math.min(rows, r + slabRows)]], slab);
        rd.close();
      });
    }
    if (label === "none") {
      for (let rep = 0; rep < reps; rep++) {
        await timed("random small slices", async () => {
          const rd = await StoreReader.open(file);
          for (const [r0, c0, nr, nc] of slices)
            rd.read("/x", [
              [r0, r0 + nr],
              [c0, c0 + nc],
            ]);
          rd.close();
        });
      }
    }
  }

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const rowsOut = Object.keys(ours).map((op) => {
    const o = median(ours[op]!);
    const h = median(ref[op] ?? [NaN]);
    const mb = op.startsWith("random") ? NaN : totalMiB;
    return { op, stagelab: o, h5py: h, ratio: h / o, mb };
  });
  console.log("\n| operation | stagelab | h5py | ratio (h5py time / stagelab time) |");
  console.log("| --- | --- | --- | --- |");
  const fmt = (s: number, mb: number) =>
    Number.isNaN(mb) ? `${(s * 1000).toFixed(0)} ms` : `${(mb / s).toFixed(0)} MiB/s`;
  for (const r of rowsOut)
    console.log(
      `| ${r.op} | ${fmt(r.stagelab, r.mb)} | ${fmt(r.h5py, r.mb)} | ${r.ratio.toFixed(2)}x |`,
    );
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
