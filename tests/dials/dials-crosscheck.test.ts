// Files written by the TS writers, read back by dxtbx/DIALS themselves (Debian's python), and
// hand-written edge cases read by both. Skipped, with the reason, when DIALS is not installed.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import {
  parseExperimentList,
  readExperimentList,
  readReflectionTable,
  ReflectionTable,
  writeExperimentList,
  writeReflectionTable,
  type Shoebox,
} from "../../src/dials/index.js";
import type { Experiment, Mat3, Vec3 } from "../../src/geometry/models.js";
import {
  python,
  describeWithDials,
  dialsUnavailable,
  fixture,
  FIXTURES,
  readJson,
  tmpDir,
} from "./helpers.js";

/* eslint-disable @typescript-eslint/no-explicit-any -- descriptions are untyped JSON */

/** Deep comparison: numbers within 1e-12 of the largest magnitude in their list, rest exact. */
function assertSimilar(actual: any, expected: any, where: string): void {
  if (Array.isArray(expected) && expected.every((x) => typeof x === "number")) {
    assert.ok(
      Array.isArray(actual) && actual.length === expected.length,
      `${where}: ${JSON.stringify(actual)} vs ${JSON.stringify(expected)}`,
    );
    const scale = Math.max(...expected.map(Math.abs), Number.MIN_VALUE);
    expected.forEach((x: number, i: number) =>
      assert.ok(Math.abs(actual[i] - x) <= 1e-12 * scale, `${where}[${i}]: ${actual[i]} vs ${x}`),
    );
  } else if (typeof expected === "number") {
    assert.ok(
      typeof actual === "number" && Math.abs(actual - expected) <= 1e-12 * Math.abs(expected),
      `${where}: ${actual} vs ${expected}`,
    );
  } else if (expected !== null && typeof expected === "object") {
    assert.ok(
      actual !== null && typeof actual === "object",
      `${where}: ${actual} is not an object`,
    );
    assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort(), `${where} keys`);
    for (const k of Object.keys(expected)) assertSimilar(actual[k], expected[k], `${where}.${k}`);
  } else assert.equal(actual, expected, where);
}

function skipWithoutDials(t: { skip: (m: string) => void }): boolean {
  const why = dialsUnavailable();
  if (why) t.skip(`DIALS cross-check skipped: ${why}`);
  return why !== null;
}

test("dxtbx reads the .expt we write back to the same models", async (t) => {
  if (skipWithoutDials(t)) return;
  const { dir, done } = tmpDir();
  try {
    const experiments = await readExperimentList(fixture("models.expt"));
    const file = path.join(dir, "ours.expt");
    await writeExperimentList(file, experiments);
    // A detector rebuilt as a new object has no hierarchy to keep: written flat, same panels.
    const rebuilt = new Map(experiments.map((e) => [e.detector, { panels: e.detector.panels }]));
    const flat: Experiment[] = experiments.map((e) => ({
      ...e,
      detector: rebuilt.get(e.detector)!,
    }));
    const flatFile = path.join(dir, "flat.expt");
    await writeExperimentList(flatFile, flat);

    // Image paths are absolute now, pointing into the fixtures: relative to it as expected.
    const got = describeWithDials(FIXTURES, [file, flatFile]);
    assertSimilar(got[file], readJson("models.expected.json"), "ours.expt");
    const want = structuredClone(readJson("models.expected.json")) as any;
    for (const e of want.experiments) e.hierarchy_depth = 1;
    assertSimilar(got[flatFile], want, "flat.expt");
  } finally {
    done();
  }
});

