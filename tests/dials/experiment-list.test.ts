// Experiment lists: the TS parse of a dxtbx-written .expt against dxtbx's own accessors
// (models.expected.json, from make_fixtures.py), write -> read round trips, typed errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import {
  DialsFormatError,
  dxtbxExtras,
  parseExperimentList,
  readExperimentList,
  serializeExperimentList,
  writeExperimentList,
} from "../../src/dials/index.js";
import type { Experiment, Mat3, Vec3 } from "../../src/geometry/models.js";
import { assertClose, fixture, FIXTURES, readJson, tmpDir } from "./helpers.js";

/* eslint-disable @typescript-eslint/no-explicit-any -- expectation JSON is untyped */
type Expected = { experiments: any[] };
const expected = readJson("models.expected.json") as Expected;

const inverse = (m: Mat3): number[] => {
  const [a, b, c, d, e, f, g, h, i] = m;
  const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  return [
    (e * i - f * h) / det,
    (c * h - b * i) / det,
    (b * f - c * e) / det,
    (f * g - d * i) / det,
    (a * i - c * g) / det,
    (c * d - a * f) / det,
    (d * h - e * g) / det,
    (b * g - a * h) / det,
    (a * e - b * d) / det,
  ];
};
const matVec = (m: Mat3, v: Vec3): number[] =>
  [0, 1, 2].map((r) => m[3 * r]! * v[0] + m[3 * r + 1]! * v[1] + m[3 * r + 2]! * v[2]);

/** Compares one parsed experiment with dxtbx's description of it. */
function checkExperiment(e: Experiment, x: any, where: string): void {
  assert.equal(e.identifier, x.identifier, `${where} identifier`);
  const b = e.beam;
  assertClose(b.directionToSource, x.beam.direction, `${where} beam direction`);
  assertClose(b.wavelengthA, x.beam.wavelength, `${where} wavelength`);
  assertClose(
    b.directionToSource.map((v) => -v / b.wavelengthA),
    x.beam.s0,
    `${where} s0`,
  );
  assertClose(b.divergenceRad, x.beam.divergence_rad, `${where} divergence`);
  assertClose(b.sigmaDivergenceRad, x.beam.sigma_divergence_rad, `${where} sigma divergence`);
  assertClose(b.polarizationNormal, x.beam.polarization_normal, `${where} polarization normal`);
  assert.equal(b.polarizationFraction, x.beam.polarization_fraction);
  assert.equal(b.fluxPhotonsPerS, x.beam.flux);
  assert.equal(b.transmission, x.beam.transmission);

  assert.equal(e.detector.panels.length, x.panels.length, `${where} panel count`);
  e.detector.panels.forEach((p, i) => {
    const xp = x.panels[i];
    const w = `${where} panel ${i}`;
    assert.equal(p.name, xp.name, `${w} name`);
    assert.equal(p.type, xp.type);
    // Global lab frame, as panel.get_fast_axis() etc. (the fixture nests 3 levels deep).
    assertClose(p.fastAxis, xp.fast_axis, `${w} fast axis`);
    assertClose(p.slowAxis, xp.slow_axis, `${w} slow axis`);
    assertClose(p.originMm, xp.origin, `${w} origin`);
    assert.deepEqual([...p.pixelSizeMm], xp.pixel_size, `${w} pixel size`);
    assert.deepEqual([...p.imageSize], xp.image_size, `${w} image size`);
    assert.deepEqual([...p.trustedRange], xp.trusted_range, `${w} trusted range`);
    assert.equal(p.thicknessMm, xp.thickness, `${w} thickness`);
    assert.equal(p.material, xp.material, `${w} material`);
    assert.equal(p.muPerMm, xp.mu, `${w} mu`);
    assert.equal(p.gain, xp.gain, `${w} gain`);
    assert.equal(p.pedestal, xp.pedestal, `${w} pedestal`);
    assert.equal(
      p.parallaxCorrected,
      xp.px_mm_strategy === "ParallaxCorrectedPxMmStrategy",
      `${w} parallax`,
    );
    assert.deepEqual([...p.rawImageOffset], xp.raw_image_offset, `${w} raw image offset`);
    assert.equal(p.identifier, xp.identifier, `${w} identifier`);
  });

  assert.equal(e.crystal !== undefined, x.crystal !== undefined, `${where} has crystal`);
  if (e.crystal) {
    const c = e.crystal;
    assertClose(c.realSpaceA, x.crystal.real_space[0], `${where} a`);
    assertClose(c.realSpaceB, x.crystal.real_space[1], `${where} b`);
    assertClose(c.realSpaceC, x.crystal.real_space[2], `${where} c`);
    // A = U B is the inverse of the matrix whose rows are a, b, c.
    const rows = [...c.realSpaceA, ...c.realSpaceB, ...c.realSpaceC] as unknown as Mat3;
    assertClose(inverse(rows), x.crystal.A, `${where} A`, 1e-12);
    assert.equal(c.spaceGroupHall, x.crystal.hall, `${where} hall`);
    assert.equal(
      c.aAtScanPoints?.length ?? 0,
      x.crystal.A_at_scan_points.length,
      `${where} scan points`,
    );
    c.aAtScanPoints?.forEach((m, i) =>
      assertClose(m, x.crystal.A_at_scan_points[i], `${where} A@${i}`),
    );
    assert.equal(
      c.mlHalfMosaicityDeg,
      x.crystal.ML_half_mosaicity_deg,
      `${where} ML half mosaicity`,
    );
    assert.equal(c.mlDomainSizeA, x.crystal.ML_domain_size_ang, `${where} ML domain size`);
  }

  assert.equal(e.scan !== undefined, x.scan !== undefined, `${where} has scan`);
  if (e.scan) {
    assert.deepEqual([...e.scan.imageRange], x.scan.image_range);
    assert.equal(e.scan.batchOffset, x.scan.batch_offset, `${where} batch offset`);
    assertClose(e.scan.oscillationDeg, x.scan.oscillation_deg, `${where} oscillation`);
    assert.deepEqual(e.scan.exposureTimesS, x.scan.exposure_times);
    assert.deepEqual(e.scan.epochsS, x.scan.epochs);
  }

  assert.equal(e.goniometer !== undefined, x.goniometer !== undefined, `${where} has goniometer`);
  if (e.goniometer) {
    const g = e.goniometer;
    // rotationAxis is dxtbx's datum; the lab axis is S * datum (get_rotation_axis()).
    assertClose(g.rotationAxis, x.goniometer.rotation_axis_datum, `${where} rotation axis datum`);
    assertClose(
      matVec(g.settingRotation, g.rotationAxis),
      x.goniometer.rotation_axis,
      `${where} axis`,
    );
    assertClose(g.fixedRotation, x.goniometer.fixed_rotation, `${where} F`);
    assertClose(g.settingRotation, x.goniometer.setting_rotation, `${where} S`);
  }

  assert.equal(e.imageset !== undefined, x.imageset !== undefined, `${where} has imageset`);
  if (e.imageset) {
    const i = e.imageset;
    const rel = (p: string | undefined) => (p === undefined ? null : path.relative(FIXTURES, p));
    assert.equal(i.type, x.imageset.type);
    if (x.imageset.template !== undefined) assert.equal(rel(i.template), x.imageset.template);
    if (x.imageset.images !== undefined) assert.deepEqual(i.images?.map(rel), x.imageset.images);
    assert.deepEqual(i.singleFileIndices, x.imageset.single_file_indices);
    assert.equal(rel(i.mask), x.imageset.mask);
    assert.equal(rel(i.gain), x.imageset.gain);
    assert.equal(rel(i.pedestal), x.imageset.pedestal);
  }
}

