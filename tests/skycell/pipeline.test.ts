// The PS1 sliding-window pipeline end to end on a synthetic dataset (src/synth/ps1.ts) whose
// overlapping cells differ: every listed cell's output against convolving the whole mosaic at
// once (an independent literal placement, pipeline-helpers.ts), worker counts, stop and
// resume, kill -9 and SIGTERM mid-row, failed and missing cells, bounded read-ahead, typed
// errors.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync, spawn } from "node:child_process";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import {
  runSkycellPipeline,
  SkycellConfigError,
  SkycellPipelineError,
  SkycellResumeError,
  type SkycellProgress,
  type SkycellRunOptions,
} from "../../src/skycell/index.js";
import { generatePs1Dataset, type Ps1Dataset } from "../../src/synth/ps1.js";
import {
  makeDataset,
  readCellOutput,
  snapshot,
  SMALL,
  wholeMosaicReference,
} from "./pipeline-helpers.js";

const CLI = fileURLToPath(new URL("../../src/skycell/cli.ts", import.meta.url));
const REFERENCE_PY = fileURLToPath(new URL("./helpers/reference_pipeline.py", import.meta.url));
const PYTHON = process.env["STAGELAB_SYSTEM_PYTHON"] || "/usr/bin/python3";
let noScipy: string | false = false;
try {
  execFileSync(PYTHON, ["-c", "import zarr, scipy.ndimage"], { stdio: "pipe" });
} catch (e) {
  noScipy = `${PYTHON} cannot import zarr/scipy (${(e as Error).message.split("\n")[0]})`;
}
let tmp = "";
let ds: Ps1Dataset;
let reference = "";

const run = (outputDir: string, extra: Partial<SkycellRunOptions> = {}) =>
  runSkycellPipeline({ dataRoot: ds.dataRoot, ...ds.tess, ...SMALL, outputDir, ...extra });

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-skycell-"));
  ds = await makeDataset(path.join(tmp, "data"));
  reference = path.join(tmp, "reference");
  const r = await run(reference, { workers: 2 });
  assert.equal(r.aborted, false);
  assert.deepEqual(r.failed, []);
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test("every listed cell equals the whole mosaic convolved at once (1e-5), across cell and row edges", async () => {
  assert.ok(ds.listed.length >= 16);
  for (const proj of ds.projections) {
    const p = proj.info.projection;
    const whole = wholeMosaicReference(ds, p, SMALL);
    const W = whole.shape[1];
    let scale = 0;
    for (const v of whole.data) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v));
    for (const cell of ds.listed.filter((c) => c.projection === p)) {
      const out = await readCellOutput(reference, cell.skycell, "image");
      const [h, w] = out.shape as [number, number];
      assert.deepEqual([h, w], proj.info.cellShape);
      const [y0, x0] = proj.cells[cell.index]!.originPx;
      let worst = 0;
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          const a = out.data[y * w + x]!;
          const b = whole.data[(y0 + y) * W + x0 + x]!;
          assert.equal(Number.isNaN(a), Number.isNaN(b), `${cell.skycell} NaN at ${y},${x}`);
          if (!Number.isNaN(a)) worst = Math.max(worst, Math.abs(a - b));
        }
      assert.ok(worst <= 1e-5 * scale, `${cell.skycell}: max |diff| ${worst} vs scale ${scale}`);
    }
  }
});

test(
  "every listed cell equals scipy's whole-mosaic gaussian_filter in an independent numpy pipeline (1e-5)",
  { skip: noScipy },
  async () => {
    const out = path.join(tmp, "scipy-whole");
    execFileSync(PYTHON, [
      REFERENCE_PY,
      ...["--store", ds.storeRoot, "--csv", ds.csvPath, "--out", out, "--mode", "whole"],
      ...["--sigma", String(SMALL.psfSigmaPx), "--pad", String(SMALL.padPx)],
      ...["--edge-exclusion", String(SMALL.edgeExclusionPx)],
    ]);
    for (const cell of ds.listed) {
      const ours = await readCellOutput(reference, cell.skycell, "image");
      const theirs = await readCellOutput(out, cell.skycell, "image");
      const oursW = await readCellOutput(reference, cell.skycell, "weight");
      const theirsW = await readCellOutput(out, cell.skycell, "weight");
      const oursM = await readCellOutput(reference, cell.skycell, "mask");
      const theirsM = await readCellOutput(out, cell.skycell, "mask");
      assert.deepEqual(Array.from(oursM.data), Array.from(theirsM.data), `${cell.skycell} mask`);
      let scale = 0;
      for (let i = 0; i < theirs.data.length; i++) {
        const b = theirs.data[i]!;
        if (Number.isFinite(b)) scale = Math.max(scale, Math.abs(b));
      }
      for (let i = 0; i < theirs.data.length; i++) {
        const a = ours.data[i]!;
        const b = theirs.data[i]!;
        assert.equal(Number.isNaN(a), Number.isNaN(b), `${cell.skycell} NaN at ${i}`);
        if (!Number.isNaN(a))
          assert.ok(Math.abs(a - b) <= 1e-5 * scale, `${cell.skycell}[${i}]: ${a} vs ${b}`);
        assert.ok(Math.abs(oursW.data[i]! - theirsW.data[i]!) <= 1e-6, `${cell.skycell} weight`);
      }
    }
  },
);

