// Direct-tap line filters for the Gaussian filter's small radii (convolve.ts picks them by
// cost): register-blocked taps for any line, and sums over runs of equal values for
// piecewise-constant lines (the normalised filter's weights), where only the few runs in a
// footprint cost anything.
//
// Lines are read as src[s + e * ds] (e = 0 .. n + 2r - 1, already boundary-extended) and
// written as out[o + i * od] (i = 0 .. n - 1), so rows (ds = 1) and the columns of a tile
// (ds = tile stride) share the kernels. Every sum is accumulated in float64.
import type { FloatArray } from "./convolve.js";
import { directLineNs, maxRuns } from "./convolve-fft.js";

/**
 * out[o + i od] = sum_t taps[t] src[s + (i + t) ds] for i < n (symmetric taps). Four outputs at
 * a time: their sliding windows stay in registers, so each tap pair costs two loads for four
 * outputs instead of two per output.
 */
export function directTaps(
  src: Float64Array,
  s: number,
  ds: number,
  taps: Float64Array,
  out: FloatArray,
  o: number,
  od: number,
  n: number,
): void {
  const r = (taps.length - 1) >> 1;
  const far = 2 * r * ds;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const p = s + i * ds;
    // l0..l3: left samples of the four windows at tap t, q0..q3: right samples (tap 2r - t).
    let l0 = src[p]!;
    let l1 = src[p + ds]!;
    let l2 = src[p + 2 * ds]!;
    let q1 = src[p + far + ds]!;
    let q2 = src[p + far + 2 * ds]!;
    let q3 = src[p + far + 3 * ds]!;
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    for (let t = 0, pl = p + 3 * ds, pq = p + far; t < r; t++, pl += ds, pq -= ds) {
      const l3 = src[pl]!;
      const q0 = src[pq]!;
      const k = taps[t]!;
      a0 += k * (l0 + q0);
      a1 += k * (l1 + q1);
      a2 += k * (l2 + q2);
      a3 += k * (l3 + q3);
      l0 = l1;
      l1 = l2;
      l2 = l3;
      q3 = q2;
      q2 = q1;
      q1 = q0;
    }
    const k = taps[r]!;
    const po = o + i * od;
    out[po] = a0 + k * l0;
    out[po + od] = a1 + k * l1;
    out[po + 2 * od] = a2 + k * l2;
    out[po + 3 * od] = a3 + k * src[p + (r + 3) * ds]!;
  }
  for (; i < n; i++) {
    const p = s + i * ds;
    let acc = taps[r]! * src[p + r * ds]!;
    for (let t = 0; t < r; t++) acc += taps[t]! * (src[p + t * ds]! + src[p + far - t * ds]!);
    out[o + i * od] = acc;
  }
}

/** The runs of equal values of one line: run j is [starts[j], starts[j + 1]) of value values[j]. */
export interface Runs {
  readonly starts: Int32Array;
  readonly values: Float64Array;
  count: number;
}

/** Room for the runs of lines of up to len samples. */
export function newRuns(len: number): Runs {
  return { starts: new Int32Array(len + 1), values: new Float64Array(len), count: 0 };
}

/**
 * Finds the runs of equal values among src[s + e ds], e < len, into runs; false (runs left
 * partial) as soon as there are more than maxRuns, or at a value that is not finite (runsTaps
 * takes differences of values: Inf - Inf would be NaN where direct taps give Inf).
 */
export function findRuns(
  src: Float64Array,
  s: number,
  ds: number,
  len: number,
  maxRuns: number,
  runs: Runs,
): boolean {
  const { starts, values } = runs;
  let v = src[s]!;
  let count = 0;
  values[0] = v;
  starts[0] = 0;
  if (!(v - v === 0)) return false;
  for (let e = 1, p = s + ds; e < len; e++, p += ds) {
    const u = src[p]!;
    if (u === v) continue;
    if (++count >= maxRuns || !(u - u === 0)) return false;
    starts[count] = e;
    values[count] = v = u;
  }
  runs.count = count + 1;
  starts[count + 1] = len;
  return true;
}

/** Running sums of the taps: sums[i] = taps[0] + ... + taps[i - 1]. */
export function tapSums(taps: Float64Array): Float64Array {
  const sums = new Float64Array(taps.length + 1);
  for (let t = 0; t < taps.length; t++) sums[t + 1] = sums[t]! + taps[t]!;
  return sums;
}

/**
 * taps[a] + ... + taps[b - 1] for 0 <= a < b <= K (the number of taps), from the running sums
 * of the nearer end (the taps are symmetric): rounding errors stay relative to the tail's own
 * sum, so no sum of positive taps rounds to 0.
 */
function tapSpan(sums: Float64Array, a: number, b: number): number {
  const k = sums.length - 1;
  return a + b > k ? sums[k - a]! - sums[k - b]! : sums[b]! - sums[a]!;
}

