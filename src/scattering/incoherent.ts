/**
 * Incoherent (Compton) scattering functions S(s, Z), s = sin(theta)/lambda in 1/Angstrom, in
 * electron units (S -> Z as s -> infinity, S(0) = 0), for Z = 1..92. Data: Hubbell et al. (1975),
 * J. Phys. Chem. Ref. Data 4, 471, as tabulated in xraylib 4 (`SF_Compt(Z, q)`, whose `q` is
 * sin(theta)/lambda: xraylib's MomentTransf(E, 2theta) = E/12.398 sin(2theta/2)).
 *
 * Interpolation: xraylib evaluates S with a natural cubic spline through its per-element knots;
 * make_tables.py recovered those knots and we evaluate the same spline (knots kept up to just
 * past 10 1/A, which changes nothing above 3e-10 for s <= 6). Agreement with xraylib is
 * therefore at rounding level, not just within tolerance: the test suite checks every element at
 * 41 values of s in (0, 2] against |S - S_xraylib| <= 1e-3 max(S_xraylib, 1e-3 Z) and measures
 * at most 3e-12 on that scale. Below xraylib's first knot (s < 0.001 1/A, where xraylib refuses to extrapolate)
 * S = S(s0) (s/s0)^2, the small-s form of S; S(0) = 0.
 *
 * Ions: the tables are for neutral atoms; an ion label ("Fe2+") uses its element's S. The
 * difference is a few tenths of an electron at large s, negligible against the unit cell's total.
 */

import { ScatteringError } from "./errors.js";
import { MAX_STOL, checkStol, parseScatterer } from "./form-factors.js";
import { INCOHERENT_KNOTS } from "./incoherent-table.js";

interface Spline {
  readonly x: Float64Array;
  readonly y: Float64Array;
  readonly y2: Float64Array;
}

const SPLINES: (Spline | undefined)[] = [];

/** Natural cubic spline second derivatives (the tridiagonal solve of Numerical Recipes' spline). */
function naturalSpline(x: Float64Array, y: Float64Array): Float64Array {
  const n = x.length;
  const y2 = new Float64Array(n);
  const u = new Float64Array(n);
  for (let i = 1; i < n - 1; i++) {
    const xm = x[i - 1] ?? 0;
    const xi = x[i] ?? 0;
    const xp = x[i + 1] ?? 0;
    const sig = (xi - xm) / (xp - xm);
    const p = sig * (y2[i - 1] ?? 0) + 2;
    y2[i] = (sig - 1) / p;
    const d =
      ((y[i + 1] ?? 0) - (y[i] ?? 0)) / (xp - xi) - ((y[i] ?? 0) - (y[i - 1] ?? 0)) / (xi - xm);
    u[i] = ((6 * d) / (xp - xm) - sig * (u[i - 1] ?? 0)) / p;
  }
  y2[n - 1] = 0;
  for (let k = n - 2; k >= 0; k--) y2[k] = (y2[k] ?? 0) * (y2[k + 1] ?? 0) + (u[k] ?? 0);
  return y2;
}

function splineFor(z: number): Spline {
  const cached = SPLINES[z];
  if (cached !== undefined) return cached;
  const knots = INCOHERENT_KNOTS[z - 1];
  if (knots === undefined) throw new ScatteringError(`no incoherent table for Z = ${z}`);
  const n = knots.length / 2;
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    x[i] = knots[2 * i] ?? NaN;
    y[i] = knots[2 * i + 1] ?? NaN;
  }
  const spline = { x, y, y2: naturalSpline(x, y) };
  SPLINES[z] = spline;
  return spline;
}

function evaluate(sp: Spline, s: number): number {
  const { x, y, y2 } = sp;
  const x0 = x[0] ?? 0;
  if (s <= x0) {
    // xraylib's first knot is 0 (H) or 0.001 1/A; below it S ~ s^2.
    if (x0 <= 0 || s <= 0) return s <= 0 ? 0 : (y[0] ?? 0);
    const r = s / x0;
    return (y[0] ?? 0) * r * r;
  }
  // Bisection as in xraylib's splint: klo = last knot with x[klo] <= s.
  let lo = 0;
  let hi = x.length - 1;
  while (hi - lo > 1) {
    const k = (hi + lo) >> 1;
    if ((x[k] ?? 0) > s) hi = k;
    else lo = k;
  }
  const xl = x[lo] ?? 0;
  const xh = x[hi] ?? 0;
  const h = xh - xl;
  const a = (xh - s) / h;
  const b = (s - xl) / h;
  return (
    a * (y[lo] ?? 0) +
    b * (y[hi] ?? 0) +
    ((a * a * a - a) * (y2[lo] ?? 0) + (b * b * b - b) * (y2[hi] ?? 0)) * ((h * h) / 6)
  );
}

function zOf(element: string | number): number {
  if (typeof element === "number") {
    if (!Number.isInteger(element) || element < 1 || element > INCOHERENT_KNOTS.length) {
      throw new ScatteringError(
        `atomic number must be an integer in 1..${INCOHERENT_KNOTS.length}, got ${element}`,
        { field: "element" },
      );
    }
    return element;
  }
  return parseScatterer(element, { field: "element" }).z;
}

/** Incoherent scattering S (electrons) of an element (symbol, ion label or Z) at s = sin(theta)/lambda. */
export function incoherentScattering(element: string | number, stol: number): number {
  const sp = splineFor(zOf(element));
  checkStol(stol);
  return evaluate(sp, stol);
}

/** S of an element at every s of `stol` (1/A). */
export function incoherentScatterings(
  element: string | number,
  stol: ArrayLike<number>,
): Float64Array {
  const sp = splineFor(zOf(element));
  const out = new Float64Array(stol.length);
  for (let i = 0; i < stol.length; i++) {
    const s = stol[i] ?? NaN;
    checkStol(s, `stol[${i}]`);
    out[i] = evaluate(sp, s);
  }
  return out;
}

/** Largest s (1/A) served; same as the form factors'. */
export const MAX_INCOHERENT_STOL = MAX_STOL;
