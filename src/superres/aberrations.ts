/**
 * Step 4b: the affine aberration model fitted to the shift maps, and its decomposition into
 * scan-detector rotation, defocus and astigmatism.
 *
 * Model (detector offsets k from the disk centre in detector px, shifts s in scan px, both
 * as (y, x) columns; the convention of src/synth/stem.ts):
 *
 *   s = M k + t,   M = R(rotation) D P
 *   R(a) = [[cos a, -sin a], [sin a, cos a]]                 turns +y towards +x
 *   D    = [[C + A cos 2p, A sin 2p], [A sin 2p, C - A cos 2p]]   defocus C, astigmatism A at p
 *   P    = identity, or [[0, 1], [1, 0]] for a transposed detector
 *
 * t is the shift of the disk centre relative to the reference pixel (the correlations measure
 * shifts relative to the reference image), C and A are in scan px per detector px, p is
 * measured from +y towards +x.
 *
 * Ambiguities, resolved by convention:
 * - Transposition: det P = -1 flips the handedness, so transposed = det M < 0. This assumes
 *   |A| < |C| (det D > 0), the regime where parallax imaging works at all.
 * - 180 degrees: R(a + 180) D = R(a) (-D), so the shifts alone cannot tell the sign of the
 *   defocus. The rotation is chosen so that the defocus has the sign `defocusSign` (default
 *   +1: "defocus > 0" means each image shifts along +k rotated by the rotation). Pass -1 when
 *   the optics are known to be on the other side of focus; the rotation then moves by 180.
 *
 * The fit is weighted least squares (weight = quality) over the pixels whose quality reaches
 * `qualityThreshold`, repeated without pixels whose residual exceeds `outlierSigmas` robust
 * standard deviations (1.4826 MAD, at least `minOutlierPx`) until the set is stable.
 */
import { requireLength, SuperResError } from "./errors.js";
import { median } from "./median.js";

export interface AberrationFitOptions {
  /**
   * Pixels below this quality are left out. Default 0.1: quality is a squared correlation
   * coefficient, which counting noise lowers in every pixel alike (about 0.45 at 200 counts
   * and 10% contrast), while a pure-noise map peaks near 2 ln(N) / N for N scan positions
   * (0.004 at 64 x 64) and a flat (hot, dead) pixel has 0.
   */
  qualityThreshold?: number;
  /** Sign the reported defocus takes (the 180-degree convention). Default +1. */
  defocusSign?: 1 | -1;
  /** Residual cut in robust standard deviations. Default 4. */
  outlierSigmas?: number;
  /** Residuals below this (scan px) are never outliers. Default 0.1. */
  minOutlierPx?: number;
}

export interface AberrationFit {
  rotationDeg: number;
  /** Scan px per detector px, sign by `defocusSign`. */
  defocus: number;
  /** Scan px per detector px; angle from +y towards +x in (-90, 90]. */
  astigmatism: { magnitude: number; angleDeg: number };
  transposed: boolean;
  /** Quality-weighted RMS length of the residual shift vectors of the pixels used, scan px. */
  residualRmsPx: number;
  /** M, row-major 2x2 on (y, x): s = M k + t. */
  matrix: [number, number, number, number];
  /** t: the fitted shift at the disk centre (k = 0), scan px (y, x). */
  offsetPx: [number, number];
  /** 1 for the pixels the final fit used. */
  used: Uint8Array;
  pixelsUsed: number;
}

/** Weighted least squares of v = a ky + b kx + c over the used pixels. */
function solve3(
  ky: ArrayLike<number>,
  kx: ArrayLike<number>,
  v: ArrayLike<number>,
  w: ArrayLike<number>,
  used: Uint8Array,
): [number, number, number] {
  const a = new Float64Array(9);
  const r = new Float64Array(3);
  for (let i = 0; i < used.length; i++) {
    if (!used[i]) continue;
    const row = [ky[i]!, kx[i]!, 1];
    for (let p = 0; p < 3; p++) {
      r[p]! += w[i]! * row[p]! * v[i]!;
      for (let q = 0; q < 3; q++) a[p * 3 + q]! += w[i]! * row[p]! * row[q]!;
    }
  }
  const det3 = (m: ArrayLike<number>) =>
    m[0]! * (m[4]! * m[8]! - m[5]! * m[7]!) -
    m[1]! * (m[3]! * m[8]! - m[5]! * m[6]!) +
    m[2]! * (m[3]! * m[7]! - m[4]! * m[6]!);
  const d = det3(a);
  if (!(Math.abs(d) > 0))
    throw new SuperResError(
      "quality",
      "too few usable pixels (or all on a line) to fit the shifts",
    );
  // Cramer's rule: column p of the normal matrix replaced by the right-hand side.
  return [0, 1, 2].map((p) => {
    const m = Float64Array.from(a);
    for (let q = 0; q < 3; q++) m[q * 3 + p] = r[q]!;
    return det3(m) / d;
  }) as [number, number, number];
}

