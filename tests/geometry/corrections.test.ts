// Per-pixel correction multipliers against DIALS (stills LP, QE), pyFAI (solid angle, 2theta, chi,
// polarization) and independent float64 textbook formulas, on the same 5-panel geometry.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Vec3 } from "../../src/geometry/models.js";
import {
  airMuForOptions,
  airTransmission,
  beamS0,
  detectorEfficiency,
  lorentzMultiplier,
  pixelAreaMm2,
  pixelCorrections,
  pixelSolidAngleSr,
  polarizationFactor,
  sensorMuForPanel,
} from "../../src/geometry/corrections.js";
import { panelNormal, pixelLabCoordMm } from "../../src/geometry/panel.js";
import { airMuPerMm } from "../../src/geometry/attenuation.js";
import { norm } from "../../src/geometry/vec3.js";
import { loadFixture, Worst, type GeometryFixture } from "./fixtures/load.js";

const fx = loadFixture<GeometryFixture & { panels: { xraylibMuPerMm: number }[] }>("geometry.json");
const { beam } = fx;
const panels = fx.detector.panels;
const s0 = beamS0(beam);

function rayOf(ip: number, px: [number, number]) {
  const p = panels[ip]!;
  const lab = pixelLabCoordMm(p, px[0], px[1]);
  const r = norm(lab);
  const s1: Vec3 = [
    lab[0] / r / beam.wavelengthA,
    lab[1] / r / beam.wavelengthA,
    lab[2] / r / beam.wavelengthA,
  ];
  const n = panelNormal(p);
  const nUnit: Vec3 = [n[0] / norm(n), n[1] / norm(n), n[2] / norm(n)];
  return { p, lab, r, s1, n, nUnit };
}

test("solid angle: equals pyFAI (float64 path) and the textbook A cos(a) / r^2", () => {
  const py = new Worst();
  const tb = new Worst();
  const f32 = new Worst();
  let n32 = 0;
  fx.panels.forEach((fp, ip) => {
    for (const s of fp.samples) {
      const { p, lab, nUnit } = rayOf(ip, s.px);
      const omega = pixelSolidAngleSr(pixelAreaMm2(p), lab, nUnit);
      py.add(omega, s.pyfai.solidAngleSr, s.pyfai.solidAngleSr, `panel ${ip} ${s.px}`);
      tb.add(omega, s.textbook.solidAngleSr, s.textbook.solidAngleSr, `panel ${ip} ${s.px}`);
      if (s.pyfaiFloat32) {
        n32++;
        f32.add(
          omega,
          s.pyfaiFloat32.solidAngleSr,
          s.pyfaiFloat32.solidAngleSr,
          `panel ${ip} ${s.px}`,
        );
      }
      const m = pixelCorrections(p, beam, s.px[0], s.px[1], { efficiency: false, air: false });
      assert.ok(Math.abs(m.solidAngleMult * omega - 1) < 1e-15, "SA_mult = 1/Omega");
    }
  });
  console.log(
    `  solid angle max rel err: pyFAI float64 ${py.value.toExponential(2)}, textbook ${tb.value.toExponential(2)}, ` +
      `pyFAI solidAngleArray (float32, ${n32} pixels) ${f32.value.toExponential(2)}`,
  );
  assert.ok(py.value < 1e-9, py.where);
  assert.ok(tb.value < 1e-12, tb.where);
  assert.ok(n32 > 10);
  // pyFAI's solidAngleArray is float32: agreement is bounded by its rounding (2^-24 ~ 6e-8).
  assert.ok(f32.value < 2e-7, f32.where);
});

