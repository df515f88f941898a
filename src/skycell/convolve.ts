// Separable Gaussian PSF convolution for 2-D float32 images, matching
// scipy.ndimage.gaussian_filter (order 0) and a mask/NaN-aware normalised variant.
//
// Kernel (as scipy): radius = trunc(truncate * sigma + 0.5), taps exp(-x^2 / (2 sigma^2)) for
// x in [-radius, radius], normalised to sum 1 in float64. Axis 0 (rows, y) uses sigma[0], axis 1
// (columns, x) uses sigma[1]; an axis with sigma <= 1e-15 is left alone (as scipy).
//
// Boundary modes follow scipy.ndimage's names and extension rules, for any radius (also
// radius > image size: the extension repeats, as scipy's does):
//   reflect  (d c b a | a b c d | d c b a)  — default, half-sample symmetric
//   mirror   (d c b | a b c d | c b a)       — whole-sample symmetric
//   nearest  (a a a | a b c d | d d d)
//   wrap     (a b c d | a b c d | a b c d)
//   constant (k k k | a b c d | k k k)       — k = cval (default 0)
//
// Two passes, each over a range so that worker threads can share one image (e.g. views over
// SharedArrayBuffers) without copies: the axis-1 pass over a band of rows, then, once every
// row is done, the axis-0 pass over a band of columns. The whole-image functions are these
// passes over the full ranges. Each axis is filtered either with direct taps (O(r) per pixel,
// register-blocked, convolve-direct.ts; the columns pass in tiles of rows x columns) or, for
// large radii, by FFT line convolution (O(log n) per pixel, two real lines per complex
// transform, convolve-fft.ts), chosen per axis by a cost model (GaussianOptions.method forces
// either). The normalised filter's weight sums G*w take neither where they need not: w is
// binary, so a row's weights are sums of tap runs over its runs of valid pixels, and the
// columns pass finds the rows pass's weight rows (equal for rows with the same valid pixels in
// reach) piecewise constant along each column; they fall back to taps or FFT where the runs
// are too many.
//
// Precision: every sum is accumulated in float64 (the whole-image functions keep the
// intermediate in float64 too); only the final result is rounded to float32. (scipy rounds to
// the output dtype after each axis, so differences are at the float32 rounding level, ~1e-7
// relative.) The FFT path's rounding errors are ~1e-15 of the largest |value| of each line (in
// the columns pass, of a tile of up to 15 columns) rather than of each output's own terms.
// Weight sums by runs are exact to ~1e-16 (relative for sums of tap tails), and exactly 0
// where no valid pixel is in reach (as with direct taps). Non-finite values give what direct
// taps give (NaN or ±Inf over the kernel footprint only, as in scipy), on every path.
//
// Cost (Node 20, one core, the project's 2-core benchmark machine, which other work shares):
// a 696x2496 row window at sigma 6 (49 taps, direct taps) ~0.09 s plain, ~0.13-0.14 s
// normalised (scipy ~0.06 s and ~0.135 s); at sigma 12 (97 taps; rows by FFT, columns by
// taps) ~0.14 s and ~0.2 s (scipy ~0.13 s and ~0.28 s); 2000x2000 at sigma 60 (481 taps,
// FFT) ~0.6 s plain, ~0.85 s normalised (scipy ~2 s and ~4.4 s);
// tests/bench/skycell-convolve.bench.ts compares with scipy. Scratch memory per pass call is
// a few lines or tiles (see each pass), never image-sized.
import {
  directTaps,
  findRowRuns,
  findRuns,
  newRuns,
  rowRunsTaps,
  runsTaps,
  smoothLine,
  tapSums,
  zeroColumn,
  type Runs,
} from "./convolve-direct.js";
import {
  convolveLanesFft,
  directLineNs,
  fftLength,
  fftLineNs,
  kernelSpectrum,
  maxRuns,
  takeNonFinite,
} from "./convolve-fft.js";

/** scipy.ndimage boundary mode names supported here. */
export type BoundaryMode = "reflect" | "mirror" | "nearest" | "wrap" | "constant";

export const BOUNDARY_MODES: readonly BoundaryMode[] = [
  "reflect",
  "mirror",
  "nearest",
  "wrap",
  "constant",
];

/** How an axis is filtered: by the cost model ("auto"), always direct taps, or always FFT. */
export type ConvolveMethod = "auto" | "direct" | "fft";

/** Image arrays the passes read and write (also views over SharedArrayBuffers). */
export type FloatArray = Float32Array | Float64Array;

export interface GaussianOptions {
  /** Standard deviation in pixels: one value for both axes, or [sigmaY, sigmaX]. */
  sigma: number | readonly [number, number];
  /** Kernel half-width in sigmas (scipy's `truncate`, default 4.0). */
  truncate?: number;
  /** Boundary extension (default "reflect", as scipy). */
  mode?: BoundaryMode;
  /** Value outside the image for mode "constant" (default 0). */
  cval?: number;
  /** Direct taps or FFT per axis (default "auto": whichever the cost model finds cheaper). */
  method?: ConvolveMethod;
}

