// GlobalVoxelGrid: robust reference cell, per-still orientations (and per frame), hkl <->
// voxel round trips, the ASU box, ndiv against the Laue group, serialisation, typed errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Crystal, Mat3, Vec3 } from "../../src/geometry/models.js";
import { bMatrix, type UnitCell } from "../../src/geometry/crystal.js";
import { mat3Mul, mat3MulVec } from "../../src/geometry/vec3.js";
import { Rng } from "../../src/synth/random.js";
import {
  DataConsistencyError,
  GlobalVoxelGrid,
  IncompatibleNdivError,
  InvalidVoxelIndexError,
  SymmetryError,
  averageUnitCell,
} from "../../src/voxel/index.js";
import {
  ORTHO_CELL,
  P212121_HALL,
  crystalFrom,
  crystalsOf,
  randomRotation,
  syntheticStills,
} from "./helpers.js";

const close = (a: number, b: number, tol: number, what: string) =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

test("reference cell: per-parameter median ignores a minority of outliers; mean does not", () => {
  const rng = new Rng(3);
  const cells: UnitCell[] = [40, 40.2, 39.9, 40.1, 55].map((a) => ({
    ...ORTHO_CELL,
    aA: a,
    bA: a * 1.25,
  }));
  const crystals = cells.map((c) => crystalFrom(randomRotation(rng), c, P212121_HALL));
  const med = averageUnitCell(crystals);
  close(med.aA, 40.1, 1e-12, "median a");
  close(med.bA, 40.1 * 1.25, 1e-12, "median b");
  close(med.cA, 60, 1e-12, "median c");
  close(med.gammaDeg, 90, 1e-12, "median gamma");
  const mean = averageUnitCell(crystals, "mean");
  close(mean.aA, (40 + 40.2 + 39.9 + 40.1 + 55) / 5, 1e-12, "mean a");
  const grid = GlobalVoxelGrid.create({ stillCrystals: crystals, ndiv: 1, dMinA: 5 });
  assert.equal(grid.cellAveraging, "median");
  assert.equal(grid.nCrystalsAveraged, 5);
  close(grid.referenceCell.aA, 40.1, 1e-12, "grid cell");
  assert.deepEqual([...grid.bMatrix], [...bMatrix(med)]);
});

test("per-still orientation: the same hkl seen by differently oriented stills lands in one voxel", () => {
  const rng = new Rng(11);
  const cellA: UnitCell = { ...ORTHO_CELL };
  const cellB: UnitCell = { ...ORTHO_CELL, aA: 40.04, bA: 50.05, cA: 60.06 };
  const uA = randomRotation(rng);
  const uB = randomRotation(rng);
  const grid = GlobalVoxelGrid.create({
    stillCrystals: new Map([
      [10, crystalFrom(uA, cellA, P212121_HALL)],
      [20, crystalFrom(uB, cellB, P212121_HALL)],
    ]),
    ndiv: [2, 3, 4],
    dMinA: 2.5,
  });
  const hkls: Vec3[] = [
    [3.1, -4.2, 7.05],
    [-1, 2, 3],
    [10.2, 0.3, -12.4],
    [0.26, 0.24, 0.13],
  ];
  for (const hkl of hkls) {
    // Each still sees hkl at q = U_i B_i hkl with its own cell; the grid maps with U_i B_avg.
    const qA = mat3MulVec(mat3Mul(uA, bMatrix(cellA)), hkl);
    const qB = mat3MulVec(mat3Mul(uB, bMatrix(cellB)), hkl);
    // Symmetry mates (mmm: any sign change) too, from the other still.
    const mate: Vec3 = [-hkl[0], hkl[1], -hkl[2]];
    const qMate = mat3MulVec(mat3Mul(uB, bMatrix(cellB)), mate);
    const out = new Int32Array(1);
    const vox = (id: number, q: Vec3) => {
      grid.computeVoxelIndices(id, new Float64Array(q), undefined, out);
      return out[0]!;
    };
    const vA = vox(10, qA);
    assert.ok(vA >= 0, `hkl ${hkl} binned`);
    assert.equal(vox(20, qB), vA, `hkl ${hkl}: still 20 agrees with still 10`);
    assert.equal(vox(20, qMate), vA, `hkl ${hkl}: symmetry mate`);
    assert.equal(grid.hklToVoxelIndex(hkl), vA);
    // A single average A for all stills (the plan's literal text) would bin still 20 elsewhere.
    const wrong = mat3MulVec(grid.getAInverseForStill(10), qB);
    assert.notEqual(grid.hklToVoxelIndex(wrong), vA, "one shared A is wrong for a rotated still");
  }
});

