/**
 * The five steps on an in-memory datacube, block by block over the detector pixels (the
 * order a stage with a cache file follows, without the file): disk and crop, spectra,
 * correlations, shifts and the aberration fit, reconstruction.
 *
 * The reconstruction uses the pixels that pass the quality threshold and that the fit kept
 * (an outlier's shift is wrong, and would smear its image over the result): see
 * Reconstruction in blocks.ts.
 */
import { type AberrationFit } from "./aberrations.js";
import { fitShiftMaps, Reconstruction } from "./blocks.js";
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
  meanDiffraction,
  requireShape4,
  type BrightFieldDisk,
  type CropBounds,
  type Shape4,
} from "./disk.js";
import { requireInteger } from "./errors.js";
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
  const fit = fitShiftMaps(bounds, disk, shiftYPx, shiftXPx, quality, {
    qualityThreshold: threshold,
    defocusSign: options.defocusSign ?? 1,
  });
  const recon = new Reconstruction(sy, sx, factor, bounds, disk, shiftYPx, shiftXPx, fit);
  for (const pixels of blocks) {
    const need = recon.needed(pixels);
    if (need.length) recon.add(need, virtualImages(data, shape, bounds, need));
  }
  const { superRes, superResWeight } = recon.result();
  return {
    disk,
    bounds,
    referenceImage: reference,
    shiftYPx,
    shiftXPx,
    quality,
    fit,
    superRes,
    superResWeight,
    standardBf: recon.standardBf,
    factor,
    pixelsReconstructed: recon.pixelsReconstructed,
  };
}
