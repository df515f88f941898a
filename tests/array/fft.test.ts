// src/array/fft against numpy.fft: fixtures written by Debian's numpy
// (tests/array/fixtures/make_fft_fixtures.py) for 1D lengths with every kind of factor
// (radix 4/8/2/3/5, generic 7, 11, 13, Bluestein for 97, 127, 1009), 2D shapes with odd sizes,
// the batched leading-axes transform, rfft and fftshift; plus strided and batched lines,
// round trips and the typed errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import {
  fft,
  fft2,
  fft2Leading,
  fftPlan,
  fftshift2,
  fftshiftIndex,
  ifftshift2,
  ifftshiftIndex,
  rfft,
} from "../../src/array/index.js";

interface Ref {
  re: number;
  im: number;
}
type Case =
  | { kind: "fft"; n: number; seed: number; fft: Ref; ifft: Ref }
  | { kind: "fft2"; shape: [number, number]; seed: number; fft: Ref; ifft: Ref }
  | { kind: "fft2_leading"; shape: [number, number, number]; seed: number; fft: Ref; ifft: Ref }
  | { kind: "rfft"; n: number; seed: number; fft: Ref }
  | { kind: "shift"; shape: [number, number, number]; fftshift: number[]; ifftshift: number[] };

const fixtures = new URL("./fixtures/", import.meta.url);
const index = JSON.parse(fs.readFileSync(new URL("fft.json", fixtures), "utf8")) as {
  values: number;
  cases: Case[];
};
const raw = fs.readFileSync(new URL("fft.bin", fixtures));
const values = new Float64Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
const casesOf = <K extends Case["kind"]>(kind: K) =>
  index.cases.filter((c): c is Extract<Case, { kind: K }> => c.kind === kind);

const TOL = 1e-10;

/** The fixture script's MINSTD generator: count values in [-0.5, 0.5), exact in float64. */
function inputs(seed: number, count: number): Float64Array {
  const out = new Float64Array(count);
  for (let i = 0, s = seed; i < count; i++) {
    s = (s * 48271) % 2147483647;
    out[i] = s / 2147483647 - 0.5;
  }
  return out;
}

function complexInput(seed: number, n: number): { re: Float64Array; im: Float64Array } {
  const v = inputs(seed, 2 * n);
  return { re: v.slice(0, n), im: v.slice(n) };
}

function reference(ref: Ref, n: number): { re: Float64Array; im: Float64Array } {
  return { re: values.subarray(ref.re, ref.re + n), im: values.subarray(ref.im, ref.im + n) };
}

/** max |z - ref| / max |ref| over the n values at offset + k * stride of re, im. */
function relError(
  re: Float64Array,
  im: Float64Array,
  ref: { re: Float64Array; im: Float64Array },
  offset = 0,
  stride = 1,
): number {
  let err = 0;
  let scale = 0;
  for (let k = 0; k < ref.re.length; k++) {
    const i = offset + k * stride;
    err = Math.max(err, Math.hypot(re[i]! - ref.re[k]!, im[i]! - ref.im[k]!));
    scale = Math.max(scale, Math.hypot(ref.re[k]!, ref.im[k]!));
  }
  return err / scale;
}

let worst = 0;
function check(what: string, e: number): void {
  worst = Math.max(worst, e);
  assert.ok(e <= TOL, `${what}: relative error ${e.toExponential(2)} > ${TOL}`);
}

test("fixtures: numpy results, lengths that exercise every radix and Bluestein", () => {
  assert.equal(values.length, index.values);
  const lengths = casesOf("fft").map((c) => c.n);
  const plans = lengths.map((n) => fftPlan(n));
  const radices = new Set(plans.filter((p) => p.bluesteinLength === 0).flatMap((p) => p.factors));
  for (const r of [2, 3, 4, 5, 7, 8, 11, 13])
    assert.ok(radices.has(r), `no length uses radix ${r}`);
  assert.ok(plans.filter((p) => p.bluesteinLength > 0).length >= 2, "Bluestein lengths");
  for (const p of plans)
    assert.equal(
      p.factors.reduce((a, b) => a * b, 1),
      p.bluesteinLength || p.n,
    );
});

test("fft and inverse of every length match numpy.fft.fft / ifft", () => {
  for (const c of casesOf("fft")) {
    const x = complexInput(c.seed, c.n);
    const f = { re: x.re.slice(), im: x.im.slice() };
    fft(f.re, f.im);
    check(`fft ${c.n}`, relError(f.re, f.im, reference(c.fft, c.n)));
    const g = { re: x.re.slice(), im: x.im.slice() };
    fft(g.re, g.im, { inverse: true });
    check(`ifft ${c.n}`, relError(g.re, g.im, reference(c.ifft, c.n)));
    // Round trip.
    fft(f.re, f.im, { inverse: true });
    check(`ifft(fft) ${c.n}`, relError(f.re, f.im, x));
  }
});

