// PS1 stack (asinh-compressed) pixel values <-> linear flux.
//
// Source: the Pan-STARRS IPP wiki page "asinh_compression"
// (http://svn.pan-starrs.ifa.hawaii.edu/trac/ipp/wiki/asinh_compression) and the PS1 archive
// notes on outerspace.stsci.edu ("the stack image pixel values have been non-linearly scaled
// using an asinh transformation … determined by the BSOFTEN/BOFFSET keywords"):
//
//   compress:   C = alpha * asinh((L - BOFFSET) / (2 * BSOFTEN))
//   linearise:  L = BOFFSET + BSOFTEN * (exp(C / alpha) - exp(-C / alpha))
//                 = BOFFSET + 2 * BSOFTEN * sinh(C * ln(10) / 2.5)
//   alpha = 2.5 * log10(e) = 2.5 / ln(10) = 1.0857362…
//
// C is the value after the FITS BSCALE/BZERO step (done by the FITS reader). Only stack images
// carry BOFFSET/BSOFTEN; warps are linear already (check for the keywords). NaN stays NaN.
// Arithmetic is float64; results are float32.

export const PS1_ASINH_ALPHA = 2.5 / Math.LN10;

export interface Ps1AsinhHeader {
  BOFFSET: number;
  BSOFTEN: number;
}

/** Thrown for missing or non-finite BOFFSET/BSOFTEN (or BSOFTEN <= 0). */
export class Ps1AsinhError extends Error {
  override readonly name = "Ps1AsinhError";
}

function check(h: Ps1AsinhHeader): void {
  if (!Number.isFinite(h.BOFFSET))
    throw new Ps1AsinhError(`BOFFSET must be finite, got ${h.BOFFSET}`);
  if (!(h.BSOFTEN > 0) || !Number.isFinite(h.BSOFTEN)) {
    throw new Ps1AsinhError(`BSOFTEN must be finite and > 0, got ${h.BSOFTEN}`);
  }
}

/** True when a FITS header (keyword -> value) has the asinh keywords (i.e. a PS1 stack). */
export function hasPs1Asinh(header: Record<string, unknown>): boolean {
  return typeof header["BOFFSET"] === "number" && typeof header["BSOFTEN"] === "number";
}

/** Linear flux from asinh-compressed stack values. */
export function ps1Linearize(values: ArrayLike<number>, header: Ps1AsinhHeader): Float32Array {
  check(header);
  const { BOFFSET: b, BSOFTEN: s } = header;
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    out[i] = b + 2 * s * Math.sinh(values[i]! / PS1_ASINH_ALPHA);
  }
  return out;
}

/** asinh-compressed stack values from linear flux (the inverse of {@link ps1Linearize}). */
export function ps1Compress(flux: ArrayLike<number>, header: Ps1AsinhHeader): Float32Array {
  check(header);
  const { BOFFSET: b, BSOFTEN: s } = header;
  const out = new Float32Array(flux.length);
  for (let i = 0; i < flux.length; i++) {
    out[i] = PS1_ASINH_ALPHA * Math.asinh((flux[i]! - b) / (2 * s));
  }
  return out;
}
