// Reference values, shared by the tests and their child processes. The Python helpers
// (h5py_write.py, h5py_verify.py, h5py_poll.py) implement the same formulas independently
// with numpy: what the store writes is checked against these, never against itself.

/** Stress/crash data: row i of /rows holds ROW_WIDTH float64 values i*1000 + j. */
export const ROW_WIDTH = 8;
export const rowValue = (i, j) => i * 1000 + j;

/** Rows [start, start+n) of /rows as one C-ordered Float64Array. */
export function rowsBlock(start, n) {
  const out = new Float64Array(n * ROW_WIDTH);
  for (let r = 0; r < n; r++)
    for (let j = 0; j < ROW_WIDTH; j++) out[r * ROW_WIDTH + j] = rowValue(start + r, j);
  return out;
}

/** /index[i] = i (int64), written alongside /rows. */
export function indexBlock(start, n) {
  const out = new BigInt64Array(n);
  for (let r = 0; r < n; r++) out[r] = BigInt(start + r);
  return out;
}

/** Append sizes cycle through these (odd sizes cross chunk boundaries at odd places). */
export const APPEND_SIZES = [1, 7, 13, 3, 5];

const M64 = 1n << 64n;
const GOLDEN = 0x9e3779b97f4a7c15n;

/**
 * Element k (flat C-order index) of the dtype test pattern. Returns a number, bigint
 * (64-bit ints) or [re, im] (complex). Float32 values are rounded with Math.fround, which
 * matches numpy's float64 -> float32 conversion (round to nearest even).
 */
export function elementValue(dtype, k) {
  switch (dtype) {
    case "int8":
      return ((k * 37) % 256) - 128;
    case "uint8":
      return (k * 37) % 256;
    case "int16":
      return ((k * 40503) % 65536) - 32768;
    case "uint16":
      return (k * 40503) % 65536;
    case "int32":
      return ((k * 2654435761) % 4294967296) - 2147483648;
    case "uint32":
      return (k * 2654435761) % 4294967296;
    case "int64":
      return ((BigInt(k) * GOLDEN) % M64) - (1n << 63n);
    case "uint64":
      return (BigInt(k) * GOLDEN) % M64;
    case "float32":
      return Math.fround(k / 3 - 50);
    case "float64":
      return k / 7 - 100;
    case "bool":
      return k % 3 === 0 ? 1 : 0;
    case "complex64":
      return [Math.fround(k / 3), Math.fround(-k / 5 + 0.5)];
    case "complex128":
      return [k / 7, -k / 11 + 0.25];
    default:
      throw new Error(`no formula for ${dtype}`);
  }
}

const CTORS = {
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  float32: Float32Array,
  float64: Float64Array,
  complex64: Float32Array,
  complex128: Float64Array,
};

/** Elements [k0, k0+n) of the pattern in the dtype's typed array (complex interleaved). */
export function pattern(dtype, k0, n) {
  const complex = dtype.startsWith("complex");
  const out = new CTORS[dtype](complex ? 2 * n : n);
  for (let e = 0; e < n; e++) {
    const v = elementValue(dtype, k0 + e);
    if (complex) {
      out[2 * e] = v[0];
      out[2 * e + 1] = v[1];
    } else {
      out[e] = v;
    }
  }
  return out;
}
