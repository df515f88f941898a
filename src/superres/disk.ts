/**
 * Step 1: find the bright-field disk in the mean diffraction pattern and the detector crop
 * around it.
 *
 * Robustness: a 3x3 median stands in for pixels that disagree with their neighbours by more
 * than half the disk's contrast (hot, saturated or dead detector pixels); the two intensity
 * levels come from medians (not means or extremes), so neither noise nor outliers move them;
 * only the connected bright region around the brightest pixel counts (Bragg disks or stray
 * spots elsewhere on the detector do not). Centre and radius are sub-pixel: every pixel
 * contributes its fractional occupancy (intensity scaled between the two levels), so a soft
 * edge counts with its true area.
 */
import { requireInteger, requireLength, SuperResError } from "./errors.js";
import { median } from "./median.js";

/** A 4-d datacube's shape: scan rows, scan columns, detector rows, detector columns. */
export type Shape4 = readonly [scanY: number, scanX: number, detY: number, detX: number];

export interface BrightFieldDisk {
  /** Disk centre in detector pixels (row, column; pixel centres at integers). */
  centerYPx: number;
  centerXPx: number;
  /** Radius at half intensity, detector pixels. */
  radiusPx: number;
}

/** A detector window, half-open: rows y0..y1-1, columns x0..x1-1 (the seed's crop_bounds). */
export interface CropBounds {
  y0: number;
  y1: number;
  x0: number;
  x1: number;
}

export function requireShape4(shape: Shape4, data?: ArrayLike<number>): void {
  const names = ["scanY", "scanX", "detY", "detX"];
  shape.forEach((n, i) => requireInteger(`shape.${names[i]}`, n, 1));
  if (data) requireLength("data", data, shape[0] * shape[1] * shape[2] * shape[3]);
}

/** Mean diffraction pattern [detY, detX] of a datacube [scanY, scanX, detY, detX]. */
export function meanDiffraction(data: ArrayLike<number>, shape: Shape4): Float64Array {
  requireShape4(shape, data);
  const [sy, sx, dy, dx] = shape;
  const nDet = dy * dx;
  const out = new Float64Array(nDet);
  for (let p = 0, o = 0; p < sy * sx; p++) for (let d = 0; d < nDet; d++, o++) out[d]! += data[o]!;
  for (let d = 0; d < nDet; d++) out[d] = out[d]! / (sy * sx);
  return out;
}

/** 3x3 median (the window shrinks at the detector edge). */
function median3x3(pattern: ArrayLike<number>, dy: number, dx: number): Float64Array {
  const out = new Float64Array(dy * dx);
  const window: number[] = [];
  for (let y = 0; y < dy; y++)
    for (let x = 0; x < dx; x++) {
      window.length = 0;
      for (let v = Math.max(0, y - 1); v <= Math.min(dy - 1, y + 1); v++)
        for (let u = Math.max(0, x - 1); u <= Math.min(dx - 1, x + 1); u++)
          window.push(pattern[v * dx + u]!);
      out[y * dx + x] = median(window);
    }
  return out;
}

/** Dark and bright levels: iterated two-class split with medians (Ridler-Calvard, robust). */
function levels(values: Float64Array): { dark: number; bright: number } {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  let threshold = 0.5 * (lo + hi);
  let dark = lo;
  let bright = hi;
  for (let iter = 0; iter < 50; iter++) {
    const below: number[] = [];
    const above: number[] = [];
    for (const v of values) (v < threshold ? below : above).push(v);
    if (below.length === 0 || above.length === 0) break;
    dark = median(below);
    bright = median(above);
    const next = 0.5 * (dark + bright);
    if (next === threshold) break;
    threshold = next;
  }
  return { dark, bright };
}

/**
 * The bright-field disk in a diffraction pattern [detY, detX] (e.g. `meanDiffraction`).
 * Throws SuperResError("pattern") when the pattern has no bright region.
 */
