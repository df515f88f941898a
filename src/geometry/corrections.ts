/**
 * Per-pixel intensity corrections for diffuse scattering from stills (plan Module 2.S.2).
 *
 * Every correction is returned as a MULTIPLIER: corrected = observed * mult. Where the physics
 * gives an attenuating factor f (polarization P, efficiency, transmission, solid angle) the
 * multiplier is 1/f. The total is the product of the individual multipliers.
 *
 * Geometry: everything is evaluated along the pixel's ray, from the sample (lab origin) to the
 * pixel's dxtbx lab coordinate p (`pixelLabCoordMm`, which is the parallax-corrected entrance
 * point on parallax-corrected panels), s1 = unit(p) / lambda, s0 = -directionToSource / lambda.
 *
 * - Solid angle: Omega = A |n.p| / |p|^3 sr (= A cos(incidence) / r^2), A = pixel area,
 *   n = unit panel normal. SA_mult = 1/Omega, so corrected intensities are PER STERADIAN.
 *   Parallax is only in p: the Jacobian of dxtbx's parallax mapping (area change of order
 *   (attenuation length)/r, ~1e-4 to 1e-3) is ignored, as pyFAI does without a parallax model.
 * - Polarization: Kahn et al. (1982) for a beam polarized with fraction pf in the plane
 *   perpendicular to the polarization-plane normal pn, exactly as DIALS
 *   `stills_lp_correction`: P = (1 - 2 pf)(1 - (pn.s1^)^2) + pf (1 + (s0^.s1^)^2);
 *   Pol_mult = 1/P. pf = 0.5 is unpolarized (P = (1 + cos^2 2theta)/2); pyFAI's factor is 2 pf - 1.
 * - Detector efficiency: probability that the photon is absorbed in the sensor,
 *   1 - exp(-mu t / |cos a|), a = angle between s1 and the panel normal (DIALS
 *   `qe_correction`); Eff_mult = 1/efficiency. mu is the panel's muPerMm, or (when 0) from the
 *   panel material and the wavelength via the xraylib table (total attenuation with coherent).
 * - Air: transmission exp(-mu_air |p|) along the sample-to-pixel path; Att_mult = 1/transmission.
 *   mu_air from dry air (NIST mass fractions) at the given pressure and temperature
 *   (ideal gas; default 101.325 kPa, 293.15 K), or off.
 * - Lorentz: a still has no rotation axis, so by default L_mult = 1 (DIALS
 *   `stills_lp_correction` applies none). Option "sin2theta": L_mult = sin(2 theta) = |s1^ x s0^|,
 *   the multiplier DIALS `lp_correction` would apply for a rotation axis perpendicular to the beam
 *   and to the scattering plane (the usual 1/L with L = 1/sin 2theta).
 */
import {
  airMuPerMm,
  sensorMuPerMm,
  attenuationMaterialKey,
  STANDARD_PRESSURE_KPA,
  ROOM_TEMPERATURE_K,
} from "./attenuation.js";
import type { Beam, Panel, Vec3 } from "./models.js";
import { panelNormal, pixelLabCoordMm } from "./panel.js";
import { cross, dot, norm } from "./vec3.js";

export type LorentzConvention = "none" | "sin2theta";

export interface AirOptions {
  /** Air pressure, kPa (default 101.325). */
  pressureKPa?: number;
  /** Air temperature, K (default 293.15). */
  temperatureK?: number;
}

/** Which corrections to apply. Defaults: all on, air at 101.325 kPa / 293.15 K, Lorentz "none". */
export interface CorrectionOptions {
  solidAngle?: boolean;
  polarization?: boolean;
  efficiency?: boolean;
  /** false: no air correction (vacuum, helium path); an object: dry air at that P, T. */
  air?: false | AirOptions;
  lorentz?: LorentzConvention;
}

/** Pixel area vector magnitude: |fast x slow| * pixel pitch product (mm^2; px*py for orthonormal axes). */
export function pixelAreaMm2(panel: Panel): number {
  return norm(panelNormal(panel)) * panel.pixelSizeMm[0] * panel.pixelSizeMm[1];
}

/** Solid angle (sr) subtended at the sample by a pixel of area A (mm^2) at lab position p (mm). */
export function pixelSolidAngleSr(areaMm2: number, labMm: Vec3, unitNormal: Vec3): number {
  const r2 = dot(labMm, labMm);
  return (areaMm2 * Math.abs(dot(unitNormal, labMm))) / (r2 * Math.sqrt(r2));
}

/**
 * Kahn polarization factor P (the divisor; DIALS `stills_lp_correction` returns 1/P).
 * s0, s1 any length; pn unit; pf in [0, 1].
 */
