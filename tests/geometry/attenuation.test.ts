// The xraylib attenuation table: log-log interpolation against xraylib CS_Total_CP at off-grid
// energies (fixture from make_fixtures.py), edges, air density, errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  airDensityGPerCm3,
  airMuPerMm,
  attenuationMaterialKey,
  energyKeVFromWavelengthA,
  linearAttenuationPerMm,
  massAttenuationCm2PerG,
  materialDensityGPerCm3,
  sensorMuPerMm,
  tabulatedMaterials,
} from "../../src/geometry/attenuation.js";
import { ATTENUATION_TABLE } from "../../src/geometry/attenuation-table.js";
import { loadFixture, Worst } from "./fixtures/load.js";

interface AttenuationFixture {
  values: Record<string, [number, number][]>;
  airDensity: { pressureKPa: number; temperatureK: number; gPerCm3: number };
}
const fx = loadFixture<AttenuationFixture>("attenuation.json");

test("interpolated mu/rho matches xraylib at off-grid energies to < 0.5% (every material)", () => {
  assert.deepEqual(Object.keys(fx.values).sort(), tabulatedMaterials().sort());
  const all: string[] = [];
  for (const [material, pts] of Object.entries(fx.values)) {
    const w = new Worst();
    for (const [e, want] of pts)
      w.add(massAttenuationCm2PerG(material, e), want, want, `${material} at ${e} keV`);
    all.push(`${material} ${w.value.toExponential(1)}`);
    assert.ok(w.value < 5e-3, w.where);
    assert.ok(w.value < 2e-4, `tighter than the table's own bound: ${w.where}`);
  }
  console.log(`  max rel err vs xraylib: ${all.join(", ")}`);
});

test("edges: duplicated grid energies, value above on the edge, a jump across it", () => {
  for (const [name, entry] of Object.entries(ATTENUATION_TABLE)) {
    const e = entry.energiesKeV;
    for (let i = 1; i < e.length; i++) assert.ok(e[i]! >= e[i - 1]!, `${name} energies sorted`);
    for (const edge of entry.edgesKeV) {
      const i = e.indexOf(edge);
      assert.ok(i >= 0 && e[i + 1] === edge, `${name} edge ${edge} duplicated`);
      const below = entry.muOverRhoCm2PerG[i]!;
      const above = entry.muOverRhoCm2PerG[i + 1]!;
      assert.ok(above > below, `${name} jumps up at ${edge}`);
      assert.ok(Math.abs(massAttenuationCm2PerG(name, edge) / above - 1) < 1e-12);
      assert.ok(Math.abs(massAttenuationCm2PerG(name, edge * (1 - 1e-12)) / below - 1) < 1e-9);
    }
  }
  // Si K edge near 1.839 keV: a factor ~10 jump.
  const si = massAttenuationCm2PerG("Si", 1.85) / massAttenuationCm2PerG("Si", 1.83);
  assert.ok(si > 8 && si < 12, `Si K jump ${si}`);
  // Table ends are exact.
  const siT = ATTENUATION_TABLE.Si!;
  assert.equal(massAttenuationCm2PerG("Si", 1), siT.muOverRhoCm2PerG[0]);
  assert.ok(Math.abs(massAttenuationCm2PerG("Si", 150) / siT.muOverRhoCm2PerG.at(-1)! - 1) < 1e-12);
});

test("densities, air and linear coefficients", () => {
  const { pressureKPa, temperatureK, gPerCm3 } = fx.airDensity;
  assert.ok(Math.abs(airDensityGPerCm3(pressureKPa, temperatureK) / gPerCm3 - 1) < 1e-14);
  // Ideal-gas dry air at 20 C, 1 atm is the NIST 1.205e-3 g/cm^3 to 0.1%.
  assert.ok(Math.abs(airDensityGPerCm3() / 1.205e-3 - 1) < 1e-3);
  const e = energyKeVFromWavelengthA(1);
  assert.ok(Math.abs(e - 12.398419843320026) < 1e-12);
  assert.equal(
    airMuPerMm(1, 50, 300),
    linearAttenuationPerMm("air", e, airDensityGPerCm3(50, 300)),
  );
  assert.equal(
    sensorMuPerMm("si", 1),
    massAttenuationCm2PerG("Si", e) * materialDensityGPerCm3("Si") * 0.1,
  );
  // cctbx's table (what dxtbx uses for parallax) gives 4.208 /mm for Si at 1 A; xraylib total 4.211.
  assert.ok(Math.abs(sensorMuPerMm("Si", 1) - 4.211) < 0.01);
  assert.equal(attenuationMaterialKey(" CZT "), "CdZnTe");
  assert.equal(attenuationMaterialKey("Silicon"), "Si");
  assert.equal(attenuationMaterialKey("Pb"), undefined);
});

test("errors: unknown material, energy out of range, bad air", () => {
  assert.throws(() => massAttenuationCm2PerG("Pb", 10), /no attenuation data for material "Pb"/);
  assert.throws(() => massAttenuationCm2PerG("Si", 0.5), /outside the attenuation table/);
  assert.throws(() => massAttenuationCm2PerG("Si", 200), /outside/);
  assert.throws(() => massAttenuationCm2PerG("Si", Number.NaN), /outside/);
  assert.throws(() => airDensityGPerCm3(100, 0), /temperature/);
  assert.throws(() => airDensityGPerCm3(-1, 300), /pressure/);
});
