// Phases 1-2 end to end on synthetic stills with known truth: the generator writes real
// CBF/.expt/.refl files; masks find the planted bad pixels; the corrected diffuse intensity of
// every kept pixel matches the known input signal within its propagated sigma (pulls with
// mean ~0 and width ~1); the stage resumes after an abort to exactly the uninterrupted result.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  StoreReader,
  beamstopShadow,
  andMasks,
  staticMask,
  diffuseTruth,
  dynamicMask,
  extractDiffuse,
  findStills,
  loadStill,
  readStillImage,
  writeSyntheticStills,
  geometry,
  type StillsTruth,
} from "../../src/index.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-diffuse-"));
const stillsDir = path.join(dir, "stills");
process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));

let truth: StillsTruth;

test("synthetic stills: files, resume after abort", async () => {
  const ac = new AbortController();
  const first = await writeSyntheticStills(stillsDir, {
    stills: 3,
    onProgress: (done) => done === 1 && ac.abort(),
    signal: ac.signal,
  });
  assert.equal(first.complete, false);
  assert.equal(first.generated, 1);
  const cbf0 = fs.readFileSync(first.files[0]!.cbf);
  const rest = await writeSyntheticStills(stillsDir, { stills: 3 });
  assert.deepEqual([rest.generated, rest.resumed, rest.complete], [2, 1, true]);
  assert.deepEqual(fs.readFileSync(rest.files[0]!.cbf), cbf0);
  await assert.rejects(writeSyntheticStills(stillsDir, { stills: 4 }), /other parameters/);
  truth = rest.truth;
});

let pixelMask: Uint8Array[];

test("masks: the dynamic mask finds every hot and dead pixel, few others", async () => {
  const stills = findStills(stillsDir);
  assert.equal(stills.length, 3);
  const { experiment } = await loadStill(stills[0]!);
  const images = async function* () {
    for (const s of stills) {
      const { experiment: e } = await loadStill(s);
      yield (await readStillImage(e, { baseDir: stillsDir })).panels;
    }
  };
  const r = await dynamicMask(experiment.detector, images());
  pixelMask = r.mask;
  const nFast = truth.params.moduleFastPx;
  for (const px of [...truth.hotPixels, ...truth.deadPixels, ...truth.badPixels])
    assert.equal(r.mask[px.panel]![px.slow * nFast + px.fast], 0, `pixel ${JSON.stringify(px)}`);
  // Besides those, only few pixels: the beamstop shadow is dark (cold) on every still too.
  let total = 0,
    others = 0;
  experiment.detector.panels.forEach((p, i) => {
    const shadow = beamstopShadow(truth.params, p);
    total += shadow.length;
    for (let k = 0; k < shadow.length; k++) if (!r.mask[i]![k] && !shadow[k]) others++;
  });
  const planted = truth.hotPixels.length + truth.deadPixels.length + truth.badPixels.length;
  assert.ok(others < planted + 0.0005 * total, `${others} pixels masked outside the shadow`);
});

