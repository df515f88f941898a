/**
 * The known truth of the synthetic stills: crystal, detector, beam, per-still factors and
 * the continuous diffuse signal. Pure functions of the parameters, so a test (or a later
 * stage's test) can evaluate the truth at any point without the files.
 */
import type { Beam, Detector, Mat3, Panel } from "../geometry/models.js";
import type { UnitCell } from "../geometry/crystal.js";
export type { UnitCell };

export interface StillsTruthParams {
  stills: number;
  seed: number;
  cell: UnitCell;
  /** Space group symbol (Hermann-Mauguin) and its Hall symbol as dxtbx writes it. */
  spaceGroup: string;
  spaceGroupHall: string;
  wavelengthA: number;
  polarizationFraction: number;
  /** Pilatus-like module layout: modules stacked along slow, separated by gap rows. */
  moduleFastPx: number;
  moduleSlowPx: number;
  modules: number;
  gapSlowPx: number;
  pixelSizeMm: number;
  distanceMm: number;
  /** Direct-beam position in raw-image pixel coordinates (fast, slow). */
  beamCentrePx: [number, number];
  /** Sensor thickness of each module (mm). */
  thicknessMm: number[];
  beamstopRadiusMm: number;
  /** Nominal exposure (s); still i gets exposureS * (1 + 0.25 sin i). */
  exposureS: number;
  /** Diffuse amplitude (counts per second per steradian) of the isotropic ring term. */
  diffusePerSPerSr: number;
  /** Bragg intensity scale: expected counts of a strong full reflection per second. */
  braggCountsPerS: number;
  dMinA: number;
  hotPixels: number;
  deadPixels: number;
  badPixels: number;
}

export const DEFAULT_STILLS_TRUTH: StillsTruthParams = Object.freeze({
  stills: 6,
  seed: 1,
  cell: { aA: 40, bA: 50, cA: 60, alphaDeg: 90, betaDeg: 90, gammaDeg: 90 },
  spaceGroup: "P 21 21 21",
  spaceGroupHall: " P 2ac 2ab",
  wavelengthA: 1.0,
  polarizationFraction: 0.99,
  moduleFastPx: 487,
  moduleSlowPx: 195,
  modules: 3,
  gapSlowPx: 17,
  pixelSizeMm: 0.172,
  distanceMm: 120,
  beamCentrePx: [243.5, 309.5],
  thicknessMm: [0.45, 0.45, 0.45],
  beamstopRadiusMm: 2.0,
  exposureS: 0.1,
  diffusePerSPerSr: 4e8,
  braggCountsPerS: 5e4,
  dMinA: 2.0,
  hotPixels: 12,
  deadPixels: 12,
  badPixels: 6,
}) as StillsTruthParams;

/** Per-still truth drawn from the seed. */
export interface StillTruth {
  index: number;
  /** Orientation matrix U (row-major); A = U B. */
  u: Mat3;
  exposureS: number;
  /** Multiplies the diffuse signal (the relative scale the scaling stage must recover). */
  scale: number;
  /** Added to the diffuse signal, counts per second per steradian. */
  offsetPerSPerSr: number;
  /** Flat background, counts per pixel (what background subtraction removes). */
  backgroundCounts: number;
}

/** Raw-image height in pixels: modules plus the gaps between them. */
export function rawSlowPx(t: StillsTruthParams): number {
  return t.modules * t.moduleSlowPx + (t.modules - 1) * t.gapSlowPx;
}

/** Slow offset of module m in the raw image. */
export function moduleSlowOffsetPx(t: StillsTruthParams, m: number): number {
  return m * (t.moduleSlowPx + t.gapSlowPx);
}

/**
 * The detector, in dxtbx's convention for a Pilatus facing the beam: fast along +x,
 * slow along -y, the raw image's pixel (0, 0) corner at (-bx, +by, -distance).
 */
