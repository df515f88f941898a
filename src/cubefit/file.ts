/**
 * Reading a CubeFit file through whichever handle a step holds: a StoreReader (SWMR, other
 * threads or processes may write) or the step's own StoreWriter (one thread cannot hold a
 * file as both, so a writing step reads its inputs through its writer). Plus the dataset
 * specs the steps create and the completion stamps they write.
 */
import { createHash } from "node:crypto";
import {
  DatasetNotFoundError,
  defaultChunks,
  itemBytes,
  StoreReader,
  StoreWriter,
  type Compression,
  type DatasetSpec,
  type DType,
  type TypedArray,
} from "../store/index.js";
import { CubeFitError } from "./errors.js";
import { CUBEFIT, type CubeDims } from "./layout.js";

/** Largest block one read or write moves (the store splits larger ones, but we also hold them). */
export const SLAB_BYTES = 64 * 1024 * 1024;

/** A read handle on a CubeFit file. */
export interface CubeSource {
  readonly file: string;
  has(ds: string): boolean;
  shape(ds: string): number[];
  dtype(ds: string): DType;
  chunks(ds: string): number[] | null;
  /** The box [start, start + count), C order; the whole dataset without arguments. */
  read(ds: string, start?: number[], count?: number[]): TypedArray;
}

export function readerSource(r: StoreReader): CubeSource {
  const info = (ds: string) => r.info(ds);
  return {
    file: r.path,
    has(ds) {
      try {
        info(ds);
        return true;
      } catch (e) {
        if (e instanceof DatasetNotFoundError) return false;
        throw e;
      }
    },
    shape: (ds) => info(ds).shape,
    dtype: (ds) => info(ds).dtype,
    chunks: (ds) => info(ds).chunks,
    read(ds, start, count) {
      if (!start || !count) return r.read(ds).data;
      return r.read(
        ds,
        start.map((s, i) => [s, s + count[i]!] as [number, number]),
      ).data;
    },
  };
}

export function writerSource(w: StoreWriter): CubeSource {
  const get = (ds: string) => w.dataset(ds);
  return {
    file: w.path,
    has(ds) {
      try {
        get(ds);
        return true;
      } catch (e) {
        if (e instanceof DatasetNotFoundError) return false;
        throw e;
      }
    },
    shape: (ds) => get(ds).shape,
    dtype: (ds) => get(ds).dtype,
    chunks: (ds) => [...get(ds).chunks],
    read(ds, start, count) {
      const d = get(ds);
      return d.read(start ?? d.shape.map(() => 0), count ?? d.shape);
    },
  };
}

/** A dataset a step needs, or CubeFitError naming the step that makes it. */
export function requireDataset(src: CubeSource, ds: string, makeWith: string): void {
  if (!src.has(ds)) throw new CubeFitError(ds, `missing; call ${makeWith} first`, src.file);
}

/** Read a whole dataset as float64 (grids, LOSVDs, templates are small enough to hold). */
export function readF64(src: CubeSource, ds: string): Float64Array {
  const a = src.read(ds);
  if (a instanceof Float64Array) return a;
  if (a instanceof BigInt64Array || a instanceof BigUint64Array)
    return Float64Array.from(a, (v) => Number(v));
  return Float64Array.from(a as ArrayLike<number>);
}

/** The file's sizes, from its dataset shapes (the `dims` attribute records the same). */
export function cubeDims(src: CubeSource): CubeDims {
  for (const [ds, how] of [
    [CUBEFIT.dataCube, "populateCubeFile()"],
    [CUBEFIT.templates, "populateCubeFile()"],
    [CUBEFIT.losvd, "populateCubeFile()"],
  ] as const)
    requireDataset(src, ds, how);
  const [S, L] = src.shape(CUBEFIT.dataCube) as [number, number];
  const [P, T] = src.shape(CUBEFIT.templates) as [number, number];
  const [S2, V, C] = src.shape(CUBEFIT.losvd) as [number, number, number];
  if (S2 !== S)
    throw new CubeFitError(CUBEFIT.losvd, `has ${S2} spaxels, /DataCube has ${S}`, src.file);
  return { nSpat: S, nLSpec: L, nTSpec: T, nVel: V, nComp: C, nPop: P };
}

/** A fixed-extent dataset (no appends): maxshape = shape, about 1 MiB chunks of whole rows. */
export function fixedSpec<D extends DType>(
  dtype: D,
  shape: number[],
  opts: { chunks?: number[]; compression?: Compression; attrs?: DatasetSpec["attrs"] } = {},
): DatasetSpec<D> {
  return {
    dtype,
    shape,
    maxshape: shape,
    chunks: opts.chunks ?? defaultChunks(shape, shape, itemBytes(dtype)),
    compression: opts.compression ?? "none",
    ...(opts.attrs ? { attrs: opts.attrs } : {}),
  };
}

/**
 * Write a whole fixed dataset in blocks of rows (axis 0) of at most SLAB_BYTES, so that no
 * single call holds more than that in the WASM heap on top of the caller's array.
 */
export function writeRows<D extends DType>(
  w: StoreWriter,
  ds: string,
  shape: number[],
  data: TypedArray,
): void {
  const rowElems = shape.slice(1).reduce((a, b) => a * b, 1);
  const lanes = data.length / (shape.reduce((a, b) => a * b, 1) || 1);
  const bytesPerRow = Math.max(1, rowElems * data.BYTES_PER_ELEMENT * lanes);
  const rows = Math.max(1, Math.floor(SLAB_BYTES / bytesPerRow));
  const d = w.dataset<D>(ds);
  for (let r0 = 0; r0 < shape[0]!; r0 += rows) {
    const n = Math.min(rows, shape[0]! - r0);
    const part = data.subarray(r0 * rowElems * lanes, (r0 + n) * rowElems * lanes);
    d.write([r0, ...shape.slice(1).map(() => 0)], [n, ...shape.slice(1)], part as never);
  }
}

// ---- completion stamps ---------------------------------------------------------------------

/** A running digest of arrays and values (sha256). */
export class Digest {
  private readonly h = createHash("sha256");

  add(...parts: (string | number | ArrayBufferView)[]): this {
    for (const p of parts) {
      if (typeof p === "string" || typeof p === "number") this.h.update(`${typeof p}:${p};`);
      else this.h.update(new Uint8Array(p.buffer, p.byteOffset, p.byteLength));
    }
    return this;
  }

  /** A non-zero 64-bit stamp (0 means "not written" in the _done datasets). */
  stamp(): bigint {
    const v = this.h.digest().readBigUInt64LE(0);
    return v === 0n ? 1n : v;
  }

  hex(): string {
    return this.h.digest("hex");
  }
}