test("one worker writes the same bytes as two", async () => {
  const one = path.join(tmp, "one-worker");
  await run(one, { workers: 1, queueDepth: 3 });
  assert.deepEqual(snapshot(one), snapshot(reference));
});

test("reads run at most queueDepth pieces and readAheadBytes ahead; progress reports rows and queues", async () => {
  const seen: SkycellProgress[] = [];
  const out = path.join(tmp, "depth");
  await run(out, { workers: 2, queueDepth: 4, onProgress: (p) => seen.push(p) });
  assert.ok(seen.length > 0);
  for (const p of seen) assert.ok(p.queues.ahead <= 4, `ahead ${p.queues.ahead}`);
  const saved = seen.filter((p) => p.phase === "saved");
  assert.deepEqual(
    saved.map((p) => p.rowsDone),
    saved.map((_, i) => i + 1),
  );
  assert.equal(saved.at(-1)!.rowsDone, saved.at(-1)!.rowsTotal);
  // A budget of one cell's raw bands (4 bands x 6 bytes/px): the output does not change.
  const budget = 64 * 64 * 4 * 6;
  const tight: SkycellProgress[] = [];
  const small = path.join(tmp, "small-budget");
  await run(small, { readAheadBytes: budget, onProgress: (p) => tight.push(p) });
  for (const p of tight)
    assert.ok(p.queues.ahead <= 1 || p.queues.aheadBytes <= budget, JSON.stringify(p.queues));
  assert.deepEqual(snapshot(small), snapshot(reference));
});

test("stopped by its signal after two rows, then resumed: the rows done are skipped and the output is identical", async () => {
  const out = path.join(tmp, "stopped");
  const stop = new AbortController();
  const first = await run(out, {
    signal: stop.signal,
    onProgress: (p) => {
      if (p.phase === "saved" && p.rowsDone === 2) stop.abort();
    },
  });
  assert.equal(first.aborted, true);
  assert.ok(first.rowsDone >= 2 && first.rowsDone < first.rowsTotal);
  const second = await run(out);
  assert.equal(second.aborted, false);
  assert.equal(second.rowsSkipped, first.rowsDone);
  assert.equal(second.rowsDone, second.rowsTotal);
  assert.deepEqual(snapshot(out), snapshot(reference));
});

/** Run the command-line tool in a child; `act` sees each progress line and may signal it. */
function cli(
  act: (p: SkycellProgress, child: ReturnType<typeof spawn>) => void,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; lines: unknown[] }> {
  const args = ["--import", "tsx", CLI, "--data-root", ds.dataRoot, "--json"];
  for (const [k, v] of Object.entries({
    sector: ds.tess.sector,
    camera: ds.tess.camera,
    ccd: ds.tess.ccd,
    sigma: SMALL.psfSigmaPx,
    pad: SMALL.padPx,
    overlap: SMALL.overlapPx,
    "edge-exclusion": SMALL.edgeExclusionPx,
    workers: 2,
  }))
    args.push(`--${k}`, String(v));
  const child = spawn(process.execPath, args, {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: unknown[] = [];
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += String(d)));
  readline.createInterface({ input: child.stdout! }).on("line", (line) => {
    const msg = JSON.parse(line) as { progress?: SkycellProgress };
    lines.push(msg);
    if (msg.progress) act(msg.progress, child);
  });
  return new Promise((resolve) =>
    child.on("exit", (code, signal) => {
      if (code !== 0 && code !== 143 && signal === null) console.error(stderr);
      resolve({ code, signal, lines });
    }),
  );
}

