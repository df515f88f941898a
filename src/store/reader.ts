/**
 * A read-only view of a file that another process may be writing. It opens in SWMR read
 * mode and re-opens on refresh() (h5wasm's Dataset.refresh() leaks a handle and returns
 * zeros, so we never use it). It reads only committed data: the extent it reports along
 * axis 0 is the writer's commit marker, never the raw extent the writer may be growing.
 */
import { loadH5, type H5Lib } from "./h5lib.js";
import { H5File, normalizeObjectPath, type Attrs, type DatasetLayout } from "./h5file.js";
import { readCommit, readState, type CommitRecord, type FileState } from "./bookkeeping.js";
import { claim } from "./registry.js";
import { allocate, itemBytes, matchesDType, type DType, type TypedArrayFor } from "./dtype.js";
import { describeFilters } from "./compression.js";
import { ChunkCache, copyBlock } from "./chunk-cache.js";
import {
  DatasetNotFoundError,
  ShapeMismatchError,
  SliceOutOfRangeError,
  StoreClosedError,
  StoreError,
  WriterCrashedError,
} from "./errors.js";

/** An n-d array in C order; complex values interleaved (re, im). */
export interface StoreArray<D extends DType = DType> {
  dtype: D;
  shape: number[];
  data: TypedArrayFor[D];
}

export interface DatasetInfo {
  path: string;
  dtype: DType;
  /** Committed extent: what read() can return. */
  shape: number[];
  /** Extent HDF5 reports, which may run ahead of the commit while a writer appends. */
  storedShape: number[];
  maxshape: (number | null)[];
  chunks: number[] | null;
  compression: string;
  attrs: Attrs;
}

export interface GroupInfo {
  path: string;
  attrs: Attrs;
}

export interface TreeNode {
  path: string;
  kind: "group" | "dataset" | "other";
}

/**
 * A selection per axis: a number picks one index (the axis is kept with extent 1),
 * [start, stop] or [start, stop, step] a range (stop exclusive, null = to the end),
 * null the whole axis. Missing trailing axes are whole.
 */
export type AxisSelection =
  number | null | [number | null, number | null] | [number | null, number | null, number];

export interface ReaderOptions {
  /** Bytes of whole chunks kept for small reads (default 64 MiB; 0 disables). */
  chunkCacheBytes?: number;
  /** How long open() keeps retrying while a writer is still creating the file (ms). Default 5000. */
  waitMs?: number;
}

export class StoreReader {
  private file: H5File;
  private commit: CommitRecord | undefined;
  private stateNow: FileState | "foreign";
  private closed = false;
  /** Per-open caches: dataset layouts and validated paths (cleared by refresh). */
  private readonly layouts = new Map<string, DatasetLayout>();
  private readonly cache: ChunkCache;

  private constructor(
    private readonly lib: H5Lib,
    readonly path: string,
    file: H5File,
    private readonly swmr: boolean,
    private readonly releaseClaim: () => void,
    cacheBytes: number,
  ) {
    this.cache = new ChunkCache(cacheBytes);
    this.file = file;
    this.commit = readCommit(file);
    this.stateNow = readState(file);
  }

