/**
 * Small charts drawn straight into RGBA pixels, for the static PNG previews of the chart
 * widgets (PrefitSnapshot, FitDashboard) that notebooks show without a kernel: line charts
 * (linear or log axes, faint and solid series, shaded x ranges, point markers), bar charts and
 * heatmaps, each with a title and tick labels in a 3 x 5 pixel font. No canvas library: the
 * kernel has none. Lay panels out with compose.ts `composeGrid` and encode with `encodePng`.
 */
import { viewer } from "@stagelab/core";
import type { RgbaPanel } from "./compose.js";

export type Rgba = readonly [number, number, number, number];

/** Series colours (Vega's category10). */
export const PALETTE: readonly Rgba[] = [
  [31, 119, 180, 255],
  [255, 127, 14, 255],
  [44, 160, 44, 255],
  [214, 39, 40, 255],
  [148, 103, 189, 255],
  [140, 86, 75, 255],
  [227, 119, 194, 255],
  [127, 127, 127, 255],
  [188, 189, 34, 255],
  [23, 190, 207, 255],
];

export interface LineSeries {
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  color: Rgba;
  /** Drawn at 35 % opacity, one pixel wide (raw values under a smoothed line). */
  faint?: boolean;
}

export interface LineChart {
  title: string;
  width: number;
  height: number;
  series: LineSeries[];
  /** x ranges shaded grey (masked pixels). */
  bands?: [number, number][];
  xDomain?: [number, number];
  yDomain?: [number, number];
  xLog?: boolean;
  yLog?: boolean;
  /** Diamonds at data coordinates (best-so-far markers). */
  markers?: { x: number; y: number; color: Rgba }[];
}

const GLYPHS: Record<string, string> = {
  "0": "111101101101111",
  "1": "010110010010111",
  "2": "111001111100111",
  "3": "111001111001111",
  "4": "101101111001001",
  "5": "111100111001111",
  "6": "111100111101111",
  "7": "111001001010010",
  "8": "111101111101111",
  "9": "111101111001111",
  A: "010101111101101",
  B: "110101110101110",
  C: "011100100100011",
  D: "110101101101110",
  E: "111100110100111",
  F: "111100110100100",
  G: "011100101101011",
  H: "101101111101101",
  I: "111010010010111",
  J: "001001001101010",
  K: "101101110101101",
  L: "100100100100111",
  M: "101111111101101",
  N: "110101101101101",
  O: "010101101101010",
  P: "110101110100100",
  Q: "010101101111011",
  R: "110101110101101",
  S: "011100010001110",
  T: "111010010010010",
  U: "101101101101111",
  V: "101101101101010",
  W: "101101111111101",
  X: "101101010101101",
  Y: "101101010010010",
  Z: "111001010100111",
  ".": "000000000000010",
  ",": "000000000010100",
  "-": "000000111000000",
  "+": "000010111010000",
  ":": "000010000010000",
  "/": "001001010100100",
  "(": "001010010010001",
  ")": "100010010010100",
  "[": "011010010010011",
  "]": "110010010010110",
  "=": "000111000111000",
  _: "000000000000111",
  "%": "101001010100101",
  "*": "000101010101000",
  "<": "001010100010001",
  ">": "100010001010100",
  "|": "010010010010010",
  "'": "010010000000000",
  '"': "101101000000000",
  "#": "101111101111101",
  "?": "111001010000010",
  " ": "000000000000000",
};

const TEXT_SCALE = 2;
/** Width of one character on screen, spacing included. */
export const CHAR_W = 4 * TEXT_SCALE;
const CHAR_H = 5 * TEXT_SCALE;

class Canvas {
  readonly rgba: Uint8ClampedArray;

  constructor(
    readonly width: number,
    readonly height: number,
    background: Rgba = [255, 255, 255, 255],
  ) {
    this.rgba = new Uint8ClampedArray(width * height * 4);
    for (let i = 0; i < width * height; i++) this.rgba.set(background, 4 * i);
  }

