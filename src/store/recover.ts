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
import type { H5Lib } from "./h5lib.js";
import { H5File } from "./h5file.js";
import {
  BOOK_GROUP,
  COMMIT_DATASET,
  prepareBookkeeping,
  readCommit,
  readTracked,
  writeCommit,
} from "./bookkeeping.js";
import { itemBytes } from "./dtype.js";
import { CorruptFileError, StoreError } from "./errors.js";

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
    dst.writeAttrs("/", src.readAttrs("/"));
    for (const p of objects) {
      if (p === COMMIT_DATASET) continue;
      const kind = src.kind(p);
      if (kind === "group") {
        dst.createGroup(p);
        dst.writeAttrs(p, src.readAttrs(p));
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
      const shape = [rows, ...layout.shape.slice(1)];
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
      dst.writeAttrs(p, src.readAttrs(p));
      if (committed !== undefined) report.keptRows[p] = rows;
      copyRows(src, dst, p, shape, itemBytes(layout.dtype), layout.chunks?.[0] ?? 1);
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
