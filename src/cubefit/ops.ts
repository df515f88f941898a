/**
 * The CubeFit operators, pure functions on typed arrays (float64 math): spectral grids and
 * their bin edges, the flux-conserving rebin operator R_T, the LOSVD kernel on the template
 * grid, the convolution (FFT, with a direct reference), and the tile of models the HyperCube
 * builder computes in its worker threads. The synthetic IFU uses the same functions, so its
 * data cube is exactly A x_true for the models a build stores.
 *
 * Conventions (documented once here, relied upon everywhere):
 *
 * - Grids are natural log-lambda (ln of wavelength) bin centres. Bin edges: interior edges
 *   at the midpoints, the outer edges half a step beyond the outer centres.
 * - Velocity to log-lambda: d ln(lambda) = v / c (layout.ts C_KMS), the convention of
 *   log-rebinned kinematics (pPXF): a velocity is a pure shift on a log-lambda grid.
 * - R_T (T, L): R_T[t, l] = |bin_t ∩ bin_l| / |bin_t|, the fraction of template pixel t that
 *   falls in observed pixel l. Template values are fluxes per pixel; y[l] = sum_t m[t] R_T[t, l]
 *   adds the overlapping parts, so sum_l R_T[t, l] is the covered fraction of pixel t (1 inside
 *   the observed range) and the total flux is conserved where the grids overlap. (The seed's
 *   linRebin averages a density instead, dividing by |bin_l|: with uniform grids that differs by
 *   the constant |bin_l| / |bin_t|, which the fitted weights absorb.)
 * - The LOSVD (S, V, C) is a histogram over velocity bins (VelPix centres, edges as above).
 *   Its kernel on the template grid integrates it over template pixels: kernel pixel k covers
 *   offsets [k - 1/2, k + 1/2] template pixels and K[k] = sum_j H[j] |vbin_j ∩ kbin_k| /
 *   |vbin_j| (the same overlap rule as R_T), so sum_k K[k] = sum_j H[j]: a unit-mass LOSVD
 *   keeps the template's flux. The support kMin..kMax follows from the velocity grid alone,
 *   so every spaxel's kernel has the same length.
 * - Convolution: m[t] = sum_k K[k] tpl[t - k] (a positive velocity moves flux to larger t),
 *   with tpl = 0 outside [0, T) (linear, not circular). Golden rule: convolve on the template
 *   grid, then rebin: model = R_T^T m.
 */
import { fftPlan, rfft } from "../array/fft.js";
import { sincos2pi } from "../array/fft-kernels.js";
import { CubeFitError } from "./errors.js";
import { C_KMS } from "./layout.js";

// ---- grids ----------------------------------------------------------------------------------

/** A grid as Float64Array after checking it is finite, strictly increasing and long enough. */
export function checkGrid(field: string, grid: ArrayLike<number>, min = 2): Float64Array {
  const g = Float64Array.from(grid);
  if (g.length < min)
    throw new CubeFitError(field, `needs at least ${min} values, got ${g.length}`);
  for (let i = 0; i < g.length; i++) {
    if (!Number.isFinite(g[i]!)) throw new CubeFitError(field, `value ${i} is ${g[i]}`);
    if (i > 0 && !(g[i]! > g[i - 1]!)) {
      throw new CubeFitError(
        field,
        `must be strictly increasing: value ${i} (${g[i]}) does not exceed value ${i - 1} (${g[i - 1]})`,
      );
    }
  }
  return g;
}

/**
 * The step of a uniform grid. The template grid must be uniform in log-lambda: only then is
 * a velocity the same pixel shift everywhere, i.e. the LOSVD acts as a convolution.
 */
export function uniformStep(field: string, grid: Float64Array, relTol = 1e-6): number {
  const n = grid.length;
  const step = (grid[n - 1]! - grid[0]!) / (n - 1);
  for (let i = 1; i < n; i++) {
    const d = grid[i]! - grid[i - 1]!;
    if (Math.abs(d - step) > relTol * step) {
      throw new CubeFitError(
        field,
        `must be uniform in log-lambda (the LOSVD convolution is a pixel shift only then): step ${i} is ${d}, the mean step ${step}`,
      );
    }
  }
  return step;
}

/** Bin edges (n + 1) from centres: midpoints inside, half a step beyond the outer centres. */
export function binEdges(centres: Float64Array): Float64Array {
  const n = centres.length;
  const e = new Float64Array(n + 1);
  for (let i = 1; i < n; i++) e[i] = 0.5 * (centres[i - 1]! + centres[i]!);
  e[0] = centres[0]! - 0.5 * (centres[1]! - centres[0]!);
  e[n] = centres[n - 1]! + 0.5 * (centres[n - 1]! - centres[n - 2]!);
  return e;
}