/** Experiments share a JS object exactly where dxtbx shares a model. */
function checkSharing(experiments: Experiment[], xs: any[]): void {
  const kinds = [
    ["beam", "beam_index"],
    ["detector", "detector_index"],
    ["goniometer", "goniometer_index"],
    ["scan", "scan_index"],
    ["crystal", "crystal_index"],
    ["imageset", "imageset_index"],
  ] as const;
  for (const [k, idx] of kinds) {
    for (let i = 0; i < experiments.length; i++) {
      for (let j = i + 1; j < experiments.length; j++) {
        const a = experiments[i]![k];
        if (a === undefined) continue;
        const same = xs[i][idx] === xs[j][idx];
        assert.equal(
          a === experiments[j]![k],
          same,
          `${k} of experiments ${i} and ${j} shared: ${same}`,
        );
      }
    }
  }
}

test("models.expt parses to what dxtbx's accessors report", async () => {
  const experiments = await readExperimentList(fixture("models.expt"));
  assert.equal(experiments.length, expected.experiments.length);
  experiments.forEach((e, i) => checkExperiment(e, expected.experiments[i], `experiment ${i}`));
  checkSharing(experiments, expected.experiments);
  assert.equal(experiments[0]!.beam, experiments[1]!.beam);
  assert.equal(experiments[0]!.detector, experiments[3]!.detector);
});

test("hierarchical panel frames are bit-for-bit dxtbx's", async () => {
  // Composed in scitbx's operation order, so not merely within 1e-12.
  const experiments = await readExperimentList(fixture("models.expt"));
  experiments.forEach((e, k) =>
    e.detector.panels.forEach((p, i) => {
      const xp = expected.experiments[k].panels[i];
      assert.deepEqual(
        [...p.fastAxis, ...p.slowAxis, ...p.originMm],
        [...xp.fast_axis, ...xp.slow_axis, ...xp.origin],
      );
    }),
  );
});

