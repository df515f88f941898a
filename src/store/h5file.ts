/**
 * One open HDF5 file id and the low-level operations the reader and writer share:
 * metadata, listing, attributes, and hyperslab transfers through the reusable heap buffer.
 * Every failure becomes a typed StoreError naming the file and the object.
 */
import fs from "node:fs";
import { looksTruncated, readSuperblock } from "./superblock.js";
import {
  H5CallFailure,
  H5S_UNLIMITED,
  MAX_CALL_BYTES,
  type H5Lib,
  type Metadata,
} from "./h5lib.js";
import {
  CorruptFileError,
  DatasetNotFoundError,
  FileNotFoundError,
  HDF5CallError,
  InvalidArgumentError,
  StoreClosedError,
  StoreError,
  UnsupportedDtypeError,
  WriterCrashedError,
} from "./errors.js";
import {
  dtypeFromMetadata,
  dtypeOfTypedArray,
  h5TypeMetadata,
  view,
  type DType,
  type TypedArray,
} from "./dtype.js";

export type OpenMode = "r" | "Sr" | "a" | "w" | "x";

/** Attribute values as JS sees them; objects and mixed arrays travel as JSON. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };
export type AttrValue = JsonValue | bigint | TypedArray;
export type Attrs = Record<string, AttrValue>;

/** Which attributes need decoding back to JS types (HDF5 has no JSON or bool attribute). */
export const ATTR_TYPES = "_stagelab_attr_types";

const H5O_TYPE_GROUP = 0;
const H5O_TYPE_DATASET = 1;
const H5T_STRING = 3;

export function normalizeObjectPath(p: string): string {
  if (typeof p !== "string" || p.length === 0)
    throw new TypeError("object path must be a non-empty string");
  const parts = p.split("/").filter((s) => s.length > 0);
  return "/" + parts.join("/");
}

export interface DatasetLayout {
  dtype: DType;
  /** The extent HDF5 reports (may be ahead of the committed extent while a writer works). */
  shape: number[];
  /** null entries are unlimited. */
  maxshape: (number | null)[];
  chunks: number[] | null;
  /** Filter names in pipeline order, e.g. ["deflate"], ["blosc"]. */
  filters: { id: number; name: string; options: number[] }[];
}

export class H5File {
  private closed = false;

  private constructor(
    readonly lib: H5Lib,
    readonly path: string,
    readonly mode: OpenMode,
    readonly fid: bigint,
  ) {}