// ---- bin overlaps (R_T and the LOSVD kernel) -----------------------------------------------

/** Non-zero overlaps of source bins with target bins, ordered by source then target. */
export interface Overlaps {
  src: Int32Array;
  dst: Int32Array;
  /** |src_i ∩ dst_j| / |src_i|: the fraction of source bin i inside target bin j. */
  frac: Float64Array;
}

/** Every positive overlap of two increasing edge sets, by a two-pointer sweep. */
export function binOverlaps(srcEdges: Float64Array, dstEdges: Float64Array): Overlaps {
  const ns = srcEdges.length - 1;
  const nd = dstEdges.length - 1;
  const src: number[] = [];
  const dst: number[] = [];
  const frac: number[] = [];
  let j = 0;
  for (let i = 0; i < ns; i++) {
    const a = srcEdges[i]!;
    const b = srcEdges[i + 1]!;
    const w = b - a;
    while (j < nd && dstEdges[j + 1]! <= a) j++;
    for (let k = j; k < nd && dstEdges[k]! < b; k++) {
      const o = Math.min(b, dstEdges[k + 1]!) - Math.max(a, dstEdges[k]!);
      if (o > 0) {
        src.push(i);
        dst.push(k);
        frac.push(o / w);
      }
    }
  }
  return { src: Int32Array.from(src), dst: Int32Array.from(dst), frac: Float64Array.from(frac) };
}

/** The rebin operator R_T of two grids, sparse (its overlaps) with its shape. */
export interface RebinOperator {
  T: number;
  L: number;
  overlaps: Overlaps;
}

/** R_T (T, L) for template and observed log-lambda centres (see the conventions above). */
export function rebinOperator(temPix: Float64Array, obsPix: Float64Array): RebinOperator {
  return {
    T: temPix.length,
    L: obsPix.length,
    overlaps: binOverlaps(binEdges(temPix), binEdges(obsPix)),
  };
}

/** Rows [t0, t1) of R_T as a dense float32 block ((t1 - t0) x L, C order), as stored. */
export function denseRebinRows(op: RebinOperator, t0: number, t1: number): Float32Array {
  const out = new Float32Array((t1 - t0) * op.L);
  const { src, dst, frac } = op.overlaps;
  for (let k = 0; k < src.length; k++) {
    const t = src[k]!;
    if (t >= t0 && t < t1) out[(t - t0) * op.L + dst[k]!] = frac[k]!;
  }
  return out;
}

/**
 * R_T by observed pixel (compressed columns), built from stored float32 rows: what a model
 * needs, y[l] = sum over column l of w * m[t]. R_T is dense on disk but has about
 * T + L non-zeros; skipping the zeros changes nothing but the time.
 */
export class RebinColumns {
  /** Column l's entries are [start[l], start[l + 1]). */
  readonly start: Int32Array;
  readonly t: Int32Array;
  readonly w: Float64Array;

  private constructor(
    readonly T: number,
    readonly L: number,
    start: Int32Array,
    t: Int32Array,
    w: Float64Array,
  ) {
    this.start = start;
    this.t = t;
    this.w = w;
  }

  /** From dense rows of R_T given in order as blocks (each rows x L, C order). */
  static fromDense(T: number, L: number, blocks: Iterable<Float32Array>): RebinColumns {
    const ts: number[][] = Array.from({ length: L }, () => []);
    const ws: number[][] = Array.from({ length: L }, () => []);
    let row = 0;
    for (const b of blocks) {
      const rows = b.length / L;
      for (let r = 0; r < rows; r++, row++) {
        for (let l = 0, o = r * L; l < L; l++, o++) {
          const v = b[o]!;
          if (v !== 0) {
            ts[l]!.push(row);
            ws[l]!.push(v);
          }
        }
      }
    }
    if (row !== T) throw new CubeFitError("/R_T", `has ${row} rows, expected ${T}`);
    return RebinColumns.fromLists(T, L, ts, ws);
  }

  /** From the exact (float64) operator, rounded to float32 as it is stored. */
  static fromOperator(op: RebinOperator): RebinColumns {
    const ts: number[][] = Array.from({ length: op.L }, () => []);
    const ws: number[][] = Array.from({ length: op.L }, () => []);
    const { src, dst, frac } = op.overlaps;
    for (let k = 0; k < src.length; k++) {
      const v = Math.fround(frac[k]!);
      if (v === 0) continue;
      ts[dst[k]!]!.push(src[k]!);
      ws[dst[k]!]!.push(v);
    }
    return RebinColumns.fromLists(op.T, op.L, ts, ws);
  }

