// Large-sigma Gaussian filtering (the FFT path, radius > image size / 2) and the strip passes
// against scipy.ndimage.gaussian_filter in float64 (fixtures written by
// tests/skycell/helpers/make_convolve_fixtures.py: manifest-large.json, references kept at a
// grid of sample pixels).
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import {
  boundaryIndex,
  ConvolveError,
  convolveColsPass,
  convolveRowsPass,
  gaussianFilter,
  gaussianKernel1d,
  gaussianPlan,
  normalizedColsPass,
  normalizedGaussianFilter,
  normalizedRowsPass,
  type BoundaryMode,
  type ConvolveMethod,
  type FloatArray,
  type GaussianOptions,
} from "../../src/skycell/index.js";

const DIR = fileURLToPath(new URL("./fixtures/convolve/", import.meta.url));

interface Case {
  kind: "plain" | "normalized";
  /** image; masked: with NaNs and masked_value where masked; inf: with inf_pixels, no mask. */
  input: "image" | "masked" | "inf";
  sigma: number | [number, number];
  mode: BoundaryMode;
  cval?: number;
  output: string;
  weight?: string;
}

interface Manifest {
  shape: [number, number];
  image: string;
  mask: string;
  masked_value: number;
  nans: number[];
  inf_pixels: Record<"nan" | "pos" | "neg", number[]>;
  rows: number[];
  cols: number[];
  cases: Case[];
}

const M = JSON.parse(fs.readFileSync(DIR + "manifest-large.json", "utf8")) as Manifest;
const [H, W] = M.shape;

function read(name: string): Buffer {
  return fs.readFileSync(DIR + name);
}
function f64(name: string): Float64Array {
  const b = read(name);
  return new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}
const image = (() => {
  const b = read(M.image);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
})();
const mask = new Uint8Array(read(M.mask));
const masked = image.map((v, i) => (mask[i] ? M.masked_value : v));
for (const i of M.nans) masked[i] = NaN;
const withInf = image.slice();
for (const [key, v] of [
  ["nan", NaN],
  ["pos", Infinity],
  ["neg", -Infinity],
] as const)
  for (const i of M.inf_pixels[key]) withInf[i] = v;

/** Largest finite |value| of the input: the scale the FFT path's rounding errors refer to. */
function scale(a: Float32Array): number {
  return a.reduce((m, v) => (Number.isFinite(v) ? Math.max(m, Math.abs(v)) : m), 0);
}

/**
 * Compares got (full image) at the sample grid with want (grid values): NaN must match NaN,
 * else |got - want| <= max(rel * |want|, abs).
 */
function assertGrid(got: FloatArray, want: Float64Array, rel: number, abs: number, what: string) {
  let k = 0;
  for (const y of M.rows)
    for (const x of M.cols) {
      const g = got[y * W + x]!;
      const w = want[k++]!;
      if (Number.isNaN(w) || Number.isNaN(g)) {
        assert.ok(Number.isNaN(w) && Number.isNaN(g), `${what}: NaN mismatch at (${y},${x})`);
        continue;
      }
      const tol = Math.max(rel * Math.abs(w), abs);
      if (!Number.isFinite(w)) assert.equal(g, w, `${what}: (${y},${x})`);
      else assert.ok(Math.abs(g - w) <= tol, `${what}: (${y},${x}) ${g} vs ${w}, tolerance ${tol}`);
    }
  assert.equal(k, want.length, `${what}: grid size`);
}

function sharedF64(n: number): Float64Array {
  return new Float64Array(new SharedArrayBuffer(8 * n));
}

/** Splits [0, n) into `parts` uneven bands (what worker threads would each take). */
function bands(n: number, parts: number): [number, number][] {
  const cuts = [0];
  for (let p = 1; p < parts; p++) cuts.push(Math.floor((n * p * p) / (parts * parts)));
  cuts.push(n);
  return cuts.slice(1).map((b, i) => [cuts[i]!, b]);
}

const METHODS: ConvolveMethod[] = ["auto", "direct", "fft"];

