// Relative scaling recovers known per-still scales and offsets, panel factors and a smooth
// detector-position factor from synthetic observations with Gaussian noise; merging returns
// the input map within the propagated sigma; bad input is a typed error.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  mergeScaled,
  refineScaling,
  ScalingError,
  type DiffuseObservations,
} from "../../src/scaling/index.js";
import { Rng } from "../../src/synth/random.js";

const nStills = 8,
  nPanels = 3,
  nVoxels = 4000,
  perStill = 30000;
const rng = new Rng(42);
const truthRef = Float64Array.from({ length: nVoxels }, () => 50 + 200 * rng.next());
const truthScale = Array.from({ length: nStills }, () => 0.7 + 0.6 * rng.next());
// c0 + c1 |q|; the reference still (0) has none, matching the offset gauge (see relative.ts).
const truthOffset = Array.from({ length: nStills }, (_, i) =>
  i === 0 ? [0, 0] : [10 + 40 * rng.next(), -20 * rng.next()],
);
const truthPanel = [1.0, 1.08, 0.95];
// a(x, y) = 1 + 0.05 x' - 0.03 y'^2 in the scaled frame (x' = x / 100 mm).
const truthPos = (x: number, y: number) => 1 + 0.05 * (x / 100) - 0.03 * (y / 100) ** 2;

function observations(): DiffuseObservations {
  const count = nStills * perStill;
  const o: DiffuseObservations = {
    count,
    voxel: new Int32Array(count),
    still: new Uint32Array(count),
    panel: new Uint16Array(count),
    qLengthPerA: new Float64Array(count),
    xMm: new Float64Array(count),
    yMm: new Float64Array(count),
    intensity: new Float64Array(count),
    sigma: new Float64Array(count),
  };
  for (let n = 0; n < count; n++) {
    const i = Math.floor(n / perStill);
    const v = Math.floor(rng.next() * nVoxels);
    const p = Math.floor(rng.next() * nPanels);
    const x = -100 + 200 * rng.next(),
      y = -100 + 200 * rng.next();
    const q = 0.05 + 0.45 * rng.next();
    const clean =
      truthScale[i]! * truthPanel[p]! * truthPos(x, y) * truthRef[v]! +
      truthOffset[i]![0]! +
      truthOffset[i]![1]! * q;
    const sigma = 0.02 * clean + 1;
    o.voxel[n] = v;
    o.still[n] = i;
    o.panel[n] = p;
    o.qLengthPerA[n] = q;
    o.xMm[n] = x;
    o.yMm[n] = y;
    o.sigma[n] = sigma;
    o.intensity[n] = clean + sigma * rng.normal();
  }
  return o;
}

test("relative scaling recovers scales within 1% and offsets within 2%", () => {
  const obs = observations();
  const iterations: number[] = [];
  const r = refineScaling(obs, undefined, {
    offsetDegree: 1,
    positionDegree: 2,
    onIteration: (it) => {
      iterations.push(it.chi2PerObservation);
      if (process.env.DEBUG_SCALING) console.log(JSON.stringify(it));
    },
  });
  assert.ok(r.converged, `not converged after ${r.history.length} iterations`);
  // chi^2 per observation ~ 1 (Gaussian noise with the given sigma), and it never rises.
  assert.ok(Math.abs(iterations.at(-1)! - 1) < 0.05, `chi2 ${iterations.at(-1)}`);
  iterations
    .slice(1)
    .forEach((c, k) => assert.ok(c <= iterations[k]! * (1 + 1e-9), `chi2 rose at ${k + 1}`));

  // Scales are determined up to one overall factor (the gauge mean b = 1 here).
  const meanTruth = truthScale.reduce((a, b) => a + b) / nStills;
  r.stills.forEach((s, i) => {
    const want = truthScale[i]! / meanTruth;
    assert.ok(Math.abs(s.scale / want - 1) < 0.01, `still ${i} scale ${s.scale} vs ${want}`);
  });
  // Offsets as functions of |q|: within 2% of the spread of the true offsets (40) everywhere.
  for (let i = 1; i < nStills; i++)
    for (const q of [0.05, 0.2, 0.35, 0.5]) {
      const [t, o] = [truthOffset[i]!, r.stills[i]!.offset];
      const [want, got] = [t[0]! + t[1]! * q, o[0]! + o[1]! * q];
      assert.ok(
        Math.abs(got - want) < 0.02 * 40,
        `still ${i} offset at |q| ${q}: ${got} vs ${want}`,
      );
    }
  const panelMean = truthPanel.reduce((a, b) => a + b) / nPanels;
  truthPanel.forEach((p, k) =>
    assert.ok(
      Math.abs(r.panelFactors[k]! / (p / panelMean) - 1) < 0.005,
      `panel ${k}: ${r.panelFactors[k]}`,
    ),
  );

  // Merged map: the truth (in the model's normalisation) within the propagated sigma.
  const merged = mergeScaled(obs, r, nVoxels);
  const norm = meanTruth * panelMean * truthPos(r.positionFrame.x0Mm, r.positionFrame.y0Mm);
  let chi2 = 0,
    n = 0;
  for (let v = 0; v < nVoxels; v++) {
    if (!merged.nObs[v]) continue;
    chi2 += ((merged.intensity[v]! - truthRef[v]! * norm) / merged.sigma[v]!) ** 2;
    n++;
  }
  assert.ok(n > 0.99 * nVoxels);
  assert.ok(chi2 / n < 1.2, `merged chi2 per voxel ${chi2 / n}`);
});

test("relative scaling refuses bad input with a typed error", () => {
  const obs = observations();
  obs.sigma[5] = 0;
  assert.throws(
    () => refineScaling(obs, undefined),
    (e: unknown) => e instanceof ScalingError && /observation 5 has sigma 0/.test(e.message),
  );
});
