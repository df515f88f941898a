/**
 * The single writer of a file. It holds the cross-process lock, creates the layout, then
 * (at the first commit) switches the file to SWMR write mode so readers can follow it.
 * Appends are buffered to whole chunks: one-row appends straight to HDF5 are 6-18x slower.
 */
import fs from "node:fs";
import { loadH5, type H5Lib } from "./h5lib.js";
import { H5File, normalizeObjectPath, type Attrs } from "./h5file.js";
import { acquireWriterLock, type WriterLock } from "./lock.js";
import { claim } from "./registry.js";
import {
  DatasetExistsError,
  DatasetNotFoundError,
  DtypeMismatchError,
  FileNotFoundError,
  InvalidArgumentError,
  LayoutFrozenError,
  ShapeMismatchError,
  SliceOutOfRangeError,
  StoreClosedError,
  UnsupportedFormatError,
  WriterCrashedError,
} from "./errors.js";
import { readSuperblock } from "./superblock.js";
import {
  allocate,
  itemBytes,
  lanes,
  matchesDType,
  type DType,
  type TypedArrayFor,
} from "./dtype.js";
import { filterFor, type Compression } from "./compression.js";
import {
  BOOK_GROUP,
  prepareBookkeeping,
  readCommit,
  readTracked,
  writeCommit,
} from "./bookkeeping.js";
import { provenanceAttrs, type Provenance } from "./provenance.js";
import { rebuildFromCommitted, type RecoveryReport } from "./recover.js";

export interface DatasetSpec<D extends DType = DType> {
  dtype: D;
  /** Initial extent. For an appendable dataset start axis 0 at 0. */
  shape: number[];
  /** Largest extent per axis, null = unlimited. Default: unlimited along axis 0. */
  maxshape?: (number | null)[];
  /** Chunk shape. Default: about 1 MiB chunks, whole rows. */
  chunks?: number[];
  /** Default "gzip" (level 4). */
  compression?: Compression;
  attrs?: Attrs;
  provenance?: Provenance;
}

export interface WriterOptions {
  /** Provenance for the file's root (and default for its datasets). */
  provenance?: Provenance;
  /** Replace an existing file (only when no live writer holds it). */
  overwrite?: boolean;
}

export interface OpenOptions {
  provenance?: Provenance;
  /** Rewrite a pre-1.10-format file (h5py's default) in the SWMR-capable 1.10 format. */
  upgradeFormat?: boolean;
}

export interface CommitInfo {
  sequence: number;
  lengths: Record<string, number>;
}

export class StoreWriter {
  private readonly datasets = new Map<string, DatasetWriter<DType>>();
  private tracked: string[] = [];
  private frozen = false;
  private sequence = 0;
  private deferredAttrs: [string, Attrs][] = [];
  private closed = false;

  private constructor(
    private readonly lib: H5Lib,
    readonly path: string,
    private file: H5File,
    private readonly lock: WriterLock,
    private readonly releaseClaim: () => void,
    private readonly provenance: Provenance | undefined,
    /** Set when opening found a crashed writer's file and rebuilt it. */
    readonly recovered: RecoveryReport | undefined,
  ) {}

  /** Create a new file. Fails if it exists, unless `overwrite`. */
  static async create(path: string, opts: WriterOptions = {}): Promise<StoreWriter> {
    const lib = await loadH5();
    const releaseClaim = claim(path, "writer");
    let lock: WriterLock | undefined;
    try {
      lock = acquireWriterLock(path, opts.provenance?.stage ?? "StoreWriter").lock;
      if (fs.existsSync(path) && !opts.overwrite) {
        throw new DatasetExistsError("file already exists (pass overwrite: true to replace it)", {
          file: path,
        });
      }
      const file = H5File.open(lib, path, "w");
      const w = new StoreWriter(lib, path, file, lock, releaseClaim, opts.provenance, undefined);
      prepareBookkeeping(file, [], "writing");
      if (opts.provenance) file.writeAttrs("/", provenanceAttrs(opts.provenance));
      return w;
    } catch (e) {
      lock?.release();
      releaseClaim();
      throw e;
    }
  }