test("hand-written edge cases: TS parse equals what dxtbx makes of them", async (t) => {
  if (skipWithoutDials(t)) return;
  const { dir, done } = tmpDir();
  try {
    const panel = (extra: object) => ({
      name: "P",
      type: "SENSOR_PAD",
      fast_axis: [2, 0.001, 0],
      slow_axis: [0, -3, 0.002],
      origin: [-10, 12, -100],
      pixel_size: [0.172, 0.172],
      image_size: [487, 195],
      trusted_range: [-1, 1e6],
      ...extra,
    });
    const edge = {
      __id__: "ExperimentList",
      experiment: [
        { __id__: "Experiment", identifier: "e0", beam: 0, detector: 0, goniometer: 0, scan: 0 },
        { __id__: "Experiment", beam: 1, detector: 1, goniometer: 1, scan: 1 },
      ],
      // Unnormalized direction; most fields left to dxtbx's defaults.
      beam: [
        { direction: [0.01, 0, 3], wavelength: 1.1 },
        { direction: [0, 0, 1], wavelength: 0.7, divergence: 0.3 },
      ],
      detector: [
        // The oldest layout: a bare list of panels; parallax with mu 0 falls back to simple,
        // and a strategy's own mu/t0 override the panel's.
        [
          panel({
            thickness: 0.32,
            mu: 0,
            px_mm_strategy: { type: "ParallaxCorrectedPxMmStrategy" },
          }),
          panel({
            thickness: 0.32,
            mu: 3.9,
            px_mm_strategy: { type: "ParallaxCorrectedPxMmStrategy", mu: 5.5, t0: 1.0 },
          }),
        ],
        { panels: [panel({ name: "Q", gain: 0.5 })] },
      ],
      goniometer: [
        // Multi-axis with the scan axis in the middle: F and S both non-trivial.
        {
          axes: [
            [1, 0, 0],
            [0.9, 0.3, -0.2],
            [0, 1, 0.01],
            [1, 0.001, 0],
          ],
          angles: [12.5, -33.25, 180.0, 7.0],
          names: ["a", "b", "c", "d"],
          scan_axis: 1,
        },
        { rotation_axis: [-2, 0.01, 0] },
      ],
      scan: [
        // Legacy scalar exposure time; epochs extrapolated from the last two.
        {
          image_range: [3, 7],
          oscillation: [-5, 0.15],
          exposure_time: 0.04,
          epochs: [100, 100.04],
        },
        { image_range: [1, 1], oscillation: [45, 1], batch_offset: 12, exposure_time: [] },
      ],
    };
    const file = path.join(dir, "edge.expt");
    fs.writeFileSync(file, JSON.stringify(edge));
    const dxtbx = describeWithDials(dir, [file])[file] as any;
    const ours = parseExperimentList(edge);
    const describe = (e: Experiment) => {
      const s = e.scan!;
      const g = e.goniometer!;
      const axis = [0, 1, 2].map(
        (r) =>
          g.settingRotation[3 * r]! * g.rotationAxis[0] +
          g.settingRotation[3 * r + 1]! * g.rotationAxis[1] +
          g.settingRotation[3 * r + 2]! * g.rotationAxis[2],
      );
      return {
        direction: e.beam.directionToSource,
        divergence: e.beam.divergenceRad,
        fraction: e.beam.polarizationFraction,
        panels: e.detector.panels.map((p) => [
          p.fastAxis,
          p.slowAxis,
          p.originMm,
          p.thicknessMm,
          p.muPerMm,
          p.parallaxCorrected,
          p.gain,
        ]),
        gonio: [g.rotationAxis, axis, g.fixedRotation, g.settingRotation],
        scan: [s.imageRange, s.batchOffset, s.oscillationDeg, s.exposureTimesS, s.epochsS],
      };
    };
    const fromDxtbx = (x: any) => ({
      direction: x.beam.direction as Vec3,
      divergence: x.beam.divergence_rad,
      fraction: x.beam.polarization_fraction,
      panels: x.panels.map((p: any) => [
        p.fast_axis,
        p.slow_axis,
        p.origin,
        p.thickness,
        p.mu,
        p.px_mm_strategy === "ParallaxCorrectedPxMmStrategy",
        p.gain,
      ]),
      gonio: [
        x.goniometer.rotation_axis_datum,
        x.goniometer.rotation_axis,
        x.goniometer.fixed_rotation as Mat3,
        x.goniometer.setting_rotation,
      ],
      scan: [
        x.scan.image_range,
        x.scan.batch_offset,
        x.scan.oscillation_deg,
        x.scan.exposure_times,
        x.scan.epochs,
      ],
    });
    ours.forEach((e, i) =>
      assertSimilar(describe(e), fromDxtbx(dxtbx.experiments[i]), `edge experiment ${i}`),
    );
    assert.equal(ours[0]!.detector.panels[1]!.parallaxCorrected, true);
    assert.equal(ours[0]!.detector.panels[0]!.parallaxCorrected, false);
  } finally {
    done();
  }
});

