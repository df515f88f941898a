/**
 * Steps 2 and 3: the scan-plane spectra of the detector pixels' virtual images (the seed's
 * bigFT) and their cross-correlations with the smoothed reference image.
 *
 * Blocks of detector pixels are detector-pixel-major, [count, scanY, scanX] (one virtual
 * image, spectrum or correlation map after another), so a stage can run any subset of crop
 * pixels at a time and scatter the block into its [scanY, scanX, cropY, cropX] datasets. A
 * block read from a file as [scanY, scanX, rows, cols] is a datacube of its own: pass its
 * shape to `virtualImages` with bounds covering it.
 *
 * Correlation (seed: corr = |ifft2(bigFT * conj(fft2(ref)))|^2, fftshifted, normalized):
 *   c_k(s)   = ifft2(F_k * conj(R))(s) = sum_r I_k(r + s) ref(r)   (circular)
 *   corr_k   = fftshift(|c_k|^2) / (E_k * E_ref),   E = sum_r I(r)^2 = sum_f |F(f)|^2 / N
 * so by Cauchy-Schwarz corr_k lies in [0, 1] and its peak is the squared correlation
 * coefficient at the best shift (the quality of step 4). With `subtractMean` (the default)
 * the zero-frequency term is left out of the product and of both energies, i.e. the images
 * are correlated about their means: otherwise the flat bright-field level dominates |c|^2
 * and every pixel's peak is close to 1 whatever its content. After fftshift, map index
 * (iy, ix) is the shift (iy - scanY // 2, ix - scanX // 2): I_k(r) = ref(r - s) peaks at s.
 */
import { requireShape4, type CropBounds, type Shape4 } from "./disk.js";
import { requireInteger, requireLength, SuperResError } from "./errors.js";
import { fft2, fft2Batch, requireFftShape } from "./fft.js";

/** Split complex block [count, scanY, scanX]. */
export interface ComplexBlock {
  re: Float64Array;
  im: Float64Array;
}

export interface CorrelationOptions {
  /** Correlate about the images' means (leave out the zero frequency). Default true. */
  subtractMean?: boolean;
}

function cropSize(bounds: CropBounds, detY: number, detX: number): [number, number] {
  const { y0, y1, x0, x1 } = bounds;
  if (!(0 <= y0 && y0 < y1 && y1 <= detY && 0 <= x0 && x0 < x1 && x1 <= detX))
    throw new SuperResError("bounds", `${JSON.stringify(bounds)} is not inside ${detY}x${detX}`);
  return [y1 - y0, x1 - x0];
}

/** Crop index (row-major in the crop) of the seed's reference pixel (cropY // 2, cropX // 2). */
export function referencePixel(bounds: CropBounds): number {
  const cropX = bounds.x1 - bounds.x0;
  return ((bounds.y1 - bounds.y0) >> 1) * cropX + (cropX >> 1);
}

/**
 * Virtual images [count, scanY, scanX] of the given crop pixels (crop row-major indices;
 * default every crop pixel) from a datacube [scanY, scanX, detY, detX].
 */
export function virtualImages(
  data: ArrayLike<number>,
  shape: Shape4,
  bounds: CropBounds,
  pixels?: ArrayLike<number>,
): Float64Array {
  requireShape4(shape, data);
  const [sy, sx, dy, dx] = shape;
  const [cropY, cropX] = cropSize(bounds, dy, dx);
  const crop = pixels ?? Int32Array.from({ length: cropY * cropX }, (_, i) => i);
  const detIndex = new Int32Array(crop.length);
  for (let b = 0; b < crop.length; b++) {
    const c = crop[b]!;
    if (!Number.isInteger(c) || c < 0 || c >= cropY * cropX)
      throw new SuperResError("pixels", `crop pixel ${c} is outside the ${cropY}x${cropX} crop`);
    detIndex[b] = (bounds.y0 + Math.floor(c / cropX)) * dx + bounds.x0 + (c % cropX);
  }
  const n = sy * sx;
  const nDet = dy * dx;
  const out = new Float64Array(crop.length * n);
  for (let p = 0; p < n; p++)
    for (let b = 0; b < crop.length; b++) out[b * n + p] = data[p * nDet + detIndex[b]!]!;
  return out;
}

/** scipy.ndimage's 1-d Gaussian weights: truncate 4, radius int(4 sigma + 0.5), sum 1. */
function gaussianWeights(sigmaPx: number): Float64Array {
  const radius = Math.floor(4 * sigmaPx + 0.5);
  const w = Float64Array.from({ length: 2 * radius + 1 }, (_, i) => {
    const x = i - radius;
    return Math.exp((-0.5 / (sigmaPx * sigmaPx)) * x * x);
  });
  const sum = w.reduce((a, b) => a + b, 0);
  return w.map((v) => v / sum);
}

