/**
 * The known truth of the synthetic stills: crystal, detector, beam, per-still factors, the
 * Bragg intensities and the continuous diffuse signal. Pure functions of the parameters, so a
 * test (or a later stage's test) can evaluate the truth at any point without the files.
 *
 * ## Physical units
 *
 * The crystal scatters as `inventory` atoms per unit cell with independent isotropic
 * displacements (Debye-Waller B = `bIsoA2`), so in electron units per cell
 *
 *   Bragg:    |F_h|^2   = sum_j f_j(q)^2 exp(-B q^2 / 2) E_h
 *   diffuse:  J(h, q)   = sum_j f_j(q)^2 (1 - exp(-B q^2 / 2)) (1 + a L(h)) + sum_j S_j(q)
 *
 * (q = 1/d; E_h a Wilson-distributed factor with mean 1; L a lattice-periodic modulation with
 * mean 0, amplitude a = `latticeDiffuseFraction`; S the Compton scattering). Shell averages of
 * Bragg plus diffuse equal the independent-atom total sum_j (f_j^2 + S_j), which is the sum
 * rule the absolute scale (scattering/absolute-scale.ts) relies on: for these uncorrelated
 * atoms it holds at every |q|, so Norman's variant is exact in expectation.
 *
 * Counts: K = `countsPerSPerSrPerEu` (flux x r_e^2 x cells illuminated) turns electron units
 * into detected counts per second per steradian, before the detector's effects. A still of
 * scale s sees the diffuse rate s K J + o per steradian, and a reflection of excitation
 * error e the rate s K_B(q) |F_h|^2 P(e), with P(e) = exp(-e^2 / 2 sigma(q)^2) the partiality
 * and K_B = K lambda^2 / (V sqrt(2 pi) sigma(q)): a lattice point spread as a 3-D Gaussian of
 * width sigma, cut by the Ewald sphere (solid angle = lambda^2 x area on the sphere).
 */
import type { Beam, Detector, Mat3, Panel } from "../geometry/models.js";
import { cellVolumeA3, type UnitCell } from "../geometry/crystal.js";
import { sumF0Squared, sumIncoherent } from "../scattering/composition.js";
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
  /** Unit-cell contents (formula string, see scattering/composition.ts). */
  inventory: string;
  /** Isotropic displacement parameter B of every atom (A^2). */
  bIsoA2: number;
  /** Amplitude a of the lattice-periodic modulation of the disorder diffuse (0..1). */
  latticeDiffuseFraction: number;
  /** K: detected counts per second per steradian per electron unit per cell. */
  countsPerSPerSrPerEu: number;
  /** Width of a lattice point's excitation-error profile: sigma(q) = a + b q (1/A). */
  excitationSigmaPerA: number;
  excitationSigmaPerAPerQ: number;
  /**
   * Per-still additive offsets, as fractions [min, max] of the diffuse rate K J at |q| = 0.3.
   * Still 0's offset is 0: a constant common to every still is indistinguishable from
   * diffuse signal, so only offsets relative to still 0 are defined (the scaling's gauge).
   */
  offsetFraction: [number, number];
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
  inventory: "C600 N160 O200 S8 H1000",
  bIsoA2: 40,
  latticeDiffuseFraction: 0.15,
  countsPerSPerSrPerEu: 3e4,
  excitationSigmaPerA: 0.0012,
  excitationSigmaPerAPerQ: 0.004,
  offsetFraction: [0.25, 0.75],
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

/** sum_j f_j^2 and sum_j S_j on a fine |q| grid (linear interpolation error < 1e-7). */
interface RadialTables {
  stepPerA: number;
  f0Squared: Float64Array;
  incoherent: Float64Array;
}
const RADIAL_Q_MAX = 4;
const RADIAL_POINTS = 8001;
const radialCache = new Map<string, RadialTables>();

function radialTables(inventory: string): RadialTables {
  let t = radialCache.get(inventory);
  if (!t) {
    const q = Float64Array.from(
      { length: RADIAL_POINTS },
      (_, i) => (i * RADIAL_Q_MAX) / (RADIAL_POINTS - 1),
    );
    t = {
      stepPerA: RADIAL_Q_MAX / (RADIAL_POINTS - 1),
      f0Squared: sumF0Squared(inventory, q),
      incoherent: sumIncoherent(inventory, q),
    };
    radialCache.set(inventory, t);
  }
  return t;
}

function interpolate(table: Float64Array, stepPerA: number, qPerA: number): number {
  const x = Math.min(qPerA / stepPerA, table.length - 1.000001);
  const i = Math.floor(x);
  return table[i]! + (x - i) * (table[i + 1]! - table[i]!);
}

/** sum_j f_j(q)^2 of the inventory (electron units per cell). */
export function sumF0SquaredTruth(t: StillsTruthParams, qPerA: number): number {
  const r = radialTables(t.inventory);
  return interpolate(r.f0Squared, r.stepPerA, qPerA);
}