test("scan-varying crystals: getAInverseForFrame and per-frame binning", () => {
  const rng = new Rng(5);
  const u0 = randomRotation(rng);
  const b = bMatrix(ORTHO_CELL);
  const rot = (deg: number): Mat3 => {
    const t = (deg * Math.PI) / 180;
    return [Math.cos(t), -Math.sin(t), 0, Math.sin(t), Math.cos(t), 0, 0, 0, 1];
  };
  const frames = [0, 0.5, 1, 1.5, 2].map((d) => mat3Mul(mat3Mul(rot(d), u0), b));
  const crystal: Crystal = { ...crystalFrom(u0, ORTHO_CELL, P212121_HALL), aAtScanPoints: frames };
  const grid = GlobalVoxelGrid.create({ stillCrystals: [crystal], ndiv: 3, dMinA: 2 });
  for (let f = 0; f < frames.length; f++) {
    const inv = grid.getAInverseForFrame(f);
    const hkl = mat3MulVec(inv, mat3MulVec(frames[f]!, [1, 2, 3]));
    hkl.forEach((x, i) => close(x, [1, 2, 3][i]!, 1e-12, `frame ${f} hkl[${i}]`));
  }
  assert.throws(() => grid.getAInverseForFrame(5), DataConsistencyError);
  const hkl: Vec3 = [10.3, -11.1, 12.2];
  const q = new Float64Array(3 * frames.length);
  frames.forEach((a, f) => q.set(mat3MulVec(a, hkl), 3 * f));
  const out = new Int32Array(frames.length);
  grid.computeVoxelIndices(0, q, Int32Array.from(frames.keys()), out);
  assert.deepEqual([...new Set(out)], [grid.hklToVoxelIndex(hkl)]);
  grid.computeVoxelIndices(0, q, undefined, out);
  assert.ok(
    new Set(out).size > 1,
    "without frame indices the static setting mis-bins later frames",
  );
  assert.throws(
    () => grid.computeVoxelIndices(0, q, Int32Array.from([0, 1, 2, 3, 9]), out),
    DataConsistencyError,
  );
});

test("hkl <-> voxel: every voxel round-trips; centres; invalid indices", () => {
  const stills = syntheticStills(3, 10, { seed: 2 });
  const grid = GlobalVoxelGrid.create({
    stillCrystals: crystalsOf(stills),
    ndiv: [2, 3, 4],
    dMinA: 4,
  });
  assert.equal(grid.nVoxels, grid.shape[0] * grid.shape[1] * grid.shape[2]);
  const { hkl, q, qLength } = grid.voxelCentres(
    Int32Array.from({ length: grid.nVoxels }, (_, i) => i),
  );
  for (let v = 0; v < grid.nVoxels; v++) {
    const n = grid.voxelIndexToSubMiller(v);
    assert.equal(grid.voxelIndexFromSubMiller(n), v);
    const c = grid.voxelIndexToHkl(v);
    assert.deepEqual(c, [n[0] / 2, n[1] / 3, n[2] / 4]);
    assert.equal(grid.hklToVoxelIndex(c, { asu: false }), v);
    // Anywhere inside the voxel (|offset| < half a division) rounds back to it.
    assert.equal(grid.hklToVoxelIndex([c[0] + 0.24, c[1] - 0.16, c[2] + 0.12], { asu: false }), v);
    assert.deepEqual([hkl[3 * v], hkl[3 * v + 1], hkl[3 * v + 2]], c);
    const qc = grid.voxelCentreQ(v);
    qc.forEach((x, i) => close(q[3 * v + i]!, x, 1e-14, "q centre"));
    close(qLength[v]!, Math.hypot(...qc), 1e-12, "|q| centre");
    close(grid.voxelCentreQLength(v), Math.hypot(...qc), 1e-12, "|q| centre (B frame)");
  }
  // mmm: the box is the positive octant.
  assert.deepEqual([...grid.hklOrigin], [0, 0, 0]);
  for (const bad of [-1, grid.nVoxels, 0.5, NaN]) {
    assert.throws(() => grid.voxelIndexToHkl(bad), InvalidVoxelIndexError);
  }
  assert.equal(grid.voxelIndexFromSubMiller([-1, 0, 0]), -1);
});

