/**
 * CubeFit (seed 003): a disk-backed spectral HyperCube models[s, c, p, l] and a global fit of
 * one non-negative weight vector x[C * P] that explains every spaxel's spectrum.
 *
 *   await populateCubeFile("cube.h5", inputs);      // the canonical layout (manager.ts)
 *   await ensureRebinAndResample("cube.h5");        // /R_T, /RebinMatrix, /TemplatesFFT(_R)
 *   await buildHyperCube("cube.h5", { signal });    // /HyperCube/models, resumable (hypercube.ts)
 *   const r = await HyperCubeReader.open("cube.h5"); r.readSpaxel(s); // a solver's rows (reader.ts)
 *   await reconstructModelCube("cube.h5", x);       // /ModelCube = A x
 */
export * from "./layout.js";
export { CubeFitError } from "./errors.js";
export {
  binEdges,
  binOverlaps,
  convolveDirect,
  kernelGeometry,
  losvdKernel,
  LosvdConvolver,
  RebinColumns,
  rebinOperator,
  denseRebinRows,
  templateRfft,
  TileComputer,
  type KernelGeometry,
  type Overlaps,
  type RebinOperator,
  type Spectrum,
  type TileBox,
  type TileContextData,
} from "./ops.js";
export {
  diagnoseRebinEdges,
  ensureRebinAndResample,
  guardInfo,
  populateCubeFile,
  updateCubeInputs,
  type CubeFitInputs,
  type EdgeDiagnosis,
  type GuardInfo,
  type NdInput,
  type PopulateOptions,
  type PopulateReport,
  type RebinReport,
} from "./manager.js";
export {
  buildHyperCube,
  compressHypercube,
  defaultModelChunks,
  formatHypercubeStatus,
  hypercubeStatus,
  repackCubeFile,
  TileGrid,
  type BuildOptions,
  type BuildReport,
  type HypercubeStatus,
  type ModelChunks,
  type RepackOptions,
  type RepackReport,
} from "./hypercube.js";
export {
  HyperCubeReader,
  modelCubeDigest,
  reconstructModelCube,
  type HyperCubeReaderOptions,
  type ReconstructOptions,
  type ReconstructReport,
  type SpaxelBlock,
} from "./reader.js";
export * from "./solve/index.js";