export interface NormalizedGaussianOptions extends GaussianOptions {
  /**
   * Optional mask, one byte per pixel: non-zero = masked (weight 0). NaN pixels of the image are
   * always weight 0 too. (Use `maskValue` semantics of your own by building this array.)
   */
  mask?: Uint8Array;
  /**
   * Where the smoothed weight sum G*w is <= minWeight the result is NaN (default 1e-10). The
   * weight sum lies in [0, 1] (1 = every pixel in the kernel footprint valid), so raise this to
   * e.g. 0.05 to also reject pixels supported by only a thin fringe of valid data.
   */
  minWeight?: number;
}

export interface NormalizedGaussianResult {
  /** G*(w·x) / G*(w), NaN where G*(w) <= minWeight. */
  data: Float32Array;
  /** G*(w), the smoothed valid-pixel fraction (0..1). */
  weight: Float32Array;
}

/** How one axis is filtered (part of a GaussianPlan). */
export interface AxisFilter {
  /** Normalised taps, length 2 * radius + 1. */
  readonly taps: Float64Array;
  readonly radius: number;
  readonly method: "direct" | "fft";
  /** FFT length (>= line length + 2 * radius), 0 for direct. */
  readonly fftLength: number;
  /** Real spectrum of the taps at fftLength (empty for direct). */
  readonly spectrum: Float64Array;
}

/** Everything the passes need for one image shape and set of options; see gaussianPlan. */
export interface GaussianPlan {
  readonly height: number;
  readonly width: number;
  readonly mode: BoundaryMode;
  readonly cval: number;
  /** Axis 1, filtered along each row by the rows pass. */
  readonly x: AxisFilter;
  /** Axis 0, filtered along each column by the columns pass. */
  readonly y: AxisFilter;
}

/** Bad arguments (shape, sigma, mode, ranges, arrays). */
export class ConvolveError extends Error {
  override readonly name = "ConvolveError";
}

/** The normalised 1-D Gaussian taps (length 2r+1) scipy uses for this sigma and truncate. */
export function gaussianKernel1d(sigma: number, truncate = 4.0): Float64Array {
  if (!(sigma >= 0) || !Number.isFinite(sigma)) {
    throw new ConvolveError(`sigma must be a finite number >= 0, got ${sigma}`);
  }
  if (!(truncate > 0) || !Number.isFinite(truncate)) {
    throw new ConvolveError(`truncate must be a finite number > 0, got ${truncate}`);
  }
  const radius = Math.trunc(truncate * sigma + 0.5);
  const k = new Float64Array(2 * radius + 1);
  if (radius === 0) {
    k[0] = 1;
    return k;
  }
  const c = -0.5 / (sigma * sigma);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    const v = Math.exp(c * i * i);
    k[i + radius] = v;
    sum += v;
  }
  for (let i = 0; i < k.length; i++) k[i] = k[i]! / sum;
  return k;
}

/** Index into [0, n) for an out-of-range index i, or -1 for "constant" (use cval). */
export function boundaryIndex(i: number, n: number, mode: BoundaryMode): number {
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case "constant":
      return -1;
    case "nearest":
      return i < 0 ? 0 : n - 1;
    case "wrap":
      return ((i % n) + n) % n;
    case "reflect": {
      const p = 2 * n;
      let j = ((i % p) + p) % p;
      if (j >= n) j = p - 1 - j;
      return j;
    }
    case "mirror": {
      if (n === 1) return 0;
      const p = 2 * n - 2;
      let j = ((i % p) + p) % p;
      if (j >= n) j = p - j;
      return j;
    }
  }
}

function sigmas(s: GaussianOptions["sigma"]): [number, number] {
  if (typeof s === "number") return [s, s];
  if (!Array.isArray(s) || s.length !== 2) {
    throw new ConvolveError("sigma must be a number or [sigmaY, sigmaX]");
  }
  return [s[0], s[1]];
}

function checkSigma(s: number): number {
  if (!(s >= 0) || !Number.isFinite(s)) {
    throw new ConvolveError(`sigma must be a finite number >= 0, got ${s}`);
  }
  return s;
}

function checkShape(shape: readonly [number, number]): void {
  const [h, w] = shape;
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 1 || w < 1) {
    throw new ConvolveError(`shape must be two positive integers, got [${h}, ${w}]`);
  }
}

function checkLength(len: number, plan: GaussianPlan, what: string): void {
  const n = plan.height * plan.width;
  if (len !== n) {
    throw new ConvolveError(
      `${what} has ${len} elements, shape [${plan.height}, ${plan.width}] needs ${n}`,
    );
  }
}

function checkMode(mode: string): BoundaryMode {
  if (!(BOUNDARY_MODES as readonly string[]).includes(mode)) {
    throw new ConvolveError(`unknown boundary mode ${JSON.stringify(mode)}`);
  }
  return mode as BoundaryMode;
}

