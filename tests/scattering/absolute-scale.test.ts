// Absolute scaling (seed 001, Module 4.S.1) on synthetic crystals whose total scattering is
// computed from explicit atoms: Bragg |F_h|^2 from the atomic positions (with Debye-Waller
// factors), diffuse from independent (Einstein) displacements plus Compton. The "measured"
// intensities are these divided by a known scale; absoluteScale must recover it.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  ScatteringError,
  UnknownElementError,
  absoluteScale,
  absoluteStillModel,
  applyAbsoluteScale,
  electronCount,
  formFactor,
  incoherentScattering,
  parseInventory,
  sumIncoherent,
} from "../../src/scattering/index.js";

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gauss(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

interface Atom {
  el: string;
  x: number;
  y: number;
  z: number;
}

type Cell = readonly [number, number, number];

/** |F_h|^2 for reflections (h, k, l) of an orthorhombic cell; B per element. */
function braggIntensities(
  atoms: readonly Atom[],
  cell: Cell,
  hkl: readonly (readonly [number, number, number])[],
  B: Readonly<Record<string, number>>,
): Float64Array {
  const els = [...new Set(atoms.map((a) => a.el))];
  const elIndex = Int32Array.from(atoms, (a) => els.indexOf(a.el));
  const fx = Float64Array.from(atoms, (a) => a.x);
  const fy = Float64Array.from(atoms, (a) => a.y);
  const fz = Float64Array.from(atoms, (a) => a.z);
  const out = new Float64Array(hkl.length);
  const fe = new Float64Array(els.length);
  for (let r = 0; r < hkl.length; r++) {
    const [h, k, l] = hkl[r] ?? [0, 0, 0];
    const q = Math.hypot(h / cell[0], k / cell[1], l / cell[2]);
    const s = q / 2;
    for (let e = 0; e < els.length; e++) {
      const el = els[e] ?? "";
      fe[e] = formFactor(el, s) * Math.exp(-(B[el] ?? 0) * s * s);
    }
    let re = 0;
    let im = 0;
    for (let j = 0; j < atoms.length; j++) {
      const ph = 2 * Math.PI * (h * (fx[j] ?? 0) + k * (fy[j] ?? 0) + l * (fz[j] ?? 0));
      const f = fe[elIndex[j] ?? 0] ?? 0;
      re += f * Math.cos(ph);
      im += f * Math.sin(ph);
    }
    out[r] = re * re + im * im;
  }
  return out;
}

/** Einstein-model diffuse + Compton per cell at |q|: sum n [f^2 (1 - exp(-2 B s^2)) + S]. */
function diffuseTruth(
  counts: Readonly<Record<string, number>>,
  B: Readonly<Record<string, number>>,
  q: number,
): number {
  const s = q / 2;
  let j = 0;
  for (const [el, n] of Object.entries(counts)) {
    const f = formFactor(el, s);
    j += n * (f * f * (1 - Math.exp(-2 * (B[el] ?? 0) * s * s)) + incoherentScattering(el, s));
  }
  return j;
}

const ASU = { C: 100, N: 27, O: 30, S: 1, H: 160 } as const;
const CELL: Cell = [25, 30, 35];
const B_FACTORS = { C: 12, N: 12, O: 14, S: 10, H: 20 };
const K_TRUE = 1234.5;

/** A random-atom "protein" in P212121 with its merged Bragg and diffuse data. */
function p212121Dataset(): {
  inventoryPerAsu: typeof ASU;
  volume: number;
  bragg: { q: Float64Array; intensity: Float64Array; sigma: Float64Array; weight: Float64Array };
  diffuse: { q: Float64Array; intensity: Float64Array; sigma: Float64Array };
  diffuseTrue: Float64Array;
  fullSymCheck: number;
} {
  const r = rng(19);
  const atoms: Atom[] = [];
  for (const [el, n] of Object.entries(ASU)) {
    for (let i = 0; i < n; i++) {
      const x = r();
      const y = r();
      const z = r();
      // P212121 general positions.
      atoms.push({ el, x, y, z });
      atoms.push({ el, x: 0.5 - x, y: -y, z: z + 0.5 });
      atoms.push({ el, x: -x, y: y + 0.5, z: 0.5 - z });
      atoms.push({ el, x: x + 0.5, y: 0.5 - y, z: -z });
    }
  }
  const qMax = 0.8;
  const hkl: [number, number, number][] = [];
  const mult: number[] = [];
  for (let h = 0; h <= qMax * CELL[0]; h++) {
    for (let k = 0; k <= qMax * CELL[1]; k++) {
      for (let l = 0; l <= qMax * CELL[2]; l++) {
        const q = Math.hypot(h / CELL[0], k / CELL[1], l / CELL[2]);
        if (q === 0 || q > qMax) continue;
        // Systematic absences of P212121 (h00, 0k0, 00l odd): a merged data set omits them.
        const axial = (h !== 0 ? 1 : 0) + (k !== 0 ? 1 : 0) + (l !== 0 ? 1 : 0) === 1;
        if (axial && (h + k + l) % 2 === 1) continue;
        hkl.push([h, k, l]);
        mult.push(2 ** ((h !== 0 ? 1 : 0) + (k !== 0 ? 1 : 0) + (l !== 0 ? 1 : 0)));
      }
    }
  }
  const I = braggIntensities(atoms, CELL, hkl, B_FACTORS);
  // mmm Laue symmetry: |F(-h, k, -l)|^2 = |F(h, k, l)|^2.
  const check = braggIntensities(atoms, CELL, [[-3, 2, -5]], B_FACTORS)[0] ?? NaN;
  const ref = braggIntensities(atoms, CELL, [[3, 2, 5]], B_FACTORS)[0] ?? NaN;
  const noise = rng(7);
  const bq = new Float64Array(hkl.length);
  const bi = new Float64Array(hkl.length);
  const bs = new Float64Array(hkl.length);
  for (let i = 0; i < hkl.length; i++) {
    const [h, k, l] = hkl[i] ?? [0, 0, 0];
    bq[i] = Math.hypot(h / CELL[0], k / CELL[1], l / CELL[2]);
    const Ii = I[i] ?? 0;
    const sig = 0.03 * Ii + 0.5;
    bi[i] = (Ii + sig * gauss(noise)) / K_TRUE;
    bs[i] = sig / K_TRUE;
  }
  // Diffuse voxels: a grid of half-reciprocal-cell voxels in the positive octant (centres off the
  // mirror planes, so every voxel has multiplicity 8), centres between Bragg positions.
  const counts = Object.fromEntries(Object.entries(ASU).map(([el, n]) => [el, 4 * n]));
  const dq: number[] = [];
  const dtrue: number[] = [];
  const di: number[] = [];
  const ds: number[] = [];
  for (let i = 0; (i + 0.5) / 2 <= qMax * CELL[0]; i++) {
    for (let j = 0; (j + 0.5) / 2 <= qMax * CELL[1]; j++) {
      for (let m = 0; (m + 0.5) / 2 <= qMax * CELL[2]; m++) {
        const q = Math.hypot(
          (i + 0.5) / 2 / CELL[0],
          (j + 0.5) / 2 / CELL[1],
          (m + 0.5) / 2 / CELL[2],
        );
        if (q > qMax) continue;
        const J = diffuseTruth(counts, B_FACTORS, q);
        const sig = 0.02 * J;
        dq.push(q);
        dtrue.push(J);
        di.push((J + sig * gauss(noise)) / K_TRUE);
        ds.push(sig / K_TRUE);
      }
    }
  }
  return {
    inventoryPerAsu: ASU,
    volume: CELL[0] * CELL[1] * CELL[2],
    bragg: { q: bq, intensity: bi, sigma: bs, weight: Float64Array.from(mult) },
    diffuse: {
      q: Float64Array.from(dq),
      intensity: Float64Array.from(di),
      sigma: Float64Array.from(ds),
    },
    diffuseTrue: Float64Array.from(dtrue),
    fullSymCheck: Math.abs(check - ref) / ref,
  };
}

const data = p212121Dataset();

test("Norman sum rule recovers the absolute scale of a random-atom P212121 crystal", (t) => {
  assert.ok(data.fullSymCheck < 1e-9, "mmm equivalents have equal |F|^2");
  const inventory = parseInventory(data.inventoryPerAsu, { multiplier: 4 });
  const res = absoluteScale({
    diffuse: data.diffuse,
    bragg: data.bragg,
    inventory,
    cellVolume: data.volume,
    qRange: [0.1, 0.8],
  });
  const err = res.scale / K_TRUE - 1;
  t.diagnostic(
    `scale ${res.scale.toFixed(2)} (true ${K_TRUE}), error ${(100 * err).toFixed(3)}%, ` +
      `sigma ${res.scaleSigma.toFixed(3)}, shell scatter ${res.details.binScatterSigma.toFixed(3)}, ` +
      `diffuse share ${res.details.diffuseShare.toFixed(3)}, ${data.bragg.q.length} reflections, ` +
      `${data.diffuse.q.length} voxels`,
  );
  assert.ok(Math.abs(err) < 0.01, `scale ${res.scale} vs ${K_TRUE}`);
  assert.deepEqual(res.qRange, [0.1, 0.8]);
  assert.equal(res.details.method, "norman");
  assert.equal(res.details.shellsUsed, 20);
  assert.equal(res.details.densityCorrection, 0);
  assert.equal(res.details.electronsPerCell, electronCount(inventory));
  assert.ok(res.details.diffuseShare > 0.3 && res.details.diffuseShare < 0.95);
  assert.ok(res.scaleSigma > 0 && res.scaleSigma < 0.01 * K_TRUE);
  // Equal-volume shells.
  const v0 = res.details.shells[0]?.volume ?? NaN;
  for (const sh of res.details.shells) assert.ok(Math.abs(sh.volume / v0 - 1) < 1e-9);

  // Ignoring the multiplicities of the merged ASU reflections biases the Bragg means (axial
  // and zonal reflections, multiplicity 2 and 4, are overweighted) but stays close here.
  const noWeights = absoluteScale({
    diffuse: data.diffuse,
    bragg: { q: data.bragg.q, intensity: data.bragg.intensity, sigma: data.bragg.sigma },
    inventory,
    cellVolume: data.volume,
    qRange: [0.1, 0.8],
  });
  t.diagnostic(
    `without multiplicities: error ${(100 * (noWeights.scale / K_TRUE - 1)).toFixed(3)}%`,
  );

  // Default range = overlap of the data; braggFactor rescales the Bragg side.
  const dflt = absoluteScale({
    diffuse: data.diffuse,
    bragg: {
      ...data.bragg,
      intensity: data.bragg.intensity.map((v) => v * 2),
      sigma: data.bragg.sigma.map((v) => v * 2),
    },
    inventory: "C100 N27 O30 S1 H160",
    cellVolume: data.volume,
    braggFactor: 0.5,
    bins: 12,
  });
  assert.ok((dflt.qRange[0] ?? 0) > 0.02 && (dflt.qRange[1] ?? 0) <= 0.8);
  // Per-ASU inventory given without the multiplier of 4: the scale is 4x too small.
  assert.ok(Math.abs((4 * dflt.scale) / K_TRUE - 1) < 0.02, `${dflt.scale}`);
});

test("absolute voxels: scale, then subtract the cell's Compton scattering", () => {
  const inventory = parseInventory(data.inventoryPerAsu, { multiplier: 4 });
  const res = absoluteScale({
    diffuse: data.diffuse,
    bragg: data.bragg,
    inventory,
    cellVolume: data.volume,
    qRange: [0.1, 0.8],
  });
  const abs = applyAbsoluteScale(data.diffuse, res, inventory);
  const inc = sumIncoherent(inventory, data.diffuse.q);
  let sumRel = 0;
  let n = 0;
  for (let i = 0; i < data.diffuse.q.length; i += 97) {
    const want = (data.diffuseTrue[i] ?? NaN) - (inc[i] ?? NaN);
    const got = abs.intensity[i] ?? NaN;
    assert.equal(abs.incoherent[i], inc[i]);
    assert.equal(got, res.scale * (data.diffuse.intensity[i] ?? NaN) - (inc[i] ?? NaN));
    assert.equal(abs.sigma[i], res.scale * (data.diffuse.sigma[i] ?? NaN));
    // Truth within noise (2% of the total) plus the scale error.
    assert.ok(Math.abs(got - want) < 0.1 * (data.diffuseTrue[i] ?? NaN), `${got} vs ${want}`);
    sumRel += (got - want) / (data.diffuseTrue[i] ?? NaN);
    n++;
  }
  assert.ok(Math.abs(sumRel / n) < 0.01);
  // Empty voxels stay empty.
  const withGap = applyAbsoluteScale(
    { q: [0.3, 0.4], intensity: [NaN, 1], sigma: [NaN, 1] },
    10,
    "C6",
  );
  assert.ok(Number.isNaN(withGap.intensity[0]));
  assert.ok(Number.isFinite(withGap.intensity[1]));
});

test("per-still absolute models reproduce I_abs from the corrected observations", () => {
  const inventory = "C600 N160 O200 S8 H1000";
  const scale = 37.5;
  const q = [0.05, 0.2, 0.45, 0.7];
  const M = [0.8, 1.1, 2.5, 0.3];
  const C = [3, -1, 0.5, 10];
  const Icorr = [100, 250, 40, 77];
  const model = absoluteStillModel({ multiplier: M, offset: C, q }, { scale }, inventory);
  const S = sumIncoherent(inventory, q);
  for (let i = 0; i < q.length; i++) {
    const rel = ((Icorr[i] ?? 0) - (C[i] ?? 0)) / (M[i] ?? 1);
    const want = scale * rel - (S[i] ?? 0);
    const got = ((Icorr[i] ?? 0) - (model.offset[i] ?? 0)) / (model.multiplier[i] ?? 1);
    assert.ok(Math.abs(got - want) <= 1e-9 * Math.abs(want), `${got} vs ${want}`);
    assert.equal(model.multiplier[i], (M[i] ?? 1) / scale);
  }
  assert.throws(
    () =>
      absoluteStillModel({ multiplier: [1, 0], offset: [0, 0], q: [0.1, 0.2] }, scale, inventory),
    (e: unknown) => e instanceof ScatteringError && e.field === "model.multiplier[1]",
  );
  assert.throws(
    () => absoluteStillModel({ multiplier: [1], offset: [0, 0], q: [0.1] }, scale, inventory),
    ScatteringError,
  );
  assert.throws(
    () => absoluteStillModel({ multiplier: [1], offset: [0], q: [0.1] }, -1, inventory),
    ScatteringError,
  );
});

test("Krogh-Moe vs Norman on a hard-sphere random-atom crystal (correlation hole)", (t) => {
  // P1, 15 x 16 x 17 A, 160 C/N/O atoms no closer than 1.3 A: the pair correlation has a hole,
  // so the total scattering dips below sum f^2 at |q| < ~1 1/A. Norman over a high-|q| shell and
  // Krogh-Moe over the whole sphere both hold; Norman over a low-|q| range does not.
  const cell: Cell = [15, 16, 17];
  const counts = { C: 100, N: 28, O: 32 };
  const B = { C: 8, N: 8, O: 8 };
  const r = rng(3);
  const atoms: Atom[] = [];
  const cart: [number, number, number][] = [];
  for (const [el, n] of Object.entries(counts)) {
    for (let placed = 0; placed < n;) {
      const p: [number, number, number] = [r() * cell[0], r() * cell[1], r() * cell[2]];
      let ok = true;
      for (const o of cart) {
        let d2 = 0;
        for (let k = 0; k < 3; k++) {
          const a = cell[k] ?? 1;
          let d = (p[k] ?? 0) - (o[k] ?? 0);
          d -= Math.round(d / a) * a;
          d2 += d * d;
        }
        if (d2 < 1.3 * 1.3) {
          ok = false;
          break;
        }
      }
      if (!ok) continue;
      cart.push(p);
      atoms.push({ el, x: p[0] / cell[0], y: p[1] / cell[1], z: p[2] / cell[2] });
      placed++;
    }
  }
  const qMax = 2;
  const hkl: [number, number, number][] = [];
  const H = Math.ceil(qMax * cell[0]);
  const K = Math.ceil(qMax * cell[1]);
  const L = Math.ceil(qMax * cell[2]);
  for (let h = -H; h <= H; h++) {
    for (let k = -K; k <= K; k++) {
      for (let l = 0; l <= L; l++) {
        // One of each Friedel pair (P1, Laue -1): multiplicity 2.
        if (!(l > 0 || (l === 0 && (k > 0 || (k === 0 && h > 0))))) continue;
        const q = Math.hypot(h / cell[0], k / cell[1], l / cell[2]);
        if (q <= qMax) hkl.push([h, k, l]);
      }
    }
  }
  const I = braggIntensities(atoms, cell, hkl, B);
  const bq = Float64Array.from(hkl, ([h, k, l]) =>
    Math.hypot(h / cell[0], k / cell[1], l / cell[2]),
  );
  const bragg = {
    q: bq,
    intensity: I.map((v) => v / K_TRUE),
    sigma: I.map((v) => (0.01 * v + 0.1) / K_TRUE),
  };
  // Diffuse samples uniform in the volume of the sphere (the model diffuse is isotropic).
  const nd = 40000;
  const dq = new Float64Array(nd);
  const di = new Float64Array(nd);
  const ds = new Float64Array(nd);
  const rr = rng(5);
  for (let i = 0; i < nd; i++) {
    const q = qMax * Math.cbrt((i + rr()) / nd);
    dq[i] = q;
    const J = diffuseTruth(counts, B, q);
    di[i] = J / K_TRUE;
    ds[i] = (0.01 * J) / K_TRUE;
  }
  const diffuse = { q: dq, intensity: di, sigma: ds };
  const V = cell[0] * cell[1] * cell[2];
  const run = (method: "norman" | "krogh-moe", qRange: [number, number]): number => {
    const res = absoluteScale({ diffuse, bragg, inventory: counts, cellVolume: V, qRange, method });
    const err = res.scale / K_TRUE - 1;
    t.diagnostic(`${method} [${qRange.join(", ")}]: error ${(100 * err).toFixed(2)}%`);
    if (method === "krogh-moe") {
      assert.equal(res.details.densityCorrection, electronCount(counts) ** 2 / V);
    }
    return err;
  };
  const normanHigh = run("norman", [1, 2]);
  const normanWide = run("norman", [0.5, 2]);
  const km = run("krogh-moe", [0.02, 2]);
  const normanLow = run("norman", [0.02, 1]);
  const kmLow = run("krogh-moe", [0.02, 1]);
  assert.ok(Math.abs(normanHigh) < 0.005);
  assert.ok(Math.abs(normanWide) < 0.01);
  assert.ok(Math.abs(km) < 0.01);
  assert.ok(normanLow > 0.02, "the correlation hole biases a low-|q| Norman integral upwards");
  assert.ok(Math.abs(kmLow) < normanLow, "Krogh-Moe's F(000) term removes most of that bias");
});

test("bad input raises ScatteringError naming the field", () => {
  const good = {
    diffuse: { q: [0.2, 0.3, 0.4], intensity: [1, 1, 1], sigma: [0.1, 0.1, 0.1] },
    bragg: { q: [0.25, 0.35], intensity: [2, 2], sigma: [0.1, 0.1] },
    inventory: { C: 10 },
    cellVolume: 1000,
  };
  assert.ok(absoluteScale({ ...good, bins: 1 }).scale > 0);
  const fails = (
    patch: Record<string, unknown>,
    field: string | RegExp,
    cls: typeof ScatteringError = ScatteringError,
  ): void =>
    assert.throws(
      () => absoluteScale({ ...good, ...patch } as Parameters<typeof absoluteScale>[0]),
      (e: unknown) =>
        e instanceof cls && (typeof field === "string" ? e.field === field : field.test(e.message)),
    );
  fails({ cellVolume: 0 }, "cellVolume");
  fails({ cellVolume: NaN }, "cellVolume");
  fails({ bins: 0 }, "bins");
  fails({ method: "wilson" }, "method");
  fails({ braggFactor: -1 }, "braggFactor");
  fails({ qRange: [0.5, 0.4] }, "qRange");
  fails({ qRange: [0.1, 20] }, "qRange");
  fails({ inventory: { C: 10, Qx: 1 } }, /Qx/, UnknownElementError);
  fails({ diffuse: { q: [0.2, 0.3], intensity: [1], sigma: [0.1, 0.1] } }, "diffuse.intensity");
  fails({ diffuse: { q: [0.2], intensity: [1], sigma: [-0.1] } }, "diffuse.sigma[0]");
  fails({ diffuse: { q: [-0.2], intensity: [1], sigma: [0.1] } }, "diffuse.q[0]");
  fails({ diffuse: { q: [0.2], intensity: [Infinity], sigma: [0.1] } }, "diffuse.intensity[0]");
  fails({ bragg: { q: [0.2], intensity: [1], sigma: [0.1], weight: [-1] } }, "bragg.weight[0]");
  fails({ bragg: { q: [0.2], intensity: [NaN], sigma: [0.1] } }, "bragg");
  fails({ bragg: { q: [0.8, 0.9], intensity: [1, 1], sigma: [0.1, 0.1] } }, /do not overlap/);
  // Krogh-Moe needs every shell observed.
  assert.equal(absoluteScale({ ...good, bins: 3, qRange: [0.15, 0.4] }).details.shellsUsed, 2);
  fails({ method: "krogh-moe", bins: 3, qRange: [0.15, 0.4] }, /Krogh-Moe needs every shell/);
  fails({ bins: 5, qRange: [0.01, 0.4] }, /no \|q\| shell/);
  fails(
    {
      diffuse: { q: [0.2, 0.3], intensity: [-1, -1], sigma: [0.1, 0.1] },
      bragg: { q: [0.25], intensity: [-1], sigma: [0.1] },
      qRange: [0.15, 0.35],
      bins: 1,
    },
    /integrates/,
  );
  // NaN intensity = voxel without data: skipped and counted.
  const res = absoluteScale({
    ...good,
    bins: 1,
    diffuse: { q: [0.2, 0.3, 0.4, 0.35], intensity: [1, 1, 1, NaN], sigma: [0.1, 0.1, 0.1, NaN] },
  });
  assert.equal(res.details.samplesWithoutData, 1);
  assert.throws(
    () => applyAbsoluteScale({ q: [0.1], intensity: [1, 2], sigma: [1] }, 1, "C"),
    ScatteringError,
  );
  assert.throws(
    () => applyAbsoluteScale({ q: [0.1], intensity: [1], sigma: [1] }, 0, "C"),
    ScatteringError,
  );
});
