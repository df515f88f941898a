/**
 * What to read for a view: one or two displayed axes of an N-d dataset at given indices of
 * the others, downsampled with a stride so at most `maxPerAxis` values per displayed axis
 * come back. Pure; the kernel uses it for static previews, the browser for its requests.
 */
import type { AxisSelection } from "../store/reader.js";

export interface ViewSpec {
  /** Displayed axes: [axis] for a line, [rowAxis, colAxis] for an image. */
  displayAxes: number[];
  /** Index for every non-displayed axis (negative counts from the end). */
  indices: Record<number, number>;
  /** Largest number of values per displayed axis (larger extents are strided). */
  maxPerAxis: number;
  /** Optional window [start, stop) per displayed axis (zoom). */
  window?: Record<number, [number, number]>;
}

export interface ReadPlan {
  selection: AxisSelection[];
  /** Stride per displayed axis (1 = every value). */
  steps: number[];
  /** Extent of the result per displayed axis. */
  shape: number[];
}

export function planRead(shape: number[], spec: ViewSpec): ReadPlan {
  const selection: AxisSelection[] = [];
  const steps: number[] = [];
  const outShape: number[] = [];
  shape.forEach((extent, axis) => {
    if (spec.displayAxes.includes(axis)) {
      const [a, b] = spec.window?.[axis] ?? [0, extent];
      const start = Math.max(0, Math.min(extent, a));
      const stop = Math.max(start, Math.min(extent, b));
      const step = Math.max(1, Math.ceil((stop - start) / spec.maxPerAxis));
      selection.push([start, stop, step]);
      steps.push(step);
      outShape.push(Math.ceil((stop - start) / step));
    } else {
      const i = spec.indices[axis] ?? 0;
      const idx = i < 0 ? extent + i : i;
      selection.push(Math.max(0, Math.min(extent - 1, idx)));
    }
  });
  return { selection, steps, shape: outShape };
}

/** The default view of a dataset: a line for 1-d, the last two axes as an image otherwise. */
export function defaultView(shape: number[], maxPerAxis = 1024): ViewSpec {
  const rank = shape.length;
  if (rank <= 1) return { displayAxes: [0], indices: {}, maxPerAxis: Math.max(maxPerAxis, 4096) };
  const indices: Record<number, number> = {};
  for (let a = 0; a < rank - 2; a++) indices[a] = a === 0 ? -1 : 0; // newest frame first
  return { displayAxes: [rank - 2, rank - 1], indices, maxPerAxis };
}
