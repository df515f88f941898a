/**
 * NumPy `.npy` files (format versions 1.0, 2.0 and 3.0): header parsing, whole and partial
 * reads, and a writer.
 *
 * Partial reads work like a memory map without one: `readBlock` reads only the byte runs a
 * box of the array occupies (coalesced into large sequential reads), so a slab of a
 * datacube far larger than memory costs the slab, not the file. Results are always C-ordered
 * and in host byte order, whatever the file's order (`fortran_order`) and byte order.
 *
 * Element types use the store's names (`float64`, `complex128`, `bool`, ...) and typed
 * arrays: complex values interleaved (re, im), bool as 0/1 bytes, 64-bit integers as bigint
 * arrays. Other numpy types (float16, strings, objects, structured, datetimes) are refused
 * with `NpyDtypeError`.
 */
import { boxInside } from "../array/box.js";
import fs from "node:fs";
import {
  allocate,
  dtypeOfTypedArray,
  itemBytes,
  lanes,
  type DType,
  type TypedArrayFor,
} from "../store/dtype.js";

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
/** numpy pads the whole preamble (magic + version + length + header) to this. */
const HEADER_ALIGN = 64;
/** Byte runs closer than this are read together: a few KiB of waste beats a syscall. */
const COALESCE_GAP = 64 * 1024;
/** Largest single read while gathering a block. */
const MAX_WINDOW = 16 * 1024 * 1024;

export class NpyError extends Error {
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = new.target.name;
  }
}
/** Not a .npy file, or a header numpy would not have written. */
export class NpyFormatError extends NpyError {}
/** A numpy element type this reader does not hold. */
export class NpyDtypeError extends NpyError {}
/** The file ends before the data its header promises. */
export class NpyTruncatedError extends NpyError {}
/** A block outside the array, or data that does not fit the shape. */
export class NpyRangeError extends NpyError {}

export interface NpyHeader {
  /** Format version [major, minor]. */
  version: [number, number];
  /** numpy's type string as written, e.g. "<f8". */
  descr: string;
  dtype: DType;
  littleEndian: boolean;
  fortranOrder: boolean;
  shape: number[];
  /** Byte offset of the first element. */
  dataOffset: number;
  /** Bytes of data the header promises. */
  dataBytes: number;
}

const CODES: Record<string, DType> = {
  b1: "bool",
  i1: "int8",
  i2: "int16",
  i4: "int32",
  i8: "int64",
  u1: "uint8",
  u2: "uint16",
  u4: "uint32",
  u8: "uint64",
  f4: "float32",
  f8: "float64",
  c8: "complex64",
  c16: "complex128",
};
const DESCR_OF = Object.fromEntries(Object.entries(CODES).map(([c, d]) => [d, c])) as Record<
  DType,
  string
>;

const HOST_LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function parseDescr(file: string, descr: string): { dtype: DType; littleEndian: boolean } {
  const m = /^([<>|=])?([a-z])(\d+)$/.exec(descr);
  const dtype = m ? CODES[`${m[2]}${m[3]}`] : undefined;
  if (!m || !dtype) {
    throw new NpyDtypeError(
      file,
      `element type '${descr}' is not supported (bool, int8-64, uint8-64, float32/64, complex64/128 are)`,
    );
  }
  const order = m[1] ?? "=";
  return {
    dtype,
    littleEndian: order === "<" || ((order === "=" || order === "|") && HOST_LITTLE),
  };
}

/** A Python literal as numpy writes it in a header: dict, tuple/list, str, int, bool. */
type PyValue = string | number | boolean | PyValue[] | { [k: string]: PyValue };

