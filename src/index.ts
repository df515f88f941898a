/** @stagelab/core: the HDF5 store and the pipeline stages. */
export * from "./store/index.js";
export { VERSION } from "./version.js";
