/**
 * DIALS reflection tables (.refl) read and written natively.
 *
 * The file is one msgpack value (dials/array_family/reflection_table_msgpack_adapter.h):
 *
 *   ["dials::af::reflection_table", 1, {
 *      "identifiers": {experiment id (int): identifier (str), ...},
 *      "nrows": n,
 *      "data": {column name: [type name, [n, bin]], ...}   // columns sorted by name
 *   }]
 *
 * where bin is the column's elements as raw little-endian memory: bool 1 byte, int 4,
 * std::size_t 8, double 8, vec2<double> 16, vec3<double> 24, mat3<double> 72 (row-major),
 * int6 24 (6 x int32), cctbx::miller::index<> 12 (3 x int32), std::string 32 (a libstdc++
 * std::string object, see below) and Shoebox<> a packed stream per row:
 *   uint32 panel, int32 bbox[6], uint8 has_data,
 *   then if has_data: float32 data[nz*ny*nx], int32 mask[...], float32 background[...]
 * with nz = z1 - z0, ny = y1 - y0, nx = x1 - x0, C order (z, y, x).
 *
 * Numeric columns are decoded straight into typed arrays: a view into the input when the
 * payload is aligned, a copy when it is not (or when `copy` is asked for).
 *
 * std::string columns: DIALS memcpy's the std::string objects, so the file holds a pointer into
 * the writing process's heap, the length, and a 16-byte inline buffer. Strings of up to 15 bytes
 * live in that inline buffer and can be recovered; longer ones cannot (DIALS itself crashes when
 * another process reads such a column). Columns we cannot decode exactly (long strings, size_t
 * values beyond 2^53, unknown type names) are kept as `RawColumn` and written back unchanged.
 */

import fs from "node:fs/promises";
import zlib from "node:zlib";
import { MsgpackError, MsgpackRaw, MsgpackReader, MsgpackWriter } from "../formats/msgpack.js";
import { DialsColumnError, DialsFormatError } from "./errors.js";

export const REFLECTION_TABLE_MAGIC = "dials::af::reflection_table";
export const REFLECTION_TABLE_VERSION = 1;

/** [x0, x1, y0, y1, z0, z1]: pixel ranges, upper bounds exclusive (DIALS bbox convention). */
export type BBox = [number, number, number, number, number, number];

export interface Shoebox {
  panel: number;
  bbox: BBox;
  /** Present only when the shoebox holds pixels; each (z1-z0)*(y1-y0)*(x1-x0) values, z slowest. */
  data?: Float32Array;
  mask?: Int32Array;
  background?: Float32Array;
}

/**
 * One column. Fixed-width element types are flat typed arrays: `vec3<double>` holds 3*nrows
 * doubles (x0, y0, z0, x1, ...), `mat3<double>` 9*nrows (row-major), `int6` and
 * `cctbx::miller::index<>` 6*nrows and 3*nrows int32.
 *
 * `std::size_t` is a Float64Array: exact for every value below 2^53 (flags, panel numbers,
 * counts); a column holding larger values is kept raw instead of being silently rounded.
 */
export type Column =
  | { type: "bool"; data: Uint8Array }
  | { type: "int"; data: Int32Array }
  | { type: "std::size_t"; data: Float64Array }
  | { type: "double"; data: Float64Array }
  | { type: "std::string"; data: string[] }
  | { type: "vec2<double>"; data: Float64Array }
  | { type: "vec3<double>"; data: Float64Array }
  | { type: "mat3<double>"; data: Float64Array }
  | { type: "int6"; data: Int32Array }
  | { type: "cctbx::miller::index<>"; data: Int32Array }
  | { type: "Shoebox<>"; data: Shoebox[] }
  | RawColumn;

/** A column kept as its msgpack bytes: unknown type, or values a JS type cannot hold exactly. */
export interface RawColumn {
  type: "raw";
  /** The DIALS type name from the file, e.g. "std::size_t". */
  typeName: string;
  /** The column's msgpack value (normally [n, bin]) exactly as in the file. */
  raw: Uint8Array;
  /** Row count when the value had the usual [n, bin] form. */
  rows: number | undefined;
  /** Why the column was not decoded. */
  reason: string;
}

