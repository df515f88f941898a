/**
 * Colormaps for images of array data, shared by the browser views (in a web worker) and the
 * kernel's static PNG fallbacks. Pure, no DOM or Node APIs.
 *
 * viridis and magma use the degree-6 polynomial fits of the matplotlib maps (Matt Zucker's,
 * CC0), within 6/255 of matplotlib's tables (tested at the quartiles); gray is linear; coolwarm is Moreland's diverging map
 * through a few of his published control points. twilight is cyclic (for phases: its two ends
 * are one colour), piecewise linear through matplotlib's twilight at every eighth.
 */

export type ColormapName = "viridis" | "magma" | "gray" | "coolwarm" | "twilight";
/** The maps offered for magnitudes (sequential and diverging). */
export const COLORMAPS: readonly ColormapName[] = ["viridis", "magma", "gray", "coolwarm"];
/** Diverging maps centre on zero by default. */
export const DIVERGING: ReadonlySet<ColormapName> = new Set(["coolwarm"]);
/** Cyclic maps (first colour = last colour), for angles such as the phase of complex values. */
export const CYCLIC: readonly ColormapName[] = ["twilight"];

type Poly = [number, number, number][];

const VIRIDIS: Poly = [
  [0.2777273272234177, 0.005407344544966578, 0.3340998053353061],
  [0.1050930431085774, 1.404613529898575, 1.384590162594685],
  [-0.3308618287255563, 0.214847559468213, 0.09509516302823659],
  [-4.634230498983486, -5.799100973351585, -19.33244095627987],
  [6.228269936347081, 14.17993336680509, 56.69055260068105],
  [4.776384997670288, -13.74514537774601, -65.35303263337234],
  [-5.435455855934631, 4.645852612178535, 26.3124352495832],
];

const MAGMA: Poly = [
  [-0.002136485053939582, -0.000749655052795221, -0.005386127855323933],
  [0.2516605407371642, 0.6775232436837668, 2.494026599312351],
  [8.353717279216625, -3.577719514958484, 0.3144679030132573],
  [-27.66873308576866, 14.26473078096533, -13.64921318813922],
  [52.17613981234068, -27.94360607168351, 12.94416944238394],
  [-50.76852536473588, 29.04658282127291, 4.23415299384598],
  [18.65570506591883, -11.48977351997711, -5.601961508734096],
];

/** Moreland (2009) cool-warm, control points in sRGB 0-255. */
const COOLWARM: [number, number, number, number][] = [
  [0.0, 59, 76, 192],
  [0.125, 98, 130, 234],
  [0.25, 141, 176, 254],
  [0.375, 184, 208, 249],
  [0.5, 221, 221, 221],
  [0.625, 245, 196, 173],
  [0.75, 244, 154, 123],
  [0.875, 222, 96, 77],
  [1.0, 180, 4, 38],
];

/** matplotlib's twilight at 0, 1/8, ..., 1 (its 510-entry table, rounded to sRGB 0-255). */
const TWILIGHT: [number, number, number, number][] = [
  [0.0, 226, 217, 226],
  [0.125, 146, 179, 198],
  [0.25, 98, 117, 186],
  [0.375, 89, 41, 142],
  [0.5, 48, 20, 54],
  [0.625, 117, 30, 79],
  [0.75, 179, 87, 82],
  [0.875, 204, 163, 137],
  [1.0, 226, 217, 226],
];

function polyColor(p: Poly, t: number): [number, number, number] {
  const out: [number, number, number] = [0, 0, 0];
  for (let c = 0; c < 3; c++) {
    let v = 0;
    for (let k = p.length - 1; k >= 0; k--) v = v * t + p[k]![c]!;
    out[c] = Math.round(Math.min(1, Math.max(0, v)) * 255);
  }
  return out;
}

function piecewise(
  points: [number, number, number, number][],
  t: number,
): [number, number, number] {
  for (let i = 1; i < points.length; i++) {
    const [t1, ...c1] = points[i]!;
    if (t <= t1 || i === points.length - 1) {
      const [t0, ...c0] = points[i - 1]!;
      const f = (t - t0) / (t1 - t0);
      return [0, 1, 2].map((c) => Math.round(c0[c]! + f * (c1[c]! - c0[c]!))) as [
        number,
        number,
        number,
      ];
    }
  }
  return [0, 0, 0];
}

const cache = new Map<ColormapName, Uint8Array>();

/** A 256-entry RGB lookup table (768 bytes). */
export function colormapLut(name: ColormapName): Uint8Array {
  let lut = cache.get(name);
  if (lut) return lut;
  lut = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = i / 255;
    const rgb =
      name === "viridis"
        ? polyColor(VIRIDIS, t)
        : name === "magma"
          ? polyColor(MAGMA, t)
          : name === "coolwarm"
            ? piecewise(COOLWARM, t)
            : name === "twilight"
              ? piecewise(TWILIGHT, t)
              : ([i, i, i] as [number, number, number]);
    lut.set(rgb, i * 3);
  }
  cache.set(name, lut);
  return lut;
}

export interface ColorScale {
  colormap: ColormapName;
  /** Values at and below `lo` get the first color, at and above `hi` the last. */
  lo: number;
  hi: number;
  /** Map log10(value) instead of value (non-positive values get the first color). */
  log?: boolean;
}

/** RGBA pixels (row-major, 4 bytes per value) for `values`; NaN is transparent. */
export function applyColormap(
  values: ArrayLike<number>,
  scale: ColorScale,
  out?: Uint8ClampedArray,
): Uint8ClampedArray {
  const n = values.length;
  const rgba = out ?? new Uint8ClampedArray(n * 4);
  const lut = colormapLut(scale.colormap);
  const f = scale.log ? (v: number) => (v > 0 ? Math.log10(v) : -Infinity) : (v: number) => v;
  const lo = f(scale.lo);
  const hi = f(scale.hi);
  const span = hi > lo ? hi - lo : 1;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (Number.isNaN(v)) {
      rgba[4 * i + 3] = 0;
      continue;
    }
    const t = (f(v) - lo) / span;
    const k =
      t <= 0 || !Number.isFinite(t)
        ? t === Infinity
          ? 255
          : 0
        : t >= 1
          ? 255
          : Math.floor(t * 255.999);
    rgba[4 * i] = lut[3 * k]!;
    rgba[4 * i + 1] = lut[3 * k + 1]!;
    rgba[4 * i + 2] = lut[3 * k + 2]!;
    rgba[4 * i + 3] = 255;
  }
  return rgba;
}