export function polarizationFactor(
  s0: Vec3,
  s1: Vec3,
  polarizationNormal: Vec3,
  polarizationFraction: number,
): number {
  const l1 = norm(s1);
  const l0 = norm(s0);
  const p1 = dot(polarizationNormal, s1) / l1;
  const p3 = dot(s1, s0) / (l1 * l0);
  return (1 - 2 * polarizationFraction) * (1 - p1 * p1) + polarizationFraction * (1 + p3 * p3);
}

/** Detector absorption efficiency (DIALS `qe_correction`): 1 - exp(-mu t / |cos(angle(n, s1))|). */
export function detectorEfficiency(
  muPerMm: number,
  thicknessMm: number,
  s1: Vec3,
  normal: Vec3,
): number {
  const cosA = Math.abs(dot(normal, s1)) / (norm(normal) * norm(s1));
  return 1 - Math.exp((-muPerMm * thicknessMm) / cosA);
}

/** Air transmission exp(-mu_air path). */
export function airTransmission(muAirPerMm: number, pathMm: number): number {
  return Math.exp(-muAirPerMm * pathMm);
}

/** Lorentz multiplier of a still (see the module doc). */
export function lorentzMultiplier(convention: LorentzConvention, s0: Vec3, s1: Vec3): number {
  if (convention === "none") return 1;
  return norm(cross(s0, s1)) / (norm(s0) * norm(s1));
}

/**
 * Linear attenuation coefficient of a panel's sensor (per mm): the panel's muPerMm when set,
 * else from its material at the beam wavelength. Throws RangeError when neither is known.
 */
export function sensorMuForPanel(panel: Panel, wavelengthA: number): number {
  if (panel.muPerMm > 0) return panel.muPerMm;
  if (attenuationMaterialKey(panel.material) === undefined) {
    throw new RangeError(
      `panel "${panel.name}" has mu = ${panel.muPerMm} and material "${panel.material}" is not tabulated`,
    );
  }
  return sensorMuPerMm(panel.material, wavelengthA);
}

/** mu of the air (per mm) for the options, 0 when the air correction is off. */
export function airMuForOptions(air: CorrectionOptions["air"], wavelengthA: number): number {
  if (air === false) return 0;
  return airMuPerMm(
    wavelengthA,
    air?.pressureKPa ?? STANDARD_PRESSURE_KPA,
    air?.temperatureK ?? ROOM_TEMPERATURE_K,
  );
}

export interface PixelCorrections {
  solidAngleSr: number;
  solidAngleMult: number;
  polarizationMult: number;
  efficiencyMult: number;
  airMult: number;
  lorentzMult: number;
  totalMult: number;
}

/** s0 of a beam (per Angstrom): -directionToSource / lambda (direction normalised). */
export function beamS0(beam: Beam): Vec3 {
  const d = beam.directionToSource;
  const f = -1 / (norm(d) * beam.wavelengthA);
  return [d[0] * f, d[1] * f, d[2] * f];
}

/**
 * All multipliers for one pixel at continuous pixel coordinates (x, y) (centre of pixel i is
 * i + 0.5). The straightforward reference path; `extractPanel` computes the same per panel fast.
 */
export function pixelCorrections(
  panel: Panel,
  beam: Beam,
  xPx: number,
  yPx: number,
  options: CorrectionOptions = {},
): PixelCorrections {
  const p = pixelLabCoordMm(panel, xPx, yPx);
  const r = norm(p);
  const s1: Vec3 = [
    p[0] / r / beam.wavelengthA,
    p[1] / r / beam.wavelengthA,
    p[2] / r / beam.wavelengthA,
  ];
  const s0 = beamS0(beam);
  const n = panelNormal(panel);
  const nUnit: Vec3 = [n[0] / norm(n), n[1] / norm(n), n[2] / norm(n)];
  const solidAngleSr = pixelSolidAngleSr(pixelAreaMm2(panel), p, nUnit);
  const solidAngleMult = options.solidAngle === false ? 1 : 1 / solidAngleSr;
  const polarizationMult =
    options.polarization === false
      ? 1
      : 1 / polarizationFactor(s0, s1, beam.polarizationNormal, beam.polarizationFraction);
  const efficiencyMult =
    options.efficiency === false
      ? 1
      : 1 / detectorEfficiency(sensorMuForPanel(panel, beam.wavelengthA), panel.thicknessMm, s1, n);
  const airMult = 1 / airTransmission(airMuForOptions(options.air, beam.wavelengthA), r);
  const lorentzMult = lorentzMultiplier(options.lorentz ?? "none", s0, s1);
  return {
    solidAngleSr,
    solidAngleMult,
    polarizationMult,
    efficiencyMult,
    airMult,
    lorentzMult,
    totalMult: solidAngleMult * polarizationMult * efficiencyMult * airMult * lorentzMult,
  };
}
