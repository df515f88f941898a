/**
 * A small msgpack (https://github.com/msgpack/msgpack/blob/master/spec.md) decoder and encoder
 * with no dependencies.
 *
 * Decoding never copies `bin` payloads: they come back as `Uint8Array` views into the input, so a
 * reader can turn a multi-megabyte column into a typed array without an intermediate copy.
 * `MsgpackReader` walks a buffer value by value (headers, strings, bins, skip) for callers that
 * want to stream through a big structure; `decode()` builds the whole value.
 *
 * Value mapping: nil -> null, bool, int -> number (bigint when outside the safe integer range),
 * float32/64 -> number, str -> string, bin -> Uint8Array, array -> Array, map -> Map (keys keep
 * their msgpack type, e.g. integer keys stay numbers), ext -> MsgpackExt.
 */

export type MsgpackValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | MsgpackExt
  | MsgpackValue[]
  | Map<MsgpackValue, MsgpackValue>;

/** Values the encoder accepts: MsgpackValue plus plain objects (encoded as string-keyed maps),
 * `MsgpackRaw` (pre-encoded bytes written verbatim) and `MsgpackFloat32`. */
export type Encodable =
  | MsgpackValue
  | undefined
  | MsgpackRaw
  | MsgpackFloat32
  | readonly Encodable[]
  | ReadonlyMap<Encodable, Encodable>
  | { readonly [key: string]: Encodable };

/** An extension value: application type code (-128..127) and its payload. */
export class MsgpackExt {
  constructor(
    readonly type: number,
    readonly data: Uint8Array,
  ) {}
}

/** Bytes that are already one complete msgpack value; the encoder copies them as they are. */
export class MsgpackRaw {
  constructor(readonly bytes: Uint8Array) {}
}

/** Forces a number to be written as float32 (numbers are otherwise written as int or float64). */
export class MsgpackFloat32 {
  constructor(readonly value: number) {}
}

export class MsgpackError extends Error {
  /** Byte offset in the input where decoding failed. */
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(`${message} (at byte ${offset})`);
    this.name = "MsgpackError";
    this.offset = offset;
  }
}

/** What the next value is, from its first byte alone. */
export type MsgpackKind =
  "nil" | "bool" | "int" | "float" | "str" | "bin" | "array" | "map" | "ext" | "invalid";

const utf8 = new TextDecoder("utf-8");
const utf8Encoder = new TextEncoder();

export class MsgpackReader {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  pos: number;
  /** Maps and arrays nested deeper than this are rejected (guards the recursion in readValue). */
  maxDepth = 512;

  constructor(bytes: Uint8Array, offset = 0) {
    // A plain Uint8Array view, so bins come back as Uint8Array even when given a Node Buffer.
    this.bytes = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = offset;
  }

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  /** Throws unless `n` more bytes are available. */
  need(n: number): void {
    if (this.pos + n > this.bytes.length) {
      throw new MsgpackError(
        `unexpected end of data: need ${n} byte(s), ${this.bytes.length - this.pos} left`,
        this.pos,
      );
    }
  }

  peekKind(): MsgpackKind {
    this.need(1);
    return kindOf(this.bytes[this.pos]!);
  }