test("a plan transforms strided lines in place and leaves other elements alone", () => {
  for (const c of casesOf("fft")) {
    const x = complexInput(c.seed, c.n);
    const [offset, stride] = [5, 3];
    const re = new Float64Array(offset + stride * c.n + 2).fill(7);
    const im = new Float64Array(re.length).fill(-7);
    for (let k = 0; k < c.n; k++) {
      re[offset + k * stride] = x.re[k]!;
      im[offset + k * stride] = x.im[k]!;
    }
    const plan = fftPlan(c.n);
    plan.forward(re, im, offset, stride);
    check(`strided fft ${c.n}`, relError(re, im, reference(c.fft, c.n), offset, stride));
    plan.inverse(re, im, offset, stride);
    check(`strided round trip ${c.n}`, relError(re, im, x, offset, stride));
    for (let i = 0; i < re.length; i++)
      if (i < offset || (i - offset) % stride !== 0 || i >= offset + stride * c.n)
        assert.ok(re[i] === 7 && im[i] === -7, `element ${i} of length ${c.n} was touched`);
  }
});

test("batches of lines: interleaved, consecutive and reversed, forward and inverse", () => {
  for (const c of casesOf("fft")) {
    const x = complexInput(c.seed, c.n);
    const plan = fftPlan(c.n);
    // For the longer lengths, two full blocks of lines and a partial one.
    const count = Math.min(2 * plan.maxLines + 3, 300);
    const size = 1 + c.n * count;
    for (const lines of [
      { offset: 1, stride: count, count, lineStride: 1 },
      { offset: 1, stride: 1, count, lineStride: c.n },
      { offset: size - 1, stride: -count, count, lineStride: -1 },
    ]) {
      const what = `${c.n} lines, stride ${lines.stride}, lineStride ${lines.lineStride}`;
      const re = new Float64Array(size);
      const im = new Float64Array(size);
      for (let l = 0; l < count; l++)
        for (let k = 0; k < c.n; k++) {
          re[lines.offset + k * lines.stride + l * lines.lineStride] = x.re[k]!;
          im[lines.offset + k * lines.stride + l * lines.lineStride] = x.im[k]!;
        }
      plan.transformLines(re, im, lines);
      for (let l = 0; l < count; l += 7) {
        const at = lines.offset + l * lines.lineStride;
        check(`${what}: line ${l}`, relError(re, im, reference(c.fft, c.n), at, lines.stride));
      }
      plan.transformLines(re, im, lines, true);
      const last = lines.offset + (count - 1) * lines.lineStride;
      check(`${what}: round trip`, relError(re, im, x, last, lines.stride));
    }
  }
});

test("fft2 matches numpy.fft.fft2 / ifft2, odd sizes included", () => {
  for (const c of casesOf("fft2")) {
    const [ny, nx] = c.shape;
    const x = complexInput(c.seed, ny * nx);
    const f = { re: x.re.slice(), im: x.im.slice() };
    fft2(f.re, f.im, ny, nx);
    check(`fft2 ${c.shape}`, relError(f.re, f.im, reference(c.fft, ny * nx)));
    const g = { re: x.re.slice(), im: x.im.slice() };
    fft2(g.re, g.im, ny, nx, { inverse: true });
    check(`ifft2 ${c.shape}`, relError(g.re, g.im, reference(c.ifft, ny * nx)));
  }
});

test("fft2Leading matches numpy.fft.fft2(a, axes=(0, 1)) and ifft2 on [ny, nx, m]", () => {
  for (const c of casesOf("fft2_leading")) {
    const [ny, nx, m] = c.shape;
    const x = complexInput(c.seed, ny * nx * m);
    const f = { re: x.re.slice(), im: x.im.slice() };
    fft2Leading(f.re, f.im, ny, nx, m);
    check(`fft2Leading ${c.shape}`, relError(f.re, f.im, reference(c.fft, ny * nx * m)));
    fft2Leading(f.re, f.im, ny, nx, m, { inverse: true });
    check(`fft2Leading round trip ${c.shape}`, relError(f.re, f.im, x));
    const g = { re: x.re.slice(), im: x.im.slice() };
    fft2Leading(g.re, g.im, ny, nx, m, { inverse: true });
    check(`ifft2 leading ${c.shape}`, relError(g.re, g.im, reference(c.ifft, ny * nx * m)));
  }
});

