/**
 * The PS1 sliding-window pipeline end to end (issue 9): runSkycellPipeline against the
 * numpy/scipy reference pipeline (tests/skycell/helpers/reference_pipeline.py, `--mode rows`)
 * on the same data, same run, with 1 and 2 workers; and its peak memory as the number of rows
 * grows.
 *
 *   node --import tsx tests/bench/skycell-pipeline.bench.ts            (npm run bench -- tests/bench/skycell-pipeline)
 *   node --import tsx tests/bench/skycell-pipeline.bench.ts --quick    (smaller datasets, sigma 6 only)
 *
 * Data: src/synth/ps1.ts at the seed's proportions scaled down 10x: cells 600 x 600 px (6000),
 * overlap 48 (480), edge exclusion 1 (10), padding 48 (480), sigma 6 (60; kernel radius
 * trunc(4 sigma + 0.5) = 24, the padding is twice it as in the seed). Bands r, i, z, y (the
 * TESS weights; g has weight 0 and is read by neither side), Zarr chunks 128 x 600, zlib;
 * neighbouring cells differ by a sky offset. Throughput: 2 projections of 4 x 6 cells, 36
 * listed (--quick: 3 x 4, 20 listed). A second case, sigma 12 (radius 48 = the padding: the
 * largest sigma this padding holds), weighs the convolution more.
 *
 * Throughput: REPS rounds (STAGELAB_BENCH_REPS, default 3), each running stagelab with 1 and
 * 2 workers (worker threads, each reading and combining pieces, convolving strips and
 * compressing output chunks; plus the saver thread and the main thread as assembler) and the
 * reference with `--processes 1` (everything in one process, in sequence) and `--processes 2`
 * (a pool of 2 reading and combining, a saver thread), in an order rotated every round, each
 * into a fresh output directory. MP/s = listed-cell megapixels / the run's own seconds
 * (stagelab: runSkycellPipeline's report, from its start, thread start-up included;
 * reference: its "seconds", pool start-up included; neither counts process start nor
 * imports). Medians. CPU = user + system seconds of the run (stagelab: the whole process;
 * reference: the process and its pool), so CPU / wall is the number of cores the run kept
 * busy. On a 2-core machine that bounds the 1 -> 2 worker scaling: a 1-worker run that keeps
 * c cores busy (stagelab's assembler, saver and file-system work run beside its worker) can
 * gain at most 2 / c. Parallel efficiency = the 1-worker run's CPU seconds (its work on one
 * core) / (2 x the 2-worker run's seconds): 100% is linear scaling from a one-core run.
 * stagelab's CPU is split by thread (main, workers, saver; "other": libuv's file-system pool
 * and V8's helper threads: compilation, GC). After
 * the first round a few cells of every output are compared with the reference's
 * (`--processes 1`): image within 1e-5 of the cell's largest |value|, same NaNs, weight within
 * 1e-6, mask equal; a mismatch fails the benchmark.
 *
 * Memory: one projection 4 cells wide, every cell listed; stagelab (workers 2) on the first
 * R, 2R and 4R rows (R = 16; --quick: 2), each in a fresh process: peak resident set of the
 * whole process. The MasterArrayConfig is the same for all three; reads run at most
 * queueDepth (64) pieces ahead, ~8 rows here, so with R = 16 even the smallest run has its
 * read-ahead full.
 *
 * Machine load: the 1-minute loadavg before and after each round, and the CPU time the
 * hypervisor stole from this machine (/proc/stat) during each case.
 *
 * stagelab runs in child processes, plain node on the compiled package
 * (tests/bench/skycell_pipeline_child.mjs; brought up to date first with `tsc -b src`,
 * incremental), as the kernel runs it: tsx would inflate the worker threads' memory and time.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { projectionDirName, readZarr, writeCellList } from "../../src/skycell/index.js";
import { generatePs1Dataset, type Ps1Dataset } from "../../src/synth/ps1.js";

const python = process.env.STAGELAB_SYSTEM_PYTHON ?? "/usr/bin/python3";
const reps = Number(process.env.STAGELAB_BENCH_REPS ?? 3);
const quick = process.argv.includes("--quick");
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CHILD = fileURLToPath(new URL("./skycell_pipeline_child.mjs", import.meta.url));
const REFERENCE = fileURLToPath(
  new URL("../skycell/helpers/reference_pipeline.py", import.meta.url),
);
const CELL = 600;
const GEOMETRY = { overlapPx: 48, edgeExclusionPx: 1, padPx: 48 };
const SIGMAS = quick ? [6] : [6, 12];
const BANDS = ["r", "i", "z", "y"] as const;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const MiB = 2 ** 20;

const work = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-bench-skycell-pipeline-"));
process.on("exit", () => fs.rmSync(work, { recursive: true, force: true }));
const loadavg = () => os.loadavg()[0]!.toFixed(2);
/** [steal, total] jiffies of all CPUs so far (/proc/stat). */
function cpuJiffies(): [number, number] {
  const f = fs
    .readFileSync("/proc/stat", "utf8")
    .split("\n")[0]!
    .split(/\s+/)
    .slice(1, 9)
    .map(Number);
  return [f[7]!, f.reduce((a, b) => a + b, 0)];
}
const stolen = (from: [number, number]) => {
  const [s, t] = cpuJiffies();
  return `${((100 * (s - from[0])) / Math.max(1, t - from[1])).toFixed(1)}% stolen`;
};

