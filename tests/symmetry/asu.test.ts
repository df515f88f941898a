// ASU mapping against the committed cctbx fixture (make_fixtures.py): per Laue class 1e5
// indices from the shared xorshift32 stream (half in [-6,6], half in [-200,200]) mapped by
// cctbx miller.map_to_asu with every space group of the class; we compare SHA-256 of the
// whole mapped array plus the first 200 rows. Also the [-4,4]^3 box: multiplicities
// (symmetryMates) and cctbx's is_inside (isInAsu), and structural properties.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  ASU_CONDITIONS,
  LAUE_CLASS_NAMES,
  SymmetryError,
  isInAsu,
  laueGroupByName,
  mapToAsu,
  symmetryMates,
  type LaueGroup,
} from "../../src/symmetry/index.js";
import { diffRows, loadFixtures, sha256, xorshift32Indices } from "./helpers.js";

const fx = loadFixtures();

test("fixture covers the 12 Laue groups (both -3m orientations)", () => {
  assert.deepEqual(
    fx.classes.map((c) => c.laue),
    [...LAUE_CLASS_NAMES],
  );
  assert.equal(
    fx.classes.reduce((s, c) => s + c.spaceGroups.length, 0),
    230,
  );
});

for (const c of fx.classes) {
  test(`mapToAsu ${c.laue}: ${c.n} indices identical to cctbx map_to_asu`, () => {
    const g = laueGroupByName(c.laue);
    const hkl = xorshift32Indices(c.seed, c.n);
    assert.equal(sha256(hkl), c.inputSha256, "PRNG stream differs from make_fixtures.py");
    const out = mapToAsu(g, hkl, new Int32Array(hkl.length));
    const d = diffRows(hkl, out, c.first200, c.laue, 200);
    assert.equal(d, undefined, d);
    assert.equal(sha256(out), c.mappedSha256, `${c.laue}: SHA-256 of the mapped array differs`);
    // In place gives the same.
    const inPlace = hkl.slice();
    assert.equal(mapToAsu(g, inPlace), inPlace);
    assert.equal(sha256(inPlace), c.mappedSha256);
  });

  test(`Laue ${c.laue}: box [-${fx.box},${fx.box}]^3 multiplicity, isInAsu, mates`, () => {
    const g = laueGroupByName(c.laue);
    const b = fx.box;
    let r = 0;
    for (let h = -b; h <= b; h++) {
      for (let k = -b; k <= b; k++) {
        for (let l = -b; l <= b; l++, r++) {
          const mates = symmetryMates(g, h, k, l);
          const where = `${c.laue} (${h},${k},${l})`;
          assert.equal(mates.length / 3, c.boxMultiplicity[r], `multiplicity ${where}`);
          assert.deepEqual([...mates.subarray(0, 3)], [h, k, l], `first mate ${where}`);
          assert.equal(isInAsu(g, h, k, l), c.boxInAsu[r] === "1", `isInAsu ${where}`);
          // Exactly one mate is in the ASU, and it is what mapToAsu returns for every mate.
          const inAsu: number[] = [];
          for (let q = 0; q < mates.length; q += 3) {
            if (isInAsu(g, mates[q]!, mates[q + 1]!, mates[q + 2]!)) inAsu.push(q);
          }
          assert.equal(inAsu.length, 1, `mates in ASU ${where}`);
          const rep = [...mates.subarray(inAsu[0]!, inAsu[0]! + 3)];
          const mapped = mapToAsu(g, mates.slice());
          for (let q = 0; q < mapped.length; q += 3) {
            assert.deepEqual([...mapped.subarray(q, q + 3)], rep, `map of mate ${where}`);
          }
        }
      }
    }
  });
}

function isGroup(g: LaueGroup): void {
  const key = (m: ArrayLike<number>) => Array.from(m).join(",");
  const ops = new Set<string>();
  for (let j = 0; j < g.order; j++) ops.add(key(g.ops.subarray(9 * j, 9 * j + 9)));
  assert.equal(ops.size, g.order, `${g.name}: operators distinct`);
  assert.ok(ops.has("1,0,0,0,1,0,0,0,1"), `${g.name}: identity`);
  assert.ok(ops.has("-1,0,0,0,-1,0,0,0,-1"), `${g.name}: inversion`);
  for (let a = 0; a < g.order; a++) {
    for (let b = 0; b < g.order; b++) {
      const A = g.ops.subarray(9 * a, 9 * a + 9);
      const B = g.ops.subarray(9 * b, 9 * b + 9);
      const C: number[] = [];
      for (let r = 0; r < 3; r++) {
        for (let cc = 0; cc < 3; cc++) {
          let s = 0;
          for (let m = 0; m < 3; m++) s += A[3 * r + m]! * B[3 * m + cc]!;
          C.push(s);
        }
      }
      assert.ok(ops.has(key(C)), `${g.name}: closed under products`);
    }
  }
}

