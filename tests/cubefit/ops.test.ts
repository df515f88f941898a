// The CubeFit operators against numpy/scipy (fixtures/ops.json from make_fixtures.py): bin
// edges and the flux-conserving rebin R_T, the LOSVD kernel on the template grid, the FFT
// convolution against np.convolve and the direct sum, the template FFT caches; plus the
// properties the builder relies on (a positive velocity shifts to the red, tiles of any shape
// give identical models) and the grid errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import {
  binEdges,
  checkGrid,
  convolveDirect,
  denseRebinRows,
  kernelGeometry,
  LosvdConvolver,
  losvdKernel,
  RebinColumns,
  rebinOperator,
  templateRfft,
  TileComputer,
  uniformStep,
} from "../../src/cubefit/ops.js";
import { CubeFitError } from "../../src/cubefit/errors.js";
import { C_KMS } from "../../src/cubefit/layout.js";
import { syntheticIfu } from "../../src/synth/ifu.js";

interface Case {
  name: string;
  temPix: number[];
  obsPix: number[];
  velPix: number[];
  dlog: number;
  R_T: number[];
  rowSums: number[];
  template: number[];
  hist: number[];
  kernel: number[];
  kMin: number;
  conv: number[];
  model: number[];
  rfft: number[];
  rfftR: number[];
}

const { cases } = JSON.parse(
  fs.readFileSync(new URL("./fixtures/ops.json", import.meta.url), "utf8"),
) as { cases: Case[] };

/** max |a - b| / max |b| */
function rel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / m;
}

function dense(op: ReturnType<typeof rebinOperator>): Float64Array {
  const out = new Float64Array(op.T * op.L);
  const { src, dst, frac } = op.overlaps;
  for (let k = 0; k < src.length; k++) out[src[k]! * op.L + dst[k]!] = frac[k]!;
  return out;
}

for (const c of cases) {
  test(`ops (${c.name}): R_T equals numpy's dense bin overlaps and conserves flux`, () => {
    const tem = Float64Array.from(c.temPix);
    const obs = Float64Array.from(c.obsPix);
    const op = rebinOperator(tem, obs);
    const R = dense(op);
    let err = 0;
    for (let i = 0; i < R.length; i++) err = Math.max(err, Math.abs(R[i]! - c.R_T[i]!));
    assert.ok(err < 1e-13, `R_T differs by ${err}`);
    // Flux: the row sums are the covered fractions, 1 inside the observed range.
    const te = binEdges(tem);
    const oe = binEdges(obs);
    for (let t = 0; t < op.T; t++) {
      let sum = 0;
      for (let l = 0; l < op.L; l++) sum += R[t * op.L + l]!;
      const covered =
        Math.max(0, Math.min(te[t + 1]!, oe[op.L]!) - Math.max(te[t]!, oe[0]!)) /
        (te[t + 1]! - te[t]!);
      assert.ok(Math.abs(sum - covered) < 1e-13, `row ${t}: ${sum} vs ${covered}`);
      assert.ok(Math.abs(sum - c.rowSums[t]!) < 1e-13);
    }
    // The stored float32 rows are the rounded operator.
    const rows = denseRebinRows(op, 3, 9);
    for (let i = 0; i < rows.length; i++) assert.equal(rows[i], Math.fround(R[3 * op.L + i]!));
    // A template's total flux inside the observed range is kept exactly (float64).
    let fluxIn = 0;
    let fluxOut = 0;
    const cols = RebinColumns.fromOperator(op);
    const y = new Float64Array(op.L);
    const m = Float64Array.from(c.template);
    cols.apply(m, y);
    for (let t = 0; t < op.T; t++) fluxIn += m[t]! * c.rowSums[t]!;
    for (const v of y) fluxOut += v;
    assert.ok(Math.abs(fluxIn - fluxOut) < 1e-6 * Math.abs(fluxIn), `${fluxIn} vs ${fluxOut}`);
  });

  test(`ops (${c.name}): LOSVD kernel, FFT and direct convolution equal numpy`, () => {
    const g = kernelGeometry(Float64Array.from(c.velPix), c.dlog);
    assert.equal(g.kMin, c.kMin);
    assert.equal(g.kMax - g.kMin + 1, c.kernel.length);
    const K = losvdKernel(g, c.hist);
    assert.ok(rel(K, c.kernel) < 1e-14, `kernel ${rel(K, c.kernel)}`);
    const mass = c.hist.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(K.reduce((a, b) => a + b, 0) - mass) < 1e-13 * mass);
    const direct = convolveDirect(c.template, K, g.kMin);
    assert.ok(rel(direct, c.conv) < 1e-14, `direct ${rel(direct, c.conv)}`);
    const conv = new LosvdConvolver(c.template.length, g.kMin, g.kMax);
    const viaFft = new Float64Array(c.template.length);
    conv.apply(conv.templateSpectrum(c.template), conv.kernelSpectrum(K), viaFft);
    assert.ok(rel(viaFft, c.conv) < 1e-13, `fft ${rel(viaFft, c.conv)}`);
    // Convolve, then rebin: the model.
    const op = rebinOperator(Float64Array.from(c.temPix), Float64Array.from(c.obsPix));
    const model = new Float64Array(op.L);
    const R = dense(op);
    for (let l = 0; l < op.L; l++)
      for (let t = 0; t < op.T; t++) model[l]! += direct[t]! * R[t * op.L + l]!;
    assert.ok(rel(model, c.model) < 1e-13, `model ${rel(model, c.model)}`);
  });

  test(`ops (${c.name}): /TemplatesFFT and /TemplatesFFT_R spectra equal numpy.fft.rfft`, () => {
    assert.ok(rel(templateRfft(c.template), c.rfft) < 1e-13);
    assert.ok(rel(templateRfft(c.template, true), c.rfftR) < 1e-13);
  });
}

