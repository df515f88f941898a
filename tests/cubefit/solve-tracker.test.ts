// The fit tracker (src/cubefit/solve/tracker.ts): its writer thread writes the seed's /Fit
// layout while Kaczmarz runs; h5py follows the file in SWMR mode during the run; x_best is
// the best by validation RMSE; the ring wraps; a second open continues the same /Fit.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { StoreReader, StoreLockedError, StoreWriter } from "../../src/store/index.js";
import { CUBEFIT, FIT_METRICS } from "../../src/cubefit/layout.js";
import {
  FitLayoutMismatchError,
  FitTracker,
  readFitStart,
  solveAll,
  solveKaczmarz,
} from "../../src/cubefit/solve/index.js";
import { synthProblem } from "./fixtures/solve/synth.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const PYTHON = process.env.STAGELAB_SYSTEM_PYTHON ?? "/usr/bin/python3";
const hasH5py = spawnSync(PYTHON, ["-c", "import h5py, numpy"]).status === 0;

const FAST = {
  metricsIntervalSec: 0,
  valIntervalSec: 0.05,
  ckptIntervalSec: 0.1,
  Ns: 4,
  Kval: 8,
  ringSize: 4,
};

function tempDir(): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cubefit-tracker-"));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

function readAll(file: string) {
  return StoreReader.open(file).then((r) => {
    try {
      const series = Object.fromEntries(
        FIT_METRICS.map((m) => [
          m,
          r.read<"float64">(`${CUBEFIT.metrics}/${m}`).data as Float64Array,
        ]),
      );
      const ring = r.read<"float64">(CUBEFIT.xRing);
      return {
        series,
        ring,
        vis: r.read<"float32">(CUBEFIT.xVisRing),
        latest: r.read<"float64">(CUBEFIT.xLatest).data as Float64Array,
        best: r.read<"float64">(CUBEFIT.xBest).data as Float64Array,
        global: r.read<"float64">(CUBEFIT.xGlobal).data as Float64Array,
        spaxels: r.read<"int32">(CUBEFIT.sampleSpaxels).data as Int32Array,
        valPixels: r.read<"int32">(CUBEFIT.sampleValPixels).data as Int32Array,
        state: r.state,
      };
    } finally {
      r.close();
    }
  });
}

const nanMin = (a: Float64Array) => a.reduce((m, v) => (v < m ? v : m), Infinity);

