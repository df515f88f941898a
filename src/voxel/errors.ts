/**
 * The four typed errors of the VoxelAccumulator IDL (seed 000), as TypeScript classes:
 *
 *   IDL condition          TS class
 *   InvalidVoxelIndex      InvalidVoxelIndexError   voxel index out of bounds / negative / not an integer
 *   StorageBackendError    StorageBackendError      HDF5 create/write/read failures, disk full, wrong state
 *   DataConsistencyError   DataConsistencyError     array lengths or shapes mismatch, unknown still, bad values
 *   SymmetryError          SymmetryError            space group unusable, ASU mapping failed, ndiv breaks symmetry
 *
 * The first three extend `VoxelError`. SymmetryError is the symmetry module's own class
 * (src/symmetry, re-exported here), so the package has ONE SymmetryError whoever throws it;
 * IncompatibleNdivError extends it. A wrapped lower-level failure (e.g. a store error) is kept
 * as `cause`.
 */
import { SymmetryError } from "../symmetry/index.js";

export { SymmetryError };

export class VoxelError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** IDL `InvalidVoxelIndex`: "Voxel index out of bounds" (outside the grid, negative, not an integer). */
export class InvalidVoxelIndexError extends VoxelError {
  constructor(
    readonly voxelIndex: number,
    readonly nVoxels: number,
  ) {
    super(
      `Voxel index out of bounds: ${voxelIndex} (the grid has voxel indices 0..${nVoxels - 1})`,
    );
  }
}

/** IDL `StorageBackendError`: "Backend storage operation failed" (HDF5 I/O, disk space, wrong state). */
export class StorageBackendError extends VoxelError {}

/** IDL `DataConsistencyError`: "Input array dimensions mismatch" (and other invalid inputs). */
export class DataConsistencyError extends VoxelError {}

/**
 * A grid whose divisions differ along axes that the Laue group's operators mix (e.g.
 * ndiv_h != ndiv_k in a tetragonal group): sub-Miller indices would not map onto each other.
 */
export class IncompatibleNdivError extends SymmetryError {
  constructor(
    readonly ndiv: readonly [number, number, number],
    readonly axes: readonly [number, number],
    spaceGroup: string,
  ) {
    const names = "hkl";
    super(
      `ndiv ${JSON.stringify(ndiv)} is not compatible with space group ${spaceGroup}: its Laue ` +
        `group maps ${names[axes[0]]} onto ${names[axes[1]]}, so ndiv_${names[axes[0]]} must equal ndiv_${names[axes[1]]}`,
      spaceGroup,
    );
  }
}
