// Steps 2-3 against numpy/scipy on the committed fixture (fixtures/make_fixtures.py: the
// seed's formulas with gaussian_filter, fft2/ifft2, abs^2, fftshift, energy normalization).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  correlateSpectra,
  gaussianFilter,
  referenceImage,
  referencePixel,
  scanSpectra,
  SuperResError,
  virtualImages,
  type CropBounds,
  type Shape4,
} from "../../src/superres/index.js";
import { loadFixture } from "./fixtures/truth.js";

interface Fixture {
  shape: Shape4;
  bounds: CropBounds;
  data: number[];
  bigFT: { re: number[]; im: number[] };
  cases: { sigma: number; subtractMean: boolean; reference: number[]; corr: number[] }[];
}

const fx = loadFixture<Fixture>("correlation.json");
const [sy, sx] = fx.shape;
const cropY = fx.bounds.y1 - fx.bounds.y0;
const cropX = fx.bounds.x1 - fx.bounds.x0;
const nCrop = cropY * cropX;
const nScan = sy * sx;

/** numpy's [scanY, scanX, cropY, cropX] value of pixel c at scan position p. */
const seedLayout = (a: number[], c: number, p: number) => a[p * nCrop + c]!;

function assertClose(actual: number, expected: number, tol: number, what: string) {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected}`);
}

test("scanSpectra (bigFT) matches numpy.fft.fft2 over the scan axes", () => {
  const images = virtualImages(fx.data, fx.shape, fx.bounds);
  const spectra = scanSpectra(images, nCrop, sy, sx);
  const scale = Math.max(...fx.bigFT.re.map(Math.abs));
  for (let c = 0; c < nCrop; c++)
    for (let p = 0; p < nScan; p++) {
      assertClose(spectra.re[c * nScan + p]!, seedLayout(fx.bigFT.re, c, p), 1e-12 * scale, "re");
      assertClose(spectra.im[c * nScan + p]!, seedLayout(fx.bigFT.im, c, p), 1e-12 * scale, "im");
    }
});

test("reference image and correlations match scipy/numpy to 1e-10 (both sigmas, both modes)", () => {
  const images = virtualImages(fx.data, fx.shape, fx.bounds);
  const spectra = scanSpectra(images, nCrop, sy, sx);
  for (const k of fx.cases) {
    const reference = referenceImage(fx.data, fx.shape, fx.bounds, k.sigma);
    for (let p = 0; p < nScan; p++)
      assertClose(reference[p]!, k.reference[p]!, 1e-10, `reference sigma ${k.sigma}`);
    const corr = correlateSpectra(spectra, nCrop, sy, sx, reference, {
      subtractMean: k.subtractMean,
    });
    for (let c = 0; c < nCrop; c++)
      for (let p = 0; p < nScan; p++)
        assertClose(
          corr[c * nScan + p]!,
          seedLayout(k.corr, c, p),
          1e-10,
          `corr sigma ${k.sigma} subtractMean ${k.subtractMean} pixel ${c} scan ${p}`,
        );
  }
});

test("a block of any crop pixels gives the same maps as the whole crop", () => {
  const k = fx.cases[0]!;
  const reference = referenceImage(fx.data, fx.shape, fx.bounds, k.sigma);
  const pixels = [7, 2, 11];
  const block = virtualImages(fx.data, fx.shape, fx.bounds, pixels);
  const corr = correlateSpectra(scanSpectra(block, 3, sy, sx), 3, sy, sx, reference);
  pixels.forEach((c, b) => {
    for (let p = 0; p < nScan; p++)
      assertClose(corr[b * nScan + p]!, seedLayout(k.corr, c, p), 1e-10, `pixel ${c}`);
  });
  // The seed's reference pixel is the crop's (cropY // 2, cropX // 2).
  assert.equal(referencePixel(fx.bounds), (cropY >> 1) * cropX + (cropX >> 1));
});

test("typed errors name the bad argument", () => {
  const err = (field: string) => (e: unknown) => e instanceof SuperResError && e.field === field;
  assert.throws(() => scanSpectra(new Float64Array(0), 1, 0, 16), err("scanY"));
  assert.throws(() => scanSpectra(new Float64Array(10), 1, 8, 16), err("images"));
  assert.throws(() => virtualImages(fx.data, [sy, sx, 4, 4], fx.bounds), err("data"));
  assert.throws(
    () => virtualImages(fx.data, fx.shape, { y0: 0, y1: 9, x0: 0, x1: 2 }),
    err("bounds"),
  );
  assert.throws(() => virtualImages(fx.data, fx.shape, fx.bounds, [nCrop]), err("pixels"));
  assert.throws(() => gaussianFilter(new Float64Array(4), 2, 2, -1), err("referenceSmoothingPx"));
  const spectra = { re: new Float64Array(nScan), im: new Float64Array(nScan) };
  assert.throws(() => correlateSpectra(spectra, 1, sy, sx, new Float64Array(3)), err("reference"));
});
