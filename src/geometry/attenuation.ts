/**
 * X-ray attenuation of sensor materials and air, from the committed xraylib table
 * (`attenuation-table.ts`, made by `make_attenuation_table.py`).
 *
 * Mass attenuation coefficients are TOTAL with coherent scattering (xraylib `CS_Total_CP`),
 * interpolated linearly in log(mu/rho) vs log(E) between grid points; at an absorption edge the
 * table holds the energy twice and an energy exactly on the edge takes the value above it.
 * Valid from 1 to 150 keV; outside that range the functions throw RangeError.
 */
import {
  ATTENUATION_TABLE,
  ATTENUATION_TABLE_ENERGY_RANGE_KEV,
  type AttenuationTableEntry,
} from "./attenuation-table.js";

/** h c in keV Angstrom (CODATA 2018): E[keV] = HC_KEV_A / lambda[A]. */
export const HC_KEV_A = 12.398419843320026;
/** Molar gas constant, J / (mol K) (exact, SI 2019). */
export const GAS_CONSTANT_J_PER_MOL_K = 8.314462618;
/** Molar mass of dry air, g/mol (ISO 2533 / US Standard Atmosphere). */
export const AIR_MOLAR_MASS_G_PER_MOL = 28.9647;
export const STANDARD_PRESSURE_KPA = 101.325;
/** Default air temperature: 20 C (the NIST dry-air density 1.205e-3 g/cm^3 is at 20 C). */
export const ROOM_TEMPERATURE_K = 293.15;

export function energyKeVFromWavelengthA(wavelengthA: number): number {
  return HC_KEV_A / wavelengthA;
}

const ALIASES: Readonly<Record<string, string>> = {
  si: "Si",
  silicon: "Si",
  ge: "Ge",
  germanium: "Ge",
  gaas: "GaAs",
  cdte: "CdTe",
  cdznte: "CdZnTe",
  czt: "CdZnTe",
  "cd0.9zn0.1te": "CdZnTe",
  air: "air",
};

/** Table key of a material name (case-insensitive, a few aliases), or undefined when not tabulated. */
export function attenuationMaterialKey(material: string): string | undefined {
  return ALIASES[material.trim().toLowerCase()];
}

/** Materials the table covers (keys of ATTENUATION_TABLE). */
export function tabulatedMaterials(): string[] {
  return Object.keys(ATTENUATION_TABLE);
}

interface LogTable {
  logE: Float64Array;
  logMu: Float64Array;
  entry: AttenuationTableEntry;
}
const logTables = new Map<string, LogTable>();

function logTable(material: string): LogTable {
  const key = attenuationMaterialKey(material);
  const entry = key === undefined ? undefined : ATTENUATION_TABLE[key];
  if (key === undefined || entry === undefined) {
    throw new RangeError(
      `no attenuation data for material "${material}" (tabulated: ${tabulatedMaterials().join(", ")})`,
    );
  }
  let t = logTables.get(key);
  if (t === undefined) {
    t = {
      logE: Float64Array.from(entry.energiesKeV, Math.log),
      logMu: Float64Array.from(entry.muOverRhoCm2PerG, Math.log),
      entry,
    };
    logTables.set(key, t);
  }
  return t;
}

/** Tabulated density of a material, g/cm^3 (air: at 20 C and 101.325 kPa). */
export function materialDensityGPerCm3(material: string): number {
  return logTable(material).entry.densityGPerCm3;
}

/** Mass attenuation coefficient mu/rho (cm^2/g, total with coherent) at energy E (keV). */
export function massAttenuationCm2PerG(material: string, energyKeV: number): number {
  const [eMin, eMax] = ATTENUATION_TABLE_ENERGY_RANGE_KEV;
  if (!(energyKeV >= eMin && energyKeV <= eMax)) {
    throw new RangeError(
      `photon energy ${energyKeV} keV is outside the attenuation table (${eMin}-${eMax} keV)`,
    );
  }
  const { logE, logMu } = logTable(material);
  const x = Math.log(energyKeV);
  // i = last index with logE[i] <= x, so an energy exactly on an edge (a duplicated grid
  // energy) interpolates in the interval above it; never a zero-width interval.
  let lo = 0;
  let hi = logE.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (logE[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  const i = Math.max(0, Math.min(lo - 1, logE.length - 2));
  const x0 = logE[i]!;
  const x1 = logE[i + 1]!;
  const t = (x - x0) / (x1 - x0);
  return Math.exp(logMu[i]! + t * (logMu[i + 1]! - logMu[i]!));
}

/** Linear attenuation coefficient, per mm, of a material at energy E (keV) and density (g/cm^3). */
export function linearAttenuationPerMm(
  material: string,
  energyKeV: number,
  densityGPerCm3?: number,
): number {
  const rho = densityGPerCm3 ?? materialDensityGPerCm3(material);
  // (cm^2/g) (g/cm^3) = 1/cm = 0.1 / mm
  return massAttenuationCm2PerG(material, energyKeV) * rho * 0.1;
}

/** Linear attenuation coefficient (per mm) of a sensor material at wavelength lambda (Angstrom), tabulated density. */
export function sensorMuPerMm(material: string, wavelengthA: number): number {
  return linearAttenuationPerMm(material, energyKeVFromWavelengthA(wavelengthA));
}

/** Dry-air density (g/cm^3) from the ideal gas law at pressure (kPa) and temperature (K). */
export function airDensityGPerCm3(
  pressureKPa: number = STANDARD_PRESSURE_KPA,
  temperatureK: number = ROOM_TEMPERATURE_K,
): number {
  if (!(pressureKPa >= 0) || !(temperatureK > 0)) {
    throw new RangeError(
      `air needs pressure >= 0 kPa and temperature > 0 K (got ${pressureKPa} kPa, ${temperatureK} K)`,
    );
  }
  // rho [kg/m^3] = P[Pa] M[kg/mol] / (R T); 1 kg/m^3 = 1e-3 g/cm^3, and kPa * g/mol gives that factor back.
  return (
    ((pressureKPa * AIR_MOLAR_MASS_G_PER_MOL) / (GAS_CONSTANT_J_PER_MOL_K * temperatureK)) * 1e-3
  );
}

/** Linear attenuation coefficient of dry air (per mm) at wavelength lambda (Angstrom), pressure and temperature. */
export function airMuPerMm(
  wavelengthA: number,
  pressureKPa: number = STANDARD_PRESSURE_KPA,
  temperatureK: number = ROOM_TEMPERATURE_K,
): number {
  return linearAttenuationPerMm(
    "air",
    energyKeVFromWavelengthA(wavelengthA),
    airDensityGPerCm3(pressureKPa, temperatureK),
  );
}
