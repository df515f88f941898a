// Form factors (WK1995) and incoherent scattering (Hubbell/xraylib) against reference values that
// fixtures/make_fixtures.py computed with cctbx and xraylib; unit-cell inventories.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import {
  ELEMENTS,
  FORM_FACTOR_LABELS,
  MAX_STOL,
  ScatteringError,
  UnknownElementError,
  atomCount,
  atomicNumber,
  electronCount,
  formFactor,
  formFactors,
  hasFormFactor,
  incoherentScattering,
  incoherentScatterings,
  parseInventory,
  parseScatterer,
  sumF0Squared,
  sumIncoherent,
  sumTotalIndependent,
  wk1995Coefficients,
} from "../../src/scattering/index.js";

interface Reference {
  stol: number[];
  f0: Record<string, number[]>;
  stolIons: number[];
  f0Ions: Record<string, number[]>;
  stolIncoherent: number[];
  incoherent: Record<string, number[]>;
  sanityWk1995VsXraylibFFRayl: Record<string, { maxAbs: number; maxRelToZ: number }>;
}

const ref = JSON.parse(
  fs.readFileSync(
    fileURLToPath(new URL("./fixtures/reference-factors.json", import.meta.url)),
    "utf8",
  ),
) as Reference;

const rel = (a: number, b: number): number => Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);

test("f0 of every element H..U matches cctbx wk1995 at_stol at 41 values of s in [0, 2]", (t) => {
  assert.equal(ELEMENTS.length, 92);
  assert.equal(ref.stol.length, 41);
  assert.equal(ref.stol[0], 0);
  assert.equal(ref.stol.at(-1), 2);
  let worst = 0;
  let where = "";
  for (const el of ELEMENTS) {
    const want = ref.f0[el];
    assert.ok(want, `reference has ${el}`);
    const got = formFactors(el, ref.stol);
    for (let i = 0; i < want.length; i++) {
      const r = rel(got[i] ?? NaN, want[i] ?? NaN);
      if (r > worst) {
        worst = r;
        where = `${el} s=${ref.stol[i]}`;
      }
      assert.ok(r <= 1e-3, `${el} at s=${ref.stol[i]}: ${got[i]} vs ${want[i]}`);
    }
  }
  t.diagnostic(`max relative f0 deviation from cctbx: ${worst.toExponential(2)} (${where})`);
  // Same float32 coefficients, same formula: agreement is at rounding level.
  assert.ok(worst < 1e-12, `worst ${worst}`);
  const s = ref.sanityWk1995VsXraylibFFRayl;
  const c = s["C"];
  if (c)
    t.diagnostic(`report only: |WK1995 - xraylib FF_Rayl| for C up to ${c.maxAbs.toFixed(4)} e`);
});

test("f0 of every WK1995 ion matches cctbx", () => {
  const labels = Object.keys(ref.f0Ions);
  assert.ok(labels.length > 100);
  for (const label of labels) {
    assert.ok(hasFormFactor(label), label);
    const got = formFactors(label, ref.stolIons);
    const want = ref.f0Ions[label] ?? [];
    for (let i = 0; i < want.length; i++) {
      assert.ok(rel(got[i] ?? NaN, want[i] ?? NaN) < 1e-12, `${label} s=${ref.stolIons[i]}`);
    }
  }
  assert.equal(FORM_FACTOR_LABELS.length, 92 + labels.length);
});

