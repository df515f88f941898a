/** Synthetic data with known truth: the demo data and the test beds of the stages. */
export {
  writeSyntheticScan,
  scanPixel,
  type SyntheticScanOptions,
  type SyntheticScanResult,
} from "./scan.js";
export * from "./stills.js";
export * from "./stills-truth.js";