test("extraction: corrected diffuse intensity equals the known signal within sigma", async () => {
  const out = path.join(dir, "pixels.h5");
  const background = (i: number) => ({ constant: truth.stills[i]!.backgroundCounts });
  // The beamstop (and its arm, up along +y) as a user would describe it.
  const { experiment } = await loadStill(findStills(stillsDir)[0]!);
  const stop = staticMask(experiment.detector, {
    regions: [{ kind: "beamstop", radiusMm: 2.2, armWidthMm: 4.4, armDirection: [0, 1, 0] }],
  });
  const res = await extractDiffuse(stillsDir, out, {
    pixelMask: andMasks(pixelMask, stop),
    background,
  });
  assert.equal(res.complete, true);
  const r = await StoreReader.open(out);
  const q = r.read<"float64">("/diffuse/pixels/q_lab").data;
  const qLen = r.read<"float64">("/diffuse/pixels/q_length").data;
  const I = r.read<"float64">("/diffuse/pixels/intensity").data;
  const sigma = r.read<"float64">("/diffuse/pixels/sigma").data;
  const still = r.read<"uint32">("/diffuse/pixels/still").data;
  const mult = r.read<"float64">("/diffuse/pixels/total_mult").data;
  const nPix = r.read<"uint64">("/diffuse/stills/n_pixels").data;
  assert.equal(r.state, "complete");
  r.close();
  assert.equal(Number(nPix.reduce((a, b) => a + b, 0n)), I.length);

  // Every still's own crystal from its .expt gives hkl for the truth function.
  const aInv = await Promise.all(
    findStills(stillsDir).map(async (s) =>
      geometry.mat3Inverse(geometry.aMatrixForStill((await loadStill(s)).experiment.crystal!)),
    ),
  );
  let n = 0,
    sum = 0,
    sum2 = 0,
    ratio = 0;
  for (let k = 0; k < I.length; k++) {
    const s = truth.stills[still[k]!]!;
    const [h, kk, l] = geometry.mat3MulVec(aInv[still[k]!]!, [
      q[3 * k]!,
      q[3 * k + 1]!,
      q[3 * k + 2]!,
    ]);
    assert.ok(Math.abs(Math.hypot(q[3 * k]!, q[3 * k + 1]!, q[3 * k + 2]!) - qLen[k]!) < 1e-12);
    const expected = s.scale * diffuseTruth(truth.params, h, kk, l, qLen[k]!) + s.offsetPerSPerSr;
    // The true sigma, from the expected raw counts (Poisson variance of background + signal);
    // pulls against the reported sigma (from the observed counts) are biased by design.
    const expectedRaw = s.backgroundCounts + (s.exposureS * expected) / mult[k]!;
    const sigmaTrue = (Math.sqrt(expectedRaw) / s.exposureS) * mult[k]!;
    const pull = (I[k]! - expected) / sigmaTrue;
    n++;
    sum += pull;
    sum2 += pull * pull;
    ratio += sigma[k]! / sigmaTrue;
  }
  const mean = sum / n,
    sd = Math.sqrt(sum2 / n - mean * mean);
  // ~0.8 M pixels: pulls of unbiased data have mean 0 +- 0.002 and width 1 +- 0.002.
  console.log(
    `pulls: n ${n} mean ${mean.toFixed(4)} sd ${sd.toFixed(4)} sigma ratio ${(ratio / n).toFixed(4)}`,
  );
  assert.ok(n > 500_000, `${n} pixels`);
  assert.ok(Math.abs(mean) < 0.01, `mean pull ${mean}`);
  assert.ok(Math.abs(sd - 1) < 0.02, `pull width ${sd}`);
  // The propagated sigma estimates the true one.
  assert.ok(Math.abs(ratio / n - 1) < 0.02, `sigma / true sigma = ${ratio / n}`);
});

test("extraction: an interrupted run resumes to the uninterrupted result", async () => {
  const whole = path.join(dir, "whole.h5"),
    part = path.join(dir, "part.h5");
  const opts = { pixelStep: 3, dMinA: 2.5 };
  await extractDiffuse(stillsDir, whole, opts);
  const ac = new AbortController();
  const first = await extractDiffuse(stillsDir, part, {
    ...opts,
    signal: ac.signal,
    onProgress: (done) => done === 2 && ac.abort(),
  });
  assert.deepEqual([first.complete, first.resumedFrom], [false, 0]);
  const second = await extractDiffuse(stillsDir, part, opts);
  assert.deepEqual([second.complete, second.resumedFrom], [true, 2]);
  const [a, b] = [await StoreReader.open(whole), await StoreReader.open(part)];
  for (const ds of ["q_lab", "intensity", "sigma", "fast", "slow", "still"])
    assert.deepEqual(
      b.read(`/diffuse/pixels/${ds}`).data,
      a.read(`/diffuse/pixels/${ds}`).data,
      ds,
    );
  // The resolution filter held: every d >= 2.5 A.
  const qLen = a.read<"float64">("/diffuse/pixels/q_length").data;
  assert.ok(qLen.every((v) => 1 / v >= 2.5));
  a.close();
  b.close();
  // Different inputs on an unfinished file are refused, not mixed in.
  const ac2 = new AbortController();
  await extractDiffuse(stillsDir, part + "2", {
    signal: ac2.signal,
    onProgress: () => ac2.abort(),
  });
  await assert.rejects(extractDiffuse(stillsDir, part + "2", { pixelStep: 2 }), /other inputs/);
});