/** Index into 0..n-1 under scipy's "reflect" boundary (d c b a | a b c d | d c b a). */
function reflect(i: number, n: number): number {
  const period = 2 * n;
  const j = ((i % period) + period) % period;
  return j < n ? j : period - 1 - j;
}

/**
 * scipy.ndimage.gaussian_filter(image, sigmaPx) for a [ny, nx] float64 image (mode
 * "reflect", truncate 4): the same separable weights, rows' axis first. sigmaPx 0 copies.
 */
export function gaussianFilter(
  image: ArrayLike<number>,
  ny: number,
  nx: number,
  sigmaPx: number,
): Float64Array {
  requireLength("image", image, ny * nx);
  if (!(sigmaPx >= 0) || !Number.isFinite(sigmaPx))
    throw new SuperResError("referenceSmoothingPx", `must be a finite number >= 0, got ${sigmaPx}`);
  let src = Float64Array.from(image);
  if (sigmaPx === 0) return src;
  const w = gaussianWeights(sigmaPx);
  const radius = (w.length - 1) / 2;
  for (const axis of [0, 1]) {
    const dst = new Float64Array(ny * nx);
    const len = axis === 0 ? ny : nx;
    for (let y = 0; y < ny; y++)
      for (let x = 0; x < nx; x++) {
        const at = axis === 0 ? y : x;
        let acc = 0;
        for (let t = -radius; t <= radius; t++) {
          const j = reflect(at + t, len);
          acc += w[t + radius]! * src[axis === 0 ? j * nx + x : y * nx + j]!;
        }
        dst[y * nx + x] = acc;
      }
    src = dst;
  }
  return src;
}

/**
 * The reference image [scanY, scanX]: the reference pixel's virtual image smoothed by a
 * Gaussian of `smoothingPx` scan pixels (the seed's reference_smoothing, default 0.5).
 */
export function referenceImage(
  data: ArrayLike<number>,
  shape: Shape4,
  bounds: CropBounds,
  smoothingPx = 0.5,
): Float64Array {
  const image = virtualImages(data, shape, bounds, [referencePixel(bounds)]);
  return gaussianFilter(image, shape[0], shape[1], smoothingPx);
}

/** Scan-plane spectra (the seed's bigFT) of a block of virtual images [count, scanY, scanX]. */
export function scanSpectra(
  images: ArrayLike<number>,
  count: number,
  scanY: number,
  scanX: number,
): ComplexBlock {
  requireInteger("count", count, 0);
  requireFftShape(scanY, scanX);
  requireLength("images", images, count * scanY * scanX);
  const re = Float64Array.from(images);
  const im = new Float64Array(re.length);
  fft2Batch(re, im, count, scanY, scanX);
  return { re, im };
}

/**
 * Normalized correlation maps [count, scanY, scanX] of a block of spectra (from
 * `scanSpectra`) with the reference image (module comment for the formula). A pixel whose
 * image (or a reference that) has no energy gets an all-zero map.
 */
export function correlateSpectra(
  spectra: ComplexBlock,
  count: number,
  scanY: number,
  scanX: number,
  reference: ArrayLike<number>,
  options: CorrelationOptions = {},
): Float64Array {
  requireInteger("count", count, 0);
  requireFftShape(scanY, scanX);
  const n = scanY * scanX;
  requireLength("spectra.re", spectra.re, count * n);
  requireLength("spectra.im", spectra.im, count * n);
  requireLength("reference", reference, n);
  const first = (options.subtractMean ?? true) ? 1 : 0;
  const refRe = Float64Array.from(reference);
  const refIm = new Float64Array(n);
  fft2(refRe, refIm, scanY, scanX);
  let refEnergy = 0;
  for (let f = first; f < n; f++) refEnergy += refRe[f]! ** 2 + refIm[f]! ** 2;
  refEnergy /= n;
  const out = new Float64Array(count * n);
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  const halfY = scanY >> 1;
  const halfX = scanX >> 1;
  for (let b = 0; b < count; b++) {
    let energy = 0;
    re[0] = 0;
    im[0] = 0;
    for (let f = first; f < n; f++) {
      const ar = spectra.re[b * n + f]!;
      const ai = spectra.im[b * n + f]!;
      energy += ar * ar + ai * ai;
      re[f] = ar * refRe[f]! + ai * refIm[f]!;
      im[f] = ai * refRe[f]! - ar * refIm[f]!;
    }
    energy /= n;
    const norm = energy * refEnergy;
    if (!(norm > 0)) continue;
    fft2(re, im, scanY, scanX, { inverse: true });
    const map = out.subarray(b * n, (b + 1) * n);
    for (let y = 0; y < scanY; y++) {
      const ty = ((y + halfY) % scanY) * scanX;
      for (let x = 0; x < scanX; x++) {
        const i = y * scanX + x;
        map[ty + ((x + halfX) % scanX)] = (re[i]! ** 2 + im[i]! ** 2) / norm;
      }
    }
  }
  return out;
}
