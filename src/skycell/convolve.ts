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
// passes over the full ranges. Each axis is filtered either with direct taps (O(r) per pixel)
// or, for large radii, by FFT line convolution (O(log n) per pixel, convolve-fft.ts), chosen
// per axis by a cost model (GaussianOptions.method forces either).
//
// Precision: every sum is accumulated in float64 (the whole-image functions keep the
// intermediate in float64 too); only the final result is rounded to float32. (scipy rounds to
// the output dtype after each axis, so differences are at the float32 rounding level, ~1e-7
// relative.) The FFT path's rounding errors are ~1e-15 of the largest |value| among the lines
// sharing a transform part (one row; a tile of up to 15 columns) rather than of each output's
// own terms. Non-finite values give what direct taps give (NaN or ±Inf over the kernel
// footprint only, as in scipy), on either path.
//
// Cost (Node 20, one core): 2000x2000 at sigma 60 (481 taps) by FFT ~0.36 s plain, ~0.73 s
// normalised (direct taps: ~4.5 s and ~9 s); tests/bench/skycell-convolve.bench.ts compares with
// scipy. Scratch memory per pass call is a few lines or one tile (see each pass), never
// image-sized.
import {
  convolveLanesFft,
  directLineNs,
  fftLength,
  fftLineNs,
  kernelSpectrum,
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

/**
 * ext[e] = the extended row starting at src[off]; returns the largest |value| (not finite if
 * any value is not: Math.max propagates NaN).
 */
function extendRow(
  src: FloatArray,
  off: number,
  idx: Int32Array,
  cval: number,
  ext: Float64Array,
): number {
  let peak = 0;
  for (let e = 0; e < idx.length; e++) {
    const j = idx[e]!;
    const v = j < 0 ? cval : src[off + j]!;
    ext[e] = v;
    peak = Math.max(peak, Math.abs(v));
  }
  return peak;
}

/**
 * Gathers n columns of src from x into the first n of `lanes` interleaved extended lines of
 * tile (the other lanes zero), zero-padded to the tile's end; returns the largest |value| (not
 * finite if any value is not).
 */
function gatherColumns(
  src: FloatArray,
  w: number,
  x: number,
  n: number,
  lanes: number,
  idx: Int32Array,
  cval: number,
  tile: Float64Array,
): number {
  let peak = n > 0 && idx.includes(-1) ? Math.abs(cval) : 0;
  for (let e = 0, o = 0; e < idx.length; e++, o += lanes) {
    const j = idx[e]!;
    if (j < 0) {
      tile.fill(cval, o, o + n);
    } else {
      const off = j * w + x;
      for (let c = 0; c < n; c++) {
        const v = src[off + c]!;
        tile[o + c] = v;
        peak = Math.max(peak, Math.abs(v));
      }
    }
    if (n < lanes) tile.fill(0, o + n, o + lanes);
  }
  tile.fill(0, idx.length * lanes);
  return peak;
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

/** dst[off + x] = sum_t taps[t] ext[x + t] for x < n (direct taps, symmetric pairs). */
function directLine(
  ext: Float64Array,
  taps: Float64Array,
  dst: FloatArray,
  off: number,
  n: number,
): void {
  const r = (taps.length - 1) >> 1;
  const last = taps.length - 1;
  const kc = taps[r]!;
  for (let x = 0; x < n; x++) {
    let acc = kc * ext[x + r]!;
    for (let t = 0; t < r; t++) acc += taps[t]! * (ext[x + t]! + ext[x + last - t]!);
    dst[off + x] = acc;
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
  const { taps, radius: r, spectrum } = plan.x;
  const idx = extensionIndex(w, r, mode);
  const len = idx.length;
  const m = Math.max(plan.x.fftLength, len);
  const re = new Float64Array(m);
  const im = new Float64Array(m);
  if (plan.x.method === "direct") {
    for (let y = y0; y < y1; y++) {
      extendRow(src, y * w, idx, cval, re);
      directLine(re, taps, dst, y * w, w);
    }
    return;
  }
  // Rows y and y + 1 share one complex transform (re, im).
  for (let y = y0; y < y1; y += 2) {
    const pair = y + 1 < y1;
    const a = prepare(re, 1, 1, len, extendRow(src, y * w, idx, cval, re), taps);
    if (!pair) im.fill(0, 0, len);
    const b = prepare(im, 1, 1, len, pair ? extendRow(src, (y + 1) * w, idx, cval, im) : 0, taps);
    re.fill(0, len);
    im.fill(0, len);
    convolveLanesFft(re, im, 1, spectrum);
    restore(re, 1, r, a);
    restore(im, 1, r, b);
    copyScaled(re, r, a.scale, dst, y * w, w);
    if (pair) copyScaled(im, r, b.scale, dst, (y + 1) * w, w);
  }
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
  const { taps, radius: r, spectrum } = plan.x;
  const idx = extensionIndex(w, r, mode);
  const len = idx.length;
  const m = Math.max(plan.x.fftLength, len);
  const re = new Float64Array(m); // w·x
  const im = new Float64Array(m); // w
  for (let y = y0; y < y1; y++) {
    const off = y * w;
    let peak = 0;
    for (let e = 0; e < len; e++) {
      const j = idx[e]!;
      const v = j < 0 ? NaN : image[off + j]!;
      const ok = v === v && (mask === undefined || mask[off + j] === 0);
      re[e] = ok ? v : 0;
      im[e] = ok ? 1 : 0;
      peak = Math.max(peak, Math.abs(re[e]!));
    }
    if (plan.x.method === "direct") {
      directLine(re, taps, num, off, w);
      directLine(im, taps, den, off, w);
      continue;
    }
    const p = prepare(re, 1, 1, len, peak, taps);
    re.fill(0, len);
    im.fill(0, len);
    convolveLanesFft(re, im, 1, spectrum);
    restore(re, 1, r, p);
    copyScaled(re, r, p.scale, num, off, w);
    den.set(im.subarray(r, r + w), off);
  }
}

function checkNormalizable(plan: GaussianPlan): void {
  if (plan.cval !== 0) {
    throw new ConvolveError("normalised filter: outside pixels are missing, cval must be 0");
  }
}

/**
 * acc[i] = column x0 + i of src filtered along y at row y (direct taps), for i < acc.length:
 * whole shifted row segments are added, so memory is read contiguously.
 */
function directColumnsAt(
  src: FloatArray,
  plan: GaussianPlan,
  x0: number,
  y: number,
  cval: number,
  acc: Float64Array,
): void {
  const { height: h, width: w, mode } = plan;
  const k = plan.y.taps;
  const r = plan.y.radius;
  const nx = acc.length;
  acc.fill(0);
  let cw = 0;
  // symmetric taps: add the rows at y - d and y + d together, then scale once
  for (let d = r; d >= 0; d--) {
    const kt = k[r + d]!;
    const a = boundaryIndex(y - d, h, mode);
    const b = d === 0 ? -2 : boundaryIndex(y + d, h, mode);
    if (a >= 0 && b >= 0) {
      const oa = a * w + x0;
      const ob = b * w + x0;
      for (let x = 0; x < nx; x++) acc[x] = acc[x]! + kt * (src[oa + x]! + src[ob + x]!);
    } else {
      if (a < 0) cw += kt;
      if (b === -1) cw += kt;
      const j = a >= 0 ? a : b;
      if (j < 0) continue;
      const off = j * w + x0;
      for (let x = 0; x < nx; x++) acc[x] = acc[x]! + kt * src[off + x]!;
    }
  }
  if (cw !== 0 && cval !== 0) {
    const c = cw * cval;
    for (let x = 0; x < nx; x++) acc[x] = acc[x]! + c;
  }
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
 * one float64 row of the band width; FFT, two tiles of about 8192 float64 (tiles of columns
 * gathered into interleaved lines of the FFT length) and an int32 index line.
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
  if (plan.y.method === "direct") {
    const acc = new Float64Array(x1 - x0);
    for (let y = 0; y < h; y++) {
      directColumnsAt(src, plan, x0, y, cval, acc);
      dst.set(acc, y * w + x0);
    }
    return;
  }
  const { taps, radius: r, fftLength: m, spectrum } = plan.y;
  const idx = extensionIndex(h, r, mode);
  const len = idx.length;
  const lanes = tileLanes(m);
  const re = new Float64Array(m * lanes);
  const im = new Float64Array(m * lanes);
  // A tile: `a` columns in the real parts, the next `b` in the imaginary parts.
  for (let xa = x0; xa < x1; xa += 2 * lanes) {
    const a = Math.min(lanes, x1 - xa);
    const b = Math.min(lanes, x1 - xa - a);
    const pa = prepare(re, a, a, len, gatherColumns(src, w, xa, a, a, idx, cval, re), taps);
    const pb = prepare(im, a, b, len, gatherColumns(src, w, xa + a, b, a, idx, cval, im), taps);
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
 * data[off + c] = scale * n[o + c] / d[o + c], NaN where d <= minWeight, and weight[off + c] =
 * d[o + c], for c < count.
 */
function divide(
  n: Float64Array,
  d: Float64Array,
  o: number,
  scale: number,
  data: FloatArray,
  weight: FloatArray | undefined,
  off: number,
  count: number,
  minWeight: number,
): void {
  for (let c = 0; c < count; c++) {
    const ws = d[o + c]!;
    if (weight !== undefined) weight[off + c] = ws;
    data[off + c] = ws > minWeight ? (scale * n[o + c]!) / ws : NaN;
  }
}

/**
 * Axis-0 pass of the normalised filter over columns [x0, x1), fused with the division (no third
 * sweep over the image): data = G*(w·x) / G*(w) (NaN where G*(w) <= minWeight) and, unless
 * undefined, weight = G*(w), from the rows pass's num and den (all rows final). Outputs must
 * not overlap the inputs or each other. Scratch per call: direct, two float64 rows of the band
 * width; FFT, two tiles as convolveColsPass.
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
  const { height: h, width: w, mode } = plan;
  if (plan.y.method === "direct") {
    const accN = new Float64Array(x1 - x0);
    const accD = new Float64Array(x1 - x0);
    for (let y = 0; y < h; y++) {
      directColumnsAt(num, plan, x0, y, 0, accN);
      directColumnsAt(den, plan, x0, y, 0, accD);
      divide(accN, accD, 0, 1, data, weight, y * w + x0, x1 - x0, minWeight);
    }
    return;
  }
  const { taps, radius: r, fftLength: m, spectrum } = plan.y;
  const idx = extensionIndex(h, r, mode);
  const len = idx.length;
  const lanes = tileLanes(m);
  const re = new Float64Array(m * lanes); // num columns
  const im = new Float64Array(m * lanes); // den columns
  for (let xa = x0; xa < x1; xa += lanes) {
    const a = Math.min(lanes, x1 - xa);
    const p = prepare(re, a, a, len, gatherColumns(num, w, xa, a, a, idx, 0, re), taps);
    gatherColumns(den, w, xa, a, a, idx, 0, im);
    convolveLanesFft(re, im, a, spectrum);
    restore(re, a, r, p);
    for (let y = 0; y < h; y++)
      divide(re, im, (y + r) * a, p.scale, data, weight, y * w + xa, a, minWeight);
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
