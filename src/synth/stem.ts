/**
 * A synthetic 4D-STEM datacube [scanY, scanX, detY, detX] with known truth, for the
 * tilt-corrected bright-field (parallax) super-resolution math in src/superres.
 *
 * Forward model (weak-phase parallax picture): the detector pixel at offset k = (ky, kx)
 * from the disk centre (detector px) sees the specimen shifted by
 *
 *   s(k) = R(rotation) * D * P * k            (scan px; matrices act on (y, x) columns)
 *   R(t) = [[cos t, -sin t], [sin t, cos t]]  (turns +y towards +x)
 *   D    = [[C + A cos 2p, A sin 2p], [A sin 2p, C - A cos 2p]]   C defocus, A, p astigmatism
 *   P    = identity, or [[0, 1], [1, 0]] when the detector is transposed
 *
 * with defocus and astigmatism in scan px per detector px (p measured from +y towards +x),
 * and its counts are
 *
 *   I_k(y, x) = darkCounts + brightCounts * aperture(k) * (1 + contrast * specimen(y - s_y, x - s_x))
 *
 * where aperture is 1 inside the disk, 0 outside, with a linear edge `diskEdgePx` wide
 * (0.5 at the radius), optionally Poisson noise, a few hot detector pixels stuck at
 * `saturationCounts`, and every count clipped there.
 *
 * The specimen is a random texture with zero mean and unit RMS, a Fourier series over the
 * scan field (integer cycles per field, so it is periodic and every shift is exact) with
 * amplitude 1 / (1 + (f / 0.15)^2) up to `specimenMaxFrequency` cycles per scan px. Above
 * the scan Nyquist (0.5) each virtual image aliases; shift-and-add of the diverse sub-pixel
 * shifts recovers that detail, while the standard BF (the sum of unshifted images) blurs by
 * the spread of the shifts. Each image is exact: the shifted coefficients are folded onto
 * the scan grid and summed by one FFT.
 */
import { fft2 } from "../superres/fft.js";
import { Rng } from "./random.js";

export interface SyntheticStem4dOptions {
  /** Scan rows and columns (powers of two for the FFT). Default [64, 64]. */
  scanShape?: readonly [number, number];
  /** Detector rows and columns. Default [32, 32]. */
  detectorShape?: readonly [number, number];
  /** Disk centre (row, column), detector px. Default [15.7, 16.4]. */
  diskCenterPx?: readonly [number, number];
  /** Disk radius at half intensity, detector px. Default 8. */
  diskRadiusPx?: number;
  /** Width of the linear aperture edge, detector px. Default 1. */
  diskEdgePx?: number;
  /** Scan-detector rotation. Default 20. */
  rotationDeg?: number;
  /** C, scan px per detector px. Default 0.3. */
  defocus?: number;
  /** A (scan px per detector px) and p. Default {magnitude: 0.04, angleDeg: 30}. */
  astigmatism?: { magnitude: number; angleDeg: number };
  /** Detector rows and columns swapped relative to the scan. Default false. */
  transposed?: boolean;
  /** Mean counts per bright-field detector pixel per probe position. Default 200. */
  brightCounts?: number;
  /** Counts added everywhere (scattered electrons, dark level). Default 0.5. */
  darkCounts?: number;
  /** Relative RMS contrast of the specimen in each virtual image. Default 0.1. */
  contrast?: number;
  /** Highest specimen frequency, cycles per scan px. Default 0.8. */
  specimenMaxFrequency?: number;
  /** Poisson counting noise. Default false. */
  noise?: boolean;
  /** Hot detector pixels stuck at saturation (placed within twice the radius). Default 0. */
  saturatedPixels?: number;
  /** Detector full scale: hot pixels read it, every count is clipped to it. Default 65535. */
  saturationCounts?: number;
  seed?: number;
}

export type ResolvedStem4dOptions = Required<SyntheticStem4dOptions>;

export const DEFAULT_STEM4D: ResolvedStem4dOptions = Object.freeze({
  scanShape: [64, 64] as const,
  detectorShape: [32, 32] as const,
  diskCenterPx: [15.7, 16.4] as const,
  diskRadiusPx: 8,
  diskEdgePx: 1,
  rotationDeg: 20,
  defocus: 0.3,
  astigmatism: { magnitude: 0.04, angleDeg: 30 },
  transposed: false,
  brightCounts: 200,
  darkCounts: 0.5,
  contrast: 0.1,
  specimenMaxFrequency: 0.8,
  noise: false,
  saturatedPixels: 0,
  saturationCounts: 65535,
  seed: 1,
});

