/**
 * Typed errors for every failure a user can cause. Each names the file, the dataset
 * (when there is one) and the problem, so a notebook user can act without a debugger.
 */

export interface StoreErrorContext {
  /** File path as the user gave it. */
  file: string;
  /** Dataset or group path inside the file, when the error concerns one. */
  dataset?: string | undefined;
  /** HDF5's own diagnostic (the innermost messages of its error stack), when there is one. */
  hdf5Detail?: string | undefined;
}

export class StoreError extends Error {
  readonly file: string;
  readonly dataset: string | undefined;
  readonly hdf5Detail: string | undefined;

  constructor(problem: string, ctx: StoreErrorContext) {
    const where = ctx.dataset ? `${ctx.file}:${ctx.dataset}` : ctx.file;
    const detail = ctx.hdf5Detail ? ` (HDF5: ${ctx.hdf5Detail})` : "";
    super(`${where}: ${problem}${detail}`);
    this.name = new.target.name;
    this.file = ctx.file;
    this.dataset = ctx.dataset;
    this.hdf5Detail = ctx.hdf5Detail;
  }
}

export class FileNotFoundError extends StoreError {}

/** Who holds a writer lock: enough to find the process and decide whether to wait or kill. */
export interface LockHolder {
  pid: number;
  host: string;
  /** ISO time the lock was taken. */
  since: string;
  /** The stage (or program) that holds the lock. */
  owner: string;
}

export class StoreLockedError extends StoreError {
  readonly holder: LockHolder;
  constructor(ctx: StoreErrorContext, holder: LockHolder) {
    super(
      `already open for writing by pid ${holder.pid} on ${holder.host} (${holder.owner}, since ${holder.since}); ` +
        `one writer per file: close it there, or open read-only with StoreReader`,
      ctx,
    );
    this.holder = holder;
  }
}

export class DatasetNotFoundError extends StoreError {}
export class DatasetExistsError extends StoreError {}
export class ShapeMismatchError extends StoreError {}
export class DtypeMismatchError extends StoreError {}
export class UnsupportedDtypeError extends StoreError {}
export class SliceOutOfRangeError extends StoreError {}
/** Not an HDF5 file, truncated, or damaged beyond what HDF5 can open. */
export class CorruptFileError extends StoreError {}
/** The layout (datasets, attributes) is frozen once readers may follow the file. */
export class LayoutFrozenError extends StoreError {}
export class StoreClosedError extends StoreError {}
/** Invalid options passed by the caller (chunking, compression, names). */
export class InvalidArgumentError extends StoreError {}
/** An HDF5 call failed for a reason not covered by a more specific error. */
export class HDF5CallError extends StoreError {}
/** The file's superblock says a writer still has it open, or died with it open. */
export class WriterCrashedError extends StoreError {}

/** A file format the operation cannot work with (e.g. pre-1.10 HDF5 for a SWMR writer). */
export class UnsupportedFormatError extends StoreError {}

/** Error classes by name, to rebuild a typed error that crossed a thread boundary. */
export const STORE_ERROR_CLASSES: Record<
  string,
  new (problem: string, ctx: StoreErrorContext) => StoreError
> = {
  StoreError,
  FileNotFoundError,
  DatasetNotFoundError,
  DatasetExistsError,
  ShapeMismatchError,
  DtypeMismatchError,
  UnsupportedDtypeError,
  SliceOutOfRangeError,
  CorruptFileError,
  LayoutFrozenError,
  StoreClosedError,
  InvalidArgumentError,
  HDF5CallError,
  WriterCrashedError,
  UnsupportedFormatError,
};
