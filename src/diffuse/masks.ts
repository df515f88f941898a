/**
 * Pixel masks of the stills plan (Modules 1.S.2 and 1.S.3), one Uint8Array per panel,
 * slow-major (index = slow * nFast + fast).
 *
 * Polarity follows dxtbx: in a `PixelMask` 1 means "usable". A `BraggMask` is the opposite
 * kind of thing, 1 = "inside a Bragg peak", so that `totalMask = pixelMask AND NOT braggMask`
 * reads exactly like the plan's `Mask_total_2D_i`.
 */
import type { Detector, Panel, Vec3 } from "../geometry/models.js";
import { DiffuseInputError } from "./errors.js";

/** Per panel, 1 = usable pixel. */
export type PixelMask = Uint8Array[];
/** Per panel, 1 = pixel inside a Bragg peak of this still. */
export type BraggMask = Uint8Array[];

/** A region to exclude. Pixel coordinates are [start, end) in pixels; mm are lab-frame. */
export type MaskRegion =
  | { kind: "rect"; panel: number; fast: [number, number]; slow: [number, number] }
  | { kind: "circle"; panel: number; centerFastPx: number; centerSlowPx: number; radiusPx: number }
  /**
   * A beamstop's shadow: every pixel within `radiusMm` of the direct beam's spot on the
   * detector, plus an optional holder arm of `armWidthMm` running from the beam spot along
   * the lab-frame direction `armDirection` (projected onto each panel).
   */
  | { kind: "beamstop"; radiusMm: number; armWidthMm?: number; armDirection?: Vec3 };

export interface StaticMaskOptions {
  /** One representative still (raw values per panel) for the trusted-range test. */
  trustedRangeFrom?: Float64Array[];
  regions?: MaskRegion[];
  /** Beam direction towards the source (for the beamstop); defaults to -z (dxtbx's usual beam, s0 along -z). */
  directionToSource?: Vec3;
}

function panelSize(p: Panel): number {
  return p.imageSize[0] * p.imageSize[1];
}

function checkPanels(detector: Detector, arrays: ArrayLike<number>[] | undefined, what: string) {
  if (!arrays) return;
  if (arrays.length !== detector.panels.length)
    throw new DiffuseInputError(
      `${what} has ${arrays.length} panels but the detector has ${detector.panels.length}`,
    );
  detector.panels.forEach((p, i) => {
    if (arrays[i]!.length !== panelSize(p))
      throw new DiffuseInputError(
        `${what} panel ${i} has ${arrays[i]!.length} pixels but the panel is ` +
          `${p.imageSize[0]} x ${p.imageSize[1]} = ${panelSize(p)}`,
      );
  });
}

/**
 * The static mask: trusted range (dxtbx's rule: usable when min < value < max; NaN is
 * untrusted), beamstop, user rectangles and circles. Panel gaps of a multi-panel detector
 * hold no pixels, so they need no mask; gaps inside one raw panel are user rectangles.
 */
export function staticMask(detector: Detector, opts: StaticMaskOptions = {}): PixelMask {
  checkPanels(detector, opts.trustedRangeFrom, "trustedRangeFrom");
  const masks = detector.panels.map((p, i) => {
    const m = new Uint8Array(panelSize(p)).fill(1);
    const raw = opts.trustedRangeFrom?.[i];
    if (raw) {
      const [lo, hi] = p.trustedRange;
      for (let k = 0; k < m.length; k++) {
        const v = raw[k]!;
        if (!(v > lo && v < hi)) m[k] = 0;
      }
    }
    return m;
  });
  for (const region of opts.regions ?? []) {
    if (region.kind === "beamstop") {
      detector.panels.forEach((p, i) =>
        maskBeamstop(p, masks[i]!, region, opts.directionToSource ?? [0, 0, 1]),
      );
      continue;
    }
    const p = detector.panels[region.panel];
    if (!p)
      throw new DiffuseInputError(
        `mask region names panel ${region.panel}, detector has ${detector.panels.length}`,
      );
    const [nFast, nSlow] = p.imageSize;
    const m = masks[region.panel]!;
    if (region.kind === "rect") {
      const f0 = Math.max(0, region.fast[0]),
        f1 = Math.min(nFast, region.fast[1]);
      const s0 = Math.max(0, region.slow[0]),
        s1 = Math.min(nSlow, region.slow[1]);
      for (let s = s0; s < s1; s++) m.fill(0, s * nFast + f0, s * nFast + Math.max(f0, f1));
    } else {
      const r2 = region.radiusPx ** 2;
      for (let s = 0; s < nSlow; s++)
        for (let f = 0; f < nFast; f++)
          if ((f + 0.5 - region.centerFastPx) ** 2 + (s + 0.5 - region.centerSlowPx) ** 2 <= r2)
            m[s * nFast + f] = 0;
    }
  }
  return masks;
}

