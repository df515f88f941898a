/** @stagelab/core: the HDF5 store and the pipeline stages. */
export * from "./store/index.js";
export { VERSION } from "./version.js";
export * as viewer from "./viewer/index.js";
export { encodePng } from "./viewer/png.js";
export {
  writeSyntheticScan,
  scanPixel,
  type SyntheticScanOptions,
  type SyntheticScanResult,
} from "./synth/scan.js";
