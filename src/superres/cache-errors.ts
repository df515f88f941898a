/**
 * Typed errors of the super-resolution input, cache and results modules. Each message names
 * the file and says what to do, so a notebook user can act on it without a debugger.
 */

export class SuperResFileError extends Error {
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = new.target.name;
  }
}

/** The input holds no usable 4-d datacube, or not the one asked for. */
export class DatacubeError extends SuperResFileError {}

/** No cache file at this path. */
export class CacheMissingError extends SuperResFileError {}

/** The cache cannot be read: truncated, not HDF5, or HDF5 that HDF5 itself cannot open. */
export class CacheCorruptError extends SuperResFileError {}

/** An HDF5 file that is not a super-resolution cache (layout or version missing or wrong). */
export class CacheFormatError extends SuperResFileError {}

/** A cache made for another main file or datacube. */
export class CacheForeignError extends SuperResFileError {}

/** A live writer (this or another process) is writing this cache. */
export class CacheBusyError extends SuperResFileError {}

/** A block was asked for before it was computed, or after bigFT was deleted. */
export class CacheNotReadyError extends SuperResFileError {}

/** An operation out of step order (e.g. marking step 2 complete with bigFT blocks missing). */
export class CacheStepError extends SuperResFileError {}

/** A results run that already exists, or run data whose shapes do not agree. */
export class SuperResRunError extends SuperResFileError {}

/** Parameters that do not fit the datacube (crop outside the detector, bad reference pixel...). */
export class CacheParameterError extends SuperResFileError {}