test("f0 basics: f0(0) ~ electrons, label forms, coefficients", () => {
  // WK1995 f0(0) = sum a + c reproduces the electron count to ~0.01 e.
  for (const [i, el] of ELEMENTS.entries()) {
    assert.ok(Math.abs(formFactor(el, 0) - (i + 1)) < 0.05, `${el}: ${formFactor(el, 0)}`);
  }
  assert.ok(Math.abs(formFactor("Fe2+", 0) - 24) < 0.05);
  assert.ok(Math.abs(formFactor("O2-", 0) - 10) < 0.05);
  assert.equal(formFactor("FE", 0.3), formFactor("Fe", 0.3));
  assert.equal(formFactor("Fe+2", 0.3), formFactor("Fe2+", 0.3));
  assert.equal(formFactor("Na+", 0.3), formFactor("Na1+", 0.3));
  assert.equal(formFactor("Cl-", 0.3), formFactor("Cl1-", 0.3));
  assert.deepEqual(parseScatterer("fe3+"), { label: "Fe3+", element: "Fe", z: 26, charge: 3 });
  assert.equal(atomicNumber("U"), 92);
  const c = wk1995Coefficients("C");
  assert.equal(c.label, "C");
  assert.equal(c.a.length, 5);
  const s = 0.37;
  let f = c.c;
  for (let k = 0; k < 5; k++) f += (c.a[k] ?? 0) * Math.exp(-(c.b[k] ?? 0) * s * s);
  assert.equal(f, formFactor("C", s));
  assert.ok(formFactor("C", MAX_STOL) < 0.2);
});

test("incoherent S of every element H..U matches xraylib SF_Compt at 41 values of s in (0, 2]", (t) => {
  // Tolerance |S - S_ref| <= 1e-3 max(S_ref, 1e-3 Z): relative where S is not tiny, and an
  // absolute floor of 1e-6 Z electrons near s = 0 where S -> 0 (S(0) = 0).
  assert.equal(ref.stolIncoherent.length, 41);
  let worst = 0;
  let where = "";
  for (const [i, el] of ELEMENTS.entries()) {
    const Z = i + 1;
    const want = ref.incoherent[el] ?? [];
    const got = incoherentScatterings(el, ref.stolIncoherent);
    for (let j = 0; j < want.length; j++) {
      const w = want[j] ?? NaN;
      const dev = Math.abs((got[j] ?? NaN) - w) / Math.max(w, 1e-3 * Z);
      if (dev > worst) {
        worst = dev;
        where = `${el} s=${ref.stolIncoherent[j]}`;
      }
      assert.ok(dev <= 1e-3, `${el} s=${ref.stolIncoherent[j]}: ${got[j]} vs ${w}`);
    }
  }
  t.diagnostic(`max scaled S deviation from xraylib: ${worst.toExponential(2)} (${where})`);
  // Same knots and the same natural spline as xraylib: rounding level.
  assert.ok(worst < 1e-9, `worst ${worst}`);
});

test("incoherent S limits and ions", () => {
  assert.equal(incoherentScattering("C", 0), 0);
  assert.equal(incoherentScattering(1, 0), 0);
  // Below xraylib's first knot (0.001 1/A) S ~ s^2.
  const a = incoherentScattering("C", 0.0005);
  const b = incoherentScattering("C", 0.001);
  assert.ok(Math.abs(a / b - 0.25) < 1e-12);
  // S rises towards Z; at s = 6 1/A light atoms are saturated, inner shells of heavy ones not.
  for (const [i, el] of ELEMENTS.entries()) {
    const Z = i + 1;
    const s2 = incoherentScattering(el, 2);
    const s6 = incoherentScattering(el, MAX_STOL);
    assert.ok(s2 < s6 + 1e-9 && s6 <= Z + 1e-9 && s6 > 0.9 * Z, `${el}: S(2)=${s2} S(6)=${s6}`);
    if (Z <= 11) assert.ok(Math.abs(s6 - Z) < 0.01, el);
  }
  // H: S = 1 - f^2 for the 1s electron; at s = 0.5, S ~ 0.995.
  assert.ok(Math.abs(incoherentScattering("H", 0.5) - 0.99502) < 1e-9);
  assert.equal(incoherentScattering("Fe3+", 0.4), incoherentScattering("Fe", 0.4));
  assert.equal(incoherentScattering(26, 0.4), incoherentScattering("Fe", 0.4));
});

