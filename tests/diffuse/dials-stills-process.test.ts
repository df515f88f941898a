// Real DIALS output: Debian's dials.stills_process indexes and integrates a synthetic still;
// stagelab reads its .expt and .refl (every column, partiality included) exactly as DIALS's
// own Python does, finds the generator's crystal in it, and runs the extraction on DIALS's
// single-panel geometry of the same image.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  extractStill,
  geometry,
  readExperimentList,
  readReflectionTable,
  writeSyntheticStills,
} from "../../src/index.js";
import { assertTableMatchesDials, describeWithDials, dialsUnavailable } from "../dials/helpers.js";

const which = spawnSync("sh", ["-c", "command -v dials.stills_process"], { encoding: "utf8" });
const skip =
  which.status !== 0
    ? "dials.stills_process is not installed (Debian package dials)"
    : dialsUnavailable();

test(
  "dials.stills_process output is read like DIALS reads it",
  { skip: skip ?? false, timeout: 300_000 },
  async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-dials-sp-"));
    try {
      const gen = await writeSyntheticStills(path.join(dir, "stills"), { stills: 1 });
      const p = gen.truth.params;
      // Debian's DIALS lacks cctbx's xfel module, which the "stills" indexer needs for its
      // mosaicity model, so the sequences indexer does the (still-image) indexing here.
      const run = spawnSync(
        "dials.stills_process",
        [
          gen.files[0]!.cbf,
          "indexing.known_symmetry.space_group=P212121",
          `indexing.known_symmetry.unit_cell=${p.cell.aA},${p.cell.bA},${p.cell.cA},90,90,90`,
          "indexing.stills.indexer=sequences",
          "output.composite_output=False",
          "mp.nproc=1",
        ],
        { cwd: dir, encoding: "utf8", timeout: 280_000 },
      );
      assert.equal(run.status, 0, run.stdout.slice(-3000) + run.stderr);
      const expt = path.join(dir, "idx-still_0000_integrated.expt");
      const refl = path.join(dir, "idx-still_0000_integrated.refl");
      assert.ok(
        fs.existsSync(expt) && fs.existsSync(refl),
        `DIALS did not index the still:\n${run.stdout.slice(-2000)}`,
      );

      const dials = describeWithDials(dir, [expt, refl]) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
      const table = await readReflectionTable(refl);
      assert.ok(table.has("partiality"));
      assertTableMatchesDials(table, dials[refl]);

      const [experiment] = await readExperimentList(expt);
      const want = dials[expt].experiments[0];
      const crystal = experiment!.crystal!;
      const a = geometry.aMatrixForStill(crystal);
      a.forEach((v, i) => assert.ok(Math.abs(v - want.crystal.A[i]) <= 1e-12 * 0.03, `A[${i}]`));
      experiment!.detector.panels.forEach((panel, i) => {
        const w = want.panels[i];
        [...panel.originMm, ...panel.fastAxis, ...panel.slowAxis].forEach((v, j) =>
          assert.ok(Math.abs(v - [...w.origin, ...w.fast_axis, ...w.slow_axis][j]) <= 1e-12 * 200),
        );
        assert.equal(panel.muPerMm, w.mu);
        assert.equal(panel.thicknessMm, w.thickness);
      });

      // The crystal DIALS found is the generator's, up to the sign choices P212121 allows:
      // each column of A (a*, b*, c* in the lab frame) equals +- the truth's within 1%.
      const truthA = geometry.aMatrixForStill(
        (await readExperimentList(gen.files[0]!.expt))[0]!.crystal!,
      );
      for (let c = 0; c < 3; c++) {
        const col = (m: readonly number[]) => [m[c]!, m[3 + c]!, m[6 + c]!];
        const [x, t] = [col(a), col(truthA)];
        const sign = Math.sign(x[0]! * t[0]! + x[1]! * t[1]! + x[2]! * t[2]!);
        const err = Math.hypot(x[0]! - sign * t[0]!, x[1]! - sign * t[1]!, x[2]! - sign * t[2]!);
        assert.ok(err < 0.01 * Math.hypot(...t), `column ${c} of A: ${x} vs ${t}`);
      }

      // The extraction stage runs on DIALS's own geometry and reflections (one panel whose
      // module gaps are untrusted -1 pixels), masking its Bragg spots by bounding box.
      const still = await extractStill({ expt, refl }, 0, { bragg: "bbox" });
      const nPanel = experiment!.detector.panels[0]!.imageSize;
      const gapPixels = (p.modules - 1) * p.gapSlowPx * p.moduleFastPx;
      assert.ok(still.nMasked >= gapPixels, `${still.nMasked} masked`);
      assert.ok(still.pixels.count > 0.9 * (nPanel[0] * nPanel[1] - still.nMasked));
      assert.ok(still.nBragg > 0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);
