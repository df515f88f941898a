// Bytes from the kernel decode to the values that were encoded, for every dtype.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeToFloat64 } from "../../src/viewer/decode.js";
import { allocate, DTYPES } from "../../src/store/dtype.js";

test("decodeToFloat64 gives back every dtype's values (complex interleaved)", () => {
  for (const dtype of DTYPES) {
    const a = allocate(dtype, 5);
    const want: number[] = [];
    for (let i = 0; i < a.length; i++) {
      const v = dtype === "bool" ? i % 2 : dtype.startsWith("u") ? i * 3 : i * 3 - 5;
      (a as unknown as (number | bigint)[])[i] =
        a instanceof BigInt64Array || a instanceof BigUint64Array ? BigInt(v) : v;
      want.push(v);
    }
    // At an odd offset inside a larger buffer, as a message part can be.
    const bytes = new Uint8Array(a.byteLength + 3);
    bytes.set(new Uint8Array(a.buffer), 3);
    assert.deepEqual(Array.from(decodeToFloat64(dtype, bytes.subarray(3))), want, dtype);
  }
});
