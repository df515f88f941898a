// Phases 1-4 in one call (runDiffusePipeline) on synthetic stills with known truth, in
// physical units (src/synth/stills-truth.ts): the dynamic mask removes the planted hot pixels;
// the relative scaling recovers the known per-still scales and offsets; the merged map equals
// the input diffuse signal within its propagated sigma; the absolute scale is the known one;
// the pipeline resumes after an abort in any step to exactly the uninterrupted result and
// skips complete steps; bad input and failing steps raise typed errors.
//
// Truth in the model's gauge (src/scaling/relative.ts). Still i's corrected intensity is
// s_i K J + o_i (the generator's scale, counts per electron unit and offset, counts/s/sr; the
// generator's o_0 is 0, the gauge). The model is b_i I_ref + c_i with mean(b) = 1 and c_0 = 0,
// so b_i = s_i / mean(s), I_ref = mean(s) K J, c_i = o_i, and the absolute scale (electron
// units per cell per unit of I_ref) is 1 / (mean(s) K).
// J varies inside a voxel (the generator's lattice term cos 2 pi h has period 1, the voxels
// are 1/ndiv wide), so the expected merged value of a voxel is I_ref averaged over the voxel's
// own observations with the merge's weights (M_i / sigma)^2.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  DiffuseInputError,
  DiffusePipelineError,
  StoreReader,
  diffuseTruth,
  findStills,
  geometry,
  loadStill,
  runDiffusePipeline,
  writeSyntheticStills,
  type DiffusePipelineComplete,
  type DiffusePipelineOptions,
  type DiffusePipelineStep,
  type StillsTruth,
} from "../../src/index.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-diffuse-map-"));
const stillsDir = path.join(dir, "stills");
process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));

let truth: StillsTruth;
let run: DiffusePipelineComplete;

function options(t: StillsTruth): DiffusePipelineOptions {
  return {
    beamstop: { radiusMm: 2.2, armWidthMm: 4.4, armDirection: [0, 1, 0] },
    background: (i) => ({ constant: t.stills[i]!.backgroundCounts }),
    pixelStep: 2,
    ndiv: 4,
    dMinA: 2.5,
    inventory: t.params.inventory,
    scaling: {
      // The generator has no detector-position factor: refine the model it was drawn from.
      positionDegree: 0,
      braggOptions: {
        excitationSigma: {
          perA: t.params.excitationSigmaPerA,
          perAPerQ: t.params.excitationSigmaPerAPerQ,
        },
      },
    },
  };
}

