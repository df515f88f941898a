/**
 * Step 4a: the shift of each detector pixel's virtual image from its correlation map, with
 * sub-pixel precision, and a quality.
 *
 * The integer peak is refined by a 3-point Gaussian fit in each axis (a parabola through the
 * logarithms of the peak and its two neighbours, wrapping round the circular map), which is
 * exact for a Gaussian-shaped peak; a parabola through the values themselves stands in when
 * a neighbour is not positive. Quality is the peak value of the normalized map, the squared
 * correlation coefficient at the best shift (0..1, see correlate.ts).
 */
import { requireInteger, requireLength } from "./errors.js";

export interface ShiftEstimate {
  /** Shift of each image relative to the reference image, scan px (I_k(r) = ref(r - s)). */
  shiftYPx: Float64Array;
  shiftXPx: Float64Array;
  /** Normalized peak height, 0..1. */
  quality: Float64Array;
}

/**
 * Sub-pixel position (dy, dx) of a peak relative to its integer maximum: the stationary
 * point of a 2-d quadratic through the logarithms of the 3x3 neighbourhood (a 2-d Gaussian;
 * the cross term matters when the peak is elongated along a diagonal), or through the
 * values themselves when one is not positive. Each component is clamped to +-0.5 px.
 */
function peakOffset(v: (dy: number, dx: number) => number): [number, number] {
  let positive = true;
  for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) positive &&= v(dy, dx) > 0;
  const f = positive ? (dy: number, dx: number) => Math.log(v(dy, dx)) : v;
  const gy = 0.5 * (f(1, 0) - f(-1, 0));
  const gx = 0.5 * (f(0, 1) - f(0, -1));
  const hyy = f(1, 0) - 2 * f(0, 0) + f(-1, 0);
  const hxx = f(0, 1) - 2 * f(0, 0) + f(0, -1);
  const hxy = 0.25 * (f(1, 1) - f(1, -1) - f(-1, 1) + f(-1, -1));
  const det = hyy * hxx - hxy * hxy;
  let [oy, ox] = [(-gy * hxx + gx * hxy) / det, (-gx * hyy + gy * hxy) / det];
  // Not a maximum of the 2-d fit (a saddle or a flat map): fall back to each axis alone.
  if (!(det > 0 && hyy < 0)) [oy, ox] = [-gy / hyy, -gx / hxx];
  const clamp = (o: number) => (Number.isFinite(o) ? Math.min(0.5, Math.max(-0.5, o)) : 0);
  return [clamp(oy), clamp(ox)];
}

/** Shifts and qualities of a block of correlation maps [count, scanY, scanX]. */
export function findShifts(
  correlations: ArrayLike<number>,
  count: number,
  scanY: number,
  scanX: number,
): ShiftEstimate {
  requireInteger("count", count, 0);
  requireInteger("scanY", scanY, 3);
  requireInteger("scanX", scanX, 3);
  requireLength("correlations", correlations, count * scanY * scanX);
  const n = scanY * scanX;
  const shiftYPx = new Float64Array(count);
  const shiftXPx = new Float64Array(count);
  const quality = new Float64Array(count);
  for (let b = 0; b < count; b++) {
    const o = b * n;
    let best = 0;
    for (let i = 1; i < n; i++) if (correlations[o + i]! > correlations[o + best]!) best = i;
    const y = Math.floor(best / scanX);
    const x = best - y * scanX;
    const at = (v: number, u: number) =>
      correlations[o + ((v + scanY) % scanY) * scanX + ((u + scanX) % scanX)]!;
    const [oy, ox] = peakOffset((dy, dx) => at(y + dy, x + dx));
    shiftYPx[b] = y - (scanY >> 1) + oy;
    shiftXPx[b] = x - (scanX >> 1) + ox;
    quality[b] = at(y, x);
  }
  return { shiftYPx, shiftXPx, quality };
}
