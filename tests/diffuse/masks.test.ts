// Static, dynamic, Bragg and combined masks on small hand-built detectors whose answer is
// known by construction (regions counted by hand, anomalous pixels planted).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Detector, Panel } from "../../src/geometry/models.js";
import {
  andMasks,
  countUsable,
  dynamicMask,
  staticMask,
  totalMask,
} from "../../src/diffuse/masks.js";
import { braggMask } from "../../src/diffuse/bragg-mask.js";
import { ReflectionTable } from "../../src/dials/reflection-table.js";
import { DiffuseInputError } from "../../src/diffuse/errors.js";

function panel(nFast: number, nSlow: number, originMm: [number, number, number]): Panel {
  return {
    name: "p",
    type: "SENSOR_PAD",
    fastAxis: [1, 0, 0],
    slowAxis: [0, -1, 0],
    originMm,
    pixelSizeMm: [0.1, 0.1],
    imageSize: [nFast, nSlow],
    trustedRange: [-1, 1000],
    thicknessMm: 0.45,
    material: "Si",
    muPerMm: 0,
    gain: 1,
    pedestal: 0,
    parallaxCorrected: false,
    rawImageOffset: [0, 0],
    identifier: "",
  };
}

// Two 20 x 10 panels one above the other; the beam (along -z) hits panel 0 at pixel (10, 5).
const det: Detector = {
  panels: [panel(20, 10, [-1.0, 0.5, -100]), panel(20, 10, [-1.0, -0.7, -100])],
};

test("static mask: trusted range is exclusive at both ends and rejects NaN", () => {
  const raw = [new Float64Array(200).fill(5), new Float64Array(200).fill(5)];
  raw[0]![3] = -1; // the lower bound itself: untrusted, as dxtbx
  raw[0]![4] = 1000; // the upper bound itself: untrusted
  raw[0]![5] = 999.5;
  raw[1]![7] = NaN;
  raw[1]![8] = -0.5;
  const m = staticMask(det, { trustedRangeFrom: raw });
  assert.deepEqual([m[0]![3], m[0]![4], m[0]![5], m[1]![7], m[1]![8]], [0, 0, 1, 0, 1]);
  assert.equal(countUsable(m), 400 - 3);
});

test("static mask: rectangles, circles and a beamstop with its arm", () => {
  const m = staticMask(det, {
    regions: [
      { kind: "rect", panel: 1, fast: [2, 5], slow: [0, 2] }, // 3 x 2 = 6 pixels
      { kind: "circle", panel: 1, centerFastPx: 15, centerSlowPx: 5, radiusPx: 1 }, // centres within 1 px: 4 pixels
      { kind: "beamstop", radiusMm: 0.25 },
    ],
  });
  // Beamstop: pixel centres (f + 0.5) * 0.1 - 1.0, 0.5 - (s + 0.5) * 0.1 within 0.25 mm of (0, 0):
  let expected = 0;
  for (let s = 0; s < 10; s++)
    for (let f = 0; f < 20; f++)
      if (((f + 0.5) * 0.1 - 1) ** 2 + (0.5 - (s + 0.5) * 0.1) ** 2 <= 0.0625) expected++;
  assert.equal(200 - countUsable([m[0]!]), expected);
  assert.equal(200 - countUsable([m[1]!]), 6 + 4);

  const arm = staticMask(det, {
    regions: [{ kind: "beamstop", radiusMm: 0.05, armWidthMm: 0.11, armDirection: [1, 0, 0] }],
  });
  // The arm runs along +x from the beam: row s = 4 and 5 (centres at y = +-0.05) from x > 0.
  for (let f = 11; f < 20; f++) {
    assert.equal(arm[0]![4 * 20 + f], 0, `arm pixel (${f}, 4)`);
    assert.equal(arm[0]![5 * 20 + f], 0, `arm pixel (${f}, 5)`);
  }
  assert.equal(arm[0]![4 * 20 + 2], 1);
});