test("parseExperimentList takes text or an object; baseDir resolves relative paths", () => {
  const text = fs.readFileSync(fixture("models.expt"), "utf8");
  const relative = parseExperimentList(text);
  assert.equal(relative[0]!.imageset!.template, "images/insulin_1_#####.cbf");
  assert.deepEqual(relative[2]!.imageset!.images, ["stills/run_0001.h5"]);
  const resolved = parseExperimentList(JSON.parse(text), { baseDir: "/data/run" });
  assert.equal(resolved[2]!.imageset!.mask, "/data/run/stills/mask.pickle");
  assert.equal(resolved[0]!.imageset!.template, "/data/run/images/insulin_1_#####.cbf");
});

test("write -> read round trip keeps models, sharing and dxtbx-only fields", async () => {
  const { dir, done } = tmpDir();
  try {
    const first = await readExperimentList(fixture("models.expt"));
    const file = path.join(dir, "out.expt");
    await writeExperimentList(file, first);
    const again = await readExperimentList(file);
    // Paths were absolute after the first read, so they survive the move to another directory.
    assert.deepEqual(again, first);
    again.forEach((e, i) => checkExperiment(e, expected.experiments[i], `re-read ${i}`));
    checkSharing(again, expected.experiments);
    // Serializing is stable (compared as JSON text: a -0 from Python is written as 0).
    const text = (x: Experiment[]) => JSON.stringify(serializeExperimentList(x));
    assert.equal(text(again), text(first));

    const out = serializeExperimentList(again) as any;
    assert.deepEqual(out.profile, [
      { __id__: "gaussian_rs", n_sigma: 3, sigma_b: 0.0123, sigma_m: 0.0456 },
    ]);
    assert.equal(out.experiment[0].profile, 0);
    assert.equal(out.experiment[1].profile, 0);
    assert.equal(out.experiment[2].profile, undefined);
    assert.equal(out.crystal[0].B_covariance.length, 81);
    assert.equal(out.crystal[3].mosaicity, 0.087);
    assert.equal(out.beam[2].s0_at_scan_points.length, 4);
    assert.deepEqual(out.goniometer[0].names, ["phi", "kappa", "omega"]);
    assert.equal(out.detector[0].hierarchy.children[1].children[1].name, "Q1-sub");
    assert.equal(dxtbxExtras(again[3]!.beam)?.["s0_at_scan_points"] !== undefined, true);
  } finally {
    done();
  }
});

test("a changed panel frame flattens the hierarchy; a changed goniometer drops its axes", () => {
  const experiments = parseExperimentList(fs.readFileSync(fixture("models.expt"), "utf8"));
  const det = experiments[0]!.detector;
  const p = det.panels[2]!;
  p.originMm = [p.originMm[0] + 1, p.originMm[1], p.originMm[2]];
  const g = experiments[0]!.goniometer!;
  g.fixedRotation = [1, 0, 0, 0, 1, 0, 0, 0, 1];
  const out = serializeExperimentList(experiments) as any;
  const h = out.detector[0].hierarchy;
  assert.deepEqual(
    h.children,
    [0, 1, 2, 3].map((panel) => ({ panel })),
  );
  assert.deepEqual(h.fast_axis, [1, 0, 0]);
  assert.equal(out.goniometer[0].axes, undefined);
  assert.deepEqual(out.goniometer[0].fixed_rotation, [1, 0, 0, 0, 1, 0, 0, 0, 1]);
  const back = parseExperimentList(out);
  back[0]!.detector.panels.forEach((q, i) => {
    const orig = det.panels[i]!;
    assertClose(q.fastAxis, orig.fastAxis, `flattened panel ${i} fast`, 1e-15);
    assertClose(q.slowAxis, orig.slowAxis, `flattened panel ${i} slow`, 1e-15);
    assert.deepEqual(q.originMm, orig.originMm);
  });
  assert.deepEqual(back[0]!.goniometer, g);
});

