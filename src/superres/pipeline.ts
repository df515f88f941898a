/**
 * The five steps on an in-memory datacube, block by block over the detector pixels (the
 * order a stage with a cache file follows, without the file): disk and crop, spectra,
 * correlations, shifts and the aberration fit, reconstruction.
 *
 * The reconstruction uses the pixels that pass the quality threshold and that the fit kept
 * (an outlier's shift is wrong, and would smear its image over the result), each moved back
 * by its measured shift minus the fitted offset t: shifts relative to the disk centre rather
 * than to the reference pixel, so the super-resolved image sits where the standard BF does.
 */
import { fitAberrations, type AberrationFit } from "./aberrations.js";
import {
  correlateSpectra,
  gaussianFilter,
  referencePixel,
  scanSpectra,
  virtualImages,
} from "./correlate.js";
import {
  cropBounds,
  detectBrightField,
  detectorOffsets,
  diskPixels,
  meanDiffraction,
  requireShape4,
  type BrightFieldDisk,
  type CropBounds,
  type Shape4,
} from "./disk.js";
import { requireInteger } from "./errors.js";
import { ShiftAndAdd, standardBrightField } from "./reconstruct.js";
import { findShifts } from "./shifts.js";

export interface SuperResOptions {
  /** Gaussian sigma of the reference image, scan px (seed reference_smoothing). Default 0.5. */
  referenceSmoothingPx?: number;
  /** Default 0.1 (see AberrationFitOptions). */
  qualityThreshold?: number;
  /** Default 4. */
  upsampleFactor?: number;
  /** Crop margin beyond the disk radius, detector px. Default 2. */
  cropMarginPx?: number;
  /** The 180-degree convention of the fit. Default +1. */
  defocusSign?: 1 | -1;
  /** Correlate about the images' means. Default true. */
  subtractMean?: boolean;
  /** Detector pixels per block. Default 64. */
  blockPixels?: number;
}

export interface SuperResResult {
  disk: BrightFieldDisk;
  bounds: CropBounds;
  /** [scanY, scanX] */
  referenceImage: Float64Array;
  /** [cropY, cropX], scan px relative to the reference image. */
  shiftYPx: Float64Array;
  shiftXPx: Float64Array;
  /** [cropY, cropX], 0..1. */
  quality: Float64Array;
  fit: AberrationFit;
  /** [scanY * factor, scanX * factor] and the samples' weight on that grid. */
  superRes: Float64Array;
  superResWeight: Float64Array;
  /** [scanY, scanX]: sum of the disk pixels' images. */
  standardBf: Float64Array;
  factor: number;
  /** Crop pixels that went into the super-resolved image. */
  pixelsReconstructed: number;
}

export function superResolve(
  data: ArrayLike<number>,
  shape: Shape4,
  options: SuperResOptions = {},
): SuperResResult {
  requireShape4(shape, data);
  const [sy, sx, dy, dx] = shape;
  const factor = options.upsampleFactor ?? 4;
  const blockPixels = options.blockPixels ?? 64;
  const threshold = options.qualityThreshold ?? 0.1;
  requireInteger("upsampleFactor", factor, 1);
  requireInteger("blockPixels", blockPixels, 1);
  const disk = detectBrightField(meanDiffraction(data, shape), dy, dx);
  const bounds = cropBounds(disk, dy, dx, options.cropMarginPx ?? 2);
  const nCrop = (bounds.y1 - bounds.y0) * (bounds.x1 - bounds.x0);
  const reference = gaussianFilter(
    virtualImages(data, shape, bounds, [referencePixel(bounds)]),
    sy,
    sx,
    options.referenceSmoothingPx ?? 0.5,
  );
  const blocks: Int32Array[] = [];
  for (let start = 0; start < nCrop; start += blockPixels)
    blocks.push(
      Int32Array.from({ length: Math.min(blockPixels, nCrop - start) }, (_, i) => start + i),
    );
  const shiftYPx = new Float64Array(nCrop);
  const shiftXPx = new Float64Array(nCrop);
  const quality = new Float64Array(nCrop);
  for (const pixels of blocks) {
    const images = virtualImages(data, shape, bounds, pixels);
    const spectra = scanSpectra(images, pixels.length, sy, sx);
    const corr = correlateSpectra(spectra, pixels.length, sy, sx, reference, {
      subtractMean: options.subtractMean ?? true,
    });
    const found = findShifts(corr, pixels.length, sy, sx);
    shiftYPx.set(found.shiftYPx, pixels[0]);
    shiftXPx.set(found.shiftXPx, pixels[0]);
    quality.set(found.quality, pixels[0]);
  }
  const k = detectorOffsets(bounds, disk);
  const fit = fitAberrations(k.offsetYPx, k.offsetXPx, shiftYPx, shiftXPx, quality, {
    qualityThreshold: threshold,
    defocusSign: options.defocusSign ?? 1,
  });
  const inDisk = new Uint8Array(nCrop);
  for (const i of diskPixels(bounds, disk)) inDisk[i] = 1;
  const shiftAndAdd = new ShiftAndAdd(sy, sx, factor);
  const standardBf = new Float64Array(sy * sx);
  let pixelsReconstructed = 0;
  for (const pixels of blocks) {
    const use = pixels.filter((i) => fit.used[i] === 1);
    const bright = pixels.filter((i) => inDisk[i] === 1);
    if (use.length) {
      shiftAndAdd.add(
        virtualImages(data, shape, bounds, use),
        use.length,
        Float64Array.from(use, (i) => shiftYPx[i]! - fit.offsetPx[0]),
        Float64Array.from(use, (i) => shiftXPx[i]! - fit.offsetPx[1]),
      );
      pixelsReconstructed += use.length;
    }
    if (bright.length)
      standardBrightField(
        virtualImages(data, shape, bounds, bright),
        bright.length,
        sy,
        sx,
        standardBf,
      );
  }
  const { image, weight } = shiftAndAdd.result();
  return {
    disk,
    bounds,
    referenceImage: reference,
    shiftYPx,
    shiftXPx,
    quality,
    fit,
    superRes: image,
    superResWeight: weight,
    standardBf,
    factor,
    pixelsReconstructed,
  };
}