test("kill -9 in the middle of a row, then resume: identical to an uninterrupted run", async () => {
  const out = path.join(ds.dataRoot, "convolved_results");
  const dir = path.join(out, "sector_0020", "camera_3", "ccd_3");
  const recorded = () =>
    (
      JSON.parse(fs.readFileSync(path.join(dir, "cell_metadata.json"), "utf8")) as {
        rows: unknown[];
      }
    ).rows.length;
  // The kill races the child's last rows: try again in the rare case the child won.
  for (let attempt = 0; ; attempt++) {
    fs.rmSync(out, { recursive: true, force: true });
    let killed = false;
    const r = await cli((p, child) => {
      if (!killed && p.phase === "convolve" && p.rowsDone >= 2) {
        killed = true;
        child.kill("SIGKILL");
      }
    });
    if (r.signal === "SIGKILL" && recorded() < 6) break;
    assert.ok(attempt < 3, "the child finished before every kill");
  }
  const rows = recorded();
  assert.ok(rows >= 2, `${rows} rows recorded`);
  // What a kill during the metadata's atomic replacement leaves: the resume removes it.
  fs.writeFileSync(path.join(dir, "cell_metadata.json.tmp-999999"), "");
  const resumed = await runSkycellPipeline({ dataRoot: ds.dataRoot, ...ds.tess, ...SMALL });
  assert.equal(resumed.rowsSkipped, rows);
  assert.deepEqual(snapshot(dir), snapshot(reference));
});

test("SIGTERM stops gracefully (exit 143, consistent files); the next run completes it identically", async () => {
  const out = path.join(ds.dataRoot, "convolved_results");
  fs.rmSync(out, { recursive: true, force: true });
  let sent = false;
  const r = await cli((p, child) => {
    if (!sent && p.phase === "saved" && p.rowsDone === 1) {
      sent = true;
      child.kill("SIGTERM");
    }
  });
  assert.equal(r.code, 143);
  const report = (r.lines.at(-1) as { report: { aborted: boolean; rowsDone: number } }).report;
  assert.equal(report.aborted, true);
  const dir = path.join(out, "sector_0020", "camera_3", "ccd_3");
  const meta = JSON.parse(fs.readFileSync(path.join(dir, "cell_metadata.json"), "utf8")) as {
    rows: { cells: string[] }[];
  };
  assert.equal(meta.rows.length, report.rowsDone);
  // Every recorded cell reads back whole.
  for (const row of meta.rows)
    for (const name of row.cells) {
      const img = await readCellOutput(dir, name, "image");
      assert.equal(img.data.length, 64 * 64);
    }
  await runSkycellPipeline({ dataRoot: ds.dataRoot, ...ds.tess, ...SMALL });
  assert.deepEqual(snapshot(dir), snapshot(reference));
});

test("a corrupt listed cell is reported and skipped, the rest are written; a missing neighbour only thins the padding", async () => {
  const data = path.join(tmp, "broken");
  const broken = await makeDataset(data, { omitCells: ["skycell.1847.003"] });
  // Row 1, col 1 (listed): garble the first chunk of its r-band image.
  const victim = broken.listed.find((c) => c.projection === 1847 && c.row === 1 && c.col === 1)!;
  const stored = broken.projections[0]!.cells[victim.index]!.storedName!;
  const chunk = path.join(broken.storeRoot, "1847", stored, "r", "image", "0.0");
  fs.writeFileSync(chunk, Buffer.from("not zlib at all"));
  const out = path.join(tmp, "broken-out");
  const r = await runSkycellPipeline({
    dataRoot: data,
    ...broken.tess,
    ...SMALL,
    outputDir: out,
  });
  const real = r.failed.filter((f) => !f.padding);
  assert.deepEqual(
    [...new Set(real.map((f) => f.name))],
    [victim.skycell],
    JSON.stringify(r.failed),
  );
  assert.equal(real[0]!.stage, "read");
  assert.match(real[0]!.message, /.+/);
  assert.equal(r.cellsWritten, broken.listed.length - 1);
  assert.equal(
    fs.existsSync(path.join(out, "convolved_images.zarr", "1847", victim.skycell)),
    false,
  );
  // skycell.1847.003 (row 0, col 3, not listed) is absent: not a failure of anyone.
  assert.ok(!r.failed.some((f) => f.name.endsWith("1847.003")));
  // The row with the failure is retried by the next run; the others are skipped.
  const again = await runSkycellPipeline({
    dataRoot: data,
    ...broken.tess,
    ...SMALL,
    outputDir: out,
  });
  assert.equal(again.rowsSkipped, again.rowsTotal - 1);
});

test("inputs replaced at the same path are refused on resume; moved inputs resume", async () => {
  const data = path.join(tmp, "replaced");
  const first = await makeDataset(data);
  const out = path.join(tmp, "replaced-out");
  await runSkycellPipeline({ dataRoot: data, ...first.tess, ...SMALL, outputDir: out });
  const moved = path.join(tmp, "moved");
  fs.renameSync(data, moved);
  const again = await runSkycellPipeline({
    dataRoot: moved,
    ...first.tess,
    ...SMALL,
    outputDir: out,
  });
  assert.equal(again.rowsSkipped, again.rowsTotal);
  await generatePs1Dataset(moved, { seed: 12, overwrite: true });
  await assert.rejects(
    runSkycellPipeline({ dataRoot: moved, ...first.tess, ...SMALL, outputDir: out }),
    (e: Error) => e instanceof SkycellResumeError && /from other inputs/.test(e.message),
  );
});