test("bad symbols and arguments raise typed errors naming the culprit", () => {
  assert.throws(
    () => formFactor("Xx", 0.1),
    (e: unknown) => e instanceof UnknownElementError && e.symbol === "Xx" && /Xx/.test(e.message),
  );
  assert.throws(
    () => formFactor("Fe7+", 0.1),
    (e: unknown) => e instanceof UnknownElementError && /Fe7\+/.test(String(e)),
  );
  assert.throws(() => formFactor("Np", 0.1), UnknownElementError);
  assert.throws(() => formFactor("C", -0.1), ScatteringError);
  assert.throws(() => formFactor("C", 6.5), ScatteringError);
  assert.throws(() => formFactor("C", NaN), ScatteringError);
  assert.throws(() => incoherentScattering(93, 0.1), ScatteringError);
  assert.throws(() => incoherentScattering(0, 0.1), ScatteringError);
  assert.throws(() => incoherentScattering("Qq", 0.1), UnknownElementError);
  assert.throws(
    () => incoherentScatterings("C", [0.1, 7]),
    (e: unknown) => e instanceof ScatteringError && e.field === "stol[1]",
  );
});

test("inventories: object and formula forms, multiplier, merging", () => {
  const obj = parseInventory({ C: 600, N: 160, O: 200, S: 8, H: 1000 });
  const str = parseInventory("C600 N160 O200 S8 H1000");
  const packed = parseInventory("C600N160O200S8H1000");
  assert.deepEqual(str, obj);
  assert.deepEqual(packed, obj);
  assert.equal(atomCount(obj), 1968);
  assert.equal(electronCount(obj), 600 * 6 + 160 * 7 + 200 * 8 + 8 * 16 + 1000);
  const x4 = parseInventory("C600 N160 O200 S8 H1000", { multiplier: 4 });
  assert.equal(atomCount(x4), 4 * 1968);
  const water = parseInventory("H2O");
  assert.equal(electronCount(water), 10);
  assert.deepEqual(parseInventory("H2 O H0.5"), parseInventory({ H: 2.5, O: 1 }));
  const ions = parseInventory({ "Fe2+": 2, FE: 1, Fe: 1, "Cl-": 4 });
  assert.equal(electronCount(ions), 2 * 24 + 2 * 26 + 4 * 18);
  assert.equal(ions.entries.length, 3);

  const q = [0, 0.2, 0.5, 1.0, 2.0];
  const f2 = sumF0Squared(obj, q);
  const inc = sumIncoherent("C600 N160 O200 S8 H1000", q);
  const tot = sumTotalIndependent(obj, q);
  for (let i = 0; i < q.length; i++) {
    const s = (q[i] ?? 0) / 2;
    let want = 0;
    let wantS = 0;
    for (const [el, n] of [
      ["C", 600],
      ["N", 160],
      ["O", 200],
      ["S", 8],
      ["H", 1000],
    ] as const) {
      want += n * formFactor(el, s) ** 2;
      wantS += n * incoherentScattering(el, s);
    }
    assert.ok(rel(f2[i] ?? NaN, want) < 1e-14);
    assert.ok(Math.abs((inc[i] ?? NaN) - wantS) <= 1e-12 * Math.max(wantS, 1));
    assert.ok(Math.abs((tot[i] ?? NaN) - want - wantS) <= 1e-9 * want);
  }
  assert.equal(inc[0], 0);
});

test("inventory errors name the bad symbol or count", () => {
  const bad = (
    input: Parameters<typeof parseInventory>[0],
    symbol: string | undefined,
    re: RegExp,
  ): void =>
    assert.throws(
      () => parseInventory(input),
      (e: unknown) => e instanceof ScatteringError && e.symbol === symbol && re.test(e.message),
    );
  bad("C600 Xq12 N5", "Xq", /Xq/);
  bad("C600 n160", "n160", /n160/);
  bad("C600 N-3", "N-3", /N-3/);
  bad({ C: 10, Zz: 3 }, "Zz", /Zz/);
  bad({ C: -1 }, "C", /count/);
  bad({ C: Number.NaN }, "C", /count/);
  bad({ Fe9: 1 }, "Fe9", /Fe9/);
  assert.throws(
    () => parseInventory({}),
    (e: unknown) => e instanceof ScatteringError && /no atoms/.test(String(e)),
  );
  assert.throws(() => parseInventory(""), ScatteringError);
  assert.throws(() => parseInventory("C6", { multiplier: 0 }), ScatteringError);
  assert.throws(
    () => sumF0Squared("C6", [0.1, 13]),
    (e: unknown) => e instanceof ScatteringError && e.field === "qAbs[1]",
  );
});