test("polarization: 1/P equals DIALS stills_lp_correction, pyFAI and the textbook two-component sum", () => {
  const dials = new Worst();
  const py = new Worst();
  const tb = new Worst();
  const f32 = new Worst();
  const tt = new Worst();
  fx.panels.forEach((fp, ip) => {
    for (const s of fp.samples) {
      const { s1 } = rayOf(ip, s.px);
      const P = polarizationFactor(s0, s1, beam.polarizationNormal, beam.polarizationFraction);
      dials.add(1 / P, s.dialsStillsLp, s.dialsStillsLp, `panel ${ip} ${s.px}`);
      py.add(P, s.pyfai.polarization, s.pyfai.polarization, `panel ${ip} ${s.px}`);
      tb.add(P, s.textbook.polarization, s.textbook.polarization, `panel ${ip} ${s.px}`);
      if (s.pyfaiFloat32)
        f32.add(P, s.pyfaiFloat32.polarization, s.pyfaiFloat32.polarization, `panel ${ip} ${s.px}`);
      const twoTheta = Math.acos(
        (s1[0] * s0[0] + s1[1] * s0[1] + s1[2] * s0[2]) / (norm(s1) * norm(s0)),
      );
      tt.add(twoTheta, s.pyfai.twoThetaRad, s.pyfai.twoThetaRad, `panel ${ip} ${s.px}`);
      const m = pixelCorrections(panels[ip]!, beam, s.px[0], s.px[1], {
        efficiency: false,
        air: false,
      });
      assert.ok(Math.abs(m.polarizationMult * P - 1) < 1e-15, "Pol_mult = 1/P");
    }
  });
  console.log(
    `  polarization max rel err: DIALS ${dials.value.toExponential(2)}, pyFAI float64 ${py.value.toExponential(2)}, ` +
      `textbook ${tb.value.toExponential(2)}, pyFAI polarization() (float32) ${f32.value.toExponential(2)}; ` +
      `2theta vs pyFAI ${tt.value.toExponential(2)}`,
  );
  assert.ok(dials.value < 1e-12, dials.where);
  assert.ok(py.value < 1e-9, py.where);
  assert.ok(tb.value < 1e-12, tb.where);
  assert.ok(f32.value < 2e-7, f32.where);
  assert.ok(tt.value < 1e-9, tt.where);
  // Unpolarized beam: P = (1 + cos^2 2theta) / 2.
  const s1: Vec3 = [0.3, 0.2, -1];
  const c = -(s1[2] / norm(s1)); // s0 along -z
  assert.ok(Math.abs(polarizationFactor([0, 0, -1], s1, [0, 1, 0], 0.5) - (1 + c * c) / 2) < 1e-15);
});

test("efficiency: equals DIALS qe_correction; table mu matches xraylib for a mu-less panel", () => {
  const dials = new Worst();
  const table = new Worst();
  fx.panels.forEach((fp, ip) => {
    const p = panels[ip]!;
    for (const s of fp.samples) {
      const { s1, n } = rayOf(ip, s.px);
      const m = pixelCorrections(p, beam, s.px[0], s.px[1], { air: false });
      if (s.dialsQe !== null) {
        const eff = detectorEfficiency(p.muPerMm, p.thicknessMm, s1, n);
        dials.add(eff, s.dialsQe, s.dialsQe, `panel ${ip} ${s.px}`);
        assert.ok(Math.abs(m.efficiencyMult * eff - 1) < 1e-15);
      } else {
        // mu = 0 on the panel: mu from the material table (xraylib total, tabulated density).
        assert.equal(p.muPerMm, 0);
        const want = 1 / detectorEfficiency(fp.xraylibMuPerMm, p.thicknessMm, s1, n);
        table.add(m.efficiencyMult, want, want, `panel ${ip} ${s.px}`);
      }
    }
  });
  console.log(
    `  efficiency max rel err: DIALS ${dials.value.toExponential(2)}, table-mu panel vs xraylib mu ${table.value.toExponential(2)}`,
  );
  assert.ok(dials.value < 1e-12, dials.where);
  assert.ok(table.value > 0 && table.value < 5e-4, table.where);
  const ge = panels.find((p) => p.muPerMm === 0)!;
  const mu = sensorMuForPanel(ge, beam.wavelengthA);
  const want = fx.panels[panels.indexOf(ge)]!.xraylibMuPerMm;
  assert.ok(Math.abs(mu / want - 1) < 5e-4, `Ge mu ${mu} vs xraylib ${want}`);
  assert.throws(() => sensorMuForPanel({ ...ge, material: "unobtainium" }, 1), /not tabulated/);
});

test("air, Lorentz and the total", () => {
  const ip = 1;
  const s = fx.panels[ip]!.samples[9]!;
  const { p, r, s1 } = rayOf(ip, s.px);
  const mu = airMuPerMm(beam.wavelengthA, 101.325, 293.15);
  assert.equal(airMuForOptions(undefined, beam.wavelengthA), mu);
  assert.equal(airMuForOptions({}, beam.wavelengthA), mu);
  assert.equal(airMuForOptions(false, beam.wavelengthA), 0);
  assert.ok(airMuForOptions({ pressureKPa: 50 }, beam.wavelengthA) < mu);
  const all = pixelCorrections(p, beam, s.px[0], s.px[1], { lorentz: "sin2theta" });
  assert.ok(Math.abs(all.airMult * airTransmission(mu, r) - 1) < 1e-15);
  assert.ok(all.airMult > 1);
  assert.ok(Math.abs(all.lorentzMult - s.textbook.sin2theta) < 1e-14);
  assert.equal(lorentzMultiplier("none", s0, s1), 1);
  const product =
    all.solidAngleMult * all.polarizationMult * all.efficiencyMult * all.airMult * all.lorentzMult;
  assert.ok(Math.abs(all.totalMult / product - 1) < 1e-15);
  const none = pixelCorrections(p, beam, s.px[0], s.px[1], {
    solidAngle: false,
    polarization: false,
    efficiency: false,
    air: false,
  });
  assert.equal(none.totalMult, 1);
});
