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

export interface Histogram {
  /** bins+1 edges */
  edges: Float64Array;
  counts: Uint32Array;
}

/** Counts of finite values in `bins` equal bins over [lo, hi] (values outside are clipped in). */
export function histogram(
  values: ArrayLike<number>,
  bins: number,
  lo: number,
  hi: number,
): Histogram {
  const counts = new Uint32Array(bins);
  const edges = new Float64Array(bins + 1);
  const width = (hi - lo) / bins || 1;
  for (let b = 0; b <= bins; b++) edges[b] = lo + b * width;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) continue;
    const b = Math.min(bins - 1, Math.max(0, Math.floor((v - lo) / width)));
    counts[b]!++;
  }
  return { edges, counts };
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