export function truthDetector(
  t: StillsTruthParams,
  muPerMm: (thicknessMm: number) => number,
): Detector {
  const [bxPx, byPx] = t.beamCentrePx;
  const panels: Panel[] = [];
  for (let m = 0; m < t.modules; m++) {
    const off = moduleSlowOffsetPx(t, m);
    const thickness = t.thicknessMm[m] ?? t.thicknessMm[t.thicknessMm.length - 1] ?? 0.45;
    panels.push({
      name: `module-${m}`,
      type: "SENSOR_PAD",
      fastAxis: [1, 0, 0],
      slowAxis: [0, -1, 0],
      originMm: [-bxPx * t.pixelSizeMm, (byPx - off) * t.pixelSizeMm, -t.distanceMm],
      pixelSizeMm: [t.pixelSizeMm, t.pixelSizeMm],
      imageSize: [t.moduleFastPx, t.moduleSlowPx],
      trustedRange: [-1, 1e6],
      thicknessMm: thickness,
      material: "Si",
      muPerMm: muPerMm(thickness),
      gain: 1,
      pedestal: 0,
      parallaxCorrected: true,
      rawImageOffset: [0, off],
      identifier: "",
    });
  }
  return { panels };
}

export function truthBeam(t: StillsTruthParams): Beam {
  return {
    directionToSource: [0, 0, 1],
    wavelengthA: t.wavelengthA,
    polarizationNormal: [0, 1, 0],
    polarizationFraction: t.polarizationFraction,
    divergenceRad: 0,
    sigmaDivergenceRad: 0,
    fluxPhotonsPerS: 0,
    transmission: 1,
  };
}

/**
 * The diffuse signal (counts per second per steradian, before the per-still scale and
 * offset) at fractional Miller index hkl and |q| (per Angstrom): a solvent-like ring plus a
 * lattice-periodic term with mmm symmetry (invariant under every sign change of h, k, l),
 * so the later voxel stages have a non-trivial, Laue-symmetric map to recover.
 */
export function diffuseTruth(
  t: StillsTruthParams,
  h: number,
  k: number,
  l: number,
  qPerA: number,
): number {
  const ring = Math.exp(-((qPerA - 0.32) ** 2) / (2 * 0.06 ** 2));
  const lattice =
    ((3 + Math.cos(2 * Math.PI * h) + Math.cos(2 * Math.PI * k) + Math.cos(2 * Math.PI * l)) / 6) *
    Math.exp(-2 * qPerA * qPerA);
  return t.diffusePerSPerSr * (0.6 * ring + 0.4 * lattice + 0.15);
}

/** P 21 21 21 systematic absences: h00, 0k0, 00l with odd index. */
function absent(h: number, k: number, l: number): boolean {
  return (
    (k === 0 && l === 0 && h % 2 !== 0) ||
    (h === 0 && l === 0 && k % 2 !== 0) ||
    (h === 0 && k === 0 && l % 2 !== 0)
  );
}

/**
 * Full Bragg intensity of reflection HKL relative to `braggCountsPerS` (a deterministic
 * hash of |H|,|K|,|L|, so symmetry mates of mmm agree, times a Wilson-like falloff).
 */
export function braggTruth(h: number, k: number, l: number, qPerA: number): number {
  if (absent(h, k, l)) return 0;
  let x =
    Math.imul(Math.abs(h) + 1, 0x9e3779b1) ^
    Math.imul(Math.abs(k) + 7, 0x85ebca77) ^
    Math.imul(Math.abs(l) + 13, 0xc2b2ae3d);
  x = Math.imul(x ^ (x >>> 15), 0x2c1b3c6d);
  x = Math.imul(x ^ (x >>> 12), 0x297a2d39);
  const u = ((x ^ (x >>> 15)) >>> 8) / (1 << 24);
  return (0.05 + 2 * u * u) * Math.exp(-8 * qPerA * qPerA);
}

/**
 * Partiality of a still reflection: a Gaussian in the excitation error (distance of the
 * reciprocal lattice point from the Ewald sphere, per Angstrom) whose width grows with |q|
 * as mosaic spread does, plus a floor for the finite domain size.
 */
export function partialityTruth(excitationErrorPerA: number, qPerA: number): number {
  const sigma = 0.0012 + 0.004 * qPerA;
  return Math.exp(-(excitationErrorPerA ** 2) / (2 * sigma * sigma));
}
