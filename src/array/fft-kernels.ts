/**
 * Butterfly passes of the mixed-radix FFT in src/array/fft.ts: a self-sorting (Stockham)
 * decimation-in-frequency scheme that transforms a block of lines at once. One pass of radix r
 * on sub-transforms of length r * m reads input k of butterfly p at xo + (p + k * m) * xe + i
 * and writes output j at yo + (r * p + j) * ye + i, for i < L. Between passes the block lives
 * in scratch as [element][L] with L = (product of earlier radices) * lines, so the inner loop
 * runs over L contiguous values that share one set of twiddles: twiddles leave the hot loop
 * and every access is unit-stride. The first pass reads the caller's strided lines and the
 * last writes them back, so no separate gather or scatter sweeps memory.
 *
 * Only the forward transform (exp(-2 pi i jk / n)) exists here; fft.ts gets the inverse by
 * swapping the real and imaginary arrays. `scale` multiplies the outputs of butterfly p = 0,
 * which in the last pass (m = 1) is every output: that is where the inverse's 1 / n goes.
 * Every butterfly reads all its inputs before writing, so a single pass may run in place.
 */

/** cos and sin of 2 pi k / n into out[0], out[1], reduced to [0, pi/4] (exact at quadrants). */
export function sincos2pi(k: number, n: number, out: Float64Array): void {
  const kk = ((k % n) + n) % n;
  const q = Math.floor((4 * kk) / n);
  const r = 4 * kk - q * n;
  let c: number;
  let s: number;
  if (2 * r <= n) {
    const a = (Math.PI / 2) * (r / n);
    c = Math.cos(a);
    s = Math.sin(a);
  } else {
    const a = (Math.PI / 2) * ((n - r) / n);
    c = Math.sin(a);
    s = Math.cos(a);
  }
  if (q === 0) {
    out[0] = c;
    out[1] = s;
  } else if (q === 1) {
    out[0] = -s;
    out[1] = c;
  } else if (q === 2) {
    out[0] = -c;
    out[1] = -s;
  } else {
    out[0] = s;
    out[1] = -c;
  }
}

/**
 * Twiddles of one pass: W^(j p) = exp(-2 pi i j p / (r m)) for p = 1..m-1, j = 1..r-1, at
 * at + (p - 1) * (r - 1) + j - 1 (p = 0 needs none).
 */
export function passTwiddles(
  r: number,
  m: number,
  twr: Float64Array,
  twi: Float64Array,
  at: number,
): void {
  const cs = new Float64Array(2);
  for (let p = 1; p < m; p++)
    for (let j = 1; j < r; j++) {
      sincos2pi(j * p, r * m, cs);
      const t = at + (p - 1) * (r - 1) + j - 1;
      twr[t] = cs[0]!;
      twi[t] = -cs[1]!;
    }
}

/** The signature of the passes with a fixed radix (passGeneric adds r, roots and a temporary). */
export type Pass = (
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
  twr: Float64Array,
  twi: Float64Array,
  tw: number,
  scale: number,
) => void;

export const pass2: Pass = (xr, xi, xo, xe, yr, yi, yo, ye, L, m, twr, twi, tw, scale) => {
  const dk = m * xe;
  for (let i = 0; i < L; i++) {
    const x0 = xo + i;
    const x1 = x0 + dk;
    const y0 = yo + i;
    const a0r = xr[x0]!;
    const a0i = xi[x0]!;
    const a1r = xr[x1]!;
    const a1i = xi[x1]!;
    yr[y0] = (a0r + a1r) * scale;
    yi[y0] = (a0i + a1i) * scale;
    yr[y0 + ye] = (a0r - a1r) * scale;
    yi[y0 + ye] = (a0i - a1i) * scale;
  }
  for (let p = 1; p < m; p++) {
    const w1r = twr[tw + p - 1]!;
    const w1i = twi[tw + p - 1]!;
    const xb = xo + p * xe;
    const yb = yo + 2 * p * ye;
    for (let i = 0; i < L; i++) {
      const x0 = xb + i;
      const x1 = x0 + dk;
      const y0 = yb + i;
      const a0r = xr[x0]!;
      const a0i = xi[x0]!;
      const a1r = xr[x1]!;
      const a1i = xi[x1]!;
      yr[y0] = a0r + a1r;
      yi[y0] = a0i + a1i;
      const dr = a0r - a1r;
      const di = a0i - a1i;
      yr[y0 + ye] = dr * w1r - di * w1i;
      yi[y0 + ye] = dr * w1i + di * w1r;
    }
  }
};

