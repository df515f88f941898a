/**
 * The browser side of H5View's data protocol (see kernel/src/viewers/h5view.ts): reads are
 * custom messages with an id; answers arrive as one or more "data" parts, joined here.
 * Pushed increments arrive with ids "increment:<path>".
 */
import { PartCollector } from "@stagelab/core/viewer";

export type DType =
  | "int8"
  | "uint8"
  | "int16"
  | "uint16"
  | "int32"
  | "uint32"
  | "int64"
  | "uint64"
  | "float32"
  | "float64"
  | "bool"
  | "complex64"
  | "complex128";

export interface ArrayMessage {
  type: "data";
  id: string;
  path: string;
  dtype: DType;
  shape: number[];
  part: number;
  parts: number;
  offset: number;
  byteLength: number;
  /** For increments: the first row along axis 0. */
  start?: number;
}

export interface ReceivedArray {
  path: string;
  dtype: DType;
  shape: number[];
  start?: number;
  /** Values as float64 (complex: interleaved re, im). */
  values: Float64Array;
}

const CTORS: Record<DType, { new (b: ArrayBuffer): ArrayLike<number | bigint> }> = {
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

/** Decode little-endian bytes of a dtype into float64 values (complex stays interleaved). */
export function decodeValues(dtype: DType, bytes: Uint8Array): Float64Array {
  const aligned =
    bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
  const typed = new CTORS[dtype](aligned.buffer as ArrayBuffer);
  if (typed instanceof Float64Array) return typed;
  return Float64Array.from(typed as ArrayLike<number | bigint>, Number);
}

export class ArrayAssembler {
  private readonly pending = new Map<string, PartCollector>();

  /** Feed one message; returns the whole array when its last part arrived. */
  add(msg: ArrayMessage, buffer: DataView | ArrayBuffer | Uint8Array): ReceivedArray | undefined {
    const key = `${msg.id}|${msg.start ?? ""}`;
    let c = this.pending.get(key);
    if (!c) {
      c = new PartCollector(msg.parts, msg.byteLength);
      this.pending.set(key, c);
    }
    c.add(
      msg.part,
      buffer instanceof DataView
        ? new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
        : buffer,
    );
    if (!c.complete) return undefined;
    this.pending.delete(key);
    const out: ReceivedArray = {
      path: msg.path,
      dtype: msg.dtype,
      shape: msg.shape,
      values: decodeValues(msg.dtype, c.join()),
    };
    if (msg.start !== undefined) out.start = msg.start;
    return out;
  }
}
