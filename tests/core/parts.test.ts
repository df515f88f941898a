// extension/src/chunking.ts: arrays go to the browser in parts under the Jupyter server's
// 10 MiB websocket message limit, and come back together byte for byte.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  DEFAULT_PART_BYTES,
  MAX_MESSAGE_BYTES,
  PartCollector,
  joinParts,
  partCount,
  splitBuffer,
} from "../../src/viewer/parts.js";

function bytes(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff);
}

test("the default part size stays under the server's message limit", () => {
  assert.ok(DEFAULT_PART_BYTES > 0);
  assert.ok(DEFAULT_PART_BYTES < MAX_MESSAGE_BYTES);
  assert.equal(MAX_MESSAGE_BYTES, 10 * 1024 * 1024);
});

test("splitBuffer makes parts of at most maxBytes, the last one shorter", () => {
  const data = bytes(10);
  const parts = splitBuffer(data, 4);
  assert.deepEqual(
    parts.map((p) => p.byteLength),
    [4, 4, 2],
  );
  assert.equal(partCount(10, 4), 3);
  assert.deepEqual(joinParts(parts), data);
});

test("splitBuffer: exact multiples, one part, empty data", () => {
  assert.deepEqual(
    splitBuffer(bytes(8), 4).map((p) => p.byteLength),
    [4, 4],
  );
  assert.equal(splitBuffer(bytes(3), 4).length, 1);
  assert.equal(splitBuffer(new ArrayBuffer(0), 4).length, 0);
  assert.equal(partCount(0, 4), 0);
  assert.equal(joinParts([]).byteLength, 0);
});

test("parts are views on the data, not copies", () => {
  const data = bytes(9);
  const parts = splitBuffer(data, 4);
  for (const part of parts) assert.equal(part.buffer, data.buffer);
});

test("splitBuffer respects a typed array's offset and length into its buffer", () => {
  const all = new Float64Array([0, 1, 2, 3, 4, 5, 6, 7]);
  const middle = all.subarray(2, 6); // 2, 3, 4, 5: 32 bytes from byte 16
  const parts = splitBuffer(middle, 12); // 12 + 12 + 8
  assert.deepEqual(
    parts.map((p) => p.byteLength),
    [12, 12, 8],
  );
  const joined = joinParts(parts, middle.byteLength);
  assert.deepEqual(new Float64Array(joined.buffer), new Float64Array([2, 3, 4, 5]));
});

test("a 25 MiB Float32Array round-trips in default-size parts", () => {
  const n = (25 * 1024 * 1024) / 4;
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) values[i] = Math.sin(i) * 1e3;
  const parts = splitBuffer(values);
  assert.equal(parts.length, partCount(values.byteLength));
  for (const p of parts) assert.ok(p.byteLength <= DEFAULT_PART_BYTES);
  const back = new Float32Array(joinParts(parts, values.byteLength).buffer);
  assert.deepEqual(back, values);
});

test("PartCollector joins parts arriving out of order", () => {
  const data = bytes(1000);
  const parts = splitBuffer(data, 64);
  const collector = new PartCollector(parts.length, data.byteLength);
  const order = parts.map((_, i) => i).reverse();
  for (const i of order) {
    assert.equal(collector.complete, false);
    // Each part as its own ArrayBuffer, as it arrives from a message.
    collector.add(i, parts[i]!.slice().buffer);
  }
  assert.equal(collector.complete, true);
  assert.equal(collector.receivedBytes, 1000);
  assert.deepEqual(collector.join(), data);
});

test("PartCollector refuses repeated, out-of-range and missing parts", () => {
  const collector = new PartCollector(3, 30);
  collector.add(0, bytes(10));
  assert.throws(() => collector.add(0, bytes(10)), /received twice/);
  assert.throws(() => collector.add(3, bytes(10)), RangeError);
  assert.throws(() => collector.add(-1, bytes(10)), RangeError);
  assert.throws(() => collector.join(), /parts missing: 1, 2/);
  collector.add(1, bytes(10));
  collector.add(2, bytes(9));
  assert.throws(() => collector.join(), /hold 29 bytes, expected 30/);
});

test("bad part sizes are refused", () => {
  assert.throws(() => splitBuffer(bytes(4), 0), RangeError);
  assert.throws(() => splitBuffer(bytes(4), 1.5), RangeError);
  assert.throws(() => partCount(4, -1), RangeError);
});