test("DIALS reads the .refl we write to the same columns, byte for byte its own layout", async (t) => {
  if (skipWithoutDials(t)) return;
  const { dir, done } = tmpDir();
  try {
    const table = await readReflectionTable(fixture("table.refl"));
    const file = path.join(dir, "ours.refl");
    // DIALS cannot read std::string columns from another process: leave that one out.
    await writeReflectionTable(file, table, { stringColumns: "drop" });
    const want = structuredClone(readJson("table.expected.json")) as any;
    delete want.columns.tag;
    const got = describeWithDials(dir, [file])[file];
    assert.deepEqual(got, want);

    // DIALS writing the table it read from our file gives our bytes exactly.
    const again = path.join(dir, "dials.refl");
    const py =
      "from dials.array_family import flex\nimport sys, json\nflex.reflection_table.from_file(sys.argv[1]).as_file(sys.argv[2])\nprint('{}')\n";
    python(py, [file, again]);
    assert.deepEqual(fs.readFileSync(again), fs.readFileSync(file));
  } finally {
    done();
  }
});

test("DIALS reads a table built in TS from scratch", async (t) => {
  if (skipWithoutDials(t)) return;
  const { dir, done } = tmpDir();
  try {
    const boxes: Shoebox[] = [
      {
        panel: 0,
        bbox: [-2, 1, 5, 7, 0, 1],
        data: new Float32Array([1, 2, 3, 4, 5, 6]),
        mask: new Int32Array([1, 3, 5, 1, 3, 5]),
        background: new Float32Array(6).fill(0.5),
      },
      { panel: 3, bbox: [10, 14, 20, 22, 4, 6] },
      { panel: 1, bbox: [0, 0, 0, 0, 0, 0] },
    ];
    const table = new ReflectionTable(
      3,
      [
        ["id", { type: "int", data: new Int32Array([0, 1, 1]) }],
        ["panel", { type: "std::size_t", data: new Float64Array([0, 3, 1]) }],
        ["flags", { type: "std::size_t", data: new Float64Array([2 ** 52 + 1, 0, 34]) }],
        ["d", { type: "double", data: new Float64Array([1.25, Math.PI, -1e-10]) }],
        [
          "miller_index",
          { type: "cctbx::miller::index<>", data: new Int32Array([1, -2, 3, 0, 0, 1, -9, 8, -7]) },
        ],
        ["bbox", { type: "int6", data: new Int32Array(boxes.flatMap((b) => b.bbox)) }],
        ["s1", { type: "vec3<double>", data: new Float64Array(9).map((_, i) => i / 7) }],
        ["is_good", { type: "bool", data: new Uint8Array([1, 0, 1]) }],
        ["shoebox", { type: "Shoebox<>", data: boxes }],
      ],
      [
        [0, "first"],
        [1, "second"],
      ],
    );
    const file = path.join(dir, "scratch.refl");
    await writeReflectionTable(file, table);
    const got = describeWithDials(dir, [file])[file] as any;
    assert.equal(got.nrows, 3);
    assert.deepEqual(got.identifiers, { "0": "first", "1": "second" });
    assert.deepEqual(got.columns.flags.values, [2 ** 52 + 1, 0, 34]);
    assert.deepEqual(got.columns.d.values, [1.25, Math.PI, -1e-10]);
    assert.deepEqual(got.columns.miller_index.values, [
      [1, -2, 3],
      [0, 0, 1],
      [-9, 8, -7],
    ]);
    assert.deepEqual(got.columns.is_good.values, [true, false, true]);
    assert.deepEqual(got.columns.shoebox.values, [
      {
        panel: 0,
        bbox: [-2, 1, 5, 7, 0, 1],
        data: [1, 2, 3, 4, 5, 6],
        mask: [1, 3, 5, 1, 3, 5],
        background: [0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
      },
      { panel: 3, bbox: [10, 14, 20, 22, 4, 6] },
      { panel: 1, bbox: [0, 0, 0, 0, 0, 0] },
    ]);
    assert.equal(got.columns.s1.flex, "vec3_double");
  } finally {
    done();
  }
});
