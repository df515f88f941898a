/**
 * Step 5: the super-resolved image (tilt-corrected bright field, "upsampled shift-and-add")
 * and the standard bright-field image.
 *
 * Shift-and-add: sample r of the virtual image with shift s is the specimen at r - s, so it
 * is splatted bilinearly at (r - s) * factor on a grid `factor` times finer (fine pixel J at
 * scan position J / factor), and each fine pixel is the weighted mean of what landed on it.
 * The shifts are sub-pixel and diverse, so the samples fill the fine grid and detail above
 * the scan Nyquist, aliased in every single image, comes back. Each image is divided by its
 * mean first, so pixels near the disk edge (fewer counts) do not imprint their sampling
 * pattern; the result is scaled back by the mean of those means (counts per detector pixel).
 * Samples landing outside the field are dropped (the scan is not periodic); a fine pixel
 * no sample reached holds that mean level and weight 0.
 *
 * Both accumulate blocks of virtual images [count, scanY, scanX], so a stage can feed the
 * detector pixels chunk by chunk.
 */
import { requireInteger, requireLength, SuperResError } from "./errors.js";

export class ShiftAndAdd {
  readonly scanY: number;
  readonly scanX: number;
  readonly factor: number;
  private readonly sum: Float64Array;
  private readonly weight: Float64Array;
  private meanSum = 0;
  private images = 0;

  constructor(scanY: number, scanX: number, factor: number) {
    requireInteger("scanY", scanY, 1);
    requireInteger("scanX", scanX, 1);
    requireInteger("factor", factor, 1);
    this.scanY = scanY;
    this.scanX = scanX;
    this.factor = factor;
    this.sum = new Float64Array(scanY * factor * scanX * factor);
    this.weight = new Float64Array(this.sum.length);
  }

  /**
   * Adds `count` virtual images [count, scanY, scanX], image b moved back by its shift
   * (shiftYPx[b], shiftXPx[b]) scan px. Every image must have a positive mean.
   */
  add(
    images: ArrayLike<number>,
    count: number,
    shiftYPx: ArrayLike<number>,
    shiftXPx: ArrayLike<number>,
  ): void {
    const { scanY, scanX, factor } = this;
    const n = scanY * scanX;
    requireInteger("count", count, 0);
    requireLength("images", images, count * n);
    requireLength("shiftYPx", shiftYPx, count);
    requireLength("shiftXPx", shiftXPx, count);
    const [fineY, fineX] = [scanY * factor, scanX * factor];
    for (let b = 0; b < count; b++) {
      let mean = 0;
      for (let p = 0; p < n; p++) mean += images[b * n + p]!;
      mean /= n;
      const [sy, sx] = [shiftYPx[b]!, shiftXPx[b]!];
      if (!(mean > 0) || !Number.isFinite(sy) || !Number.isFinite(sx))
        throw new SuperResError("images", `image ${b} has mean ${mean} or shift (${sy}, ${sx})`);
      this.meanSum += mean;
      this.images++;
      for (let y = 0; y < scanY; y++) {
        const fy = (y - sy) * factor;
        const y0 = Math.floor(fy);
        const wy = fy - y0;
        for (let x = 0; x < scanX; x++) {
          const fx = (x - sx) * factor;
          const x0 = Math.floor(fx);
          const wx = fx - x0;
          const v = images[b * n + y * scanX + x]! / mean;
          for (let dy = 0; dy <= 1; dy++) {
            const Y = y0 + dy;
            if (Y < 0 || Y >= fineY) continue;
            const w1 = dy ? wy : 1 - wy;
            for (let dx = 0; dx <= 1; dx++) {
              const X = x0 + dx;
              if (X < 0 || X >= fineX) continue;
              const w = w1 * (dx ? wx : 1 - wx);
              this.sum[Y * fineX + X]! += w * v;
              this.weight[Y * fineX + X]! += w;
            }
          }
        }
      }
    }
  }

  /** The super-resolved image [scanY * factor, scanX * factor] and its sample weight. */
  result(): { image: Float64Array; weight: Float64Array } {
    if (this.images === 0) throw new SuperResError("images", "no image was added");
    const level = this.meanSum / this.images;
    const image = this.sum.map((s, i) =>
      this.weight[i]! > 0 ? (s / this.weight[i]!) * level : level,
    );
    return { image, weight: Float64Array.from(this.weight) };
  }
}

/**
 * Standard bright field: the sum of the (unshifted) virtual images of a block [count,
 * scanY, scanX] of disk pixels, added into `into` (a fresh [scanY, scanX] array by default).
 */
export function standardBrightField(
  images: ArrayLike<number>,
  count: number,
  scanY: number,
  scanX: number,
  into: Float64Array = new Float64Array(scanY * scanX),
): Float64Array {
  requireInteger("count", count, 0);
  requireLength("images", images, count * scanY * scanX);
  requireLength("into", into, scanY * scanX);
  const n = scanY * scanX;
  for (let b = 0; b < count; b++) for (let p = 0; p < n; p++) into[p]! += images[b * n + p]!;
  return into;
}
