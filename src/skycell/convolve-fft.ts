// FFT line convolution for the Gaussian filter's large radii (convolve.ts picks it by cost).
//
// A line of n samples, boundary-extended by the radius r on both sides (length L = n + 2r), is
// convolved circularly at a length m >= L: outputs r .. r+n-1 only read extended samples
// 0 .. L-1, so nothing wraps around and the result is the linear convolution (what direct taps
// give), with rounding errors ~1e-15 of the line's largest value instead of each output's own.
// The kernel is real and symmetric, so its spectrum is real: multiplying a complex line's
// spectrum by it filters the real and imaginary parts independently. Two real lines (or the
// normalised filter's w·x and w) therefore share one complex transform, with no untangling.
import { fftPlan } from "../array/fft.js";

// Cost model, ns on one core (fitted on the project's benchmark machine; only ratios matter).
/** Direct taps (convolve-direct.ts), per output: extension, copies and the block's upkeep. */
const DIRECT_OUTPUT_NS = 2;
/** Direct taps, per output and symmetric tap pair. */
const DIRECT_TAP_NS = 0.95;
/** Runs of equal values (convolve-direct.ts runsTaps), per output: finding runs, writing. */
const RUN_OUTPUT_NS = 3;
/** Runs, per run and output in its reach. */
const RUN_STEP_NS = 5;
/** Forward + inverse transform, per point and butterfly pass of each radix (src/array/fft.ts). */
const PASS_NS: Readonly<Record<number, number>> = { 2: 10, 3: 8.5, 4: 7.3, 5: 12, 8: 6 };
/** Extension, gather, spectrum multiply and scatter, per point of an FFT line. */
const PER_POINT_NS = 20;

/** Estimated ns per point of a forward + inverse transform of length m = 2^k 3^b 5^c. */
function transformNs(m: number): number {
  let k = 0;
  for (; m % 2 === 0; m /= 2) k++;
  // src/array/fft.ts does 2^k in one pass up to 8, else as 4, 8s, (2 or 4), 4.
  const mid = k - 4;
  let ns = k === 0 ? 0 : k <= 3 ? PASS_NS[2 ** k]! : 2 * PASS_NS[4]!;
  if (mid > 0) ns += Math.floor(mid / 3) * PASS_NS[8]! + [0, PASS_NS[2]!, PASS_NS[4]!][mid % 3]!;
  for (; m % 3 === 0; m /= 3) ns += PASS_NS[3]!;
  for (; m % 5 === 0; m /= 5) ns += PASS_NS[5]!;
  return ns;
}

/** Estimated ns to filter one line of n outputs with direct taps of radius r. */
export function directLineNs(n: number, r: number): number {
  return n * (DIRECT_OUTPUT_NS + DIRECT_TAP_NS * (r + 1));
}

/**
 * Most runs of equal values for which filtering a line of n outputs by its runs
 * (convolve-direct.ts runsTaps: each output a step, each run about one step per output in its
 * reach, length + 2r) costs less than lineNs, the line's cost by other means.
 */
export function maxRuns(n: number, r: number, lineNs: number): number {
  return Math.floor((lineNs - RUN_OUTPUT_NS * n) / (RUN_STEP_NS * (2 * r + 1)));
}

/** Estimated ns to filter one line by FFT at length m (two lines share each transform). */
export function fftLineNs(m: number): number {
  return m * (transformNs(m) / 2 + PER_POINT_NS);
}

const lengths = new Map<number, number>();

/**
 * The FFT length >= minLength (a line plus its extension) with the lowest estimated cost:
 * among 2^a 3^b 5^c up to 2 minLength, where the cheaper radix-4/8 passes can outweigh a few
 * more points (2560 beats 2500, 1536 beats 1500).
 */
export function fftLength(minLength: number): number {
  let best = lengths.get(minLength);
  if (best !== undefined) return best;
  best = 0;
  for (let f5 = 1; f5 < 2 * minLength; f5 *= 5)
    for (let f35 = f5; f35 < 2 * minLength; f35 *= 3)
      for (let f = f35; f < 2 * minLength; f *= 2)
        if (f >= minLength && (best === 0 || fftLineNs(f) < fftLineNs(best))) best = f;
  if (lengths.size >= 256) lengths.clear();
  lengths.set(minLength, best);
  return best;
}

