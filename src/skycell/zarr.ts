// Zarr arrays in a directory store on the local filesystem, over zarrita (0.7.5).
//
// - Formats: v2 (written here as `.zarray` / `.zattrs`, the layout zarr-python 2.x reads and
//   writes) and v3 (`zarr.json`, created through zarrita). Reading auto-detects the format.
// - Dtypes: float32, float64, uint8, int8, uint16, int16, uint32, int32 (little-endian on write;
//   zarrita also reads big-endian v2 arrays).
// - Compression on write: "none" (default) or "zlib" / "gzip" (v2: numcodecs' `zlib` / `gzip`
//   compressor ids; v3: only the spec's `gzip` codec). zarrita 0.7.5 can only *decode* zlib and
//   gzip, so this module registers encoders over node:zlib in zarrita's codec registry (on the
//   first open/create call). Reading also covers whatever zarrita decodes (blosc, lz4, zstd, …).
// - Regions are half-open per dimension, `[[y0, y1], [x0, x1]]`; data is C order.
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import * as zarr from "zarrita";
import type { AbsolutePath, RangeQuery } from "zarrita";
import { directV2Reader, type DirectRegionReader } from "./zarr-direct.js";

export type ZarrDtype =
  "float32" | "float64" | "uint8" | "int8" | "uint16" | "int16" | "uint32" | "int32";

export type ZarrTypedArray =
  | Float32Array
  | Float64Array
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array;

export type ZarrCompressor = "none" | "zlib" | "gzip";

/** Half-open [start, stop) per dimension. */
export type ZarrRegion = readonly (readonly [number, number])[];

export const DTYPES: Record<ZarrDtype, { v2: string; ctor: new (n: number) => ZarrTypedArray }> = {
  float32: { v2: "<f4", ctor: Float32Array },
  float64: { v2: "<f8", ctor: Float64Array },
  uint8: { v2: "|u1", ctor: Uint8Array },
  int8: { v2: "|i1", ctor: Int8Array },
  uint16: { v2: "<u2", ctor: Uint16Array },
  int16: { v2: "<i2", ctor: Int16Array },
  uint32: { v2: "<u4", ctor: Uint32Array },
  int32: { v2: "<i4", ctor: Int32Array },
};

export class ZarrError extends Error {
  override name = "ZarrError";
}
/** No array at that path (or a group / something else is there). */
export class ZarrNotFoundError extends ZarrError {
  override name = "ZarrNotFoundError";
}
/** A shape, chunk shape, region or data length that does not fit. */
export class ZarrShapeError extends ZarrError {
  override name = "ZarrShapeError";
}
/** The array's dtype is not the one asked for, or not supported here. */
export class ZarrDtypeError extends ZarrError {
  override name = "ZarrDtypeError";
}

/** A zarrita store over a directory (keys are relative paths under `root`). */
export class DirectoryStore {
  constructor(readonly root: string) {}