function checkRange(a: number, b: number, n: number, what: string): void {
  if (!Number.isInteger(a) || !Number.isInteger(b) || a < 0 || a > b || b > n) {
    throw new ConvolveError(`${what} range [${a}, ${b}) is not within [0, ${n}]`);
  }
}

/** Outputs must not share memory with inputs or each other (the columns pass reads all rows). */
function checkDisjoint(arrays: readonly (ArrayBufferView | undefined)[], outputs: number): void {
  for (let i = arrays.length - outputs; i < arrays.length; i++) {
    const o = arrays[i];
    if (o === undefined) continue;
    for (let j = 0; j < i; j++) {
      const a = arrays[j];
      if (
        a !== undefined &&
        a.buffer === o.buffer &&
        a.byteOffset < o.byteOffset + o.byteLength &&
        o.byteOffset < a.byteOffset + a.byteLength
      ) {
        throw new ConvolveError("output arrays must not overlap the inputs or each other");
      }
    }
  }
}

function axisFilter(
  sigma: number,
  truncate: number,
  n: number,
  method: ConvolveMethod,
): AxisFilter {
  // scipy skips axes whose sigma is <= 1e-15: an identity kernel does the same.
  const taps = gaussianKernel1d(sigma > 1e-15 ? sigma : 0, truncate);
  const radius = (taps.length - 1) >> 1;
  const m = fftLength(n + 2 * radius);
  const useFft =
    radius > 0 &&
    (method === "fft" || (method === "auto" && fftLineNs(m) < directLineNs(n, radius)));
  return useFft
    ? { taps, radius, method: "fft", fftLength: m, spectrum: kernelSpectrum(taps, m) }
    : { taps, radius, method: "direct", fftLength: 0, spectrum: new Float64Array(0) };
}

/**
 * Checks the options and prepares the taps (and FFT spectra) for images of shape
 * [height, width]. A plan is plain data, cheap to make: worker threads can each make their own
 * from the same shape and options.
 */
export function gaussianPlan(
  shape: readonly [number, number],
  opts: GaussianOptions,
): GaussianPlan {
  checkShape(shape);
  const [h, w] = shape;
  const [sy, sx] = sigmas(opts.sigma).map(checkSigma) as [number, number];
  const truncate = opts.truncate ?? 4.0;
  const mode = checkMode(opts.mode ?? "reflect");
  const cval = opts.cval ?? 0;
  if (!Number.isFinite(cval)) throw new ConvolveError(`cval must be finite, got ${cval}`);
  const method = opts.method ?? "auto";
  if (!["auto", "direct", "fft"].includes(method)) {
    throw new ConvolveError(`unknown method ${JSON.stringify(method)}`);
  }
  return {
    height: h,
    width: w,
    mode,
    cval,
    x: axisFilter(sx, truncate, w, method),
    y: axisFilter(sy, truncate, h, method),
  };
}

/** Source index of every position of a line of n extended by r on both sides (-1: cval). */
function extensionIndex(n: number, r: number, mode: BoundaryMode): Int32Array {
  const idx = new Int32Array(n + 2 * r);
  for (let e = 0; e < idx.length; e++) idx[e] = boundaryIndex(e - r, n, mode);
  return idx;
}

/** ext = the row of n values starting at src[off], extended as idx says (cval outside). */
function extendRow(
  src: FloatArray,
  off: number,
  n: number,
  idx: Int32Array,
  cval: number,
  ext: Float64Array,
): void {
  const r = (idx.length - n) >> 1;
  ext.set(src.subarray(off, off + n), r);
  for (let e = 0; e < r; e++) {
    const a = idx[e]!;
    const b = idx[r + n + e]!;
    ext[e] = a < 0 ? cval : src[off + a]!;
    ext[r + n + e] = b < 0 ? cval : src[off + b]!;
  }
}

/** The largest |value| of line[0 .. len) (not finite if any value is not). */
function peakOf(line: Float64Array, len: number): number {
  let peak = 0;
  for (let e = 0; e < len; e++) peak = Math.max(peak, Math.abs(line[e]!));
  return peak;
}

/**
 * Gathers n columns of src from x, extended rows e0 .. e1 - 1 of the index, into tile rows
 * 0 .. e1 - e0 - 1 of the given stride: tile[(e - e0) * stride + c].
 */
function gatherColumns(
  src: FloatArray,
  w: number,
  x: number,
  n: number,
  stride: number,
  idx: Int32Array,
  e0: number,
  e1: number,
  cval: number,
  tile: Float64Array,
): void {
  for (let e = e0, o = 0; e < e1; e++, o += stride) {
    const off = idx[e]! * w + x;
    if (idx[e]! < 0) tile.fill(cval, o, o + n);
    // set's view costs more than a few copies
    else if (n < 16) for (let c = 0; c < n; c++) tile[o + c] = src[off + c]!;
    else tile.set(src.subarray(off, off + n), o);
  }
}

/**
 * An FFT tile: n columns from x into the first n of `lanes` interleaved extended lines, the
 * other lanes and the padding to the tile's end zero; returns the largest |value| (not finite
 * if any value is not).
 */