test(
  "tracker writes /Fit while Kaczmarz runs; h5py follows it (SWMR); best, ring, resume",
  { timeout: 90_000 },
  async (t) => {
    const { dir, cleanup } = tempDir();
    try {
      const file = path.join(dir, "cube.h5");
      const stop = path.join(dir, "stop");
      const pr = synthProblem({ S: 12, C: 3, P: 4, L: 80, noise: 0.01 });
      const n = pr.design.nCols;

      let follower: Promise<{ code: number | null; out: string; err: string }> | undefined;
      if (hasH5py) {
        const child = spawn(PYTHON, [
          path.join(here, "fixtures/solve/h5py_follow_fit.py"),
          file,
          stop,
          String(n),
        ]);
        let out = "";
        let err = "";
        child.stdout.on("data", (d: Buffer) => (out += d.toString()));
        child.stderr.on("data", (d: Buffer) => (err += d.toString()));
        follower = new Promise((resolve) =>
          child.on("exit", (code) => resolve({ code, out, err })),
        );
      } else t.diagnostic(`h5py is not available to ${PYTHON}: SWMR follow part skipped`);

      const tracker = await FitTracker.open(file, pr.design, FAST);
      assert.equal(tracker.resumed, false);
      assert.equal(tracker.sample.spaxels.length, 4);
      assert.equal(tracker.sample.valPixels.length, 8);
      tracker.setOrbitWeights(pr.componentMass);
      const hooks = tracker.hooks();
      const kz = await solveKaczmarz(pr.design, {
        epochs: 6,
        pixelsPerAperture: 40,
        onBatch: async (rmse, info) => {
          await hooks.onBatch(rmse, info);
          // Slow the fit down so the follower sees it grow (a real fit takes hours).
          await new Promise((r) => setTimeout(r, 25));
        },
        onEpochEnd: hooks.onEpochEnd,
      });
      await tracker.close({ x: kz.x, epoch: kz.epochs });
      fs.writeFileSync(stop, "");

      const f = await readAll(file);
      const rows = tracker.records;
      assert.equal(rows, 6 * 12 + 6 + 1); // every batch, every epoch end, the final record
      for (const m of FIT_METRICS) assert.equal(f.series[m]!.length, rows, m);
      assert.equal(f.state, "complete");
      // Ring of 4 slots, wrapped many times; slot (rows-1) % 4 is the final x = x_latest = X_global.
      assert.deepEqual(f.ring.shape, [4, n]);
      const last = (rows - 1) % 4;
      assert.deepEqual(f.ring.data.slice(last * n, (last + 1) * n), kz.x);
      assert.deepEqual(f.latest, kz.x);
      assert.deepEqual(f.global, kz.x);
      for (let j = 0; j < 4 * n; j++) assert.equal(f.vis.data[j], Math.fround(f.ring.data[j]!));
      // Every slot holds the x of its row: row rows-1-k sits in slot (rows-1-k) % 4, and its
      // l2 norm is in the metrics.
      for (let k = 0; k < 4; k++) {
        const row = rows - 1 - k;
        const slot = f.ring.data.slice((row % 4) * n, ((row % 4) + 1) * n);
        const l2 = Math.hypot(...slot);
        assert.ok(Math.abs(l2 - f.series.l2_norm![row]!) <= 1e-12 * l2);
      }
      // x_best is the best by validation RMSE.
      const val = f.series.val_rmse!;
      const finite = [...val].filter((v) => Number.isFinite(v));
      assert.ok(finite.length >= 3 && finite.length < rows, `${finite.length} validations`);
      assert.ok(Math.abs(tracker.valRmse(f.best) - nanMin(val)) <= 1e-12 * nanMin(val));
      assert.equal(tracker.bestValRmse, nanMin(val));
      // Metrics are what they say.
      const lastRow = (m: string) => f.series[m]![rows - 1]!;
      assert.equal(lastRow("nnz"), kz.x.filter((v) => v > 0).length);
      assert.ok(
        Math.abs(lastRow("l1_norm") - kz.x.reduce((a, b) => a + b, 0)) < 1e-12 * lastRow("l1_norm"),
      );
      assert.equal(lastRow("epoch"), 6);
      const [mL1, mLinf] = tracker.massErrors(kz.x);
      const s = [0, 0, 0].map((_, c) => kz.x.slice(c * 4, c * 4 + 4).reduce((a, b) => a + b, 0));
      const ws = pr.componentMass.reduce((a, b) => a + b, 0);
      const errs = s.map((v, c) =>
        Math.abs(v / (s[0]! + s[1]! + s[2]!) - pr.componentMass[c]! / ws),
      );
      assert.ok(Math.abs(mL1 - errs.reduce((a, b) => a + b, 0)) < 1e-12);
      assert.ok(Math.abs(mLinf - Math.max(...errs)) < 1e-12);
      assert.equal(lastRow("mass_err_L1"), mL1);
      assert.ok(Number.isNaN(f.series.delta_x_rel![0]!));
      assert.ok(f.series.train_rmse_ewma!.every((v) => v > 0));
      for (let i = 1; i < rows; i++)
        assert.ok(f.series.time_sec![i]! >= f.series.time_sec![i - 1]!);

      if (follower) {
        const res = await follower;
        assert.equal(res.code, 0, res.err);
        const sum = JSON.parse(res.out) as { polls: number; rowCounts: number[]; errors: string[] };
        t.diagnostic(
          `h5py: ${sum.polls} polls, ${sum.rowCounts.length} distinct row counts, errors ${JSON.stringify(sum.errors)}`,
        );
        assert.deepEqual(sum.errors, []);
        // h5py saw the file grow during the run, not only its end.
        assert.ok(
          sum.rowCounts.filter((r) => r > 0 && r < rows).length >= 5,
          JSON.stringify(sum.rowCounts),
        );
        // And reads the finished layout with the seed's dtypes and shapes.
        const dump = spawnSync(
          PYTHON,
          [
            "-c",
            "import h5py, json, sys\n" +
              "f = h5py.File(sys.argv[1], 'r')\n" +
              "out = {}\n" +
              "f.visititems(lambda k, v: out.__setitem__(k, [v.dtype.str, list(v.shape)]) if isinstance(v, h5py.Dataset) else None)\n" +
              "print(json.dumps(out))",
            file,
          ],
          { encoding: "utf8" },
        );
        assert.equal(dump.status, 0, dump.stderr);
        const ds = JSON.parse(dump.stdout) as Record<string, [string, number[]]>;
        assert.deepEqual(ds["Fit/x_latest"], ["<f8", [n]]);
        assert.deepEqual(ds["Fit/x_best"], ["<f8", [n]]);
        assert.deepEqual(ds["Fit/x_ring"], ["<f8", [4, n]]);
        assert.deepEqual(ds["Fit/x_vis_ring"], ["<f4", [4, n]]);
        assert.deepEqual(ds["X_global"], ["<f8", [n]]);
        assert.deepEqual(ds["Fit/sample/spaxels"], ["<i4", [4]]);
        assert.deepEqual(ds["Fit/sample/val_pixels"], ["<i4", [8]]);
        for (const m of FIT_METRICS) assert.deepEqual(ds[`Fit/metrics/${m}`], ["<f8", [rows]], m);
      }

      // Resume: a second tracker continues the same /Fit.
      const before = {
        rows,
        best: tracker.bestValRmse,
        time: f.series.time_sec![rows - 1]!,
        xBest: f.best,
      };
      const again = await FitTracker.open(file, pr.design, { ...FAST, ringSize: 99, Ns: 7 });
      assert.equal(again.resumed, true);
      assert.equal(again.ringSize, 4, "the file's ring size is kept");
      assert.deepEqual(again.sample.spaxels, f.spaxels);
      assert.deepEqual(again.sample.valPixels, f.valPixels);
      assert.equal(again.bestValRmse, before.best);
      assert.equal(again.records, before.rows);
      // A worse x does not replace x_best.
      const worse = new Float64Array(n).fill(0.01);
      const r1 = await again.maybeSave(worse, 7, true);
      assert.equal(r1.val, true);
      assert.equal(r1.best, false);
      // The converged x (run on) does.
      const more = await solveKaczmarz(pr.design, { epochs: 30, pixelsPerAperture: 80, x0: kz.x });
      await again.flush();
      await new Promise((r) => setTimeout(r, 60));
      const r2 = await again.maybeSave(more.x, 37);
      assert.equal(r2.val, true);
      assert.equal(r2.best, again.valRmse(more.x) < before.best);
      await again.close();
      const g = await readAll(file);
      assert.equal(g.series.epoch!.length, before.rows + 2);
      assert.ok(g.series.time_sec![before.rows]! >= before.time, "time_sec continues");
      assert.deepEqual([...g.series.epoch!.slice(-2)], [7, 37]);
      if (r2.best) assert.deepEqual(g.best, more.x);
      else assert.deepEqual(g.best, before.xBest);
      // The ring went on from the next slot.
      assert.deepEqual(
        g.ring.data.slice((before.rows % 4) * n, ((before.rows % 4) + 1) * n),
        worse,
      );
    } finally {
      cleanup();
    }
  },
);

