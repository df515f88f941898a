/**
 * Tilt-corrected bright-field (parallax) super-resolution of 4D-STEM datacubes: pure math on
 * row-major Float64Arrays that a stage runs on whole arrays or on blocks of detector pixels.
 * Steps: detect the bright-field disk and crop (disk), scan-plane spectra and correlations
 * with the reference image (correlate), sub-pixel shifts and quality (shifts), the aberration
 * fit (aberrations), shift-and-add and standard BF (reconstruct); `superResolve` runs them
 * all in memory, `fourierRingCorrelation` measures the result.
 */
export { SuperResError } from "./errors.js";
export {
  meanDiffraction,
  detectBrightField,
  cropBounds,
  detectorOffsets,
  diskPixels,
  type Shape4,
  type BrightFieldDisk,
  type CropBounds,
} from "./disk.js";
export {
  virtualImages,
  referencePixel,
  referenceImage,
  gaussianFilter,
  scanSpectra,
  correlateSpectra,
  type ComplexBlock,
  type CorrelationOptions,
} from "./correlate.js";
export { findShifts, type ShiftEstimate } from "./shifts.js";
export { fitAberrations, type AberrationFit, type AberrationFitOptions } from "./aberrations.js";
export { ShiftAndAdd, standardBrightField } from "./reconstruct.js";
export { fourierRingCorrelation, fourierUpsample } from "./frc.js";
export {
  blockFromPlanes,
  planesFromBlock,
  bigFTOfBlock,
  bigFTOfBand,
  type BandCut,
  correlationsOfBlock,
  shiftsOfBlock,
  fitShiftMaps,
  Reconstruction,
  type ShiftFitOptions,
} from "./blocks.js";
export { superResolve, type SuperResOptions, type SuperResResult } from "./pipeline.js";
export * from "./cache-errors.js";
export {
  Datacube,
  listDatacubes,
  EMD_DATACUBE_RE,
  type DatacubeEntry,
  type DatacubeKind,
  type OpenDatacubeOptions,
} from "./input.js";
export {
  SuperResCache,
  SuperResCacheReader,
  BlockGrid,
  chooseLayout,
  cachePathFor,
  cacheTimestamp,
  findCaches,
  listCaches,
  inspectCache,
  readCacheSnapshot,
  judgeCache,
  planResume,
  deleteBigFT,
  deleteCache,
  cleanupCaches,
  CACHE_VERSION,
  type CacheArray,
  type SuperResParameters,
  type DatacubeIdentity,
  type ResumeExpectation,
  type ResumePlan,
  type CacheVerdict,
  type CacheSnapshot,
  type CacheListing,
  type CacheMeta,
  type ParameterChange,
  type CreateCacheOptions,
  type LayoutChoice,
} from "./cache.js";
export {
  writeSuperResRun,
  listSuperResRuns,
  readSuperResRun,
  RESULTS_GROUP,
  type SuperResRun,
  type RunSummary,
} from "./results.js";
export {
  SuperResSession,
  resultsFileFor,
  type SuperResSessionOptions,
  type StepRunOptions,
  type StepReport,
  type DetectResult,
  type ShiftMaps,
  type ReconstructResult,
} from "./stages.js";
