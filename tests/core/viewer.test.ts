// The viewers' pure parts: colormaps against matplotlib's published endpoint colours,
// colour scaling (limits, log, NaN), percentile limits against numpy, and read plans.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  applyColormap,
  colormapLut,
  defaultView,
  percentileLimits,
  planRead,
  type ColormapName,
} from "../../src/viewer/index.js";

const python = process.env.STAGELAB_SYSTEM_PYTHON ?? "/usr/bin/python3";

test("colormaps stay within 6/255 of matplotlib's at its quartile colours; luminance rises", () => {
  // matplotlib's own viridis and magma at 0, 1/4, 1/2, 3/4, 1; Moreland's coolwarm ends.
  const stops: Record<string, string[]> = {
    viridis: ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"],
    magma: ["#000004", "#51127c", "#b73779", "#fc8961", "#fcfdbf"],
    gray: ["#000000", "#404040", "#808080", "#bfbfbf", "#ffffff"],
  };
  for (const [name, hexes] of Object.entries(stops)) {
    const lut = colormapLut(name as ColormapName);
    hexes.forEach((h, k) => {
      const i = Math.round((k * 255) / 4);
      for (let c = 0; c < 3; c++) {
        const want = parseInt(h.slice(1 + 2 * c, 3 + 2 * c), 16);
        assert.ok(
          Math.abs(lut[3 * i + c]! - want) <= 6,
          `${name}(${k / 4})[${c}] = ${lut[3 * i + c]}, matplotlib ${want}`,
        );
      }
    });
    const lum = (i: number) =>
      0.2126 * lut[3 * i]! + 0.7152 * lut[3 * i + 1]! + 0.0722 * lut[3 * i + 2]!;
    for (let i = 8; i < 256; i += 8)
      assert.ok(lum(i) > lum(i - 8), `${name} luminance rises at ${i}`);
  }
  const cw = colormapLut("coolwarm");
  assert.deepEqual([...cw.slice(0, 3), ...cw.slice(765)], [59, 76, 192, 180, 4, 38]);
});

test("applyColormap: limits clip, log maps decades, NaN is transparent", () => {
  const lut = colormapLut("gray");
  const rgba = applyColormap([-5, 0, 5, 10, 20, NaN], { colormap: "gray", lo: 0, hi: 10 });
  const gray = (i: number) => rgba[4 * i]!;
  assert.deepEqual([gray(0), gray(1), gray(3), gray(4)], [lut[0], lut[0], 255, 255]);
  assert.ok(Math.abs(gray(2) - 127.5) <= 1);
  assert.equal(rgba[4 * 5 + 3], 0);
  const log = applyColormap([1, 10, 100], { colormap: "gray", lo: 1, hi: 100, log: true });
  assert.ok(Math.abs(log[4]! - 127.5) <= 1, "10 is halfway between 1 and 100 in log");
});

test("percentileLimits equal numpy.percentile on the same values", () => {
  const values = Float64Array.from({ length: 5000 }, (_, i) => Math.sin(i) * 100 + ((i * 37) % 11));
  const r = spawnSync(
    python,
    [
      "-c",
      "import sys, json, numpy as np; v = np.array(json.load(sys.stdin)); print(json.dumps([float(np.percentile(v, 1, method='closest_observation')), float(np.percentile(v, 99, method='closest_observation'))]))",
    ],
    {
      input: JSON.stringify(Array.from(values)),
      encoding: "utf8",
    },
  );
  assert.equal(r.status, 0, r.stderr);
  const [lo, hi] = JSON.parse(r.stdout) as [number, number];
  const [ours0, ours1] = percentileLimits(values, 1, 99);
  // Both pick an observed value; allow one rank of difference in the rounding convention.
  const sorted = Array.from(values).sort((a, b) => a - b);
  const rank = (v: number) => sorted.indexOf(v);
  assert.ok(Math.abs(rank(ours0) - rank(lo)) <= 1, `${ours0} vs ${lo}`);
  assert.ok(Math.abs(rank(ours1) - rank(hi)) <= 1, `${ours1} vs ${hi}`);
});

test("read plans: striding to the view size, indices, windows", () => {
  const big = planRead([4096, 4096], { displayAxes: [0, 1], indices: {}, maxPerAxis: 512 });
  assert.deepEqual(big.shape, [512, 512]);
  assert.deepEqual(big.steps, [8, 8]);
  assert.deepEqual(big.selection, [
    [0, 4096, 8],
    [0, 4096, 8],
  ]);
  const cube = planRead([10, 30, 40], defaultView([10, 30, 40], 16));
  assert.deepEqual(cube.selection, [9, [0, 30, 2], [0, 40, 3]]);
  assert.deepEqual(cube.shape, [15, 14]);
  const zoom = planRead([100, 100], {
    displayAxes: [0, 1],
    indices: {},
    maxPerAxis: 64,
    window: { 0: [10, 20], 1: [50, 250] },
  });
  assert.deepEqual(zoom.selection, [
    [10, 20, 1],
    [50, 100, 1],
  ]);
  const line = planRead([5], defaultView([5]));
  assert.deepEqual(line.selection, [[0, 5, 1]]);
});
