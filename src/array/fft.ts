/**
 * Complex FFTs on split real/imaginary Float64Arrays, matching numpy.fft: any length n >= 1
 * (mixed radix 4, 8, 2, 3, 5 and generic odd factors; Bluestein when a large prime factor
 * would make that slow), forward unnormalised, inverse scaled by 1 / n. Plans are cached per
 * length and transform strided lines in place, a block of lines at a time: the first
 * butterfly pass reads the block straight from the arrays, the passes in between work in
 * cache-sized scratch, the last writes the block back (fft-kernels.ts).
 *
 * fft2Leading is the 4D-STEM "bigFT": the 2D transform over the two leading axes of a
 * row-major [ny, nx, m] array, for all m channels at once.
 */
import {
  pass2,
  pass3,
  pass4,
  pass4Last,
  pass5,
  pass8,
  passGeneric,
  passTwiddles,
  sincos2pi,
  type Pass,
} from "./fft-kernels.js";

/**
 * Complex values (n * lines) per scratch buffer: four buffers of 8192 stay in a 512 KiB
 * L2 cache while a block is transformed.
 */
const BLOCK_VALUES = 8192;
/** Plans (and rfft twiddle tables) kept per length. */
const MAX_CACHED = 64;

/** Lines of a batch: line c, element e at offset + e * stride + c * lineStride. */
export interface LineSet {
  offset?: number;
  stride?: number;
  count: number;
  lineStride: number;
}

export interface FftOptions {
  inverse?: boolean;
}

/**
 * Forward transforms, in place, of `lines` lines whose element e of line c sits at
 * base + e * stride + c, outputs multiplied by `scale`.
 */
interface Core {
  readonly length: number;
  run(
    xr: Float64Array,
    xi: Float64Array,
    base: number,
    stride: number,
    lines: number,
    scale: number,
  ): void;
}

/**
 * Radices for n: the power of two as 4s and 8s, then the odd primes ascending. The first and
 * last passes read and write the caller's strided lines, where a radix-8 butterfly's 16
 * concurrent rows (8 real, 8 imaginary, all at power-of-two distances) overflow an 8-way L1
 * set; so those passes get 4s and radix 8 only runs in between, on scratch.
 */
function factorize(n: number): number[] {
  let r = n;
  let k = 0;
  while (r % 2 === 0) {
    r /= 2;
    k++;
  }
  const f: number[] = [];
  if (k <= 3) {
    if (k > 0) f.push(2 ** k);
  } else {
    let mid = k - 4;
    f.push(4);
    for (; mid >= 3 && mid !== 4; mid -= 3) f.push(8);
    if (mid === 4) f.push(4, 4);
    else if (mid > 0) f.push(2 ** mid);
    f.push(4);
  }
  for (let p = 3; p * p <= r; p += 2)
    while (r % p === 0) {
      f.push(p);
      r /= p;
    }
  if (r > 1) f.push(r);
  return f;
}

const FIXED: Record<number, Pass> = { 2: pass2, 3: pass3, 4: pass4, 5: pass5, 8: pass8 };

class MixedRadix implements Core {
  readonly radices: number[];
  private readonly twr: Float64Array;
  private readonly twi: Float64Array;
  /** Per pass: radix, m (butterflies), s (product of earlier radices), twiddle offset. */
  private readonly passes: { r: number; m: number; s: number; tw: number }[] = [];
  /** cos / sin of 2 pi q / r for the generic radices, keyed by r. */
  private readonly roots = new Map<number, { c: Float64Array; s: Float64Array }>();
  private readonly tmp: Float64Array;
  /** Ping-pong scratch between passes: [re, im, re, im], n * lines values each. */
  private bufs: Float64Array[] = [];

  constructor(readonly length: number) {
    this.radices = length === 1 ? [] : factorize(length);
    let s = 1;
    let nt = 0;
    for (const r of this.radices) {
      const m = length / (s * r);
      this.passes.push({ r, m, s, tw: nt });
      nt += (r - 1) * (m - 1);
      s *= r;
    }
    this.twr = new Float64Array(nt);
    this.twi = new Float64Array(nt);
    let maxGeneric = 0;
    const cs = new Float64Array(2);
    for (const { r, m, tw } of this.passes) {
      passTwiddles(r, m, this.twr, this.twi, tw);
      if (!FIXED[r] && !this.roots.has(r)) {
        const c = new Float64Array(r);
        const sn = new Float64Array(r);
        for (let q = 0; q < r; q++) {
          sincos2pi(q, r, cs);
          c[q] = cs[0]!;
          sn[q] = cs[1]!;
        }
        this.roots.set(r, { c, s: sn });
        maxGeneric = Math.max(maxGeneric, r);
      }
    }
    this.tmp = new Float64Array(2 * maxGeneric);
  }