/** Masks a panel's pixels in the beamstop shadow, measured in the panel plane (mm). */
function maskBeamstop(
  p: Panel,
  m: Uint8Array,
  region: Extract<MaskRegion, { kind: "beamstop" }>,
  directionToSource: Vec3,
) {
  const [fx, fy, fz] = p.fastAxis;
  const [sx, sy, sz] = p.slowAxis;
  const [ox, oy, oz] = p.originMm;
  // The direct beam travels along -directionToSource from the sample at the origin;
  // intersect it with the panel plane (normal n = fast x slow).
  const nx = fy * sz - fz * sy,
    ny = fz * sx - fx * sz,
    nz = fx * sy - fy * sx;
  const [bx, by, bz] = [-directionToSource[0], -directionToSource[1], -directionToSource[2]];
  const denom = nx * bx + ny * by + nz * bz;
  if (Math.abs(denom) < 1e-12) return; // beam parallel to the panel: it never reaches it
  const t = (nx * ox + ny * oy + nz * oz) / denom;
  if (t <= 0) return;
  // Beam spot in the panel's own (fast, slow) mm coordinates.
  const dx = t * bx - ox,
    dy = t * by - oy,
    dz = t * bz - oz;
  const cF = dx * fx + dy * fy + dz * fz;
  const cS = dx * sx + dy * sy + dz * sz;
  let armF = 0,
    armS = 0;
  const armHalf = (region.armWidthMm ?? 0) / 2;
  if (armHalf > 0) {
    const a = region.armDirection ?? [0, 1, 0];
    armF = a[0] * fx + a[1] * fy + a[2] * fz;
    armS = a[0] * sx + a[1] * sy + a[2] * sz;
    const len = Math.hypot(armF, armS);
    if (len < 1e-12) armF = armS = 0;
    else [armF, armS] = [armF / len, armS / len];
  }
  const [nFast, nSlow] = p.imageSize;
  const [pf, ps] = p.pixelSizeMm;
  const r2 = region.radiusMm ** 2;
  for (let s = 0; s < nSlow; s++) {
    const v = (s + 0.5) * ps - cS;
    for (let f = 0; f < nFast; f++) {
      const u = (f + 0.5) * pf - cF;
      let hit = u * u + v * v <= r2;
      if (!hit && armHalf > 0) {
        const along = u * armF + v * armS;
        hit = along > 0 && Math.abs(u * armS - v * armF) <= armHalf;
      }
      if (hit) m[s * nFast + f] = 0;
    }
  }
}