  /**
   * Open an existing file to write more. If its last writer died (stale lock, or the file
   * still marked open), the file is first rebuilt from its committed data: every committed
   * row survives, and nothing after the last commit is trusted.
   */
  static async open(path: string, opts: OpenOptions = {}): Promise<StoreWriter> {
    const lib = await loadH5();
    if (!fs.existsSync(path)) throw new FileNotFoundError("no such file", { file: path });
    const releaseClaim = claim(path, "writer");
    let lock: WriterLock | undefined;
    try {
      const got = acquireWriterLock(path, opts.provenance?.stage ?? "StoreWriter");
      lock = got.lock;
      let recovered: RecoveryReport | undefined;
      let file: H5File;
      const sb = readSuperblock(path);
      if (sb && sb.version < 3 && sb.writerFlags === 0 && !opts.upgradeFormat) {
        throw new UnsupportedFormatError(
          `uses the pre-HDF5-1.10 file format (superblock version ${sb.version}, h5py's default), ` +
            "which SWMR readers cannot follow; pass { upgradeFormat: true } to rewrite it in the 1.10 format (a full copy)",
          { file: path },
        );
      }
      try {
        if (got.brokeStaleLockOf)
          throw new WriterCrashedError("previous writer died", { file: path });
        if (sb && sb.version < 3) throw new WriterCrashedError("format upgrade", { file: path });
        file = H5File.open(lib, path, "a");
      } catch (e) {
        if (!(e instanceof WriterCrashedError)) throw e;
        recovered = rebuildFromCommitted(lib, path);
        file = H5File.open(lib, path, "a");
      }
      const w = new StoreWriter(lib, path, file, lock, releaseClaim, opts.provenance, recovered);
      w.adoptExisting();
      return w;
    } catch (e) {
      lock?.release();
      releaseClaim();
      throw e;
    }
  }

  private adoptExisting(): void {
    const commit = readCommit(this.file);
    this.sequence = commit?.sequence ?? 0;
    this.tracked = readTracked(this.file);
    // A file another program wrote: track every dataset we can write, so stages can append.
    if (this.tracked.length === 0) {
      this.tracked = this.file
        .list("/", true)
        .filter((p) => !p.startsWith(BOOK_GROUP) && this.file.kind(p) === "dataset")
        .filter((p) => {
          try {
            this.file.layout(p);
            return true;
          } catch {
            return false;
          }
        });
    }
    for (const p of this.tracked) {
      if (this.file.kind(p) !== "dataset") continue;
      const layout = this.file.layout(p);
      const committed = commit?.lengths.get(p) ?? layout.shape[0] ?? 0;
      // Rows past the commit marker were never promised to anyone: drop them.
      if ((layout.shape[0] ?? 0) !== committed) {
        this.file.resize(p, [committed, ...layout.shape.slice(1)]);
      }
      const shape = [committed, ...layout.shape.slice(1)];
      this.datasets.set(
        p,
        new DatasetWriter(this, p, layout.dtype, shape, layout.maxshape, layout.chunks ?? shape),
      );
    }
    prepareBookkeeping(this.file, this.tracked, "writing");
  }

  /** @internal the open file, for this writer's datasets. */
  h5(): H5File {
    if (this.closed) throw new StoreClosedError("writer is closed", { file: this.path });
    return this.file;
  }

  get isFrozen(): boolean {
    return this.frozen;
  }

