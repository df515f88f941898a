/**
 * Element types the store reads and writes, and their HDF5 encodings.
 *
 * h5wasm's dtype strings are Python struct codes whose size suffix is ignored ("<f8" gives
 * float32), so we never use them: types are built from explicit HDF5 metadata. Complex
 * values are the compound {r, i} that h5py reads as numpy complex; bool is uint8 on disk
 * (h5py's enum bool is read back as bool too).
 */
import type { Metadata } from "./h5lib.js";

export type DType =
  | "int8"
  | "uint8"
  | "int16"
  | "uint16"
  | "int32"
  | "uint32"
  | "int64"
  | "uint64"
  | "float32"
  | "float64"
  | "bool"
  | "complex64"
  | "complex128";

export const DTYPES: readonly DType[] = [
  "int8",
  "uint8",
  "int16",
  "uint16",
  "int32",
  "uint32",
  "int64",
  "uint64",
  "float32",
  "float64",
  "bool",
  "complex64",
  "complex128",
];

/** The typed array that holds each dtype; complex values are interleaved (re, im). */
export interface TypedArrayFor {
  int8: Int8Array;
  uint8: Uint8Array;
  int16: Int16Array;
  uint16: Uint16Array;
  int32: Int32Array;
  uint32: Uint32Array;
  int64: BigInt64Array;
  uint64: BigUint64Array;
  float32: Float32Array;
  float64: Float64Array;
  bool: Uint8Array;
  complex64: Float32Array;
  complex128: Float64Array;
}

export type TypedArray = TypedArrayFor[DType];

interface DTypeInfo {
  ctor: new (buffer: ArrayBuffer, byteOffset?: number, length?: number) => TypedArray;
  /** Bytes per element (a complex element is two floats). */
  itemBytes: number;
  /** Typed-array entries per element: 2 for complex. */
  lanes: number;
}

const INFO: Record<DType, DTypeInfo> = {
  int8: { ctor: Int8Array, itemBytes: 1, lanes: 1 },
  uint8: { ctor: Uint8Array, itemBytes: 1, lanes: 1 },
  int16: { ctor: Int16Array, itemBytes: 2, lanes: 1 },
  uint16: { ctor: Uint16Array, itemBytes: 2, lanes: 1 },
  int32: { ctor: Int32Array, itemBytes: 4, lanes: 1 },
  uint32: { ctor: Uint32Array, itemBytes: 4, lanes: 1 },
  int64: { ctor: BigInt64Array, itemBytes: 8, lanes: 1 },
  uint64: { ctor: BigUint64Array, itemBytes: 8, lanes: 1 },
  float32: { ctor: Float32Array, itemBytes: 4, lanes: 1 },
  float64: { ctor: Float64Array, itemBytes: 8, lanes: 1 },
  bool: { ctor: Uint8Array, itemBytes: 1, lanes: 1 },
  complex64: { ctor: Float32Array, itemBytes: 8, lanes: 2 },
  complex128: { ctor: Float64Array, itemBytes: 16, lanes: 2 },
};

export function itemBytes(dtype: DType): number {
  return INFO[dtype].itemBytes;
}

export function lanes(dtype: DType): number {
  return INFO[dtype].lanes;
}

export function isDType(x: unknown): x is DType {
  return typeof x === "string" && x in INFO;
}

/** A typed array of `nElements` elements (2x entries for complex). */
export function allocate<D extends DType>(dtype: D, nElements: number): TypedArrayFor[D] {
  const { ctor, lanes: l } = INFO[dtype];
  return new ctor(
    new ArrayBuffer(nElements * INFO[dtype].itemBytes),
    0,
    nElements * l,
  ) as TypedArrayFor[D];
}

/** View bytes as the dtype's typed array (no copy; offset must be aligned). */
export function view<D extends DType>(
  dtype: D,
  buffer: ArrayBuffer,
  byteOffset: number,
  nElements: number,
): TypedArrayFor[D] {
  const { ctor, lanes: l } = INFO[dtype];
  return new ctor(buffer, byteOffset, nElements * l) as TypedArrayFor[D];
}

