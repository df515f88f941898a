// Step 1: bright-field disk detection on synthetic data with noise and saturated pixels.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  cropBounds,
  detectBrightField,
  detectorOffsets,
  diskPixels,
  meanDiffraction,
  SuperResError,
} from "../../src/superres/index.js";
import { syntheticStem4d } from "../../src/synth/stem.js";

const cases = [
  { diskCenterPx: [15.7, 16.4], diskRadiusPx: 8, diskEdgePx: 1 },
  { diskCenterPx: [12.2, 19.9], diskRadiusPx: 6.3, diskEdgePx: 2 },
  { diskCenterPx: [16.5, 14.5], diskRadiusPx: 10.6, diskEdgePx: 0.5 },
] as const;

test("disk centre within 0.5 px and radius within 1 px, with Poisson noise and hot pixels", () => {
  for (const [i, c] of cases.entries()) {
    // A short scan (16 x 16): the mean pattern keeps visible counting noise.
    const s = syntheticStem4d({
      ...c,
      scanShape: [16, 16],
      noise: true,
      brightCounts: 20,
      saturatedPixels: 6,
      seed: 10 + i,
    });
    const [, , dy, dx] = s.shape;
    const disk = detectBrightField(meanDiffraction(s.data, s.shape), dy, dx);
    const centreErr = Math.hypot(
      disk.centerYPx - c.diskCenterPx[0],
      disk.centerXPx - c.diskCenterPx[1],
    );
    const radiusErr = Math.abs(disk.radiusPx - c.diskRadiusPx);
    console.log(
      `case ${i}: centre error ${centreErr.toFixed(3)} px, radius error ${radiusErr.toFixed(3)} px`,
    );
    assert.ok(centreErr <= 0.5, `case ${i}: centre ${disk.centerYPx}, ${disk.centerXPx}`);
    assert.ok(radiusErr <= 1, `case ${i}: radius ${disk.radiusPx}`);
    assert.ok(
      s.truth.saturated.some((d) => s.truth.aperture[d]! > 0.5),
      "a hot pixel in the disk",
    );
  }
});

test("a stray bright spot away from the disk does not move it", () => {
  const s = syntheticStem4d({ scanShape: [8, 8] });
  const [, , dy, dx] = s.shape;
  const pattern = meanDiffraction(s.data, s.shape);
  // A 3x3 "Bragg disk" nearly as bright as the BF disk, in a corner.
  for (let y = 1; y < 4; y++) for (let x = 1; x < 4; x++) pattern[y * dx + x] = 180;
  const disk = detectBrightField(pattern, dy, dx);
  assert.ok(Math.hypot(disk.centerYPx - 15.7, disk.centerXPx - 16.4) < 0.05);
  assert.ok(Math.abs(disk.radiusPx - 8) < 0.1);
});

test("crop bounds centre the seed's reference pixel on the disk; offsets and disk pixels", () => {
  const disk = { centerYPx: 15.7, centerXPx: 16.4, radiusPx: 8 };
  const b = cropBounds(disk, 32, 32);
  assert.deepEqual(b, { y0: 6, y1: 26, x0: 6, x1: 26 });
  assert.equal(b.y0 + ((b.y1 - b.y0) >> 1), Math.round(disk.centerYPx));
  const k = detectorOffsets(b, disk);
  assert.ok(Math.abs(k.offsetYPx[0]! - (6 - 15.7)) < 1e-12);
  assert.ok(Math.abs(k.offsetXPx[1]! - (7 - 16.4)) < 1e-12);
  const inside = diskPixels(b, disk);
  assert.ok(Math.abs(inside.length - Math.PI * 64) < 12, `${inside.length} pixels`);
  // Clipped at the detector edge.
  assert.deepEqual(cropBounds({ centerYPx: 3, centerXPx: 30, radiusPx: 5 }, 32, 32), {
    y0: 0,
    y1: 10,
    x0: 23,
    x1: 32,
  });
});

test("typed errors: flat pattern, bad shapes, bad radius", () => {
  const err = (field: string) => (e: unknown) => e instanceof SuperResError && e.field === field;
  assert.throws(() => detectBrightField(new Float64Array(64).fill(3), 8, 8), err("pattern"));
  assert.throws(() => detectBrightField(new Float64Array(63), 8, 8), err("pattern"));
  assert.throws(() => detectBrightField(new Float64Array(4), 2, 2), err("detY"));
  assert.throws(() => meanDiffraction(new Float64Array(10), [2, 2, 2, 2]), err("data"));
  assert.throws(() => meanDiffraction(new Float64Array(0), [2, 2, 0, 2]), err("shape.detY"));
  const disk = { centerYPx: 5, centerXPx: 5, radiusPx: 0 };
  assert.throws(() => cropBounds(disk, 10, 10), err("radiusPx"));
  assert.throws(() => cropBounds({ ...disk, radiusPx: NaN }, 10, 10), err("radiusPx"));
  assert.throws(() => cropBounds({ ...disk, radiusPx: 2 }, 10, 10, -1), err("marginPx"));
  assert.throws(() => cropBounds({ ...disk, centerYPx: 50, radiusPx: 2 }, 10, 10), err("disk"));
});
