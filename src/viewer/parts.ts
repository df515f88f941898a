/**
 * Splitting binary data into parts small enough for one Jupyter message, and joining them
 * again. The Jupyter server (tornado, `websocket_max_message_size`) closes the websocket on a
 * message over 10 MiB that it receives from the browser, so anything a view sends to the
 * kernel must go in parts. Kernel -> browser messages are not capped by the server, but parts
 * keep each of them bounded as well (memory, progress, other messages in between).
 *
 * Pure functions, no DOM: shared by the kernel (splitting) and the browser views (joining).
 */

/** The Jupyter server's default cap on one websocket message from the browser (10 MiB). */
export const MAX_MESSAGE_BYTES = 10 * 1024 * 1024;

/**
 * Default part size: under MAX_MESSAGE_BYTES with 2 MiB left for the message's JSON and
 * framing; the same as the kernel's PART_BYTES (kernel/src/viewers/chunking.ts).
 */
export const DEFAULT_PART_BYTES = 8 * 1024 * 1024;

function bytesOf(data: ArrayBufferLike | ArrayBufferView): Uint8Array {
  if (ArrayBuffer.isView(data))
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}

/**
 * Cut `data` into consecutive parts of at most `maxBytes` bytes (the last may be shorter).
 * The parts are views on `data`'s memory, not copies. Empty data gives no parts.
 */
export function splitBuffer(
  data: ArrayBufferLike | ArrayBufferView,
  maxBytes: number = DEFAULT_PART_BYTES,
): Uint8Array[] {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
    throw new RangeError(`maxBytes must be a positive integer, got ${maxBytes}`);
  }
  const bytes = bytesOf(data);
  const parts: Uint8Array[] = [];
  for (let start = 0; start < bytes.byteLength; start += maxBytes) {
    parts.push(bytes.subarray(start, Math.min(start + maxBytes, bytes.byteLength)));
  }
  return parts;
}

/** How many parts splitBuffer makes of `byteLength` bytes. */
export function partCount(byteLength: number, maxBytes: number = DEFAULT_PART_BYTES): number {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
    throw new RangeError(`maxBytes must be a positive integer, got ${maxBytes}`);
  }
  return Math.ceil(byteLength / maxBytes);
}

/**
 * Concatenate `parts` into one new ArrayBuffer-backed Uint8Array. With `expectedBytes`, throws
 * when the parts do not add up to exactly that many bytes (a lost or repeated part).
 */
export function joinParts(
  parts: readonly (ArrayBufferLike | ArrayBufferView)[],
  expectedBytes?: number,
): Uint8Array {
  const views = parts.map(bytesOf);
  const total = views.reduce((sum, v) => sum + v.byteLength, 0);
  if (expectedBytes !== undefined && total !== expectedBytes) {
    throw new RangeError(`parts hold ${total} bytes, expected ${expectedBytes}`);
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const v of views) {
    out.set(v, offset);
    offset += v.byteLength;
  }
  return out;
}

/**
 * Collects the parts of one array as they arrive (in any order): `add(index, part)` until
 * `complete`, then `join()`.
 */
export class PartCollector {
  private readonly parts: (Uint8Array | undefined)[];
  private received = 0;
  private bytes = 0;

  constructor(
    readonly count: number,
    readonly totalBytes?: number,
  ) {
    if (!Number.isSafeInteger(count) || count < 0) {
      throw new RangeError(`count must be a non-negative integer, got ${count}`);
    }
    this.parts = new Array<Uint8Array | undefined>(count).fill(undefined);
  }

  /** Store part `index` (0-based). Throws on an index out of range or a repeated part. */
  add(index: number, part: ArrayBufferLike | ArrayBufferView): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.count) {
      throw new RangeError(`part index ${index} out of range 0..${this.count - 1}`);
    }
    if (this.parts[index] !== undefined) throw new Error(`part ${index} received twice`);
    const bytes = bytesOf(part);
    this.parts[index] = bytes;
    this.received += 1;
    this.bytes += bytes.byteLength;
  }

  get complete(): boolean {
    return this.received === this.count;
  }

  get receivedBytes(): number {
    return this.bytes;
  }

  /** All parts joined; throws while parts are missing. */
  join(): Uint8Array {
    if (!this.complete) {
      const missing = this.parts.flatMap((p, i) => (p === undefined ? [i] : []));
      throw new Error(`parts missing: ${missing.join(", ")}`);
    }
    return joinParts(this.parts as Uint8Array[], this.totalBytes);
  }
}