function parsePyLiteral(file: string, text: string): PyValue {
  let i = 0;
  const fail = (why: string): never => {
    throw new NpyFormatError(file, `header is not a Python dict literal (${why} at ${i}): ${text}`);
  };
  const ws = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const value = (): PyValue => {
    ws();
    const c = text[i];
    if (c === "{" || c === "(" || c === "[") {
      const close = c === "{" ? "}" : c === "(" ? ")" : "]";
      i++;
      const items: PyValue[] = [];
      const dict: Record<string, PyValue> = {};
      for (;;) {
        ws();
        if (text[i] === close) {
          i++;
          return c === "{" ? dict : items;
        }
        const v = value();
        if (c === "{") {
          ws();
          if (text[i++] !== ":" || typeof v !== "string") fail("expected 'key':");
          dict[v as string] = value();
        } else items.push(v);
        ws();
        if (text[i] === ",") i++;
        else if (text[i] !== close) fail(`expected ',' or '${close}'`);
      }
    }
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) fail("unterminated string");
      const s = text.slice(i + 1, end);
      i = end + 1;
      return s;
    }
    const word = /^(True|False|-?\d+L?)/.exec(text.slice(i));
    if (!word) return fail("unexpected token");
    i += word[0].length;
    if (word[0] === "True" || word[0] === "False") return word[0] === "True";
    return Number(word[0].replace("L", ""));
  };
  const v = value();
  ws();
  if (i !== text.length) fail("trailing text");
  return v;
}