  createDataset<D extends DType>(name: string, spec: DatasetSpec<D>): DatasetWriter<D> {
    const p = normalizeObjectPath(name);
    const f = this.h5();
    if (this.frozen) {
      throw new LayoutFrozenError(
        "cannot create datasets after the first commit (readers may be following the file): create them all first",
        { file: this.path, dataset: p },
      );
    }
    if (p.startsWith(BOOK_GROUP + "/") || p === BOOK_GROUP) {
      throw new InvalidArgumentError(`${BOOK_GROUP} is reserved for the store's records`, {
        file: this.path,
        dataset: p,
      });
    }
    if (f.kind(p) !== "missing")
      throw new DatasetExistsError("already exists", { file: this.path, dataset: p });
    const { shape } = spec;
    if (
      !Array.isArray(shape) ||
      shape.length === 0 ||
      shape.some((d) => !Number.isInteger(d) || d < 0)
    ) {
      throw new ShapeMismatchError(
        `shape must be a non-empty list of non-negative integers, got ${JSON.stringify(shape)}`,
        {
          file: this.path,
          dataset: p,
        },
      );
    }
    const maxshape = spec.maxshape ?? [null, ...shape.slice(1)];
    if (maxshape.length !== shape.length || maxshape.some((m, i) => m !== null && m < shape[i]!)) {
      throw new ShapeMismatchError(
        `maxshape ${JSON.stringify(maxshape)} does not fit shape ${JSON.stringify(shape)}`,
        {
          file: this.path,
          dataset: p,
        },
      );
    }
    const chunks = spec.chunks ?? defaultChunks(shape, maxshape, itemBytes(spec.dtype));
    if (chunks.length !== shape.length || chunks.some((c) => !Number.isInteger(c) || c < 1)) {
      throw new InvalidArgumentError(
        `chunks ${JSON.stringify(chunks)} must be positive integers, one per axis`,
        {
          file: this.path,
          dataset: p,
        },
      );
    }
    const chunkBytes = chunks.reduce((a, b) => a * b, 1) * itemBytes(spec.dtype);
    if (chunkBytes > 64 * 1024 * 1024) {
      throw new InvalidArgumentError(
        `a chunk of ${chunkBytes} bytes is above HDF5's 4 GiB limit's safe range (64 MiB)`,
        {
          file: this.path,
          dataset: p,
        },
      );
    }
    const filter = filterFor(spec.compression ?? "gzip", this.path, p);
    f.createDataset(p, spec.dtype, shape, maxshape, chunks, filter);
    f.tagDatasetDtype(p, spec.dtype);
    const prov = spec.provenance ?? this.provenance;
    const attrs = { ...(prov ? provenanceAttrs(prov) : {}), ...(spec.attrs ?? {}) };
    if (Object.keys(attrs).length) f.writeAttrs(p, attrs);
    const dw = new DatasetWriter<D>(this, p, spec.dtype, [...shape], maxshape, chunks);
    this.datasets.set(p, dw as unknown as DatasetWriter<DType>);
    this.tracked.push(p);
    return dw;
  }

  dataset<D extends DType = DType>(name: string): DatasetWriter<D> {
    const p = normalizeObjectPath(name);
    const d = this.datasets.get(p);
    if (!d)
      throw new DatasetNotFoundError("no dataset of this writer at this path", {
        file: this.path,
        dataset: p,
      });
    return d as unknown as DatasetWriter<D>;
  }

  /**
   * Set attributes on a group or dataset. Before the first commit they are written at once;
   * afterwards (SWMR forbids layout changes) they are kept and written at close().
   */
  setAttrs(objectPath: string, attrs: Attrs): void {
    const p = normalizeObjectPath(objectPath);
    const f = this.h5();
    if (this.frozen) {
      this.deferredAttrs.push([p, attrs]);
      return;
    }
    if (f.kind(p) === "missing") f.createGroup(p);
    f.writeAttrs(p, attrs);
  }

  createGroup(groupPath: string, attrs?: Attrs): void {
    if (this.frozen) {
      throw new LayoutFrozenError("cannot create groups after the first commit", {
        file: this.path,
        dataset: normalizeObjectPath(groupPath),
      });
    }
    this.h5().createGroup(groupPath);
    if (attrs) this.h5().writeAttrs(groupPath, attrs);
  }