for (const c of M.cases) {
  const label = `${c.kind} ${c.input} sigma=${JSON.stringify(c.sigma)} mode=${c.mode}${
    c.cval !== undefined ? ` cval=${c.cval}` : ""
  }`;
  const input = { image, masked, inf: withInf }[c.input];
  const caseMask = c.input === "masked" ? mask : undefined;
  const base: GaussianOptions = {
    sigma: c.sigma,
    mode: c.mode,
    ...(c.cval !== undefined ? { cval: c.cval } : {}),
  };
  const tight = 1e-12 * scale(input);

  test(`matches scipy (float32 result, every method): ${label}`, () => {
    for (const method of METHODS) {
      const opts = { ...base, method };
      if (c.kind === "plain") {
        assertGrid(gaussianFilter(input, M.shape, opts), f64(c.output), 1e-5, 1e-6, method);
      } else {
        const r = normalizedGaussianFilter(input, M.shape, { ...opts, mask: caseMask });
        assertGrid(r.data, f64(c.output), 1e-5, 1e-6, method);
        assertGrid(r.weight, f64(c.weight!), 1e-5, 1e-6, method + " weight");
      }
    }
  });

  test(`strip passes in uneven bands over SharedArrayBuffers, float64: ${label}`, () => {
    for (const method of ["direct", "fft"] as const) {
      const plan = gaussianPlan(M.shape, { ...base, method });
      if (c.kind === "plain") {
        const tmp = sharedF64(H * W);
        const out = sharedF64(H * W);
        for (const [y0, y1] of bands(H, 3).reverse()) convolveRowsPass(input, tmp, plan, y0, y1);
        for (const [x0, x1] of bands(W, 3)) convolveColsPass(tmp, out, plan, x0, x1);
        assertGrid(out, f64(c.output), 0, tight, method);
      } else {
        const num = sharedF64(H * W);
        const den = sharedF64(H * W);
        const data = sharedF64(H * W);
        const weight = sharedF64(H * W);
        for (const [y0, y1] of bands(H, 3))
          normalizedRowsPass(input, caseMask, num, den, plan, y0, y1);
        for (const [x0, x1] of bands(W, 3).reverse())
          normalizedColsPass(num, den, data, weight, plan, x0, x1);
        // The weight is a sum of taps (scale 1); data divides by it, down to ~1e-3 here.
        assertGrid(weight, f64(c.weight!), 0, 1e-14, method + " weight");
        assertGrid(data, f64(c.output), 1e-10, tight, method);
      }
    }
  });
}

test("auto picks direct taps for small radii and FFT for large ones", () => {
  const small = gaussianPlan([2000, 2000], { sigma: 1.5 });
  assert.equal(small.x.method, "direct");
  assert.equal(small.y.method, "direct");
  const window = gaussianPlan([696, 2496], { sigma: 6 }); // a PS1 row window at small sigma
  assert.equal(window.x.method, "direct");
  assert.equal(window.y.method, "direct");
  const ps1 = gaussianPlan([2000, 1000], { sigma: 60 });
  assert.equal(ps1.x.method, "fft");
  assert.equal(ps1.y.method, "fft");
  assert.ok(ps1.y.fftLength >= 2000 + 2 * 240 && ps1.x.fftLength >= 1000 + 2 * 240);
  const forced = gaussianPlan([50, 50], { sigma: 1, method: "fft" });
  assert.equal(forced.x.method, "fft");
  // sigma 0 leaves an axis alone whatever the method
  assert.equal(gaussianPlan([50, 50], { sigma: [0, 5], method: "fft" }).y.method, "direct");
});

test("FFT path: a NaN spreads over the kernel footprint only, as scipy's taps do", () => {
  const img = new Float32Array(40 * 300).fill(1);
  img[20 * 300 + 150] = NaN;
  const out = gaussianFilter(img, [40, 300], { sigma: 4, method: "fft" }); // radius 16
  for (let y = 0; y < 40; y++)
    for (let x = 0; x < 300; x++) {
      const inside = Math.abs(y - 20) <= 16 && Math.abs(x - 150) <= 16;
      const v = out[y * 300 + x]!;
      assert.ok(inside ? Number.isNaN(v) : Math.abs(v - 1) < 1e-6, `(${y},${x}) ${v}`);
    }
});

test("FFT path: a masked hole amid huge values is NaN exactly out of valid pixels' reach", () => {
  // Without scaling w·x (~1e8) to the weights' magnitude, the FFT's rounding noise (~1e-8) in
  // the zero weight sums would exceed minWeight and give values instead of NaN.
  const [h, w] = [40, 300];
  const img = new Float32Array(h * w).fill(1e8);
  const mask = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 50; x < 250; x++) mask[y * w + x] = 1;
  const r = normalizedGaussianFilter(img, [h, w], { sigma: 4, mask, method: "fft" }); // radius 16
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const deep = x >= 50 + 16 && x < 250 - 16;
      const v = r.data[y * w + x]!;
      assert.ok(deep ? Number.isNaN(v) : Math.abs(v - 1e8) <= 1e-6 * 1e8, `(${y},${x}) ${v}`);
      if (deep) assert.ok(Math.abs(r.weight[y * w + x]!) < 1e-14, `weight (${y},${x})`);
    }
});

