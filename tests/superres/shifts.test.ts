// Step 4a: sub-pixel peaks, and the measured shift maps against the generator's truth.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  findShifts,
  referencePixel,
  superResolve,
  SuperResError,
} from "../../src/superres/index.js";
import { syntheticStem4d } from "../../src/synth/stem.js";
import { shiftErrors } from "./fixtures/truth.js";

test("an elongated, rotated Gaussian peak is located exactly, also across the wrap", () => {
  const [ny, nx] = [16, 32];
  for (const [py, px] of [
    [9.3, 20.71],
    [0.2, 31.6],
  ] as const) {
    const map = new Float64Array(ny * nx);
    for (let y = 0; y < ny; y++)
      for (let x = 0; x < nx; x++) {
        // Nearest periodic image of the peak, so the map is smooth across the wrap.
        const dy = y - py - ny * Math.round((y - py) / ny);
        const dx = x - px - nx * Math.round((x - px) / nx);
        map[y * nx + x] = 0.8 * Math.exp(-(1.1 * dy * dy + 0.9 * dy * dx + 0.6 * dx * dx));
      }
    const s = findShifts(map, 1, ny, nx);
    const wrap = (v: number, n: number) => v - n * Math.round(v / n);
    assert.ok(Math.abs(wrap(s.shiftYPx[0]! - (py - ny / 2), ny)) < 1e-9, `y ${s.shiftYPx[0]}`);
    assert.ok(Math.abs(wrap(s.shiftXPx[0]! - (px - nx / 2), nx)) < 1e-9, `x ${s.shiftXPx[0]}`);
    assert.ok(s.quality[0]! > 0.7 && s.quality[0]! <= 0.8);
  }
});

test("an all-zero map (no energy) gives quality 0 and a finite shift", () => {
  const s = findShifts(new Float64Array(2 * 64), 2, 8, 8);
  assert.deepEqual(Array.from(s.quality), [0, 0]);
  assert.ok(s.shiftYPx.every(Number.isFinite) && s.shiftXPx.every(Number.isFinite));
  assert.throws(
    () => findShifts(new Float64Array(63), 1, 8, 8),
    (e: unknown) => e instanceof SuperResError && e.field === "correlations",
  );
});

// Noise-free the error is the aliased detail (specimen up to 0.8 cycles/px, sampled at 1):
// each image's aliases move differently from its in-band content. Poisson noise at 1000
// counts per pixel and probe position (per-pixel SNR 3 at 10% contrast) adds little; at 200
// counts (SNR 1.4) the error depends on the seed: 0.064, 0.048, 0.043 px for seeds 1-3.
const noiseCases = [
  { name: "noise-free", options: { noise: false }, maxRmsPx: 0.05 },
  {
    name: "Poisson noise, 1000 counts",
    options: { noise: true, brightCounts: 1000 },
    maxRmsPx: 0.05,
  },
  {
    name: "Poisson noise, 200 counts",
    options: { noise: true, brightCounts: 200 },
    maxRmsPx: 0.08,
  },
] as const;

for (const c of noiseCases)
  test(`shift maps vs truth, ${c.name}: RMS <= ${c.maxRmsPx} px`, () => {
    const s = syntheticStem4d({ saturatedPixels: 4, ...c.options });
    const r = superResolve(s.data, s.shape, { referenceSmoothingPx: 0.5 });
    const ref = referencePixel(r.bounds);
    const e = shiftErrors(
      r.bounds,
      s.shape[3],
      r.shiftYPx,
      r.shiftXPx,
      s.truth,
      (k) => r.fit.used[k] === 1 && k !== ref,
    );
    console.log(
      `${c.name}: RMS ${e.rmsPx.toFixed(4)} px, max ${e.maxPx.toFixed(4)} px over ${e.count} pixels`,
    );
    assert.ok(e.count > 200, `${e.count} pixels`);
    assert.ok(e.rmsPx <= c.maxRmsPx, `RMS ${e.rmsPx}`);
    // The hot pixels in the disk have flat images: quality 0, left out.
    const cropX = r.bounds.x1 - r.bounds.x0;
    for (const d of s.truth.saturated) {
      const [y, x] = [Math.floor(d / s.shape[3]) - r.bounds.y0, (d % s.shape[3]) - r.bounds.x0];
      if (y >= 0 && y < r.bounds.y1 - r.bounds.y0 && x >= 0 && x < cropX)
        assert.equal(r.quality[y * cropX + x], 0);
    }
  });

test("a smoother reference (sigma 1 px) damps the aliased detail: noise-free RMS <= 0.02 px", () => {
  const s = syntheticStem4d();
  const r = superResolve(s.data, s.shape, { referenceSmoothingPx: 1 });
  const ref = referencePixel(r.bounds);
  const e = shiftErrors(
    r.bounds,
    s.shape[3],
    r.shiftYPx,
    r.shiftXPx,
    s.truth,
    (c) => r.fit.used[c] === 1 && c !== ref,
  );
  console.log(`sigma 1: RMS ${e.rmsPx.toFixed(4)} px over ${e.count} pixels`);
  assert.ok(e.rmsPx <= 0.02, `RMS ${e.rmsPx}`);
});
