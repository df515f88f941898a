/** Array algorithms for the pipelines: FFTs (numpy.fft semantics) on split complex arrays. */
export {
  FftPlan,
  fft,
  fft2,
  fft2Leading,
  fftPlan,
  fftshift2,
  fftshiftIndex,
  ifftshift2,
  ifftshiftIndex,
  rfft,
  type FftOptions,
  type LineSet,
} from "./fft.js";
