// Crystal setting matrices, cells and hkl of pixels against cctbx/dxtbx (fixture: make_fixtures.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Crystal, Mat3, Vec3 } from "../../src/geometry/models.js";
import {
  aMatrixForStill,
  aMatrixFromRealSpace,
  bMatrix,
  cellVolumeA3,
  crystalSettingForStill,
  dSpacingFromHkl,
  dSpacingFromQ,
  fractionalizationMatrix,
  hklFromQ,
  hklFromQArray,
  orthogonalizationMatrix,
  qFromHkl,
  realSpaceVectorsFromA,
  reciprocalCell,
  uMatrix,
  unitCellFromA,
  unitCellFromVectors,
} from "../../src/geometry/crystal.js";
import { mat3Mul, mat3Transpose } from "../../src/geometry/vec3.js";
import { loadFixture, Worst } from "./fixtures/load.js";

interface CrystalFixture {
  crystal: Crystal;
  scanVarying: Crystal & { expectedA0: number[]; expectedCell0: number[] };
  A: number[];
  B: number[];
  U: number[];
  cell: number[];
  reciprocalCell: number[];
  volumeA3: number;
  orthogonalization: number[];
  fractionalization: number[];
  q: Vec3[];
  hkl: Vec3[];
  dOfHkl: { hkl: Vec3; dA: number }[];
}
const fx = loadFixture<CrystalFixture>("crystal.json");
const { crystal } = fx;

function assertMatClose(
  got: Mat3 | readonly number[],
  want: readonly number[],
  tol: number,
  what: string,
) {
  const scale = Math.max(...want.map(Math.abs));
  for (let i = 0; i < 9; i++) {
    assert.ok(
      Math.abs(got[i]! - want[i]!) <= tol * scale,
      `${what}[${i}]: got ${got[i]}, want ${want[i]}`,
    );
  }
}

const cellArray = (c: ReturnType<typeof unitCellFromVectors>) => [
  c.aA,
  c.bA,
  c.cA,
  c.alphaDeg,
  c.betaDeg,
  c.gammaDeg,
];

test("A, B, U and the unit cell match dxtbx Crystal", () => {
  const a = aMatrixFromRealSpace(crystal.realSpaceA, crystal.realSpaceB, crystal.realSpaceC);
  assertMatClose(a, fx.A, 1e-13, "A");
  const cell = unitCellFromVectors(crystal.realSpaceA, crystal.realSpaceB, crystal.realSpaceC);
  cellArray(cell).forEach((v, i) =>
    assert.ok(Math.abs(v - fx.cell[i]!) < 1e-11 * fx.cell[i]!, `cell[${i}]`),
  );
  const b = bMatrix(cell);
  assertMatClose(b, fx.B, 1e-13, "B");
  const u = uMatrix(a, b);
  assertMatClose(u, fx.U, 1e-13, "U");
  // U is a rotation.
  assertMatClose(mat3Mul(u, mat3Transpose(u)), [1, 0, 0, 0, 1, 0, 0, 0, 1], 1e-14, "U U^T");
  assertMatClose(orthogonalizationMatrix(cell), fx.orthogonalization, 1e-13, "orthogonalization");
  assertMatClose(fractionalizationMatrix(cell), fx.fractionalization, 1e-13, "fractionalization");
  assert.ok(Math.abs(cellVolumeA3(cell) - fx.volumeA3) < 1e-11 * fx.volumeA3);
  const rc = reciprocalCell(cell);
  const rcArr = [
    rc.aStarPerA,
    rc.bStarPerA,
    rc.cStarPerA,
    rc.alphaStarDeg,
    rc.betaStarDeg,
    rc.gammaStarDeg,
  ];
  rcArr.forEach((v, i) =>
    assert.ok(
      Math.abs(v - fx.reciprocalCell[i]!) < 1e-11 * fx.reciprocalCell[i]!,
      `reciprocal cell[${i}]`,
    ),
  );
  // Round trip A -> real-space vectors -> cell.
  const [ra, rb, rcv] = realSpaceVectorsFromA(a);
  for (let c = 0; c < 3; c++) {
    assert.ok(Math.abs(ra[c]! - crystal.realSpaceA[c]!) < 1e-12 * 100);
    assert.ok(Math.abs(rb[c]! - crystal.realSpaceB[c]!) < 1e-12 * 100);
    assert.ok(Math.abs(rcv[c]! - crystal.realSpaceC[c]!) < 1e-12 * 100);
  }
  cellArray(unitCellFromA(a)).forEach((v, i) =>
    assert.ok(Math.abs(v - fx.cell[i]!) < 1e-11 * fx.cell[i]!),
  );
});

test("aMatrixForStill: scan point 0 of a scan-varying crystal, else from real space", () => {
  assertMatClose(aMatrixForStill(crystal), fx.A, 1e-13, "static A");
  const sv = fx.scanVarying;
  assertMatClose(aMatrixForStill(sv), sv.expectedA0, 1e-15, "A at scan point 0");
  const setting = crystalSettingForStill(sv);
  cellArray(setting.cell).forEach((v, i) =>
    assert.ok(
      Math.abs(v - sv.expectedCell0[i]!) < 1e-11 * sv.expectedCell0[i]!,
      `scan point 0 cell[${i}]`,
    ),
  );
  assertMatClose(mat3Mul(setting.u, setting.b), setting.a, 1e-14, "U B = A");
});

test("fractional hkl of pixel q-vectors and d-spacings match dxtbx/cctbx", () => {
  const setting = crystalSettingForStill(crystal);
  const w = new Worst();
  fx.q.forEach((q, k) => {
    const hkl = hklFromQ(setting.aInverse, q);
    const want = fx.hkl[k]!;
    const scale = Math.max(1, ...want.map(Math.abs));
    for (let c = 0; c < 3; c++) w.add(hkl[c]!, want[c]!, scale, `q ${k} hkl[${c}]`);
    const back = qFromHkl(setting.a, hkl);
    for (let c = 0; c < 3; c++) assert.ok(Math.abs(back[c]! - q[c]!) < 1e-14);
  });
  console.log(`  max |hkl - dxtbx| / max(1, |hkl|) = ${w.value.toExponential(2)}`);
  assert.ok(w.value < 1e-12, w.where);
  // The batch form agrees with the scalar one.
  const flat = Float64Array.from(fx.q.flat());
  const batch = hklFromQArray(setting.aInverse, flat);
  fx.q.forEach((q, k) => {
    const one = hklFromQ(setting.aInverse, q);
    for (let c = 0; c < 3; c++) assert.equal(batch[3 * k + c], one[c]);
  });
  for (const { hkl, dA } of fx.dOfHkl) {
    assert.ok(Math.abs(dSpacingFromHkl(setting.a, hkl) - dA) < 1e-12 * dA, `d of ${hkl}`);
  }
  assert.equal(dSpacingFromQ([0, 0, 0]), Infinity);
});