test("dynamic mask: consistently anomalous pixels, not one-off ones", async () => {
  const stills: Float64Array[][] = [];
  for (let i = 0; i < 6; i++) {
    const a = new Float64Array(200).fill(50),
      b = new Float64Array(200).fill(50);
    a[10] = 5e4; // hot on every still
    b[20] = 0; // dead on every still
    a[30] = NaN; // NaN on every still
    b[40] = -3; // negative on every still
    a[50 + i] = 4e4; // a different bright pixel (a Bragg peak) on each still
    if (i < 2) a[100] = 9e4; // hot on 2 of 6 stills: below the default half
    stills.push([a, b]);
  }
  const r = await dynamicMask(det, stills);
  assert.equal(r.stills, 6);
  const rejected = (m: Uint8Array[]) =>
    m.flatMap((p, pi) => [...p].map((v, k) => (v ? "" : `${pi}:${k}`)).filter(Boolean));
  assert.deepEqual(rejected(r.mask), ["0:10", "0:30", "1:20", "1:40"]);
  assert.equal(r.anomalousCount[0]![100], 2);
  // minFraction 0: the plain OR of the per-still masks.
  const any = await dynamicMask(det, stills, { minFraction: 0 });
  assert.deepEqual(rejected(any.mask), [
    "0:10",
    "0:30",
    "0:50",
    "0:51",
    "0:52",
    "0:53",
    "0:54",
    "0:55",
    "0:100",
    "1:20",
    "1:40",
  ]);
});

test("combined mask: pixel AND NOT Bragg, from bbox and from shoebox foreground", () => {
  const table = ReflectionTable.from({
    nrows: 2,
    identifiers: new Map(),
    columns: new Map([
      ["bbox", { type: "int6", data: new Int32Array([2, 5, 1, 3, 0, 1, 10, 12, 4, 6, 0, 1]) }],
      ["panel", { type: "std::size_t", data: new Float64Array([0, 1]) }],
      [
        "shoebox",
        {
          type: "Shoebox<>",
          data: [
            // 3 x 2 box on panel 0; foreground (bit 2) at its middle column only.
            { panel: 0, bbox: [2, 5, 1, 3, 0, 1], mask: new Int32Array([5, 3, 5, 5, 3, 5]) },
            { panel: 1, bbox: [10, 12, 4, 6, 0, 1], mask: new Int32Array([3, 3, 3, 5]) },
          ],
        },
      ],
    ]),
  });
  const box = braggMask(det, table, { source: "bbox" });
  assert.equal(countUsable(box), 6 + 4);
  assert.equal(box[0]![1 * 20 + 2], 1);
  assert.equal(box[1]![5 * 20 + 11], 1);
  const fg = braggMask(det, table, { source: "shoebox" });
  assert.equal(countUsable(fg), 2 + 3);
  assert.equal(fg[0]![1 * 20 + 3], 1);
  assert.equal(fg[0]![1 * 20 + 2], 0);
  assert.equal(fg[1]![5 * 20 + 11], 0);

  const pixel = staticMask(det, {
    regions: [{ kind: "rect", panel: 0, fast: [0, 3], slow: [0, 10] }],
  });
  const total = totalMask(pixel, box);
  // 30 pixels of the rectangle, 10 Bragg pixels, 2 in both (fast 2, slow 1..2 of panel 0).
  assert.equal(400 - countUsable(total), 30 + 10 - 2);
  assert.deepEqual(andMasks(pixel, pixel), pixel);
});

test("masks: shape mismatches are typed errors naming both sizes", async () => {
  assert.throws(
    () => staticMask(det, { trustedRangeFrom: [new Float64Array(200), new Float64Array(199)] }),
    (e: unknown) => e instanceof DiffuseInputError && /199 pixels.*20 x 10 = 200/.test(e.message),
  );
  await assert.rejects(
    dynamicMask(det, [[new Float64Array(200)]]),
    /1 panels but the detector has 2/,
  );
});