/**
 * The real spectrum (length m) of the symmetric kernel (taps[r] at index 0, taps[r ± t] at
 * ±t mod m); m must be at least the kernel length.
 */
export function kernelSpectrum(taps: Float64Array, m: number): Float64Array {
  const r = (taps.length - 1) >> 1;
  const re = new Float64Array(m);
  const im = new Float64Array(m);
  re[0] = taps[r]!;
  for (let t = 1; t <= r; t++) re[t] = re[m - t] = taps[r + t]!;
  fftPlan(m).forward(re, im);
  // im is 0 up to rounding (the kernel is even); dropping it keeps the result exactly even.
  return re;
}

/**
 * Convolves, in place, `lanes` complex lines of length m stored interleaved (element e of
 * line c at e * lanes + c) with the kernel whose spectrum is given: forward FFT, multiply,
 * inverse FFT (scaled by 1 / m). Real and imaginary parts come out filtered separately.
 */
export function convolveLanesFft(
  re: Float64Array,
  im: Float64Array,
  lanes: number,
  spectrum: Float64Array,
): void {
  const m = spectrum.length;
  const plan = fftPlan(m);
  const lines = { stride: lanes, count: lanes, lineStride: 1 };
  plan.transformLines(re, im, lines, false);
  for (let e = 0, o = 0; e < m; e++) {
    const k = spectrum[e]!;
    for (let c = 0; c < lanes; c++, o++) {
      re[o] = re[o]! * k;
      im[o] = im[o]! * k;
    }
  }
  plan.transformLines(re, im, lines, true);
}

/**
 * Direct taps turn an output into NaN when its window (extended samples x .. x + 2r) holds a
 * NaN, both +Inf and -Inf, or an infinity where the tap is 0 (0 · Inf), and into ±Inf when it
 * holds infinities of one sign; an FFT would smear them over the whole line instead. This
 * replaces the non-finite samples of one extended line (len samples at offset + e * stride)
 * by 0, so that the FFT gives every other output right, and returns the direct-tap value of
 * each of the len - 2r outputs where that is not finite (0 elsewhere), or null if the line is
 * all finite.
 */
export function takeNonFinite(
  line: Float64Array,
  offset: number,
  stride: number,
  len: number,
  taps: Float64Array,
): Float64Array | null {
  const r = (taps.length - 1) >> 1;
  let reach = r; // taps beyond reach are 0
  while (reach > 0 && taps[r + reach] === 0) reach--;
  // Prefix counts of NaN, +Inf and -Inf samples.
  const nan = new Int32Array(len + 1);
  const pos = new Int32Array(len + 1);
  const neg = new Int32Array(len + 1);
  let any = false;
  for (let e = 0, i = offset; e < len; e++, i += stride) {
    const v = line[i]!;
    nan[e + 1] = nan[e]! + (v !== v ? 1 : 0);
    pos[e + 1] = pos[e]! + (v === Infinity ? 1 : 0);
    neg[e + 1] = neg[e]! + (v === -Infinity ? 1 : 0);
    if (!(v - v === 0)) {
      any = true;
      line[i] = 0;
    }
  }
  if (!any) return null;
  const out = new Float64Array(len - 2 * r);
  for (let x = 0; x < out.length; x++) {
    const lo = x + r - reach;
    const hi = x + r + reach + 1;
    const p = pos[hi]! - pos[lo]!;
    const m = neg[hi]! - neg[lo]!;
    const inf = pos[x + 2 * r + 1]! - pos[x]! + neg[x + 2 * r + 1]! - neg[x]!;
    const isNaN = nan[x + 2 * r + 1]! > nan[x]! || inf > p + m || (p > 0 && m > 0);
    out[x] = isNaN ? NaN : p > 0 ? Infinity : m > 0 ? -Infinity : 0;
  }
  return out;
}
