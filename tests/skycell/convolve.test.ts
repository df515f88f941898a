// Gaussian PSF convolution against scipy.ndimage.gaussian_filter (fixtures written by
// tests/skycell/helpers/make_convolve_fixtures.py with Debian's numpy 1.24 / scipy 1.10), and
// the mask/NaN-normalised variant against the same formula computed with scipy in float64;
// each case with direct taps and with the FFT path forced (large sigma: convolve-fft.test.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import {
  boundaryIndex,
  ConvolveError,
  gaussianFilter,
  gaussianKernel1d,
  normalizedGaussianFilter,
  type BoundaryMode,
} from "../../src/skycell/index.js";

const DIR = fileURLToPath(new URL("./fixtures/convolve/", import.meta.url));

interface Case {
  kind: "plain" | "normalized";
  input: string;
  mask?: string;
  shape: [number, number];
  sigma: number | [number, number];
  mode: BoundaryMode;
  truncate?: number;
  cval?: number;
  output: string;
  weight?: string;
}

const manifest = JSON.parse(fs.readFileSync(DIR + "manifest.json", "utf8")) as { cases: Case[] };

function f32(name: string): Float32Array {
  const b = fs.readFileSync(DIR + name);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}
function u8(name: string): Uint8Array {
  return new Uint8Array(fs.readFileSync(DIR + name));
}

/** max |a-b| / max(|b|, floor) over all pixels; NaN must match NaN. */
function assertClose(got: Float32Array, want: Float32Array, rel: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (Number.isNaN(w) || Number.isNaN(g)) {
      assert.ok(Number.isNaN(w) && Number.isNaN(g), `${what}: NaN mismatch at ${i}: ${g} vs ${w}`);
      continue;
    }
    const e = Math.abs(g - w) / Math.max(Math.abs(w), 1e-6);
    if (e > worst) [worst, at] = [e, i];
  }
  assert.ok(worst <= rel, `${what}: worst relative error ${worst} at ${at} > ${rel}`);
}

test("kernel taps match scipy's radius rule and sum to 1", () => {
  assert.equal(gaussianKernel1d(1.5).length, 2 * 6 + 1); // int(4*1.5+0.5) = 6
  assert.equal(gaussianKernel1d(60).length, 2 * 240 + 1);
  assert.equal(gaussianKernel1d(2, 2.5).length, 2 * 5 + 1);
  const k = gaussianKernel1d(4);
  assert.ok(Math.abs(k.reduce((a, b) => a + b, 0) - 1) < 1e-15);
  assert.deepEqual(Array.from(gaussianKernel1d(0)), [1]);
});

test("boundary index rules", () => {
  const map = (mode: BoundaryMode) =>
    [-5, -4, -3, -2, -1, 4, 5, 6, 7, 8].map((i) => boundaryIndex(i, 4, mode));
  assert.deepEqual(map("reflect"), [3, 3, 2, 1, 0, 3, 2, 1, 0, 0]);
  assert.deepEqual(map("mirror"), [1, 2, 3, 2, 1, 2, 1, 0, 1, 2]);
  assert.deepEqual(map("nearest"), [0, 0, 0, 0, 0, 3, 3, 3, 3, 3]);
  assert.deepEqual(map("wrap"), [3, 0, 1, 2, 3, 0, 1, 2, 3, 0]);
  assert.deepEqual(map("constant"), [-1, -1, -1, -1, -1, -1, -1, -1, -1, -1]);
});

for (const c of manifest.cases) {
  const label = `${c.kind} ${c.input} sigma=${JSON.stringify(c.sigma)} mode=${c.mode}${
    c.truncate !== undefined ? ` truncate=${c.truncate}` : ""
  }${c.cval !== undefined ? ` cval=${c.cval}` : ""}`;
  test(`matches scipy (direct taps and FFT): ${label}`, () => {
    const img = f32(c.input);
    for (const method of ["auto", "direct", "fft"] as const) {
      const opts = {
        sigma: c.sigma,
        mode: c.mode,
        method,
        ...(c.truncate !== undefined ? { truncate: c.truncate } : {}),
        ...(c.cval !== undefined ? { cval: c.cval } : {}),
      };
      const what = `${label} ${method}`;
      if (c.kind === "plain") {
        assertClose(gaussianFilter(img, c.shape, opts), f32(c.output), 1e-5, what);
      } else {
        const r = normalizedGaussianFilter(img, c.shape, { ...opts, mask: u8(c.mask!) });
        assertClose(r.data, f32(c.output), 1e-5, what);
        assertClose(r.weight, f32(c.weight!), 1e-5, what + " weight");
      }
    }
  });
}

test("normalised filter: unmasked image equals the plain filter; all-masked gives NaN", () => {
  const img = f32("image.f32");
  const shape: [number, number] = [64, 80];
  const plain = gaussianFilter(img, shape, { sigma: 2.5 });
  const norm = normalizedGaussianFilter(img, shape, { sigma: 2.5 });
  assertClose(norm.data, plain, 1e-6, "unmasked");
  assert.ok(norm.weight.every((v) => Math.abs(v - 1) < 1e-6));
  const all = normalizedGaussianFilter(img, shape, {
    sigma: 2,
    mask: new Uint8Array(64 * 80).fill(1),
  });
  assert.ok(all.data.every((v) => Number.isNaN(v)));
  assert.ok(all.weight.every((v) => v === 0));
  // a masked hole wider than the kernel footprint: NaN exactly where no valid pixel is in reach
  const mask = new Uint8Array(64 * 80);
  for (let y = 10; y < 40; y++) for (let x = 10; x < 50; x++) mask[y * 80 + x] = 1;
  const hole = normalizedGaussianFilter(img, shape, { sigma: 1, mask }); // radius 4
  for (let y = 0; y < 64; y++)
    for (let x = 0; x < 80; x++) {
      const deep = y >= 14 && y < 36 && x >= 14 && x < 46;
      assert.equal(Number.isNaN(hole.data[y * 80 + x]!), deep, `(${y},${x})`);
    }
});

test("typed errors for bad arguments", () => {
  const img = new Float32Array(12);
  assert.throws(() => gaussianFilter(img, [3, 5], { sigma: 1 }), ConvolveError);
  assert.throws(() => gaussianFilter(img, [3, 4], { sigma: -1 }), ConvolveError);
  assert.throws(
    () => gaussianFilter(img, [3, 4], { sigma: 1, mode: "bogus" as BoundaryMode }),
    ConvolveError,
  );
  assert.throws(
    () => normalizedGaussianFilter(img, [3, 4], { sigma: 1, mask: new Uint8Array(3) }),
    ConvolveError,
  );
  assert.throws(
    () => normalizedGaussianFilter(img, [3, 4], { sigma: 1, mode: "constant", cval: 1 }),
    ConvolveError,
  );
});
