/**
 * The CBF "byte_offset" codec (x-CBF_BYTE_OFFSET): each pixel is stored as the difference
 * from the previous one (the first from 0), in 1 byte when it fits in [-127, 127]; otherwise
 * the byte 0x80 and 2 bytes for [-32767, 32767]; otherwise 0x8000 after that and 4 bytes;
 * for 64-bit elements, 0x80000000 after that and 8 bytes. All little-endian.
 *
 * 32-bit data in practice: CBFlib (hence Pilatus/Eiger camservers) and dxtbx write the delta
 * modulo 2^32, so it always fits 4 bytes, and a delta of exactly -2^31 is written as the
 * 4-byte value 0x80000000 itself; dxtbx and fabio read it back as that delta, not as the
 * 64-bit escape. We do the same, and fall back to the escape reading only when the literal
 * one disagrees with X-Binary-Size (see parseCbf).
 */

export interface ByteOffsetResult {
  /** Pixels decoded (== out.length unless the input ran out). */
  decoded: number;
  /** Input bytes consumed. */
  consumed: number;
  /** 4-byte deltas equal to 0x80000000 met (each read as escape or literal, see `escape64`). */
  ambiguous: number;
}

/** Longest encoding of one delta (1 + 2 + 4 + 8 bytes). */
const MAX_DELTA_BYTES = 15;

/**
 * Decode `out.length` pixels of 32-bit (or narrower) elements into `out`, accumulating modulo
 * 2^32. With `escape64`, a 4-byte 0x80000000 announces an 8-byte delta (of which only the low
 * word matters modulo 2^32); without (the default, as CBFlib, dxtbx and fabio), it is the
 * delta -2^31. `decoded < out.length` means the input ended first.
 */
export function decodeByteOffset(
  src: Uint8Array,
  out: Int32Array,
  escape64 = false,
): ByteOffsetResult {
  const n = out.length;
  const len = src.length;
  const s8 = new Int8Array(src.buffer, src.byteOffset, len);
  let p = 0;
  let i = 0;
  let v = 0;
  let ambiguous = 0;
  // Fast loop: while a whole worst-case delta is in bounds, no per-byte bounds checks. Most
  // deltas of real images take one byte, so those run in a tight inner loop of their own.
  const safeEnd = len - MAX_DELTA_BYTES;
  while (i < n && p <= safeEnd) {
    const stop = i + Math.min(n - i, safeEnd - p + 1);
    // Four 1-byte deltas at a time while none is the 0x80 escape (~13% faster in V8).
    const stop4 = stop - 3;
    while (i < stop4) {
      const a = s8[p]!;
      const b = s8[p + 1]!;
      const c = s8[p + 2]!;
      const d = s8[p + 3]!;
      if (a === -128 || b === -128 || c === -128 || d === -128) break;
      v = (v + a) | 0;
      out[i] = v;
      v = (v + b) | 0;
      out[i + 1] = v;
      v = (v + c) | 0;
      out[i + 2] = v;
      v = (v + d) | 0;
      out[i + 3] = v;
      p += 4;
      i += 4;
    }
    while (i < stop) {
      const d8 = s8[p]!;
      if (d8 === -128) break;
      v = (v + d8) | 0;
      p++;
      out[i++] = v;
    }
    if (i >= stop) continue;
    const d16 = ((src[p + 1]! | (src[p + 2]! << 8)) << 16) >> 16;
    if (d16 !== -32768) {
      v = (v + d16) | 0;
      p += 3;
    } else {
      const d32 = src[p + 3]! | (src[p + 4]! << 8) | (src[p + 5]! << 16) | (src[p + 6]! << 24);
      if (d32 === -2147483648) ambiguous++;
      if (d32 !== -2147483648 || !escape64) {
        v = (v + d32) | 0;
        p += 7;
      } else {
        const lo = src[p + 7]! | (src[p + 8]! << 8) | (src[p + 9]! << 16) | (src[p + 10]! << 24);
        v = (v + lo) | 0;
        p += 15;
      }
    }
    out[i++] = v;
  }
  // Tail: the last few deltas, each checked against the end of the input.
  while (i < n && p < len) {
    const d = readDelta(src, p, escape64);
    if (!d) break;
    if (d.ambiguous) ambiguous++;
    v = (v + d.lo) | 0;
    p += d.bytes;
    out[i++] = v;
  }
  return { decoded: i, consumed: p, ambiguous };
}