export const pass4: Pass = (xr, xi, xo, xe, yr, yi, yo, ye, L, m, twr, twi, tw, scale) => {
  const dk = m * xe;
  for (let i = 0; i < L; i++) {
    const x0 = xo + i;
    const x1 = x0 + dk;
    const x2 = x1 + dk;
    const x3 = x2 + dk;
    const a0r = xr[x0]!;
    const a0i = xi[x0]!;
    const a1r = xr[x1]!;
    const a1i = xi[x1]!;
    const a2r = xr[x2]!;
    const a2i = xi[x2]!;
    const a3r = xr[x3]!;
    const a3i = xi[x3]!;
    const t0r = a0r + a2r;
    const t0i = a0i + a2i;
    const t1r = a0r - a2r;
    const t1i = a0i - a2i;
    const t2r = a1r + a3r;
    const t2i = a1i + a3i;
    const t3r = a1r - a3r;
    const t3i = a1i - a3i;
    const y0 = yo + i;
    const y1 = y0 + ye;
    const y2 = y1 + ye;
    const y3 = y2 + ye;
    yr[y0] = (t0r + t2r) * scale;
    yi[y0] = (t0i + t2i) * scale;
    yr[y1] = (t1r + t3i) * scale;
    yi[y1] = (t1i - t3r) * scale;
    yr[y2] = (t0r - t2r) * scale;
    yi[y2] = (t0i - t2i) * scale;
    yr[y3] = (t1r - t3i) * scale;
    yi[y3] = (t1i + t3r) * scale;
  }
  for (let p = 1; p < m; p++) {
    const t = tw + 3 * (p - 1);
    const w1r = twr[t]!;
    const w1i = twi[t]!;
    const w2r = twr[t + 1]!;
    const w2i = twi[t + 1]!;
    const w3r = twr[t + 2]!;
    const w3i = twi[t + 2]!;
    const xb = xo + p * xe;
    const yb = yo + 4 * p * ye;
    for (let i = 0; i < L; i++) {
      const x0 = xb + i;
      const x1 = x0 + dk;
      const x2 = x1 + dk;
      const x3 = x2 + dk;
      const a0r = xr[x0]!;
      const a0i = xi[x0]!;
      const a1r = xr[x1]!;
      const a1i = xi[x1]!;
      const a2r = xr[x2]!;
      const a2i = xi[x2]!;
      const a3r = xr[x3]!;
      const a3i = xi[x3]!;
      const t0r = a0r + a2r;
      const t0i = a0i + a2i;
      const t1r = a0r - a2r;
      const t1i = a0i - a2i;
      const t2r = a1r + a3r;
      const t2i = a1i + a3i;
      const t3r = a1r - a3r;
      const t3i = a1i - a3i;
      const y0 = yb + i;
      const y1 = y0 + ye;
      const y2 = y1 + ye;
      const y3 = y2 + ye;
      yr[y0] = t0r + t2r;
      yi[y0] = t0i + t2i;
      const u1r = t1r + t3i;
      const u1i = t1i - t3r;
      yr[y1] = u1r * w1r - u1i * w1i;
      yi[y1] = u1r * w1i + u1i * w1r;
      const u2r = t0r - t2r;
      const u2i = t0i - t2i;
      yr[y2] = u2r * w2r - u2i * w2i;
      yi[y2] = u2r * w2i + u2i * w2r;
      const u3r = t1r - t3i;
      const u3i = t1i + t3r;
      yr[y3] = u3r * w3r - u3i * w3i;
      yi[y3] = u3r * w3i + u3i * w3r;
    }
  }
};