export interface DynamicMaskOptions {
  /**
   * A pixel is anomalous on a still when its value is NaN, negative, above
   * `hotFactor` x the panel's median (and above `hotMinCounts`), or below
   * `coldFactor` x the median while that median is at least `coldMinMedian`.
   */
  hotFactor?: number;
  hotMinCounts?: number;
  coldFactor?: number;
  coldMinMedian?: number;
  /**
   * Fraction of stills on which a pixel must be anomalous to be masked. 0 masks a pixel
   * anomalous on any still: the plain OR of the per-still masks the plan describes; the
   * default 0.5 keeps pixels that a moving Bragg peak or one cosmic ray lit once.
   */
  minFraction?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface DynamicMaskResult {
  mask: PixelMask;
  /** Per panel, on how many stills each pixel was anomalous. */
  anomalousCount: Uint16Array[];
  stills: number;
}

/** Median of a strided sample of finite values (robust panel level, cheap). */
function sampledMedian(raw: Float64Array): number {
  const stride = Math.max(1, Math.floor(raw.length / 20011));
  const sample: number[] = [];
  for (let k = 0; k < raw.length; k += stride) {
    const v = raw[k]!;
    if (Number.isFinite(v) && v >= 0) sample.push(v);
  }
  if (sample.length === 0) return 0;
  sample.sort((a, b) => a - b);
  return sample[sample.length >> 1]!;
}

/**
 * The dynamic mask: pixels that are anomalous across many stills (hot, cold/dead,
 * negative, NaN). Stills stream through one at a time, so memory is one counter per pixel.
 */
export async function dynamicMask(
  detector: Detector,
  stills: Iterable<Float64Array[]> | AsyncIterable<Float64Array[]>,
  opts: DynamicMaskOptions = {},
): Promise<DynamicMaskResult> {
  const hotFactor = opts.hotFactor ?? 20;
  const hotMinCounts = opts.hotMinCounts ?? 100;
  const coldFactor = opts.coldFactor ?? 0.05;
  const coldMinMedian = opts.coldMinMedian ?? 10;
  const minFraction = opts.minFraction ?? 0.5;
  const counts = detector.panels.map((p) => new Uint16Array(panelSize(p)));
  let n = 0;
  for await (const still of stills) {
    if (opts.signal?.aborted) throw opts.signal.reason ?? new Error("aborted");
    checkPanels(detector, still, `still ${n}`);
    still.forEach((raw, i) => {
      const med = sampledMedian(raw);
      const hot = Math.max(hotFactor * med, hotMinCounts);
      const cold = med >= coldMinMedian ? coldFactor * med : -Infinity;
      const c = counts[i]!;
      for (let k = 0; k < raw.length; k++) {
        const v = raw[k]!;
        // NaN fails every comparison, so it is caught by the negated test.
        if (!(v >= 0 && v <= hot && v >= cold)) c[k]!++;
      }
    });
    n++;
    opts.onProgress?.(n, n);
  }
  if (n === 0) throw new DiffuseInputError("dynamicMask needs at least one still");
  const need = Math.max(1, Math.ceil(minFraction * n - 1e-9));
  const mask = counts.map((c) => {
    const m = new Uint8Array(c.length);
    for (let k = 0; k < c.length; k++) m[k] = c[k]! >= need ? 0 : 1;
    return m;
  });
  return { mask, anomalousCount: counts, stills: n };
}

/** Logical AND of pixel masks (static AND dynamic, as Module 1.S.2 step 3). */
export function andMasks(...masks: PixelMask[]): PixelMask {
  const [first, ...rest] = masks;
  if (!first) throw new DiffuseInputError("andMasks needs at least one mask");
  return first.map((m, i) => {
    const out = Uint8Array.from(m);
    for (const other of rest) {
      const o = other[i];
      if (!o || o.length !== out.length)
        throw new DiffuseInputError(`masks differ in shape at panel ${i}`);
      for (let k = 0; k < out.length; k++) out[k] = out[k]! & o[k]!;
    }
    return out;
  });
}

/** `Mask_total_2D_i = Mask_pixel AND NOT BraggMask_2D_raw_i` (Module 1.S.3 step 2). */
export function totalMask(pixelMask: PixelMask, braggMask: BraggMask): PixelMask {
  if (pixelMask.length !== braggMask.length)
    throw new DiffuseInputError(
      `pixel mask has ${pixelMask.length} panels, Bragg mask ${braggMask.length}`,
    );
  return pixelMask.map((m, i) => {
    const b = braggMask[i]!;
    if (b.length !== m.length) throw new DiffuseInputError(`masks differ in shape at panel ${i}`);
    const out = new Uint8Array(m.length);
    for (let k = 0; k < m.length; k++) out[k] = m[k]! & (b[k]! ^ 1);
    return out;
  });
}

/** Number of usable pixels in a mask. */
export function countUsable(mask: PixelMask): number {
  let n = 0;
  for (const m of mask) for (let k = 0; k < m.length; k++) n += m[k]!;
  return n;
}