test("Laue groups: orders, closure, identity first, inversion, conditions", () => {
  const orders: Record<string, number> = {
    "-1": 2,
    "2/m": 4,
    mmm: 8,
    "4/m": 8,
    "4/mmm": 16,
    "-3": 6,
    "-3m1": 12,
    "-31m": 12,
    "6/m": 12,
    "6/mmm": 24,
    "m-3": 24,
    "m-3m": 48,
  };
  for (const name of LAUE_CLASS_NAMES) {
    const g = laueGroupByName(name);
    assert.equal(g.order, orders[name]);
    assert.equal(g.ops.length, 9 * g.order);
    assert.deepEqual([...g.ops.subarray(0, 9)], [1, 0, 0, 0, 1, 0, 0, 0, 1]);
    isGroup(g);
    assert.equal(typeof ASU_CONDITIONS[name], "string");
    assert.equal(laueGroupByName(name), g, "shared instance");
  }
  assert.throws(() => laueGroupByName("-3m"), SymmetryError);
});

test("operator convention: h' = h . R (row vector); the 2/m two-fold is along b", () => {
  const g = laueGroupByName("2/m");
  const m = symmetryMates(g, 1, 2, 3);
  const rows = new Set<string>();
  for (let q = 0; q < m.length; q += 3) rows.add(`${m[q]},${m[q + 1]},${m[q + 2]}`);
  assert.deepEqual(rows, new Set(["1,2,3", "-1,2,-3", "1,-2,3", "-1,-2,-3"]));
  // 3-fold of the hexagonal setting: (h,k,l) -> (k, -h-k, l) and (-h-k, h, l).
  const t = symmetryMates(laueGroupByName("-3"), 1, 2, 3);
  const trows = new Set<string>();
  for (let q = 0; q < t.length; q += 3) trows.add(`${t[q]},${t[q + 1]},${t[q + 2]}`);
  assert.ok(trows.has("2,-3,3") && trows.has("-3,1,3") && trows.has("-1,-2,-3"));
});

test("mapToAsu: idempotent, output is in the ASU and a symmetry mate, extreme values", () => {
  const hkl = xorshift32Indices(0xdecafbad, 20000);
  const big = 2 ** 30 - 1; // documented limit: |index| < 2^30
  const extreme = Int32Array.from([big, -big + 3, big - 1, -big, 0, big, 0, 0, -big, 1, -1, 0]);
  for (const name of LAUE_CLASS_NAMES) {
    const g = laueGroupByName(name);
    for (const src of [hkl, extreme]) {
      const once = mapToAsu(g, src, new Int32Array(src.length));
      const twice = mapToAsu(g, once, new Int32Array(src.length));
      assert.deepEqual(twice, once, `${name}: idempotent`);
      for (let i = 0; i < src.length; i += 3) {
        assert.ok(isInAsu(g, once[i]!, once[i + 1]!, once[i + 2]!), `${name}: in ASU`);
        if (i < 3000 || src === extreme) {
          const m = symmetryMates(g, src[i]!, src[i + 1]!, src[i + 2]!);
          let found = false;
          for (let q = 0; q < m.length && !found; q += 3) {
            found = m[q] === once[i] && m[q + 1] === once[i + 1] && m[q + 2] === once[i + 2];
          }
          assert.ok(found, `${name}: result is a mate of row ${i / 3}`);
        }
      }
    }
  }
});

test("mapToAsu argument checks", () => {
  const g = laueGroupByName("mmm");
  assert.throws(() => mapToAsu(g, new Int32Array(4)), SymmetryError);
  assert.throws(() => mapToAsu(g, new Int32Array(6), new Int32Array(3)), SymmetryError);
  const out = new Int32Array(9).fill(7);
  assert.deepEqual(
    [...mapToAsu(g, Int32Array.from([-1, -2, -3]), out)],
    [1, 2, 3, 7, 7, 7, 7, 7, 7],
  );
  assert.equal(mapToAsu(g, new Int32Array(0)).length, 0);
  assert.throws(() => symmetryMates(g, 0.5, 0, 0), SymmetryError);
});

test("mapToAsu throughput smoke (>1 M indices/s in every class; see asu.bench.ts)", (t) => {
  const n = 1_000_000;
  const hkl = xorshift32Indices(0x5eed, n);
  const out = new Int32Array(hkl.length);
  const rates: string[] = [];
  for (const name of LAUE_CLASS_NAMES) {
    const g = laueGroupByName(name);
    mapToAsu(g, hkl, out);
    let best = Infinity;
    for (let r = 0; r < 3; r++) {
      const t0 = performance.now();
      mapToAsu(g, hkl, out);
      best = Math.min(best, performance.now() - t0);
    }
    const rate = n / best / 1e3;
    rates.push(`${name} ${rate.toFixed(0)}`);
    assert.ok(rate > 1, `${name}: ${rate.toFixed(2)} M indices/s`);
  }
  t.diagnostic(`M indices/s: ${rates.join(", ")}`);
});
