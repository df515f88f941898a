// Step 4b: the affine aberration fit, exactly on model shifts and end to end on synthetic data,
// with the transposed and 180-degree cases.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fitAberrations, superResolve, SuperResError } from "../../src/superres/index.js";
import { stemAberrationMatrix, syntheticStem4d } from "../../src/synth/stem.js";

/** Model shifts s = M k + t on a 15 x 15 grid of detector offsets. */
function modelShifts(m: readonly number[], t: readonly [number, number]) {
  const ky: number[] = [];
  const kx: number[] = [];
  for (let y = -7; y <= 7; y++)
    for (let x = -7; x <= 7; x++) {
      ky.push(y + 0.3);
      kx.push(x - 0.2);
    }
  const sy = ky.map((v, i) => m[0]! * v + m[1]! * kx[i]! + t[0]);
  const sx = ky.map((v, i) => m[2]! * v + m[3]! * kx[i]! + t[1]);
  return { ky, kx, sy, sx, quality: ky.map(() => 0.9) };
}

const close = (a: number, b: number, tol: number, what: string) =>
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

test("exact model shifts give back rotation, defocus, astigmatism, transposition and offset", () => {
  for (const transposed of [false, true])
    for (const rotationDeg of [0, 37, -150, 179]) {
      const astig = { magnitude: 0.05, angleDeg: -62 };
      const m = stemAberrationMatrix(rotationDeg, 0.42, astig, transposed);
      const d = modelShifts(m, [0.7, -1.1]);
      const fit = fitAberrations(d.ky, d.kx, d.sy, d.sx, d.quality);
      const what = `rotation ${rotationDeg} transposed ${transposed}`;
      assert.equal(fit.transposed, transposed, what);
      close(fit.rotationDeg, rotationDeg, 1e-9, what);
      close(fit.defocus, 0.42, 1e-12, what);
      close(fit.astigmatism.magnitude, 0.05, 1e-12, what);
      close(fit.astigmatism.angleDeg, -62, 1e-9, what);
      close(fit.offsetPx[0], 0.7, 1e-12, what);
      close(fit.offsetPx[1], -1.1, 1e-12, what);
      assert.ok(fit.residualRmsPx < 1e-12 && fit.pixelsUsed === 225);
      fit.matrix.forEach((v, i) => close(v, m[i]!, 1e-12, `${what} M[${i}]`));
    }
});

test("180 degrees: the defocus sign convention picks the rotation", () => {
  const m = stemAberrationMatrix(25, -0.3, { magnitude: 0.02, angleDeg: 10 }, false);
  const d = modelShifts(m, [0, 0]);
  const plus = fitAberrations(d.ky, d.kx, d.sy, d.sx, d.quality);
  const minus = fitAberrations(d.ky, d.kx, d.sy, d.sx, d.quality, { defocusSign: -1 });
  close(minus.rotationDeg, 25, 1e-9, "defocusSign -1");
  close(minus.defocus, -0.3, 1e-12, "defocusSign -1");
  close(plus.rotationDeg, 25 - 180, 1e-9, "defocusSign +1");
  close(plus.defocus, 0.3, 1e-12, "defocusSign +1");
  // -D has the same astigmatism turned by 90 degrees.
  close(minus.astigmatism.angleDeg, 10, 1e-9, "astigmatism");
  close(plus.astigmatism.angleDeg, -80, 1e-9, "astigmatism");
});

test("low-quality pixels and outliers are left out of the fit", () => {
  const m = stemAberrationMatrix(-70, 0.25, { magnitude: 0, angleDeg: 0 }, false);
  const d = modelShifts(m, [0.1, 0.2]);
  // Garbage shifts: five with low quality, five wrong by whole pixels with full quality.
  for (let i = 0; i < 5; i++) {
    d.sy[10 * i] = 7;
    d.quality[10 * i] = 0.05;
    d.sx[10 * i + 5] = d.sx[10 * i + 5]! + 2 + i;
  }
  const fit = fitAberrations(d.ky, d.kx, d.sy, d.sx, d.quality);
  close(fit.rotationDeg, -70, 1e-9, "rotation");
  close(fit.defocus, 0.25, 1e-12, "defocus");
  assert.equal(fit.pixelsUsed, 215);
  for (let i = 0; i < 5; i++) assert.equal(fit.used[10 * i]! + fit.used[10 * i + 5]!, 0);
  assert.throws(
    () => fitAberrations(d.ky, d.kx, d.sy, d.sx, d.quality, { qualityThreshold: 0.95 }),
    (e: unknown) => e instanceof SuperResError && e.field === "quality",
  );
  assert.throws(
    () => fitAberrations(d.ky, d.kx.slice(1), d.sy, d.sx, d.quality),
    (e: unknown) => e instanceof SuperResError && e.field === "offsetXPx",
  );
});

const endToEnd = [
  { name: "default (20 deg, defocus 0.3)", options: {}, defocusSign: 1 },
  { name: "Poisson noise", options: { noise: true }, defocusSign: 1 },
  {
    name: "transposed, overfocus, -110 deg",
    options: { transposed: true, defocus: -0.25, rotationDeg: -110 },
    defocusSign: -1,
  },
] as const;

for (const c of endToEnd)
  test(`end to end, ${c.name}: defocus and rotation within 2%`, () => {
    const s = syntheticStem4d({ saturatedPixels: 4, ...c.options });
    const o = s.truth.options;
    const r = superResolve(s.data, s.shape, { defocusSign: c.defocusSign });
    const fit = r.fit;
    const defocusErr = Math.abs(fit.defocus - o.defocus) / Math.abs(o.defocus);
    const rotationErr = Math.abs(fit.rotationDeg - o.rotationDeg) / Math.abs(o.rotationDeg);
    console.log(
      `${c.name}: defocus ${fit.defocus.toFixed(4)} (${(100 * defocusErr).toFixed(2)}%), ` +
        `rotation ${fit.rotationDeg.toFixed(3)} deg (${(100 * rotationErr).toFixed(2)}%), ` +
        `astigmatism ${fit.astigmatism.magnitude.toFixed(4)} at ${fit.astigmatism.angleDeg.toFixed(1)} deg, ` +
        `transposed ${fit.transposed}, residual ${fit.residualRmsPx.toFixed(4)} px, ${fit.pixelsUsed} pixels`,
    );
    assert.equal(fit.transposed, o.transposed);
    assert.ok(defocusErr <= 0.02, `defocus ${fit.defocus}`);
    assert.ok(rotationErr <= 0.02, `rotation ${fit.rotationDeg}`);
    assert.ok(Math.abs(fit.astigmatism.magnitude - o.astigmatism.magnitude) < 0.005);
    assert.ok(Math.abs(fit.astigmatism.angleDeg - o.astigmatism.angleDeg) < 5);
  });
