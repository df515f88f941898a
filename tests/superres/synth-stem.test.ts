// The synthetic 4D-STEM generator: fast, deterministic, and its images are the specimen
// shifted exactly as its truth says.
import { test } from "node:test";
import assert from "node:assert/strict";
import { stemAberrationMatrix, syntheticStem4d } from "../../src/synth/stem.js";

test("defaults: [64, 64, 32, 32], the same for the same seed", () => {
  const a = syntheticStem4d({ noise: true, saturatedPixels: 3 });
  assert.deepEqual(a.shape, [64, 64, 32, 32]);
  const b = syntheticStem4d({ noise: true, saturatedPixels: 3 });
  assert.ok(a.data.every((v, i) => v === b.data[i]));
  assert.ok(a.data.every(Number.isInteger), "Poisson counts");
  const c = syntheticStem4d({ noise: true, saturatedPixels: 3, seed: 2 });
  assert.ok(a.data.some((v, i) => v !== c.data[i]));
  for (const d of a.truth.saturated)
    for (let p = 0; p < 64 * 64; p += 97) assert.equal(a.data[p * 1024 + d], 65535);
});

test("aberration matrix conventions: R turns +y towards +x, P swaps the detector axes", () => {
  const none = { magnitude: 0, angleDeg: 0 };
  const close = (m: number[], e: number[]) =>
    m.forEach((v, i) => assert.ok(Math.abs(v - e[i]!) < 1e-15, `${m} vs ${e}`));
  close(stemAberrationMatrix(90, 1, none, false), [0, -1, 1, 0]);
  close(stemAberrationMatrix(0, 0.3, { magnitude: 0.1, angleDeg: 0 }, false), [0.4, 0, 0, 0.2]);
  close(stemAberrationMatrix(0, 0, { magnitude: 0.1, angleDeg: 45 }, true), [0.1, 0, 0, 0.1]);
  close(stemAberrationMatrix(90, 1, none, true), [-1, 0, 0, 1]);
});

test("each virtual image is the specimen at (r - s(k)); aperture 0.5 at the radius; unit-RMS specimen", () => {
  // Integer centre, no rotation: pixel k = (2, -1) is shifted by exactly (0.5, -0.25) scan px.
  const s = syntheticStem4d({
    scanShape: [16, 32],
    diskCenterPx: [16, 16],
    rotationDeg: 0,
    defocus: 0.25,
    astigmatism: { magnitude: 0, angleDeg: 0 },
  });
  const o = s.truth.options;
  const [sy, sx, , dx] = s.shape;
  const f = 4;
  const spec = s.truth.specimen(f);
  const d = (16 + 2) * dx + 16 - 1;
  assert.equal(s.truth.shiftYPx[d], 0.5);
  assert.equal(s.truth.shiftXPx[d], -0.25);
  for (let y = 0; y < sy; y++)
    for (let x = 0; x < sx; x++) {
      // Fine pixel of scan position (y - 0.5, x + 0.25), wrapped (the field is periodic).
      const Y = (f * y - 2 + f * sy) % (f * sy);
      const X = f * x + 1;
      const expected = o.darkCounts + o.brightCounts * (1 + o.contrast * spec[Y * f * sx + X]!);
      assert.ok(Math.abs(s.data[(y * sx + x) * 1024 + d]! - expected) < 1e-9, `${y},${x}`);
    }
  // At the radius (k = (0, 8)) the linear edge is at half height; outside only the dark level.
  assert.equal(s.truth.aperture[16 * dx + 24], 0.5);
  assert.equal(s.data[16 * dx + 30], o.darkCounts);
  const two = s.truth.specimen(2);
  const mean = two.reduce((a, b) => a + b, 0) / two.length;
  const rms = Math.sqrt(two.reduce((a, b) => a + b * b, 0) / two.length);
  assert.ok(Math.abs(mean) < 1e-12 && Math.abs(rms - 1) < 1e-12, `mean ${mean}, rms ${rms}`);
  // Factor 1 would alias the detail above the scan Nyquist: refused.
  assert.throws(() => s.truth.specimen(1), RangeError);
});