export interface Stem4dTruth {
  options: ResolvedStem4dOptions;
  /** M = R D P, row-major 2x2 on (y, x): shift = M k. */
  matrix: [number, number, number, number];
  /** True shift of each detector pixel's image, scan px, [detY, detX]. */
  shiftYPx: Float64Array;
  shiftXPx: Float64Array;
  /** Aperture transmission per detector pixel [detY, detX] (0..1). */
  aperture: Float64Array;
  /** Detector indices (row * detX + column) of the hot pixels. */
  saturated: Int32Array;
  /** The specimen (zero mean, unit RMS) at scan positions (Y / factor, X / factor). */
  specimen(factor: number): Float64Array;
}

export interface SyntheticStem4d {
  data: Float64Array;
  shape: [number, number, number, number];
  truth: Stem4dTruth;
}

/** The aberration matrix M = R D P of the forward model (module comment). */
export function stemAberrationMatrix(
  rotationDeg: number,
  defocus: number,
  astigmatism: { magnitude: number; angleDeg: number },
  transposed: boolean,
): [number, number, number, number] {
  const t = (rotationDeg * Math.PI) / 180;
  const p2 = (2 * astigmatism.angleDeg * Math.PI) / 180;
  const a = astigmatism.magnitude;
  const [d00, d01, d11] = [
    defocus + a * Math.cos(p2),
    a * Math.sin(p2),
    defocus - a * Math.cos(p2),
  ];
  const [c, s] = [Math.cos(t), Math.sin(t)];
  const m = [c * d00 - s * d01, c * d01 - s * d11, s * d00 + c * d01, s * d01 + c * d11] as [
    number,
    number,
    number,
    number,
  ];
  return transposed ? [m[1], m[0], m[3], m[2]] : m;
}

/** Fourier coefficients of the specimen: frequency (cycles per field) and complex amplitude. */
interface Specimen {
  maxMy: number;
  maxMx: number;
  my: Int32Array;
  mx: Int32Array;
  re: Float64Array;
  im: Float64Array;
}

function makeSpecimen(sy: number, sx: number, maxFrequency: number, rng: Rng): Specimen {
  const [My, Mx] = [Math.floor(maxFrequency * sy), Math.floor(maxFrequency * sx)];
  const terms: [number, number, number, number][] = [];
  for (let my = -My; my <= My; my++)
    for (let mx = -Mx; mx <= Mx; mx++) {
      const f = Math.hypot(my / sy, mx / sx);
      if (f === 0 || f > maxFrequency) continue;
      const amp = 1 / (1 + (f / 0.15) ** 2) / Math.SQRT2;
      terms.push([my, mx, amp * rng.normal(), amp * rng.normal()]);
    }
  // specimen(r) = Re sum c_f e^{2 pi i f.r}; its spectrum at f is (c_f + conj c_-f) / 2.
  const width = 2 * Mx + 1;
  const index = new Int32Array((2 * My + 1) * width).fill(-1);
  terms.forEach(([my, mx], i) => (index[(my + My) * width + mx + Mx] = i));
  let meanSquare = 0;
  for (const [my, mx, re, im] of terms) {
    const mirror = terms[index[(My - my) * width + Mx - mx]!]!;
    meanSquare += ((re + mirror[2]) / 2) ** 2 + ((im - mirror[3]) / 2) ** 2;
  }
  const norm = 1 / Math.sqrt(meanSquare);
  return {
    maxMy: My,
    maxMx: Mx,
    my: Int32Array.from(terms, (t) => t[0]),
    mx: Int32Array.from(terms, (t) => t[1]),
    re: Float64Array.from(terms, (t) => t[2] * norm),
    im: Float64Array.from(terms, (t) => t[3] * norm),
  };
}

/**
 * The specimen shifted by (shiftYPx, shiftXPx) scan px, sampled on an [ny, nx] grid covering
 * the [sy, sx] field (grid step sy / ny): fold the phase-ramped coefficients onto the grid's
 * frequencies, then one FFT.
 */
function sampleSpecimen(
  spec: Specimen,
  sy: number,
  sx: number,
  ny: number,
  nx: number,
  shiftYPx: number,
  shiftXPx: number,
): Float64Array {
  const re = new Float64Array(ny * nx);
  const im = new Float64Array(ny * nx);
  // e^{-2 pi i m s / n} for every m, from two small tables instead of a cos/sin per term.
  const ramp = (shift: number, size: number, maxM: number) => {
    const t = { re: new Float64Array(2 * maxM + 1), im: new Float64Array(2 * maxM + 1) };
    for (let m = -maxM; m <= maxM; m++) {
      t.re[m + maxM] = Math.cos((-2 * Math.PI * m * shift) / size);
      t.im[m + maxM] = Math.sin((-2 * Math.PI * m * shift) / size);
    }
    return t;
  };
  const ry = ramp(shiftYPx, sy, spec.maxMy);
  const rx = ramp(shiftXPx, sx, spec.maxMx);
  const rowOf = Int32Array.from({ length: 2 * spec.maxMy + 1 }, (_, j) => {
    const m = j - spec.maxMy;
    return (((m % ny) + ny) % ny) * nx;
  });
  const colOf = Int32Array.from({ length: 2 * spec.maxMx + 1 }, (_, j) => {
    const m = j - spec.maxMx;
    return ((m % nx) + nx) % nx;
  });
  for (let i = 0; i < spec.my.length; i++) {
    const my = spec.my[i]!;
    const mx = spec.mx[i]!;
    const ay = ry.re[my + spec.maxMy]!;
    const by = ry.im[my + spec.maxMy]!;
    const ax = rx.re[mx + spec.maxMx]!;
    const bx = rx.im[mx + spec.maxMx]!;
    const c = ay * ax - by * bx;
    const s = ay * bx + by * ax;
    const bin = rowOf[my + spec.maxMy]! + colOf[mx + spec.maxMx]!;
    re[bin]! += spec.re[i]! * c - spec.im[i]! * s;
    // Conjugated, so the forward FFT sums e^{+2 pi i f.r}; its real part is the specimen.
    im[bin]! -= spec.re[i]! * s + spec.im[i]! * c;
  }
  fft2(re, im, ny, nx);
  return re;
}

