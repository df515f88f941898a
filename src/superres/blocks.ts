/**
 * The per-block work of the five steps, shared by the in-memory `superResolve` and the
 * cached stages: a block is a set of crop pixels at every scan position. Blocks from the
 * cache are in its layout [scanY, scanX, pixels] (complex interleaved for bigFT); blocks of
 * virtual images are [pixels, scanY, scanX]. Pure functions, so a worker thread computes
 * exactly what the main thread would (a resumed run equals an uninterrupted one bit for bit).
 */
import { fft2Leading } from "../array/fft.js";
import { fitAberrations, type AberrationFit } from "./aberrations.js";
import { correlateSpectra, virtualImages, type CorrelationOptions } from "./correlate.js";
import { detectorOffsets, diskPixels, type BrightFieldDisk, type CropBounds } from "./disk.js";
import { SuperResError } from "./errors.js";
import { ShiftAndAdd, standardBrightField } from "./reconstruct.js";
import { findShifts } from "./shifts.js";

/**
 * Cache block data [sy, sx, h, w] (complex interleaved when `im` is given) from per-pixel
 * planes [h * w, sy, sx] with separate real and imaginary parts: the layout the scan FFT
 * produces (one contiguous image per detector pixel).
 */
export function blockFromPlanes(
  re: Float64Array,
  im: Float64Array | undefined,
  pixels: number,
  scan: [number, number],
): Float64Array {
  const n = scan[0] * scan[1];
  if (re.length !== pixels * n || (im && im.length !== re.length)) {
    throw new RangeError(
      `planes need ${pixels} x ${scan[0]} x ${scan[1]} values, got ${re.length}`,
    );
  }
  const lanes = im ? 2 : 1;
  const out = new Float64Array(re.length * lanes);
  for (let p = 0; p < pixels; p++) {
    for (let s = 0; s < n; s++) {
      const o = (s * pixels + p) * lanes;
      out[o] = re[p * n + s]!;
      if (im) out[o + 1] = im[p * n + s]!;
    }
  }
  return out;
}

/** The inverse of blockFromPlanes. */
export function planesFromBlock(
  data: Float64Array,
  complex: boolean,
  pixels: number,
  scan: [number, number],
): { re: Float64Array; im?: Float64Array } {
  const n = scan[0] * scan[1];
  const lanes = complex ? 2 : 1;
  if (data.length !== pixels * n * lanes) {
    throw new RangeError(`block needs ${pixels * n * lanes} values, got ${data.length}`);
  }
  const re = new Float64Array(pixels * n);
  const im = complex ? new Float64Array(pixels * n) : undefined;
  for (let p = 0; p < pixels; p++) {
    for (let s = 0; s < n; s++) {
      const o = (s * pixels + p) * lanes;
      re[p * n + s] = data[o]!;
      if (im) im[p * n + s] = data[o + 1]!;
    }
  }
  return im ? { re, im } : { re };
}

/** Columns [x0, x0 + w) of a band: one cache block's share of a worker call. */
export interface BandCut {
  x0: number;
  w: number;
}

/**
 * bigFT of a band [scanY, scanX, rows, width] of real data, cut into blocks of columns: each
 * cut comes back complex interleaved, [scanY, scanX, rows, w] (the cache's block layout), in
 * the same pass that interleaves. With `overwrite` the input is transformed in place (a worker
 * that received it by transfer owns it), saving a copy of the whole band.
 */
export function bigFTOfBand(
  data: Float64Array,
  scanY: number,
  scanX: number,
  rows: number,
  width: number,
  cuts: readonly BandCut[] = [{ x0: 0, w: width }],
  options: { overwrite?: boolean } = {},
): Float64Array[] {
  const re = options.overwrite ? data : data.slice();
  const im = new Float64Array(re.length);
  fft2Leading(re, im, scanY, scanX, rows * width);
  return cuts.map(({ x0, w }) => {
    const out = new Float64Array(2 * scanY * scanX * rows * w);
    let o = 0;
    for (let line = 0; line < scanY * scanX * rows; line++) {
      const from = line * width + x0;
      for (let j = 0; j < w; j++) {
        out[o++] = re[from + j]!;
        out[o++] = im[from + j]!;
      }
    }
    return out;
  });
}

/** bigFT of a block [scanY, scanX, pixels] of real data: complex interleaved, same layout. */
export function bigFTOfBlock(
  data: Float64Array,
  scanY: number,
  scanX: number,
  pixels: number,
): Float64Array {
  return bigFTOfBand(data, scanY, scanX, 1, pixels)[0]!;
}

/** Correlation maps of a bigFT block (cache layout) with the reference image, cache layout. */
export function correlationsOfBlock(
  bigFT: Float64Array,
  scanY: number,
  scanX: number,
  pixels: number,
  reference: ArrayLike<number>,
  options: CorrelationOptions = {},
): Float64Array {
  const spectra = planesFromBlock(bigFT, true, pixels, [scanY, scanX]);
  const maps = correlateSpectra(
    { re: spectra.re, im: spectra.im! },
    pixels,
    scanY,
    scanX,
    reference,
    options,
  );
  return blockFromPlanes(maps, undefined, pixels, [scanY, scanX]);
}