  /**
   * Make everything written so far visible to readers: flush buffered rows and the file,
   * then advance the commit marker. The first commit freezes the layout (SWMR write mode).
   */
  commit(): CommitInfo {
    const f = this.h5();
    if (!this.frozen) {
      prepareBookkeeping(f, this.tracked, "writing");
      f.flush();
      f.startSwmrWrite();
      this.frozen = true;
    }
    for (const d of this.datasets.values()) d.flushBuffered();
    f.flush();
    this.sequence++;
    const lengths = new Map<string, number>();
    for (const p of this.tracked) lengths.set(p, this.datasets.get(p)?.length ?? 0);
    writeCommit(f, this.sequence, this.tracked, lengths);
    f.flush();
    return { sequence: this.sequence, lengths: Object.fromEntries(lengths) };
  }

  /** Commit, end SWMR, write deferred attributes, mark the file complete, release the lock. */
  close(): CommitInfo {
    if (this.closed) throw new StoreClosedError("writer is already closed", { file: this.path });
    try {
      const info = this.commit();
      this.file.close();
      // A plain (non-SWMR) re-open to record what SWMR mode cannot: attributes, the state.
      const f = H5File.open(this.lib, this.path, "a");
      try {
        for (const [p, attrs] of this.deferredAttrs) {
          if (f.kind(p) === "missing") f.createGroup(p);
          f.writeAttrs(p, attrs);
        }
        f.writeAttrs(BOOK_GROUP, { state: "complete" });
      } finally {
        f.close();
      }
      return info;
    } finally {
      this.closed = true;
      this.lock.release();
      this.releaseClaim();
    }
  }

  /** Close without marking complete (e.g. after an error): committed data stays readable. */
  abandon(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.file.close();
    } finally {
      this.lock.release();
      this.releaseClaim();
    }
  }
}

/** Writes into one dataset: buffered appends along axis 0, and direct hyperslab writes. */
export class DatasetWriter<D extends DType = DType> {
  private buffer: TypedArrayFor[D] | undefined;
  /** Rows [bufferStart, rows) are on disk but not yet read into the buffer. */
  private partialOnDisk: boolean;
  /** First row held in `buffer`: always at a chunk boundary, or at the dataset's start. */
  private bufferStart: number;
  private bufferRows = 0;
  /** Rows written to disk and held in the buffer, i.e. the length readers will see after a commit. */
  private rows: number;
  private readonly rowElems: number;
  private readonly chunkRows: number;

  /** @internal created by StoreWriter */
  constructor(
    private readonly writer: StoreWriter,
    readonly path: string,
    readonly dtype: D,
    private shapeNow: number[],
    readonly maxshape: (number | null)[],
    readonly chunks: number[],
  ) {
    this.rowElems = shapeNow.slice(1).reduce((a, b) => a * b, 1);
    this.chunkRows = chunks[0] ?? 1;
    this.rows = shapeNow[0] ?? 0;
    this.bufferStart = this.rows - (this.rows % this.chunkRows);
    // The buffer (chunk rows x whole rows) is only needed by appends: allocated on the first
    // one, so adopting a large dataset that is only written by blocks costs nothing.
    this.partialOnDisk = this.bufferStart < this.rows;
  }

  /** Current extent, counting buffered rows. */
  get shape(): number[] {
    return [this.rows, ...this.shapeNow.slice(1)];
  }

  get length(): number {
    return this.rows;
  }

  private file(): string {
    return this.writer.path;
  }

  private check(data: ArrayBufferView): asserts data is TypedArrayFor[D] {
    if (!matchesDType(this.dtype, data)) {
      throw new DtypeMismatchError(
        `expected ${this.dtype} data (${describeCtor(this.dtype)}), got ${data.constructor.name}`,
        {
          file: this.file(),
          dataset: this.path,
        },
      );
    }
  }

