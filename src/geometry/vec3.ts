/**
 * Small 3-vector and row-major 3x3 matrix helpers on the plain tuples of `models.ts`.
 *
 * They allocate a fresh tuple per call: fine for per-panel or per-crystal set-up. Hot per-pixel
 * loops inline the arithmetic on scalars instead (see `src/diffuse/extract-panel.ts`).
 */
import type { Mat3, Vec3 } from "./models.js";

export function vec3(x: number, y: number, z: number): Vec3 {
  return [x, y, z];
}

export function add(a: Vec3, b: Vec3): Vec3 {
  return [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
}

export function sub(a: Vec3, b: Vec3): Vec3 {
  return [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
}

export function scale(a: Vec3, s: number): Vec3 {
  return [a[0] * s, a[1] * s, a[2] * s];
}

export function dot(a: Vec3, b: Vec3): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

export function cross(a: Vec3, b: Vec3): Vec3 {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

export function norm(a: Vec3): number {
  return Math.sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2]);
}

/** a / |a|; throws RangeError for a zero-length (or non-finite) vector. */
export function normalize(a: Vec3): Vec3 {
  const n = norm(a);
  if (!(n > 0) || !Number.isFinite(n))
    throw new RangeError(`cannot normalize vector [${a.join(", ")}]`);
  return [a[0] / n, a[1] / n, a[2] / n];
}

/** Angle between two vectors, radians, robust near 0 and pi (atan2 of |a x b| and a.b). */
export function angle(a: Vec3, b: Vec3): number {
  return Math.atan2(norm(cross(a, b)), dot(a, b));
}

/** Matrix with the given rows. */
export function mat3FromRows(r0: Vec3, r1: Vec3, r2: Vec3): Mat3 {
  return [r0[0], r0[1], r0[2], r1[0], r1[1], r1[2], r2[0], r2[1], r2[2]];
}

/** Matrix with the given columns. */
export function mat3FromColumns(c0: Vec3, c1: Vec3, c2: Vec3): Mat3 {
  return [c0[0], c1[0], c2[0], c0[1], c1[1], c2[1], c0[2], c1[2], c2[2]];
}

export function mat3Row(m: Mat3, i: 0 | 1 | 2): Vec3 {
  return [m[3 * i]!, m[3 * i + 1]!, m[3 * i + 2]!];
}

export function mat3Column(m: Mat3, j: 0 | 1 | 2): Vec3 {
  return [m[j]!, m[3 + j]!, m[6 + j]!];
}

export const IDENTITY3: Mat3 = [1, 0, 0, 0, 1, 0, 0, 0, 1];

export function mat3Mul(a: Mat3, b: Mat3): Mat3 {
  const [a0, a1, a2, a3, a4, a5, a6, a7, a8] = a;
  const [b0, b1, b2, b3, b4, b5, b6, b7, b8] = b;
  return [
    a0 * b0 + a1 * b3 + a2 * b6,
    a0 * b1 + a1 * b4 + a2 * b7,
    a0 * b2 + a1 * b5 + a2 * b8,
    a3 * b0 + a4 * b3 + a5 * b6,
    a3 * b1 + a4 * b4 + a5 * b7,
    a3 * b2 + a4 * b5 + a5 * b8,
    a6 * b0 + a7 * b3 + a8 * b6,
    a6 * b1 + a7 * b4 + a8 * b7,
    a6 * b2 + a7 * b5 + a8 * b8,
  ];
}

export function mat3MulVec(m: Mat3, v: Vec3): Vec3 {
  return [
    m[0] * v[0] + m[1] * v[1] + m[2] * v[2],
    m[3] * v[0] + m[4] * v[1] + m[5] * v[2],
    m[6] * v[0] + m[7] * v[1] + m[8] * v[2],
  ];
}

export function mat3Transpose(m: Mat3): Mat3 {
  return [m[0], m[3], m[6], m[1], m[4], m[7], m[2], m[5], m[8]];
}

export function mat3Det(m: Mat3): number {
  return (
    m[0] * (m[4] * m[8] - m[5] * m[7]) -
    m[1] * (m[3] * m[8] - m[5] * m[6]) +
    m[2] * (m[3] * m[7] - m[4] * m[6])
  );
}

/** Inverse by the adjugate; throws RangeError when the matrix is singular (or not finite). */
export function mat3Inverse(m: Mat3): Mat3 {
  const [m0, m1, m2, m3, m4, m5, m6, m7, m8] = m;
  const c0 = m4 * m8 - m5 * m7;
  const c1 = m5 * m6 - m3 * m8;
  const c2 = m3 * m7 - m4 * m6;
  const det = m0 * c0 + m1 * c1 + m2 * c2;
  if (det === 0 || !Number.isFinite(det)) throw new RangeError("singular 3x3 matrix");
  const f = 1 / det;
  return [
    c0 * f,
    (m2 * m7 - m1 * m8) * f,
    (m1 * m5 - m2 * m4) * f,
    c1 * f,
    (m0 * m8 - m2 * m6) * f,
    (m2 * m3 - m0 * m5) * f,
    c2 * f,
    (m1 * m6 - m0 * m7) * f,
    (m0 * m4 - m1 * m3) * f,
  ];
}