/** A synthetic datacube and its truth (module comment). Well under a second at the defaults. */
export function syntheticStem4d(options: SyntheticStem4dOptions = {}): SyntheticStem4d {
  const o: ResolvedStem4dOptions = { ...DEFAULT_STEM4D, ...options };
  const [sy, sx] = o.scanShape;
  const [dy, dx] = o.detectorShape;
  const [cy, cx] = o.diskCenterPx;
  const rng = new Rng(o.seed, 0x57e4);
  const spec = makeSpecimen(sy, sx, o.specimenMaxFrequency, rng);
  const matrix = stemAberrationMatrix(o.rotationDeg, o.defocus, o.astigmatism, o.transposed);
  const nDet = dy * dx;
  const nScan = sy * sx;
  const shiftYPx = new Float64Array(nDet);
  const shiftXPx = new Float64Array(nDet);
  const aperture = new Float64Array(nDet);
  for (let y = 0; y < dy; y++)
    for (let x = 0; x < dx; x++) {
      const d = y * dx + x;
      const [ky, kx] = [y - cy, x - cx];
      shiftYPx[d] = matrix[0] * ky + matrix[1] * kx;
      shiftXPx[d] = matrix[2] * ky + matrix[3] * kx;
      const edge = 0.5 - (Math.hypot(ky, kx) - o.diskRadiusPx) / o.diskEdgePx;
      aperture[d] = Math.min(1, Math.max(0, edge));
    }
  const saturated = new Int32Array(o.saturatedPixels);
  for (let i = 0; i < saturated.length; i++) {
    const r = 2 * o.diskRadiusPx * Math.sqrt(rng.next());
    const a = 2 * Math.PI * rng.next();
    const y = Math.min(dy - 1, Math.max(0, Math.round(cy + r * Math.sin(a))));
    const x = Math.min(dx - 1, Math.max(0, Math.round(cx + r * Math.cos(a))));
    saturated[i] = y * dx + x;
  }
  // Mean counts at scan position p of detector pixel d: base[d] + gain[d] * image_d[p].
  const images: (Float64Array | undefined)[] = [];
  const base = new Float64Array(nDet);
  const gain = new Float64Array(nDet);
  for (let d = 0; d < nDet; d++) {
    base[d] = o.darkCounts + o.brightCounts * aperture[d]!;
    gain[d] = o.brightCounts * aperture[d]! * o.contrast;
    images.push(
      aperture[d]! > 0
        ? sampleSpecimen(spec, sy, sx, sy, sx, shiftYPx[d]!, shiftXPx[d]!)
        : undefined,
    );
  }
  const data = new Float64Array(nScan * nDet);
  const noiseRng = new Rng(o.seed, 0x5015e);
  // Scan position outer, detector inner: the datacube is written in memory order.
  for (let p = 0, i = 0; p < nScan; p++)
    for (let d = 0; d < nDet; d++, i++) {
      const image = images[d];
      const mean = image ? base[d]! + gain[d]! * image[p]! : base[d]!;
      data[i] = Math.min(o.noise ? noiseRng.poisson(mean) : mean, o.saturationCounts);
    }
  for (const d of saturated)
    for (let p = 0; p < nScan; p++) data[p * nDet + d] = o.saturationCounts;
  return {
    data,
    shape: [sy, sx, dy, dx],
    truth: {
      options: o,
      matrix,
      shiftYPx,
      shiftXPx,
      aperture,
      saturated,
      specimen(factor: number): Float64Array {
        if (!Number.isInteger(factor) || factor < 1 || factor / 2 <= o.specimenMaxFrequency)
          throw new RangeError(
            `specimen(${factor}): need an integer factor with factor / 2 > ${o.specimenMaxFrequency} (no aliasing)`,
          );
        return sampleSpecimen(spec, sy, sx, sy * factor, sx * factor, 0, 0);
      },
    },
  };
}