function gatherFftTile(
  src: FloatArray,
  w: number,
  x: number,
  n: number,
  lanes: number,
  idx: Int32Array,
  cval: number,
  tile: Float64Array,
): number {
  tile.fill(0, n < lanes ? 0 : idx.length * lanes);
  if (n > 0) gatherColumns(src, w, x, n, lanes, idx, 0, idx.length, cval, tile);
  return peakOf(tile, idx.length * lanes);
}

/** How a transform part was readied: its scale and its lanes' non-finite outputs. */
interface Prepared {
  scale: number;
  fixes: (Float64Array | null)[] | null;
}

/**
 * Readies one part (real or imaginary) of an FFT tile: `used` of `lanes` interleaved extended
 * lines of len values with the given peak |value|. Non-finite values are taken out (their
 * outputs are restored after the FFT, see takeNonFinite); then the part is divided by the
 * power of two nearest its peak (exactly): the two parts of a transform share its rounding
 * errors, ~1e-16 of the larger part, so scaling both to ~1 keeps each part's errors relative
 * to its own values (e.g. the normalised filter's weights, in [0, 1], next to w·x of any
 * magnitude, whose noise could otherwise lift a zero weight above minWeight).
 */
function prepare(
  tile: Float64Array,
  lanes: number,
  used: number,
  len: number,
  peak: number,
  taps: Float64Array,
): Prepared {
  const n = len * lanes;
  let fixes: (Float64Array | null)[] | null = null;
  if (!Number.isFinite(peak)) {
    fixes = [];
    for (let c = 0; c < used; c++) fixes.push(takeNonFinite(tile, c, lanes, len, taps));
    peak = 0;
    for (let i = 0; i < n; i++) peak = Math.max(peak, Math.abs(tile[i]!));
  }
  if (!(peak > 0)) return { scale: 1, fixes };
  const scale = 2 ** Math.max(-1000, Math.min(1000, Math.round(Math.log2(peak))));
  const inv = 1 / scale;
  for (let i = 0; i < n; i++) tile[i] = tile[i]! * inv;
  return { scale, fixes };
}

/**
 * Puts the non-finite outputs back into a convolved tile part (output y of lane c sits at
 * (y + r) * lanes + c).
 */
function restore(tile: Float64Array, lanes: number, r: number, p: Prepared): void {
  p.fixes?.forEach((fix, c) => {
    if (fix === null) return;
    for (let y = 0, o = r * lanes + c; y < fix.length; y++, o += lanes)
      if (fix[y] !== 0) tile[o] = fix[y]!;
  });
}

/** dst[off + x] = scale * src[from + x] for x < n. */
function copyScaled(
  src: Float64Array,
  from: number,
  scale: number,
  dst: FloatArray,
  off: number,
  n: number,
): void {
  for (let x = 0; x < n; x++) dst[off + x] = scale * src[from + x]!;
}

/** Where a line filtered by FftLinePairs goes: n values from dst[off]. */
interface LineTarget {
  dst: FloatArray;
  off: number;
}

/**
 * Filters extended lines by FFT two at a time, one in the real and one in the imaginary part of
 * a complex transform: a line is written into slot(), then commit()ed with its destination;
 * every second commit, and flush(), runs the transform. Scratch: two float64 lines of the FFT
 * length.
 */
class FftLinePairs {
  private readonly re: Float64Array;
  private readonly im: Float64Array;
  private pending: LineTarget | undefined;

  constructor(
    private readonly axis: AxisFilter,
    /** Extended line length (n + 2 radius). */
    private readonly len: number,
    private readonly n: number,
  ) {
    this.re = new Float64Array(axis.fftLength);
    this.im = new Float64Array(axis.fftLength);
  }

  /** The buffer to write the next line's len extended values into. */
  slot(): Float64Array {
    return this.pending === undefined ? this.re : this.im;
  }

  commit(dst: FloatArray, off: number): void {
    if (this.pending === undefined) {
      this.pending = { dst, off };
      return;
    }
    this.transform(this.pending, { dst, off });
    this.pending = undefined;
  }

  flush(): void {
    if (this.pending === undefined) return;
    this.im.fill(0, 0, this.len);
    this.transform(this.pending, undefined);
    this.pending = undefined;
  }

  private transform(a: LineTarget, b: LineTarget | undefined): void {
    const { re, im, len, n } = this;
    const { taps, radius: r, spectrum } = this.axis;
    const pa = prepare(re, 1, 1, len, peakOf(re, len), taps);
    const pb = prepare(im, 1, 1, len, peakOf(im, len), taps);
    re.fill(0, len);
    im.fill(0, len);
    convolveLanesFft(re, im, 1, spectrum);
    restore(re, 1, r, pa);
    restore(im, 1, r, pb);
    copyScaled(re, r, pa.scale, a.dst, a.off, n);
    if (b !== undefined) copyScaled(im, r, pb.scale, b.dst, b.off, n);
  }
}