  run(
    xr: Float64Array,
    xi: Float64Array,
    base: number,
    stride: number,
    lines: number,
    scale: number,
  ) {
    const n = this.length;
    const np = this.passes.length;
    if (np === 0) {
      for (let c = base; c < base + lines; c++) {
        xr[c] = xr[c]! * scale;
        xi[c] = xi[c]! * scale;
      }
      return;
    }
    if (np > 1 && (this.bufs[0]?.length ?? 0) < n * lines)
      this.bufs = Array.from({ length: np > 2 ? 4 : 2 }, () => new Float64Array(n * lines));
    const bufs = this.bufs;
    for (let k = 0; k < np; k++) {
      const { r, m, s, tw } = this.passes[k]!;
      const L = s * lines;
      // Pass k reads scratch pair (k - 1) % 2 and writes pair k % 2; the first pass reads the
      // caller's lines, the last writes them.
      const sr = k === 0 ? xr : bufs[2 * ((k - 1) % 2)]!;
      const si = k === 0 ? xi : bufs[2 * ((k - 1) % 2) + 1]!;
      const so = k === 0 ? base : 0;
      const se = k === 0 ? stride : L;
      const last = k === np - 1;
      if (!last) {
        this.pass(r, sr, si, so, se, bufs[2 * (k % 2)]!, bufs[2 * (k % 2) + 1]!, 0, L, L, m, tw, 1);
      } else if (k === 0) {
        this.pass(r, sr, si, so, se, xr, xi, base, stride, L, 1, tw, scale);
      } else if (stride === lines) {
        if (r === 4) pass4Last(sr, si, so, se, xr, xi, base, L, L, scale);
        else this.pass(r, sr, si, so, se, xr, xi, base, L, L, 1, tw, scale);
      } else {
        // Output j of column q goes to element q + s * j of each line.
        for (let q = 0, yo = base; q < s; q++, yo += stride)
          if (r === 4) pass4Last(sr, si, q * lines, L, xr, xi, yo, s * stride, lines, scale);
          else this.pass(r, sr, si, q * lines, L, xr, xi, yo, s * stride, lines, 1, tw, scale);
      }
    }
  }

  private pass(
    r: number,
    xr: Float64Array,
    xi: Float64Array,
    xo: number,
    xe: number,
    yr: Float64Array,
    yi: Float64Array,
    yo: number,
    ye: number,
    L: number,
    m: number,
    tw: number,
    scale: number,
  ): void {
    const f = FIXED[r];
    if (f) f(xr, xi, xo, xe, yr, yi, yo, ye, L, m, this.twr, this.twi, tw, scale);
    else {
      const { c, s } = this.roots.get(r)!;
      passGeneric(
        r,
        c,
        s,
        this.tmp,
        xr,
        xi,
        xo,
        xe,
        yr,
        yi,
        yo,
        ye,
        L,
        m,
        this.twr,
        this.twi,
        tw,
        scale,
      );
    }
  }
}

/** Smallest 2^a 3^b 5^c >= n. */
function smooth235(n: number): number {
  let best = Infinity;
  for (let f5 = 1; f5 < 2 * n; f5 *= 5)
    for (let f35 = f5; f35 < 2 * n; f35 *= 3) {
      let f = f35;
      while (f < n) f *= 2;
      best = Math.min(best, f);
    }
  return best;
}

/** pocketfft's operation-count guess: the prime factors (large ones penalised) times n. */
function costGuess(n: number): number {
  let cost = 0;
  let r = n;
  for (let p = 2; p * p <= r; p++)
    while (r % p === 0) {
      cost += p <= 5 ? p : 1.1 * p;
      r /= p;
    }
  if (r > 1) cost += r <= 5 ? r : 1.1 * r;
  return cost * n;
}

/**
 * Bluestein: X_j = w_j sum_k (x_k w_k) conj(w_(j-k)) with w_k = exp(-i pi k^2 / n), a
 * circular convolution of length M >= 2n - 1 done with mixed-radix transforms of length M.
 */
