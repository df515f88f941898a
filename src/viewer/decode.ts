/**
 * Array bytes as they arrive from the kernel (little-endian, C order) to float64 values for
 * display; complex values stay interleaved (re, im). Pure; runs in the compute worker.
 */
import { itemBytes, view, type DType } from "../store/dtype.js";

export function decodeToFloat64(dtype: DType, bytes: Uint8Array): Float64Array {
  const aligned = bytes.byteOffset % 8 === 0 ? bytes : bytes.slice();
  const typed = view(
    dtype,
    aligned.buffer as ArrayBuffer,
    aligned.byteOffset,
    aligned.byteLength / itemBytes(dtype),
  );
  if (typed instanceof Float64Array)
    return typed.byteOffset === 0 && typed.length * 8 === typed.buffer.byteLength
      ? typed
      : typed.slice();
  return Float64Array.from(typed as ArrayLike<number | bigint>, Number);
}