/**
 * Axis-1 pass over rows [y0, y1): each row of src filtered along x into the same row of dst
 * (e.g. a Float64Array intermediate for convolveColsPass). Arrays are height x width,
 * row-major; dst must not overlap src. Scratch per call: two float64 lines of the FFT length
 * (direct: of width + 2 radius) and an int32 index line.
 */
export function convolveRowsPass(
  src: FloatArray,
  dst: FloatArray,
  plan: GaussianPlan,
  y0: number,
  y1: number,
): void {
  checkLength(src.length, plan, "src");
  checkLength(dst.length, plan, "dst");
  checkRange(y0, y1, plan.height, "row");
  checkDisjoint([src, dst], 1);
  const { width: w, mode, cval } = plan;
  const { taps, radius: r } = plan.x;
  const idx = extensionIndex(w, r, mode);
  const len = idx.length;
  if (plan.x.method === "direct") {
    const ext = new Float64Array(len);
    for (let y = y0; y < y1; y++) {
      extendRow(src, y * w, w, idx, cval, ext);
      directTaps(ext, 0, 1, taps, dst, y * w, 1, w);
    }
    return;
  }
  const pairs = new FftLinePairs(plan.x, len, w);
  for (let y = y0; y < y1; y++) {
    extendRow(src, y * w, w, idx, cval, pairs.slot());
    pairs.commit(dst, y * w);
  }
  pairs.flush();
}

/**
 * Axis-1 pass of the normalised filter over rows [y0, y1): num = G_x*(w·x), den = G_x*(w) with
 * w = 0 where the pixel is NaN or mask is non-zero, else 1. Outputs must not overlap the
 * inputs or each other. Scratch as convolveRowsPass.
 */
export function normalizedRowsPass(
  image: FloatArray,
  mask: Uint8Array | undefined,
  num: FloatArray,
  den: FloatArray,
  plan: GaussianPlan,
  y0: number,
  y1: number,
): void {
  checkLength(image.length, plan, "image");
  if (mask !== undefined) checkLength(mask.length, plan, "mask");
  checkLength(num.length, plan, "num");
  checkLength(den.length, plan, "den");
  checkRange(y0, y1, plan.height, "row");
  checkDisjoint([image, mask, num, den], 2);
  checkNormalizable(plan);
  const { width: w, mode } = plan;
  const { taps, radius: r } = plan.x;
  const idx = extensionIndex(w, r, mode);
  const len = idx.length;
  const xw = new Float64Array(len);
  const wt = new Float64Array(len);
  const sums = tapSums(taps);
  const runs = newRuns(len);
  if (plan.x.method === "direct") {
    for (let y = y0; y < y1; y++) {
      const off = y * w;
      extendWeighted(image, mask, off, w, idx, xw, wt);
      // a row without valid pixels is all zero: skip its taps
      if (smoothLine(wt, 0, 1, taps, sums, runs, den, off, 1, w)) num.fill(0, off, off + w);
      else directTaps(xw, 0, 1, taps, num, off, 1, w);
    }
    return;
  }
  // w·x by FFT, two rows per transform; w by its runs where they pay, else by FFT too
  const pairs = new FftLinePairs(plan.x, len, w);
  const most = maxRuns(w, r, fftLineNs(plan.x.fftLength));
  for (let y = y0; y < y1; y++) {
    const off = y * w;
    extendWeighted(image, mask, off, w, idx, pairs.slot(), wt);
    pairs.commit(num, off);
    if (findRuns(wt, 0, 1, len, most, runs)) {
      runsTaps(runs, sums, den, off, 1, w);
    } else {
      pairs.slot().set(wt);
      pairs.commit(den, off);
    }
  }
  pairs.flush();
}

/**
 * xw[e] = w·x and wt[e] = w (0 or 1) along the extended row of n values of image starting at
 * off (outside the image, for mode "constant", w = 0).
 */
function extendWeighted(
  image: FloatArray,
  mask: Uint8Array | undefined,
  off: number,
  n: number,
  idx: Int32Array,
  xw: Float64Array,
  wt: Float64Array,
): void {
  extendRow(image, off, n, idx, NaN, xw);
  for (let e = 0; e < idx.length; e++) {
    const v = xw[e]!;
    // NaN outside the image for mode "constant": no mask lookup there
    const ok = v === v && (mask === undefined || mask[off + idx[e]!] === 0);
    xw[e] = ok ? v : 0;
    wt[e] = ok ? 1 : 0;
  }
}

function checkNormalizable(plan: GaussianPlan): void {
  if (plan.cval !== 0) {
    throw new ConvolveError("normalised filter: outside pixels are missing, cval must be 0");
  }
}

/** Output rows per block of the direct columns pass. */
const BLOCK_ROWS = 128;

/**
 * Columns per tile of the direct columns pass, also the tile's stride: a block's tiles
 * ((64 + 2r) rows by 127 float64) stay in the L2 cache while their columns are filtered; an odd
 * stride keeps a column's samples off the same L1 sets.
 */
const TILE_COLUMNS = 127;

/**
 * Calls fn for each tile of the direct columns pass over columns [x0, x1): cols columns from
 * xa, output rows [yb, yb + rows) of a height-h image.
 */
