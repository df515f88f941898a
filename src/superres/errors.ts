/**
 * The typed error of the super-resolution math: bad shapes, radii, factors or parameters.
 * `field` names the offending argument (e.g. "shape", "radiusPx", "factor") so a stage can
 * point at the parameter a user has to change.
 */
export class SuperResError extends Error {
  readonly field: string;

  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = new.target.name;
    this.field = field;
  }
}

/** Throws unless `value` is an integer >= `min` (shapes, counts, factors). */
export function requireInteger(field: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min)
    throw new SuperResError(field, `must be an integer >= ${min}, got ${value}`);
}

/** Throws unless `array` holds exactly `expected` values (an array and its stated shape). */
export function requireLength(field: string, array: ArrayLike<number>, expected: number): void {
  if (array.length !== expected)
    throw new SuperResError(field, `has ${array.length} values, the shape says ${expected}`);
}