/** Does `data` have the typed-array class this dtype is held in? */
export function matchesDType(dtype: DType, data: ArrayBufferView): boolean {
  return data instanceof INFO[dtype].ctor;
}

const H5T_INTEGER = 0;
const H5T_FLOAT = 1;
const H5T_COMPOUND = 6;
const H5T_ENUM = 8;

interface ScalarMeta {
  type: number;
  size: number;
  signed: boolean;
  littleEndian: boolean;
  vlen: boolean;
}

function scalarMeta(dtype: Exclude<DType, "complex64" | "complex128">): ScalarMeta {
  const base = { littleEndian: true, vlen: false };
  if (dtype === "float32") return { ...base, type: H5T_FLOAT, size: 4, signed: true };
  if (dtype === "float64") return { ...base, type: H5T_FLOAT, size: 8, signed: true };
  if (dtype === "bool") return { ...base, type: H5T_INTEGER, size: 1, signed: false };
  return {
    ...base,
    type: H5T_INTEGER,
    size: INFO[dtype].itemBytes,
    signed: dtype.startsWith("int"),
  };
}

/** The HDF5 metadata h5wasm needs to create a dataset or attribute of this dtype. */
export function h5TypeMetadata(dtype: DType): object {
  if (dtype === "complex64" || dtype === "complex128") {
    const part = scalarMeta(dtype === "complex64" ? "float32" : "float64");
    return {
      type: H5T_COMPOUND,
      size: part.size * 2,
      signed: false,
      littleEndian: true,
      vlen: false,
      compound_type: {
        nmembers: 2,
        members: [
          { ...part, name: "r", offset: 0 },
          { ...part, name: "i", offset: part.size },
        ],
      },
    };
  }
  return scalarMeta(dtype);
}

/**
 * The dtype of a dataset as HDF5 describes it, or a reason it is not one we hold
 * (strings, references, nested compounds...). Big-endian data is converted by HDF5 on read.
 */
export function dtypeFromMetadata(meta: Metadata): DType | { unsupported: string } {
  if (meta.type === H5T_FLOAT) {
    if (meta.size === 4) return "float32";
    if (meta.size === 8) return "float64";
    return { unsupported: `float of ${meta.size} bytes` };
  }
  if (meta.type === H5T_INTEGER) {
    const bits = meta.size * 8;
    if (![8, 16, 32, 64].includes(bits)) return { unsupported: `integer of ${meta.size} bytes` };
    return `${meta.signed ? "int" : "uint"}${bits}` as DType;
  }
  if (meta.type === H5T_ENUM && meta.enum_type) {
    const names = Object.keys(meta.enum_type.members).sort().join(",");
    if (names === "FALSE,TRUE" && meta.size === 1) return "bool";
    return { unsupported: `enum {${names}}` };
  }
  if (meta.type === H5T_COMPOUND && meta.compound_type) {
    const m = meta.compound_type.members;
    const [re, im] = m;
    if (
      m.length === 2 &&
      re?.name === "r" &&
      im?.name === "i" &&
      re.type === H5T_FLOAT &&
      im.type === H5T_FLOAT &&
      re.size === im.size &&
      re.offset === 0 &&
      im.offset === re.size
    ) {
      if (re.size === 4) return "complex64";
      if (re.size === 8) return "complex128";
    }
    return { unsupported: `compound {${m.map((x) => x.name).join(", ")}}` };
  }
  return { unsupported: `HDF5 type class ${meta.type}` };
}

/** The dtype a typed array holds by its element type (Uint8Array and anything else: uint8). */
export function dtypeOfTypedArray(a: ArrayBufferView): DType {
  if (a instanceof Float64Array) return "float64";
  if (a instanceof Float32Array) return "float32";
  if (a instanceof Int8Array) return "int8";
  if (a instanceof Int16Array) return "int16";
  if (a instanceof Uint16Array) return "uint16";
  if (a instanceof Int32Array) return "int32";
  if (a instanceof Uint32Array) return "uint32";
  if (a instanceof BigInt64Array) return "int64";
  if (a instanceof BigUint64Array) return "uint64";
  return "uint8";
}