export function detectBrightField(
  pattern: ArrayLike<number>,
  detY: number,
  detX: number,
): BrightFieldDisk {
  requireInteger("detY", detY, 3);
  requireInteger("detX", detX, 3);
  requireLength("pattern", pattern, detY * detX);
  const n = detY * detX;
  const smooth = median3x3(pattern, detY, detX);
  const { dark, bright } = levels(smooth);
  const contrast = bright - dark;
  if (!(contrast > 0))
    throw new SuperResError("pattern", "no bright-field disk: the pattern is flat");
  const clean = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = pattern[i]!;
    clean[i] = Math.abs(v - smooth[i]!) > 0.5 * contrast ? smooth[i]! : v;
  }
  const occupancy = new Float64Array(n);
  let peak = 0;
  for (let i = 0; i < n; i++) {
    occupancy[i] = Math.min(1, Math.max(0, (clean[i]! - dark) / contrast));
    if (clean[i]! > clean[peak]!) peak = i;
  }
  // The half-occupied region connected to the brightest pixel, grown by 2 px for the soft edge.
  const inDisk = new Uint8Array(n);
  const stack = [peak];
  inDisk[peak] = 1;
  while (stack.length) {
    const i = stack.pop()!;
    const y = Math.floor(i / detX);
    const x = i - y * detX;
    for (const [v, u] of [
      [y - 1, x],
      [y + 1, x],
      [y, x - 1],
      [y, x + 1],
    ] as const) {
      const j = v * detX + u;
      if (v >= 0 && v < detY && u >= 0 && u < detX && !inDisk[j] && occupancy[j]! >= 0.5) {
        inDisk[j] = 1;
        stack.push(j);
      }
    }
  }
  let weight = 0;
  let sumY = 0;
  let sumX = 0;
  for (let y = 0; y < detY; y++)
    for (let x = 0; x < detX; x++) {
      let near = false;
      for (let v = Math.max(0, y - 2); v <= Math.min(detY - 1, y + 2) && !near; v++)
        for (let u = Math.max(0, x - 2); u <= Math.min(detX - 1, x + 2) && !near; u++)
          near = inDisk[v * detX + u] === 1;
      if (!near) continue;
      const w = occupancy[y * detX + x]!;
      weight += w;
      sumY += w * y;
      sumX += w * x;
    }
  return {
    centerYPx: sumY / weight,
    centerXPx: sumX / weight,
    radiusPx: Math.sqrt(weight / Math.PI),
  };
}

/**
 * The square crop around a disk: 2h rows and columns with h = ceil(radius + margin), placed
 * so that the crop's central pixel (crop_dy // 2, crop_dx // 2), the seed's reference pixel,
 * is the detector pixel nearest the disk centre. Clipped to the detector (then the reference
 * pixel is off-centre by the clipped amount).
 */
export function cropBounds(
  disk: BrightFieldDisk,
  detY: number,
  detX: number,
  marginPx = 2,
): CropBounds {
  if (!(disk.radiusPx > 0) || !Number.isFinite(disk.radiusPx))
    throw new SuperResError("radiusPx", `must be a positive number, got ${disk.radiusPx}`);
  if (!(marginPx >= 0)) throw new SuperResError("marginPx", `must be >= 0, got ${marginPx}`);
  const h = Math.ceil(disk.radiusPx + marginPx);
  const cy = Math.round(disk.centerYPx);
  const cx = Math.round(disk.centerXPx);
  const bounds = {
    y0: Math.max(0, cy - h),
    y1: Math.min(detY, cy + h),
    x0: Math.max(0, cx - h),
    x1: Math.min(detX, cx + h),
  };
  if (bounds.y1 - bounds.y0 < 3 || bounds.x1 - bounds.x0 < 3)
    throw new SuperResError("disk", `the crop around it misses the ${detY}x${detX} detector`);
  return bounds;
}

/**
 * Detector position of each crop pixel relative to the disk centre (detector pixels), as
 * [cropY * cropX] arrays in crop row-major order: the k of the aberration fit.
 */
export function detectorOffsets(
  bounds: CropBounds,
  disk: BrightFieldDisk,
): { offsetYPx: Float64Array; offsetXPx: Float64Array } {
  const cropY = bounds.y1 - bounds.y0;
  const cropX = bounds.x1 - bounds.x0;
  const offsetYPx = new Float64Array(cropY * cropX);
  const offsetXPx = new Float64Array(cropY * cropX);
  for (let y = 0; y < cropY; y++)
    for (let x = 0; x < cropX; x++) {
      offsetYPx[y * cropX + x] = bounds.y0 + y - disk.centerYPx;
      offsetXPx[y * cropX + x] = bounds.x0 + x - disk.centerXPx;
    }
  return { offsetYPx, offsetXPx };
}

/** Crop-pixel indices (crop row-major) inside the disk: the pixels the standard BF sums. */
export function diskPixels(bounds: CropBounds, disk: BrightFieldDisk): Int32Array {
  const { offsetYPx, offsetXPx } = detectorOffsets(bounds, disk);
  const inside: number[] = [];
  for (let i = 0; i < offsetYPx.length; i++)
    if (Math.hypot(offsetYPx[i]!, offsetXPx[i]!) <= disk.radiusPx) inside.push(i);
  return Int32Array.from(inside);
}