function forEachColumnTile(
  h: number,
  x0: number,
  x1: number,
  fn: (xa: number, cols: number, yb: number, rows: number) => void,
): void {
  for (let xa = x0; xa < x1; xa += TILE_COLUMNS)
    for (let yb = 0; yb < h; yb += BLOCK_ROWS)
      fn(xa, Math.min(TILE_COLUMNS, x1 - xa), yb, Math.min(BLOCK_ROWS, h - yb));
}

/**
 * A tile buffer for the direct columns pass (its extended rows: the block's plus r on each
 * side).
 */
function columnTile(radius: number): Float64Array {
  return new Float64Array((BLOCK_ROWS + 2 * radius) * TILE_COLUMNS);
}

/**
 * Complex values per FFT tile buffer: two buffers of 8192 float64 (128 KiB) stay in an L2 cache
 * while their lines are transformed.
 */
const TILE_VALUES = 8192;

/**
 * Lines per FFT tile buffer: as many lines of length m as fill it (up to 15), an odd number
 * so that the tile's line stride stays off powers of two (whose rows share L1 sets).
 */
function tileLanes(m: number): number {
  return Math.min(15, Math.floor(TILE_VALUES / m)) | 1;
}

/**
 * Axis-0 pass over columns [x0, x1): each column of src filtered along y into the same column
 * of dst (all rows of src must be final). dst must not overlap src. Scratch per call: direct,
 * a tile of (128 + 2 radius) x 127 float64 and an output tile; FFT, two tiles of about 8192
 * float64 (tiles of columns gathered into interleaved lines of the FFT length); an int32
 * index line.
 */
export function convolveColsPass(
  src: FloatArray,
  dst: FloatArray,
  plan: GaussianPlan,
  x0: number,
  x1: number,
): void {
  checkLength(src.length, plan, "src");
  checkLength(dst.length, plan, "dst");
  checkRange(x0, x1, plan.width, "column");
  checkDisjoint([src, dst], 1);
  const { height: h, width: w, mode, cval } = plan;
  const { taps, radius: r, fftLength: m, spectrum } = plan.y;
  const idx = extensionIndex(h, r, mode);
  const len = idx.length;
  if (plan.y.method === "direct") {
    const tile = columnTile(r);
    const out = new Float64Array(BLOCK_ROWS * TILE_COLUMNS);
    const s = TILE_COLUMNS;
    forEachColumnTile(h, x0, x1, (xa, cols, yb, rows) => {
      gatherColumns(src, w, xa, cols, s, idx, yb, yb + rows + 2 * r, cval, tile);
      for (let c = 0; c < cols; c++) directTaps(tile, c, s, taps, out, c, s, rows);
      for (let y = 0; y < rows; y++) copyScaled(out, y * s, 1, dst, (yb + y) * w + xa, cols);
    });
    return;
  }
  const lanes = tileLanes(m);
  const re = new Float64Array(m * lanes);
  const im = new Float64Array(m * lanes);
  // A tile: `a` columns in the real parts, the next `b` in the imaginary parts.
  for (let xa = x0; xa < x1; xa += 2 * lanes) {
    const a = Math.min(lanes, x1 - xa);
    const b = Math.min(lanes, x1 - xa - a);
    const pa = prepare(re, a, a, len, gatherFftTile(src, w, xa, a, a, idx, cval, re), taps);
    const pb = prepare(im, a, b, len, gatherFftTile(src, w, xa + a, b, a, idx, cval, im), taps);
    convolveLanesFft(re, im, a, spectrum);
    restore(re, a, r, pa);
    restore(im, a, r, pb);
    for (let y = 0, o = r * a; y < h; y++, o += a) {
      copyScaled(re, o, pa.scale, dst, y * w + xa, a);
      copyScaled(im, o, pb.scale, dst, y * w + xa + a, b);
    }
  }
}

/**
 * data[off + c] = scale * n[no + c] / d[dOff + c], NaN where d <= minWeight, and
 * weight[off + c] = d[dOff + c], for c < count.
 */
function divide(
  n: Float64Array,
  no: number,
  scale: number,
  d: Float64Array,
  dOff: number,
  data: FloatArray,
  weight: FloatArray | undefined,
  off: number,
  count: number,
  minWeight: number,
): void {
  for (let c = 0; c < count; c++) {
    const ws = d[dOff + c]!;
    if (weight !== undefined) weight[off + c] = ws;
    data[off + c] = ws > minWeight ? (scale * n[no + c]!) / ws : NaN;
  }
}

/**
 * Axis-0 pass of the normalised filter over columns [x0, x1), fused with the division (no third
 * sweep over the image): data = G*(w·x) / G*(w) (NaN where G*(w) <= minWeight) and, unless
 * undefined, weight = G*(w), from the rows pass's num and den (all rows final). Outputs must
 * not overlap the inputs or each other. Scratch per call: direct, two input and two output
 * tiles as convolveColsPass; FFT, three tiles of about 8192 float64.
 */