  private u8(): number {
    this.need(1);
    return this.bytes[this.pos++]!;
  }
  private u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }
  private u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  private fail(what: string, at: number): never {
    const b = this.bytes[at];
    throw new MsgpackError(
      `expected ${what}, found ${b === undefined ? "end of data" : `${kindOf(b)} (0x${b.toString(16).padStart(2, "0")})`}`,
      at,
    );
  }

  readNil(): null {
    const at = this.pos;
    if (this.u8() !== 0xc0) this.fail("nil", at);
    return null;
  }

  readBool(): boolean {
    const at = this.pos;
    const b = this.u8();
    if (b === 0xc2) return false;
    if (b === 0xc3) return true;
    return this.fail("bool", at);
  }

  /** Any integer format; bigint only when the value is not a safe integer. */
  readInt(): number | bigint {
    const at = this.pos;
    const b = this.u8();
    if (b <= 0x7f) return b;
    if (b >= 0xe0) return b - 0x100;
    switch (b) {
      case 0xcc:
        return this.u8();
      case 0xcd:
        return this.u16();
      case 0xce:
        return this.u32();
      case 0xcf: {
        this.need(8);
        const hi = this.view.getUint32(this.pos);
        const lo = this.view.getUint32(this.pos + 4);
        this.pos += 8;
        if (hi < 0x200000) return hi * 0x100000000 + lo;
        return (BigInt(hi) << 32n) | BigInt(lo);
      }
      case 0xd0:
        this.need(1);
        return this.view.getInt8(this.pos++);
      case 0xd1: {
        this.need(2);
        const v = this.view.getInt16(this.pos);
        this.pos += 2;
        return v;
      }
      case 0xd2: {
        this.need(4);
        const v = this.view.getInt32(this.pos);
        this.pos += 4;
        return v;
      }
      case 0xd3: {
        this.need(8);
        const v = this.view.getBigInt64(this.pos);
        this.pos += 8;
        return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
          ? Number(v)
          : v;
      }
    }
    return this.fail("integer", at);
  }

  /** An integer that must fit a JS number exactly. */
  readSafeInt(): number {
    const at = this.pos;
    const v = this.readInt();
    if (typeof v === "bigint") throw new MsgpackError(`integer ${v} exceeds 2^53`, at);
    return v;
  }

  /** Any int or float format, as a number. */
  readNumber(): number {
    const b = this.peekKind();
    if (b === "float") {
      const t = this.u8();
      if (t === 0xca) {
        this.need(4);
        const v = this.view.getFloat32(this.pos);
        this.pos += 4;
        return v;
      }
      this.need(8);
      const v = this.view.getFloat64(this.pos);
      this.pos += 8;
      return v;
    }
    if (b === "int") return Number(this.readInt());
    return this.fail("number", this.pos);
  }

  /** Length of a str at the cursor, consuming its header. */
  private strLength(): number {
    const at = this.pos;
    const b = this.u8();
    if ((b & 0xe0) === 0xa0) return b & 0x1f;
    if (b === 0xd9) return this.u8();
    if (b === 0xda) return this.u16();
    if (b === 0xdb) return this.u32();
    return this.fail("string", at);
  }

  readString(): string {
    const n = this.strLength();
    this.need(n);
    const s = decodeUtf8(this.bytes, this.pos, n);
    this.pos += n;
    return s;
  }

  /** A bin payload as a view into the input (no copy). */
  readBin(): Uint8Array {
    const at = this.pos;
    const b = this.u8();
    let n: number;
    if (b === 0xc4) n = this.u8();
    else if (b === 0xc5) n = this.u16();
    else if (b === 0xc6) n = this.u32();
    else return this.fail("bin", at);
    this.need(n);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  readArrayHeader(): number {
    const at = this.pos;
    const b = this.u8();
    if ((b & 0xf0) === 0x90) return b & 0x0f;
    if (b === 0xdc) return this.u16();
    if (b === 0xdd) return this.u32();
    return this.fail("array", at);
  }

  readMapHeader(): number {
    const at = this.pos;
    const b = this.u8();
    if ((b & 0xf0) === 0x80) return b & 0x0f;
    if (b === 0xde) return this.u16();
    if (b === 0xdf) return this.u32();
    return this.fail("map", at);
  }

  readExt(): MsgpackExt {
    const at = this.pos;
    const b = this.u8();
    let n: number;
    switch (b) {
      case 0xd4:
        n = 1;
        break;
      case 0xd5:
        n = 2;
        break;
      case 0xd6:
        n = 4;
        break;
      case 0xd7:
        n = 8;
        break;
      case 0xd8:
        n = 16;
        break;
      case 0xc7:
        n = this.u8();
        break;
      case 0xc8:
        n = this.u16();
        break;
      case 0xc9:
        n = this.u32();
        break;
      default:
        return this.fail("ext", at);
    }
    this.need(1 + n);
    const type = this.view.getInt8(this.pos);
    const data = this.bytes.subarray(this.pos + 1, this.pos + 1 + n);
    this.pos += 1 + n;
    return new MsgpackExt(type, data);
  }

  /** Reads one complete value of any type. */
  readValue(depth = 0): MsgpackValue {
    const kind = this.peekKind();
    switch (kind) {
      case "nil":
        return this.readNil();
      case "bool":
        return this.readBool();
      case "int":
        return this.readInt();
      case "float":
        return this.readNumber();
      case "str":
        return this.readString();
      case "bin":
        return this.readBin();
      case "ext":
        return this.readExt();
      case "array": {
        if (depth >= this.maxDepth) throw new MsgpackError("nesting too deep", this.pos);
        const n = this.readArrayHeader();
        // Each element takes at least one byte: reject impossible lengths before allocating.
        this.need(n);
        const out: MsgpackValue[] = new Array<MsgpackValue>(n);
        for (let i = 0; i < n; i++) out[i] = this.readValue(depth + 1);
        return out;
      }
      case "map": {
        if (depth >= this.maxDepth) throw new MsgpackError("nesting too deep", this.pos);
        const n = this.readMapHeader();
        this.need(2 * n);
        const out = new Map<MsgpackValue, MsgpackValue>();
        for (let i = 0; i < n; i++) {
          const k = this.readValue(depth + 1);
          out.set(k, this.readValue(depth + 1));
        }
        return out;
      }
      default:
        return this.fail("a msgpack value", this.pos);
    }
  }

  /** Skips one complete value without building it. */
  skip(): void {
    let pending = 1;
    while (pending > 0) {
      pending--;
      const kind = this.peekKind();
      switch (kind) {
        case "array":
          pending += this.readArrayHeader();
          break;
        case "map":
          pending += 2 * this.readMapHeader();
          break;
        case "str": {
          const n = this.strLength();
          this.need(n);
          this.pos += n;
          break;
        }
        default:
          this.readValueFlat(kind);
      }
    }
  }

  private readValueFlat(kind: MsgpackKind): void {
    switch (kind) {
      case "nil":
      case "bool":
        this.pos++;
        return;
      case "int":
        this.readInt();
        return;
      case "float":
        this.readNumber();
        return;
      case "bin":
        this.readBin();
        return;
      case "ext":
        this.readExt();
        return;
      default:
        this.fail("a msgpack value", this.pos);
    }
  }

  /** The encoded bytes of the next value (a view), advancing past it. */
  readRaw(): Uint8Array {
    const start = this.pos;
    this.skip();
    return this.bytes.subarray(start, this.pos);
  }
}