/**
 * The last radix-4 pass (m = 1, no twiddles) into the caller's arrays, all real outputs in one
 * loop and all imaginary ones in another. Writing re[i] and im[i] together is up to twice as
 * slow when the two arrays sit at an unlucky distance in the address space (seen on AMD Zen:
 * its L1 way predictor hashes address bits, and the two lines evict each other); each half
 * needs only two of the other part's inputs. Not for in-place use.
 */
export function pass4Last(
  xr: Float64Array,
  xi: Float64Array,
  xo: number,
  xe: number,
  yr: Float64Array,
  yi: Float64Array,
  yo: number,
  ye: number,
  L: number,
  scale: number,
): void {
  for (let i = 0; i < L; i++) {
    const x0 = xo + i;
    const x1 = x0 + xe;
    const x2 = x1 + xe;
    const x3 = x2 + xe;
    const t0 = xr[x0]! + xr[x2]!;
    const t1 = xr[x0]! - xr[x2]!;
    const t2 = xr[x1]! + xr[x3]!;
    const t3 = xi[x1]! - xi[x3]!;
    const y0 = yo + i;
    yr[y0] = (t0 + t2) * scale;
    yr[y0 + ye] = (t1 + t3) * scale;
    yr[y0 + 2 * ye] = (t0 - t2) * scale;
    yr[y0 + 3 * ye] = (t1 - t3) * scale;
  }
  for (let i = 0; i < L; i++) {
    const x0 = xo + i;
    const x1 = x0 + xe;
    const x2 = x1 + xe;
    const x3 = x2 + xe;
    const t0 = xi[x0]! + xi[x2]!;
    const t1 = xi[x0]! - xi[x2]!;
    const t2 = xi[x1]! + xi[x3]!;
    const t3 = xr[x1]! - xr[x3]!;
    const y0 = yo + i;
    yi[y0] = (t0 + t2) * scale;
    yi[y0 + ye] = (t1 - t3) * scale;
    yi[y0 + 2 * ye] = (t0 - t2) * scale;
    yi[y0 + 3 * ye] = (t1 + t3) * scale;
  }
}

const H = Math.SQRT1_2;