test("a save that fails stops the run with a typed error naming it; nothing is recorded for the unsaved rows; the next run completes it identically", async () => {
  const out = path.join(tmp, "blocked-out");
  fs.mkdirSync(path.join(out, "convolved_images.zarr"), { recursive: true });
  // A file where the first projection's group should go: every cell write fails.
  fs.writeFileSync(path.join(out, "convolved_images.zarr", "1847"), "in the way");
  await assert.rejects(run(out), (e: Error) => {
    assert.ok(e instanceof SkycellPipelineError, String(e));
    assert.match(e.message, /the saver failed \(writing skycell\.1847\.\d{3}\)/);
    return true;
  });
  const meta = JSON.parse(fs.readFileSync(path.join(out, "cell_metadata.json"), "utf8")) as {
    rows: { projection: number }[];
  };
  assert.equal(meta.rows.filter((r) => r.projection === 1847).length, 0);
  fs.rmSync(path.join(out, "convolved_images.zarr", "1847"));
  const again = await run(out);
  assert.equal(again.rowsDone, again.rowsTotal);
  assert.deepEqual(snapshot(out), snapshot(reference));
});

test("bad configuration and mismatched earlier output give typed errors naming the problem", async () => {
  await assert.rejects(run(path.join(tmp, "bad"), { padPx: 8 }), (e: Error) => {
    assert.ok(e instanceof SkycellConfigError);
    assert.match(e.message, /padPx.*kernel radius 12/);
    return true;
  });
  await assert.rejects(run(path.join(tmp, "bad"), { overlapPx: 20, padPx: 16 }), (e: Error) => {
    assert.ok(e instanceof SkycellConfigError);
    assert.match(e.message, /overlapping by 16 px/);
    return true;
  });
  await assert.rejects(run(reference, { psfSigmaPx: 2 }), (e: Error) => {
    assert.ok(e instanceof SkycellResumeError);
    assert.match(e.message, /with psfSigmaPx: 3 \(now 2\)/);
    return true;
  });
});

/** A named pipe in place of a listed cell's chunk: opening it for reading blocks (a hung read). */
async function withHungCell(
  name: string,
  fn: (data: string, broken: Ps1Dataset, victim: string) => Promise<void>,
): Promise<void> {
  const data = path.join(tmp, name);
  const broken = await makeDataset(data);
  const victim = broken.listed.find((c) => c.projection === 1848 && c.row === 1 && c.col === 2)!;
  const stored = broken.projections[1]!.cells[victim.index]!.storedName!;
  const chunk = path.join(broken.storeRoot, "1848", stored, "i", "image", "2.0");
  fs.rmSync(chunk);
  execFileSync("mkfifo", [chunk]);
  try {
    await fn(data, broken, victim.skycell);
  } finally {
    // Release the blocked open (a writer arriving, then leaving: the reader sees EOF).
    fs.closeSync(fs.openSync(chunk, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK));
  }
}

test("a hung read fails its cell after queueTimeoutMs (the thread is replaced); the rest go on", async () => {
  await withHungCell("hung", async (data, broken, victim) => {
    const r = await runSkycellPipeline({
      dataRoot: data,
      ...broken.tess,
      ...SMALL,
      queueTimeoutMs: 6000,
    });
    const real = r.failed.filter((f) => !f.padding);
    assert.deepEqual([...new Set(real.map((f) => f.name))], [victim], JSON.stringify(r.failed));
    assert.match(real[0]!.message, /longer than 6000 ms/);
    assert.equal(r.cellsWritten, broken.listed.length - 1);
    assert.equal(r.aborted, false);
  });
});

test("a row whose cells are not gathered within gatherTimeoutMs writes the others and reports the late one", async () => {
  await withHungCell("late", async (data, broken, victim) => {
    const r = await runSkycellPipeline({
      dataRoot: data,
      ...broken.tess,
      ...SMALL,
      gatherTimeoutMs: 6000,
    });
    const real = r.failed.filter((f) => !f.padding);
    assert.deepEqual([...new Set(real.map((f) => f.name))], [victim], JSON.stringify(r.failed));
    assert.equal(real[0]!.stage, "gather");
    assert.match(real[0]!.message, /not gathered within 6000 ms/);
    assert.equal(r.cellsWritten, broken.listed.length - 1);
  });
});