  private static fromLists(T: number, L: number, ts: number[][], ws: number[][]): RebinColumns {
    const start = new Int32Array(L + 1);
    for (let l = 0; l < L; l++) start[l + 1] = start[l]! + ts[l]!.length;
    const t = new Int32Array(start[L]!);
    const w = new Float64Array(start[L]!);
    for (let l = 0; l < L; l++) {
      t.set(ts[l]!, start[l]!);
      w.set(ws[l]!, start[l]!);
    }
    return new RebinColumns(T, L, start, t, w);
  }

  /** Plain data, to send to a worker thread. */
  toData(): RebinColumnsData {
    return { T: this.T, L: this.L, start: this.start, t: this.t, w: this.w };
  }

  static fromData(d: RebinColumnsData): RebinColumns {
    return new RebinColumns(d.T, d.L, d.start, d.t, d.w);
  }

  /** First and last template pixel any column uses (-1, -1 when R_T is all zero). */
  usedRows(): [number, number] {
    if (this.t.length === 0) return [-1, -1];
    let lo = Infinity;
    let hi = -Infinity;
    for (const t of this.t) {
      if (t < lo) lo = t;
      if (t > hi) hi = t;
    }
    return [lo, hi];
  }

  /** out[offset + l] = sum_t R_T[t, l] m[t] for every l (float64). */
  apply(m: Float64Array, out: Float64Array | Float32Array, offset = 0): void {
    const { start, t, w } = this;
    for (let l = 0; l < this.L; l++) {
      let acc = 0;
      for (let k = start[l]!, e = start[l + 1]!; k < e; k++) acc += w[k]! * m[t[k]!]!;
      out[offset + l] = acc;
    }
  }
}

export interface RebinColumnsData {
  T: number;
  L: number;
  start: Int32Array;
  t: Int32Array;
  w: Float64Array;
}

// ---- the LOSVD kernel ----------------------------------------------------------------------

/** Where an LOSVD's velocity bins fall on the template grid; the same for every spaxel. */
export interface KernelGeometry {
  /** Kernel offsets kMin..kMax, template pixels. */
  kMin: number;
  kMax: number;
  /** Velocity bin -> kernel pixel overlaps (dst is k - kMin). */
  overlaps: Overlaps;
  /** Velocity bins V. */
  V: number;
}

/** The kernel support and weights map for velocity centres (km/s) on a grid of step dlogTem. */
export function kernelGeometry(velPix: Float64Array, dlogTem: number): KernelGeometry {
  const edgesKms = binEdges(velPix);
  const px = edgesKms.map((v) => v / C_KMS / dlogTem);
  // Kernel pixel k covers [k - 1/2, k + 1/2]: the first and last ones the velocity edges touch.
  const kMin = Math.floor(px[0]! + 0.5);
  const kMax = Math.ceil(px[px.length - 1]! - 0.5);
  const kEdges = new Float64Array(kMax - kMin + 2);
  for (let i = 0; i < kEdges.length; i++) kEdges[i] = kMin + i - 0.5;
  return { kMin, kMax, overlaps: binOverlaps(px, kEdges), V: velPix.length };
}

/**
 * The kernel (kMax - kMin + 1 values, offset kMin first) of one LOSVD histogram, read from
 * `h` at h[offset + j * stride] for velocity bin j (so (S, V, C) slabs need no copy).
 */
export function losvdKernel(
  g: KernelGeometry,
  h: ArrayLike<number>,
  offset = 0,
  stride = 1,
  out: Float64Array = new Float64Array(g.kMax - g.kMin + 1),
): Float64Array {
  out.fill(0);
  const { src, dst, frac } = g.overlaps;
  for (let k = 0; k < src.length; k++) out[dst[k]!]! += h[offset + src[k]! * stride]! * frac[k]!;
  return out;
}

// ---- convolution ---------------------------------------------------------------------------

/** The reference: m[t] = sum_k K[k - kMin] tpl[t - k], tpl = 0 outside [0, T). */
export function convolveDirect(
  tpl: ArrayLike<number>,
  kernel: Float64Array,
  kMin: number,
  out: Float64Array = new Float64Array(tpl.length),
): Float64Array {
  const T = tpl.length;
  const nk = kernel.length;
  for (let t = 0; t < T; t++) {
    let acc = 0;
    for (let i = 0; i < nk; i++) {
      const s = t - (kMin + i);
      if (s >= 0 && s < T) acc += kernel[i]! * tpl[s]!;
    }
    out[t] = acc;
  }
  return out;
}