/** One delta at p (bounds-checked): its low 32 bits, exact value if safe, and its length. */
function readDelta(
  src: Uint8Array,
  p: number,
  escape64: boolean,
): { lo: number; exact: number; bytes: number; ambiguous: boolean } | undefined {
  const len = src.length;
  const u32 = (q: number) =>
    src[q]! | (src[q + 1]! << 8) | (src[q + 2]! << 16) | (src[q + 3]! << 24);
  const d8 = (src[p]! << 24) >> 24;
  if (d8 !== -128) return { lo: d8, exact: d8, bytes: 1, ambiguous: false };
  if (p + 3 > len) return undefined;
  const d16 = ((src[p + 1]! | (src[p + 2]! << 8)) << 16) >> 16;
  if (d16 !== -32768) return { lo: d16, exact: d16, bytes: 3, ambiguous: false };
  if (p + 7 > len) return undefined;
  const d32 = u32(p + 3);
  if (d32 !== -2147483648 || !escape64) {
    return { lo: d32, exact: d32, bytes: 7, ambiguous: d32 === -2147483648 };
  }
  if (p + 15 > len) return undefined;
  const lo = u32(p + 7);
  const hi = u32(p + 11);
  // Exact below 2^53; beyond that the value is out of any range we return anyway.
  return { lo, exact: hi * 4294967296 + (lo >>> 0), bytes: 15, ambiguous: true };
}

/**
 * Decode 64-bit elements (fabio writes numpy int64 arrays so): exact values as float64
 * (exact to 2^53), for the caller to range-check. Slow path; such files are rare.
 */
export function decodeByteOffsetWide(
  src: Uint8Array,
  n: number,
): { values: Float64Array; decoded: number; consumed: number } {
  const values = new Float64Array(n);
  let p = 0;
  let i = 0;
  let v = 0;
  while (i < n && p < src.length) {
    const d = readDelta(src, p, true);
    if (!d) break;
    v += d.exact;
    p += d.bytes;
    values[i++] = v;
  }
  return { values, decoded: i, consumed: p };
}

/** Bytes the byte_offset encoding of `data` takes (32-bit deltas, as CBFlib). */
export function byteOffsetSize(data: ArrayLike<number>): number {
  let size = 0;
  let prev = 0;
  for (let i = 0; i < data.length; i++) {
    const x = data[i]! | 0;
    const d = (x - prev) | 0;
    prev = x;
    size += d >= -127 && d <= 127 ? 1 : d >= -32767 && d <= 32767 ? 3 : 7;
  }
  return size;
}

/**
 * Encode 32-bit integer pixels exactly as CBFlib (and dxtbx's `compress`) do: deltas modulo
 * 2^32, in 1, 3 or 7 bytes. Byte-identical to CBFlib output for the same data.
 */
export function encodeByteOffset(data: ArrayLike<number>): Uint8Array {
  return encodeByteOffsetView(data).slice();
}

/**
 * As encodeByteOffset, but returns a view into a worst-case-sized buffer (7 bytes a pixel):
 * one pass and no copy, for callers that copy the bytes on anyway (encodeCbf).
 */
export function encodeByteOffsetView(data: ArrayLike<number>): Uint8Array {
  // Fresh pages are zeroed lazily by the OS: the oversized allocation itself is cheap.
  const out = new Uint8Array(data.length * 7);
  let p = 0;
  let prev = 0;
  for (let i = 0; i < data.length; i++) {
    const x = data[i]! | 0;
    const d = (x - prev) | 0;
    prev = x;
    if (d >= -127 && d <= 127) {
      out[p++] = d;
    } else if (d >= -32767 && d <= 32767) {
      out[p] = 0x80;
      out[p + 1] = d;
      out[p + 2] = d >> 8;
      p += 3;
    } else {
      out[p] = 0x80;
      out[p + 1] = 0x00;
      out[p + 2] = 0x80;
      out[p + 3] = d;
      out[p + 4] = d >> 8;
      out[p + 5] = d >> 16;
      out[p + 6] = d >>> 24;
      p += 7;
    }
  }
  return out.subarray(0, p);
}