  static async open(path: string, opts: ReaderOptions = {}): Promise<StoreReader> {
    const lib = await loadH5();
    const releaseClaim = claim(path, "reader");
    try {
      const deadline = Date.now() + (opts.waitMs ?? 5000);
      for (;;) {
        try {
          const { file, swmr } = openReadOnly(lib, path);
          return new StoreReader(
            lib,
            path,
            file,
            swmr,
            releaseClaim,
            opts.chunkCacheBytes ?? 64 * 1024 * 1024,
          );
        } catch (e) {
          // Between create and first commit the writer has the file open without SWMR.
          if (e instanceof WriterCrashedError && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, 50));
            continue;
          }
          throw e;
        }
      }
    } catch (e) {
      releaseClaim();
      throw e;
    }
  }

  private h5(): H5File {
    if (this.closed) throw new StoreClosedError("reader is closed", { file: this.path });
    return this.file;
  }

  /** "writing" while a writer has not closed it cleanly; "complete" after; "foreign" if not ours. */
  get state(): FileState | "foreign" {
    return this.stateNow;
  }

  /** The writer's commit sequence seen by the last open/refresh (0 for files not written by stagelab). */
  get sequence(): number {
    return this.commit?.sequence ?? 0;
  }

  /**
   * Re-open to see newly committed data. Returns true when the commit sequence (or state)
   * changed. On a transient failure the previous view is kept and the error is thrown;
   * calling refresh() again retries.
   */
  refresh(): boolean {
    this.h5();
    const before = this.sequence;
    const stateBefore = this.stateNow;
    this.file.close();
    this.layouts.clear();
    this.cache.clear();
    let lastError: unknown;
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        this.file = openReadOnly(this.lib, this.path).file;
        this.commit = readCommit(this.file);
        this.stateNow = readState(this.file);
        return this.sequence !== before || this.stateNow !== stateBefore;
      } catch (e) {
        lastError = e;
        if (this.file.isOpen) this.file.close();
      }
    }
    this.closed = true;
    this.releaseClaim();
    throw lastError;
  }

  get usesSwmr(): boolean {
    return this.swmr;
  }

  /** Every group and dataset below `group`, sorted. */
  tree(group = "/"): TreeNode[] {
    const f = this.h5();
    return f
      .list(group, true)
      .filter((p) => !p.startsWith("/_stagelab"))
      .sort()
      .map((p) => {
        const k = f.kind(p);
        return { path: p, kind: k === "missing" ? "other" : k };
      });
  }

  /** The dataset's normalized path and layout, validated once per open. */
  private dataset(ds: string): { p: string; l: DatasetLayout } {
    const hit = this.layouts.get(ds);
    if (hit) return { p: normalizeObjectPath(ds), l: hit };
    const p = this.h5().requireDataset(ds);
    const l = this.h5().layout(p);
    this.layouts.set(ds, l);
    this.layouts.set(p, l);
    return { p, l };
  }

  committedShape(ds: string): number[] {
    const { p, l } = this.dataset(ds);
    const committed = this.commit?.lengths.get(p);
    if (committed === undefined || l.shape.length === 0) return [...l.shape];
    return [Math.min(committed, l.shape[0]!), ...l.shape.slice(1)];
  }

  info(ds: string): DatasetInfo {
    const { p, l } = this.dataset(ds);
    return {
      path: p,
      dtype: l.dtype,
      shape: this.committedShape(p),
      storedShape: [...l.shape],
      maxshape: [...l.maxshape],
      chunks: l.chunks ? [...l.chunks] : null,
      compression: describeFilters(l.filters),
      attrs: this.h5().readAttrs(p),
    };
  }

  attrs(objectPath = "/"): Attrs {
    const p = normalizeObjectPath(objectPath);
    const f = this.h5();
    if (f.kind(p) === "missing")
      throw new DatasetNotFoundError("no such group or dataset", { file: this.path, dataset: p });
    return f.readAttrs(p);
  }

  /** Read committed data; see AxisSelection. Without a selection, the whole committed extent. */
  read<D extends DType = DType>(ds: string, selection: AxisSelection[] = []): StoreArray<D> {
    const { p, l } = this.dataset(ds);
    const { start, count, step } = this.resolve(p, selection);
    const data = allocate(
      l.dtype,
      count.reduce((a, b) => a * b, 1),
    ) as TypedArrayFor[D];
    this.transferInto(p, l, start, count, step, data);
    return { dtype: l.dtype as D, shape: count, data };
  }

  /**
   * Read into a caller-owned array (reused between calls: no allocation, which matters for
   * large slabs and for viewers that read the same-sized slice over and over).
   * Returns the selection's shape.
   */
  readInto<D extends DType>(
    ds: string,
    selection: AxisSelection[],
    out: TypedArrayFor[D],
  ): number[] {
    const { p, l } = this.dataset(ds);
    const { start, count, step } = this.resolve(p, selection);
    const n = count.reduce((a, b) => a * b, 1);
    const need = n * itemBytes(l.dtype);
    if (out.byteLength < need || !matchesDType(l.dtype, out)) {
      throw new ShapeMismatchError(
        `readInto needs a ${l.dtype} array of at least ${need} bytes for selection ${JSON.stringify(count)}`,
        {
          file: this.path,
          dataset: p,
        },
      );
    }
    this.transferInto(p, l, start, count, step, out);
    return count;
  }

  private transferInto(
    p: string,
    l: DatasetLayout,
    start: number[],
    count: number[],
    step: number[],
    out: ArrayBufferView,
  ): void {
    const n = count.reduce((a, b) => a * b, 1);
    if (n === 0) return;
    const bytesPerItem = itemBytes(l.dtype);
    const outBytes = new Uint8Array(out.buffer, out.byteOffset, n * bytesPerItem);
    const chunks = l.chunks;
    const chunkBytes = chunks ? chunks.reduce((a, b) => a * b, 1) * bytesPerItem : 0;
    // Small unit-stride reads go through whole cached chunks; large reads stream directly.
    if (
      chunks &&
      step.every((s) => s === 1) &&
      n * bytesPerItem * 4 <= chunkBytes &&
      chunkBytes <= this.cache.budgetBytes / 4
    ) {
      this.readViaChunks(p, chunks, bytesPerItem, start, count, outBytes);
      return;
    }
    this.h5().readHyperslab(p, start, count, outBytes, step);
  }

  private readViaChunks(
    p: string,
    chunks: number[],
    bytesPerItem: number,
    start: number[],
    count: number[],
    out: Uint8Array,
  ): void {
    const extent = this.committedShape(p);
    const first = start.map((s, a) => Math.floor(s / chunks[a]!));
    const last = start.map((s, a) => Math.floor((s + count[a]! - 1) / chunks[a]!));
    const idx = [...first];
    for (;;) {
      const origin = idx.map((c, a) => c * chunks[a]!);
      const chunkShape = origin.map((o, a) => Math.min(chunks[a]!, extent[a]! - o));
      const bytes = this.cache.get(`${p}|${idx.join(",")}`, () => {
        const b = new Uint8Array(chunkShape.reduce((x, y) => x * y, 1) * bytesPerItem);
        this.h5().readHyperslab(p, origin, chunkShape, b);
        return b;
      });
      const lo = origin.map((o, a) => Math.max(o, start[a]!));
      const hi = origin.map((o, a) => Math.min(o + chunkShape[a]!, start[a]! + count[a]!));
      copyBlock(
        bytes,
        chunkShape,
        lo.map((v, a) => v - origin[a]!),
        out,
        count,
        lo.map((v, a) => v - start[a]!),
        hi.map((h, a) => h - lo[a]!),
        bytesPerItem,
      );
      let a = idx.length - 1;
      for (; a >= 0; a--) {
        if (++idx[a]! <= last[a]!) break;
        idx[a] = first[a]!;
      }
      if (a < 0) return;
    }
  }

  private resolve(
    p: string,
    selection: AxisSelection[],
  ): { start: number[]; count: number[]; step: number[] } {
    const shape = this.committedShape(p);
    if (selection.length > shape.length) {
      throw new SliceOutOfRangeError(
        `selection has ${selection.length} axes, dataset has ${shape.length}`,
        {
          file: this.path,
          dataset: p,
        },
      );
    }
    const start: number[] = [];
    const count: number[] = [];
    const step: number[] = [];
    shape.forEach((extent, axis) => {
      const [s, c, st] = resolveAxis(selection[axis] ?? null, extent, axis, this.path, p);
      start.push(s);
      count.push(c);
      step.push(st);
    });
    return { start, count, step };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.file.close();
    } finally {
      this.releaseClaim();
    }
  }
}