// ---- the compiled package ------------------------------------------------------------------------

/** `tsc -b src`: the compiled package the child runs (incremental: ~0.3 s when up to date). */
function ensureBuilt(): void {
  const r = spawnSync(process.execPath, ["node_modules/typescript/bin/tsc", "-b", "src"], {
    cwd: ROOT,
    stdio: "inherit",
  });
  if (r.status !== 0) throw new Error("node node_modules/typescript/bin/tsc -b src failed");
}

// ---- the two pipelines ---------------------------------------------------------------------------

interface StagelabRun {
  seconds: number;
  megapixels: number;
  cellsWritten: number;
  failed: number;
  rowsDone: number;
  maxRssBytes: number;
  rssBeforeBytes: number;
  cpu: Record<string, number> & { total: number };
  phases: Record<"start" | "gather" | "convolve" | "drain", number>;
  master: { width: number; height: number; maxCellsPerRow: number };
  rows: number;
  pieces: number;
  queueDepth: number;
}

interface ReferenceRun {
  seconds: number;
  megapixels: number;
  cells: number;
  phases: Record<string, number>;
  absent_cells: string[];
  cpu: number;
  maxRssBytes: number;
}

function runStagelab(
  ds: Ps1Dataset,
  out: string,
  workers: number,
  sigma: number,
  cellList?: string,
): StagelabRun {
  const opts = {
    dataRoot: ds.dataRoot,
    ...ds.tess,
    ...GEOMETRY,
    psfSigmaPx: sigma,
    workers,
    outputDir: out,
    fresh: true,
    ...(cellList ? { cellList } : {}),
  };
  const child = spawnSync(process.execPath, [CHILD, JSON.stringify(opts)], {
    cwd: ROOT,
    encoding: "utf8",
    maxBuffer: 1 << 24,
  });
  if (child.status !== 0) throw new Error(`stagelab child failed:\n${child.stderr}`);
  const r = JSON.parse(child.stdout.trim().split("\n").at(-1)!) as StagelabRun;
  if (r.failed > 0) throw new Error(`stagelab: ${r.failed} cells failed`);
  return r;
}

