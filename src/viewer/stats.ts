/**
 * Contrast limits and histograms for array views. Pure; runs in the kernel and in the
 * browser's compute worker.
 */

/**
 * The p-th and (100-p)-th percentiles of the finite values (log: of the positive ones),
 * from a deterministic sample of at most `maxSamples` values: the "auto" contrast limits.
 */
export function percentileLimits(
  values: ArrayLike<number>,
  lowPct = 1,
  highPct = 99,
  opts: { log?: boolean; maxSamples?: number } = {},
): [number, number] {
  const n = values.length;
  const maxSamples = opts.maxSamples ?? 65536;
  const stride = Math.max(1, Math.floor(n / maxSamples));
  const sample: number[] = [];
  for (let i = 0; i < n; i += stride) {
    const v = values[i]!;
    if (Number.isFinite(v) && (!opts.log || v > 0)) sample.push(v);
  }
  if (sample.length === 0) return [0, 1];
  sample.sort((a, b) => a - b);
  const at = (p: number) =>
    sample[Math.min(sample.length - 1, Math.max(0, Math.round((p / 100) * (sample.length - 1))))]!;
  let lo = at(lowPct);
  let hi = at(highPct);
  if (hi <= lo) {
    lo = sample[0]!;
    hi = sample[sample.length - 1]!;
    if (hi <= lo) hi = lo + (lo === 0 ? 1 : Math.abs(lo) * 1e-6);
  }
  return [lo, hi];
}

/**
 * Count `values` into `bins` equal-width bins over [min, max] (default: the finite range of
 * the values). Values outside the range and non-finite values are not counted; the maximum
 * falls into the last bin.
 */
export function histogram(
  values: ArrayLike<number>,
  bins: number,
  range?: readonly [number, number],
): Uint32Array {
  if (!Number.isSafeInteger(bins) || bins < 1) {
    throw new RangeError(`bins must be a positive integer, got ${bins}`);
  }
  let [lo, hi] = range ?? [Infinity, -Infinity];
  if (!range) {
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (!Number.isFinite(v)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  const counts = new Uint32Array(bins);
  if (!(lo <= hi)) return counts; // no finite values
  const width = hi - lo;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v) || v < lo || v > hi) continue;
    const bin = width === 0 ? 0 : Math.min(bins - 1, Math.floor(((v - lo) / width) * bins));
    counts[bin]! += 1;
  }
  return counts;
}

/** |z| and arg(z) of interleaved complex values. */
export function complexParts(
  interleaved: ArrayLike<number>,
  part: "amplitude" | "phase" | "real" | "imag",
): Float64Array {
  const n = interleaved.length / 2;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const re = interleaved[2 * i]!;
    const im = interleaved[2 * i + 1]!;
    out[i] =
      part === "amplitude"
        ? Math.hypot(re, im)
        : part === "phase"
          ? Math.atan2(im, re)
          : part === "real"
            ? re
            : im;
  }
  return out;
}