export type ColumnType = Exclude<Column, RawColumn>["type"];
export type ColumnOf<T extends ColumnType> = Extract<Column, { type: T }>;

/** Values per row in the typed array of each fixed-width type. */
const WIDTH = {
  bool: 1,
  int: 1,
  "std::size_t": 1,
  double: 1,
  "vec2<double>": 2,
  "vec3<double>": 3,
  "mat3<double>": 9,
  int6: 6,
  "cctbx::miller::index<>": 3,
} as const;
type FixedType = keyof typeof WIDTH;

/** Bytes per row in the file. */
const ELEMENT_BYTES: Record<FixedType | "std::string", number> = {
  bool: 1,
  int: 4,
  "std::size_t": 8,
  double: 8,
  "vec2<double>": 16,
  "vec3<double>": 24,
  "mat3<double>": 72,
  int6: 24,
  "cctbx::miller::index<>": 12,
  "std::string": 32,
};

const COLUMN_TYPES: readonly string[] = [...Object.keys(ELEMENT_BYTES), "Shoebox<>"];

function isColumnType(name: string): name is ColumnType {
  return COLUMN_TYPES.includes(name);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Rows in a column (undefined for a raw column of unknown layout). */
export function columnLength(col: Column): number | undefined {
  switch (col.type) {
    case "raw":
      return col.rows;
    case "std::string":
    case "Shoebox<>":
      return col.data.length;
    default:
      return col.data.length / WIDTH[col.type];
  }
}

/** The plain data of a table: all the writer needs (ReflectionTable adds typed getters). */
export interface ReflectionTableData {
  nrows: number;
  /** Experiment id (the `id` column's values) -> experiment identifier string. */
  identifiers: Map<number, string>;
  columns: Map<string, Column>;
}

export class ReflectionTable implements ReflectionTableData {
  nrows: number;
  /** Experiment id (the `id` column's values) -> experiment identifier string. */
  readonly identifiers: Map<number, string>;
  readonly columns: Map<string, Column>;
  /** Why columns were kept raw on reading. */
  readonly warnings: string[] = [];
  /** The file it was read from, for error messages. */
  source: string | undefined;

  constructor(
    nrows: number,
    columns: Iterable<[string, Column]> = [],
    identifiers: Iterable<[number, string]> = [],
  ) {
    this.nrows = nrows;
    this.columns = new Map();
    this.identifiers = new Map(identifiers);
    for (const [name, col] of columns) this.setColumn(name, col);
  }

  /** Wraps plain table data (shares its columns), validating column lengths. */
  static from(data: ReflectionTableData): ReflectionTable {
    if (data instanceof ReflectionTable) return data;
    return new ReflectionTable(data.nrows, data.columns, data.identifiers);
  }

  has(name: string): boolean {
    return this.columns.has(name);
  }

  /** Adds or replaces a column; its length must be `nrows`. */
  setColumn(name: string, col: Column): this {
    const n = columnLength(col);
    if (col.type !== "raw" && !Number.isInteger(n)) {
      throw new DialsColumnError(
        `${col.data.length} values is not a whole number of ${col.type} rows`,
        name,
        col.type,
        col.type,
        this.source,
      );
    }
    if (n !== undefined && n !== this.nrows) {
      throw new DialsColumnError(
        `has ${n} rows, the table has ${this.nrows}`,
        name,
        col.type,
        col.type,
        this.source,
      );
    }
    this.columns.set(name, col);
    return this;
  }

  /** The column, or a DialsColumnError listing the columns there are. */
  column(name: string): Column {
    const col = this.columns.get(name);
    if (!col) {
      const have = [...this.columns.keys()].join(", ") || "none";
      throw new DialsColumnError(
        `no such column (columns: ${have})`,
        name,
        "any",
        undefined,
        this.source,
      );
    }
    return col;
  }

  /** The column's data, checked to be of type `type`. */
  get<T extends ColumnType>(name: string, type: T): ColumnOf<T>["data"] {
    const col = this.columns.get(name);
    if (!col) {
      const have = [...this.columns.keys()].join(", ") || "none";
      throw new DialsColumnError(
        `no such column, expected ${type} (columns: ${have})`,
        name,
        type,
        undefined,
        this.source,
      );
    }
    if (col.type === "raw") {
      throw new DialsColumnError(
        `is ${col.typeName} kept undecoded (${col.reason}), expected ${type}`,
        name,
        type,
        col.typeName,
        this.source,
      );
    }
    if (col.type !== type) {
      throw new DialsColumnError(`is ${col.type}, not ${type}`, name, type, col.type, this.source);
    }
    return col.data as ColumnOf<T>["data"];
  }

  doubles(name: string): Float64Array {
    return this.get(name, "double");
  }
  ints(name: string): Int32Array {
    return this.get(name, "int");
  }
  /** 0/1 per row. */
  bools(name: string): Uint8Array {
    return this.get(name, "bool");
  }
  /** std::size_t values as doubles (exact below 2^53). */
  sizes(name: string): Float64Array {
    return this.get(name, "std::size_t");
  }
  strings(name: string): string[] {
    return this.get(name, "std::string");
  }
  /** 2 doubles per row. */
  vec2(name: string): Float64Array {
    return this.get(name, "vec2<double>");
  }
  /** 3 doubles per row, e.g. `xyzobs.px.value`. */
  vec3(name: string): Float64Array {
    return this.get(name, "vec3<double>");
  }
  /** 9 doubles per row, row-major. */
  mat3(name: string): Float64Array {
    return this.get(name, "mat3<double>");
  }
  /** h, k, l per row. */
  millerIndices(name = "miller_index"): Int32Array {
    return this.get(name, "cctbx::miller::index<>");
  }
  /** x0, x1, y0, y1, z0, z1 per row. */
  bbox(name = "bbox"): Int32Array {
    return this.get(name, "int6");
  }
  shoeboxes(name = "shoebox"): Shoebox[] {
    return this.get(name, "Shoebox<>");
  }

  /** A new table with the given rows, in that order (raw columns are dropped, with a warning). */
  take(rows: ArrayLike<number>): ReflectionTable {
    const n = rows.length;
    for (let i = 0; i < n; i++) {
      const r = rows[i]!;
      if (!(Number.isInteger(r) && r >= 0 && r < this.nrows)) {
        throw new RangeError(`row ${r} out of range (table has ${this.nrows} rows)`);
      }
    }
    const out = new ReflectionTable(n, [], this.identifiers);
    out.source = this.source;
    for (const [name, col] of this.columns) {
      if (col.type === "raw") {
        out.warnings.push(`column '${name}' (${col.typeName}, undecoded) dropped by selection`);
        continue;
      }
      out.columns.set(name, takeColumn(col, rows));
    }
    return out;
  }

  /** A new table with the rows where `mask` is truthy. */
  filter(mask: ArrayLike<number | boolean>): ReflectionTable {
    if (mask.length !== this.nrows) {
      throw new RangeError(`mask has ${mask.length} entries, the table has ${this.nrows} rows`);
    }
    const rows: number[] = [];
    for (let i = 0; i < mask.length; i++) if (mask[i]) rows.push(i);
    return this.take(rows);
  }
}

function takeColumn(col: Exclude<Column, RawColumn>, rows: ArrayLike<number>): Column {
  const n = rows.length;
  switch (col.type) {
    case "std::string":
      return { type: col.type, data: Array.from({ length: n }, (_, i) => col.data[rows[i]!]!) };
    case "Shoebox<>":
      return {
        type: col.type,
        data: Array.from({ length: n }, (_, i) => cloneShoebox(col.data[rows[i]!]!)),
      };
    default: {
      const w = WIDTH[col.type];
      const src = col.data;
      // By type, not src.constructor: a caller's Buffer would otherwise construct a Buffer.
      const out =
        col.type === "bool"
          ? new Uint8Array(n * w)
          : src instanceof Int32Array
            ? new Int32Array(n * w)
            : new Float64Array(n * w);
      for (let i = 0; i < n; i++) {
        const r = rows[i]!;
        for (let k = 0; k < w; k++) out[i * w + k] = src[r * w + k]!;
      }
      return { type: col.type, data: out } as Column;
    }
  }
}

function cloneShoebox(s: Shoebox): Shoebox {
  const out: Shoebox = { panel: s.panel, bbox: [...s.bbox] };
  if (s.data) out.data = s.data.slice();
  if (s.mask) out.mask = s.mask.slice();
  if (s.background) out.background = s.background.slice();
  return out;
}

/**
 * Rows of one experiment, by its integer id or identifier string; the result's identifiers
 * keep only that experiment. Ids are not renumbered (as DIALS's select_on_experiment_identifiers).
 */
export function selectExperiment(
  data: ReflectionTableData,
  experiment: number | string,
): ReflectionTable {
  const table = ReflectionTable.from(data);
  let id: number;
  if (typeof experiment === "string") {
    const found = [...table.identifiers].find(([, s]) => s === experiment);
    if (!found) {
      const known = [...table.identifiers.values()].join(", ") || "none";
      throw new DialsColumnError(
        `no experiment with identifier '${experiment}' (identifiers: ${known})`,
        "id",
        "int",
        table.columns.get("id")?.type,
        table.source,
      );
    }
    id = found[0];
  } else id = experiment;
  const ids = table.ints("id");
  const rows: number[] = [];
  for (let i = 0; i < ids.length; i++) if (ids[i] === id) rows.push(i);
  const out = table.take(rows);
  out.identifiers.clear();
  const ident = table.identifiers.get(id);
  if (ident !== undefined) out.identifiers.set(id, ident);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reading

export interface ParseOptions {
  /** File name for error messages. */
  file?: string;
  /** Copy every column out of the input (default: aligned payloads are views into it). */
  copy?: boolean;
}

export async function readReflectionTable(
  path: string,
  opts: Omit<ParseOptions, "file"> = {},
): Promise<ReflectionTable> {
  let bytes: Uint8Array;
  try {
    bytes = await readWhole(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DialsFormatError(
      code === "ENOENT" ? "no such file" : `cannot read: ${(e as Error).message}`,
      { file: path },
    );
  }
  // The buffer is ours alone: views into it are safe without copying.
  return parseReflectionTable(bytes, { ...opts, file: path });
}

/** Reads a file into a fresh buffer (not Node's shared pool; works past fs.readFile's 2 GiB). */
async function readWhole(path: string): Promise<Uint8Array> {
  const fh = await fs.open(path, "r");
  try {
    const { size } = await fh.stat();
    const out = new Uint8Array(size);
    let at = 0;
    while (at < size) {
      const { bytesRead } = await fh.read(out, at, Math.min(size - at, 1 << 30), at);
      if (bytesRead === 0) break;
      at += bytesRead;
    }
    return at === size ? out : out.subarray(0, at);
  } finally {
    await fh.close();
  }
}

export function parseReflectionTable(bytes: Uint8Array, opts: ParseOptions = {}): ReflectionTable {
  const file = opts.file;
  const fail = (problem: string, location?: string): never => {
    throw new DialsFormatError(problem, { file, location });
  };
  if (!LITTLE_ENDIAN) fail("reading DIALS tables needs a little-endian machine");
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = zlib.gunzipSync(bytes);
    } catch (e) {
      fail(`gzip-compressed, but the compressed data is damaged (${(e as Error).message})`);
    }
  }
  if (bytes.length === 0) fail("empty file, not a DIALS reflection table");
  const b0 = bytes[0]!;
  if (b0 === 0x80 && bytes.length > 1 && bytes[1]! >= 2 && bytes[1]! <= 5) {
    fail(
      "a Python pickle (the pre-msgpack DIALS format); re-save it with DIALS as msgpack " +
        "(flex.reflection_table.from_file(f).as_file(f))",
    );
  }
  if (b0 === 0x7b || b0 === 0x5b) fail("looks like JSON (an experiment list?), not a .refl");

  const r = new MsgpackReader(bytes);
  let context = "header";
  try {
    if (r.peekKind() !== "array") {
      fail(`not a msgpack DIALS reflection table (first byte 0x${b0.toString(16)})`);
    }
    const top = r.readArrayHeader();
    if (top !== 3) fail(`not a DIALS reflection table: top-level array has ${top} items, not 3`);
    const magic = r.peekKind() === "str" ? r.readString() : undefined;
    if (magic !== REFLECTION_TABLE_MAGIC) {
      fail(
        `wrong magic ${magic === undefined ? "(not a string)" : JSON.stringify(magic.slice(0, 60))}, ` +
          `expected "${REFLECTION_TABLE_MAGIC}"`,
      );
    }
    const version = r.readInt();
    if (version !== REFLECTION_TABLE_VERSION) {
      fail(
        `unsupported version ${version} (this reader knows version ${REFLECTION_TABLE_VERSION})`,
      );
    }
    let nrows: number | undefined;
    const table = new ReflectionTable(0);
    table.source = file;
    let dataAt: number | undefined;
    let columnsRead = false;
    const readColumns = (n: number): void => {
      const ncols = r.readMapHeader();
      for (let c = 0; c < ncols; c++) {
        context = "column names";
        const name = r.readString();
        context = `column '${name}'`;
        if (r.readArrayHeader() !== 2) fail("column is not a [type, data] pair", context);
        const typeName = r.readString();
        const col = readColumn(r, name, typeName, n, opts.copy === true, file);
        if (col.type === "raw") table.warnings.push(`column '${name}': ${col.reason}`);
        table.columns.set(name, col);
      }
      columnsRead = true;
    };
    const nkeys = r.readMapHeader();
    for (let i = 0; i < nkeys; i++) {
      const key = r.readString();
      if (key === "nrows") nrows = r.readSafeInt();
      else if (key === "identifiers") {
        context = "identifiers";
        const n = r.readMapHeader();
        for (let k = 0; k < n; k++) {
          const id = r.readSafeInt();
          table.identifiers.set(id, r.readString());
        }
      } else if (key === "data") {
        // DIALS writes nrows first; otherwise come back once it is known.
        if (nrows !== undefined) readColumns(nrows);
        else {
          dataAt = r.pos;
          context = "columns";
          r.skip();
        }
      } else {
        table.warnings.push(`unknown header key '${key}' ignored`);
        r.skip();
      }
      context = "header";
    }
    if (nrows === undefined) fail("header has no 'nrows'");
    table.nrows = nrows!;
    if (!columnsRead) {
      if (dataAt === undefined) fail("header has no 'data' (the columns)");
      const end = r.pos;
      r.pos = dataAt!;
      readColumns(nrows!);
      r.pos = end;
    }
    if (r.remaining > 0) fail(`${r.remaining} unexpected byte(s) after the table`);
    return table;
  } catch (e) {
    if (e instanceof MsgpackError) {
      const truncated = e.message.startsWith("unexpected end");
      throw new DialsFormatError(
        truncated
          ? `file ends inside ${context}: truncated? (${e.message})`
          : `malformed msgpack in ${context}: ${e.message}`,
        { file },
      );
    }
    throw e;
  }
}

function readColumn(
  r: MsgpackReader,
  name: string,
  typeName: string,
  nrows: number,
  copy: boolean,
  file: string | undefined,
): Column {
  const location = `column '${name}'`;
  const start = r.pos;
  const raw = (reason: string, rows?: number): RawColumn => {
    r.pos = start;
    return { type: "raw", typeName, raw: r.readRaw(), rows, reason };
  };
  if (!isColumnType(typeName)) return raw(`unknown column type '${typeName}'`);
  if (r.peekKind() !== "array" || r.readArrayHeader() !== 2) {
    throw new DialsFormatError(`${typeName} data is not an [n, bytes] pair`, { file, location });
  }
  const n = r.readSafeInt();
  if (n !== nrows) {
    throw new DialsFormatError(`has ${n} rows, the table has ${nrows}`, { file, location });
  }
  const bin = r.readBin();
  if (typeName === "Shoebox<>")
    return { type: typeName, data: decodeShoeboxes(bin, n, file, location) };
  const size = ELEMENT_BYTES[typeName];
  if (bin.length !== n * size) {
    throw new DialsFormatError(
      `${bin.length < n * size ? "truncated" : "oversized"} ${typeName} data ` +
        `(expected ${n}*${size} = ${n * size} bytes, got ${bin.length})`,
      { file, location },
    );
  }
  switch (typeName) {
    case "bool":
      return { type: typeName, data: copy ? copyBytes(bin) : bin };
    case "int":
    case "int6":
    case "cctbx::miller::index<>":
      return { type: typeName, data: asInt32(bin, copy) };
    case "double":
    case "vec2<double>":
    case "vec3<double>":
    case "mat3<double>":
      return { type: typeName, data: asFloat64(bin, copy) };
    case "std::size_t": {
      const data = sizeTToFloat64(bin, n);
      return data ? { type: typeName, data } : raw("values beyond 2^53 (not exact as doubles)", n);
    }
    case "std::string": {
      const data = decodeStrings(bin, n);
      return typeof data === "string" ? raw(data, n) : { type: typeName, data };
    }
  }
}

/** A fresh, aligned copy (not slice(): on a Node Buffer that is a view). */
function copyBytes(bin: Uint8Array, start = 0, end = bin.length): Uint8Array {
  const out = new Uint8Array(end - start);
  out.set(bin.subarray(start, end));
  return out;
}

function asFloat64(bin: Uint8Array, copy: boolean): Float64Array {
  if (!copy && bin.byteOffset % 8 === 0) {
    return new Float64Array(bin.buffer, bin.byteOffset, bin.length / 8);
  }
  return new Float64Array(copyBytes(bin).buffer);
}

function asInt32(bin: Uint8Array, copy: boolean): Int32Array {
  if (!copy && bin.byteOffset % 4 === 0) {
    return new Int32Array(bin.buffer, bin.byteOffset, bin.length / 4);
  }
  return new Int32Array(copyBytes(bin).buffer);
}

/** uint64 -> double, or undefined if any value is 2^53 or more. */
function sizeTToFloat64(bin: Uint8Array, n: number): Float64Array | undefined {
  const words =
    bin.byteOffset % 4 === 0
      ? new Uint32Array(bin.buffer, bin.byteOffset, 2 * n)
      : new Uint32Array(copyBytes(bin).buffer);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const hi = words[2 * i + 1]!;
    if (hi >= 0x200000) return undefined;
    out[i] = hi * 0x100000000 + words[2 * i]!;
  }
  return out;
}