// Runs the reference as its own __main__ and adds the CPU seconds of its run (its process and
// the pool's, which Pool.join reaps) and the main process's peak RSS. The modules the
// reference imports are imported first, so neither its clock nor the CPU count includes them.
const REFERENCE_WRAPPER = String.raw`
import json, resource, runpy, sys
import numcodecs, numpy, scipy.ndimage, zarr  # noqa: F401 (imported outside the count)
def cpu():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime
script = sys.argv[1]
sys.argv = sys.argv[1:]
c0 = cpu()
runpy.run_path(script, run_name="__main__")
print(json.dumps({"cpu": cpu() - c0, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
`;

function runReference(ds: Ps1Dataset, out: string, processes: number, sigma: number): ReferenceRun {
  const args = [
    ...["--store", ds.storeRoot, "--csv", ds.csvPath, "--out", out, "--mode", "rows"],
    ...["--processes", String(processes), "--sigma", String(sigma)],
    ...["--pad", String(GEOMETRY.padPx), "--edge-exclusion", String(GEOMETRY.edgeExclusionPx)],
  ];
  const py = spawnSync(python, ["-c", REFERENCE_WRAPPER, REFERENCE, ...args], {
    encoding: "utf8",
    maxBuffer: 1 << 24,
  });
  if (py.status !== 0) throw new Error(`reference_pipeline.py failed:\n${py.stderr}`);
  const [line, extra] = py.stdout.trim().split("\n").slice(-2);
  const r = JSON.parse(line!) as Omit<ReferenceRun, "cpu" | "maxRssBytes">;
  const x = JSON.parse(extra!) as { cpu: number; maxrss_kb: number };
  if (r.absent_cells.length > 0) throw new Error(`reference: absent cells ${r.absent_cells}`);
  return { ...r, cpu: x.cpu, maxRssBytes: x.maxrss_kb * 1024 };
}

// ---- same work: a spot check of the outputs --------------------------------------------------

/** First, middle and last listed cell of each projection. */
function spotCells(ds: Ps1Dataset) {
  return ds.projections.flatMap(({ info }) => {
    const listed = ds.listed.filter((c) => c.projection === info.projection);
    return [...new Set([0, listed.length >> 1, listed.length - 1])].map((i) => listed[i]!);
  });
}

/** Compare `dir`'s outputs of the spot cells with the reference's; returns the worst diffs. */
async function compareOutputs(ds: Ps1Dataset, dir: string, reference: string) {
  const read = async (root: string, c: Ps1Dataset["listed"][number], what: string) =>
    (
      await readZarr(
        path.join(root, "convolved_images.zarr"),
        `${projectionDirName(c.projection)}/${c.skycell}/${what}`,
      )
    ).data;
  let image = 0;
  let weight = 0;
  const problems: string[] = [];
  for (const c of spotCells(ds)) {
    const [a, b] = [await read(dir, c, "image"), await read(reference, c, "image")];
    const [aw, bw] = [await read(dir, c, "weight"), await read(reference, c, "weight")];
    const [am, bm] = [await read(dir, c, "mask"), await read(reference, c, "mask")];
    if (a.length !== b.length || am.length !== bm.length) {
      problems.push(`${c.skycell}: shapes differ`);
      continue;
    }
    let scale = 0;
    for (const v of b) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v));
    let nans = 0;
    let masks = 0;
    for (let i = 0; i < a.length; i++) {
      if (Number.isNaN(a[i]!) !== Number.isNaN(b[i]!)) nans++;
      else if (!Number.isNaN(a[i]!)) image = Math.max(image, Math.abs(a[i]! - b[i]!) / scale);
      weight = Math.max(weight, Math.abs(aw[i]! - bw[i]!));
      if (am[i] !== bm[i]) masks++;
    }
    if (nans) problems.push(`${c.skycell}: ${nans} NaNs differ`);
    if (masks) problems.push(`${c.skycell}: ${masks} mask values differ`);
  }
  if (image > 1e-5) problems.push(`image differs by ${image.toExponential(2)} of the cell's scale`);
  if (weight > 1e-6) problems.push(`weight differs by ${weight.toExponential(2)}`);
  return { image, weight, problems };
}

