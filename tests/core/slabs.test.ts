// No single WASM call may move more than the per-call limit: transfers are cut into slabs
// along the outermost axis with more than one element, recursing inward when one step of
// that axis is still too big. The slabs must tile the request exactly, in order.
import { test } from "node:test";
import assert from "node:assert/strict";
import { splitSlabs } from "../../src/store/h5file.js";
import { MAX_CALL_BYTES } from "../../src/store/h5lib.js";

function cover(start: number[], count: number[], itemBytes: number, max: number, step?: number[]) {
  const slabs = splitSlabs(start, count, itemBytes, max, step);
  const total = count.reduce((a, b) => a * b, 1) * itemBytes;
  let offset = 0;
  for (const s of slabs) {
    assert.ok(
      s.byteLength <= Math.max(max, count.at(-1)! * itemBytes),
      `slab of ${s.byteLength} bytes over ${max}`,
    );
    assert.equal(s.byteOffset, offset, "slabs are contiguous and in order");
    assert.equal(s.byteLength, s.count.reduce((a, b) => a * b, 1) * itemBytes);
    offset += s.byteLength;
  }
  assert.equal(offset, total);
  return slabs;
}

test("a 1 GiB float32 read is cut into slabs under the per-call limit", () => {
  const slabs = cover([0, 0], [16384, 16384], 4, MAX_CALL_BYTES);
  assert.equal(slabs.length, 4);
  assert.deepEqual(
    slabs.map((s) => s.start[0]),
    [0, 4096, 8192, 12288],
  );
});

test("rows bigger than the limit recurse into the next axis; strides carry through", () => {
  const slabs = cover([2, 0, 0], [3, 8, 1000], 8, 20_000, [2, 1, 1]);
  // 8 x 1000 float64 = 64 kB per step of axis 0 > 20 kB: split along axis 1 too.
  assert.ok(slabs.every((s) => s.count[0] === 1));
  assert.deepEqual([...new Set(slabs.map((s) => s.start[0]))], [2, 4, 6]);
  assert.equal(slabs[0]!.count[1]! * 1000 * 8 <= 20_000, true);
});

test("small transfers are a single slab", () => {
  assert.equal(cover([5], [10], 4, MAX_CALL_BYTES).length, 1);
});