test("rfft matches numpy.fft.rfft", () => {
  for (const c of casesOf("rfft")) {
    const x = inputs(c.seed, c.n);
    const nb = Math.floor(c.n / 2) + 1;
    const got = rfft(x);
    assert.equal(got.re.length, nb);
    check(`rfft ${c.n}`, relError(got.re, got.im, reference(c.fft, nb)));
    const out = { re: new Float64Array(nb), im: new Float64Array(nb) };
    assert.equal(rfft(x, out), out);
    check(`rfft into out ${c.n}`, relError(out.re, out.im, reference(c.fft, nb)));
  }
});

test("fftshift2 / ifftshift2 match numpy over the leading axes, odd sizes included", () => {
  for (const c of casesOf("shift")) {
    const [ny, nx, m] = c.shape;
    const a = Float64Array.from({ length: ny * nx * m }, (_, i) => i);
    assert.deepEqual(Array.from(fftshift2(a, ny, nx, m)), c.fftshift, `fftshift ${c.shape}`);
    assert.deepEqual(Array.from(ifftshift2(a, ny, nx, m)), c.ifftshift, `ifftshift ${c.shape}`);
    assert.deepEqual(ifftshift2(fftshift2(a, ny, nx, m), ny, nx, m), a);
    // The index helpers say where each element goes.
    const s = fftshift2(Int32Array.from(a), ny, nx, m);
    for (let y = 0; y < ny; y++)
      for (let x = 0; x < nx; x++)
        assert.equal(s[(fftshiftIndex(y, ny) * nx + fftshiftIndex(x, nx)) * m], (y * nx + x) * m);
    for (let i = 0; i < 9; i++) assert.equal(ifftshiftIndex(fftshiftIndex(i, 9), 9), i);
  }
  const out = new Float32Array(6);
  assert.equal(fftshift2(Float32Array.of(0, 1, 2, 3, 4, 5), 2, 3, 1, out), out);
  assert.deepEqual(Array.from(out), [5, 3, 4, 2, 0, 1]);
});

test("plans are cached per length", () => {
  assert.equal(fftPlan(30), fftPlan(30));
  assert.notEqual(fftPlan(30), fftPlan(32));
  assert.equal(fftPlan(30).n, 30);
});

test("typed errors name the problem", () => {
  const z = () => new Float64Array(8);
  for (const n of [0, -4, 1.5, NaN, Infinity])
    assert.throws(() => fftPlan(n), { name: "RangeError", message: /length must be an integer/ });
  assert.throws(() => fft(z(), new Float64Array(7)), {
    name: "RangeError",
    message: /lengths differ \(8 vs 7\)/,
  });
  assert.throws(() => fft(new Float64Array(0), new Float64Array(0)), /arrays are empty/);
  const buf = new Float64Array(12);
  assert.throws(() => fft(buf.subarray(0, 8), buf.subarray(4, 12)), {
    name: "RangeError",
    message: /overlap/,
  });
  assert.throws(() => fft([1, 2] as unknown as Float64Array, z()), TypeError);
  const plan = fftPlan(8);
  assert.throws(() => plan.forward(z(), z(), 1), {
    name: "RangeError",
    message: /indices 1\.\.8, outside arrays of length 8/,
  });
  assert.throws(() => plan.forward(z(), z(), 0, 0), /share elements/);
  assert.throws(
    () => fftPlan(4).transformLines(z(), z(), { stride: 1, count: 2, lineStride: 1 }),
    /share elements/,
  );
  assert.throws(() => plan.transformLines(z(), z(), { count: -1, lineStride: 1 }), /count/);
  assert.throws(
    () => fftPlan(2).transformLines(z(), z(), { stride: 4, count: 2, lineStride: 0 }),
    /share elements/,
  );
  assert.throws(() => plan.forward(z(), z(), 0.5), /offset must be an integer/);
  assert.throws(() => fft2(z(), z(), 3, 3), {
    name: "RangeError",
    message: /shape \[3, 3, 1\] holds 9 values, arrays hold 8/,
  });
  assert.throws(() => fft2(z(), z(), 0, 8), /ny must be an integer >= 1/);
  assert.throws(() => fft2Leading(z(), z(), 2, 2, 3), /holds 12 values/);
  assert.throws(() => rfft(z(), { re: z(), im: z() }), /out holds 8 values, expected 5/);
  assert.throws(() => fftshift2(z(), 3, 3), /shape \[3, 3, 1\] holds 9 values/);
  const a = z();
  assert.throws(() => fftshift2(a, 2, 4, 1, a), /out must not overlap the input/);
});

test("accuracy summary", (t) => {
  t.diagnostic(`worst relative error against numpy: ${worst.toExponential(2)}`);
  assert.ok(worst > 0 && worst <= TOL);
});
