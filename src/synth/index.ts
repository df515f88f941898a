/** Synthetic data with known truth: the demo data and the test beds of the stages. */
export {
  writeSyntheticScan,
  scanPixel,
  type SyntheticScanOptions,
  type SyntheticScanResult,
} from "./scan.js";
export * from "./stills.js";
export * from "./stills-truth.js";
export {
  syntheticStem4d,
  stemAberrationMatrix,
  DEFAULT_STEM4D,
  type SyntheticStem4dOptions,
  type ResolvedStem4dOptions,
  type SyntheticStem4d,
  type Stem4dTruth,
} from "./stem.js";
export {
  writeEmdDatacubes,
  emdDatacubePath,
  EMD_DATACUBES_GROUP,
  type EmdDatacube,
  type EmdAxis,
  type EmdWriteOptions,
} from "./emd.js";
export { syntheticIfu, type SyntheticIfu, type SyntheticIfuOptions } from "./ifu.js";
export * from "./ps1.js";