test("the resolution-shell box holds every observation within the limits; fromData is tighter", () => {
  const stills = syntheticStills(4, 5000, { seed: 9, dMinA: 3 });
  const opts = { stillCrystals: crystalsOf(stills), ndiv: 2, dMinA: 3 } as const;
  const full = GlobalVoxelGrid.create(opts);
  const data = GlobalVoxelGrid.fromData(opts, stills);
  for (const g of [full, data]) {
    for (const s of stills) {
      const out = new Int32Array(s.intensity.length);
      const rej = g.computeVoxelIndices(s.stillId, s.qLab, undefined, out);
      assert.deepEqual(rej, { outsideResolution: 0, outsideGrid: 0 });
      assert.ok(out.every((v) => v >= 0));
    }
  }
  for (let a = 0; a < 3; a++) {
    assert.ok(data.hklOrigin[a]! >= full.hklOrigin[a]!);
    assert.ok(data.hklOrigin[a]! + data.shape[a]! <= full.hklOrigin[a]! + full.shape[a]!);
  }
  // Observations beyond the resolution limit are rejected as such.
  const out = new Int32Array(1);
  const rej = full.computeVoxelIndices(0, new Float64Array([0.5, 0, 0]), undefined, out);
  assert.equal(out[0], -1);
  assert.equal(rej.outsideResolution, 1);
  const low = GlobalVoxelGrid.create({ ...opts, dMaxA: 10 });
  const r2 = low.computeVoxelIndices(0, new Float64Array([0.05, 0, 0]), undefined, out);
  assert.equal(r2.outsideResolution, 1);
});

test("ndiv must be equal along axes the Laue group mixes", () => {
  const rng = new Rng(1);
  const tet: UnitCell = { aA: 50, bA: 50, cA: 70, alphaDeg: 90, betaDeg: 90, gammaDeg: 90 };
  const hexCell: UnitCell = { aA: 50, bA: 50, cA: 70, alphaDeg: 90, betaDeg: 90, gammaDeg: 120 };
  const cub: UnitCell = { aA: 50, bA: 50, cA: 50, alphaDeg: 90, betaDeg: 90, gammaDeg: 90 };
  const mk = (cell: UnitCell, sg: string, ndiv: [number, number, number]) =>
    GlobalVoxelGrid.create({
      stillCrystals: [crystalFrom(randomRotation(rng), cell, " P 1")],
      spaceGroup: sg,
      ndiv,
      dMinA: 8,
    });
  assert.throws(() => mk(tet, "P 4 2 2", [2, 3, 2]), IncompatibleNdivError);
  assert.throws(() => mk(tet, "P 4 2 2", [2, 3, 2]), SymmetryError);
  assert.equal(mk(tet, "P 4 2 2", [2, 2, 3]).symmetry.laueClass, "4/mmm");
  assert.throws(() => mk(hexCell, "P 6", [3, 2, 2]), IncompatibleNdivError);
  assert.equal(mk(hexCell, "P 6", [3, 3, 1]).symmetry.laueClass, "6/m");
  assert.throws(() => mk(cub, "P 2 3", [2, 2, 3]), /ndiv_/);
  assert.equal(mk(cub, "P 2 3", [2, 2, 2]).symmetry.laueClass, "m-3");
  assert.equal(mk(ORTHO_CELL, "P 21 21 21", [1, 2, 5]).symmetry.laueClass, "mmm");
  assert.equal(mk(ORTHO_CELL, "P 1", [1, 2, 5]).symmetry.laueClass, "-1");
});