  /** Blend `color` (its alpha times `alpha`) over pixel (x, y). */
  blend(x: number, y: number, color: Rgba, alpha = 1): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const i = 4 * (Math.floor(y) * this.width + Math.floor(x));
    const a = (color[3] / 255) * alpha;
    for (let ch = 0; ch < 3; ch++)
      this.rgba[i + ch] = this.rgba[i + ch]! * (1 - a) + color[ch]! * a;
    this.rgba[i + 3] = 255;
  }

  rect(x0: number, y0: number, x1: number, y1: number, color: Rgba, alpha = 1): void {
    for (let y = Math.max(0, Math.round(y0)); y < Math.min(this.height, Math.round(y1)); y++)
      for (let x = Math.max(0, Math.round(x0)); x < Math.min(this.width, Math.round(x1)); x++)
        this.blend(x, y, color, alpha);
  }

  /** A line from (x0, y0) to (x1, y1) (Bresenham), `width` 1 or 2 pixels, kept inside `clip`. */
  line(
    x0: number,
    y0: number,
    x1: number,
    y1: number,
    color: Rgba,
    alpha: number,
    width: number,
    clip: [number, number, number, number],
  ): void {
    let [ax, ay] = [Math.round(x0), Math.round(y0)];
    const [bx, by] = [Math.round(x1), Math.round(y1)];
    const dx = Math.abs(bx - ax);
    const dy = -Math.abs(by - ay);
    const sx = ax < bx ? 1 : -1;
    const sy = ay < by ? 1 : -1;
    let err = dx + dy;
    const [cx0, cy0, cx1, cy1] = clip;
    // A segment far outside (a huge value on a linear axis): skip rather than walk it.
    if (Math.max(dx, -dy) > 20000) return;
    for (;;) {
      for (let w = 0; w < width; w++) {
        const px = ax + (dx < -dy ? w : 0);
        const py = ay + (dx < -dy ? 0 : w);
        if (px >= cx0 && px <= cx1 && py >= cy0 && py <= cy1) this.blend(px, py, color, alpha);
      }
      if (ax === bx && ay === by) break;
      const e2 = 2 * err;
      if (e2 >= dy) {
        err += dy;
        ax += sx;
      }
      if (e2 <= dx) {
        err += dx;
        ay += sy;
      }
    }
  }

  /** Text in the 3 x 5 font (upper case), top-left at (x, y); clipped to `maxWidth`. */
  text(x: number, y: number, s: string, color: Rgba, maxWidth = Infinity): void {
    const chars = Math.max(0, Math.floor(maxWidth / CHAR_W));
    let shown = s.toUpperCase();
    if (shown.length > chars) shown = shown.slice(0, Math.max(0, chars - 1)) + (chars ? "." : "");
    [...shown].forEach((ch, k) => {
      const g = GLYPHS[ch] ?? GLYPHS["?"]!;
      for (let r = 0; r < 5; r++)
        for (let c = 0; c < 3; c++)
          if (g[r * 3 + c] === "1")
            this.rect(
              x + k * CHAR_W + c * TEXT_SCALE,
              y + r * TEXT_SCALE,
              x + k * CHAR_W + (c + 1) * TEXT_SCALE,
              y + (r + 1) * TEXT_SCALE,
              color,
            );
    });
  }

  panel(): RgbaPanel {
    return { rgba: this.rgba, cols: this.width, rows: this.height };
  }
}

/** A number in at most ~8 characters: 3 significant digits, exponent form when large or small. */
export function tickText(v: number): string {
  if (v === 0) return "0";
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(1).replace("e+", "e");
  return String(Number(v.toPrecision(3)));
}

/** About `n` round tick values in [lo, hi]. */
export function niceTicks(lo: number, hi: number, n = 4): number[] {
  if (!(hi > lo)) return Number.isFinite(lo) ? [lo] : [];
  const raw = (hi - lo) / Math.max(1, n);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step)
    out.push(Math.abs(t) < step * 1e-9 ? 0 : Number(t.toPrecision(12)));
  return out;
}

