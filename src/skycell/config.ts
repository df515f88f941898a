// Configuration of the PS1 sliding-window pipeline: the seed's constants as defaults, every
// one overridable, checked once up front so a bad value fails before any file is touched.
import os from "node:os";
import { gaussianKernel1d } from "./convolve.js";

export interface SkycellConfig {
  /** Overlap of neighbouring skycells, px (the seed's CELL_OVERLAP). */
  overlapPx: number;
  /**
   * Edge exclusion, px: a later cell does not overwrite its first `edgeExclusionPx` rows or
   * columns of the overlap, which stay the earlier cell's (EDGE_EXCLUSION).
   */
  edgeExclusionPx: number;
  /** Padding around each row window, px (PAD_SIZE). Must hold the PSF kernel's radius. */
  padPx: number;
  /** Gaussian PSF sigma, px. */
  psfSigmaPx: number;
  /** Kernel half-width in sigmas (scipy's truncate). */
  truncate: number;
  /** Where the smoothed valid fraction G*w is <= this the output is NaN. */
  minWeight: number;
  /** Reader threads and pre-processor threads (each); the convolution splits over the latter. */
  workers: number;
  /** Read tasks queued ahead of the assembler (bounds the memory held for upcoming rows). */
  queueDepth: number;
  /**
   * Bytes those tasks may hold (raw bands while read, then the combined piece); default, one
   * master window of raw bands. At least one task runs whatever its size.
   */
  readAheadBytes?: number;
  /** Time allowed to gather one row window's cells (GATHER_TIMEOUT_SECONDS), ms. */
  gatherTimeoutMs: number;
  /** Time allowed for one worker call (a read, a combination, a save), ms. */
  queueTimeoutMs: number;
  /** PS1 band weights of the combined image (bands absent here are not read). */
  bandWeights: Readonly<Record<string, number>>;
  /** Mask bits that make a pixel invalid (weight 0 in the convolution). */
  badMaskBits: number;
  /** Output Zarr chunk edge, px. */
  outputChunkPx: number;
}

/** The seed's values (CELL_OVERLAP, EDGE_EXCLUSION, PAD_SIZE, GATHER_TIMEOUT_SECONDS, sigma 60). */
export const SEED_DEFAULTS = {
  overlapPx: 480,
  edgeExclusionPx: 10,
  padPx: 480,
  psfSigmaPx: 60,
  truncate: 4,
  minWeight: 1e-10,
  queueDepth: 64,
  gatherTimeoutMs: 300_000,
  queueTimeoutMs: 120_000,
  outputChunkPx: 512,
} as const;

/** A configuration value out of range; names the key. */
export class SkycellConfigError extends Error {
  override readonly name = "SkycellConfigError";
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(`skycell config ${key}: ${message}`);
  }
}

/**
 * The full configuration: the seed's defaults, then `overrides`; band weights and mask bits
 * default to the dataset's own (see dataset.ts).
 */
export function resolveConfig(
  overrides: Partial<SkycellConfig>,
  datasetDefaults: Pick<SkycellConfig, "bandWeights" | "badMaskBits">,
): SkycellConfig {
  const c: SkycellConfig = {
    ...SEED_DEFAULTS,
    workers: Math.max(1, Math.min(4, os.availableParallelism())),
    ...datasetDefaults,
    ...withoutUndefined(overrides),
  };
  const int = (key: keyof SkycellConfig, min: number) => {
    const v = c[key];
    if (typeof v !== "number" || !Number.isInteger(v) || v < min)
      throw new SkycellConfigError(key, `must be an integer >= ${min}, got ${String(v)}`);
  };
  const positive = (key: keyof SkycellConfig) => {
    const v = c[key];
    if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v))
      throw new SkycellConfigError(key, `must be a finite number > 0, got ${String(v)}`);
  };
  int("overlapPx", 0);
  int("edgeExclusionPx", 0);
  int("padPx", 0);
  int("workers", 1);
  int("queueDepth", 1);
  if (c.readAheadBytes !== undefined) positive("readAheadBytes");
  int("outputChunkPx", 1);
  positive("psfSigmaPx");
  positive("truncate");
  positive("gatherTimeoutMs");
  positive("queueTimeoutMs");
  if (!(c.minWeight >= 0)) throw new SkycellConfigError("minWeight", "must be >= 0");
  if (c.edgeExclusionPx > c.overlapPx)
    throw new SkycellConfigError(
      "edgeExclusionPx",
      `(${c.edgeExclusionPx}) cannot exceed overlapPx (${c.overlapPx})`,
    );
  const radius = kernelRadiusPx(c);
  if (radius > c.padPx)
    throw new SkycellConfigError(
      "padPx",
      `(${c.padPx}) is smaller than the PSF kernel radius ${radius} px (truncate ${c.truncate} x sigma ${c.psfSigmaPx}): cells near a row's edge would be convolved without their neighbours`,
    );
  if (!Number.isInteger(c.badMaskBits) || c.badMaskBits < 0 || c.badMaskBits > 0xffff)
    throw new SkycellConfigError("badMaskBits", `must be a 16-bit mask, got ${c.badMaskBits}`);
  const weights = Object.entries(c.bandWeights);
  if (!weights.some(([, w]) => w !== 0) || weights.some(([, w]) => !Number.isFinite(w)))
    throw new SkycellConfigError(
      "bandWeights",
      `needs finite weights, at least one non-zero, got ${JSON.stringify(c.bandWeights)}`,
    );
  return c;
}

/** The Gaussian kernel's half-width in px (scipy's rule: trunc(truncate * sigma + 0.5)). */
export function kernelRadiusPx(c: Pick<SkycellConfig, "psfSigmaPx" | "truncate">): number {
  return (gaussianKernel1d(c.psfSigmaPx, c.truncate).length - 1) / 2;
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