/** Radix 8 as two radix-4 butterflies on the even and odd inputs joined by W8^k. */
export const pass8: Pass = (xr, xi, xo, xe, yr, yi, yo, ye, L, m, twr, twi, tw, scale) => {
  const dk = m * xe;
  for (let p = 0; p < m; p++) {
    const t = tw + 7 * (p - 1);
    const xb = xo + p * xe;
    const yb = yo + 8 * p * ye;
    // p = 0 has unit twiddles: its outputs only take `scale`.
    const w1r = p === 0 ? scale : twr[t]!;
    const w1i = p === 0 ? 0 : twi[t]!;
    const w2r = p === 0 ? scale : twr[t + 1]!;
    const w2i = p === 0 ? 0 : twi[t + 1]!;
    const w3r = p === 0 ? scale : twr[t + 2]!;
    const w3i = p === 0 ? 0 : twi[t + 2]!;
    const w4r = p === 0 ? scale : twr[t + 3]!;
    const w4i = p === 0 ? 0 : twi[t + 3]!;
    const w5r = p === 0 ? scale : twr[t + 4]!;
    const w5i = p === 0 ? 0 : twi[t + 4]!;
    const w6r = p === 0 ? scale : twr[t + 5]!;
    const w6i = p === 0 ? 0 : twi[t + 5]!;
    const w7r = p === 0 ? scale : twr[t + 6]!;
    const w7i = p === 0 ? 0 : twi[t + 6]!;
    const s0 = p === 0 ? scale : 1;
    for (let i = 0; i < L; i++) {
      const x0 = xb + i;
      const x1 = x0 + dk;
      const x2 = x1 + dk;
      const x3 = x2 + dk;
      const x4 = x3 + dk;
      const x5 = x4 + dk;
      const x6 = x5 + dk;
      const x7 = x6 + dk;
      let ar = xr[x0]!;
      let ai = xi[x0]!;
      let br = xr[x4]!;
      let bi = xi[x4]!;
      const t0r = ar + br;
      const t0i = ai + bi;
      const t1r = ar - br;
      const t1i = ai - bi;
      ar = xr[x2]!;
      ai = xi[x2]!;
      br = xr[x6]!;
      bi = xi[x6]!;
      const t2r = ar + br;
      const t2i = ai + bi;
      const t3r = ar - br;
      const t3i = ai - bi;
      const e0r = t0r + t2r;
      const e0i = t0i + t2i;
      const e2r = t0r - t2r;
      const e2i = t0i - t2i;
      const e1r = t1r + t3i;
      const e1i = t1i - t3r;
      const e3r = t1r - t3i;
      const e3i = t1i + t3r;
      ar = xr[x1]!;
      ai = xi[x1]!;
      br = xr[x5]!;
      bi = xi[x5]!;
      const u0r = ar + br;
      const u0i = ai + bi;
      const u1r = ar - br;
      const u1i = ai - bi;
      ar = xr[x3]!;
      ai = xi[x3]!;
      br = xr[x7]!;
      bi = xi[x7]!;
      const u2r = ar + br;
      const u2i = ai + bi;
      const u3r = ar - br;
      const u3i = ai - bi;
      const o0r = u0r + u2r;
      const o0i = u0i + u2i;
      // odd outputs times W8^k: -i, (1 - i) / sqrt 2, (-1 - i) / sqrt 2
      const o2r = u0i - u2i;
      const o2i = u2r - u0r;
      let vr = u1r + u3i;
      let vi = u1i - u3r;
      const o1r = (vr + vi) * H;
      const o1i = (vi - vr) * H;
      vr = u1r - u3i;
      vi = u1i + u3r;
      const o3r = (vi - vr) * H;
      const o3i = -(vr + vi) * H;
      const y0 = yb + i;
      yr[y0] = (e0r + o0r) * s0;
      yi[y0] = (e0i + o0i) * s0;
      let zr = e1r + o1r;
      let zi = e1i + o1i;
      yr[y0 + ye] = zr * w1r - zi * w1i;
      yi[y0 + ye] = zr * w1i + zi * w1r;
      zr = e2r + o2r;
      zi = e2i + o2i;
      yr[y0 + 2 * ye] = zr * w2r - zi * w2i;
      yi[y0 + 2 * ye] = zr * w2i + zi * w2r;
      zr = e3r + o3r;
      zi = e3i + o3i;
      yr[y0 + 3 * ye] = zr * w3r - zi * w3i;
      yi[y0 + 3 * ye] = zr * w3i + zi * w3r;
      zr = e0r - o0r;
      zi = e0i - o0i;
      yr[y0 + 4 * ye] = zr * w4r - zi * w4i;
      yi[y0 + 4 * ye] = zr * w4i + zi * w4r;
      zr = e1r - o1r;
      zi = e1i - o1i;
      yr[y0 + 5 * ye] = zr * w5r - zi * w5i;
      yi[y0 + 5 * ye] = zr * w5i + zi * w5r;
      zr = e2r - o2r;
      zi = e2i - o2i;
      yr[y0 + 6 * ye] = zr * w6r - zi * w6i;
      yi[y0 + 6 * ye] = zr * w6i + zi * w6r;
      zr = e3r - o3r;
      zi = e3i - o3i;
      yr[y0 + 7 * ye] = zr * w7r - zi * w7i;
      yi[y0 + 7 * ye] = zr * w7i + zi * w7r;
    }
  }
};

const S3 = Math.sqrt(3) / 2;