  #file(key: string): string {
    const rel = key.replace(/^\/+/, "");
    const p = path.resolve(this.root, rel);
    if (p !== path.resolve(this.root) && !p.startsWith(path.resolve(this.root) + path.sep)) {
      throw new ZarrError(`key ${JSON.stringify(key)} escapes the store root`);
    }
    return p;
  }

  async get(key: AbsolutePath): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await fs.promises.readFile(this.#file(key)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  }

  async getRange(key: AbsolutePath, range: RangeQuery): Promise<Uint8Array | undefined> {
    let fh: fs.promises.FileHandle | undefined;
    try {
      fh = await fs.promises.open(this.#file(key), "r");
      let offset: number;
      let length: number;
      if ("suffixLength" in range) {
        const size = (await fh.stat()).size;
        length = Math.min(range.suffixLength, size);
        offset = size - length;
      } else {
        offset = range.offset;
        length = range.length;
      }
      const buf = new Uint8Array(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      return buf.subarray(0, bytesRead);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    } finally {
      await fh?.close();
    }
  }

  async set(key: AbsolutePath, value: Uint8Array): Promise<void> {
    const p = this.#file(key);
    await fs.promises.mkdir(path.dirname(p), { recursive: true });
    await fs.promises.writeFile(p, value);
  }

  async delete(key: AbsolutePath): Promise<boolean> {
    await fs.promises.rm(this.#file(key), { force: true });
    return true;
  }
}

// --- zlib / gzip encoders (zarrita 0.7.5 only decodes these) -----------------------------------

function nodeCodec(kind: "zlib" | "gzip") {
  return {
    kind: "bytes_to_bytes" as const,
    fromConfig(config: unknown) {
      const level = (config as { level?: number } | undefined)?.level ?? 1;
      const opts = { level };
      return {
        kind: "bytes_to_bytes" as const,
        encode(bytes: Uint8Array): Uint8Array {
          return new Uint8Array(
            kind === "zlib" ? zlib.deflateSync(bytes, opts) : zlib.gzipSync(bytes, opts),
          );
        },
        decode(bytes: Uint8Array): Uint8Array {
          return new Uint8Array(kind === "zlib" ? zlib.inflateSync(bytes) : zlib.gunzipSync(bytes));
        },
      };
    },
  };
}

let codecsRegistered = false;
function registerCodecs(): void {
  if (codecsRegistered) return;
  codecsRegistered = true;
  const z = nodeCodec("zlib");
  const g = nodeCodec("gzip");
  // zarrita's registry type wants a Promise-returning loader; the codec shape is numcodecs'.
  const reg = zarr.registry as unknown as Map<string, () => Promise<unknown>>;
  reg.set("zlib", () => Promise.resolve(z));
  reg.set("numcodecs.zlib", () => Promise.resolve(z));
  reg.set("gzip", () => Promise.resolve(g));
  reg.set("numcodecs.gzip", () => Promise.resolve(g));
}

// --- arrays -------------------------------------------------------------------------------------

export interface CreateZarrArrayOptions {
  shape: readonly number[];
  /** Chunk shape (default: the whole array as one chunk). */
  chunks?: readonly number[];
  dtype: ZarrDtype;
  /** 2 (default, zarr-python 2.x compatible) or 3. */
  format?: 2 | 3;
  compressor?: ZarrCompressor;
  /** zlib/gzip level 0..9 (default 1, as numcodecs). */
  level?: number;
  /** Value of chunks never written (default 0; NaN allowed for floats). */
  fillValue?: number;
  attributes?: Record<string, unknown>;
  /** Replace an existing array at that path (default: error). */
  overwrite?: boolean;
}

export interface ZarrArrayInfo {
  format: 2 | 3;
  shape: number[];
  chunks: number[];
  dtype: ZarrDtype;
  fillValue: number | null;
}

type ZArray = zarr.Array<zarr.DataType, DirectoryStore>;

export function normPath(p: string): AbsolutePath {
  const parts = p.split("/").filter((s) => s !== "" && s !== ".");
  if (parts.some((s) => s === "..")) throw new ZarrError(`bad array path ${JSON.stringify(p)}`);
  return `/${parts.join("/")}`;
}

function checkDims(what: string, v: readonly number[], min: number): void {
  if (!Array.isArray(v) || v.some((n) => !Number.isInteger(n) || n < min)) {
    throw new ZarrShapeError(`${what} must be integers >= ${min}, got ${JSON.stringify(v)}`);
  }
}

function checkDtype(d: string): ZarrDtype {
  if (!(d in DTYPES)) throw new ZarrDtypeError(`unsupported dtype ${JSON.stringify(d)}`);
  return d as ZarrDtype;
}

/** The dtype of a typed array this module stores, or undefined. */
export function dtypeOf(data: ZarrTypedArray): ZarrDtype | undefined {
  for (const [k, v] of Object.entries(DTYPES)) if (data instanceof v.ctor) return k as ZarrDtype;
  return undefined;
}

/** An open Zarr array in a directory store. */
export class ZarrArray {
  private constructor(
    readonly store: DirectoryStore,
    readonly path: AbsolutePath,
    private arr: ZArray,
    readonly format: 2 | 3,
  ) {}

  /** Set for plain 2-D v2 arrays, read without zarrita (zarr-direct.ts). */
  private direct: DirectRegionReader | undefined;

  /** @internal */
  static async open(root: string, arrayPath: string, dtype?: ZarrDtype): Promise<ZarrArray> {
    registerCodecs();
    const store = new DirectoryStore(root);
    const p = normPath(arrayPath);
    const loc = zarr.root(store).resolve(p);
    let arr: ZArray;
    let format: 2 | 3;
    let v2meta: Uint8Array | undefined;
    if (await store.get(`${p === "/" ? "" : p}/zarr.json` as AbsolutePath)) {
      format = 3;
      arr = await ZarrArray.#wrap(() => zarr.open.v3(loc, { kind: "array" }), root, p);
    } else if ((v2meta = await store.get(`${p === "/" ? "" : p}/.zarray` as AbsolutePath))) {
      format = 2;
      arr = await ZarrArray.#wrap(() => zarr.open.v2(loc, { kind: "array" }), root, p);
    } else {
      throw new ZarrNotFoundError(`no Zarr array at ${p} in ${root}`);
    }
    const a = new ZarrArray(store, p, arr, format);
    if (v2meta) {
      const fv = arr.fillValue;
      a.direct = directV2Reader(
        JSON.parse(new TextDecoder().decode(v2meta)) as Record<string, unknown>,
        path.join(root, ...p.split("/").filter(Boolean)),
        typeof fv === "number" ? fv : 0,
      );
    }
    checkDtype(arr.dtype);
    if (dtype !== undefined && arr.dtype !== dtype) {
      throw new ZarrDtypeError(`${p} in ${root} is ${arr.dtype}, expected ${dtype}`);
    }
    return a;
  }

  static async #wrap(f: () => Promise<ZArray>, root: string, p: string): Promise<ZArray> {
    try {
      return await f();
    } catch (err) {
      if (err instanceof zarr.NotFoundError) {
        throw new ZarrNotFoundError(`no Zarr array at ${p} in ${root}: ${err.message}`);
      }
      throw err;
    }
  }

  get shape(): number[] {
    return this.arr.shape;
  }
  get chunks(): number[] {
    return this.arr.chunks;
  }
  get dtype(): ZarrDtype {
    return this.arr.dtype as ZarrDtype;
  }
  get info(): ZarrArrayInfo {
    const fv = this.arr.fillValue;
    return {
      format: this.format,
      shape: this.shape,
      chunks: this.chunks,
      dtype: this.dtype,
      fillValue: typeof fv === "number" ? fv : null,
    };
  }
  /** The array's JSON attributes (as of opening, or the last setAttributes). */
  get attributes(): Record<string, unknown> {
    return { ...this.arr.attrs };
  }

  #region(region: ZarrRegion | undefined): { sel: zarr.Slice[]; shape: number[] } {
    const shape = this.shape;
    const r = region ?? shape.map((n) => [0, n] as const);
    if (r.length !== shape.length) {
      throw new ZarrShapeError(`region has ${r.length} dimensions, array has ${shape.length}`);
    }
    const sel: zarr.Slice[] = [];
    const out: number[] = [];
    r.forEach(([a, b], i) => {
      const n = shape[i]!;
      if (!Number.isInteger(a) || !Number.isInteger(b) || a < 0 || b > n || a > b) {
        throw new ZarrShapeError(
          `region [${a}, ${b}) is outside dimension ${i} of size ${n} (array ${this.path})`,
        );
      }
      sel.push(zarr.slice(a, b));
      out.push(b - a);
    });
    return { sel, shape: out };
  }

  /** Read the whole array or a region; returns C-order data and its shape. */
  async read(region?: ZarrRegion): Promise<{ data: ZarrTypedArray; shape: number[] }> {
    const { sel, shape } = this.#region(region);
    if (shape.some((n) => n === 0)) {
      return { data: new DTYPES[this.dtype].ctor(0), shape };
    }
    if (this.direct) {
      const r = region ?? this.shape.map((n) => [0, n] as const);
      return { data: await this.direct(r[0]![0], r[0]![1], r[1]![0], r[1]![1]), shape };
    }
    const chunk = await zarr.get(this.arr, sel);
    return { data: chunk.data as ZarrTypedArray, shape: chunk.shape };
  }

  /**
   * Write C-order `data` into the whole array or a region (its typed array class must match the
   * array's dtype and its length the region's size). Chunks partly covered are read, merged and
   * rewritten.
   */
  async write(data: ZarrTypedArray, region?: ZarrRegion): Promise<void> {
    const { sel, shape } = this.#region(region);
    const got = dtypeOf(data);
    if (got !== this.dtype) {
      throw new ZarrDtypeError(`${this.path} is ${this.dtype}, data is ${data.constructor.name}`);
    }
    const n = shape.reduce((a, b) => a * b, 1);
    if (data.length !== n) {
      throw new ZarrShapeError(
        `data has ${data.length} elements, region ${JSON.stringify(shape)} needs ${n}`,
      );
    }
    if (n === 0) return;
    const stride = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
    // zarrita's Chunk<D> is keyed on its own dtype union; the class was checked just above.
    await zarr.set(this.arr, sel, { data, shape, stride } as unknown as zarr.Chunk<zarr.DataType>);
  }

  /** Merge `attrs` into the array's attributes (JSON) and store them. */
  async setAttributes(attrs: Record<string, unknown>): Promise<void> {
    const merged = { ...this.arr.attrs, ...attrs };
    const base = this.path === "/" ? "" : this.path;
    if (this.format === 2) {
      await this.store.set(`${base}/.zattrs` as AbsolutePath, jsonBytes(merged));
      this.arr = await zarr.open.v2(zarr.root(this.store).resolve(this.path), { kind: "array" });
    } else {
      const key = `${base}/zarr.json` as AbsolutePath;
      const meta = JSON.parse(new TextDecoder().decode(await this.store.get(key))) as Record<
        string,
        unknown
      >;
      meta["attributes"] = merged;
      await this.store.set(key, jsonBytes(meta));
      this.arr = await zarr.open.v3(zarr.root(this.store).resolve(this.path), { kind: "array" });
    }
  }
}

/** Open an existing array (v2 or v3, auto-detected); `dtype` asserts its dtype. */
export function openZarrArray(
  root: string,
  arrayPath = "/",
  opts: { dtype?: ZarrDtype } = {},
): Promise<ZarrArray> {
  return ZarrArray.open(root, arrayPath, opts.dtype);
}

/** Create an array (filled with the fill value: no chunks written) and open it. */
export async function createZarrArray(
  root: string,
  arrayPath: string,
  opts: CreateZarrArrayOptions,
): Promise<ZarrArray> {
  registerCodecs();
  const dtype = checkDtype(opts.dtype);
  checkDims("shape", opts.shape, 0);
  const chunks = opts.chunks ?? opts.shape.map((n) => Math.max(n, 1));
  checkDims("chunks", chunks, 1);
  if (chunks.length !== opts.shape.length) {
    throw new ZarrShapeError(
      `chunks ${JSON.stringify(chunks)} vs shape ${JSON.stringify(opts.shape)}`,
    );
  }
  const format = opts.format ?? 2;
  const compressor = opts.compressor ?? "none";
  if (!["none", "zlib", "gzip"].includes(compressor)) {
    throw new ZarrError(`unsupported compressor ${JSON.stringify(compressor)}`);
  }
  if (format === 3 && compressor === "zlib") {
    throw new ZarrError("zlib is not a Zarr v3 codec; use gzip for v3");
  }
  const level = opts.level ?? 1;
  const fill = opts.fillValue ?? 0;
  if (dtype.startsWith("float") ? false : !Number.isInteger(fill)) {
    throw new ZarrDtypeError(`fill value ${fill} does not fit ${dtype}`);
  }
  const store = new DirectoryStore(root);
  const p = normPath(arrayPath);
  const base = p === "/" ? "" : p;
  const dir = path.join(root, ...base.split("/").filter(Boolean));
  for (const f of [".zarray", "zarr.json", ".zgroup"]) {
    if (fs.existsSync(path.join(dir, f))) {
      if (!opts.overwrite) throw new ZarrError(`${p} already exists in ${root}`);
    }
  }
  if (opts.overwrite) await fs.promises.rm(dir, { recursive: true, force: true });
  await ensureParentGroups(store, base, format);
  if (format === 2) {
    await store.set(
      `${base}/.zarray` as AbsolutePath,
      jsonBytes(v2ArrayMetadata({ ...opts, dtype, chunks, compressor, level, fillValue: fill })),
    );
    if (opts.attributes) {
      await store.set(`${base}/.zattrs` as AbsolutePath, jsonBytes(opts.attributes));
    }
  } else {
    await zarr.create(zarr.root(store).resolve(p), {
      shape: [...opts.shape],
      chunkShape: [...chunks],
      dtype,
      codecs: [
        { name: "bytes", configuration: { endian: "little" } },
        ...(compressor === "gzip" ? [{ name: "gzip", configuration: { level } }] : []),
      ],
      fillValue: fill,
      attributes: opts.attributes ?? {},
    });
  }
  return ZarrArray.open(root, p);
}

/** JSON as the stores hold it (UTF-8, indented as zarr-python writes it). */
export function jsonBytes(o: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(o, null, 2));
}