test("the whole pipeline on ten synthetic stills", async () => {
  const gen = await writeSyntheticStills(stillsDir, { stills: 10 });
  truth = gen.truth;
  const t0 = performance.now();
  const steps: string[] = [];
  const res = await runDiffusePipeline(stillsDir, path.join(dir, "out"), {
    ...options(truth),
    onStep: (s, info) => steps.push(`${s}${info.skipped ? " (skipped)" : ""}`),
  });
  console.log(`pipeline: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  assert.equal(res.complete, true);
  run = res as DiffusePipelineComplete;
  assert.deepEqual(steps, ["masks", "extract", "grid", "accumulate", "scale", "merge"]);
  assert.deepEqual(run.steps, {
    masks: "ran",
    extract: "ran",
    grid: "ran",
    accumulate: "ran",
    scale: "ran",
    merge: "ran",
  });
  for (const f of Object.values(run.files)) {
    const r = await StoreReader.open(f);
    assert.equal(r.state, "complete", f);
    assert.equal(typeof r.attrs("/").stagelab_stage, "string", f);
    r.close();
  }
  assert.ok(run.merge.rounds.every((r) => r.converged));
  assert.ok(run.merge.absolute && run.merge.absolute.scale > 0);
});

test("masks: every planted hot, dead and flagged pixel is masked (and saved)", async () => {
  const r = await StoreReader.open(run.files.masks);
  const nFast = truth.params.moduleFastPx;
  const planted = [...truth.hotPixels, ...truth.deadPixels, ...truth.badPixels];
  for (const kind of ["pixel", "dynamic"]) {
    const masks = [0, 1, 2].map(
      (i) => r.read<"uint8">(`/masks/${kind}/panel_0${i}`).data as Uint8Array,
    );
    for (const px of planted)
      assert.equal(masks[px.panel]![px.slow * nFast + px.fast], 0, `${kind} ${JSON.stringify(px)}`);
  }
  r.close();
  assert.deepEqual(
    run.masks.pixelMask.map((m) => m.length),
    [0, 1, 2].map(() => nFast * truth.params.moduleSlowPx),
  );
});

test("scaling: the known per-still scales within 1% (up to the overall gauge)", () => {
  const s = truth.stills.map((x) => x.scale);
  const mean = s.reduce((a, b) => a + b) / s.length;
  const b = run.merge.scaling.stills.map((m) => m.scale);
  const bMean = b.reduce((x, y) => x + y) / b.length;
  b.forEach((bi, i) => {
    const err = bi / bMean / (s[i]! / mean) - 1;
    console.log(
      `still ${i}: scale ${bi.toFixed(5)} truth ${(s[i]! / mean).toFixed(5)} error ${(100 * err).toFixed(3)}%`,
    );
    assert.ok(Math.abs(err) < 0.01, `still ${i}: scale error ${err}`);
  });
});

// Offsets are identifiable only relative to still 0 (see the top); the generator draws them at
// 25-75% of the diffuse rate at |q| = 0.3 1/A, and the check is against each offset itself.
test("scaling: the known offsets within 2%", () => {
  const bad: string[] = [];
  run.merge.scaling.stills.forEach((m, i) => {
    if (i === 0) return;
    const expected = truth.stills[i]!.offsetPerSPerSr;
    const c = m.offset[0]!;
    const rel = (c - expected) / expected;
    console.log(
      `still ${i}: offset ${c.toExponential(4)} truth ${expected.toExponential(4)} error ${(100 * rel).toFixed(2)}%`,
    );
    if (Math.abs(rel) > 0.02) bad.push(`still ${i}: ${(100 * rel).toFixed(2)}%`);
  });
  assert.deepEqual(bad, []);
});

test("absolute scale: the known scale within 1%", () => {
  const s = truth.stills.map((x) => x.scale);
  const expected = 1 / ((s.reduce((a, b) => a + b) / s.length) * truth.params.countsPerSPerSrPerEu);
  const abs = run.merge.absolute!;
  const err = abs.scale / expected - 1;
  console.log(
    `absolute scale ${abs.scale.toExponential(5)} truth ${expected.toExponential(5)} error ${(100 * err).toFixed(3)}% ` +
      `(sigma ${((100 * abs.scaleSigma) / abs.scale).toFixed(3)}%, shell scatter ${((100 * abs.details.binScatterSigma) / abs.scale).toFixed(2)}%, diffuse share ${abs.details.diffuseShare.toFixed(2)}, q ${abs.qRange.map((q) => q.toFixed(3)).join("-")})`,
  );
  assert.ok(Math.abs(err) < 0.01, `absolute scale error ${(100 * err).toFixed(3)}%`);
});

test("merge: the merged map equals the input map within its propagated sigma", async () => {
  const grid = run.grid;
  const r = await StoreReader.open(run.files.pixels);
  const q = r.read<"float64">("/diffuse/pixels/q_lab").data as Float64Array;
  const qLen = r.read<"float64">("/diffuse/pixels/q_length").data as Float64Array;
  const sigma = r.read<"float64">("/diffuse/pixels/sigma").data as Float64Array;
  const still = r.read<"uint32">("/diffuse/pixels/still").data as Uint32Array;
  r.close();
  const n = qLen.length;
  const voxel = new Int32Array(n);
  for (let a = 0; a < n;) {
    let b = a + 1;
    while (b < n && still[b] === still[a]) b++;
    grid.computeVoxelIndices(still[a]!, q.subarray(3 * a, 3 * b), undefined, voxel.subarray(a, b));
    a = b;
  }
  // Every still's own crystal gives hkl for the truth function.
  const aInv = await Promise.all(
    findStills(stillsDir).map(async (s) =>
      geometry.mat3Inverse(geometry.aMatrixForStill((await loadStill(s)).experiment.crystal!)),
    ),
  );
  const s = truth.stills.map((x) => x.scale);
  const K = s.reduce((a, b) => a + b) / s.length;
  const C = (truth.stills[0]!.offsetPerSPerSr * K) / truth.stills[0]!.scale;
  const b = run.merge.scaling.stills.map((m) => m.scale);
  const num = new Float64Array(grid.nVoxels),
    den = new Float64Array(grid.nVoxels);
  for (let k = 0; k < n; k++) {
    const v = voxel[k]!;
    if (v < 0 || !(sigma[k]! > 0)) continue;
    const i = still[k]!;
    const [h, kk, l] = geometry.mat3MulVec(aInv[i]!, [q[3 * k]!, q[3 * k + 1]!, q[3 * k + 2]!]);
    // The merge's weight (M / sigma)^2 with M ~ b_i (panel and position factors are ~1).
    const w = (b[i]! / sigma[k]!) ** 2;
    num[v]! += w * (K * diffuseTruth(truth.params, h, kk, l, qLen[k]!) + C);
    den[v]! += w;
  }
  const m = await StoreReader.open(run.files.merged);
  const vi = m.read<"uint32">("/merged/voxel_idx").data as Uint32Array;
  const I = m.read<"float64">("/merged/intensity").data as Float64Array;
  const S = m.read<"float64">("/merged/sigma").data as Float64Array;
  const N = m.read<"uint32">("/merged/n_obs").data as Uint32Array;
  const mapN = m.read<"uint32">("/map/n_obs").data as Uint32Array;
  m.close();
  let chi2 = 0,
    pulls = 0,
    count = 0;
  for (let j = 0; j < vi.length; j++) {
    const v = vi[j]!;
    assert.ok(den[v]! > 0, `voxel ${v} has no observation of the pixel list`);
    const p = (I[j]! - num[v]! / den[v]!) / S[j]!;
    chi2 += p * p;
    pulls += p;
    count++;
    assert.equal(mapN[v], N[j]);
  }
  console.log(
    `merged voxels ${count}: chi2/voxel ${(chi2 / count).toFixed(3)}, mean pull ${(pulls / count).toFixed(3)}`,
  );
  assert.ok(count > 10_000, `${count} voxels`);
  assert.ok(Math.abs(chi2 / count - 1) < 0.1, `chi2/voxel ${chi2 / count}`);
  assert.ok(Math.abs(pulls / count) < 0.1, `mean pull ${pulls / count}`);
  // The accumulator binned the same observations into the same voxels.
  const acc = await StoreReader.open(run.files.voxels);
  const accN = acc.read<"uint32">("/map/n_obs").data as Uint32Array;
  acc.close();
  assert.deepEqual(accN, mapN);
  assert.equal(
    run.accumulation.totalObservations,
    N.reduce((a, x) => a + x, 0),
  );
});

test("a second call skips every step and returns the same result", async () => {
  const reported: string[] = [];
  const again = await runDiffusePipeline(stillsDir, path.join(dir, "out"), {
    ...options(truth),
    onStep: (s, info) => reported.push(`${s}${info.skipped ? " (skipped)" : ""}`),
  });
  assert.equal(again.complete, true);
  assert.deepEqual(Object.values(again.steps), Array(6).fill("skipped"));
  assert.deepEqual(
    reported,
    ["masks", "extract", "grid", "accumulate", "scale", "merge"].map((s) => `${s} (skipped)`),
  );
  if (!again.complete) return;
  assert.equal(again.merge.resumed, true);
  assert.deepEqual(
    again.merge.scaling.stills.map((s) => s.scale),
    run.merge.scaling.stills.map((s) => s.scale),
  );
  assert.equal(again.merge.absolute?.scale, run.merge.absolute?.scale);
  assert.equal(again.grid.geometryKey, run.grid.geometryKey);
});

test("resume after an abort in any step gives the uninterrupted result", async () => {
  const cheap: DiffusePipelineOptions = {
    ...options(truth),
    pixelStep: 4,
    scaling: { ...options(truth).scaling, maxIterations: 15 },
  };
  const whole = await runDiffusePipeline(stillsDir, path.join(dir, "whole"), cheap);
  assert.equal(whole.complete, true);
  const out = path.join(dir, "part");
  const stops: DiffusePipelineStep[] = [];
  // Abort mid-extraction (after two stills), as accumulation starts, and mid-scaling.
  const abortWhen: ((ac: AbortController) => DiffusePipelineOptions)[] = [
    (ac) => ({ onProgress: (s, done) => s === "extract" && done === 2 && ac.abort() }),
    (ac) => ({ onStep: (s) => s === "accumulate" && ac.abort() }),
    (ac) => ({ onIteration: (it) => it.iteration === 5 && ac.abort() }),
  ];
  for (const when of abortWhen) {
    const ac = new AbortController();
    const r = await runDiffusePipeline(stillsDir, out, {
      ...cheap,
      ...when(ac),
      signal: ac.signal,
    });
    assert.equal(r.complete, false);
    if (!r.complete) stops.push(r.stoppedAt);
  }
  assert.deepEqual(stops, ["extract", "accumulate", "scale"]);
  const last = await runDiffusePipeline(stillsDir, out, cheap);
  assert.equal(last.complete, true);
  assert.deepEqual(last.steps, {
    masks: "skipped",
    extract: "skipped",
    grid: "skipped",
    accumulate: "skipped",
    scale: "ran",
    merge: "ran",
  });
  const [a, b] = [
    await StoreReader.open(path.join(dir, "whole", "merged.h5")),
    await StoreReader.open(path.join(out, "merged.h5")),
  ];
  for (const ds of [
    "/merged/voxel_idx",
    "/merged/intensity",
    "/merged/sigma",
    "/merged/n_obs",
    "/merged/intensity_abs",
    "/scaling/scale",
    "/scaling/offset",
    "/map/intensity",
  ])
    assert.deepEqual(b.read(ds).data, a.read(ds).data, ds);
  a.close();
  b.close();
  const [pa, pb] = [
    await StoreReader.open(path.join(dir, "whole", "pixels.h5")),
    await StoreReader.open(path.join(out, "pixels.h5")),
  ];
  assert.deepEqual(
    pb.read("/diffuse/pixels/intensity").data,
    pa.read("/diffuse/pixels/intensity").data,
  );
  pa.close();
  pb.close();
});

test("typed errors: bad input, and a failing step named with its cause", async () => {
  const empty = path.join(dir, "empty");
  fs.mkdirSync(empty);
  await assert.rejects(runDiffusePipeline(empty, path.join(dir, "x")), DiffuseInputError);
  await assert.rejects(
    runDiffusePipeline(stillsDir, path.join(dir, "whole"), {
      ...options(truth),
      pixelStep: 4,
      ndiv: 0,
    }),
    (e: unknown) =>
      e instanceof DiffusePipelineError && e.step === "grid" && /ndiv/.test(e.message) && !!e.cause,
  );
  await assert.rejects(
    runDiffusePipeline(stillsDir, path.join(dir, "whole"), {
      ...options(truth),
      pixelStep: 4,
      useBragg: false,
    }),
    (e: unknown) => e instanceof DiffuseInputError && e.field === "inventory",
  );
});