test(
  "one writer: a second tracker on the same file is refused; another problem's /Fit too",
  { timeout: 60_000 },
  async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = path.join(dir, "cube.h5");
      const pr = synthProblem({ S: 5, C: 2, P: 3, L: 30 });
      const a = await FitTracker.open(file, pr.design, FAST);
      await assert.rejects(FitTracker.open(file, pr.design, FAST), (e: unknown) => {
        assert.ok(e instanceof StoreLockedError, String(e));
        assert.match(e.message, /already open for writing by pid/);
        return true;
      });
      await a.maybeSave(new Float64Array(6).fill(1), 0);
      await a.close();
      const other = synthProblem({ S: 5, C: 2, P: 4, L: 30 });
      await assert.rejects(FitTracker.open(file, other.design, FAST), (e: unknown) => {
        assert.ok(e instanceof FitLayoutMismatchError, String(e));
        assert.match(e.message, /\/Fit\/x_ring.*this fit needs float64 rows \[8\]/);
        return true;
      });
      // The refused open left the file as it was (and unlocked): the right problem reopens it.
      const b = await FitTracker.open(file, pr.design, FAST);
      assert.equal(b.resumed, true);
      await b.close();
      await assert.rejects(b.maybeSave(new Float64Array(6), 1), /closed/);
    } finally {
      cleanup();
    }
  },
);

test(
  "solveAll: fit + tracker, then a second call resumes from /Fit/x_best",
  { timeout: 60_000 },
  async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = path.join(dir, "cube.h5");
      const pr = synthProblem({ S: 8, C: 2, P: 3, L: 40 });
      assert.deepEqual(await readFitStart(file), { xBest: undefined, xGlobal: undefined });
      // The base file as the cube builder leaves it: /Fit is added beside its data, untouched.
      const w = await StoreWriter.create(file, { provenance: { stage: "test-cube" } });
      w.createDataset(CUBEFIT.dataCube, { dtype: "float64", shape: [0, 40] }).append(pr.data);
      w.createDataset(CUBEFIT.models, { dtype: "float32", shape: [0, 2, 3, 40] }).append(
        Float32Array.from(pr.models),
      );
      w.close();
      assert.deepEqual(await readFitStart(file), { xBest: undefined, xGlobal: undefined });
      const first = await solveAll(file, pr.design, {
        epochs: 3,
        pixelsPerAperture: 40,
        orbitWeights: pr.componentMass,
        tracker: FAST,
      });
      assert.equal(first.from, "jacobi");
      assert.ok(first.ratioSteps > 0);
      const held = await readFitStart(file);
      assert.ok(held.xBest && held.xGlobal);
      assert.deepEqual(held.xGlobal, first.x);
      const second = await solveAll(file, pr.design, {
        epochs: 1,
        pixelsPerAperture: 40,
        tracker: FAST,
      });
      assert.equal(second.from, "x_best");
      const third = await solveAll(file, pr.design, {
        epochs: 1,
        x0: new Float64Array(6).fill(1),
        preferX0: true,
        tracker: false,
      });
      assert.equal(third.from, "x0");
      const r = await StoreReader.open(file);
      try {
        assert.deepEqual(r.read(CUBEFIT.dataCube).data, pr.data);
        assert.deepEqual(r.read(CUBEFIT.models).data, Float32Array.from(pr.models));
        assert.ok(r.read(`${CUBEFIT.metrics}/epoch`).shape[0]! > 0);
      } finally {
        r.close();
      }
    } finally {
      cleanup();
    }
  },
);