/**
 * An even FFT length >= n: the smallest 2,3,5-smooth one, or the next power of two when that
 * is at most 30% longer (radix-4/8 passes run about 1.5x faster per value here than radix
 * 3/5: e.g. 4096 rather than 4050 for n = 4025).
 */
export function fftLength(n: number): number {
  let smooth = Math.max(2, n);
  for (; ; smooth++) {
    if (smooth % 2) continue;
    let r = smooth;
    for (const p of [2, 3, 5]) while (r % p === 0) r /= p;
    if (r === 1) break;
  }
  let pow2 = 2;
  while (pow2 < n) pow2 *= 2;
  return pow2 <= 1.3 * smooth ? pow2 : smooth;
}

export interface Spectrum {
  re: Float64Array;
  im: Float64Array;
}

/**
 * Linear convolution of length-T templates with kernels of offsets kMin..kMax by FFT. The
 * template is zero-padded to an even n >= T + max(kMax, -kMin, 0) so that the circular
 * convolution equals the linear one on [0, T): wrapped-around samples land in the padding,
 * which is zero. Each output is its own inverse real transform (a complex transform of
 * length n / 2), so a model is the same function of its template and kernel whatever else is
 * computed with it: tiles of any shape give identical bits.
 */
export class LosvdConvolver {
  readonly n: number;
  private readonly zr: Float64Array;
  private readonly zi: Float64Array;
  private readonly pad: Float64Array;
  /** The product spectrum X = A K (n / 2 + 1 values). */
  private readonly xr: Float64Array;
  private readonly xi: Float64Array;
  /** cos and sin of 2 pi k / n, k < n / 2. */
  private readonly tw: Float64Array;

  constructor(
    readonly T: number,
    readonly kMin: number,
    readonly kMax: number,
  ) {
    this.n = fftLength(T + Math.max(kMax, -kMin, 0));
    const h = this.n / 2;
    this.zr = new Float64Array(h);
    this.zi = new Float64Array(h);
    this.pad = new Float64Array(this.n);
    this.xr = new Float64Array(h + 1);
    this.xi = new Float64Array(h + 1);
    this.tw = new Float64Array(2 * h);
    const cs = new Float64Array(2);
    for (let k = 0; k < h; k++) {
      sincos2pi(k, this.n, cs);
      this.tw[2 * k] = cs[0]!;
      this.tw[2 * k + 1] = cs[1]!;
    }
  }

  /** rfft of the zero-padded template (n / 2 + 1 values). */
  templateSpectrum(tpl: ArrayLike<number>): Spectrum {
    this.pad.fill(0);
    for (let t = 0; t < this.T; t++) this.pad[t] = tpl[t]!;
    return rfft(this.pad);
  }

  /** rfft of the kernel placed circularly (offset k at index k mod n). */
  kernelSpectrum(kernel: Float64Array, out?: Spectrum): Spectrum {
    this.pad.fill(0);
    for (let i = 0; i < kernel.length; i++) {
      const k = this.kMin + i;
      const at = ((k % this.n) + this.n) % this.n;
      this.pad[at] = this.pad[at]! + kernel[i]!;
    }
    return rfft(this.pad, out);
  }

  /**
   * out[t] = conv(template, kernel)[t] for t < T, from their spectra: the inverse real
   * transform of X = A K. With z[j] = x[2j] + i x[2j+1], its length-n/2 transform is
   * Z[k] = E[k] + i O[k], E[k] = (X[k] + conj X[h-k]) / 2, O[k] = (X[k] - conj X[h-k]) W^-k / 2.
   */
  apply(a: Spectrum, k: Spectrum, out: Float64Array): void {
    const h = this.n / 2;
    const { zr, zi, tw, xr, xi } = this;
    const { re: are, im: aim } = a;
    const { re: kre, im: kim } = k;
    for (let f = 0; f <= h; f++) {
      xr[f] = are[f]! * kre[f]! - aim[f]! * kim[f]!;
      xi[f] = are[f]! * kim[f]! + aim[f]! * kre[f]!;
    }
    for (let f = 0; f < h; f++) {
      const ar = xr[f]!;
      const ai = xi[f]!;
      const br = xr[h - f]!;
      const bi = -xi[h - f]!;
      const dr = 0.5 * (ar - br);
      const di = 0.5 * (ai - bi);
      const c = tw[2 * f]!;
      const s = tw[2 * f + 1]!;
      // Z = E + i O with E = (A + B) / 2 and O = D (cos + i sin).
      zr[f] = 0.5 * (ar + br) - (dr * s + di * c);
      zi[f] = 0.5 * (ai + bi) + (dr * c - di * s);
    }
    fftPlan(h).inverse(zr, zi);
    const T = this.T;
    for (let j = 0; 2 * j < T; j++) {
      out[2 * j] = zr[j]!;
      if (2 * j + 1 < T) out[2 * j + 1] = zi[j]!;
    }
  }
}

