// FitDashboard's kernel side in-process (tests/kernel/fake-kernel.ts plays the frontend) on
// the /Fit groups of tests/ui/fixtures/cubefit.mjs: every metrics series it sends equals what
// the fixture wrote, the smoothed series equal the debiased EWMA computed here from its
// formula, the best marker is the argmin of val_rmse, the solution is x_latest / x_best
// reshaped (C, P) with per-component masses; several runs (files and groups) overlay; it
// follows a tracker writing in another process, pushing only new rows (none while paused, all
// of them on resume); missing files and groups give typed errors.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { StoreWriter, cubefit } from "@stagelab/core";
import { fakeKernel } from "./fake-kernel.js";
import { runPythonSuite } from "./python-suite.js";
import { ask, f64, near, nearAll, unpack } from "./cubefit-messages.js";
import { DISPLAY_SYMBOL } from "../../kernel/src/format.js";
import { fitDashboard, type FitDashboard } from "../../kernel/src/viewers/fitdash.js";
import { lineChart } from "../../kernel/src/viewers/chart-raster.js";
import { writeCubeFit, type CubeFitHandle } from "../ui/fixtures/cubefit.mjs";

const kernel = fakeKernel();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-fitdash-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const FIXTURE = fileURLToPath(new URL("../ui/fixtures/cubefit.mjs", import.meta.url));
const PLOTTED = cubefit.FIT_METRICS.filter((m) => m !== "epoch" && m !== "time_sec");

let caseNo = 0;
function cube(opts: Parameters<typeof writeCubeFit>[1] = {}): Promise<CubeFitHandle> {
  return writeCubeFit(dir, { name: `case${++caseNo}.h5`, ...opts });
}

type Obj = Record<string, unknown>;

/** The reference: Adam's bias-corrected EWMA, over finite values only, written out again. */
function reference(xs: number[], beta: number): number[] {
  let m = 0;
  let t = 0;
  return xs.map((x) => {
    if (!Number.isFinite(x)) return NaN;
    t += 1;
    m = beta * m + (1 - beta) * x;
    return m / (1 - Math.pow(beta, t));
  });
}

function argmin(xs: number[]): number {
  let best = -1;
  xs.forEach((x, i) => {
    if (Number.isFinite(x) && (best < 0 || x < xs[best]!)) best = i;
  });
  return best;
}

/** Check a reset "rows" entry of one run against the fixture's rows. */
function checkRun(entry: Obj, c: CubeFitHandle, group: string, beta: number): void {
  const fit = c.fit(group);
  assert.equal(entry.start, 0);
  assert.equal(entry.count, fit.rows);
  const cols = entry.columns as Obj;
  const smooth = entry.smooth as Obj;
  for (const m of cubefit.FIT_METRICS)
    nearAll(f64(cols[m]), fit.metrics[m]!, `${group} ${m}`, 0, 0);
  assert.deepEqual(Object.keys(smooth), PLOTTED);
  for (const m of PLOTTED)
    nearAll(
      f64(smooth[m]),
      reference(fit.metrics[m]!, beta),
      `${group} smoothed ${m}`,
      1e-12,
      1e-15,
    );
  const i = argmin(fit.metrics.val_rmse!);
  assert.deepEqual(entry.best, {
    row: i,
    epoch: fit.metrics.epoch![i],
    time_sec: fit.metrics.time_sec![i],
    val_rmse: fit.metrics.val_rmse![i],
  });
}

function checkSolution(
  s: Obj,
  c: CubeFitHandle,
  group: string,
  which: "x_latest" | "x_best",
): void {
  const { C, P } = c.dims;
  assert.deepEqual([s.which, s.C, s.P], [which, C, P]);
  const x = c.fit(group)[which];
  nearAll(f64(s.x), x, which, 0, 0);
  const masses = Array.from({ length: C }, (_, k) => {
    let sum = 0;
    for (let p = 0; p < P; p++) sum += x[k * P + p]!;
    return sum;
  });
  nearAll(f64(s.masses), masses, `${which} masses`);
}

