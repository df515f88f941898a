/**
 * Rebuild a file whose writer died, from its committed data only.
 *
 * A killed SWMR writer leaves the superblock marked "open for writing": HDF5 will open it
 * read-only in SWMR mode but refuses to write to it, and h5wasm has no h5clear. Clearing the
 * flag in place would also trust whatever the dead writer allocated after its last flush.
 * So we copy: every group, attribute and dataset (same dtype, chunks, compression), each
 * tracked dataset cut at its committed length, into a new file, then rename it over the old
 * one. A crash during recovery leaves the original untouched (the copy has its own name).
 */
import fs from "node:fs";
import { H5CallFailure, MAX_CALL_BYTES, type H5Lib, type Metadata } from "./h5lib.js";
import { ATTR_TYPES, H5File } from "./h5file.js";
import {
  BOOK_GROUP,
  COMMIT_DATASET,
  prepareBookkeeping,
  readCommit,
  readTracked,
  writeCommit,
} from "./bookkeeping.js";
import { h5TypeMetadata, itemBytes, type DType } from "./dtype.js";
import { CorruptFileError, HDF5CallError, StoreError } from "./errors.js";

export interface RecoveryReport {
  file: string;
  /** Commit sequence the file was rebuilt at. */
  sequence: number;
  /** Rows kept per tracked dataset. */
  keptRows: Record<string, number>;
  /** Objects that could not be copied (unsupported types), with the reason. */
  skipped: { path: string; reason: string }[];
}

const COPY_SLAB_BYTES = 64 * 1024 * 1024;