/** Wrap an angle in degrees into (-period / 2, period / 2]. */
function wrapDeg(angle: number, period: number): number {
  const a = angle - period * Math.round(angle / period);
  return a <= -period / 2 ? a + period : a;
}

/**
 * Fit of shifts (scan px) against detector offsets from the disk centre (detector px), one
 * entry per pixel (e.g. the crop, with `detectorOffsets`); module comment for the model.
 */
export function fitAberrations(
  offsetYPx: ArrayLike<number>,
  offsetXPx: ArrayLike<number>,
  shiftYPx: ArrayLike<number>,
  shiftXPx: ArrayLike<number>,
  quality: ArrayLike<number>,
  options: AberrationFitOptions = {},
): AberrationFit {
  const n = offsetYPx.length;
  for (const [field, a] of [
    ["offsetXPx", offsetXPx],
    ["shiftYPx", shiftYPx],
    ["shiftXPx", shiftXPx],
    ["quality", quality],
  ] as const)
    requireLength(field, a, n);
  const threshold = options.qualityThreshold ?? 0.1;
  const sign = options.defocusSign ?? 1;
  const outlierSigmas = options.outlierSigmas ?? 4;
  const minOutlierPx = options.minOutlierPx ?? 0.1;
  if (sign !== 1 && sign !== -1)
    throw new SuperResError("defocusSign", `must be 1 or -1, got ${String(sign)}`);
  const eligible = Uint8Array.from({ length: n }, (_, i) =>
    quality[i]! >= threshold && Number.isFinite(shiftYPx[i]!) && Number.isFinite(shiftXPx[i]!)
      ? 1
      : 0,
  );
  let used = Uint8Array.from(eligible);
  let fy: [number, number, number] = [0, 0, 0];
  let fx: [number, number, number] = [0, 0, 0];
  const residual = new Float64Array(n);
  for (let iter = 0; iter < 20; iter++) {
    fy = solve3(offsetYPx, offsetXPx, shiftYPx, quality, used);
    fx = solve3(offsetYPx, offsetXPx, shiftXPx, quality, used);
    const inUse: number[] = [];
    for (let i = 0; i < n; i++) {
      const [ky, kx] = [offsetYPx[i]!, offsetXPx[i]!];
      residual[i] = Math.hypot(
        shiftYPx[i]! - (fy[0] * ky + fy[1] * kx + fy[2]),
        shiftXPx[i]! - (fx[0] * ky + fx[1] * kx + fx[2]),
      );
      if (used[i]) inUse.push(residual[i]!);
    }
    const cut = Math.max(minOutlierPx, outlierSigmas * 1.4826 * median(inUse));
    const next = Uint8Array.from(eligible, (e, i) => (e && residual[i]! <= cut ? 1 : 0));
    if (next.every((v, i) => v === used[i])) break;
    used = next;
  }
  let sumW = 0;
  let sumWR2 = 0;
  let pixelsUsed = 0;
  for (let i = 0; i < n; i++)
    if (used[i]) {
      sumW += quality[i]!;
      sumWR2 += quality[i]! * residual[i]! ** 2;
      pixelsUsed++;
    }
  const matrix: [number, number, number, number] = [fy[0], fy[1], fx[0], fx[1]];
  const transposed = matrix[0] * matrix[3] - matrix[1] * matrix[2] < 0;
  // R D = M P^-1 (P swaps the columns); then R from the antisymmetric part of R D.
  const [m00, m01, m10, m11] = transposed ? [matrix[1], matrix[0], matrix[3], matrix[2]] : matrix;
  let angle = Math.atan2(m10 - m01, m00 + m11);
  if (sign < 0) angle += Math.PI;
  const [c, s] = [Math.cos(angle), Math.sin(angle)];
  // D = R^T (M P^-1), symmetric by the choice of angle.
  const d00 = c * m00 + s * m10;
  const d01 = c * m01 + s * m11;
  const d11 = -s * m01 + c * m11;
  const defocus = 0.5 * (d00 + d11);
  const [aCos, aSin] = [0.5 * (d00 - d11), d01];
  return {
    rotationDeg: wrapDeg((angle * 180) / Math.PI, 360),
    defocus,
    astigmatism: {
      magnitude: Math.hypot(aCos, aSin),
      angleDeg: wrapDeg((Math.atan2(aSin, aCos) * 90) / Math.PI, 180),
    },
    transposed,
    residualRmsPx: Math.sqrt(sumWR2 / sumW),
    matrix,
    offsetPx: [fy[2], fx[2]],
    used,
    pixelsUsed,
  };
}