  /**
   * Append whole rows (C order). `data.length` must be a multiple of the row size
   * (prod(shape[1:]) elements; x2 entries for complex).
   */
  append(data: TypedArrayFor[D]): void {
    this.check(data);
    const rowEntries = this.rowElems * lanes(this.dtype);
    if (data.length % rowEntries !== 0) {
      throw new ShapeMismatchError(
        `append needs whole rows of shape ${JSON.stringify(this.shapeNow.slice(1))} (${rowEntries} entries each); got ${data.length} entries`,
        { file: this.file(), dataset: this.path },
      );
    }
    const nRows = data.length / rowEntries;
    const max0 = this.maxshape[0];
    if (max0 !== null && max0 !== undefined && this.rows + nRows > max0) {
      throw new SliceOutOfRangeError(
        `append of ${nRows} rows exceeds maxshape ${max0} along axis 0 (have ${this.rows})`,
        {
          file: this.file(),
          dataset: this.path,
        },
      );
    }
    this.writer.h5();
    const buffer = this.appendBuffer();
    let done = 0;
    while (done < nRows) {
      const room = this.chunkRows - this.bufferRows;
      // Whole chunks straight from the caller's array when the buffer is empty: no copy.
      if (this.bufferRows === 0 && nRows - done >= this.chunkRows) {
        const whole = Math.floor((nRows - done) / this.chunkRows) * this.chunkRows;
        this.writeRows(
          this.bufferStart,
          data.subarray(done * rowEntries, (done + whole) * rowEntries) as TypedArrayFor[D],
          whole,
        );
        this.bufferStart += whole;
        this.rows += whole;
        done += whole;
        continue;
      }
      const take = Math.min(room, nRows - done);
      buffer.set(
        data.subarray(done * rowEntries, (done + take) * rowEntries) as never,
        this.bufferRows * rowEntries,
      );
      this.bufferRows += take;
      this.rows += take;
      done += take;
      if (this.bufferRows === this.chunkRows) {
        this.writeRows(this.bufferStart, buffer, this.chunkRows);
        this.bufferStart += this.chunkRows;
        this.bufferRows = 0;
      }
    }
  }

  /** Write buffered rows of a partial chunk (kept in the buffer, rewritten whole later). */
  flushBuffered(): void {
    if (this.bufferRows === 0 || !this.buffer) return;
    const rowEntries = this.rowElems * lanes(this.dtype);
    this.writeRows(
      this.bufferStart,
      this.buffer.subarray(0, this.bufferRows * rowEntries) as TypedArrayFor[D],
      this.bufferRows,
    );
  }

  private writeRows(at: number, data: TypedArrayFor[D], nRows: number): void {
    const f = this.writer.h5();
    const end = at + nRows;
    if (end > (this.shapeNow[0] ?? 0)) {
      this.shapeNow = [end, ...this.shapeNow.slice(1)];
      f.resize(this.path, this.shapeNow);
    }
    f.writeHyperslab(
      this.path,
      [at, ...this.shapeNow.slice(1).map(() => 0)],
      [nRows, ...this.shapeNow.slice(1)],
      asBytes(data),
    );
  }

  /**
   * Write a block at `start` with extent `count` (C order). Grows the dataset within maxshape
   * when the block reaches past the current extent.
   */
  write(start: number[], count: number[], data: TypedArrayFor[D]): void {
    this.check(data);
    const rank = this.shapeNow.length;
    if (start.length !== rank || count.length !== rank) {
      throw new ShapeMismatchError(`start and count need ${rank} entries (dataset rank)`, {
        file: this.file(),
        dataset: this.path,
      });
    }
    const n = count.reduce((a, b) => a * b, 1);
    if (data.length !== n * lanes(this.dtype)) {
      throw new ShapeMismatchError(
        `block ${JSON.stringify(count)} needs ${n * lanes(this.dtype)} entries, got ${data.length}`,
        {
          file: this.file(),
          dataset: this.path,
        },
      );
    }
    const end = start.map((s, i) => s + count[i]!);
    for (let i = 0; i < rank; i++) {
      const m = this.maxshape[i];
      if (start[i]! < 0 || (m !== null && m !== undefined && end[i]! > m)) {
        throw new SliceOutOfRangeError(
          `block [${start.join(",")}]+[${count.join(",")}] is outside maxshape ${JSON.stringify(this.maxshape)}`,
          {
            file: this.file(),
            dataset: this.path,
          },
        );
      }
    }
    // Buffered rows must reach the file first, or they would overwrite this block later.
    this.flushBuffered();
    const grown = this.shapeNow.map((d, i) => Math.max(d, end[i]!));
    if (grown.some((d, i) => d !== this.shapeNow[i])) {
      this.shapeNow = grown;
      this.writer.h5().resize(this.path, grown);
    }
    this.writer.h5().writeHyperslab(this.path, start, count, asBytes(data));
    // Re-read the partial last chunk: the block may have grown the rows or changed rows the
    // buffer holds, and the buffer is rewritten whole at the next append or commit.
    this.rows = Math.max(this.rows, end[0]!);
    this.resetBuffer();
  }