export function rebuildFromCommitted(lib: H5Lib, path: string): RecoveryReport {
  let src: H5File;
  try {
    src = H5File.open(lib, path, "Sr");
  } catch (e) {
    if (e instanceof CorruptFileError) throw e;
    // A writer that died before its first commit never entered SWMR mode: nothing was
    // promised to readers, and the file cannot be opened. Say so instead of guessing.
    throw new CorruptFileError(
      "its writer died before the first commit and the file cannot be opened; it holds no committed data — delete it and start again",
      { file: path, hdf5Detail: e instanceof StoreError ? e.hdf5Detail : String(e) },
    );
  }
  const tmp = `${path}.recovering-${process.pid}`;
  const report: RecoveryReport = { file: path, sequence: 0, keptRows: {}, skipped: [] };
  let dst: H5File | undefined;
  try {
    const commit = readCommit(src);
    const tracked = readTracked(src);
    report.sequence = commit?.sequence ?? 0;
    dst = H5File.open(lib, tmp, "w");
    const objects = src.list("/", true).sort();
    copyAttrs(lib, src, dst, "/");
    for (const p of objects) {
      if (p === COMMIT_DATASET) continue;
      const kind = src.kind(p);
      if (kind === "group") {
        dst.createGroup(p);
        copyAttrs(lib, src, dst, p);
        continue;
      }
      if (kind !== "dataset") {
        report.skipped.push({ path: p, reason: "links and named types are not copied" });
        continue;
      }
      let layout;
      try {
        layout = src.layout(p);
      } catch (e) {
        report.skipped.push({ path: p, reason: e instanceof Error ? e.message : String(e) });
        continue;
      }
      const committed = commit?.lengths.get(p);
      const rows =
        committed === undefined
          ? (layout.shape[0] ?? 0)
          : Math.min(committed, layout.shape[0] ?? 0);
      // Untracked datasets keep their whole extent (scalars included: shape []).
      const shape = committed === undefined ? layout.shape : [rows, ...layout.shape.slice(1)];
      if (committed !== undefined) report.keptRows[p] = rows;
      if (layout.chunks === null) {
        // Contiguous (or compact: h5wasm reports both as "no chunks"). Such a dataset cannot
        // be resized, so it is created at full size with its data in the same call.
        copyContiguous(lib, src, dst, p, layout.dtype, shape);
        dst.tagDatasetDtype(p, layout.dtype);
        copyAttrs(lib, src, dst, p);
        continue;
      }
      const compressor = layout.filters.at(-1);
      dst.createDataset(
        p,
        layout.dtype,
        shape,
        layout.maxshape,
        layout.chunks,
        compressor ? { id: compressor.id, options: compressor.options } : null,
      );
      dst.tagDatasetDtype(p, layout.dtype);
      copyAttrs(lib, src, dst, p);
      copyRows(src, dst, p, shape, itemBytes(layout.dtype), layout.chunks[0] ?? 1);
    }
    // The rebuilt file continues under a writer: it is "writing" until that writer closes.
    prepareBookkeeping(dst, tracked, "writing");
    if (dst.kind(BOOK_GROUP) === "group") {
      writeCommit(dst, report.sequence, tracked, commit?.lengths ?? new Map());
    }
    dst.flush();
    dst.close();
    dst = undefined;
    src.close();
    const fd = fs.openSync(tmp, "r");
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, path);
    return report;
  } catch (e) {
    dst?.close();
    if (src.isOpen) src.close();
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Copy a non-chunked dataset. Up to the per-call limit it stays contiguous, byte for byte:
 * the whole dataset is read into the heap and the copy is created from it in one call.
 * Larger ones (which could not be created that way) become chunked, uncompressed, with the
 * same fixed extent and about 1 MiB of whole rows per chunk.
 */
function copyContiguous(
  lib: H5Lib,
  src: H5File,
  dst: H5File,
  p: string,
  dtype: DType,
  shape: number[],
): void {
  const elements = shape.reduce((a, b) => a * b, 1);
  const bytes = elements * itemBytes(dtype);
  if (bytes > MAX_CALL_BYTES) {
    const rowBytes = (bytes / (shape[0] ?? 1)) | 0;
    const chunkRows = Math.max(1, Math.min(shape[0] ?? 1, Math.floor((1 << 20) / rowBytes)));
    dst.createDataset(p, dtype, shape, shape, [chunkRows, ...shape.slice(1)], null);
    copyRows(src, dst, p, shape, itemBytes(dtype), chunkRows);
    return;
  }
  const parent = p.slice(0, p.lastIndexOf("/")) || "/";
  dst.createGroup(parent);
  const M = lib.M;
  const ptr = lib.scratch(Math.max(bytes, 16));
  const meta = {
    ...h5TypeMetadata(dtype),
    shape: shape.map(BigInt),
    maxshape: shape.map(BigInt),
    chunks: null,
    compression: 0,
    compression_opts: [],
    track_order: false,
  };
  const step = (what: string, file: H5File, fn: () => unknown) => callNamed(lib, what, file, p, fn);
  // A null selection reads the whole dataset (scalars too) in its own element type.
  if (elements > 0) {
    step("reading data", src, () => M.get_dataset_data(src.fid, p, null, null, null, BigInt(ptr)));
  }
  step("creating dataset", dst, () => M.create_dataset(dst.fid, p, BigInt(ptr), meta as never));
}

/** An HDF5 call whose failure becomes an HDF5CallError naming the step, file and object. */
function callNamed(lib: H5Lib, what: string, file: H5File, where: string, fn: () => unknown): void {
  try {
    lib.call(fn);
  } catch (e) {
    if (!(e instanceof H5CallFailure)) throw e;
    throw new HDF5CallError(`${what} failed`, {
      file: file.path,
      dataset: where,
      hdf5Detail: e.detail,
    });
  }
}

const H5T_INTEGER = 0;
const H5T_FLOAT = 1;
const H5T_COMPOUND = 6;

/** Fixed-size numbers, and compounds of them (e.g. complex): safe to copy as raw bytes. */
function isPlainNumeric(meta: Metadata): boolean {
  if (meta.vlen) return false;
  if (meta.type === H5T_INTEGER || meta.type === H5T_FLOAT) return true;
  if (meta.type !== H5T_COMPOUND) return false;
  const members = (meta.compound_type?.members ?? []) as Metadata[];
  return members.length > 0 && members.every(isPlainNumeric);
}

/**
 * Copy an object's attributes. Everything goes through the store's attribute codec (strings,
 * JSON, the decode-tag table); numeric attributes are then re-created from their raw bytes
 * with their original HDF5 type, since the codec reads every number back as float64 (an
 * h5py `int32` attribute must stay `int32`) and has no compound attributes.
 */
function copyAttrs(lib: H5Lib, src: H5File, dst: H5File, p: string): void {
  dst.writeAttrs(p, src.readAttrs(p));
  const M = lib.M;
  for (const name of src.attrNames(p)) {
    if (name === ATTR_TYPES) continue;
    const where = `${p}@${name}`;
    const call = (what: string, file: H5File, fn: () => unknown) =>
      callNamed(lib, what, file, where, fn);
    let meta: Metadata | undefined;
    call("reading attribute metadata", src, () => {
      meta = M.get_attribute_metadata(src.fid, p, name);
    });
    if (!meta?.shape || !isPlainNumeric(meta)) continue;
    const shape = meta.shape.map(Number);
    const nbytes = shape.reduce((a, b) => a * b, 1) * meta.size;
    const ptr = lib.scratch(Math.max(nbytes, 16));
    call("reading attribute", src, () => M.get_attribute_data(src.fid, p, name, BigInt(ptr)));
    if (dst.attrNames(p).includes(name)) {
      call("replacing attribute", dst, () => M.delete_attribute(dst.fid, p, name));
    }
    const create = {
      ...meta,
      shape: shape.map(BigInt),
      maxshape: shape.map(BigInt),
      chunks: null,
    };
    call("writing attribute", dst, () =>
      M.create_attribute(dst.fid, p, name, BigInt(ptr), create as never),
    );
  }
}

function copyRows(
  src: H5File,
  dst: H5File,
  p: string,
  shape: number[],
  bytesPerItem: number,
  chunkRows: number,
): void {
  const rows = shape[0] ?? 0;
  const rowBytes = shape.slice(1).reduce((a, b) => a * b, 1) * bytesPerItem;
  if (rows === 0 || rowBytes === 0) return;
  // Whole chunks per slab, so each chunk is compressed once.
  const perSlab = Math.max(
    chunkRows,
    Math.floor(COPY_SLAB_BYTES / rowBytes / chunkRows) * chunkRows,
  );
  const buf = new Uint8Array(Math.min(rows, perSlab) * rowBytes);
  const zeros = shape.slice(1).map(() => 0);
  for (let r = 0; r < rows; r += perSlab) {
    const n = Math.min(perSlab, rows - r);
    const part = buf.subarray(0, n * rowBytes);
    const count = [n, ...shape.slice(1)];
    src.readHyperslab(p, [r, ...zeros], count, part);
    dst.writeHyperslab(p, [r, ...zeros], count, part);
  }
}