function kindOf(b: number): MsgpackKind {
  if (b <= 0x7f || b >= 0xe0) return "int";
  if (b <= 0x8f) return "map";
  if (b <= 0x9f) return "array";
  if (b <= 0xbf) return "str";
  switch (b) {
    case 0xc0:
      return "nil";
    case 0xc2:
    case 0xc3:
      return "bool";
    case 0xc4:
    case 0xc5:
    case 0xc6:
      return "bin";
    case 0xc7:
    case 0xc8:
    case 0xc9:
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
      return "ext";
    case 0xca:
    case 0xcb:
      return "float";
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3:
      return "int";
    case 0xd9:
    case 0xda:
    case 0xdb:
      return "str";
    case 0xdc:
    case 0xdd:
      return "array";
    case 0xde:
    case 0xdf:
      return "map";
  }
  return "invalid"; // 0xc1 is never used
}

/** Short ASCII strings (column names, type names) are decoded without TextDecoder's call cost. */
function decodeUtf8(bytes: Uint8Array, start: number, n: number): string {
  if (n < 32) {
    let s = "";
    for (let i = start; i < start + n; i++) {
      const c = bytes[i]!;
      if (c >= 0x80) return utf8.decode(bytes.subarray(start, start + n));
      s += String.fromCharCode(c);
    }
    return s;
  }
  return utf8.decode(bytes.subarray(start, start + n));
}

export interface DecodeOptions {
  /** Accept bytes after the first value (default false: they are an error). */
  allowTrailing?: boolean;
}

export function decode(bytes: Uint8Array, opts: DecodeOptions = {}): MsgpackValue {
  const r = new MsgpackReader(bytes);
  const v = r.readValue();
  if (!opts.allowTrailing && r.remaining > 0) {
    throw new MsgpackError(`${r.remaining} trailing byte(s) after the value`, r.pos);
  }
  return v;
}

