/**
 * The typed error of CubeFit: bad inputs (shapes, grids, LOSVDs, pixel maps), files that lack
 * what a step needs, and options that cannot work. `field` names the offending argument or
 * dataset (e.g. "datacube", "temPix", "/R_T", "chunks") so a notebook user knows what to fix;
 * `file` is set when the problem is in a file.
 */
export class CubeFitError extends Error {
  readonly field: string;
  readonly file: string | undefined;

  constructor(field: string, message: string, file?: string) {
    super(`${file ? `${file}: ` : ""}${field}: ${message}`);
    this.name = new.target.name;
    this.field = field;
    this.file = file;
  }
}

/** Throws unless `value` is an integer >= `min` (sizes, chunk lengths, counts). */
export function requireInt(field: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min)
    throw new CubeFitError(field, `must be an integer >= ${min}, got ${value}`);
}
