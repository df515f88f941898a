/**
 * CubeFit solvers: the seed's global Kaczmarz (live, resumable), the exact NNLS on streamed
 * normal equations with a KKT certificate, and the fit tracker that writes /Fit from its own
 * thread. Explicit names: the small helpers (argument checks, kernels) stay internal.
 */
export {
  CubeFitSolveError,
  DesignShapeError,
  FitLayoutMismatchError,
  FitTrackerError,
} from "./errors.js";
export {
  InMemoryDesign,
  checkSpaxel,
  residualSumOfSquares,
  type DesignSource,
  type SpaxelRows,
} from "./design.js";
export {
  chooseRows,
  jacobiSeed,
  kaczmarzConfig,
  kaczmarzRow,
  ratioPlan,
  ratioStep,
  resolveStart,
  solveKaczmarz,
  type BatchInfo,
  type EpochInfo,
  type JacobiSeedOptions,
  type KaczmarzConfig,
  type KaczmarzOptions,
  type KaczmarzProgress,
  type KaczmarzResult,
  type RatioOptions,
  type RatioPlan,
  type RowOrder,
  type StartChoice,
} from "./kaczmarz.js";
export {
  GramAccumulator,
  normalEquations,
  type NormalEquations,
  type NormalEquationsOptions,
} from "./gram.js";
export {
  compareToOptimum,
  gradient,
  kktResidual,
  nnlsFit,
  objectiveFromNormal,
  solveNnls,
  type NnlsFitOptions,
  type NnlsOptions,
  type NnlsResult,
  type OptimumComparison,
} from "./nnls.js";
export { FitTracker, TRACKER_DEFAULTS, type SaveResult, type TrackerConfig } from "./tracker.js";
export { readFitStart, solveAll, type SolveAllOptions, type SolveAllResult } from "./runner.js";