class Bluestein implements Core {
  readonly conv: MixedRadix;
  private readonly wr: Float64Array;
  private readonly wi: Float64Array;
  /** DFT_M of conj(w) wrapped around, already divided by M. */
  private readonly kr: Float64Array;
  private readonly ki: Float64Array;
  private bufs: Float64Array[] = [];

  constructor(
    readonly length: number,
    m: number,
  ) {
    const n = length;
    this.conv = new MixedRadix(m);
    this.wr = new Float64Array(n);
    this.wi = new Float64Array(n);
    const cs = new Float64Array(2);
    // k^2 mod 2n keeps the chirp angle exact for large k.
    for (let k = 0, q = 0; k < n; k++) {
      sincos2pi(q, 2 * n, cs);
      this.wr[k] = cs[0]!;
      this.wi[k] = -cs[1]!;
      q = (q + 2 * k + 1) % (2 * n);
    }
    this.kr = new Float64Array(m);
    this.ki = new Float64Array(m);
    this.kr[0] = 1 / m;
    for (let k = 1; k < n; k++) {
      this.kr[k] = this.kr[m - k] = this.wr[k]! / m;
      this.ki[k] = this.ki[m - k] = -this.wi[k]! / m;
    }
    this.conv.run(this.kr, this.ki, 0, 1, 1, 1);
  }

  run(
    xr: Float64Array,
    xi: Float64Array,
    base: number,
    stride: number,
    lines: number,
    scale: number,
  ) {
    const n = this.length;
    const m = this.conv.length;
    const size = m * lines;
    if ((this.bufs[0]?.length ?? 0) < size)
      this.bufs = [new Float64Array(size), new Float64Array(size)];
    const [cr, ci] = this.bufs as [Float64Array, Float64Array];
    const { wr, wi, kr, ki } = this;
    for (let k = 0, o = 0; k < n; k++) {
      const w1 = wr[k]!;
      const w2 = wi[k]!;
      const s = base + k * stride;
      for (let c = 0; c < lines; c++, o++) {
        const u = xr[s + c]!;
        const v = xi[s + c]!;
        cr[o] = u * w1 - v * w2;
        ci[o] = u * w2 + v * w1;
      }
    }
    cr.fill(0, n * lines, size);
    ci.fill(0, n * lines, size);
    this.conv.run(cr, ci, 0, lines, lines, 1);
    for (let k = 0, o = 0; k < m; k++) {
      const k1 = kr[k]!;
      const k2 = ki[k]!;
      for (let c = 0; c < lines; c++, o++) {
        const u = cr[o]!;
        const v = ci[o]!;
        cr[o] = u * k1 - v * k2;
        ci[o] = u * k2 + v * k1;
      }
    }
    // Inverse transform as a forward one with real and imaginary parts swapped.
    this.conv.run(ci, cr, 0, lines, lines, 1);
    for (let k = 0, o = 0; k < n; k++) {
      const w1 = wr[k]! * scale;
      const w2 = wi[k]! * scale;
      const s = base + k * stride;
      for (let c = 0; c < lines; c++, o++) {
        const u = cr[o]!;
        const v = ci[o]!;
        xr[s + c] = u * w1 - v * w2;
        xi[s + c] = u * w2 + v * w1;
      }
    }
  }
}

function checkPair(what: string, re: Float64Array, im: Float64Array): void {
  if (!(re instanceof Float64Array) || !(im instanceof Float64Array))
    throw new TypeError(`${what}: re and im must be Float64Arrays`);
  if (re.length !== im.length)
    throw new RangeError(`${what}: re and im lengths differ (${re.length} vs ${im.length})`);
  if (
    re.buffer === im.buffer &&
    re.length > 0 &&
    re.byteOffset < im.byteOffset + im.byteLength &&
    im.byteOffset < re.byteOffset + re.byteLength
  )
    throw new RangeError(`${what}: re and im overlap in memory`);
}

function checkInt(what: string, name: string, v: number, min: number): void {
  if (!Number.isSafeInteger(v) || v < min)
    throw new RangeError(`${what}: ${name} must be an integer >= ${min}, got ${v}`);
}

/** Largest prime factor of n >= 2. */
function largestPrime(n: number): number {
  let r = n;
  let best = 1;
  for (let p = 2; p * p <= r; p++)
    while (r % p === 0) {
      best = p;
      r /= p;
    }
  return Math.max(best, r);
}