test("strip passes: typed errors for bad ranges, lengths and overlapping arrays", () => {
  const plan = gaussianPlan([4, 6], { sigma: 1 });
  const src = new Float32Array(24);
  const dst = new Float64Array(24);
  for (const [a, b] of [
    [-1, 2],
    [3, 2],
    [0, 5],
    [0.5, 2],
  ] as const)
    assert.throws(() => convolveRowsPass(src, dst, plan, a, b), ConvolveError);
  assert.throws(() => convolveColsPass(src, dst, plan, 0, 7), ConvolveError);
  assert.throws(() => convolveRowsPass(src, new Float64Array(23), plan, 0, 4), ConvolveError);
  assert.throws(() => convolveColsPass(dst, dst, plan, 0, 6), ConvolveError);
  const shared = new Float64Array(48);
  assert.throws(
    () => convolveColsPass(shared.subarray(0, 24), shared.subarray(20, 44), plan, 0, 6),
    ConvolveError,
  );
  convolveColsPass(shared.subarray(0, 24), shared.subarray(24), plan, 0, 6); // adjacent is fine
  assert.throws(
    () => normalizedColsPass(dst, dst.slice(), dst.slice(), dst, plan, 0, 6),
    ConvolveError,
  );
  assert.throws(
    () => normalizedRowsPass(src, new Uint8Array(5), dst, dst.slice(), plan, 0, 4),
    ConvolveError,
  );
  const withCval = gaussianPlan([4, 6], { sigma: 1, mode: "constant", cval: 2 });
  assert.throws(
    () => normalizedRowsPass(src, undefined, dst, dst.slice(), withCval, 0, 4),
    ConvolveError,
  );
  assert.throws(
    () => gaussianPlan([4, 6], { sigma: 1, method: "bogus" as ConvolveMethod }),
    ConvolveError,
  );
  assert.throws(() => gaussianPlan([0, 6], { sigma: 1 }), ConvolveError);
});

/** Normalised filter in float64 by plain loops (taps over boundaryIndex): the reference. */
function bruteNormalized(
  img: Float32Array,
  [h, w]: [number, number],
  sigma: number,
  mode: BoundaryMode,
): { data: Float64Array; weight: Float64Array } {
  const k = gaussianKernel1d(sigma);
  const r = (k.length - 1) >> 1;
  const pass = (src: Float64Array, alongX: boolean) => {
    const out = new Float64Array(h * w);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        let acc = 0;
        for (let t = -r; t <= r; t++) {
          const j = boundaryIndex(alongX ? x + t : y + t, alongX ? w : h, mode);
          if (j >= 0) acc += k[t + r]! * src[alongX ? y * w + j : j * w + x]!;
        }
        out[y * w + x] = acc;
      }
    return out;
  };
  const valid = Float64Array.from(img, (v) => (Number.isNaN(v) ? 0 : 1));
  const num = pass(
    pass(
      Float64Array.from(img, (v) => (Number.isNaN(v) ? 0 : v)),
      true,
    ),
    false,
  );
  const weight = pass(pass(valid, true), false);
  return { data: num.map((v, i) => (weight[i]! > 1e-10 ? v / weight[i]! : NaN)), weight };
}

/** 60 x 150 images: NaN patches and a no-data block (few runs), or 30% scattered NaNs (many). */
function patchy(kind: "patches" | "scattered"): Float32Array {
  const [h, w] = [60, 150];
  let s = 99;
  const u = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
  const img = Float32Array.from({ length: h * w }, () => 10 + 50 * u());
  const nan = (y: number, x: number) => (img[y * w + x] = NaN);
  if (kind === "scattered") {
    for (let i = 0; i < h * w; i++) if (u() < 0.3) img[i] = NaN;
    return img;
  }
  for (let y = 0; y < h; y++) for (let x = 0; x < 40; x++) if (y < 12 || x < 8) nan(y, x);
  for (let y = 30; y < 45; y++) for (let x = 70; x < 120; x++) nan(y, x);
  nan(50, 20);
  return img;
}

for (const kind of ["patches", "scattered"] as const)
  for (const [sigma, method] of [
    [2.2, "direct"],
    [6, "direct"],
    [3, "fft"],
    [6, "fft"],
  ] as const)
    test(`normalised ${kind}, sigma ${sigma} ${method}: every weight path matches loops`, () => {
      const img = patchy(kind);
      const shape: [number, number] = [60, 150];
      for (const mode of ["constant", "reflect"] as const) {
        const want = bruteNormalized(img, shape, sigma, mode);
        const plan = gaussianPlan(shape, { sigma, mode, method });
        // float32 intermediates as the pipeline's, in uneven bands
        const [num, den] = [new Float32Array(60 * 150), new Float32Array(60 * 150)];
        const [data, weight] = [new Float64Array(60 * 150), new Float64Array(60 * 150)];
        for (const [y0, y1] of bands(60, 3))
          normalizedRowsPass(img, undefined, num, den, plan, y0, y1);
        for (const [x0, x1] of bands(150, 3))
          normalizedColsPass(num, den, data, weight, plan, x0, x1);
        for (let i = 0; i < want.data.length; i++) {
          const what = `${mode} pixel ${i}`;
          assert.equal(Number.isNaN(data[i]!), Number.isNaN(want.data[i]!), what);
          if (!Number.isNaN(want.data[i]!))
            assert.ok(Math.abs(data[i]! - want.data[i]!) <= 1e-6 * Math.abs(want.data[i]!), what);
          assert.ok(Math.abs(weight[i]! - want.weight[i]!) <= 1e-7, what);
          // no valid pixel in reach: exactly 0 by direct taps and runs
          if (want.weight[i] === 0 && method === "direct") assert.equal(weight[i], 0, what);
        }
      }
    });