// ---------------------------------------------------------------------------------------------
// Encoding: headers go into a growing scratch buffer; large byte payloads are kept as references
// and only copied once, into the final output (or written straight to a file by the caller).

const BIG_PAYLOAD = 4096;

export class MsgpackWriter {
  private chunks: Uint8Array[] = [];
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  private len = 0;
  private total = 0;
  /** Whether some chunk is a caller's buffer (then `finish` must copy). */
  private borrowed = false;

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  private flush(): void {
    if (this.len === 0) return;
    this.chunks.push(this.buf.slice(0, this.len));
    this.len = 0;
  }

  private byte(b: number): void {
    this.ensure(1);
    this.buf[this.len++] = b;
    this.total++;
  }
  private u16(tag: number, v: number): void {
    this.ensure(3);
    this.buf[this.len] = tag;
    this.view.setUint16(this.len + 1, v);
    this.len += 3;
    this.total += 3;
  }
  private u32(tag: number, v: number): void {
    this.ensure(5);
    this.buf[this.len] = tag;
    this.view.setUint32(this.len + 1, v);
    this.len += 5;
    this.total += 5;
  }

  /** Appends bytes; big ones by reference (the caller must not change them before `finish`). */
  bytes(data: Uint8Array): void {
    if (data.length >= BIG_PAYLOAD) {
      this.flush();
      this.chunks.push(data);
      this.borrowed = true;
    } else {
      this.ensure(data.length);
      this.buf.set(data, this.len);
      this.len += data.length;
    }
    this.total += data.length;
  }

  nil(): void {
    this.byte(0xc0);
  }

  bool(v: boolean): void {
    this.byte(v ? 0xc3 : 0xc2);
  }

  int(v: number | bigint): void {
    if (typeof v === "bigint") {
      if (v >= 0n) {
        if (v <= 0xffffffffn) return this.int(Number(v));
        if (v > 0xffffffffffffffffn) throw new RangeError(`integer ${v} does not fit uint64`);
        this.ensure(9);
        this.buf[this.len] = 0xcf;
        this.view.setBigUint64(this.len + 1, v);
      } else {
        if (v >= -0x80000000n) return this.int(Number(v));
        if (v < -0x8000000000000000n) throw new RangeError(`integer ${v} does not fit int64`);
        this.ensure(9);
        this.buf[this.len] = 0xd3;
        this.view.setBigInt64(this.len + 1, v);
      }
      this.len += 9;
      this.total += 9;
      return;
    }
    if (!Number.isInteger(v)) throw new RangeError(`${v} is not an integer`);
    if (v >= 0) {
      if (v <= 0x7f) return this.byte(v);
      if (v <= 0xff) {
        this.byte(0xcc);
        return this.byte(v);
      }
      if (v <= 0xffff) return this.u16(0xcd, v);
      if (v <= 0xffffffff) return this.u32(0xce, v);
      return this.int(BigInt(v));
    }
    if (v >= -32) return this.byte(v + 0x100);
    if (v >= -0x80) {
      this.byte(0xd0);
      return this.byte(v + 0x100);
    }
    if (v >= -0x8000) return this.u16(0xd1, v + 0x10000);
    if (v >= -0x80000000) return this.u32(0xd2, v >>> 0);
    return this.int(BigInt(v));
  }

  float64(v: number): void {
    this.ensure(9);
    this.buf[this.len] = 0xcb;
    this.view.setFloat64(this.len + 1, v);
    this.len += 9;
    this.total += 9;
  }

  float32(v: number): void {
    this.ensure(5);
    this.buf[this.len] = 0xca;
    this.view.setFloat32(this.len + 1, v);
    this.len += 5;
    this.total += 5;
  }

  /** Integers (not -0) as the smallest int format that holds them, everything else as float64. */
  number(v: number): void {
    if (Object.is(v, -0)) this.float64(v);
    else if (Number.isSafeInteger(v)) this.int(v);
    else if (Number.isInteger(v) && v >= -(2 ** 63) && v < 2 ** 64) this.int(BigInt(v));
    else this.float64(v);
  }

