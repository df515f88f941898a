/** @stagelab/core: the HDF5 store and the pipeline stages. */
export * from "./store/index.js";
export { VERSION } from "./version.js";
export * as viewer from "./viewer/index.js";
export { encodePng } from "./viewer/png.js";
export * from "./synth/index.js";
export * as geometry from "./geometry/index.js";
export type {
  Beam,
  Crystal,
  Detector,
  Experiment,
  Panel,
  Scan,
  Vec3,
  Mat3,
} from "./geometry/models.js";
export * as dials from "./dials/index.js";
export { readExperimentList, readReflectionTable, ReflectionTable } from "./dials/index.js";
export * as images from "./images/index.js";
export { readCbf, readStillImage, openImageSource } from "./images/index.js";
export * from "./diffuse/index.js";
// Every type a stage returns is nameable from the package root, so notebook cells (compiled
// with declarations) can hold any result in a variable.
export type * from "./geometry/index.js";
export type * from "./dials/index.js";
export type * from "./images/index.js";
export * as symmetry from "./symmetry/index.js";
export { laueGroup, mapToAsu, spaceGroupInfo, type LaueGroup } from "./symmetry/index.js";
export * as scattering from "./scattering/index.js";
export * as scaling from "./scaling/index.js";
export * as voxel from "./voxel/index.js";
export { GlobalVoxelGrid, VoxelAccumulator } from "./voxel/index.js";
export type * from "./voxel/index.js";
export type * from "./scaling/index.js";
export type * from "./scattering/index.js";
export * as superres from "./superres/index.js";
export * as cubefit from "./cubefit/index.js";
export type * from "./superres/index.js";
export * as npy from "./formats/npy.js";
export { readNpy, writeNpy, NpyReader } from "./formats/npy.js";
export * as array from "./array/index.js";
export * as skycell from "./skycell/index.js";
