/**
 * VoxelView's pure helpers (no DOM): what the kernel's plane messages mean, fractional hkl
 * text, |q| and d from the B matrix, axis ticks. See kernel/src/viewers/voxelview.ts.
 */

import { fracText, qLength, type VoxelMapInfo } from "@stagelab/core/viewer";

export { fracText, qLength };
/** What the kernel's VoxelMapInfo state says about the map. */
export type MapInfo = VoxelMapInfo;

export type Axis = 0 | 1 | 2;
export type Vec3 = [number, number, number];
export type Range = [number, number];
export type Extent = [Range, Range, Range];

export const AXIS_NAMES = ["h", "k", "l"] as const;
/** The plane fixing an axis shows these axes across (x) and up (y). */
export const PLANE_AXES: Record<Axis, [Axis, Axis]> = { 0: [1, 2], 1: [0, 2], 2: [0, 1] };

/** One displayed axis: pixel p shows sub-Miller index start + p * step. */
export interface PlaneAxis {
  axis: Axis;
  start: number;
  step: number;
  count: number;
}

/** A "plane" message of the kernel (its three buffers decoded). */
export interface Plane {
  id: string;
  sequence: number;
  expand: boolean;
  fixed: Axis;
  index: number;
  x: PlaneAxis;
  y: PlaneAxis;
  intensity: Float32Array;
  sigma: Float32Array;
  nObs: Uint32Array;
}

/** A number for the readout: up to `digits` significant digits, no trailing zeros. */
export function numText(v: number, digits = 6): string {
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "-∞";
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  const abs = Math.abs(v);
  if (abs !== 0 && (abs < 1e-4 || abs >= 1e9))
    return v.toExponential(digits - 1).replace(/\.?0+e/, "e");
  return String(Number(v.toPrecision(digits)));
}

/** The sub-Miller indices [nh, nk, nl] of pixel (c, r) of a plane. */
export function pixelIndex(
  p: Pick<Plane, "fixed" | "index" | "x" | "y">,
  c: number,
  r: number,
): Vec3 {
  const n: Vec3 = [0, 0, 0];
  n[p.fixed] = p.index;
  n[p.x.axis] = p.x.start + c * p.x.step;
  n[p.y.axis] = p.y.start + r * p.y.step;
  return n;
}

/** The (fractional) pixel position of sub-Miller index n along a displayed axis. */
export function pixelOf(a: PlaneAxis, n: number): number {
  return (n - a.start) / a.step;
}

/** Clamp a position into an extent. */
export function clampPosition(p: readonly number[], extent: Extent): Vec3 {
  return [0, 1, 2].map((a) =>
    Math.min(extent[a]![1], Math.max(extent[a]![0], Math.round(Number(p[a] ?? 0)))),
  ) as Vec3;
}

/**
 * Tick values (fractional hkl) for an axis covering sub-Miller [lo, hi]: about `target` ticks at
 * a 1-2-5 step no finer than one voxel.
 */
export function ticks(lo: number, hi: number, ndiv: number, target = 5): number[] {
  const [a, b] = [Math.min(lo, hi) / ndiv, Math.max(lo, hi) / ndiv];
  const span = b - a;
  if (span <= 0) return [a];
  const raw = span / Math.max(1, target - 1);
  const p = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
  step = Math.max(step, 1 / ndiv);
  const out: number[] = [];
  for (let t = Math.ceil(a / step - 1e-9) * step; t <= b + 1e-9; t += step)
    out.push(Math.abs(t) < 1e-12 ? 0 : Number(t.toFixed(6)));
  return out;
}
