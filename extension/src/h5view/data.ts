/**
 * The browser side of H5View's data protocol (see kernel/src/viewers/h5view.ts): reads are
 * custom messages with an id; answers arrive as one or more "data" parts, joined here.
 * Pushed increments arrive with ids "increment:<path>".
 */
import { PartCollector, itemBytes, typedView, type DType } from "@stagelab/core/viewer";

export type { DType };

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

/** Decode little-endian bytes of a dtype into float64 values (complex stays interleaved). */
export function decodeValues(dtype: DType, bytes: Uint8Array): Float64Array {
  const aligned =
    bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
  const typed = typedView(
    dtype,
    aligned.buffer as ArrayBuffer,
    0,
    aligned.byteLength / itemBytes(dtype),
  );
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