export function normalizedColsPass(
  num: FloatArray,
  den: FloatArray,
  data: FloatArray,
  weight: FloatArray | undefined,
  plan: GaussianPlan,
  x0: number,
  x1: number,
  minWeight = 1e-10,
): void {
  for (const [a, what] of [
    [num, "num"],
    [den, "den"],
    [data, "data"],
    [weight, "weight"],
  ] as const) {
    if (a !== undefined) checkLength(a.length, plan, what);
  }
  checkRange(x0, x1, plan.width, "column");
  checkDisjoint([num, den, data, weight], 2);
  checkNormalizable(plan);
  if (Number.isNaN(minWeight)) throw new ConvolveError("minWeight must be a number");
  const idx = extensionIndex(plan.height, plan.y.radius, plan.mode);
  if (plan.y.method === "direct") {
    directNormalizedCols(num, den, data, weight, plan, idx, x0, x1, minWeight);
    return;
  }
  new FftNormalizedCols(num, den, data, weight, plan, idx, minWeight).run(x0, x1);
}

/**
 * normalizedColsPass by direct taps, tile by tile: the weight columns (piecewise constant where
 * the rows pass found them so: rows with the same valid pixels in reach have equal weights) by
 * runs where they pay, see smoothLine.
 */
function directNormalizedCols(
  num: FloatArray,
  den: FloatArray,
  data: FloatArray,
  weight: FloatArray | undefined,
  plan: GaussianPlan,
  idx: Int32Array,
  x0: number,
  x1: number,
  minWeight: number,
): void {
  const { height: h, width: w } = plan;
  const { taps, radius: r } = plan.y;
  const s = TILE_COLUMNS;
  const tileN = columnTile(r);
  const tileD = columnTile(r);
  const outN = new Float64Array(BLOCK_ROWS * s);
  const outD = new Float64Array(BLOCK_ROWS * s);
  const sums = tapSums(taps);
  const runs = newRuns(BLOCK_ROWS + 2 * r);
  const most = maxRuns(BLOCK_ROWS, r, directLineNs(BLOCK_ROWS, r));
  forEachColumnTile(h, x0, x1, (xa, cols, yb, rows) => {
    const e1 = yb + rows + 2 * r;
    gatherColumns(num, w, xa, cols, s, idx, yb, e1, 0, tileN);
    gatherColumns(den, w, xa, cols, s, idx, yb, e1, 0, tileD);
    if (findRowRuns(tileD, s, cols, rows + 2 * r, most, runs)) {
      rowRunsTaps(tileD, s, cols, runs, sums, outD, rows);
      for (let c = 0; c < cols; c++) {
        // a column without valid pixels in reach (e.g. a no-data block) is all zero
        if (!zeroColumn(tileD, s, c, runs)) directTaps(tileN, c, s, taps, outN, c, s, rows);
        else for (let y = 0; y < rows; y++) outN[y * s + c] = 0;
      }
    } else
      for (let c = 0; c < cols; c++) {
        // a column without valid pixels in reach (e.g. a no-data block) is all zero: skip its taps
        if (!smoothLine(tileD, c, s, taps, sums, runs, outD, c, s, rows))
          directTaps(tileN, c, s, taps, outN, c, s, rows);
        else for (let y = 0; y < rows; y++) outN[y * s + c] = 0;
      }
    for (let y = 0; y < rows; y++)
      divide(outN, y * s, 1, outD, y * s, data, weight, (yb + y) * w + xa, cols, minWeight);
  });
}

/**
 * normalizedColsPass by FFT, in groups of columns: where every column's den is piecewise
 * constant with few runs (rows with the same valid pixels in reach have equal weights), den by
 * runs and num two tiles of columns per transform; else num in the real parts and den in the
 * imaginary ones. Scratch: three tiles of about 8192 float64.
 */
class FftNormalizedCols {
  private readonly lanes: number;
  private readonly re: Float64Array;
  private readonly im: Float64Array;
  /** A group's den columns (stride 2 lanes), then their filtered values. */
  private readonly group: Float64Array;
  private readonly sums: Float64Array;
  private readonly runs: Runs;
  private readonly most: number;

  constructor(
    private readonly num: FloatArray,
    private readonly den: FloatArray,
    private readonly data: FloatArray,
    private readonly weight: FloatArray | undefined,
    private readonly plan: GaussianPlan,
    private readonly idx: Int32Array,
    private readonly minWeight: number,
  ) {
    const { fftLength: m, radius: r, taps } = plan.y;
    this.lanes = tileLanes(m);
    this.re = new Float64Array(m * this.lanes);
    this.im = new Float64Array(m * this.lanes);
    this.group = new Float64Array(idx.length * 2 * this.lanes);
    this.sums = tapSums(taps);
    this.runs = newRuns(idx.length);
    this.most = maxRuns(plan.height, r, fftLineNs(m));
  }

