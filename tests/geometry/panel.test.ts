// Panel pixel <-> mm <-> lab mapping and q-vectors against dxtbx on a 5-panel detector
// (tilted, rotated, flipped normal, parallax-corrected and not); fixtures from make_fixtures.py.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Vec3 } from "../../src/geometry/models.js";
import {
  isOnPanelPx,
  labCoordMm,
  mmToPixel,
  panelDirectedDistanceMm,
  panelNormal,
  panelOutwardNormal,
  panelUsesParallax,
  pixelCentreLabMm,
  pixelLabCoordMm,
  pixelToMm,
  rayIntersectionPx,
} from "../../src/geometry/panel.js";
import { beamS0 } from "../../src/geometry/corrections.js";
import { angle, dot, norm, sub } from "../../src/geometry/vec3.js";
import { loadFixture, Worst, type GeometryFixture } from "./fixtures/load.js";

const fx = loadFixture<GeometryFixture>("geometry.json");
const { beam } = fx;
const panels = fx.detector.panels;

test("fixture covers parallax-corrected and simple panels, and a flipped normal", () => {
  assert.ok(panels.length >= 3);
  assert.ok(panels.some((p) => panelUsesParallax(p)));
  assert.ok(panels.some((p) => !panelUsesParallax(p)));
  assert.ok(panels.some((p) => panelDirectedDistanceMm(p) < 0));
});

test("panel normal and directed distance match dxtbx", () => {
  panels.forEach((p, ip) => {
    const n = panelNormal(p);
    const want = fx.panels[ip]!.normal;
    for (let c = 0; c < 3; c++) assert.ok(Math.abs(n[c]! - want[c]!) < 1e-15, `panel ${ip} normal`);
    assert.ok(Math.abs(panelDirectedDistanceMm(p) - fx.panels[ip]!.directedDistanceMm) < 1e-12);
    // The outward normal points from the sample to the plane.
    assert.ok(dot(panelOutwardNormal(p), p.originMm) > 0);
  });
});

test("pixel -> mm -> lab coordinates match dxtbx get_pixel_lab_coord (incl. parallax)", () => {
  const mm = new Worst();
  const lab = new Worst();
  panels.forEach((p, ip) => {
    for (const s of fx.panels[ip]!.samples) {
      const [x, y] = s.px;
      const got = pixelToMm(p, x, y);
      mm.add(got[0], s.mm[0], 1 + Math.abs(s.mm[0]), `panel ${ip} px ${x},${y} x`);
      mm.add(got[1], s.mm[1], 1 + Math.abs(s.mm[1]), `panel ${ip} px ${x},${y} y`);
      const l = pixelLabCoordMm(p, x, y);
      const r = norm(s.labMm);
      for (let c = 0; c < 3; c++)
        lab.add(l[c]!, s.labMm[c]!, r, `panel ${ip} px ${x},${y} lab[${c}]`);
    }
  });
  console.log(
    `  max |mm - dxtbx| / (1+|mm|) = ${mm.value.toExponential(2)}; max |lab - dxtbx| / r = ${lab.value.toExponential(2)}`,
  );
  assert.ok(mm.value < 1e-12, mm.where);
  assert.ok(lab.value < 1e-12, lab.where);
});

test("q = s1 - s0, d and 2theta match dxtbx to 1e-9 relative", () => {
  const s0 = beamS0(beam);
  for (let c = 0; c < 3; c++) assert.ok(Math.abs(s0[c]! - fx.s0[c]!) < 1e-15 * norm(fx.s0));
  const q = new Worst();
  const d = new Worst();
  const tt = new Worst();
  panels.forEach((p, ip) => {
    for (const s of fx.panels[ip]!.samples) {
      const l = pixelLabCoordMm(p, s.px[0], s.px[1]);
      const r = norm(l);
      const s1: Vec3 = [
        l[0] / r / beam.wavelengthA,
        l[1] / r / beam.wavelengthA,
        l[2] / r / beam.wavelengthA,
      ];
      const qv = sub(s1, s0);
      for (let c = 0; c < 3; c++)
        q.add(qv[c]!, s.q[c]!, norm(s.q), `panel ${ip} px ${s.px} q[${c}]`);
      d.add(1 / norm(qv), s.dA, s.dA, `panel ${ip} px ${s.px} d`);
      tt.add(angle(s0, l), s.twoThetaRad, s.twoThetaRad, `panel ${ip} px ${s.px} 2theta`);
    }
  });
  console.log(
    `  max rel err: q ${q.value.toExponential(2)}, d ${d.value.toExponential(2)}, 2theta ${tt.value.toExponential(2)}`,
  );
  assert.ok(q.value < 1e-9, q.where);
  assert.ok(d.value < 1e-9, d.where);
  assert.ok(tt.value < 1e-9, tt.where);
});

test("lab -> pixel (ray intersection) and mm -> pixel match dxtbx", () => {
  const ray = new Worst();
  const m2p = new Worst();
  panels.forEach((p, ip) => {
    for (const s of fx.panels[ip]!.samples) {
      const hit = rayIntersectionPx(p, s.s1);
      assert.ok(hit !== null);
      ray.add(hit[0], s.rayPx[0], 1 + Math.abs(s.rayPx[0]), `panel ${ip} ${s.px} x`);
      ray.add(hit[1], s.rayPx[1], 1 + Math.abs(s.rayPx[1]), `panel ${ip} ${s.px} y`);
      const back = mmToPixel(p, s.mm[0], s.mm[1]);
      m2p.add(back[0], s.mmToPx[0], 1 + Math.abs(s.mmToPx[0]), `panel ${ip} ${s.px} x`);
      m2p.add(back[1], s.mmToPx[1], 1 + Math.abs(s.mmToPx[1]), `panel ${ip} ${s.px} y`);
      // Without parallax the round trip is exact; with it dxtbx's inverse is approximate.
      const tol = panelUsesParallax(p) ? 1e-3 : 1e-9;
      assert.ok(
        Math.abs(back[0] - s.px[0]) < tol && Math.abs(back[1] - s.px[1]) < tol,
        `round trip ${ip} ${s.px}`,
      );
    }
  });
  console.log(
    `  max rel err: ray->px ${ray.value.toExponential(2)}, mm->px ${m2p.value.toExponential(2)}`,
  );
  assert.ok(ray.value < 1e-11, ray.where);
  assert.ok(m2p.value < 1e-11, m2p.where);
  // A ray pointing away from a panel misses it.
  const p0 = panels[0]!;
  const away = pixelCentreLabMm(p0, 10, 10).map((v) => -v) as unknown as Vec3;
  assert.equal(rayIntersectionPx(p0, away), null);
});

test("pixel centres, labCoordMm and isOnPanelPx", () => {
  const p = panels[1]!;
  const c = pixelCentreLabMm(p, 3, 7);
  const want = pixelLabCoordMm(p, 3.5, 7.5);
  assert.deepEqual(c, want);
  const [x, y] = pixelToMm(p, 3.5, 7.5);
  assert.deepEqual(labCoordMm(p, x, y), want);
  assert.ok(isOnPanelPx(p, 0, 0));
  assert.ok(!isOnPanelPx(p, p.imageSize[0], 0));
  assert.ok(!isOnPanelPx(p, -0.1, 3));
});
