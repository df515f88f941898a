/**
 * Typed errors of the CubeFit solvers and the fit tracker. `field` names the offending
 * argument or file object (e.g. "pixelsPerAperture", "x0", "/Fit/x_ring") so a notebook user
 * knows which knob or dataset to look at.
 */
export class CubeFitSolveError extends Error {
  readonly field: string;

  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = new.target.name;
    this.field = field;
  }
}

/** The design source returned rows that do not match what it declared (sizes, NaNs). */
export class DesignShapeError extends CubeFitSolveError {}

/** An existing /Fit (or /X_global) does not match the problem being fitted (resume refused). */
export class FitLayoutMismatchError extends CubeFitSolveError {}

/** The tracker's writer thread failed; `cause` carries the thread's error (often a StoreError). */
export class FitTrackerError extends CubeFitSolveError {}

/** Throws unless `value` is an integer >= `min`. */
export function requireInt(field: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min)
    throw new CubeFitSolveError(field, `must be an integer >= ${min}, got ${value}`);
}

/** Throws unless `value` is a finite number in [min, max]. */
export function requireRange(field: string, value: number, min: number, max: number): void {
  if (!Number.isFinite(value) || value < min || value > max)
    throw new CubeFitSolveError(field, `must be a number in [${min}, ${max}], got ${value}`);
}

/** Throws unless `x` has `n` finite entries. */
export function requireVector(field: string, x: ArrayLike<number>, n: number): void {
  if (x.length !== n)
    throw new CubeFitSolveError(field, `has ${x.length} entries, the problem has ${n} columns`);
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(x[i]!))
      throw new CubeFitSolveError(field, `entry ${i} is ${x[i]} (must be finite)`);
  }
}
