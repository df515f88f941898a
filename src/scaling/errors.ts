/** Scaling and merging refuse bad input with this error, naming the problem. */
export class ScalingError extends Error {
  override name = "ScalingError";
}