const utf8 = new TextDecoder("utf-8");
const utf8Encoder = new TextEncoder();

/** libstdc++ std::string objects: {char* p; size_t len; char buf[16]}. Returns the reason as a
 * string when a value cannot be recovered. */
function decodeStrings(bin: Uint8Array, n: number): string[] | string {
  const view = new DataView(bin.buffer, bin.byteOffset, bin.byteLength);
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const at = 32 * i;
    const len = view.getUint32(at + 8, true) + view.getUint32(at + 12, true) * 0x100000000;
    if (len > 15) {
      return `row ${i} holds a ${len}-byte string: DIALS stores strings longer than 15 bytes as a pointer into the writing process's memory, so it cannot be recovered`;
    }
    out[i] = utf8.decode(bin.subarray(at + 16, at + 16 + len));
  }
  return out;
}

function decodeShoeboxes(
  bin: Uint8Array,
  n: number,
  file: string | undefined,
  location: string,
): Shoebox[] {
  const view = new DataView(bin.buffer, bin.byteOffset, bin.byteLength);
  const out = new Array<Shoebox>(n);
  let at = 0;
  const need = (bytes: number, row: number, what: string): void => {
    if (at + bytes > bin.length) {
      throw new DialsFormatError(
        `truncated Shoebox<> data: row ${row} needs ${bytes} bytes of ${what} at byte ${at}, ` +
          `only ${bin.length - at} left`,
        { file, location },
      );
    }
  };
  for (let i = 0; i < n; i++) {
    need(29, i, "header");
    const panel = view.getUint32(at, true);
    const bbox: BBox = [0, 0, 0, 0, 0, 0];
    for (let k = 0; k < 6; k++) bbox[k] = view.getInt32(at + 4 + 4 * k, true);
    const hasData = bin[at + 28]!;
    at += 29;
    if (bbox[1] < bbox[0] || bbox[3] < bbox[2] || bbox[5] < bbox[4]) {
      throw new DialsFormatError(`row ${i}: shoebox bbox [${bbox.join(", ")}] is inverted`, {
        file,
        location,
      });
    }
    const sb: Shoebox = { panel, bbox };
    if (hasData) {
      const count = (bbox[1] - bbox[0]) * (bbox[3] - bbox[2]) * (bbox[5] - bbox[4]);
      need(12 * count, i, "pixels");
      // Unaligned in general (the header is 29 bytes): copied into aligned buffers.
      sb.data = new Float32Array(copyBytes(bin, at, at + 4 * count).buffer);
      at += 4 * count;
      sb.mask = new Int32Array(copyBytes(bin, at, at + 4 * count).buffer);
      at += 4 * count;
      sb.background = new Float32Array(copyBytes(bin, at, at + 4 * count).buffer);
      at += 4 * count;
    }
    out[i] = sb;
  }
  if (at !== bin.length) {
    throw new DialsFormatError(
      `Shoebox<> data has ${bin.length - at} byte(s) beyond its ${n} rows`,
      { file, location },
    );
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Writing

export interface SerializeOptions {
  /**
   * What to do with std::string columns, which DIALS cannot read back from another process
   * (it stores heap pointers; reading one crashes dials). "error" (default): refuse with a
   * DialsFormatError; "drop": leave them out; "libstdc++": write them in DIALS's layout with a
   * null pointer (strings up to 15 bytes; only this reader can read them back).
   */
  stringColumns?: "error" | "drop" | "libstdc++";
}

export function serializeReflectionTable(
  table: ReflectionTableData,
  opts: SerializeOptions = {},
): Uint8Array {
  return encodeTable(table, opts).finish();
}

/** Writes atomically (temporary file, then rename) so readers never see half a table. */
export async function writeReflectionTable(
  path: string,
  table: ReflectionTableData,
  opts: SerializeOptions = {},
): Promise<void> {
  // Chunks go to the file as they are: big columns are not copied into one buffer first.
  const chunks = encodeTable(table, opts).chunksOut();
  const tmp = `${path}.${process.pid}.${Date.now().toString(36)}.tmp`;
  try {
    const fh = await fs.open(tmp, "w");
    try {
      for (const c of chunks) await fh.write(c);
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

function encodeTable(table: ReflectionTableData, opts: SerializeOptions): MsgpackWriter {
  if (!LITTLE_ENDIAN)
    throw new DialsFormatError("writing DIALS tables needs a little-endian machine");
  const strings = opts.stringColumns ?? "error";
  const file = table instanceof ReflectionTable ? table.source : undefined;
  const cols = [...table.columns].filter(([name, col]) => {
    if (col.type !== "std::string") return true;
    if (strings === "drop") return false;
    if (strings === "error") {
      throw new DialsFormatError(
        "std::string columns cannot be written in a form DIALS reads back (it stores memory " +
          "pointers); pass {stringColumns: 'drop'} or {stringColumns: 'libstdc++'}",
        { location: `column '${name}'` },
      );
    }
    return true;
  });
  // DIALS writes columns in std::map order: sorted by name, bytewise.
  cols.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const w = new MsgpackWriter();
  w.arrayHeader(3);
  w.string(REFLECTION_TABLE_MAGIC);
  w.int(REFLECTION_TABLE_VERSION);
  w.mapHeader(3);
  w.string("identifiers");
  const ids = [...table.identifiers].sort(([a], [b]) => a - b);
  w.mapHeader(ids.length);
  for (const [id, s] of ids) {
    w.int(id);
    w.string(s);
  }
  w.string("nrows");
  w.int(table.nrows);
  w.string("data");
  w.mapHeader(cols.length);
  for (const [name, col] of cols) {
    const n = columnLength(col);
    if (n !== undefined && n !== table.nrows) {
      throw new DialsFormatError(`has ${n} rows, the table has ${table.nrows}`, {
        file,
        location: `column '${name}'`,
      });
    }
    w.string(name);
    w.arrayHeader(2);
    if (col.type === "raw") {
      w.string(col.typeName);
      w.value(new MsgpackRaw(col.raw));
      continue;
    }
    w.string(col.type);
    w.arrayHeader(2);
    w.int(table.nrows);
    w.bin(columnBytes(col, name));
  }
  return w;
}

function columnBytes(col: Exclude<Column, RawColumn>, name: string): Uint8Array {
  const location = `column '${name}'`;
  switch (col.type) {
    case "Shoebox<>":
      return encodeShoeboxes(col.data, location);
    case "std::string":
      return encodeStrings(col.data, location);
    case "std::size_t": {
      const out = new Uint8Array(8 * col.data.length);
      const view = new DataView(out.buffer);
      col.data.forEach((v, i) => {
        if (!(Number.isSafeInteger(v) && v >= 0)) {
          throw new DialsFormatError(`row ${i}: ${v} is not a valid std::size_t`, { location });
        }
        view.setUint32(8 * i, v % 0x100000000, true);
        view.setUint32(8 * i + 4, Math.floor(v / 0x100000000), true);
      });
      return out;
    }
    default:
      return new Uint8Array(col.data.buffer, col.data.byteOffset, col.data.byteLength);
  }
}

function encodeStrings(values: string[], location: string): Uint8Array {
  const out = new Uint8Array(32 * values.length);
  const view = new DataView(out.buffer);
  values.forEach((s, i) => {
    const bytes = utf8Encoder.encode(s);
    if (bytes.length > 15) {
      throw new DialsFormatError(
        `row ${i}: '${s}' is ${bytes.length} bytes; only strings up to 15 bytes can be stored`,
        { location },
      );
    }
    view.setUint32(32 * i + 8, bytes.length, true);
    out.set(bytes, 32 * i + 16);
  });
  return out;
}

function encodeShoeboxes(boxes: Shoebox[], location: string): Uint8Array {
  let total = 0;
  const counts = boxes.map((sb, i) => {
    const [x0, x1, y0, y1, z0, z1] = sb.bbox;
    if (x1 < x0 || y1 < y0 || z1 < z0) {
      throw new DialsFormatError(`row ${i}: shoebox bbox [${sb.bbox.join(", ")}] is inverted`, {
        location,
      });
    }
    const count = (x1 - x0) * (y1 - y0) * (z1 - z0);
    const has = sb.data !== undefined && sb.data.length > 0;
    if (
      has &&
      (sb.data!.length !== count || sb.mask?.length !== count || sb.background?.length !== count)
    ) {
      throw new DialsFormatError(
        `row ${i}: shoebox data, mask and background must each have ${count} values for bbox ` +
          `[${sb.bbox.join(", ")}]`,
        { location },
      );
    }
    total += 29 + (has ? 12 * count : 0);
    return has ? count : -1;
  });
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let at = 0;
  boxes.forEach((sb, i) => {
    view.setUint32(at, sb.panel, true);
    for (let k = 0; k < 6; k++) view.setInt32(at + 4 + 4 * k, sb.bbox[k]!, true);
    const count = counts[i]!;
    out[at + 28] = count >= 0 ? 1 : 0;
    at += 29;
    if (count >= 0) {
      for (const arr of [sb.data!, sb.mask!, sb.background!]) {
        out.set(new Uint8Array(arr.buffer, arr.byteOffset, 4 * count), at);
        at += 4 * count;
      }
    }
  });
  return out;
}
