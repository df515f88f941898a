/**
 * The browser side of H5View's data protocol (see kernel/src/viewers/h5view.ts): reads are
 * custom messages with an id; answers arrive as one or more "data" parts, joined here.
 * Pushed increments arrive with ids "increment:<path>".
 */
import { PartCollector, type DType } from "@stagelab/core/viewer";

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
  /** The array's bytes (little-endian, C order); decoded in the compute worker. */
  bytes: Uint8Array;
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
      bytes: c.join(),
    };
    if (msg.start !== undefined) out.start = msg.start;
    return out;
  }
}