/**
 * The direct-tap filter of a line made of the given runs of finite values (as findRuns found
 * them), for n outputs: an output whose footprint (samples i .. i + 2r) lies in one run is
 * that run's value times the taps' total, the others as mixedRuns says. An output is exactly 0
 * when every sample in its footprint is.
 */
export function runsTaps(
  runs: Runs,
  sums: Float64Array,
  out: FloatArray,
  o: number,
  od: number,
  n: number,
): void {
  const { starts, values, count } = runs;
  const span = sums.length - 1; // footprint length 2r + 1
  const total = sums[span]!;
  let i = 0;
  let first = 0;
  for (let j = 0; j < count && i < n; j++) {
    // outputs [a, b) have their footprint inside run j
    const a = Math.min(starts[j]!, n);
    const b = Math.min(starts[j + 1]! - span + 1, n);
    if (b <= a) continue;
    first = mixedRuns(runs, sums, first, i, a, out, o, od);
    const v = values[j]! * total;
    for (let k = a; k < b; k++) out[o + k * od] = v;
    i = b;
  }
  mixedRuns(runs, sums, first, i, n, out, o, od);
}

/**
 * runsTaps for outputs [i0, i1): the value of the run where the footprint starts times the
 * taps' total, plus each later step in the footprint (a run's value less the previous one's)
 * times the taps from there on; first is the run holding i0 (returned for i1). Where every
 * sample in reach is 0, so is every term.
 */
function mixedRuns(
  runs: Runs,
  sums: Float64Array,
  first: number,
  i0: number,
  i1: number,
  out: FloatArray,
  o: number,
  od: number,
): number {
  const { starts, values, count } = runs;
  const span = sums.length - 1;
  for (let i = i0; i < i1; i++) {
    while (starts[first + 1]! <= i) first++;
    let acc = values[first]! * sums[span]!;
    // the taps from offset d on sum to sums[span - d] (symmetric taps): exact for small tails
    for (let j = first + 1; j < count && starts[j]! < i + span; j++)
      acc += (values[j]! - values[j - 1]!) * sums[span - (starts[j]! - i)]!;
    out[o + i * od] = acc;
  }
  return first;
}

/**
 * The filtered line (as directTaps), by runsTaps when the line is piecewise constant with few
 * enough runs, else by directTaps; returns true when the line (so the output) is all zero.
 */
export function smoothLine(
  src: Float64Array,
  s: number,
  ds: number,
  taps: Float64Array,
  sums: Float64Array,
  runs: Runs,
  out: FloatArray,
  o: number,
  od: number,
  n: number,
): boolean {
  const r = (taps.length - 1) >> 1;
  if (!findRuns(src, s, ds, n + 2 * r, maxRuns(n, r, directLineNs(n, r)), runs)) {
    directTaps(src, s, ds, taps, out, o, od, n);
    return false;
  }
  runsTaps(runs, sums, out, o, od, n);
  return runs.count === 1 && runs.values[0] === 0;
}

/**
 * Finds the runs of equal rows (cols values from tile[e s]) among rows e < len of a tile into
 * runs.starts (values unused); false as soon as there are more than maxRuns.
 */
export function findRowRuns(
  tile: Float64Array,
  s: number,
  cols: number,
  len: number,
  maxRuns: number,
  runs: Runs,
): boolean {
  const { starts } = runs;
  let count = 0;
  starts[0] = 0;
  for (let e = 1; e < len; e++) {
    let c = 0;
    for (const a = (e - 1) * s, b = e * s; c < cols && tile[a + c] === tile[b + c];) c++;
    if (c === cols) continue;
    if (++count >= maxRuns) return false;
    starts[count] = e;
  }
  runs.count = count + 1;
  starts[count + 1] = len;
  return true;
}

/**
 * The direct-tap filter of each of the cols columns of a tile made of the given row runs (as
 * findRowRuns found them) into out (same stride s), for n outputs: each output row is the sum,
 * over the runs meeting its footprint, of the run's first row times its taps' sum (as
 * runsTaps, row by row).
 */
export function rowRunsTaps(
  tile: Float64Array,
  s: number,
  cols: number,
  runs: Runs,
  sums: Float64Array,
  out: Float64Array,
  n: number,
): void {
  const { starts, count } = runs;
  const span = sums.length - 1;
  let first = 0;
  for (let i = 0, o = 0; i < n; i++, o += s) {
    while (starts[first + 1]! <= i) first++;
    const end = i + span;
    out.fill(0, o, o + cols);
    for (let j = first; j < count && starts[j]! < end; j++) {
      const f = tapSpan(sums, Math.max(starts[j]!, i) - i, Math.min(starts[j + 1]!, end) - i);
      for (let c = 0, p = starts[j]! * s; c < cols; c++)
        out[o + c] = out[o + c]! + f * tile[p + c]!;
    }
  }
}

/** Whether column c of a tile made of the given row runs is all zero. */
export function zeroColumn(tile: Float64Array, s: number, c: number, runs: Runs): boolean {
  for (let j = 0; j < runs.count; j++) if (tile[runs.starts[j]! * s + c] !== 0) return false;
  return true;
}