/** [min, max] of the finite values (of positive ones for a log axis); undefined when none. */
function extent(arrays: ArrayLike<number>[], log: boolean): [number, number] | undefined {
  let lo = Infinity;
  let hi = -Infinity;
  for (const a of arrays)
    for (let i = 0; i < a.length; i++) {
      const v = a[i]!;
      if (!Number.isFinite(v) || (log && v <= 0)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  return lo <= hi ? [lo, hi] : undefined;
}

interface Axis {
  log: boolean;
  lo: number;
  hi: number;
  /** Pixel of a data value (NaN when it cannot be shown). */
  at(v: number): number;
  ticks: number[];
}

function axis(domain: [number, number], log: boolean, p0: number, p1: number): Axis {
  // A log axis needs a positive domain (a series with no positive value has none).
  const d: [number, number] = log && !(domain[0] > 0 && domain[1] > 0) ? [1, 10] : domain;
  let [lo, hi] = log ? [Math.log10(d[0]), Math.log10(d[1])] : d;
  if (!(hi > lo))
    [lo, hi] =
      lo === 0 || log ? [lo - 1, hi + 1] : [lo - Math.abs(lo) * 0.1, hi + Math.abs(hi) * 0.1];
  const at = (v: number) => {
    const u = log ? (v > 0 ? Math.log10(v) : NaN) : v;
    return p0 + ((u - lo) / (hi - lo)) * (p1 - p0);
  };
  let ticks: number[];
  if (log) {
    const decades: number[] = [];
    for (let e = Math.ceil(lo - 1e-9); e <= Math.floor(hi + 1e-9); e++) decades.push(10 ** e);
    ticks = decades.length >= 2 ? decades : niceTicks(10 ** lo, 10 ** hi, 3).filter((t) => t > 0);
  } else ticks = niceTicks(lo, hi);
  return { log, lo, hi, at, ticks };
}

const INK: Rgba = [60, 60, 60, 255];
const FRAME: Rgba = [170, 170, 170, 255];

/** The frame of a chart: title, plot rectangle, axes with tick labels. */
function frame(
  cv: Canvas,
  title: string,
  x: Axis | undefined,
  y: Axis,
  plot: [number, number, number, number],
): void {
  const [l, t, r, b] = plot;
  cv.text(4, 3, title, INK, cv.width - 8);
  cv.line(l, t, l, b, FRAME, 1, 1, [0, 0, cv.width, cv.height]);
  cv.line(l, b, r, b, FRAME, 1, 1, [0, 0, cv.width, cv.height]);
  for (const v of y.ticks) {
    const py = y.at(v);
    if (!(py >= t - 0.5 && py <= b + 0.5)) continue;
    cv.line(l - 3, py, l, py, FRAME, 1, 1, [0, 0, cv.width, cv.height]);
    cv.line(l + 1, py, r, py, [225, 225, 225, 255], 1, 1, [0, 0, cv.width, cv.height]);
    const s = tickText(v);
    cv.text(Math.max(0, l - 5 - s.length * CHAR_W), py - CHAR_H / 2, s, INK);
  }
  if (!x) return;
  let lastEnd = -Infinity;
  for (const v of x.ticks) {
    const px = x.at(v);
    if (!(px >= l - 0.5 && px <= r + 0.5)) continue;
    cv.line(px, b, px, b + 3, FRAME, 1, 1, [0, 0, cv.width, cv.height]);
    const s = tickText(v);
    const x0 = Math.min(cv.width - s.length * CHAR_W, Math.max(0, px - (s.length * CHAR_W) / 2));
    if (x0 < lastEnd + CHAR_W) continue; // labels must not overlap
    cv.text(x0, b + 6, s, INK);
    lastEnd = x0 + s.length * CHAR_W;
  }
}

const MARGIN = { left: 60, right: 10, top: 18, bottom: 22 };

/** The plot area [left, top, right, bottom] of a chart `width` x `height` (inside MARGIN). */
function plotArea(width: number, height: number): [number, number, number, number] {
  return [MARGIN.left, MARGIN.top, width - MARGIN.right, height - MARGIN.bottom];
}

/** A line chart (NaN and, on log axes, non-positive values are left out). */
export function lineChart(c: LineChart): RgbaPanel {
  const cv = new Canvas(c.width, c.height);
  const plot = plotArea(c.width, c.height);
  const xLog = c.xLog ?? false;
  const yLog = c.yLog ?? false;
  const xd = c.xDomain ??
    extent(
      c.series.map((s) => s.x),
      xLog,
    ) ?? [0, 1];
  const yd = c.yDomain ??
    extent(
      c.series.map((s) => s.y),
      yLog,
    ) ?? [0, 1];
  const x = axis(xd, xLog, plot[0], plot[2]);
  const y = axis(yd, yLog, plot[3], plot[1]);
  for (const [a, b] of c.bands ?? [])
    cv.rect(
      Math.min(x.at(a), x.at(b)),
      plot[1],
      Math.max(x.at(a), x.at(b)),
      plot[3],
      [120, 120, 120, 255],
      0.18,
    );
  frame(cv, c.title, x, y, plot);
  const clip: [number, number, number, number] = [plot[0] + 1, plot[1], plot[2], plot[3] - 1];
  for (const s of c.series) {
    const alpha = s.faint ? 0.35 : 1;
    const width = s.faint ? 1 : 2;
    let prev: [number, number] | undefined;
    const n = Math.min(s.x.length, s.y.length);
    for (let i = 0; i < n; i++) {
      const px = x.at(s.x[i]!);
      const py = y.at(s.y[i]!);
      // Values that cannot be shown are left out; the line joins the ones around them.
      if (!Number.isFinite(px) || !Number.isFinite(py)) continue;
      if (prev) cv.line(prev[0], prev[1], px, py, s.color, alpha, width, clip);
      else cv.line(px, py, px, py, s.color, alpha, width, clip);
      prev = [px, py];
    }
  }
  for (const m of c.markers ?? []) {
    const [px, py] = [x.at(m.x), y.at(m.y)];
    if (!Number.isFinite(px) || !Number.isFinite(py)) continue;
    for (let dy = -5; dy <= 5; dy++)
      for (let dx = -5 + Math.abs(dy); dx <= 5 - Math.abs(dy); dx++)
        cv.blend(
          Math.round(px) + dx,
          Math.round(py) + dy,
          Math.abs(dx) + Math.abs(dy) >= 4 ? INK : m.color,
        );
  }
  return cv.panel();
}

/** A bar chart of `values` labelled below (from 0 to the largest value). */
export function barChart(c: {
  title: string;
  width: number;
  height: number;
  labels: string[];
  values: ArrayLike<number>;
  color?: Rgba;
}): RgbaPanel {
  const cv = new Canvas(c.width, c.height);
  const plot = plotArea(c.width, c.height);
  const finite = Array.from(c.values).filter(Number.isFinite);
  const y = axis([Math.min(0, ...finite), Math.max(0, ...finite) || 1], false, plot[3], plot[1]);
  frame(cv, c.title, undefined, y, plot);
  const n = c.values.length;
  const slot = (plot[2] - plot[0]) / Math.max(1, n);
  for (let i = 0; i < n; i++) {
    const v = c.values[i]!;
    const x0 = plot[0] + i * slot + slot * 0.15;
    const x1 = plot[0] + (i + 1) * slot - slot * 0.15;
    if (Number.isFinite(v))
      cv.rect(
        x0,
        Math.min(y.at(v), y.at(0)),
        x1,
        Math.max(y.at(v), y.at(0)),
        c.color ?? PALETTE[0]!,
      );
    const s = c.labels[i] ?? String(i);
    cv.text((x0 + x1) / 2 - (s.length * CHAR_W) / 2, plot[3] + 6, s, INK, slot + CHAR_W);
  }
  return cv.panel();
}

/** A rows x cols heatmap (viridis, min..max of the finite values) under a title. */
export function heatmap(c: {
  title: string;
  width: number;
  height: number;
  values: ArrayLike<number>;
  rows: number;
  cols: number;
}): RgbaPanel {
  const cv = new Canvas(c.width, c.height);
  cv.text(4, 3, c.title, INK, c.width - 8);
  const finite = Array.from(c.values).filter(Number.isFinite);
  const lo = finite.length ? Math.min(...finite) : 0;
  let hi = finite.length ? Math.max(...finite) : 1;
  if (!(hi > lo)) hi = lo + 1;
  const rgba = viewer.applyColormap(Float64Array.from(c.values), { colormap: "viridis", lo, hi });
  const top = MARGIN.top;
  const cell = Math.max(
    1,
    Math.floor(
      Math.min((c.width - 16) / Math.max(1, c.cols), (c.height - top - 4) / Math.max(1, c.rows)),
    ),
  );
  for (let r = 0; r < c.rows; r++)
    for (let k = 0; k < c.cols; k++) {
      const i = 4 * (r * c.cols + k);
      cv.rect(8 + k * cell, top + r * cell, 8 + (k + 1) * cell, top + (r + 1) * cell, [
        rgba[i]!,
        rgba[i + 1]!,
        rgba[i + 2]!,
        255,
      ]);
    }
  return cv.panel();
}