/** A transform of one length, reusable for any number of lines; get one from fftPlan. */
export class FftPlan {
  /** Radices of the passes in order ([] for n = 1); for Bluestein those of the convolution. */
  readonly factors: readonly number[];
  /** Length of Bluestein's convolution, or 0 when the transform is mixed radix. */
  readonly bluesteinLength: number;
  /** Lines transformed together; the scratch holds maxLines * n values per buffer. */
  readonly maxLines: number;
  private readonly core: Core;
  /** Gathered lines when they are not adjacent in memory (lineStride other than 1). */
  private gathered: Float64Array[] = [];

  constructor(readonly n: number) {
    checkInt("fftPlan", "length", n, 1);
    // pocketfft's rule: Bluestein when a large prime factor makes mixed radix costlier.
    let m = 0;
    if (n >= 50 && largestPrime(n) ** 2 > n) {
      const mm = smooth235(2 * n - 1);
      if (3 * costGuess(mm) < costGuess(n)) m = mm;
    }
    if (m > 0) {
      const core = new Bluestein(n, m);
      this.core = core;
      this.factors = core.conv.radices;
    } else {
      const core = new MixedRadix(n);
      this.core = core;
      this.factors = core.radices;
    }
    this.bluesteinLength = m;
    // An odd line count keeps the scratch strides (multiples of it) off powers of two, whose
    // rows would all fall into the same L1 sets.
    this.maxLines = Math.max(1, Math.floor(BLOCK_VALUES / Math.max(n, m))) | 1;
  }

  /** Forward transform, in place, of re/im[offset + k * stride] for k < n. */
  forward(re: Float64Array, im: Float64Array, offset = 0, stride = 1): void {
    this.transformLines(re, im, { offset, stride, count: 1, lineStride: 1 }, false);
  }

  /** Inverse transform (scaled by 1 / n, like numpy.fft.ifft), in place. */
  inverse(re: Float64Array, im: Float64Array, offset = 0, stride = 1): void {
    this.transformLines(re, im, { offset, stride, count: 1, lineStride: 1 }, true);
  }

  /**
   * Transforms `lines.count` lines in place. The lines must not share elements: they either
   * interleave (|stride| >= count * |lineStride|, e.g. the channels of an [n, channels]
   * array) or follow one another (|lineStride| >= n * |stride|, e.g. the rows of an image).
   * Adjacent lines (lineStride 1) are the fast case: blocks of them are transformed straight
   * from and back to the arrays; others are copied block-wise through scratch.
   */
  transformLines(re: Float64Array, im: Float64Array, lines: LineSet, inverse = false): void {
    const n = this.n;
    const { offset = 0, stride = 1, count, lineStride } = lines;
    checkPair("fft", re, im);
    checkInt("fft", "count", count, 0);
    for (const [name, v] of [
      ["offset", offset],
      ["stride", stride],
      ["lineStride", lineStride],
    ] as const)
      if (!Number.isSafeInteger(v))
        throw new RangeError(`fft: ${name} must be an integer, got ${v}`);
    if (count === 0) return;
    const as = Math.abs(stride);
    const al = Math.abs(lineStride);
    if ((n > 1 && as === 0) || (count > 1 && (al === 0 || (as < count * al && al < n * as))))
      throw new RangeError(
        `fft: lines of ${n} elements (stride ${stride}) and ${count} lines (lineStride ${lineStride}) share elements`,
      );
    const de = (n - 1) * stride;
    const dl = (count - 1) * lineStride;
    const lo = offset + Math.min(0, de) + Math.min(0, dl);
    const hi = offset + Math.max(0, de) + Math.max(0, dl);
    if (lo < 0 || hi >= re.length)
      throw new RangeError(
        `fft: lines reach indices ${lo}..${hi}, outside arrays of length ${re.length}`,
      );

    // The inverse is the forward transform with real and imaginary parts swapped.
    const xr = inverse ? im : re;
    const xi = inverse ? re : im;
    const scale = inverse ? 1 / n : 1;
    const B = Math.min(this.maxLines, count);
    if (count === 1 || lineStride === 1) {
      for (let l0 = 0; l0 < count; l0 += B)
        this.core.run(xr, xi, offset + l0 * lineStride, stride, Math.min(B, count - l0), scale);
      return;
    }
    if ((this.gathered[0]?.length ?? 0) < n * B)
      this.gathered = [new Float64Array(n * B), new Float64Array(n * B)];
    const [gr, gi] = this.gathered as [Float64Array, Float64Array];
    for (let l0 = 0; l0 < count; l0 += B) {
      const b = Math.min(B, count - l0);
      const base = offset + l0 * lineStride;
      for (let e = 0, o = 0; e < n; e++) {
        const s = base + e * stride;
        for (let c = 0; c < b; c++, o++) {
          gr[o] = xr[s + c * lineStride]!;
          gi[o] = xi[s + c * lineStride]!;
        }
      }
      this.core.run(gr, gi, 0, b, b, scale);
      for (let e = 0, o = 0; e < n; e++) {
        const s = base + e * stride;
        for (let c = 0; c < b; c++, o++) {
          xr[s + c * lineStride] = gr[o]!;
          xi[s + c * lineStride] = gi[o]!;
        }
      }
    }
  }
}