test("space group errors", () => {
  const rng = new Rng(2);
  const c1 = crystalFrom(randomRotation(rng), ORTHO_CELL, P212121_HALL);
  const c2 = crystalFrom(randomRotation(rng), ORTHO_CELL, " P 1");
  assert.throws(
    () => GlobalVoxelGrid.create({ stillCrystals: [c1, c2], ndiv: 1, dMinA: 5 }),
    SymmetryError,
  );
  assert.throws(
    () => GlobalVoxelGrid.create({ stillCrystals: [c1], spaceGroup: "Q 99", ndiv: 1, dMinA: 5 }),
    SymmetryError,
  );
  // The crystals' common Hall symbol is the default.
  const g = GlobalVoxelGrid.create({ stillCrystals: [c1], ndiv: 1, dMinA: 5 });
  assert.equal(g.symmetry.laueClass, "mmm");
  assert.throws(
    () => GlobalVoxelGrid.create({ stillCrystals: [c1], ndiv: 0, dMinA: 5 }),
    DataConsistencyError,
  );
  assert.throws(
    () => GlobalVoxelGrid.create({ stillCrystals: [c1], ndiv: 1, dMinA: 5, dMaxA: 4 }),
    DataConsistencyError,
  );
  assert.throws(
    () => g.computeVoxelIndices(99, new Float64Array(3), undefined, new Int32Array(1)),
    DataConsistencyError,
  );
});

test("serialisation: JSON and attributes round trip, stills included", () => {
  const stills = syntheticStills(3, 10, { seed: 4 });
  const rng = new Rng(8);
  const u0 = randomRotation(rng);
  const seq: Crystal = {
    ...crystalFrom(u0, ORTHO_CELL, P212121_HALL),
    aAtScanPoints: [
      mat3Mul(u0, bMatrix(ORTHO_CELL)),
      mat3Mul(randomRotation(rng), bMatrix(ORTHO_CELL)),
    ],
  };
  const crystals = crystalsOf(stills);
  crystals.set(7, seq);
  const g = GlobalVoxelGrid.create({
    stillCrystals: crystals,
    ndiv: [2, 2, 3],
    dMinA: 4,
    dMaxA: 30,
  });
  const j = JSON.parse(JSON.stringify(g.toJSON()));
  const g2 = GlobalVoxelGrid.fromJSON(j);
  assert.deepEqual(g2.toJSON(), g.toJSON());
  assert.equal(g2.geometryKey, g.geometryKey);
  const g3 = GlobalVoxelGrid.fromAttrs(
    g.toAttrs(),
    g.stillIds.map((id) => g.stillOrientation(id)),
  );
  assert.deepEqual(g3.toJSON(), g.toJSON());
  assert.deepEqual(g2.getAInverseForFrame(1, 7), g.getAInverseForFrame(1, 7));
  const s = stills[1]!;
  const a = new Int32Array(s.intensity.length);
  const b = new Int32Array(s.intensity.length);
  g.computeVoxelIndices(1, s.qLab, undefined, a);
  g2.computeVoxelIndices(1, s.qLab, undefined, b);
  assert.deepEqual(a, b);
  // Re-registering a still: same orientation is fine, a different one is refused.
  assert.equal(g.registerStill(1, stills[1]!.crystal), false);
  assert.throws(() => g.registerStill(1, stills[2]!.crystal), DataConsistencyError);
  assert.equal(g.registerStill(42, stills[2]!.crystal), true);
});