  static open(lib: H5Lib, path: string, mode: OpenMode): H5File {
    const M = lib.M;
    if (mode === "r" || mode === "Sr" || mode === "a") {
      if (!fs.existsSync(path)) throw new FileNotFoundError("no such file", { file: path });
      checkSuperblock(path);
    }
    const modeFlag = {
      r: M.H5F_ACC_RDONLY,
      Sr: M.H5F_ACC_SWMR_READ,
      a: M.H5F_ACC_RDWR,
      w: M.H5F_ACC_TRUNC,
      x: M.H5F_ACC_EXCL,
    }[mode];
    // SWMR needs the v110 file format; readers keep whatever bounds the file has. Writers
    // re-opening a file ("a") need the bounds too, or H5Fstart_swmr_write refuses.
    const writing = mode === "w" || mode === "x" || mode === "a";
    const libver = writing ? M.H5F_LIBVER_V110 : -1;
    try {
      const fid = lib.call(() =>
        M.open(path, modeFlag, false, libver, writing ? M.H5F_LIBVER_LATEST : -1),
      );
      return new H5File(lib, path, mode, fid);
    } catch (e) {
      throw openError(path, e);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.lib.call(() => this.lib.M.close_file(this.fid));
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  private live(): void {
    if (this.closed) throw new StoreClosedError("file handle is closed", { file: this.path });
  }

  /** Run an HDF5 call on this file; failures become HDF5CallError naming file and object. */
  run<T>(what: string, objectPath: string | undefined, fn: () => T): T {
    this.live();
    try {
      return this.lib.call(fn);
    } catch (e) {
      if (e instanceof H5CallFailure) {
        throw new HDF5CallError(`${what} failed`, {
          file: this.path,
          dataset: objectPath,
          hdf5Detail: e.detail,
        });
      }
      throw e;
    }
  }

  kind(objectPath: string): "group" | "dataset" | "other" | "missing" {
    this.live();
    const p = normalizeObjectPath(objectPath);
    if (p === "/") return "group";
    // Walk the parents first: asking HDF5 about a/b/c when a/b is missing raises an error stack.
    const parts = p.split("/").filter(Boolean);
    let prefix = "";
    for (const part of parts) {
      prefix += "/" + part;
      let t: number;
      try {
        t = this.lib.call(() => {
          const names = this.lib.M.get_names(
            this.fid,
            prefix.slice(0, prefix.lastIndexOf("/")) || "/",
            false,
          );
          return names.includes(part) ? this.lib.M.get_type(this.fid, prefix) : -2;
        });
      } catch {
        return "missing";
      }
      if (t === -2) return "missing";
      if (prefix === p) {
        return t === H5O_TYPE_GROUP ? "group" : t === H5O_TYPE_DATASET ? "dataset" : "other";
      }
      if (t !== H5O_TYPE_GROUP) return "missing";
    }
    return "missing";
  }

  requireDataset(objectPath: string): string {
    const p = normalizeObjectPath(objectPath);
    const k = this.kind(p);
    if (k !== "dataset") {
      throw new DatasetNotFoundError(
        k === "missing" ? "no such dataset" : `is a ${k}, not a dataset`,
        {
          file: this.path,
          dataset: p,
        },
      );
    }
    return p;
  }

  /** Names directly under a group (or all below it, with `recursive`), as absolute paths. */
  list(groupPath: string, recursive: boolean): string[] {
    const g = normalizeObjectPath(groupPath);
    const names = this.run("listing", g, () => this.lib.M.get_names(this.fid, g, recursive));
    return names.map((n) => (g === "/" ? "/" + n : `${g}/${n}`));
  }

  metadata(dsPath: string): Metadata {
    return this.run("reading dataset metadata", dsPath, () =>
      this.lib.M.get_dataset_metadata(this.fid, dsPath),
    );
  }

  layout(dsPath: string): DatasetLayout {
    const meta = this.metadata(dsPath);
    const dtype = dtypeFromMetadata(meta);
    if (typeof dtype !== "string") {
      throw new UnsupportedDtypeError(
        `element type ${dtype.unsupported} is not an array dtype the store reads`,
        {
          file: this.path,
          dataset: dsPath,
        },
      );
    }
    const filters = this.run("reading filters", dsPath, () =>
      this.lib.M.get_dataset_filters(this.fid, dsPath),
    );
    const shape = (meta.shape ?? []).map(Number);
    return {
      dtype: this.boolTagged(dsPath, dtype),
      shape,
      maxshape: (meta.maxshape ?? shape).map((d) =>
        BigInt(d) >= H5S_UNLIMITED || d > Number.MAX_SAFE_INTEGER ? null : Number(d),
      ),
      chunks: meta.chunks ? meta.chunks.map(Number) : null,
      filters: filters.map((f) => ({ id: f.id, name: f.name, options: [...f.cd_values] })),
    };
  }

  /** Our bool datasets are uint8 on disk, tagged with an attribute so they read back as bool. */
  private boolTagged(dsPath: string, dtype: DType): DType {
    if (dtype !== "uint8") return dtype;
    const types = this.attrTypes(dsPath);
    return types["__dataset__"] === "bool" ? "bool" : dtype;
  }

  createGroup(groupPath: string): void {
    const g = normalizeObjectPath(groupPath);
    if (g === "/" || this.kind(g) === "group") return;
    const parent = g.slice(0, g.lastIndexOf("/")) || "/";
    this.createGroup(parent);
    this.run("creating group", g, () => this.lib.M.create_group(this.fid, g, false));
  }

  createDataset(
    dsPath: string,
    dtype: DType,
    shape: number[],
    maxshape: (number | null)[],
    chunks: number[] | null,
    filter: { id: number; options: number[] } | null,
  ): void {
    const parent = dsPath.slice(0, dsPath.lastIndexOf("/")) || "/";
    this.createGroup(parent);
    const meta = {
      ...h5TypeMetadata(dtype),
      shape: shape.map(BigInt),
      maxshape: maxshape.map((d) => (d === null ? H5S_UNLIMITED : BigInt(d))),
      chunks: chunks ? chunks.map(BigInt) : null,
      compression: filter?.id ?? 0,
      compression_opts: filter?.options ?? [],
      track_order: false,
    };
    const M = this.lib.M;
    // create_dataset writes the initial data from the pointer: empty datasets get a dummy
    // pointer, non-empty ones are created empty-filled (HDF5's fill value 0) via a resize.
    const empty = shape.some((d) => d === 0);
    const initial = empty ? shape : shape.map(() => 0);
    const ptr = this.lib.scratch(16);
    this.run("creating dataset", dsPath, () =>
      M.create_dataset(this.fid, dsPath, BigInt(ptr), {
        ...meta,
        shape: initial.map(BigInt),
      } as never),
    );
    if (!empty) this.resize(dsPath, shape);
  }

  resize(dsPath: string, shape: number[]): void {
    this.run("resizing dataset", dsPath, () =>
      this.lib.M.resize_dataset(this.fid, dsPath, shape.map(BigInt)),
    );
  }

  flush(): void {
    this.run("flushing file", undefined, () => this.lib.M.flush(this.fid));
  }

  startSwmrWrite(): void {
    this.run("starting SWMR write mode", undefined, () => this.lib.M.H5Fstart_swmr_write(this.fid));
  }

  /**
   * Read a hyperslab (unit stride) into `out`, whose bytes must equal prod(count)*itemBytes.
   * Transfers larger than the per-call limit are split along the outermost axis that has
   * more than one element, so no single WASM call exceeds MAX_CALL_BYTES.
   */
  readHyperslab(
    dsPath: string,
    start: number[],
    count: number[],
    out: Uint8Array,
    step?: number[],
  ): void {
    this.transfer(dsPath, start, count, step ?? count.map(() => 1), out, false);
  }

  writeHyperslab(dsPath: string, start: number[], count: number[], data: Uint8Array): void {
    this.transfer(
      dsPath,
      start,
      count,
      count.map(() => 1),
      data,
      true,
    );
  }

  private transfer(
    dsPath: string,
    start: number[],
    count: number[],
    step: number[],
    bytes: Uint8Array,
    write: boolean,
  ): void {
    const n = count.reduce((a, b) => a * b, 1);
    if (n === 0) return;
    const itemBytes = bytes.byteLength / n;
    for (const slab of splitSlabs(start, count, itemBytes, MAX_CALL_BYTES, step)) {
      const slabBytes = bytes.subarray(slab.byteOffset, slab.byteOffset + slab.byteLength);
      const ptr = this.lib.scratch(slab.byteLength);
      const M = this.lib.M;
      const offset = slab.start.map(BigInt);
      const cnt = slab.count.map(BigInt);
      const stride = step.map(BigInt);
      if (write) {
        this.lib.heap().set(slabBytes, ptr);
        this.run("writing data", dsPath, () =>
          M.set_dataset_data(this.fid, dsPath, cnt, offset, stride, BigInt(ptr)),
        );
      } else {
        this.run("reading data", dsPath, () =>
          M.get_dataset_data(this.fid, dsPath, cnt, offset, stride, BigInt(ptr)),
        );
        slabBytes.set(this.lib.heap().subarray(ptr, ptr + slab.byteLength));
      }
    }
  }

  // ---- attributes ---------------------------------------------------------------------

  attrNames(objectPath: string): string[] {
    const p = normalizeObjectPath(objectPath);
    return this.run("listing attributes", p, () => this.lib.M.get_attribute_names(this.fid, p));
  }

  private attrTypes(objectPath: string): Record<string, string> {
    const p = normalizeObjectPath(objectPath);
    if (!this.attrNames(p).includes(ATTR_TYPES)) return {};
    const raw = this.readRawAttr(p, ATTR_TYPES);
    try {
      return typeof raw === "string" ? (JSON.parse(raw) as Record<string, string>) : {};
    } catch {
      return {};
    }
  }

  /** All user attributes of an object, decoded (JSON and bool attributes come back as such). */
  readAttrs(objectPath: string): Attrs {
    const p = normalizeObjectPath(objectPath);
    const types = this.attrTypes(p);
    const out: Attrs = {};
    for (const name of this.attrNames(p)) {
      if (name === ATTR_TYPES) continue;
      const raw = this.readRawAttr(p, name);
      if (raw === undefined) continue;
      const t = types[name];
      if (t === "json" && typeof raw === "string") {
        try {
          out[name] = JSON.parse(raw) as JsonValue;
          continue;
        } catch {
          /* fall through: keep the text */
        }
      }
      out[name] = t === "bool" && typeof raw === "number" ? raw !== 0 : raw;
    }
    return out;
  }

  private readRawAttr(p: string, name: string): AttrValue | undefined {
    const M = this.lib.M;
    const meta = this.run("reading attribute", `${p}@${name}`, () =>
      M.get_attribute_metadata(this.fid, p, name),
    );
    const shape = meta.shape;
    if (!shape) return undefined;
    const n = shape.reduce((a, b) => a * b, 1);
    const nbytes = meta.size * n;
    const ptr = M._malloc(Math.max(nbytes, 8));
    try {
      this.run("reading attribute", `${p}@${name}`, () =>
        M.get_attribute_data(this.fid, p, name, BigInt(ptr)),
      );
      const bytes = M.HEAPU8.slice(ptr, ptr + nbytes);
      if (meta.type === H5T_STRING) {
        const strings: string[] = [];
        if (meta.vlen) {
          const ptrs = new Uint32Array(bytes.buffer, 0, n);
          for (const sp of ptrs) strings.push(sp ? M.UTF8ToString(sp) : "");
          this.run("freeing attribute", `${p}@${name}`, () =>
            M.reclaim_vlen_memory(this.fid, p, name, BigInt(ptr)),
          );
        } else {
          const dec = new TextDecoder();
          for (let i = 0; i < n; i++) {
            const s = bytes.subarray(i * meta.size, (i + 1) * meta.size);
            const z = s.indexOf(0);
            strings.push(dec.decode(z >= 0 ? s.subarray(0, z) : s));
          }
        }
        return shape.length === 0 ? (strings[0] ?? "") : strings;
      }
      const dtype = dtypeFromMetadata(meta);
      if (typeof dtype !== "string" || dtype.startsWith("complex")) return undefined;
      const arr = view(dtype, bytes.buffer, 0, n);
      if (shape.length === 0) {
        const v = arr[0]!;
        return typeof v === "bigint" &&
          v >= BigInt(Number.MIN_SAFE_INTEGER) &&
          v <= BigInt(Number.MAX_SAFE_INTEGER)
          ? Number(v)
          : v;
      }
      return arr as TypedArray;
    } finally {
      M._free(ptr);
    }
  }

  writeAttrs(objectPath: string, attrs: Attrs): void {
    const p = normalizeObjectPath(objectPath);
    const types = this.attrTypes(p);
    let typesChanged = false;
    for (const [name, value] of Object.entries(attrs)) {
      if (name === ATTR_TYPES)
        throw new InvalidArgumentError(`attribute name ${ATTR_TYPES} is reserved`, {
          file: this.path,
          dataset: p,
        });
      const tag = this.writeAttr(p, name, value);
      if (types[name] !== tag) {
        if (tag) types[name] = tag;
        else delete types[name];
        typesChanged = true;
      }
    }
    if (typesChanged) this.writeAttr(p, ATTR_TYPES, JSON.stringify(types));
  }

  /** Tag the dataset's element type (today: bool) in the attribute type table. */
  tagDatasetDtype(dsPath: string, dtype: DType): void {
    if (dtype !== "bool") return;
    const types = this.attrTypes(dsPath);
    types["__dataset__"] = "bool";
    this.writeAttr(dsPath, ATTR_TYPES, JSON.stringify(types));
  }

  /** Write one attribute, replacing any old one; returns the decode tag it needs, if any. */
  private writeAttr(p: string, name: string, value: AttrValue): string | undefined {
    const M = this.lib.M;
    const where = `${p}@${name}`;
    if (this.attrNames(p).includes(name)) {
      this.run("replacing attribute", where, () => M.delete_attribute(this.fid, p, name));
    }
    const strings = (arr: string[], shape: number[]) =>
      this.run("writing attribute", where, () =>
        M.create_vlen_str_attribute(this.fid, p, name, arr, {
          type: H5T_STRING,
          size: 4,
          signed: false,
          littleEndian: true,
          vlen: true,
          cset: 1,
          shape: shape.map(BigInt),
          maxshape: shape.map(BigInt),
        } as never),
      );
    const numeric = (dtype: DType, bytes: Uint8Array, shape: number[]) => {
      const ptr = this.lib.scratch(Math.max(bytes.byteLength, 8));
      this.lib.heap().set(bytes, ptr);
      this.run("writing attribute", where, () =>
        M.create_attribute(this.fid, p, name, BigInt(ptr), {
          ...h5TypeMetadata(dtype),
          shape: shape.map(BigInt),
          maxshape: shape.map(BigInt),
        } as never),
      );
    };
    const asBytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    if (typeof value === "string") {
      strings([value], []);
      return undefined;
    }
    if (typeof value === "number") {
      numeric("float64", asBytes(new Float64Array([value])), []);
      return undefined;
    }
    if (typeof value === "bigint") {
      numeric("int64", asBytes(new BigInt64Array([value])), []);
      return undefined;
    }
    if (typeof value === "boolean") {
      numeric("uint8", new Uint8Array([value ? 1 : 0]), []);
      return "bool";
    }
    if (ArrayBuffer.isView(value)) {
      const dtype = dtypeOfTypedArray(value);
      numeric(dtype, asBytes(value), [value.length]);
      return undefined;
    }
    if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === "string")) {
      strings(value as string[], [value.length]);
      return undefined;
    }
    if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === "number")) {
      numeric("float64", asBytes(new Float64Array(value as number[])), [value.length]);
      return undefined;
    }
    strings([JSON.stringify(value)], []);
    return "json";
  }
}