  string(s: string): void {
    const data = utf8Encoder.encode(s);
    const n = data.length;
    if (n <= 31) this.byte(0xa0 | n);
    else if (n <= 0xff) {
      this.byte(0xd9);
      this.byte(n);
    } else if (n <= 0xffff) this.u16(0xda, n);
    else this.u32(0xdb, n);
    this.bytes(data);
  }

  binHeader(n: number): void {
    if (n <= 0xff) {
      this.byte(0xc4);
      this.byte(n);
    } else if (n <= 0xffff) this.u16(0xc5, n);
    else if (n <= 0xffffffff) this.u32(0xc6, n);
    else throw new RangeError(`bin of ${n} bytes exceeds msgpack's 4 GiB limit`);
  }

  bin(data: Uint8Array): void {
    this.binHeader(data.length);
    this.bytes(data);
  }

  arrayHeader(n: number): void {
    if (n <= 15) this.byte(0x90 | n);
    else if (n <= 0xffff) this.u16(0xdc, n);
    else this.u32(0xdd, n);
  }

  mapHeader(n: number): void {
    if (n <= 15) this.byte(0x80 | n);
    else if (n <= 0xffff) this.u16(0xde, n);
    else this.u32(0xdf, n);
  }

  ext(type: number, data: Uint8Array): void {
    const n = data.length;
    const fixed: Record<number, number> = { 1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8 };
    const tag = fixed[n];
    if (tag !== undefined) this.byte(tag);
    else if (n <= 0xff) {
      this.byte(0xc7);
      this.byte(n);
    } else if (n <= 0xffff) this.u16(0xc8, n);
    else this.u32(0xc9, n);
    this.byte(type & 0xff);
    this.bytes(data);
  }

  /** Any encodable value. `undefined` map entries are left out; elsewhere it is nil. */
  value(v: Encodable, depth = 0): void {
    if (depth > 512) throw new RangeError("value nested too deep (cycle?)");
    if (v === null || v === undefined) return this.nil();
    switch (typeof v) {
      case "boolean":
        return this.bool(v);
      case "number":
        return this.number(v);
      case "bigint":
        return this.int(v);
      case "string":
        return this.string(v);
    }
    if (v instanceof Uint8Array) return this.bin(v);
    if (v instanceof MsgpackRaw) return this.bytes(v.bytes);
    if (v instanceof MsgpackFloat32) return this.float32(v.value);
    if (v instanceof MsgpackExt) return this.ext(v.type, v.data);
    if (Array.isArray(v)) {
      this.arrayHeader(v.length);
      for (const x of v as readonly Encodable[]) this.value(x, depth + 1);
      return;
    }
    if (v instanceof Map) {
      const entries = [...(v as ReadonlyMap<Encodable, Encodable>)].filter(
        ([, x]) => x !== undefined,
      );
      this.mapHeader(entries.length);
      for (const [k, x] of entries) {
        this.value(k, depth + 1);
        this.value(x, depth + 1);
      }
      return;
    }
    if (ArrayBuffer.isView(v)) {
      throw new TypeError(`cannot encode ${v.constructor.name}: pass its bytes as a Uint8Array`);
    }
    const entries = Object.entries(v as { [key: string]: Encodable }).filter(
      ([, x]) => x !== undefined,
    );
    this.mapHeader(entries.length);
    for (const [k, x] of entries) {
      this.string(k);
      this.value(x, depth + 1);
    }
  }

  /** Byte count written so far. */
  get size(): number {
    return this.total;
  }

  /** The output as chunks to write in order (avoids one big copy when streaming to a file). */
  chunksOut(): Uint8Array[] {
    this.flush();
    return this.chunks;
  }

  /** The output as one contiguous buffer. */
  finish(): Uint8Array {
    const chunks = this.chunksOut();
    if (chunks.length === 1 && !this.borrowed) return chunks[0]!;
    const out = new Uint8Array(this.total);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

export function encode(value: Encodable): Uint8Array {
  const w = new MsgpackWriter();
  w.value(value);
  return w.finish();
}
