/**
 * The scan-plane FFTs of the super-resolution math, over the mixed-radix FFT of src/array
 * (any size). Conventions are numpy's: the forward transform is unscaled, the inverse divides
 * by ny*nx. Arrays are split complex (re, im), row-major [ny, nx], transformed in place.
 */
import { fft2, fftPlan } from "../array/fft.js";
import { SuperResError } from "./errors.js";

export { fft2 };

/** Throws unless a scan shape can be transformed (positive integer sizes). */
export function requireFftShape(ny: number, nx: number): void {
  for (const [field, n] of [
    ["scanY", ny],
    ["scanX", nx],
  ] as const)
    if (!Number.isInteger(n) || n < 1)
      throw new SuperResError(field, `the scan FFT needs a positive integer size, got ${n}`);
}

/** In-place 2-d FFTs of `count` consecutive [ny, nx] arrays (a block [count, ny, nx]). */
export function fft2Batch(
  re: Float64Array,
  im: Float64Array,
  count: number,
  ny: number,
  nx: number,
  options: { inverse?: boolean } = {},
): void {
  const inverse = options.inverse ?? false;
  // All rows of all images in one batched call, then each image's columns.
  fftPlan(nx).transformLines(re, im, { stride: 1, count: count * ny, lineStride: nx }, inverse);
  const cols = fftPlan(ny);
  for (let b = 0; b < count; b++)
    cols.transformLines(
      re,
      im,
      { offset: b * ny * nx, stride: nx, count: nx, lineStride: 1 },
      inverse,
    );
}