export interface Slab {
  start: number[];
  count: number[];
  byteOffset: number;
  byteLength: number;
}

/**
 * Split a C-ordered hyperslab into pieces of at most `maxBytes`, cutting along the outermost
 * axis whose extent exceeds one; recurses inward when a single outer step is still too big.
 */
export function splitSlabs(
  start: number[],
  count: number[],
  itemBytes: number,
  maxBytes: number,
  step: number[] = count.map(() => 1),
): Slab[] {
  const total = count.reduce((a, b) => a * b, 1) * itemBytes;
  if (total <= maxBytes || count.length === 0) {
    return [{ start: [...start], count: [...count], byteOffset: 0, byteLength: total }];
  }
  const axis = count.findIndex((c) => c > 1);
  if (axis < 0) return [{ start: [...start], count: [...count], byteOffset: 0, byteLength: total }];
  const inner = count.slice(axis + 1).reduce((a, b) => a * b, 1) * itemBytes;
  const out: Slab[] = [];
  if (inner <= maxBytes) {
    const rowsPer = Math.max(1, Math.floor(maxBytes / inner));
    for (let i = 0; i < count[axis]!; i += rowsPer) {
      const c = Math.min(rowsPer, count[axis]! - i);
      const s = [...start];
      s[axis] = start[axis]! + i * step[axis]!;
      const cnt = [...count];
      cnt[axis] = c;
      out.push({ start: s, count: cnt, byteOffset: i * inner, byteLength: c * inner });
    }
    return out;
  }
  for (let i = 0; i < count[axis]!; i++) {
    const s = [...start];
    s[axis] = start[axis]! + i * step[axis]!;
    const cnt = [...count];
    cnt[axis] = 1;
    for (const sub of splitSlabs(s, cnt, itemBytes, maxBytes, step)) {
      out.push({ ...sub, byteOffset: i * inner + sub.byteOffset });
    }
  }
  return out;
}