export const pass3: Pass = (xr, xi, xo, xe, yr, yi, yo, ye, L, m, twr, twi, tw, scale) => {
  const dk = m * xe;
  for (let p = 0; p < m; p++) {
    const t = tw + 2 * (p - 1);
    const s0 = p === 0 ? scale : 1;
    const w1r = p === 0 ? scale : twr[t]!;
    const w1i = p === 0 ? 0 : twi[t]!;
    const w2r = p === 0 ? scale : twr[t + 1]!;
    const w2i = p === 0 ? 0 : twi[t + 1]!;
    const xb = xo + p * xe;
    const yb = yo + 3 * p * ye;
    for (let i = 0; i < L; i++) {
      const x0 = xb + i;
      const x1 = x0 + dk;
      const x2 = x1 + dk;
      const a0r = xr[x0]!;
      const a0i = xi[x0]!;
      const sr = xr[x1]! + xr[x2]!;
      const si = xi[x1]! + xi[x2]!;
      const dr = S3 * (xr[x1]! - xr[x2]!);
      const di = S3 * (xi[x1]! - xi[x2]!);
      const mr = a0r - 0.5 * sr;
      const mi = a0i - 0.5 * si;
      const y0 = yb + i;
      yr[y0] = (a0r + sr) * s0;
      yi[y0] = (a0i + si) * s0;
      const u1r = mr + di;
      const u1i = mi - dr;
      yr[y0 + ye] = u1r * w1r - u1i * w1i;
      yi[y0 + ye] = u1r * w1i + u1i * w1r;
      const u2r = mr - di;
      const u2i = mi + dr;
      yr[y0 + 2 * ye] = u2r * w2r - u2i * w2i;
      yi[y0 + 2 * ye] = u2r * w2i + u2i * w2r;
    }
  }
};

const C51 = Math.cos((2 * Math.PI) / 5);
const C52 = Math.cos((4 * Math.PI) / 5);
const S51 = Math.sin((2 * Math.PI) / 5);
const S52 = Math.sin((4 * Math.PI) / 5);

export const pass5: Pass = (xr, xi, xo, xe, yr, yi, yo, ye, L, m, twr, twi, tw, scale) => {
  const dk = m * xe;
  for (let p = 0; p < m; p++) {
    const t = tw + 4 * (p - 1);
    const s0 = p === 0 ? scale : 1;
    const w1r = p === 0 ? scale : twr[t]!;
    const w1i = p === 0 ? 0 : twi[t]!;
    const w2r = p === 0 ? scale : twr[t + 1]!;
    const w2i = p === 0 ? 0 : twi[t + 1]!;
    const w3r = p === 0 ? scale : twr[t + 2]!;
    const w3i = p === 0 ? 0 : twi[t + 2]!;
    const w4r = p === 0 ? scale : twr[t + 3]!;
    const w4i = p === 0 ? 0 : twi[t + 3]!;
    const xb = xo + p * xe;
    const yb = yo + 5 * p * ye;
    for (let i = 0; i < L; i++) {
      const x0 = xb + i;
      const x1 = x0 + dk;
      const x2 = x1 + dk;
      const x3 = x2 + dk;
      const x4 = x3 + dk;
      const a0r = xr[x0]!;
      const a0i = xi[x0]!;
      const t1r = xr[x1]! + xr[x4]!;
      const t1i = xi[x1]! + xi[x4]!;
      const t2r = xr[x2]! + xr[x3]!;
      const t2i = xi[x2]! + xi[x3]!;
      const t3r = xr[x1]! - xr[x4]!;
      const t3i = xi[x1]! - xi[x4]!;
      const t4r = xr[x2]! - xr[x3]!;
      const t4i = xi[x2]! - xi[x3]!;
      const m1r = a0r + C51 * t1r + C52 * t2r;
      const m1i = a0i + C51 * t1i + C52 * t2i;
      const m2r = a0r + C52 * t1r + C51 * t2r;
      const m2i = a0i + C52 * t1i + C51 * t2i;
      const n1r = S51 * t3r + S52 * t4r;
      const n1i = S51 * t3i + S52 * t4i;
      const n2r = S52 * t3r - S51 * t4r;
      const n2i = S52 * t3i - S51 * t4i;
      const y0 = yb + i;
      yr[y0] = (a0r + t1r + t2r) * s0;
      yi[y0] = (a0i + t1i + t2i) * s0;
      // y1 = m1 - i n1, y4 = m1 + i n1, y2 = m2 - i n2, y3 = m2 + i n2
      let ur = m1r + n1i;
      let ui = m1i - n1r;
      yr[y0 + ye] = ur * w1r - ui * w1i;
      yi[y0 + ye] = ur * w1i + ui * w1r;
      ur = m2r + n2i;
      ui = m2i - n2r;
      yr[y0 + 2 * ye] = ur * w2r - ui * w2i;
      yi[y0 + 2 * ye] = ur * w2i + ui * w2r;
      ur = m2r - n2i;
      ui = m2i + n2r;
      yr[y0 + 3 * ye] = ur * w3r - ui * w3i;
      yi[y0 + 3 * ye] = ur * w3i + ui * w3r;
      ur = m1r - n1i;
      ui = m1i + n1r;
      yr[y0 + 4 * ye] = ur * w4r - ui * w4i;
      yi[y0 + 4 * ye] = ur * w4i + ui * w4r;
    }
  }
};