/** The `.zarray` document of a v2 array (options already checked). */
export function v2ArrayMetadata(
  o: Required<
    Pick<CreateZarrArrayOptions, "shape" | "chunks" | "dtype" | "compressor" | "level">
  > & {
    fillValue: number;
  },
): Record<string, unknown> {
  const fill = o.fillValue;
  const fv = Number.isNaN(fill)
    ? "NaN"
    : fill === Infinity
      ? "Infinity"
      : fill === -Infinity
        ? "-Infinity"
        : fill;
  return {
    zarr_format: 2,
    shape: [...o.shape],
    chunks: [...o.chunks],
    dtype: DTYPES[o.dtype].v2,
    compressor: o.compressor === "none" ? null : { id: o.compressor, level: o.level },
    fill_value: fv,
    order: "C",
    filters: null,
    dimension_separator: ".",
  };
}

/**
 * The groups above an array (`base`: "/a/b" or "" for the root), created where missing, so
 * that zarr-python's open_group and zarrita's hierarchy see the array.
 */
export async function ensureParentGroups(
  store: DirectoryStore,
  base: string,
  format: 2 | 3,
): Promise<void> {
  const parts = base.split("/").filter(Boolean);
  for (let i = 0; i < parts.length; i++) {
    const g = "/" + parts.slice(0, i).join("/");
    const gb = g === "/" ? "" : g;
    if (format === 2) {
      if (!(await store.get(`${gb}/.zgroup` as AbsolutePath))) {
        await store.set(`${gb}/.zgroup` as AbsolutePath, jsonBytes({ zarr_format: 2 }));
      }
    } else if (!(await store.get(`${gb}/zarr.json` as AbsolutePath))) {
      await store.set(
        `${gb}/zarr.json` as AbsolutePath,
        jsonBytes({ zarr_format: 3, node_type: "group", attributes: {} }),
      );
    }
  }
}

/** Read a whole array (or a region) in one call. */
export async function readZarr(
  root: string,
  arrayPath = "/",
  region?: ZarrRegion,
): Promise<{ data: ZarrTypedArray; shape: number[]; info: ZarrArrayInfo }> {
  const a = await openZarrArray(root, arrayPath);
  return { ...(await a.read(region)), info: a.info };
}