describe("series, smoothing, best marker and solution against the fixture", () => {
  test("one run: every series, debiased EWMA, argmin val_rmse, x_latest / x_best", async () => {
    const c = await cube({ fitRows: 14 });
    const fd = await fitDashboard(c.file, { smoothing: 0.8 });
    try {
      assert.deepEqual(fd.get("metrics"), PLOTTED);
      assert.equal(fd.get("runs").length, 1);
      assert.equal(fd.get("runs")[0]!.rows, 14);
      assert.equal(fd.get("runs")[0]!.label, path.basename(c.file));
      assert.equal(fd.get("file_state"), "complete");
      assert.equal(fd.get("following"), false);
      let got = await ask(kernel, fd.modelId, { type: "series" });
      assert.deepEqual([got.type, got.reset], ["rows", true]);
      checkRun((got.runs as Obj[])[0]!, c, "/Fit", 0.8);
      // val_rmse has NaN rows (validation runs less often): they stay NaN, smoothed too.
      const val = f64(((got.runs as Obj[])[0]!.smooth as Obj).val_rmse);
      assert.ok(Number.isNaN(val[2]!) && Number.isFinite(val[3]!));
      assert.equal(fd.best[0]!.row, argmin(c.fit().metrics.val_rmse!));

      got = await ask(kernel, fd.modelId, { type: "solution" });
      checkSolution(got, c, "/Fit", "x_latest");
      // A new smoothing factor from the view: every row again, smoothed with it.
      let since = kernel.sent.length;
      await kernel.update(fd.modelId, { smoothing: 0.5 });
      let m = await kernel.next((m) => kernel.customOf(m)?.id === "smoothing", { since });
      checkRun((unpack(kernel, m).runs as Obj[])[0]!, c, "/Fit", 0.5);
      // beta = 0: the raw values.
      fd.setSmoothing(0);
      const raw = fd.series()[0]!;
      nearAll(raw.smooth.l1_norm!, c.fit().metrics.l1_norm!, "beta 0", 0, 0);
      assert.throws(() => fd.setSmoothing(1), RangeError);
      // x_best from the view's state.
      since = kernel.sent.length;
      await kernel.update(fd.modelId, { solution: "x_best" });
      m = await kernel.next((m) => kernel.customOf(m)?.type === "solution", { since });
      checkSolution(unpack(kernel, m), c, "/Fit", "x_best");
      const s = await fd.solution("x_best");
      near(
        s.masses[1]!,
        c
          .fit()
          .x_best.slice(4, 8)
          .reduce((a, b) => a + b, 0),
        "masses[1]",
      );
      // Bad values from a view are ignored.
      await kernel.update(fd.modelId, { smoothing: 7, solution: "x_worst" });
      assert.deepEqual([fd.get("smoothing"), fd.get("solution")], [0, "x_best"]);
    } finally {
      fd.close();
    }
  });

  test("several runs overlay: files and groups, labels from the group's attribute", async () => {
    const hostile = '<img src=x onerror="window.__pwned=1">';
    const a = await cube({
      fitRows: 5,
      fitGroups: ["/Fit", "/Fit_b"],
      fitLabels: [hostile, "lr=0.1"],
    });
    const b = await cube({ fitRows: 8, seed: 3 });
    const fd = await fitDashboard([a.file, b.file, { file: b.file, label: "again" }], {
      groups: ["/Fit", "/Fit_b"],
    }).catch((e: Error) => e);
    // b has no /Fit_b: a typed error naming it.
    assert.ok(fd instanceof Error);
    assert.equal(fd.name, "DatasetNotFoundError");
    assert.match(fd.message, /no fit group \/Fit_b/);
    const dash = await fitDashboard([
      { file: a.file },
      { file: a.file, group: "Fit_b" },
      b.file,
      { file: b.file, label: "b again" },
    ]);
    try {
      const runs = dash.get("runs");
      assert.deepEqual(
        runs.map((r) => [r.group, r.label, r.rows]),
        [
          ["/Fit", hostile, 5],
          ["/Fit_b", "lr=0.1", 5],
          ["/Fit", path.basename(b.file), 8],
          ["/Fit", "b again", 8],
        ],
      );
      const got = await ask(kernel, dash.modelId, { type: "series" });
      const entries = got.runs as Obj[];
      assert.deepEqual(
        entries.map((e) => e.run),
        [0, 1, 2, 3],
      );
      checkRun(entries[0]!, a, "/Fit", 0.9);
      checkRun(entries[1]!, a, "/Fit_b", 0.9);
      checkRun(entries[2]!, b, "/Fit", 0.9);
      // The solution of another run.
      dash.showSolution("x_latest", 2);
      const s = await dash.solution();
      nearAll(s.x, b.fit().x_latest, "run 2 x_latest", 0, 0);
      assert.throws(() => dash.showSolution("x_latest", 9), RangeError);
      // The static fallback: a PNG (8 metric charts in 4 rows + the solution row) and text.
      const bundle = dash[DISPLAY_SYMBOL]();
      const png = Buffer.from(String(bundle["image/png"]), "base64");
      assert.deepEqual(
        [png.readUInt32BE(16), png.readUInt32BE(20)],
        [2 * 320 + 8, 5 * 180 + 4 * 8],
      );
      assert.match(String(bundle["text/plain"]), /FitDashboard: 4 run\(s\)/);
    } finally {
      dash.close();
    }
  });
});

