/**
 * Crystal setting matrices and unit cells in dxtbx/cctbx conventions.
 *
 * A = U B maps fractional Miller indices to the lab-frame reciprocal vector (per Angstrom, no
 * 2 pi): q = A (h, k, l). A is the inverse of the matrix whose ROWS are the real-space vectors
 * a, b, c, so fractional hkl = A^-1 q = (a.q, b.q, c.q). B = F^T with F cctbx's (upper
 * triangular) fractionalization matrix of the unit cell; U = A B^-1 (dxtbx `Crystal`).
 */
import type { Crystal, Mat3, Vec3 } from "./models.js";
import {
  angle,
  mat3FromRows,
  mat3Inverse,
  mat3Mul,
  mat3MulVec,
  mat3Row,
  mat3Transpose,
  norm,
} from "./vec3.js";

const RAD_TO_DEG = 180 / Math.PI;
const DEG_TO_RAD = Math.PI / 180;

/** Unit cell edges (Angstrom) and angles (degrees). */
export interface UnitCell {
  aA: number;
  bA: number;
  cA: number;
  alphaDeg: number;
  betaDeg: number;
  gammaDeg: number;
}

/** Reciprocal cell: edges per Angstrom (no 2 pi) and angles in degrees. */
export interface ReciprocalCell {
  aStarPerA: number;
  bStarPerA: number;
  cStarPerA: number;
  alphaStarDeg: number;
  betaStarDeg: number;
  gammaStarDeg: number;
}

/** Matrix whose rows are the real-space vectors a, b, c (Angstrom): A^-1. */
export function realSpaceMatrix(a: Vec3, b: Vec3, c: Vec3): Mat3 {
  return mat3FromRows(a, b, c);
}

/** A = (rows a, b, c)^-1, per Angstrom (dxtbx `Crystal(real_space_a, b, c, ...)`). */
export function aMatrixFromRealSpace(a: Vec3, b: Vec3, c: Vec3): Mat3 {
  return mat3Inverse(realSpaceMatrix(a, b, c));
}

/** The real-space vectors a, b, c: the rows of A^-1 (dxtbx `get_real_space_vectors`). */
export function realSpaceVectorsFromA(aMatrix: Mat3): [Vec3, Vec3, Vec3] {
  const inv = mat3Inverse(aMatrix);
  return [mat3Row(inv, 0), mat3Row(inv, 1), mat3Row(inv, 2)];
}

/** Cell parameters of three real-space vectors (dxtbx `set_unit_cell(a, b, c)`). */
export function unitCellFromVectors(a: Vec3, b: Vec3, c: Vec3): UnitCell {
  return {
    aA: norm(a),
    bA: norm(b),
    cA: norm(c),
    alphaDeg: angle(b, c) * RAD_TO_DEG,
    betaDeg: angle(c, a) * RAD_TO_DEG,
    gammaDeg: angle(a, b) * RAD_TO_DEG,
  };
}

export function unitCellFromA(aMatrix: Mat3): UnitCell {
  const [a, b, c] = realSpaceVectorsFromA(aMatrix);
  return unitCellFromVectors(a, b, c);
}

export function cellVolumeA3(cell: UnitCell): number {
  const ca = Math.cos(cell.alphaDeg * DEG_TO_RAD);
  const cb = Math.cos(cell.betaDeg * DEG_TO_RAD);
  const cg = Math.cos(cell.gammaDeg * DEG_TO_RAD);
  const f = 1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg;
  if (!(f > 0)) throw new RangeError("unit cell angles do not form a cell");
  return cell.aA * cell.bA * cell.cA * Math.sqrt(f);
}

/**
 * cctbx `unit_cell.orthogonalization_matrix()`: columns are a, b, c in the cctbx Cartesian
 * frame (a along x, b in the xy plane). Upper triangular, Angstrom.
 */
export function orthogonalizationMatrix(cell: UnitCell): Mat3 {
  const ca = Math.cos(cell.alphaDeg * DEG_TO_RAD);
  const cb = Math.cos(cell.betaDeg * DEG_TO_RAD);
  const cg = Math.cos(cell.gammaDeg * DEG_TO_RAD);
  const sg = Math.sin(cell.gammaDeg * DEG_TO_RAD);
  const v = cellVolumeA3(cell);
  return [
    cell.aA,
    cell.bA * cg,
    cell.cA * cb,
    0,
    cell.bA * sg,
    (cell.cA * (ca - cb * cg)) / sg,
    0,
    0,
    v / (cell.aA * cell.bA * sg),
  ];
}

/** cctbx `unit_cell.fractionalization_matrix()`: the inverse of the orthogonalization matrix. */
export function fractionalizationMatrix(cell: UnitCell): Mat3 {
  return mat3Inverse(orthogonalizationMatrix(cell));
}

