/**
 * The global CubeFit problem as the solvers see it: minimize ||A x - y||^2 over x >= 0, where
 * A stacks every spaxel's block A_s (pixels x nCols) and y every spaxel's spectrum. The seed's
 * models[s, c, p, l] give A_s[l, c*P + p]; the mask (when there is one) has already removed
 * pixels, so `pixels` is the spaxel's effective length.
 *
 * The solvers read A only through DesignSource, one spaxel at a time, so the HyperCube reader
 * (HDF5, f32 on disk) and the in-memory designs of tests and notebooks are interchangeable.
 */
import { DesignShapeError, requireInt } from "./errors.js";

/** One spaxel's rows. */
export interface SpaxelRows {
  /**
   * Pixel-major: row l (the seed's column A[:, l]) is a[l * nCols .. (l + 1) * nCols), float64.
   * A Kaczmarz step reads one such row twice, so rows must be contiguous.
   */
  a: Float64Array;
  /** The observed spectrum at these pixels, length `pixels`. */
  y: Float64Array;
  /** Rows in this spaxel (after masking). */
  pixels: number;
  /**
   * True when the arrays are freshly made for this call, so a solver may transfer them to a
   * worker thread (detaching them) instead of copying. False/absent: the source keeps them.
   */
  owned?: boolean;
}

export interface DesignSource {
  readonly nSpaxels: number;
  /** C * P. */
  readonly nCols: number;
  /** Rows of spaxel s, 0 <= s < nSpaxels. Solvers treat the arrays as read-only. */
  spaxel(s: number): Promise<SpaxelRows>;
}

/** Check what a source returned against what it declared (cheap: sizes only). */
export function checkSpaxel(design: DesignSource, s: number, rows: SpaxelRows): void {
  const { a, y, pixels } = rows;
  if (!Number.isInteger(pixels) || pixels < 0)
    throw new DesignShapeError(
      `spaxel ${s}`,
      `pixels must be a non-negative integer, got ${pixels}`,
    );
  if (!(a instanceof Float64Array) || !(y instanceof Float64Array))
    throw new DesignShapeError(`spaxel ${s}`, "a and y must be Float64Array (float64 in math)");
  if (a.length < pixels * design.nCols || y.length < pixels)
    throw new DesignShapeError(
      `spaxel ${s}`,
      `declares ${pixels} pixels x ${design.nCols} columns but a has ${a.length} values and y ${y.length}`,
    );
}

/**
 * A design held in memory: either explicit per-spaxel row blocks, or the seed's models array
 * (S, C, P, L) with the data cube (S, L) and an optional mask (L). Used by tests, benches and
 * small notebook problems; the HyperCube reader is the disk-backed equivalent.
 */
export class InMemoryDesign implements DesignSource {
  private constructor(
    readonly nSpaxels: number,
    readonly nCols: number,
    private readonly get: (s: number) => SpaxelRows,
  ) {}

  /** Blocks as given (pixel-major rows, see SpaxelRows.a); they are returned, not copied. */
  static fromRows(nCols: number, blocks: { a: Float64Array; y: Float64Array }[]): InMemoryDesign {
    requireInt("nCols", nCols, 1);
    const rows = blocks.map((b, s) => {
      const pixels = b.y.length;
      const r: SpaxelRows = { a: b.a, y: b.y, pixels };
      if (b.a.length !== pixels * nCols)
        throw new DesignShapeError(
          `blocks[${s}]`,
          `a has ${b.a.length} values, expected ${pixels} pixels x ${nCols} columns`,
        );
      return r;
    });
    return new InMemoryDesign(rows.length, nCols, (s) => rows[s]!);
  }

  /**
   * From the seed's arrays: models (S, C, P, L) in C order, dataCube (S, L), mask (L, truthy =
   * use the pixel). Each call transposes one spaxel to pixel-major float64 (owned by the caller).
   */
  static fromModels(
    models: Float32Array | Float64Array,
    shape: readonly [number, number, number, number],
    dataCube: Float32Array | Float64Array,
    mask?: ArrayLike<number | boolean>,
  ): InMemoryDesign {
    const [S, C, P, L] = shape;
    for (const [k, v] of [
      ["S", S],
      ["C", C],
      ["P", P],
      ["L", L],
    ] as const)
      requireInt(`shape.${k}`, v, 1);
    if (models.length !== S * C * P * L)
      throw new DesignShapeError(
        "models",
        `has ${models.length} values, shape says ${S * C * P * L}`,
      );
    if (dataCube.length !== S * L)
      throw new DesignShapeError(
        "dataCube",
        `has ${dataCube.length} values, expected S*L = ${S * L}`,
      );
    if (mask && mask.length !== L)
      throw new DesignShapeError("mask", `has ${mask.length} entries, expected L = ${L}`);
    const use: number[] = [];
    for (let l = 0; l < L; l++) if (!mask || mask[l]) use.push(l);
    const n = C * P;
    return new InMemoryDesign(S, n, (s) => {
      const k = use.length;
      const a = new Float64Array(k * n);
      const y = new Float64Array(k);
      for (let i = 0; i < k; i++) y[i] = dataCube[s * L + use[i]!]!;
      // models[s, j, l] with j = c*P + p: row l of A_s is the stride-L column of the slab.
      const base = s * n * L;
      for (let j = 0; j < n; j++) {
        const src = base + j * L;
        for (let i = 0; i < k; i++) a[i * n + j] = models[src + use[i]!]!;
      }
      return { a, y, pixels: k, owned: true };
    });
  }

  spaxel(s: number): Promise<SpaxelRows> {
    if (!Number.isInteger(s) || s < 0 || s >= this.nSpaxels)
      return Promise.reject(
        new DesignShapeError("spaxel", `index ${s} is outside [0, ${this.nSpaxels})`),
      );
    return Promise.resolve(this.get(s));
  }
}

/** Sum of squared residuals ||A x - y||^2 and the row count, streamed over the spaxels. */
export async function residualSumOfSquares(
  design: DesignSource,
  x: Float64Array,
): Promise<{ rss: number; rows: number; yy: number }> {
  const n = design.nCols;
  let rss = 0;
  let yy = 0;
  let rows = 0;
  for (let s = 0; s < design.nSpaxels; s++) {
    const sp = await design.spaxel(s);
    checkSpaxel(design, s, sp);
    const { a, y, pixels } = sp;
    for (let l = 0; l < pixels; l++) {
      const r = y[l]! - dot(a, l * n, x, n);
      rss += r * r;
      yy += y[l]! * y[l]!;
    }
    rows += pixels;
  }
  return { rss, rows, yy };
}

/** a[off .. off+n) . x, with four accumulators (one add chain would stall on FP latency). */
export function dot(a: Float64Array, off: number, x: Float64Array, n: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let j = 0;
  for (; j + 3 < n; j += 4) {
    s0 += a[off + j]! * x[j]!;
    s1 += a[off + j + 1]! * x[j + 1]!;
    s2 += a[off + j + 2]! * x[j + 2]!;
    s3 += a[off + j + 3]! * x[j + 3]!;
  }
  for (; j < n; j++) s0 += a[off + j]! * x[j]!;
  return s0 + s1 + (s2 + s3);
}