// ---- template FFT caches (/TemplatesFFT, /TemplatesFFT_R) ---------------------------------

/**
 * rfft (length T, no padding) of one template, interleaved (re, im) for complex64 storage.
 * `reversed`: of tpl[T - 1 - t], the seed's /TemplatesFFT_R ("reversed for true
 * convolution"): with it a correlation against the template is a product of spectra.
 */
export function templateRfft(tpl: ArrayLike<number>, reversed = false): Float64Array {
  const T = tpl.length;
  const x = new Float64Array(T);
  for (let t = 0; t < T; t++) x[t] = tpl[reversed ? T - 1 - t : t]!;
  const { re, im } = rfft(x);
  const out = new Float64Array(2 * re.length);
  for (let f = 0; f < re.length; f++) {
    out[2 * f] = re[f]!;
    out[2 * f + 1] = im[f]!;
  }
  return out;
}

// ---- a tile of models ----------------------------------------------------------------------

/** What every tile needs: the templates, R_T and the kernel geometry (sent once per worker). */
export interface TileContextData {
  T: number;
  L: number;
  P: number;
  V: number;
  /** (P, T) as stored (float32). */
  templates: Float32Array;
  rebin: RebinColumnsData;
  /** Template grid step (ln lambda) and velocity centres (km/s): the kernel geometry. */
  dlogTem: number;
  velPix: Float64Array;
}

/** A box of the HyperCube: spaxels [s0, s1), components [c0, c1), populations [p0, p1). */
export interface TileBox {
  s0: number;
  s1: number;
  c0: number;
  c1: number;
  p0: number;
  p1: number;
}

/**
 * Computes boxes of models[s, c, p, :] = R_T^T (template_p * K_{s,c}) in float64, returned as
 * float32 (what is stored). The result depends only on the box and the inputs, never on the
 * thread or the order: a resumed build equals an uninterrupted one bit for bit.
 */
export class TileComputer {
  private readonly rebin: RebinColumns;
  private readonly geom: KernelGeometry;
  private readonly conv: LosvdConvolver;
  private readonly spectra: (Spectrum | undefined)[];
  private readonly m: Float64Array;
  private readonly kernel: Float64Array;
  private kspec: Spectrum | undefined;

  constructor(readonly ctx: TileContextData) {
    this.rebin = RebinColumns.fromData(ctx.rebin);
    this.geom = kernelGeometry(ctx.velPix, ctx.dlogTem);
    this.conv = new LosvdConvolver(ctx.T, this.geom.kMin, this.geom.kMax);
    this.spectra = new Array<Spectrum | undefined>(ctx.P);
    this.m = new Float64Array(ctx.T);
    this.kernel = new Float64Array(this.geom.kMax - this.geom.kMin + 1);
  }

  private spectrum(p: number): Spectrum {
    let s = this.spectra[p];
    if (!s) {
      const { T } = this.ctx;
      s = this.conv.templateSpectrum(this.ctx.templates.subarray(p * T, (p + 1) * T));
      this.spectra[p] = s;
    }
    return s;
  }

  /**
   * The box's models, (s1 - s0, c1 - c0, p1 - p0, L) C order. `losvd` holds the LOSVD of the
   * box's spaxels and components as a (s1 - s0, V, c1 - c0) slab.
   */
  compute(box: TileBox, losvd: Float32Array | Float64Array): Float32Array {
    const { L, V } = this.ctx;
    const ds = box.s1 - box.s0;
    const dc = box.c1 - box.c0;
    const dp = box.p1 - box.p0;
    if (losvd.length !== ds * V * dc)
      throw new CubeFitError(
        "losvd",
        `tile slab has ${losvd.length} values, expected ${ds * V * dc}`,
      );
    const out = new Float32Array(ds * dc * dp * L);
    for (let si = 0; si < ds; si++) {
      for (let ci = 0; ci < dc; ci++) {
        losvdKernel(this.geom, losvd, si * V * dc + ci, dc, this.kernel);
        this.kspec = this.conv.kernelSpectrum(this.kernel, this.kspec);
        const base = (si * dc + ci) * dp;
        for (let pi = 0; pi < dp; pi++) {
          this.conv.apply(this.spectrum(box.p0 + pi), this.kspec, this.m);
          this.rebin.apply(this.m, out, (base + pi) * L);
        }
      }
    }
    return out;
  }
}