test("both dxtbx scan layouts and the legacy padding rules", () => {
  const base = (scan: object) => ({
    __id__: "ExperimentList",
    experiment: [{ beam: 0, detector: 0, scan: 0 }],
    beam: [{ direction: [0, 0, 2], wavelength: 1 }],
    detector: [[{ name: "p" }]],
    scan: [scan],
  });
  const legacy = parseExperimentList(
    base({ image_range: [5, 8], oscillation: [1, 0.2], exposure_time: 0.5, epochs: [10, 10.5] }),
  )[0]!.scan!;
  assert.deepEqual(legacy.exposureTimesS, [0.5, 0.5, 0.5, 0.5]);
  assert.deepEqual(legacy.epochsS, [10, 10.5, 11, 11.5]);
  assert.equal(legacy.batchOffset, 0);
  const props = parseExperimentList(
    base({
      image_range: [1, 3],
      batch_offset: 7,
      properties: { oscillation: [30, 30.5, 31], exposure_time: [1, 1, 1], epochs: [0, 1, 2] },
      valid_image_ranges: { abc: [[1, 3]] },
    }),
  )[0]!;
  assert.deepEqual(props.scan!.oscillationDeg, [30, 0.5]);
  assert.equal(props.scan!.batchOffset, 7);
  assert.deepEqual(props.scan!.epochsS, [0, 1, 2]);
  const one = parseExperimentList(
    base({ image_range: [4, 4], properties: { oscillation: [12], oscillation_width: [0.1] } }),
  )[0]!.scan!;
  assert.deepEqual(one.oscillationDeg, [12, 0.1]);
  // Written back in the legacy layout every dxtbx reads, keeping valid_image_ranges.
  const out = serializeExperimentList([props]) as any;
  assert.deepEqual(out.scan[0].oscillation, [30, 0.5]);
  assert.deepEqual(out.scan[0].valid_image_ranges, { abc: [[1, 3]] });
  // Defaults dxtbx fills in, and the unnormalized beam direction.
  const e = parseExperimentList(base({ image_range: [1, 1], oscillation: [0, 0] }))[0]!;
  assert.deepEqual(e.beam.directionToSource, [0, 0, 1]);
  assert.equal(e.beam.polarizationFraction, 0.999);
  assert.deepEqual(e.beam.polarizationNormal, [0, 1, 0]);
  assert.equal(e.detector.panels[0]!.gain, 1);
  assert.deepEqual(e.detector.panels[0]!.fastAxis, [1, 0, 0]);
});

test("Python's NaN and Infinity in the JSON are read", () => {
  const text = fs
    .readFileSync(fixture("models.expt"), "utf8")
    .replace('"flux": 2500000000000.0', '"flux": NaN')
    .replace('"transmission": 0.35', '"transmission": Infinity');
  const e = parseExperimentList(text)[0]!;
  assert.ok(Number.isNaN(e.beam.fluxPhotonsPerS));
  assert.equal(e.beam.transmission, Infinity);
  assert.equal(e.identifier, "exp-0-a1b2");
});

test("bad experiment lists are typed errors that say what is wrong", async () => {
  const good = JSON.parse(fs.readFileSync(fixture("models.expt"), "utf8"));
  const expectError = (input: string | object, pattern: RegExp) =>
    assert.throws(
      () => parseExperimentList(input, { file: "bad.expt" }),
      (e: unknown) => {
        assert.ok(e instanceof DialsFormatError, `not a DialsFormatError: ${e}`);
        assert.match(e.message, pattern);
        assert.equal(e.file, "bad.expt");
        return true;
      },
    );
  expectError("this is not json {", /^bad\.expt: not JSON, so not an experiment list/);
  expectError("", /not JSON.*empty file/);
  expectError("[1, 2]", /expected a JSON object/);
  expectError({ __id__: "DataBlock" }, /not an ExperimentList \(__id__ is "DataBlock"\)/);
  const missingBeam = structuredClone(good);
  missingBeam.experiment[2].beam = 5;
  expectError(
    missingBeam,
    /experiment\[2\]\.beam: beam index 5 out of range: the file has 3 beam model\(s\)/,
  );
  const noBeam = structuredClone(good);
  delete noBeam.experiment[1].beam;
  expectError(noBeam, /experiment\[1\]: has no beam/);
  const badPanel = structuredClone(good);
  badPanel.detector[0].hierarchy.children[0].children[0].panel = 9;
  expectError(
    badPanel,
    /detector\[0\]\.hierarchy\.children\[0\]\.children\[0\]\.panel: panel index 9 out of range/,
  );
  const badVec = structuredClone(good);
  badVec.beam[0].direction = [0, 1];
  expectError(badVec, /beam\[0\]\.direction: expected 3 numbers, got 2/);
  const badStrategy = structuredClone(good);
  badStrategy.detector[1].panels[0].px_mm_strategy.type = "Magic";
  expectError(badStrategy, /unknown px_mm_strategy 'Magic'/);
  const external = structuredClone(good);
  external.experiment[0].crystal = "crystal.json";
  expectError(external, /experiment\[0\]\.crystal: refers to an external file 'crystal\.json'/);

  await assert.rejects(readExperimentList(fixture("nope.expt")), (e: unknown) => {
    assert.ok(e instanceof DialsFormatError);
    assert.match(e.message, /nope\.expt: no such file/);
    return true;
  });
});
