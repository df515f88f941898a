// Step 5: shift-and-add conventions, and the proof that the super-resolved image resolves what
// the standard BF does not (Fourier ring correlation against the generator's specimen).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  fourierRingCorrelation,
  fourierUpsample,
  ShiftAndAdd,
  standardBrightField,
  superResolve,
  SuperResError,
} from "../../src/superres/index.js";
import { syntheticStem4d } from "../../src/synth/stem.js";

const err = (field: string) => (e: unknown) => e instanceof SuperResError && e.field === field;

test("shift-and-add: samples land at (r - s) * factor; images are averaged about their means", () => {
  const acc = new ShiftAndAdd(4, 4, 2);
  const image = Float64Array.from({ length: 16 }, (_, i) => 1 + i);
  acc.add(image, 1, [0.5], [-0.25]);
  const { image: out, weight } = acc.result();
  // Scan (y, x) -> fine (2y - 1, 2x + 0.5): odd rows, half a sample on each of two columns.
  for (let Y = 0; Y < 8; Y++)
    for (let X = 0; X < 8; X++) {
      const y = (Y + 1) / 2;
      const reached = Y % 2 === 1 && y < 4;
      assert.equal(weight[Y * 8 + X], reached ? 0.5 : 0, `weight ${Y},${X}`);
      if (reached) assert.equal(out[Y * 8 + X], image[y * 4 + (X >> 1)]);
    }
  // Unreached pixels hold the mean level (the image's mean, 8.5).
  assert.equal(out[0], 8.5);
  const two = new ShiftAndAdd(2, 2, 1);
  two.add(Float64Array.from([2, 2, 2, 2, 4, 4, 4, 4]), 2, [0, 0], [0, 0]);
  assert.deepEqual(Array.from(two.result().image), [3, 3, 3, 3]);
});

test("shift-and-add and standard BF: typed errors", () => {
  assert.throws(() => new ShiftAndAdd(8, 8, 0), err("factor"));
  assert.throws(() => new ShiftAndAdd(8, 8, 1.5), err("factor"));
  const acc = new ShiftAndAdd(2, 2, 2);
  assert.throws(() => acc.result(), err("images"));
  assert.throws(() => acc.add(new Float64Array(4), 1, [0], [0]), err("images"));
  assert.throws(() => acc.add(new Float64Array(4).fill(1), 1, [0, 1], [0]), err("shiftYPx"));
  assert.throws(() => acc.add(new Float64Array(4).fill(1), 1, [NaN], [0]), err("images"));
  assert.deepEqual(Array.from(standardBrightField([1, 2, 3, 4, 5, 6], 3, 1, 2)), [9, 12]);
  assert.throws(() => standardBrightField([1, 2, 3], 2, 1, 2), err("images"));
});

test("Fourier upsampling is exact for a band-limited image; FRC of an image with itself is 1", () => {
  const [ny, nx, f] = [16, 8, 4];
  const wave = (y: number, x: number) =>
    Math.cos(2 * Math.PI * ((3 * y) / ny + (2 * x) / nx) + 0.4);
  const image = Float64Array.from({ length: ny * nx }, (_, i) => wave(Math.floor(i / nx), i % nx));
  const up = fourierUpsample(image, ny, nx, f);
  for (let Y = 0; Y < ny * f; Y++)
    for (let X = 0; X < nx * f; X++)
      assert.ok(Math.abs(up[Y * nx * f + X]! - wave(Y / f, X / f)) < 1e-12);
  const frc = fourierRingCorrelation(up, up, ny * f, nx * f);
  assert.equal(frc.frc.length, (nx * f) / 2);
  assert.ok(frc.frc.every((v) => v === 0 || Math.abs(v - 1) < 1e-12));
  assert.throws(() => fourierUpsample(image, ny, nx, 0), err("factor"));
});

/** First ring (cycles per scan px) where the FRC drops below 0.5, or beyond the last. */
function crossing(freq: Float64Array, frc: Float64Array, limit: number): number {
  for (let k = 0; k < frc.length && freq[k]! <= limit; k++) if (frc[k]! < 0.5) return freq[k]!;
  return Infinity;
}

for (const noise of [false, true])
  test(`super-resolution beats standard BF by FRC against the specimen (${noise ? "Poisson noise" : "noise-free"})`, () => {
    const s = syntheticStem4d({ noise, saturatedPixels: 4 });
    const [sy, sx] = s.shape;
    const factor = 4;
    const r = superResolve(s.data, s.shape, { upsampleFactor: factor });
    const truth = s.truth.specimen(factor);
    const sr = fourierRingCorrelation(r.superRes, truth, sy * factor, sx * factor);
    const bf = fourierRingCorrelation(
      fourierUpsample(r.standardBf, sy, sx, factor),
      truth,
      sy * factor,
      sx * factor,
    );
    const freq = sr.frequencyPerPx.map((v) => v * factor);
    // The specimen has no detail beyond specimenMaxFrequency (0.8): compare up to 0.75.
    const band = (lo: number, hi: number, frc: Float64Array) => {
      const v = Array.from(frc).filter((_, k) => freq[k]! >= lo && freq[k]! < hi);
      return { min: Math.min(...v), mean: v.reduce((a, b) => a + b, 0) / v.length };
    };
    const bands = [
      [0, 0.25],
      [0.25, 0.5],
      [0.5, 0.75],
    ] as const;
    const report = bands.map(([lo, hi]) => {
      const a = band(lo, hi, sr.frc);
      const b = band(lo, hi, bf.frc);
      return `[${lo}, ${hi}) SR mean ${a.mean.toFixed(3)} min ${a.min.toFixed(3)} | BF mean ${b.mean.toFixed(3)} min ${b.min.toFixed(3)}`;
    });
    const srCross = crossing(freq, sr.frc, 0.75);
    const bfCross = crossing(freq, bf.frc, 0.75);
    console.log(
      `noise ${noise}: FRC 0.5 at SR ${srCross} / BF ${bfCross.toFixed(3)} cycles per scan px; ${report.join("; ")}; ${r.pixelsReconstructed} pixels`,
    );
    assert.equal(
      srCross,
      Infinity,
      "SR FRC stays above 0.5 up to 0.75 cycles/px (1.5x the scan Nyquist)",
    );
    assert.ok(bfCross < 0.3, `BF FRC drops below 0.5 at ${bfCross}`);
    assert.ok(band(0.5, 0.75, sr.frc).min > (noise ? 0.9 : 0.99), "SR above the scan Nyquist");
    assert.ok(band(0.25, 0.5, bf.frc).mean < 0.1, "BF between 0.25 and 0.5 cycles/px");
    for (const [lo, hi] of bands) assert.ok(band(lo, hi, sr.frc).mean >= band(lo, hi, bf.frc).mean);
    assert.ok(
      r.superResWeight.every((w) => w > 0),
      "every fine pixel received samples",
    );
  });
