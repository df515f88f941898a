/**
 * Super-resolution step 2 (bigFT into the cache file) against numpy on the same data, same
 * run; and the peak memory of steps 1-3 under a memory budget for a datacube four times the
 * budget.
 *
 *   node --import tsx tests/bench/superres.bench.ts            (npm run bench -- tests/bench/superres)
 *   node --import tsx tests/bench/superres.bench.ts --quick    (smaller memory case)
 *
 * stagelab runs in a child process, plain node on the compiled package (npm run build), as in
 * the kernel. Throughput: a synthetic 128 x 128 x 32 x 32 EMD file (float32). stagelab runs
 * SuperResSession.computeBigFT on a fresh cache (read the crop, FFT in worker threads, write
 * complex128 blocks with completion stamps); the reference is h5py + numpy: read the same crop,
 * np.fft.fft2(axes=(0, 1)), write it to a new HDF5 file with the same chunks. Both also
 * without files (the transform alone, on the crop in memory; stagelab single-threaded
 * here). Medians of REPS (STAGELAB_BENCH_REPS, default 5), the two alternating; the ratio is
 * numpy time / stagelab time (> 1: stagelab faster).
 *
 * Memory: a child process runs steps 1-3 with memoryBudgetBytes = 2 GiB on a .npy datacube
 * of 8 GiB (512 x 256 x 128 x 128 float32; --quick: 512 MiB budget, 2 GiB cube), and reports
 * its peak resident set (main thread, workers and HDF5 heaps: the whole process).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { syntheticStem4d } from "../../src/synth/stem.js";
import { writeEmdDatacubes } from "../../src/synth/emd.js";

const python = process.env.STAGELAB_SYSTEM_PYTHON ?? "/usr/bin/python3";
const reps = Number(process.env.STAGELAB_BENCH_REPS ?? 5);
const quick = process.argv.includes("--quick");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const GiB = 1024 ** 3;

const work = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-bench-superres-"));
process.on("exit", () => fs.rmSync(work, { recursive: true, force: true }));

// ---- throughput ------------------------------------------------------------------------------

const NUMPY = String.raw`
import sys, time, json, h5py, numpy as np
main, out, reps, y1, y2, x1, x2 = sys.argv[1], sys.argv[2], int(sys.argv[3]), *map(int, sys.argv[4:8])
chunks = tuple(json.loads(sys.argv[8]))
full, fft_only = [], []
for r in range(reps):
    t = time.perf_counter()
    with h5py.File(main, "r") as f:
        crop = f["version_1/data/datacubes/datacube_000/data"][:, :, y1:y2, x1:x2].astype(np.float64)
    ft = np.fft.fft2(crop, axes=(0, 1))
    with h5py.File(out, "w") as g:
        g.create_dataset("bigFT/data", data=ft, chunks=chunks)
    full.append(time.perf_counter() - t)
    t = time.perf_counter()
    np.fft.fft2(crop, axes=(0, 1))
    fft_only.append(time.perf_counter() - t)
print(json.dumps({"full": full, "fft": fft_only}))
`;

async function throughput(): Promise<void> {
  const stem = syntheticStem4d({
    scanShape: [128, 128],
    detectorShape: [32, 32],
    diskCenterPx: [15.6, 16.3],
    diskRadiusPx: 10,
  });
  const file = path.join(work, "scan.emd");
  await writeEmdDatacubes(file, [{ data: Float32Array.from(stem.data), shape: stem.shape }]);
  const ours = runChild("throughput", file, String(reps)) as {
    step2: number[];
    fft: number[];
    bounds: { y0: number; y1: number; x0: number; x1: number };
    blocks: number;
    mode: string;
    chunks: number[];
  };
  const { y0, y1, x0, x1 } = ours.bounds;
  const py = spawnSync(
    python,
    [
      "-c",
      NUMPY,
      file,
      path.join(work, "numpy.h5"),
      String(reps),
      ...[y0, y1, x0, x1].map(String),
      JSON.stringify(ours.chunks),
    ],
    { encoding: "utf8" },
  );
  if (py.status !== 0) throw new Error(py.stderr);
  const theirs = JSON.parse(py.stdout) as { full: number[]; fft: number[] };
  const info = `crop ${y1 - y0} x ${x1 - x0}, ${ours.blocks} blocks, mode ${ours.mode}, chunks ${JSON.stringify(ours.chunks)}`;
  const bytes = fs.statSync(path.join(work, "numpy.h5")).size;
  console.log(
    `\nbigFT of 128 x 128 x 32 x 32 (${info}); ${(bytes / 2 ** 20).toFixed(0)} MiB of complex128`,
  );
  console.log("| what | numpy (s) | stagelab (s) | numpy / stagelab |");
  console.log("|---|---|---|---|");
  for (const [what, a, b] of [
    ["step 2: read crop, fft2, write HDF5", theirs.full, ours.step2],
    ["fft2 over the scan axes only (stagelab: one thread)", theirs.fft, ours.fft],
  ] as const)
    console.log(
      `| ${what} | ${median(a).toFixed(3)} | ${median(b).toFixed(3)} | ${(median(a) / median(b)).toFixed(2)} |`,
    );
}

// ---- memory ------------------------------------------------------------------------------------

/** A .npy float32 datacube written scan row by scan row: a disk whose pixels see a shifted pattern. */
function writeLargeNpy(file: string, shape: [number, number, number, number]): void {
  const [sy, sx, dy, dx] = shape;
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(", ")}), }`;
  const pad = 64 - ((10 + dict.length + 1) % 64);
  const header = Buffer.alloc(10 + dict.length + pad + 1);
  header.write("\x93NUMPY", 0, "latin1");
  header[6] = 1;
  header.writeUInt16LE(dict.length + pad + 1, 8);
  header.write(dict + " ".repeat(pad) + "\n", 10, "latin1");
  const fd = fs.openSync(file, "w");
  try {
    fs.writeSync(fd, header);
    const [cy, cx, radius] = [dy / 2 - 0.3, dx / 2 + 0.4, dy / 10];
    const disk: [number, number, number][] = [];
    for (let y = 0; y < dy; y++)
      for (let x = 0; x < dx; x++)
        if (Math.hypot(y - cy, x - cx) <= radius) disk.push([y * dx + x, y - cy, x - cx]);
    const row = new Float32Array(sx * dy * dx);
    for (let y = 0; y < sy; y++) {
      row.fill(0.5);
      for (let x = 0; x < sx; x++)
        for (const [d, ky, kx] of disk) {
          const [py, px] = [y - 0.3 * ky, x - 0.3 * kx];
          row[x * dy * dx + d] =
            200 * (1 + 0.1 * Math.sin(0.9 * py + 0.4 * px) * Math.cos(0.3 * px));
        }
      fs.writeSync(fd, row);
    }
  } finally {
    fs.closeSync(fd);
  }
}

function memory(): void {
  const budget = quick ? 0.5 * GiB : 2 * GiB;
  const shape: [number, number, number, number] = quick
    ? [256, 128, 128, 128]
    : [512, 256, 128, 128];
  const file = path.join(work, "large.npy");
  const t = performance.now();
  writeLargeNpy(file, shape);
  const size = fs.statSync(file).size;
  console.log(
    `\nmemory: ${shape.join(" x ")} float32 .npy, ${(size / GiB).toFixed(2)} GiB (${(size / budget).toFixed(1)}x the budget), written in ${((performance.now() - t) / 1000).toFixed(0)} s`,
  );
  const r = runChild("memory", file, String(budget)) as {
    maxRssBytes: number;
    rss: Record<string, number>;
    mode: string;
    blocks: number;
    cacheBytes: number;
    times: Record<string, number>;
  };
  console.log(
    "| budget | peak RSS, whole process (after steps 1 / 2 / 3 / 4) | mode | blocks | cache file | steps 1 / 2 / 3 / 4 (s) |",
  );
  console.log("|---|---|---|---|---|---|");
  const gib = (v: number) => (v / GiB).toFixed(2);
  console.log(
    `| ${gib(budget)} GiB | ${gib(r.maxRssBytes)} GiB (${Object.values(r.rss).map(gib).join(" / ")}) | ${r.mode} | ${r.blocks} | ${gib(r.cacheBytes)} GiB | ${Object.values(
      r.times,
    )
      .map((v) => v.toFixed(1))
      .join(" / ")} |`,
  );
  console.log(r.maxRssBytes <= budget ? "peak within the budget" : "PEAK ABOVE THE BUDGET");
}

/** Run the stagelab side in plain node on the compiled package (tests/bench/superres_child.mjs). */
function runChild(...args: string[]): unknown {
  const child = spawnSync(
    process.execPath,
    [new URL("./superres_child.mjs", import.meta.url).pathname, ...args],
    {
      encoding: "utf8",
      maxBuffer: 1 << 24,
    },
  );
  if (child.status !== 0) throw new Error(child.stderr);
  return JSON.parse(child.stdout.trim().split("\n").at(-1)!);
}

await throughput();
memory();
