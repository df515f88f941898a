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

/** The header's BOFFSET/BSOFTEN, checked: finite, BSOFTEN > 0. */
export function checkedAsinh(h: Ps1AsinhHeader): Ps1AsinhHeader {
  if (!Number.isFinite(h.BOFFSET))
    throw new Ps1AsinhError(`BOFFSET must be finite, got ${h.BOFFSET}`);
  if (!(h.BSOFTEN > 0) || !Number.isFinite(h.BSOFTEN)) {
    throw new Ps1AsinhError(`BSOFTEN must be finite and > 0, got ${h.BSOFTEN}`);
  }
  return h;
}

/** True when a FITS header (keyword -> value) has the asinh keywords (i.e. a PS1 stack). */
export function hasPs1Asinh(header: Record<string, unknown>): boolean {
  return typeof header["BOFFSET"] === "number" && typeof header["BSOFTEN"] === "number";
}

const LN10_OVER_2_5 = 1 / PS1_ASINH_ALPHA;

/**
 * One linear value, rounded to float32, from a compressed value c (boffset, bsoften checked).
 * 2 sinh(u) = t - 1/t with t = exp(u): one exp instead of Math.sinh's two, which halves the
 * cost of combining bands; below |u| = 1e-3 the difference cancels too much, so Math.sinh.
 */
export function linearize(c: number, boffset: number, bsoften: number): number {
  const u = c * LN10_OVER_2_5;
  if (Math.abs(u) < 1e-3) return Math.fround(boffset + 2 * bsoften * Math.sinh(u));
  const t = Math.exp(u);
  return Math.fround(boffset + bsoften * (t - 1 / t));
}

/** Linear flux from asinh-compressed stack values. */
export function ps1Linearize(values: ArrayLike<number>, header: Ps1AsinhHeader): Float32Array {
  const { BOFFSET: b, BSOFTEN: s } = checkedAsinh(header);
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = linearize(values[i]!, b, s);
  return out;
}

/** asinh-compressed stack values from linear flux (the inverse of {@link ps1Linearize}). */
export function ps1Compress(flux: ArrayLike<number>, header: Ps1AsinhHeader): Float32Array {
  const { BOFFSET: b, BSOFTEN: s } = checkedAsinh(header);
  const out = new Float32Array(flux.length);
  for (let i = 0; i < flux.length; i++) {
    out[i] = PS1_ASINH_ALPHA * Math.asinh((flux[i]! - b) / (2 * s));
  }
  return out;
}
