/**
 * A picture of a multi-panel detector as the sample sees it: every panel drawn at its place
 * (gaps, tilts and all) by projecting onto a virtual flat screen normal to the beam, with
 * masks as coloured overlays. For notebooks: `display.png(detectorPng(...))`.
 */
import type { Detector } from "../geometry/models.js";
import { rayIntersectionPx } from "../geometry/panel.js";
import { applyColormap, type ColormapName } from "../viewer/colormap.js";
import { percentileLimits } from "../viewer/stats.js";
import { encodePng } from "../viewer/png.js";
import type { PixelMask, BraggMask } from "./masks.js";

export interface DetectorViewOptions {
  /** Pixels the mask rejects (0) are tinted red. */
  mask?: PixelMask;
  /** Pixels inside Bragg peaks (1) are tinted cyan. */
  bragg?: BraggMask;
  colormap?: ColormapName;
  log?: boolean;
  limits?: [number, number];
  /** Output width in pixels (height follows the detector's aspect). */
  widthPx?: number;
}

export interface DetectorView {
  rgba: Uint8ClampedArray;
  width: number;
  height: number;
}

/** Renders per-panel values (slow-major, one array per panel). */
export function renderDetector(
  detector: Detector,
  values: ArrayLike<number>[],
  opts: DetectorViewOptions = {},
): DetectorView {
  // Screen: the plane z = -distance through the mean panel centre, in lab x (right) and y (up).
  let zSum = 0;
  let [xMin, xMax, yMin, yMax] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const p of detector.panels) {
    const [nF, nS] = p.imageSize;
    for (const [f, s] of [
      [0, 0],
      [nF, 0],
      [0, nS],
      [nF, nS],
    ] as const) {
      const x =
        p.originMm[0] + f * p.pixelSizeMm[0] * p.fastAxis[0] + s * p.pixelSizeMm[1] * p.slowAxis[0];
      const y =
        p.originMm[1] + f * p.pixelSizeMm[0] * p.fastAxis[1] + s * p.pixelSizeMm[1] * p.slowAxis[1];
      const z =
        p.originMm[2] + f * p.pixelSizeMm[0] * p.fastAxis[2] + s * p.pixelSizeMm[1] * p.slowAxis[2];
      // Project the corner onto the screen along its ray from the sample.
      zSum += z;
      const scale = 1 / Math.abs(z || 1e-9);
      [xMin, xMax] = [Math.min(xMin, x * scale), Math.max(xMax, x * scale)];
      [yMin, yMax] = [Math.min(yMin, y * scale), Math.max(yMax, y * scale)];
    }
  }
  const zScreen = zSum / (4 * detector.panels.length);
  const width = Math.max(16, Math.round(opts.widthPx ?? 600));
  const height = Math.max(16, Math.round((width * (yMax - yMin)) / Math.max(xMax - xMin, 1e-12)));
  const n = width * height;
  const sampled = new Float64Array(n).fill(NaN);
  const state = new Uint8Array(n); // 0 no pixel, 1 good, 2 masked, 3 Bragg
  const dz = Math.abs(zScreen);
  for (let row = 0; row < height; row++) {
    const ty = yMax - ((row + 0.5) / height) * (yMax - yMin);
    for (let col = 0; col < width; col++) {
      const tx = xMin + ((col + 0.5) / width) * (xMax - xMin);
      const dir = [tx * dz, ty * dz, zScreen] as const;
      for (let pi = 0; pi < detector.panels.length; pi++) {
        const p = detector.panels[pi]!;
        const hit = rayIntersectionPx(p, dir);
        if (!hit) continue;
        const f = Math.floor(hit[0]),
          s = Math.floor(hit[1]);
        if (f < 0 || s < 0 || f >= p.imageSize[0] || s >= p.imageSize[1]) continue;
        const k = s * p.imageSize[0] + f,
          o = row * width + col;
        sampled[o] = values[pi]![k]!;
        state[o] = opts.bragg?.[pi]?.[k] ? 3 : opts.mask && !opts.mask[pi]?.[k] ? 2 : 1;
        break;
      }
    }
  }
  const good: number[] = [];
  for (let o = 0; o < n; o++) if (state[o] === 1) good.push(sampled[o]!);
  const [lo, hi] = opts.limits ?? percentileLimits(good, 1, 99, { log: opts.log ?? false });
  const rgba = applyColormap(sampled, {
    colormap: opts.colormap ?? "viridis",
    lo,
    hi,
    log: opts.log ?? false,
  });
  for (let o = 0; o < n; o++) {
    const st = state[o]!;
    if (st === 0) {
      rgba.set([255, 255, 255, 255], 4 * o);
    } else if (st === 2) {
      rgba.set(
        [
          Math.min(255, rgba[4 * o]! * 0.4 + 150),
          rgba[4 * o + 1]! * 0.4,
          rgba[4 * o + 2]! * 0.4,
          255,
        ],
        4 * o,
      );
    } else if (st === 3) {
      rgba.set(
        [
          rgba[4 * o]! * 0.3,
          Math.min(255, rgba[4 * o + 1]! * 0.3 + 180),
          Math.min(255, rgba[4 * o + 2]! * 0.3 + 180),
          255,
        ],
        4 * o,
      );
    } else rgba[4 * o + 3] = 255;
  }
  return { rgba, width, height };
}

/** The same picture as PNG bytes. */
export function detectorPng(
  detector: Detector,
  values: ArrayLike<number>[],
  opts: DetectorViewOptions = {},
): Uint8Array {
  const v = renderDetector(detector, values, opts);
  return encodePng(v.rgba, v.width, v.height);
}
