// The pipeline's configuration: the seed's constants are the defaults, and each bad value is a
// typed error naming its key.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  DEFAULT_TESS_BAND_WEIGHTS,
  PS1_DEFAULT_BAD_MASK,
  kernelRadiusPx,
  resolveConfig,
  SkycellConfigError,
} from "../../src/skycell/index.js";

const dataset = { bandWeights: DEFAULT_TESS_BAND_WEIGHTS, badMaskBits: PS1_DEFAULT_BAD_MASK };

test("defaults are the seed's: overlap 480, edge exclusion 10 (470 effective), pad 480, sigma 60, gather 300 s", () => {
  const c = resolveConfig({}, dataset);
  assert.equal(c.overlapPx, 480);
  assert.equal(c.edgeExclusionPx, 10);
  assert.equal(c.overlapPx - c.edgeExclusionPx, 470);
  assert.equal(c.padPx, 480);
  assert.equal(c.psfSigmaPx, 60);
  assert.equal(c.gatherTimeoutMs, 300_000);
  // scipy's radius rule: trunc(4 * 60 + 0.5) = 240 <= pad.
  assert.equal(kernelRadiusPx(c), 240);
});

test("each bad value is a SkycellConfigError naming its key", () => {
  for (const [bad, key] of [
    [{ workers: 0 }, "workers"],
    [{ psfSigmaPx: -1 }, "psfSigmaPx"],
    [{ edgeExclusionPx: 500 }, "edgeExclusionPx"],
    [{ psfSigmaPx: 200 }, "padPx"],
    [{ bandWeights: { r: 0 } }, "bandWeights"],
    [{ badMaskBits: 1.5 }, "badMaskBits"],
    [{ gatherTimeoutMs: 0 }, "gatherTimeoutMs"],
  ] as const) {
    assert.throws(
      () => resolveConfig(bad, dataset),
      (e: Error) => e instanceof SkycellConfigError && e.key === key,
      JSON.stringify(bad),
    );
  }
});