/** Parse the preamble and header at the start of `bytes` (at least the whole header). */
export function parseNpyHeader(bytes: Uint8Array, file = "<buffer>", fileSize?: number): NpyHeader {
  if (bytes.length < 10 || MAGIC.some((b, k) => bytes[k] !== b)) {
    throw new NpyFormatError(file, "not a .npy file (no \\x93NUMPY magic)");
  }
  const major = bytes[6]!;
  const minor = bytes[7]!;
  if (major < 1 || major > 3)
    throw new NpyFormatError(file, `unknown format version ${major}.${minor}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lenBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lenBytes)
    throw new NpyTruncatedError(file, "file ends inside the preamble");
  const headerLen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const dataOffset = 8 + lenBytes + headerLen;
  if (bytes.length < dataOffset) throw new NpyTruncatedError(file, "file ends inside the header");
  const raw = bytes.subarray(8 + lenBytes, dataOffset);
  const text = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(raw).trim();
  const dict = parsePyLiteral(file, text);
  if (typeof dict !== "object" || Array.isArray(dict)) {
    throw new NpyFormatError(file, `header is not a dict: ${text}`);
  }
  const { descr, fortran_order: fortran, shape } = dict;
  if (typeof descr !== "string") {
    throw new NpyDtypeError(
      file,
      `structured element type ${JSON.stringify(descr)} is not supported`,
    );
  }
  if (typeof fortran !== "boolean")
    throw new NpyFormatError(file, "header has no boolean 'fortran_order'");
  if (
    !Array.isArray(shape) ||
    shape.some((d) => typeof d !== "number" || !Number.isSafeInteger(d) || d < 0)
  ) {
    throw new NpyFormatError(file, `header 'shape' is not a tuple of sizes: ${text}`);
  }
  const { dtype, littleEndian } = parseDescr(file, descr);
  const dims = shape as number[];
  const dataBytes = dims.reduce((a, b) => a * b, 1) * itemBytes(dtype);
  if (fileSize !== undefined && fileSize < dataOffset + dataBytes) {
    throw new NpyTruncatedError(
      file,
      `truncated: shape ${JSON.stringify(dims)} of ${descr} needs ${dataOffset + dataBytes} bytes, the file has ${fileSize}`,
    );
  }
  return {
    version: [major, minor],
    descr,
    dtype,
    littleEndian,
    fortranOrder: fortran,
    shape: dims,
    dataOffset,
    dataBytes,
  };
}

/** Reverse the bytes of each `unit`-byte scalar in place (complex: each component). */
function swapBytes(bytes: Uint8Array, unit: number): void {
  if (unit === 1) return;
  for (let o = 0; o < bytes.length; o += unit) {
    for (let a = o, b = o + unit - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}

/**
 * Reorder a box stored in Fortran order (first axis fastest) into C order. Moves whole
 * elements through the widest integer view the element size allows.
 */
function fortranToC(
  src: Uint8Array,
  count: number[],
  elemBytes: number,
  out: Uint8Array = new Uint8Array(src.length),
): Uint8Array {
  const n = count.reduce((a, b) => a * b, 1);
  if (n === 0) return out;
  // Integer views only: moving float views could rewrite NaN payloads (and bytes not yet
  // swapped to host order may look like NaNs).
  const unit = elemBytes % 4 === 0 ? 4 : elemBytes;
  const per = elemBytes / unit;
  const view = (b: Uint8Array) =>
    unit === 4
      ? new Uint32Array(b.buffer, b.byteOffset, b.byteLength / 4)
      : unit === 2
        ? new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2)
        : b;
  const s = view(src.byteOffset % 4 === 0 ? src : src.slice());
  const d = view(out);
  const rank = count.length;
  // Fortran strides (in elements) of the box.
  const fstride: number[] = [];
  for (let a = 0, st = 1; a < rank; a++) {
    fstride.push(st);
    st *= count[a]!;
  }
  const idx = new Array<number>(rank).fill(0);
  let f = 0;
  for (let c = 0; c < n; c++) {
    for (let k = 0; k < per; k++) d[c * per + k] = s[f * per + k]!;
    // Advance the C-order index (last axis fastest), keeping f in step.
    for (let a = rank - 1; a >= 0; a--) {
      if (++idx[a]! < count[a]!) {
        f += fstride[a]!;
        break;
      }
      f -= (count[a]! - 1) * fstride[a]!;
      idx[a] = 0;
    }
  }
  return out;
}

/** The inverse of fortranToC: C-ordered elements into Fortran order. */
function cToFortran(src: Uint8Array, shape: number[], elemBytes: number): Uint8Array {
  // Fortran order of `shape` is C order of the reversed shape with reversed indices:
  // reading the C array as Fortran of the reversed shape and converting gives the transpose.
  return fortranToC(src, [...shape].reverse(), elemBytes);
}

/** A .npy file opened for reading; the data stays on disk until a block is asked for. */
export class NpyReader {
  private fd: number | undefined;

  private constructor(
    readonly path: string,
    fd: number,
    readonly header: NpyHeader,
  ) {
    this.fd = fd;
  }

  static open(path: string): NpyReader {
    let fd: number;
    try {
      fd = fs.openSync(path, "r");
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new NpyError(path, code === "ENOENT" ? "no such file" : `cannot open (${code})`);
    }
    try {
      const size = fs.fstatSync(fd).size;
      // The preamble says how long the header is; read exactly that much.
      const pre = Buffer.alloc(12);
      const got = fs.readSync(fd, pre, 0, 12, 0);
      let head = pre.subarray(0, got);
      if (got === 12 && MAGIC.every((b, k) => pre[k] === b)) {
        const end = pre[6] === 1 ? 10 + pre.readUInt16LE(8) : 12 + pre.readUInt32LE(8);
        head = Buffer.alloc(Math.min(end, size));
        fs.readSync(fd, head, 0, head.length, 0);
      }
      const bytes = new Uint8Array(head.buffer, head.byteOffset, head.length);
      return new NpyReader(path, fd, parseNpyHeader(bytes, path, size));
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  get shape(): number[] {
    return [...this.header.shape];
  }

  get dtype(): DType {
    return this.header.dtype;
  }

  /** The whole array. */
  read(): { dtype: DType; shape: number[]; data: TypedArrayFor[DType] } {
    const shape = this.shape;
    return {
      dtype: this.dtype,
      shape,
      data: this.readBlock(
        shape.map(() => 0),
        shape,
      ),
    };
  }

  /** Rows [start, start + count) of the leading axis, C-ordered. */
  readSlab(start: number, count: number): TypedArrayFor[DType] {
    const shape = this.shape;
    if (shape.length === 0) throw new NpyRangeError(this.path, "a 0-d array has no leading axis");
    return this.readBlock([start, ...shape.slice(1).map(() => 0)], [count, ...shape.slice(1)]);
  }

  /**
   * The box [start, start + count) (one entry per axis), C-ordered, host byte order. Reads
   * only the runs of bytes the box occupies, merged into sequential reads of at most 16 MiB.
   */
  readBlock<D extends DType = DType>(start: number[], count: number[]): TypedArrayFor[D] {
    const fd = this.live();
    const { shape, dtype, fortranOrder, littleEndian, dataOffset } = this.header;
    const rank = shape.length;
    if (!boxInside(start, count, shape)) {
      throw new NpyRangeError(
        this.path,
        `block start ${JSON.stringify(start)} count ${JSON.stringify(count)} is outside shape ${JSON.stringify(shape)}`,
      );
    }
    const elem = itemBytes(dtype);
    const n = count.reduce((a, b) => a * b, 1);
    const out = allocate(dtype, n) as TypedArrayFor[D];
    if (n === 0) return out;
    // Axes from slowest to fastest in the file.
    const order = fortranOrder ? [...Array(rank).keys()].reverse() : [...Array(rank).keys()];
    const stride = new Array<number>(rank).fill(0);
    for (let k = rank - 1, st = 1; k >= 0; k--) {
      stride[order[k]!] = st;
      st *= shape[order[k]!]!;
    }
    // The contiguous run: the fastest axes the box covers whole, plus the next one.
    let k = rank - 1;
    let run = 1;
    while (k >= 0 && count[order[k]!] === shape[order[k]!]) run *= count[order[k--]!]!;
    if (k >= 0) run *= count[order[k--]!]!;
    const outer = order.slice(0, k + 1);
    const outerCount = outer.map((a) => count[a]!);
    const outerStride = outer.map((a) => stride[a]! * elem);
    const runBytes = run * elem;
    const outBytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    // C-ordered files land in place; Fortran-ordered boxes are staged, then reordered.
    const staged = fortranOrder && rank > 1 ? new Uint8Array(n * elem) : outBytes;
    const idx = new Array<number>(outer.length).fill(0);
    const base = dataOffset + elem * order.reduce((s, a) => s + start[a]! * stride[a]!, 0);
    const offsetOf = () => {
      let o = base;
      for (let j = 0; j < idx.length; j++) o += idx[j]! * outerStride[j]!;
      return o;
    };
    const nRuns = n / run;
    let window: Buffer | undefined;
    for (let r = 0; r < nRuns;) {
      // Gather runs into one window while they are close and the window stays bounded.
      const first = offsetOf();
      const runs: number[] = [first];
      let end = first + runBytes;
      for (let rr = r + 1; rr < nRuns; rr++) {
        advance(idx, outerCount);
        const off = offsetOf();
        if (off - end > COALESCE_GAP || off + runBytes - first > MAX_WINDOW) break;
        runs.push(off);
        end = off + runBytes;
      }
      if (runs.length === 1) {
        this.readExactly(fd, staged.subarray(r * runBytes, (r + 1) * runBytes), first);
      } else {
        if (!window || window.length < end - first) window = Buffer.alloc(end - first);
        const w = window;
        this.readExactly(fd, w.subarray(0, end - first), first);
        runs.forEach((off, j) =>
          staged.set(w.subarray(off - first, off - first + runBytes), (r + j) * runBytes),
        );
      }
      // idx already points at the first run not taken.
      r += runs.length;
    }
    if (staged !== outBytes) fortranToC(staged, count, elem, outBytes);
    if (littleEndian !== HOST_LITTLE) swapBytes(outBytes, elem / lanes(dtype));
    return out;
  }

  /** Fill `buf` from `position`, in pieces under Node's 2 GiB per-read limit. */
  private readExactly(fd: number, buf: Uint8Array, position: number): void {
    for (let done = 0; done < buf.length;) {
      const want = Math.min(buf.length - done, 1 << 30);
      const got = fs.readSync(fd, buf, done, want, position + done);
      if (got === 0) {
        throw new NpyTruncatedError(this.path, `file ends at byte ${position + done}`);
      }
      done += got;
    }
  }

  close(): void {
    if (this.fd === undefined) return;
    fs.closeSync(this.fd);
    this.fd = undefined;
  }

  private live(): number {
    if (this.fd === undefined) throw new NpyError(this.path, "reader is closed");
    return this.fd;
  }
}

/** Step a multi-index in C order (last fastest). */
function advance(idx: number[], count: number[]): void {
  for (let a = idx.length - 1; a >= 0; a--) {
    if (++idx[a]! < count[a]!) return;
    idx[a] = 0;
  }
}

/** Read a whole .npy file. */
export function readNpy(path: string): {
  dtype: DType;
  shape: number[];
  data: TypedArrayFor[DType];
} {
  const r = NpyReader.open(path);
  try {
    return r.read();
  } finally {
    r.close();
  }
}

export interface NpyWriteOptions {
  /** Element type; default: from the array class (Float64Array -> float64, ...). */
  dtype?: DType;
  /** Storage order of the file; `data` is always C-ordered. Default "C". */
  order?: "C" | "F";
  /** Byte order of the file. Default little-endian. */
  endian?: "<" | ">";
  /** Format version; default 1.0, or 2.0 when the header needs more than 65535 bytes. */
  version?: 1 | 2 | 3;
}

/** The bytes of a .npy file holding `data` (C-ordered) with `shape`. */
export function encodeNpy(
  data: TypedArrayFor[DType],
  shape: number[],
  opts: NpyWriteOptions = {},
): Uint8Array {
  const dtype = opts.dtype ?? dtypeOfTypedArray(data);
  const n = shape.reduce((a, b) => a * b, 1);
  const elem = itemBytes(dtype);
  if (
    shape.some((d) => !Number.isSafeInteger(d) || d < 0) ||
    data.byteLength !== n * elem ||
    !(allocate(dtype, 0).constructor === data.constructor)
  ) {
    throw new NpyRangeError(
      "<encode>",
      `${data.constructor.name} of ${data.byteLength} bytes does not hold shape ${JSON.stringify(shape)} of ${dtype}`,
    );
  }
  const endian = elem / lanes(dtype) === 1 ? "|" : (opts.endian ?? "<");
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  const fortran = opts.order === "F";
  const dict = `{'descr': '${endian}${DESCR_OF[dtype]}', 'fortran_order': ${fortran ? "True" : "False"}, 'shape': ${shapeText}, }`;
  const version = opts.version ?? (dict.length + 12 > 0xffff ? 2 : 1);
  const lenBytes = version === 1 ? 2 : 4;
  const unpadded = 8 + lenBytes + dict.length + 1;
  const headerLen = dict.length + 1 + ((HEADER_ALIGN - (unpadded % HEADER_ALIGN)) % HEADER_ALIGN);
  if (version === 1 && headerLen > 0xffff) {
    throw new NpyRangeError("<encode>", "header too long for format version 1.0");
  }
  const out = new Uint8Array(8 + lenBytes + headerLen + n * elem);
  out.set(MAGIC, 0);
  out[6] = version;
  out[7] = 0;
  const dv = new DataView(out.buffer);
  if (version === 1) dv.setUint16(8, headerLen, true);
  else dv.setUint32(8, headerLen, true);
  const header = new TextEncoder().encode(dict.padEnd(headerLen - 1, " ") + "\n");
  out.set(header, 8 + lenBytes);
  const src = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const body = fortran && shape.length > 1 ? cToFortran(src, shape, elem) : src.slice();
  if ((endian === ">") === HOST_LITTLE) swapBytes(body, elem / lanes(dtype));
  out.set(body, 8 + lenBytes + headerLen);
  return out;
}

/** Write a .npy file atomically (a temporary file renamed into place). */
export function writeNpy(
  path: string,
  data: TypedArrayFor[DType],
  shape: number[],
  opts: NpyWriteOptions = {},
): void {
  const bytes = encodeNpy(data, shape, opts);
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    fs.writeFileSync(tmp, bytes);
    fs.renameSync(tmp, path);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}
