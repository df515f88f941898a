/**
 * Fourier ring correlation, the resolution measure of the super-resolved image against a
 * known specimen (or two independent halves), and Fourier upsampling, which puts the
 * standard BF on the super-resolved grid for a like-for-like comparison.
 */
import { requireInteger, requireLength } from "./errors.js";
import { fft2, requireFftShape } from "./fft.js";

function spectrum(image: ArrayLike<number>, ny: number, nx: number) {
  const re = Float64Array.from(image);
  const im = new Float64Array(re.length);
  fft2(re, im, ny, nx);
  return { re, im };
}

/**
 * FRC of two [ny, nx] images in rings one frequency sample wide (1 / min(ny, nx) cycles per
 * pixel) up to Nyquist: ring k holds |f| in [(k - 1/2), (k + 1/2)) / min(ny, nx), k >= 1.
 * Returns each ring's centre frequency (cycles per pixel of this grid) and its FRC.
 */
export function fourierRingCorrelation(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  ny: number,
  nx: number,
): { frequencyPerPx: Float64Array; frc: Float64Array } {
  requireFftShape(ny, nx);
  requireLength("a", a, ny * nx);
  requireLength("b", b, ny * nx);
  const fa = spectrum(a, ny, nx);
  const fb = spectrum(b, ny, nx);
  const size = Math.min(ny, nx);
  const rings = size / 2;
  const cross = new Float64Array(rings + 1);
  const powerA = new Float64Array(rings + 1);
  const powerB = new Float64Array(rings + 1);
  for (let y = 0; y < ny; y++) {
    const fy = (y < ny / 2 ? y : y - ny) / ny;
    for (let x = 0; x < nx; x++) {
      const fx = (x < nx / 2 ? x : x - nx) / nx;
      const k = Math.round(Math.hypot(fy, fx) * size);
      if (k < 1 || k > rings) continue;
      const i = y * nx + x;
      cross[k]! += fa.re[i]! * fb.re[i]! + fa.im[i]! * fb.im[i]!;
      powerA[k]! += fa.re[i]! ** 2 + fa.im[i]! ** 2;
      powerB[k]! += fb.re[i]! ** 2 + fb.im[i]! ** 2;
    }
  }
  const frequencyPerPx = Float64Array.from({ length: rings }, (_, k) => (k + 1) / size);
  const frc = Float64Array.from({ length: rings }, (_, k) => {
    const d = Math.sqrt(powerA[k + 1]! * powerB[k + 1]!);
    return d > 0 ? cross[k + 1]! / d : 0;
  });
  return { frequencyPerPx, frc };
}

/**
 * Band-limited (zero-padded spectrum) upsampling of an [ny, nx] image by an integer factor:
 * pixel J of the result is the image at position J / factor, values unchanged.
 */
export function fourierUpsample(
  image: ArrayLike<number>,
  ny: number,
  nx: number,
  factor: number,
): Float64Array {
  requireFftShape(ny, nx);
  requireInteger("factor", factor, 1);
  requireLength("image", image, ny * nx);
  const f = spectrum(image, ny, nx);
  const [fy, fx] = [ny * factor, nx * factor];
  const re = new Float64Array(fy * fx);
  const im = new Float64Array(fy * fx);
  const scale = factor * factor;
  for (let y = 0; y < ny; y++) {
    const ty = y < ny / 2 ? y : y - ny + fy;
    for (let x = 0; x < nx; x++) {
      const tx = x < nx / 2 ? x : x - nx + fx;
      re[ty * fx + tx] = f.re[y * nx + x]! * scale;
      im[ty * fx + tx] = f.im[y * nx + x]! * scale;
    }
  }
  // The real part keeps the Hermitian half of the Nyquist terms, which sit on one side only.
  fft2(re, im, fy, fx, { inverse: true });
  return re;
}