function openReadOnly(lib: H5Lib, path: string): { file: H5File; swmr: boolean } {
  try {
    return { file: H5File.open(lib, path, "Sr"), swmr: true };
  } catch (e) {
    // Files in the pre-1.10 format (h5py's default) cannot be opened in SWMR mode; they are
    // not being written by a SWMR writer either, so a plain read-only open is right.
    if (e instanceof StoreError && /SWMR|superblock version|libver/i.test(e.hdf5Detail ?? "")) {
      return { file: H5File.open(lib, path, "r"), swmr: false };
    }
    throw e;
  }
}

function resolveAxis(
  sel: AxisSelection,
  extent: number,
  axis: number,
  file: string,
  dataset: string,
): [start: number, count: number, step: number] {
  const bad = (why: string) =>
    new SliceOutOfRangeError(`axis ${axis}: ${why} (committed extent ${extent})`, {
      file,
      dataset,
    });
  if (sel === null) return [0, extent, 1];
  if (typeof sel === "number") {
    if (!Number.isInteger(sel)) throw bad(`index ${sel} is not an integer`);
    const i = sel < 0 ? extent + sel : sel;
    if (i < 0 || i >= extent) throw bad(`index ${sel} is out of range`);
    return [i, 1, 1];
  }
  const [a, b, st = 1] = sel;
  if (!Number.isInteger(st) || st < 1) throw bad(`step ${st} must be a positive integer`);
  const startIdx = a === null ? 0 : a < 0 ? extent + a : a;
  const stopIdx = b === null ? extent : b < 0 ? extent + b : b;
  if (!Number.isInteger(startIdx) || !Number.isInteger(stopIdx))
    throw bad("range bounds must be integers");
  if (startIdx < 0 || stopIdx > extent || startIdx > stopIdx)
    throw bad(`range [${a}, ${b}) is out of range`);
  return [startIdx, Math.ceil((stopIdx - startIdx) / st), st];
}