// ---- throughput ------------------------------------------------------------------------------

type Side = "s1" | "s2" | "r1" | "r2";
const SIDES: Side[] = ["s1", "s2", "r1", "r2"];
let mismatches = 0;

async function throughput(ds: Ps1Dataset, sigma: number): Promise<void> {
  const runs: Record<Side, (StagelabRun | ReferenceRun)[]> = { s1: [], s2: [], r1: [], r2: [] };
  const loads: string[] = [loadavg()];
  const jiffies = cpuJiffies();
  const sameWork: string[] = [];
  for (let rep = 0; rep < reps; rep++) {
    const order = SIDES.map((_, i) => SIDES[(i + rep) % SIDES.length]!);
    for (const side of order) {
      const out = path.join(work, `out-${side}`);
      fs.rmSync(out, { recursive: true, force: true });
      const workers = side.endsWith("1") ? 1 : 2;
      runs[side].push(
        side.startsWith("s")
          ? runStagelab(ds, out, workers, sigma)
          : runReference(ds, out, workers, sigma),
      );
    }
    if (rep === 0) {
      const reference = path.join(work, "out-r1");
      const checks: { side: Side; image: number; weight: number; problems: string[] }[] = [];
      for (const side of ["s1", "s2", "r2"] as const)
        checks.push({
          side,
          ...(await compareOutputs(ds, path.join(work, `out-${side}`), reference)),
        });
      const worst = (k: "image" | "weight") => Math.max(...checks.map((c) => c[k]));
      const problems = checks.flatMap((c) => c.problems.map((p) => `${c.side}: ${p}`));
      sameWork.push(
        `same work: ${spotCells(ds).length} cells of stagelab (1 and 2 workers) and of the reference (2 processes) against the reference (1 process): image within ${worst("image").toExponential(1)} of each cell's largest |value|, weight within ${worst("weight").toExponential(1)}, masks and NaNs ${problems.length ? "DIFFER" : "equal"}`,
      );
      if (problems.length) {
        mismatches++;
        for (const p of problems) sameWork.push(`  MISMATCH ${p}`);
      }
    }
    loads.push(loadavg());
  }

  const s = (side: Side) => runs[side] as StagelabRun[];
  const r = (side: Side) => runs[side] as ReferenceRun[];
  const mps = (side: Side) => median(runs[side].map((x) => x.megapixels / x.seconds));
  const secs = (side: Side) => median(runs[side].map((x) => x.seconds));
  const cpuOf = (side: Side) =>
    median(side.startsWith("s") ? s(side).map((x) => x.cpu.total) : r(side).map((x) => x.cpu));
  const rss = (side: Side) => median(runs[side].map((x) => x.maxRssBytes)) / MiB;
  const first = s("s1")[0]!;
  const mp = first.megapixels;
  const radius = Math.trunc(4 * sigma + 0.5);
  console.log(
    `\nsigma ${sigma} (radius ${radius}, pad ${GEOMETRY.padPx}): ${ds.listed.length} listed cells of ${CELL} x ${CELL}, ${mp.toFixed(2)} MP, ${first.rows} rows; master array ${first.master.width} x ${first.master.height}; medians of ${reps}; loadavg ${loads.join(" -> ")}, ${stolen(jiffies)}`,
  );
  for (const line of sameWork) console.log(line);
  console.log(
    "| workers | stagelab MP/s (s) | numpy MP/s (s) | stagelab / numpy | stagelab CPU s (cores) | numpy CPU s (cores) | peak RSS stagelab / numpy main |",
  );
  console.log("|---|---|---|---|---|---|---|");
  for (const w of [1, 2]) {
    const [a, b] = [`s${w}` as Side, `r${w}` as Side];
    console.log(
      `| ${w} | ${mps(a).toFixed(2)} (${secs(a).toFixed(2)}) | ${mps(b).toFixed(2)} (${secs(b).toFixed(2)}) | ${(mps(a) / mps(b)).toFixed(2)} | ${cpuOf(a).toFixed(1)} (${(cpuOf(a) / secs(a)).toFixed(2)}) | ${cpuOf(b).toFixed(1)} (${(cpuOf(b) / secs(b)).toFixed(2)}) | ${rss(a).toFixed(0)} / ${rss(b).toFixed(0)} MiB |`,
    );
  }
  // Scaling, and what bounds it on this machine: the cores the 1-worker run keeps busy already
  // (2 / that is the most a second worker can give), and the CPU time the second one adds.
  const scaling = (one: Side, two: Side) => {
    const busy = (x: Side) => cpuOf(x) / secs(x);
    // Parallel efficiency: the 1-worker run's CPU time (its work done on one core) over the
    // core-seconds of the 2-worker run; 100% is linear scaling from a one-core run.
    const efficiency = cpuOf(one) / (2 * secs(two));
    return `${(mps(two) / mps(one)).toFixed(2)}x (cores busy ${busy(one).toFixed(2)} -> ${busy(two).toFixed(2)}, bound ${(2 / busy(one)).toFixed(2)}x; CPU time ${((100 * cpuOf(two)) / cpuOf(one) - 100).toFixed(0)}%; parallel efficiency ${(100 * efficiency).toFixed(0)}%)`;
  };
  console.log(
    `scaling 1 -> 2 workers: stagelab ${scaling("s1", "s2")}, numpy ${scaling("r1", "r2")}`,
  );

  console.log("\nwhere the time goes (medians; CPU s by thread, main thread's wall s by phase):");
  console.log(
    "| run | CPU main | workers | saver | other | main: start | gather | convolve + wait saves | drain |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|");
  for (const side of ["s1", "s2"] as const) {
    const m = (f: (x: StagelabRun) => number) => {
      const v = median(s(side).map(f));
      return Number.isFinite(v) ? v.toFixed(2) : "n/a";
    };
    console.log(
      `| stagelab, ${side[1]} worker(s) | ${m((x) => x.cpu.main!)} | ${m((x) => x.cpu.worker!)} | ${m((x) => x.cpu.saver!)} | ${m((x) => x.cpu.other!)} | ${m((x) => x.phases.start)} | ${m((x) => x.phases.gather)} | ${m((x) => x.phases.convolve)} | ${m((x) => x.phases.drain)} |`,
    );
  }
  const keys = ["read", "combine", "assemble", "convolve", "write", "wait"];
  console.log(`| reference | ${keys.join(" | ")} |`);
  console.log(`|---|${keys.map(() => "---|").join("")}`);
  for (const side of ["r1", "r2"] as const)
    console.log(
      `| numpy, ${side[1]} process(es) | ${keys.map((k) => median(r(side).map((x) => x.phases[k]!)).toFixed(2)).join(" | ")} |`,
    );
  console.log(
    "(reference phases, s: read and combine summed over the cells in whichever process ran them; assemble and convolve in the main process; write in the saver (the main process with 1 process); wait: the main process blocked on the pool or the saver)",
  );
}