/** A map that keeps its MAX_CACHED most recently used entries. */
function cached<T>(cache: Map<number, T>, key: number, make: () => T): T {
  let v = cache.get(key);
  if (v === undefined) {
    v = make();
    if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
  } else cache.delete(key);
  cache.set(key, v);
  return v;
}

const plans = new Map<number, FftPlan>();

/** The cached plan for length n (the MAX_CACHED most recently used lengths stay cached). */
export function fftPlan(n: number): FftPlan {
  return cached(plans, n, () => new FftPlan(n));
}

/** 1D transform of the whole arrays, in place (numpy.fft.fft / ifft). */
export function fft(re: Float64Array, im: Float64Array, options: FftOptions = {}): void {
  checkPair("fft", re, im);
  if (re.length === 0) throw new RangeError("fft: arrays are empty");
  const plan = fftPlan(re.length);
  if (options.inverse) plan.inverse(re, im);
  else plan.forward(re, im);
}

/**
 * 2D transform over the two leading axes of a row-major [ny, nx, m] array, for every one of
 * the m channels (numpy.fft.fft2(a, axes=(0, 1)), or ifft2), in place.
 */
export function fft2Leading(
  re: Float64Array,
  im: Float64Array,
  ny: number,
  nx: number,
  m: number,
  options: FftOptions = {},
): void {
  checkPair("fft2", re, im);
  checkInt("fft2", "ny", ny, 1);
  checkInt("fft2", "nx", nx, 1);
  checkInt("fft2", "m", m, 1);
  if (ny * nx * m !== re.length)
    throw new RangeError(
      `fft2: shape [${ny}, ${nx}, ${m}] holds ${ny * nx * m} values, arrays hold ${re.length}`,
    );
  const inverse = options.inverse ?? false;
  const px = fftPlan(nx);
  if (m === 1) px.transformLines(re, im, { stride: 1, count: ny, lineStride: nx }, inverse);
  else
    for (let y = 0; y < ny; y++)
      px.transformLines(
        re,
        im,
        { offset: y * nx * m, stride: m, count: m, lineStride: 1 },
        inverse,
      );
  fftPlan(ny).transformLines(re, im, { stride: nx * m, count: nx * m, lineStride: 1 }, inverse);
}

/** 2D transform of a row-major ny x nx array, in place (numpy.fft.fft2 / ifft2). */
export function fft2(
  re: Float64Array,
  im: Float64Array,
  ny: number,
  nx: number,
  options: FftOptions = {},
): void {
  fft2Leading(re, im, ny, nx, 1, options);
}

const realTwiddles = new Map<number, Float64Array>();

/**
 * Transform of real input (numpy.fft.rfft): the n / 2 + 1 non-negative frequencies, into `out`
 * or new arrays. Even n costs a complex transform of length n / 2.
 */