  run(x0: number, x1: number): void {
    for (let xa = x0; xa < x1;) {
      const g = Math.min(2 * this.lanes, x1 - xa);
      if (this.denByRuns(xa, g)) {
        this.numPairs(xa, g);
        xa += g;
      } else {
        for (const end = xa + g; xa < end; xa += this.lanes)
          this.numDen(xa, Math.min(this.lanes, end - xa));
      }
    }
  }

  /**
   * Filters den of columns [xa, xa + g) by runs into the group buffer (output y of column c at
   * y g + c), unless some column has too many runs (false).
   */
  private denByRuns(xa: number, g: number): boolean {
    const { group, idx, runs, most } = this;
    const len = idx.length;
    gatherColumns(this.den, this.plan.width, xa, g, g, idx, 0, len, 0, group);
    for (let c = 0; c < g; c++) if (!findRuns(group, c, g, len, most, runs)) return false;
    for (let c = 0; c < g; c++) {
      findRuns(group, c, g, len, most, runs);
      runsTaps(runs, this.sums, group, c, g, this.plan.height); // overwrites column c only
    }
    return true;
  }

  /** num of columns [xa, xa + g) by FFT, two tiles per transform, over den from denByRuns. */
  private numPairs(xa: number, g: number): void {
    const { re, im, idx, num, plan } = this;
    const { height: h, width: w } = plan;
    const { taps, radius: r, spectrum } = plan.y;
    const len = idx.length;
    const a = Math.min(this.lanes, g);
    const b = g - a;
    const pa = prepare(re, a, a, len, gatherFftTile(num, w, xa, a, a, idx, 0, re), taps);
    const pb = prepare(im, a, b, len, gatherFftTile(num, w, xa + a, b, a, idx, 0, im), taps);
    convolveLanesFft(re, im, a, spectrum);
    restore(re, a, r, pa);
    restore(im, a, r, pb);
    for (let y = 0, o = r * a; y < h; y++, o += a) {
      this.divide(re, o, pa.scale, this.group, y * g, y * w + xa, a);
      this.divide(im, o, pb.scale, this.group, y * g + a, y * w + xa + a, b);
    }
  }

  /** num and den of columns [xa, xa + a) by FFT, one transform. */
  private numDen(xa: number, a: number): void {
    const { re, im, idx, plan } = this;
    const { height: h, width: w } = plan;
    const { taps, radius: r, spectrum } = plan.y;
    const len = idx.length;
    const p = prepare(re, a, a, len, gatherFftTile(this.num, w, xa, a, a, idx, 0, re), taps);
    gatherFftTile(this.den, w, xa, a, a, idx, 0, im);
    convolveLanesFft(re, im, a, spectrum);
    restore(re, a, r, p);
    for (let y = 0, o = r * a; y < h; y++, o += a)
      this.divide(re, o, p.scale, im, o, y * w + xa, a);
  }

  private divide(
    n: Float64Array,
    no: number,
    scale: number,
    d: Float64Array,
    dOff: number,
    off: number,
    count: number,
  ): void {
    divide(n, no, scale, d, dOff, this.data, this.weight, off, count, this.minWeight);
  }
}

/**
 * scipy.ndimage.gaussian_filter(image, sigma, mode=…, cval=…, truncate=…) for a row-major
 * 2-D image of the given [height, width]. NaNs propagate (as in scipy); use
 * {@link normalizedGaussianFilter} to treat them as missing. Memory: a float64 intermediate
 * (8 bytes per pixel) besides the output.
 */
export function gaussianFilter(
  image: FloatArray,
  shape: readonly [number, number],
  opts: GaussianOptions,
): Float32Array {
  const plan = gaussianPlan(shape, opts);
  checkLength(image.length, plan, "image");
  const tmp = new Float64Array(image.length);
  convolveRowsPass(image, tmp, plan, 0, plan.height);
  const out = new Float32Array(image.length);
  convolveColsPass(tmp, out, plan, 0, plan.width);
  return out;
}

/**
 * Mask/NaN-aware normalised convolution: out = G*(w·x) / G*(w), with w = 0 where the pixel is
 * masked or NaN and 1 elsewhere. Outside the image the boundary mode extends both w·x and w the
 * same way; for mode "constant" the outside counts as missing (w = 0), so `cval` must be 0.
 * Where G*(w) <= minWeight (default 1e-10; exactly 0 when no valid pixel lies within the kernel
 * footprint) the result is NaN. Memory: two float64 intermediates (16 bytes per pixel).
 */
export function normalizedGaussianFilter(
  image: FloatArray,
  shape: readonly [number, number],
  opts: NormalizedGaussianOptions,
): NormalizedGaussianResult {
  const plan = gaussianPlan(shape, opts);
  checkLength(image.length, plan, "image");
  checkNormalizable(plan);
  const n = image.length;
  const num = new Float64Array(n);
  const den = new Float64Array(n);
  normalizedRowsPass(image, opts.mask, num, den, plan, 0, plan.height);
  const data = new Float32Array(n);
  const weight = new Float32Array(n);
  normalizedColsPass(num, den, data, weight, plan, 0, plan.width, opts.minWeight);
  return { data, weight };
}