// ---- memory ------------------------------------------------------------------------------------

async function memory(): Promise<void> {
  const rowsBase = quick ? 2 : 16;
  const counts = [rowsBase, 2 * rowsBase, 4 * rowsBase];
  const grid: [number, number] = [4 * rowsBase + 1, 4];
  const dataRoot = path.join(work, "memory");
  const loads: string[] = [];
  const t = performance.now();
  const ds = await generatePs1Dataset(dataRoot, {
    projections: [1847],
    grid,
    cellShape: [CELL, CELL],
    overlapPx: GEOMETRY.overlapPx,
    bands: BANDS,
    cellSkyOffsetFrac: 0.05,
    listCell: () => true,
  });
  console.log(
    `\nmemory: one projection ${grid[0]} x ${grid[1]} cells of ${CELL} x ${CELL} (generated in ${((performance.now() - t) / 1000).toFixed(0)} s), stagelab workers 2, sigma 6`,
  );
  console.log(
    "| rows | listed cells | MP | seconds | MP/s | pieces read | peak RSS (whole process) | RSS before the run |",
  );
  console.log("|---|---|---|---|---|---|---|---|");
  let master: StagelabRun["master"] | undefined;
  let queueDepth = 0;
  const peaks: number[] = [];
  let piecesPerRow = 0;
  for (const rows of counts) {
    const csv = path.join(dataRoot, `cells_${rows}_rows.csv`);
    await writeCellList(
      csv,
      ds.listed.filter((c) => c.row < rows),
    );
    const out = path.join(work, "out-memory");
    fs.rmSync(out, { recursive: true, force: true });
    const [load, jiffies] = [loadavg(), cpuJiffies()];
    const r = runStagelab(ds, out, 2, 6, csv);
    loads.push(`${rows} rows: loadavg ${load}, ${stolen(jiffies)}`);
    master = r.master;
    queueDepth = r.queueDepth;
    peaks.push(r.maxRssBytes);
    piecesPerRow = r.pieces / r.rows;
    console.log(
      `| ${rows} | ${r.cellsWritten} | ${r.megapixels.toFixed(1)} | ${r.seconds.toFixed(2)} | ${(r.megapixels / r.seconds).toFixed(2)} | ${r.pieces} | ${(r.maxRssBytes / MiB).toFixed(0)} MiB | ${(r.rssBeforeBytes / MiB).toFixed(0)} MiB |`,
    );
  }
  console.log(`machine: ${loads.join("; ")}`);
  const m = master!;
  const px = m.width * m.height;
  console.log(
    `MasterArrayConfig ${m.width} x ${m.height} (${m.maxCellsPerRow} cells + 2 x ${GEOMETRY.padPx} pad): 2 master arrays (float32 + uint16) and 4 float32 convolution buffers = ${((px * 28) / MiB).toFixed(0)} MiB; reads run up to queueDepth ${queueDepth} pieces ahead`,
  );
  console.log(
    `peak RSS ratios: ${counts[1]} / ${counts[0]} rows ${(peaks[1]! / peaks[0]!).toFixed(2)}, ${counts[2]} / ${counts[1]} rows ${(peaks[2]! / peaks[1]!).toFixed(2)} (flat: ~1; the first step can include the read-ahead filling up: ${queueDepth} pieces is ~${Math.round(queueDepth / (piecesPerRow || 1))} rows here)`,
  );
}

// ---- main ----------------------------------------------------------------------------------------

ensureBuilt();
const grid: [number, number] = quick ? [3, 4] : [4, 6];
const t = performance.now();
const ds = await generatePs1Dataset(path.join(work, "throughput"), {
  projections: [1847, 1848],
  grid,
  cellShape: [CELL, CELL],
  overlapPx: GEOMETRY.overlapPx,
  bands: BANDS,
  cellSkyOffsetFrac: 0.05,
});
console.log(
  `\nPS1 pipeline, seed proportions / 10: 2 projections of ${grid.join(" x ")} cells of ${CELL} x ${CELL}, overlap ${GEOMETRY.overlapPx}, edge exclusion ${GEOMETRY.edgeExclusionPx}, pad ${GEOMETRY.padPx}; ${ds.listed.length} listed cells (generated in ${((performance.now() - t) / 1000).toFixed(0)} s); ${os.availableParallelism()} cores`,
);
for (const sigma of SIGMAS) await throughput(ds, sigma);
fs.rmSync(ds.dataRoot, { recursive: true, force: true });
await memory();
if (mismatches > 0) {
  console.error("stagelab's output differs from the reference's");
  process.exit(1);
}