export function rfft(
  input: Float64Array,
  out?: { re: Float64Array; im: Float64Array },
): { re: Float64Array; im: Float64Array } {
  if (!(input instanceof Float64Array)) throw new TypeError("rfft: input must be a Float64Array");
  const n = input.length;
  if (n === 0) throw new RangeError("rfft: input is empty");
  const nb = Math.floor(n / 2) + 1;
  const res = out ?? { re: new Float64Array(nb), im: new Float64Array(nb) };
  checkPair("rfft", res.re, res.im);
  if (res.re.length !== nb)
    throw new RangeError(`rfft: out holds ${res.re.length} values, expected ${nb}`);
  const { re, im } = res;
  if (n % 2 === 1) {
    const zr = Float64Array.from(input);
    const zi = new Float64Array(n);
    fftPlan(n).forward(zr, zi);
    re.set(zr.subarray(0, nb));
    im.set(zi.subarray(0, nb));
    return res;
  }
  // z_k = x_2k + i x_2k+1; its transform Z gives X_k = E_k + W^k O_k with the transforms of
  // the even and odd samples E_k = (Z_k + conj Z_(h-k)) / 2, O_k = (Z_k - conj Z_(h-k)) / 2i.
  const h = n / 2;
  for (let k = 0; k < h; k++) {
    re[k] = input[2 * k]!;
    im[k] = input[2 * k + 1]!;
  }
  fftPlan(h).forward(re, im);
  const tw = cached(realTwiddles, n, () => {
    const t = new Float64Array(2 * (Math.floor(h / 2) + 1));
    const cs = new Float64Array(2);
    for (let k = 0; 2 * k < t.length; k++) {
      sincos2pi(k, n, cs);
      t[2 * k] = cs[0]!;
      t[2 * k + 1] = cs[1]!;
    }
    return t;
  });
  const z0 = re[0]!;
  re[0] = z0 + im[0]!;
  re[h] = z0 - im[0]!;
  im[0] = im[h] = 0;
  for (let k = 1; 2 * k <= h; k++) {
    const ar = re[k]!;
    const ai = im[k]!;
    const br = re[h - k]!;
    const bi = im[h - k]!;
    const c = tw[2 * k]!;
    const s = tw[2 * k + 1]!;
    // O_k = (ai + bi, br - ar) / 2; X_k = E_k + (c - i s) O_k; X_(h-k) with a, b swapped and
    // W^(h-k) = -(c + i s).
    const or = (ai + bi) / 2;
    const oi = (br - ar) / 2;
    re[k] = (ar + br) / 2 + c * or + s * oi;
    im[k] = (ai - bi) / 2 + c * oi - s * or;
    re[h - k] = (ar + br) / 2 - c * or - s * oi;
    im[h - k] = (bi - ai) / 2 + c * oi - s * or;
  }
  return res;
}

/** Where numpy.fft.fftshift moves index i of an axis of length n. */
export function fftshiftIndex(i: number, n: number): number {
  return (i + Math.floor(n / 2)) % n;
}

/** Where numpy.fft.ifftshift moves index i of an axis of length n (undoes fftshiftIndex). */
export function ifftshiftIndex(i: number, n: number): number {
  return (i + Math.ceil(n / 2)) % n;
}

type NumericArray = Float64Array | Float32Array | Int32Array | Uint16Array | Uint8Array;

function roll2<T extends NumericArray>(
  what: string,
  src: T,
  ny: number,
  nx: number,
  m: number,
  sy: number,
  sx: number,
  out: T | undefined,
): T {
  checkInt(what, "ny", ny, 1);
  checkInt(what, "nx", nx, 1);
  checkInt(what, "m", m, 1);
  if (ny * nx * m !== src.length)
    throw new RangeError(
      `${what}: shape [${ny}, ${nx}, ${m}] holds ${ny * nx * m} values, the array ${src.length}`,
    );
  const dst = out ?? (new (src.constructor as new (n: number) => T)(src.length) as T);
  if (dst.length !== src.length)
    throw new RangeError(`${what}: out has length ${dst.length}, expected ${src.length}`);
  if (
    dst.buffer === src.buffer &&
    dst.byteOffset < src.byteOffset + src.byteLength &&
    src.byteOffset < dst.byteOffset + dst.byteLength
  )
    throw new RangeError(`${what}: out must not overlap the input`);
  const row = nx * m;
  const cut = (nx - sx) * m;
  for (let y = 0; y < ny; y++) {
    const from = y * row;
    const to = ((y + sy) % ny) * row;
    // Row y moves to row y + sy; within it, x < nx - sx moves right by sx, the rest wraps.
    dst.set(src.subarray(from, from + cut), to + sx * m);
    dst.set(src.subarray(from + cut, from + row), to);
  }
  return dst;
}

/**
 * numpy.fft.fftshift over the two leading axes of a row-major [ny, nx, m] array (m = 1: a
 * plain image), into `out` or a new array of the same type.
 */
export function fftshift2<T extends NumericArray>(
  src: T,
  ny: number,
  nx: number,
  m = 1,
  out?: T,
): T {
  return roll2("fftshift2", src, ny, nx, m, Math.floor(ny / 2), Math.floor(nx / 2), out);
}

/** numpy.fft.ifftshift over the two leading axes (see fftshift2). */
export function ifftshift2<T extends NumericArray>(
  src: T,
  ny: number,
  nx: number,
  m = 1,
  out?: T,
): T {
  return roll2("ifftshift2", src, ny, nx, m, Math.ceil(ny / 2), Math.ceil(nx / 2), out);
}