/** Shifts and qualities of a correlation block (cache layout). */
export function shiftsOfBlock(
  correlations: Float64Array,
  scanY: number,
  scanX: number,
  pixels: number,
): ReturnType<typeof findShifts> {
  const { re } = planesFromBlock(correlations, false, pixels, [scanY, scanX]);
  return findShifts(re, pixels, scanY, scanX);
}

/**
 * Virtual images [pixels.length, scanY, scanX] of some crop pixels from a detector band read
 * as [scanY, scanX, bandH, cropX] (crop rows [row0, row0 + bandH), every crop column).
 */
export function bandImages(
  band: ArrayLike<number>,
  scanY: number,
  scanX: number,
  bandH: number,
  cropX: number,
  row0: number,
  pixels: ArrayLike<number>,
): Float64Array {
  const local = Int32Array.from(pixels, (p) => p - row0 * cropX);
  return virtualImages(
    band,
    [scanY, scanX, bandH, cropX],
    { y0: 0, y1: bandH, x0: 0, x1: cropX },
    local,
  );
}

export interface ShiftFitOptions {
  /** Default 0.1. */
  qualityThreshold?: number;
  /** Default +1. */
  defocusSign?: 1 | -1;
  /** Only crop pixels within this distance of the disk centre (detector px); default all. */
  detectorRadiusPx?: number;
}

/** Step 4's fit: the aberration model from the shift maps of the crop pixels. */
export function fitShiftMaps(
  bounds: CropBounds,
  disk: BrightFieldDisk,
  shiftYPx: Float64Array,
  shiftXPx: Float64Array,
  quality: Float64Array,
  options: ShiftFitOptions = {},
): AberrationFit {
  const k = detectorOffsets(bounds, disk);
  const radius = options.detectorRadiusPx ?? Infinity;
  if (!(radius > 0))
    throw new SuperResError("detectorRadius", `must be a positive distance, got ${radius}`);
  const weight = quality.map((q, i) =>
    Math.hypot(k.offsetYPx[i]!, k.offsetXPx[i]!) <= radius ? q : 0,
  );
  return fitAberrations(k.offsetYPx, k.offsetXPx, shiftYPx, shiftXPx, weight, {
    qualityThreshold: options.qualityThreshold ?? 0.1,
    defocusSign: options.defocusSign ?? 1,
  });
}

/**
 * Step 5, fed block by block with virtual images: the pixels the fit used, each moved back
 * by its measured shift minus the fitted offset t (shifts relative to the disk centre rather
 * than to the reference pixel, so the super-resolved image sits where the standard BF does),
 * and the standard BF of the disk pixels.
 */
export class Reconstruction {
  private readonly shiftAndAdd: ShiftAndAdd;
  private readonly inDisk: Uint8Array;
  readonly standardBf: Float64Array;
  pixelsReconstructed = 0;

  constructor(
    readonly scanY: number,
    readonly scanX: number,
    readonly factor: number,
    bounds: CropBounds,
    disk: BrightFieldDisk,
    private readonly shiftYPx: Float64Array,
    private readonly shiftXPx: Float64Array,
    private readonly fit: AberrationFit,
  ) {
    this.shiftAndAdd = new ShiftAndAdd(scanY, scanX, factor);
    this.inDisk = new Uint8Array(shiftYPx.length);
    for (const i of diskPixels(bounds, disk)) this.inDisk[i] = 1;
    this.standardBf = new Float64Array(scanY * scanX);
  }

  /** The crop pixels of `candidates` whose images `add` needs. */
  needed(candidates: ArrayLike<number>): Int32Array {
    return Int32Array.from(candidates).filter(
      (i) => this.fit.used[i] === 1 || this.inDisk[i] === 1,
    );
  }

  /** Add the images [pixels.length, scanY, scanX] of crop pixels `pixels`. */
  add(pixels: Int32Array, images: Float64Array): void {
    const n = this.scanY * this.scanX;
    const use = pixels.filter((i) => this.fit.used[i] === 1);
    const pick = (keep: Int32Array) => {
      const out = new Float64Array(keep.length * n);
      let j = 0;
      pixels.forEach((p, b) => {
        if (keep[j] === p) out.set(images.subarray(b * n, (b + 1) * n), n * j++);
      });
      return out;
    };
    if (use.length) {
      const [ty, tx] = this.fit.offsetPx;
      this.shiftAndAdd.add(
        pick(use),
        use.length,
        Float64Array.from(use, (i) => this.shiftYPx[i]! - ty),
        Float64Array.from(use, (i) => this.shiftXPx[i]! - tx),
      );
      this.pixelsReconstructed += use.length;
    }
    const bright = pixels.filter((i) => this.inDisk[i] === 1);
    if (bright.length)
      standardBrightField(pick(bright), bright.length, this.scanY, this.scanX, this.standardBf);
  }

  result(): { superRes: Float64Array; superResWeight: Float64Array } {
    const { image, weight } = this.shiftAndAdd.result();
    return { superRes: image, superResWeight: weight };
  }
}
