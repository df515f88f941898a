/**
 * Voxelization of diffuse scattering (plan Modules 3.S.1 and 3.S.2; seed 000's
 * VoxelAccumulator IDL): the GlobalVoxelGrid and the VoxelAccumulator with memory and HDF5
 * backends, streaming Welford statistics and exact merging of partial accumulators.
 */
export {
  GlobalVoxelGrid,
  GridRangeBuilder,
  averageUnitCell,
  roundToVoxel,
  type BinRejections,
  type GridJson,
  type GridOptions,
  type Ndiv,
  type StillCrystals,
  type StillOrientation,
  type SubMillerBox,
} from "./grid.js";
export {
  VoxelAccumulator,
  snapshotTransferList,
  type AccumulationStatistics,
  type AccumulatorSnapshot,
  type ObservationBlock,
  type VoxelAccumulatorOptions,
  type VoxelBackend,
  type VoxelObservations,
} from "./accumulator.js";
export { type ObservationColumns } from "./columns.js";
export { LaueSymmetry } from "./symmetry-ops.js";
export { unsortedPathFor, zstdAvailable, mapSlab } from "./hdf5-store.js";
export {
  STAT_FIELDS,
  STAT_STRIDE,
  accumulateStats,
  allocateStats,
  mergeStats,
  voxelStatistics,
  type VoxelStatistics,
} from "./welford.js";
export {
  VoxelError,
  InvalidVoxelIndexError,
  StorageBackendError,
  DataConsistencyError,
  SymmetryError,
  IncompatibleNdivError,
} from "./errors.js";
