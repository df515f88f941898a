/** Binary buffers of widget messages (the kernel's comm buffers arrive as DataViews). */

/** A buffer as its own typed array (copied: a DataView's offset may be unaligned). */
export function typed<T extends Float64Array | Float32Array | Uint32Array | Uint8Array>(
  ctor: { new (b: ArrayBuffer): T },
  b: DataView | ArrayBuffer | ArrayBufferView | undefined | null,
): T {
  if (!b) return new ctor(new ArrayBuffer(0));
  if (b instanceof ArrayBuffer) return new ctor(b.slice(0));
  return new ctor(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
}
