// kill -9 during a fit: the tracker's writer thread dies with the solver. The next solveAll
// resumes from the /Fit/x_best the tracker committed, and /Fit keeps its rows and grows.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { spawn } from "node:child_process";
import { buildHyperCube } from "../../src/cubefit/hypercube.js";
import { HyperCubeReader } from "../../src/cubefit/reader.js";
import { readFitStart, solveAll } from "../../src/cubefit/solve/index.js";
import { StoreReader } from "../../src/store/index.js";
import { HERE, tempDir, writeProblem } from "./fixtures/helpers.js";

const dir = tempDir("fitkill");
after(() => fs.rmSync(dir, { recursive: true, force: true }));

async function metricRows(file: string): Promise<number> {
  const r = await StoreReader.open(file);
  try {
    return r.read<"float64">("/Fit/metrics/epoch").data.length;
  } finally {
    r.close();
  }
}

test("kill -9 during a tracked fit, then solveAll again: resumes from x_best, /Fit grows", async () => {
  const file = path.join(dir, "cube.h5");
  await writeProblem(file, { seed: 3 });
  await buildHyperCube(file, { workers: 1 });
  await new Promise<void>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", path.join(HERE, "fit-child.mts"), file],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d;
      const m = /epoch (\d+)\n$/.exec(out);
      if (m && Number(m[1]) >= 40) child.kill("SIGKILL");
    });
    child.stderr.on("data", (d: Buffer) => (err += d));
    child.on("exit", (code, signal) =>
      signal === "SIGKILL" ? resolve() : reject(new Error(`child ended ${code}: ${err}`)),
    );
  });
  const held = await readFitStart(file);
  assert.ok(held.xBest && held.xBest.length > 0, "the killed run left an x_best");
  const before = await metricRows(file);
  assert.ok(before >= 2, `${before} metric rows committed before the kill`);
  const design = await HyperCubeReader.open(file);
  try {
    const again = await solveAll(file, design, {
      epochs: 3,
      pixelsPerAperture: 32,
      seed: 6,
      tracker: { metricsIntervalSec: 0, valIntervalSec: 0, ckptIntervalSec: 0, Ns: 4, Kval: 8 },
    });
    assert.equal(again.from, "x_best");
  } finally {
    design.close();
  }
  assert.ok((await metricRows(file)) > before);
});