/** dxtbx B = fractionalization^T (lower triangular, per Angstrom). */
export function bMatrix(cell: UnitCell): Mat3 {
  return mat3Transpose(fractionalizationMatrix(cell));
}

/** dxtbx U = A B^-1 (a rotation for a consistent A and B). */
export function uMatrix(aMatrix: Mat3, b: Mat3): Mat3 {
  return mat3Mul(aMatrix, mat3Inverse(b));
}

export function reciprocalCell(cell: UnitCell): ReciprocalCell {
  // Columns of B are a*, b*, c* in the cctbx Cartesian frame.
  const b = bMatrix(cell);
  const as: Vec3 = [b[0], b[3], b[6]];
  const bs: Vec3 = [b[1], b[4], b[7]];
  const cs: Vec3 = [b[2], b[5], b[8]];
  return {
    aStarPerA: norm(as),
    bStarPerA: norm(bs),
    cStarPerA: norm(cs),
    alphaStarDeg: angle(bs, cs) * RAD_TO_DEG,
    betaStarDeg: angle(cs, as) * RAD_TO_DEG,
    gammaStarDeg: angle(as, bs) * RAD_TO_DEG,
  };
}

/**
 * The setting matrix A of a still: scan point 0 when the crystal is scan-varying (what
 * `get_A_at_scan_point(0)` gives), else A from the real-space vectors.
 */
export function aMatrixForStill(crystal: Crystal): Mat3 {
  const first = crystal.aAtScanPoints?.[0];
  if (first !== undefined) return first;
  return aMatrixFromRealSpace(crystal.realSpaceA, crystal.realSpaceB, crystal.realSpaceC);
}

/** Everything about a still's crystal setting, computed once. */
export interface CrystalSetting {
  /** A = U B, per Angstrom. */
  a: Mat3;
  /** A^-1: rows are the real-space vectors (Angstrom); hkl = A^-1 q. */
  aInverse: Mat3;
  b: Mat3;
  u: Mat3;
  cell: UnitCell;
}

export function crystalSettingForStill(crystal: Crystal): CrystalSetting {
  const a = aMatrixForStill(crystal);
  const aInverse = mat3Inverse(a);
  const cell = unitCellFromVectors(
    mat3Row(aInverse, 0),
    mat3Row(aInverse, 1),
    mat3Row(aInverse, 2),
  );
  const b = bMatrix(cell);
  return { a, aInverse, b, u: uMatrix(a, b), cell };
}

/** Fractional Miller indices of a reciprocal vector q (per Angstrom): A^-1 q. */
export function hklFromQ(aInverse: Mat3, qPerA: Vec3): Vec3 {
  return mat3MulVec(aInverse, qPerA);
}

/** Lab-frame reciprocal vector (per Angstrom) of (fractional) Miller indices: A hkl. */
export function qFromHkl(aMatrix: Mat3, hkl: Vec3): Vec3 {
  return mat3MulVec(aMatrix, hkl);
}

/**
 * Fractional hkl of many q vectors at once: qLab is (x, y, z) interleaved per Angstrom; writes
 * (h, k, l) interleaved into `out` (allocated when omitted).
 */
export function hklFromQArray(
  aInverse: Mat3,
  qLab: Float64Array,
  out?: Float64Array,
): Float64Array {
  const n = qLab.length;
  const res = out ?? new Float64Array(n);
  if (res.length < n) throw new RangeError(`hkl output holds ${res.length} values, need ${n}`);
  const [m0, m1, m2, m3, m4, m5, m6, m7, m8] = aInverse;
  for (let i = 0; i < n; i += 3) {
    const x = qLab[i]!;
    const y = qLab[i + 1]!;
    const z = qLab[i + 2]!;
    res[i] = m0 * x + m1 * y + m2 * z;
    res[i + 1] = m3 * x + m4 * y + m5 * z;
    res[i + 2] = m6 * x + m7 * y + m8 * z;
  }
  return res;
}

/** d-spacing (Angstrom) of a reciprocal vector: 1/|q| (Infinity for q = 0). */
export function dSpacingFromQ(qPerA: Vec3): number {
  return 1 / norm(qPerA);
}

/** d-spacing (Angstrom) of Miller indices under setting matrix A. */
export function dSpacingFromHkl(aMatrix: Mat3, hkl: Vec3): number {
  return dSpacingFromQ(qFromHkl(aMatrix, hkl));
}

/** |q| (per Angstrom) <-> d (Angstrom). */
export function dSpacingFromQLength(qLengthPerA: number): number {
  return 1 / qLengthPerA;
}

/** Scattering angle 2 theta (radians) of d-spacing d at wavelength lambda (Bragg's law), NaN beyond 2d. */
export function twoThetaFromDSpacing(dA: number, wavelengthA: number): number {
  return 2 * Math.asin(wavelengthA / (2 * dA));
}