test("ops: a positive velocity moves flux to the red (larger t)", () => {
  // Velocity bins exactly one template pixel wide: the kernel is the histogram itself.
  const dlog = 20 / C_KMS;
  const vel = Float64Array.from({ length: 11 }, (_, j) => (j - 5) * 20);
  const g = kernelGeometry(vel, dlog);
  assert.deepEqual([g.kMin, g.kMax], [-5, 5]);
  const h = new Float64Array(11);
  h[8] = 1; // +60 km/s = +3 pixels
  const K = losvdKernel(g, h);
  assert.ok(Math.abs(K[8]! - 1) < 1e-12 && K.reduce((a, b) => a + Math.abs(b), 0) < 1 + 1e-12);
  const tpl = Float64Array.from({ length: 40 }, (_, t) => (t === 10 ? 1 : 0));
  const m = convolveDirect(tpl, K, g.kMin);
  assert.ok(Math.abs(m[13]! - 1) < 1e-12, `peak at ${m.indexOf(Math.max(...m))}`);
});

test("ops: tiles of any shape give bit-identical models", () => {
  const ifu = syntheticIfu({ spaxels: 3, components: 2, keepModels: true });
  const { S, C, P, L, V, T } = ifu;
  const tpl = new Float32Array(P * T);
  const src = ifu.inputs.templates.data;
  for (let t = 0; t < T; t++) for (let p = 0; p < P; p++) tpl[p * T + t] = src[t * P + p]!;
  const computer = new TileComputer({
    T,
    L,
    P,
    V,
    templates: tpl,
    rebin: RebinColumns.fromOperator(
      rebinOperator(Float64Array.from(ifu.inputs.temPix), Float64Array.from(ifu.inputs.obsPix)),
    ).toData(),
    dlogTem: uniformStep("temPix", Float64Array.from(ifu.inputs.temPix)),
    velPix: Float64Array.from(ifu.inputs.velPix),
  });
  const losvd = ifu.inputs.losvd.data;
  // One odd box: spaxel 1, component 1, populations 3..6.
  const slab = new Float32Array(V);
  for (let v = 0; v < V; v++) slab[v] = losvd[(1 * V + v) * C + 1]!;
  const box = computer.compute({ s0: 1, s1: 2, c0: 1, c1: 2, p0: 3, p1: 6 }, slab);
  const whole = ifu.models!;
  for (let pi = 0; pi < 3; pi++)
    for (let l = 0; l < L; l++)
      assert.equal(
        box[pi * L + l],
        whole[((1 * C + 1) * P + 3 + pi) * L + l],
        `p ${3 + pi} l ${l}`,
      );
  assert.equal(whole.length, S * C * P * L);
});

test("ops: grid errors name the grid", () => {
  assert.throws(
    () => checkGrid("obsPix", [1, 2, 2, 3]),
    (e: unknown) =>
      e instanceof CubeFitError && e.field === "obsPix" && /strictly increasing/.test(e.message),
  );
  assert.throws(
    () => checkGrid("velPix", [1, Number.NaN, 3]),
    (e: unknown) => e instanceof CubeFitError && e.field === "velPix",
  );
  assert.throws(
    () => uniformStep("temPix", Float64Array.from([1, 2, 3.5, 4])),
    (e: unknown) => e instanceof CubeFitError && e.field === "temPix" && /uniform/.test(e.message),
  );
});
