// extension/src/workers/histogram.ts: what the compute worker runs (tested without a worker).
import { test } from "node:test";
import assert from "node:assert/strict";
import { histogram } from "../../src/viewer/stats.js";

test("histogram over the data's own range counts every value once", () => {
  const values = Float32Array.from({ length: 1000 }, (_, i) => i);
  const counts = histogram(values, 10);
  assert.ok(counts instanceof Uint32Array);
  assert.deepEqual([...counts], Array(10).fill(100));
});

test("the maximum falls into the last bin; outside the range and NaN are skipped", () => {
  assert.deepEqual([...histogram([0, 0.5, 1], 2)], [1, 2]);
  assert.deepEqual([...histogram([-1, 0, 1, 2, NaN, Infinity], 2, [0, 2])], [1, 2]);
});

test("constant data, no finite data, and bad bin counts", () => {
  assert.deepEqual([...histogram([5, 5, 5], 3)], [3, 0, 0]);
  assert.deepEqual([...histogram([NaN, NaN], 4)], [0, 0, 0, 0]);
  assert.deepEqual([...histogram([], 2)], [0, 0]);
  assert.throws(() => histogram([1], 0), RangeError);
});