  /**
   * Read back the box [start, start + count) (C order) through this writer's own handle: what
   * it wrote, committed or not, without a second HDF5 instance or a reader's older snapshot.
   */
  read(start: number[], count: number[]): TypedArrayFor[D] {
    const end = start.map((s, i) => s + (count[i] ?? 0));
    if (
      start.length !== this.shapeNow.length ||
      count.length !== start.length ||
      start.some((s, i) => !Number.isInteger(s) || s < 0 || end[i]! > this.shape[i]!)
    ) {
      throw new SliceOutOfRangeError(
        `block [${start.join(",")}]+[${count.join(",")}] is outside the extent ${JSON.stringify(this.shape)}`,
        { file: this.file(), dataset: this.path },
      );
    }
    this.flushBuffered();
    const out = allocate(
      this.dtype,
      count.reduce((a, b) => a * b, 1),
    ) as TypedArrayFor[D];
    this.writer.h5().readHyperslab(this.path, start, count, asBytes(out));
    return out;
  }

  private resetBuffer(): void {
    this.bufferStart = this.rows - (this.rows % this.chunkRows);
    this.bufferRows = 0;
    this.partialOnDisk = this.bufferStart < this.rows;
  }

  /**
   * The append buffer, holding the rows of the partial last chunk, re-read from the file, so
   * that the chunk is rewritten whole later.
   */
  private appendBuffer(): TypedArrayFor[D] {
    this.buffer ??= allocate(this.dtype, this.chunkRows * this.rowElems) as TypedArrayFor[D];
    if (this.partialOnDisk) {
      const n = this.rows - this.bufferStart;
      const bytes = asBytes(this.buffer).subarray(0, n * this.rowElems * itemBytes(this.dtype));
      this.writer
        .h5()
        .readHyperslab(
          this.path,
          [this.bufferStart, ...this.shapeNow.slice(1).map(() => 0)],
          [n, ...this.shapeNow.slice(1)],
          bytes,
        );
      this.bufferRows = n;
      this.partialOnDisk = false;
    }
    return this.buffer;
  }
}

function asBytes(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function describeCtor(dtype: DType): string {
  return allocate(dtype, 0).constructor.name;
}

/** About 1 MiB chunks of whole trailing rows; at least one row, at most the row count. */
export function defaultChunks(
  shape: number[],
  maxshape: (number | null)[],
  bytesPerItem: number,
): number[] {
  const target = 1 << 20;
  const chunks = shape.map((d, i) => Math.max(1, maxshape[i] === null ? Math.max(d, 1) : d));
  // Shrink trailing axes by halving until one row fits in the target, then pick rows.
  let rowBytes = chunks.slice(1).reduce((a, b) => a * b, 1) * bytesPerItem;
  for (let i = chunks.length - 1; i >= 1 && rowBytes > target; i--) {
    while (rowBytes > target && chunks[i]! > 1) {
      chunks[i] = Math.ceil(chunks[i]! / 2);
      rowBytes = chunks.slice(1).reduce((a, b) => a * b, 1) * bytesPerItem;
    }
  }
  const rows = Math.max(1, Math.floor(target / rowBytes));
  chunks[0] = maxshape[0] === null ? rows : Math.max(1, Math.min(rows, shape[0] ?? 1));
  return chunks;
}