/** sum_j S_j(q): the Compton scattering per cell (electron units). */
export function incoherentTruth(t: StillsTruthParams, qPerA: number): number {
  const r = radialTables(t.inventory);
  return interpolate(r.incoherent, r.stepPerA, qPerA);
}

/** Debye-Waller factor of the Bragg intensities, exp(-B q^2 / 2) (B s^2 with s = q / 2, twice). */
function debyeWaller(t: StillsTruthParams, qPerA: number): number {
  return Math.exp((-t.bIsoA2 * qPerA * qPerA) / 2);
}

/**
 * The diffuse scattering J at fractional Miller index hkl and |q| (1/A) in electron units per
 * unit cell, Compton included: the disorder diffuse of independently displaced atoms,
 * modulated with mmm symmetry (invariant under every sign change of h, k, l; mean 0 over a
 * shell), so the voxel stages have a non-trivial, Laue-symmetric map to recover.
 */
export function diffuseTruthEu(
  t: StillsTruthParams,
  h: number,
  k: number,
  l: number,
  qPerA: number,
): number {
  const lattice =
    (Math.cos(2 * Math.PI * h) + Math.cos(2 * Math.PI * k) + Math.cos(2 * Math.PI * l)) / 3;
  return (
    sumF0SquaredTruth(t, qPerA) *
      (1 - debyeWaller(t, qPerA)) *
      (1 + t.latticeDiffuseFraction * lattice) +
    incoherentTruth(t, qPerA)
  );
}

/** The diffuse rate before the per-still scale and offset: K J (counts per second per sr). */
export function diffuseTruth(
  t: StillsTruthParams,
  h: number,
  k: number,
  l: number,
  qPerA: number,
): number {
  return t.countsPerSPerSrPerEu * diffuseTruthEu(t, h, k, l, qPerA);
}

/** The rate K J of a shell-averaged diffuse signal at |q| (the lattice term averages out). */
export function diffuseLevelTruth(t: StillsTruthParams, qPerA: number): number {
  return t.countsPerSPerSrPerEu * diffuseTruthEu(t, 0.25, 0.25, 0.25, qPerA);
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
 * Wilson factor E_h of reflection HKL (mean 1, exponentially distributed as for acentric
 * reflections of randomly placed atoms): a deterministic hash of |H|,|K|,|L|, so symmetry
 * mates of mmm agree; 0 for systematic absences.
 */
export function wilsonFactor(h: number, k: number, l: number): number {
  if (absent(h, k, l)) return 0;
  let x =
    Math.imul(Math.abs(h) + 1, 0x9e3779b1) ^
    Math.imul(Math.abs(k) + 7, 0x85ebca77) ^
    Math.imul(Math.abs(l) + 13, 0xc2b2ae3d);
  x = Math.imul(x ^ (x >>> 15), 0x2c1b3c6d);
  x = Math.imul(x ^ (x >>> 12), 0x297a2d39);
  const u = (((x ^ (x >>> 15)) >>> 8) + 0.5) / (1 << 24);
  return -Math.log(u);
}

/** |F_h|^2 in electron units per cell (see the module doc). */
export function braggTruthEu(
  t: StillsTruthParams,
  h: number,
  k: number,
  l: number,
  qPerA: number,
): number {
  return sumF0SquaredTruth(t, qPerA) * debyeWaller(t, qPerA) * wilsonFactor(h, k, l);
}

/** Width sigma(q) (1/A) of a lattice point's excitation-error profile. */
export function excitationSigmaTruth(t: StillsTruthParams, qPerA: number): number {
  return t.excitationSigmaPerA + t.excitationSigmaPerAPerQ * qPerA;
}

/**
 * Rate of a full reflection (counts per second, partiality 1, before the per-still scale and
 * the detector's effects): K_B(q) |F_h|^2 with K_B = K lambda^2 / (V sqrt(2 pi) sigma(q)).
 */
export function braggTruth(
  t: StillsTruthParams,
  h: number,
  k: number,
  l: number,
  qPerA: number,
): number {
  const kB =
    (t.countsPerSPerSrPerEu * t.wavelengthA ** 2) /
    (cellVolumeA3(t.cell) * Math.sqrt(2 * Math.PI) * excitationSigmaTruth(t, qPerA));
  return kB * braggTruthEu(t, h, k, l, qPerA);
}

/**
 * Partiality of a still reflection: the Gaussian excitation-error profile at the reflection's
 * distance from the Ewald sphere (1/A), normalised to 1 at the sphere.
 */
export function partialityTruth(
  t: StillsTruthParams,
  excitationErrorPerA: number,
  qPerA: number,
): number {
  const sigma = excitationSigmaTruth(t, qPerA);
  return Math.exp(-(excitationErrorPerA ** 2) / (2 * sigma * sigma));
}