/** Refuse files HDF5 would misread or (in SWMR mode) loop on, before HDF5 sees them. */
function checkSuperblock(path: string): void {
  const sb = readSuperblock(path);
  if (!sb) throw new CorruptFileError("not an HDF5 file (no HDF5 signature)", { file: path });
  if (looksTruncated(sb)) {
    throw new CorruptFileError(
      `truncated: HDF5 records ${BigInt(sb.offset) + sb.endOfFile} bytes, the file has ${sb.size}`,
      { file: path },
    );
  }
}

/** Turn a failed open into the error a user can act on. */
function openError(path: string, e: unknown): StoreError {
  const detail = e instanceof H5CallFailure ? e.detail : String(e);
  if (
    /signature not found|truncated|bad object header|corrupt|unable to read superblock|checksum/i.test(
      detail,
    )
  ) {
    return new CorruptFileError("not a readable HDF5 file (truncated or damaged)", {
      file: path,
      hdf5Detail: detail,
    });
  }
  if (/already open|consistency flags|file locking/i.test(detail)) {
    return new WriterCrashedError(
      "is open for writing by a writer that has not committed yet, or whose writer died: " +
        "if it is still running, wait for its first commit; if it died, StoreWriter.open() recovers " +
        "its committed data (a writer that died before its first commit left none)",
      { file: path, hdf5Detail: detail },
    );
  }
  if (/does not exist|no such file/i.test(detail))
    return new FileNotFoundError("no such file", { file: path });
  return new HDF5CallError("cannot open file", { file: path, hdf5Detail: detail });
}
