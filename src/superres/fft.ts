/**
 * The scan-plane FFTs of the super-resolution math, in one place so that swapping the
 * implementation (for src/array/fft.ts when it lands) is a one-line change. Until then the
 * viewer's radix-2 FFT does the work, so both scan dimensions must be powers of two.
 *
 * Conventions are numpy's: the forward transform is unscaled, the inverse divides by ny*nx.
 * Arrays are split complex (re, im), row-major [ny, nx], transformed in place.
 */
import { fftInPlace } from "../viewer/fft.js";
import { SuperResError } from "./errors.js";

/** Throws unless a scan shape can be transformed by this module. */
export function requireFftShape(ny: number, nx: number): void {
  for (const [field, n] of [
    ["scanY", ny],
    ["scanX", nx],
  ] as const)
    if (!Number.isInteger(n) || n < 2 || (n & (n - 1)) !== 0)
      throw new SuperResError(field, `the scan FFT needs a power of two >= 2, got ${n}`);
}

/** In-place 2-d FFT of one [ny, nx] complex array. */
export function fft2(
  re: Float64Array,
  im: Float64Array,
  ny: number,
  nx: number,
  options: { inverse?: boolean } = {},
): void {
  const inverse = options.inverse ?? false;
  // The inverse through the forward transform: ifft(z) = conj(fft(conj(z))) / n.
  if (inverse) for (let i = 0; i < ny * nx; i++) im[i] = -im[i]!;
  for (let r = 0; r < ny; r++)
    fftInPlace(re.subarray(r * nx, (r + 1) * nx), im.subarray(r * nx, (r + 1) * nx));
  const colRe = new Float64Array(ny);
  const colIm = new Float64Array(ny);
  for (let c = 0; c < nx; c++) {
    for (let r = 0; r < ny; r++) {
      colRe[r] = re[r * nx + c]!;
      colIm[r] = im[r * nx + c]!;
    }
    fftInPlace(colRe, colIm);
    for (let r = 0; r < ny; r++) {
      re[r * nx + c] = colRe[r]!;
      im[r * nx + c] = colIm[r]!;
    }
  }
  if (inverse) {
    const scale = 1 / (ny * nx);
    for (let i = 0; i < ny * nx; i++) {
      re[i] = re[i]! * scale;
      im[i] = -im[i]! * scale;
    }
  }
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
  const n = ny * nx;
  for (let b = 0; b < count; b++)
    fft2(re.subarray(b * n, (b + 1) * n), im.subarray(b * n, (b + 1) * n), ny, nx, options);
}