/**
 * Any odd radix r (the prime factors above 5): pairs inputs k and r - k so each output pair
 * j, r - j costs (r - 1) / 2 real multiply-adds per component. cosr/sinr hold cos and sin of
 * 2 pi q / r for q < r; tmp holds at least 2 r values.
 */
export function passGeneric(
  r: number,
  cosr: Float64Array,
  sinr: Float64Array,
  tmp: Float64Array,
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
  twr: Float64Array,
  twi: Float64Array,
  tw: number,
  scale: number,
): void {
  const h = (r - 1) >> 1;
  const dk = m * xe;
  for (let p = 0; p < m; p++) {
    const t = tw + (r - 1) * (p - 1);
    const xb = xo + p * xe;
    const yb = yo + r * p * ye;
    for (let i = 0; i < L; i++) {
      const x0 = xb + i;
      const a0r = xr[x0]!;
      const a0i = xi[x0]!;
      let y0r = a0r;
      let y0i = a0i;
      // tmp[4(k-1) ..]: sum and difference of inputs k and r - k.
      for (let k = 1; k <= h; k++) {
        const xk = x0 + k * dk;
        const xl = x0 + (r - k) * dk;
        const spr = xr[xk]! + xr[xl]!;
        const spi = xi[xk]! + xi[xl]!;
        tmp[4 * k - 4] = spr;
        tmp[4 * k - 3] = spi;
        tmp[4 * k - 2] = xr[xk]! - xr[xl]!;
        tmp[4 * k - 1] = xi[xk]! - xi[xl]!;
        y0r += spr;
        y0i += spi;
      }
      const y0 = yb + i;
      yr[y0] = p === 0 ? y0r * scale : y0r;
      yi[y0] = p === 0 ? y0i * scale : y0i;
      for (let j = 1; j <= h; j++) {
        let cr = a0r;
        let ci = a0i;
        let sr = 0;
        let si = 0;
        let q = 0;
        for (let k = 1; k <= h; k++) {
          q += j;
          if (q >= r) q -= r;
          const c = cosr[q]!;
          const s = sinr[q]!;
          cr += c * tmp[4 * k - 4]!;
          ci += c * tmp[4 * k - 3]!;
          sr += s * tmp[4 * k - 2]!;
          si += s * tmp[4 * k - 1]!;
        }
        // y_j = C - i S, y_(r-j) = C + i S
        let ur = cr + si;
        let ui = ci - sr;
        let vr = cr - si;
        let vi = ci + sr;
        if (p === 0) {
          ur *= scale;
          ui *= scale;
          vr *= scale;
          vi *= scale;
        } else {
          const wj = t + j - 1;
          const wl = t + r - j - 1;
          const tr = ur * twr[wj]! - ui * twi[wj]!;
          ui = ur * twi[wj]! + ui * twr[wj]!;
          ur = tr;
          const sr2 = vr * twr[wl]! - vi * twi[wl]!;
          vi = vr * twi[wl]! + vi * twr[wl]!;
          vr = sr2;
        }
        yr[y0 + j * ye] = ur;
        yi[y0 + j * ye] = ui;
        yr[y0 + (r - j) * ye] = vr;
        yi[y0 + (r - j) * ye] = vi;
      }
    }
  }
}