/** Lines a child process prints, as they come. */
function lines(child: ReturnType<typeof spawn>): {
  wait(re: RegExp, ms?: number): Promise<string>;
} {
  let buf = "";
  const seen: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  child.stdout!.on("data", (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      seen.push(line);
      for (const w of [...waiters])
        if (w.re.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
    }
  });
  return {
    wait(re, ms = 20_000) {
      const hit = seen.find((l) => re.test(l));
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no line ${re} within ${ms} ms`)), ms);
        waiters.push({
          re,
          resolve: (l) => {
            clearTimeout(t);
            resolve(l);
          },
        });
      });
    },
  };
}

test("follows a tracker writing in another process: only new rows, none while paused", async () => {
  const sub = path.join(dir, "live");
  fs.mkdirSync(sub);
  const child = spawn(process.execPath, [FIXTURE, sub, "live.h5", "24", "120", "2"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const out = lines(child);
  let fd: FitDashboard | undefined;
  try {
    const file = (await out.wait(/^ready /)).slice("ready ".length);
    fd = await fitDashboard(file, { pollMs: 50 });
    assert.equal(fd.get("following"), true);
    assert.equal(fd.get("file_state"), "writing");
    const first = await ask(kernel, fd.modelId, { type: "series" });
    let have = ((first.runs as Obj[])[0]!.count as number) ?? 0;
    const epochs: number[] = Array.from(f64(((first.runs as Obj[])[0]!.columns as Obj).epoch));
    const vals: number[] = Array.from(f64(((first.runs as Obj[])[0]!.columns as Obj).val_rmse));
    const take = (m: Parameters<typeof unpack>[1]) => {
      const e = (unpack(kernel, m).runs as Obj[])[0]!;
      assert.equal(e.start, have, "increments are contiguous");
      have += e.count as number;
      epochs.push(...f64((e.columns as Obj).epoch));
      vals.push(...f64((e.columns as Obj).val_rmse));
      return e;
    };
    const isLive = (m: Parameters<typeof unpack>[1]) =>
      kernel.customOf(m)?.id === "live" && kernel.customOf(m)?.type === "rows";
    // A few live increments.
    let since = kernel.sent.length;
    while (have < 8) {
      const m = await kernel.next(isLive, { since, timeoutMs: 10_000 });
      since = kernel.sent.indexOf(m) + 1;
      const e = take(m);
      assert.equal(e.best !== null, true);
    }
    // Paused: nothing is pushed while the tracker goes on.
    fd.pause();
    const pausedAt = kernel.sent.length;
    await out.wait(new RegExp(`^rows (${have + 4}|${have + 5}|${have + 6})$`));
    assert.equal(kernel.sent.slice(pausedAt).filter(isLive).length, 0);
    // Resumed: the rows committed meanwhile arrive in one increment.
    since = kernel.sent.length;
    fd.pause(false);
    const before = have;
    take(await kernel.next(isLive, { since, timeoutMs: 10_000 }));
    assert.ok(have >= before + 4, `resume sent ${have - before} rows`);
    since = kernel.sent.length;
    await out.wait(/^closed$/);
    while (have < 24) {
      const m = await kernel.next(isLive, { since, timeoutMs: 10_000 });
      since = kernel.sent.indexOf(m) + 1;
      take(m);
    }
    const deadline = Date.now() + 10_000;
    while (fd.get("following") && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    assert.equal(fd.get("following"), false);
    assert.equal(fd.get("file_state"), "complete");
    // What arrived piece by piece is the file's content, each row once.
    assert.deepEqual(
      epochs,
      Array.from({ length: 24 }, (_, i) => 0.5 * (i + 1)),
    );
    const full = fd.series()[0]!;
    nearAll(vals, full.columns.val_rmse!, "val_rmse pieced together", 0, 0);
    nearAll(full.smooth.val_rmse!, reference(Array.from(full.columns.val_rmse!), 0.9), "smoothed");
    assert.equal(fd.best[0]!.row, argmin(Array.from(full.columns.val_rmse!)));
    assert.equal(fd.get("runs")[0]!.rows, 24);
  } finally {
    fd?.close();
    if (child.exitCode === null) child.kill("SIGTERM");
  }
});

test("missing files and groups give typed errors; the kernel goes on", async () => {
  await assert.rejects(fitDashboard(path.join(dir, "nope.h5")), { name: "FileNotFoundError" });
  const c = await cube({ fitGroups: [] });
  await assert.rejects(fitDashboard(c.file), {
    name: "DatasetNotFoundError",
    message: /no fit group \/Fit/,
  });
  const bare = path.join(dir, "bare.h5");
  const w = await StoreWriter.create(bare);
  w.createDataset("/Fit/x_latest", { dtype: "float64", shape: [3] });
  w.close();
  await assert.rejects(fitDashboard(bare), {
    name: "DatasetNotFoundError",
    message: /no \/Fit\/metrics/,
  });
  await assert.rejects(fitDashboard([]), { name: "InvalidArgumentError" });
  const ok = await cube({ fitRows: 2 });
  await assert.rejects(fitDashboard(ok.file, { smoothing: 1 }), { name: "InvalidArgumentError" });
  const fd = await fitDashboard(ok.file);
  try {
    assert.equal(fd.get("runs")[0]!.rows, 2);
    // C and P from the root attribute dims.
    const s = await fd.solution();
    assert.deepEqual([s.C, s.P], [3, 4]);
  } finally {
    fd.close();
  }
});

test(
  "FitDashboard over the real kernel protocol (numpy and h5py references)",
  { timeout: 300_000 },
  (t) => runPythonSuite(t, "test_fitdash"),
);

test("a log y axis over a series with no positive value (mass errors without orbit weights) draws", () => {
  // The fallback domain [0, 1] made log10(0) = -Infinity and an endless tick loop (a dead kernel).
  const panel = lineChart({
    title: "mass_err_L1",
    width: 120,
    height: 80,
    yLog: true,
    series: [{ x: [0, 1, 2], y: [NaN, NaN, NaN], color: [0, 0, 0, 255] }],
  });
  assert.equal(panel.rgba.length, 120 * 80 * 4);
});
