/**
 * Atomic X-ray form factors f0(s), s = sin(theta)/lambda in 1/Angstrom, from Waasmaier & Kirfel
 * (1995), Acta Cryst. A51, 416-431: f0(s) = sum_{i=1..5} a_i exp(-b_i s^2) + c, valid for
 * 0 <= s <= 6 1/A. Coefficients for H..U (Z = 1..92) and their WK1995 ions ("Fe2+", "O1-", ...)
 * are generated from cctbx by make_tables.py and are bit-identical to cctbx's float32 values.
 *
 * In this repo |q| = |s1 - s0| = 2 sin(theta)/lambda = 1/d, so s = |q| / 2 (see composition.ts
 * for the |q| front end).
 */

import { ScatteringError, UnknownElementError } from "./errors.js";
import { ELEMENT_SYMBOLS, WK1995_COEFFICIENTS, WK1995_LABELS } from "./form-factor-table.js";

/** Largest sin(theta)/lambda (1/A) served: the validity limit of the WK1995 fits. */
export const MAX_STOL = 6;

/** Number of elements covered (H..U). */
export const MAX_Z = ELEMENT_SYMBOLS.length;

const COEFFICIENTS = Float64Array.from(WK1995_COEFFICIENTS, (v) => Math.fround(v));
const LABEL_INDEX = new Map<string, number>(WK1995_LABELS.map((l, i) => [l, i]));
const Z_OF_SYMBOL = new Map<string, number>(ELEMENT_SYMBOLS.map((s, i) => [s, i + 1]));

/** A scatterer label split into element and charge. */
export interface Scatterer {
  /** Canonical WK1995 label: "Fe", "Fe2+", "O1-". */
  readonly label: string;
  /** Element symbol: "Fe". */
  readonly element: string;
  /** Atomic number. */
  readonly z: number;
  /** Formal charge (electrons = z - charge). */
  readonly charge: number;
}

/** Every label with a form factor: the 92 elements, then the WK1995 ions of those elements. */
export const FORM_FACTOR_LABELS: readonly string[] = WK1995_LABELS;

/** The element symbols H..U, index Z - 1. */
export const ELEMENTS: readonly string[] = ELEMENT_SYMBOLS;

function canonicalSymbol(raw: string): string {
  return raw.charAt(0).toUpperCase() + raw.slice(1).toLowerCase();
}

/**
 * Parses an element symbol or ion label. Accepts "Fe", "FE" (PDB style), "Fe2+", "Fe+2", "Na+",
 * "Cl-", "O1-", "O2-". Throws UnknownElementError (naming the label) for anything else, and for
 * an ion whose element is known but has no WK1995 entry when `requireFormFactor` is true.
 */
export function parseScatterer(
  label: string,
  options: { field?: string; requireFormFactor?: boolean } = {},
): Scatterer {
  const field = options.field;
  const m =
    typeof label === "string"
      ? /^\s*([A-Za-z]{1,2})(?:(\d*)([+-])|([+-])(\d*))?\s*$/.exec(label)
      : null;
  if (m === null) {
    throw new UnknownElementError(`"${String(label)}" is not an element symbol or ion label`, {
      field,
      symbol: String(label),
    });
  }
  const element = canonicalSymbol(m[1] ?? "");
  const z = Z_OF_SYMBOL.get(element);
  if (z === undefined) {
    throw new UnknownElementError(
      `unknown element symbol "${label.trim()}" (known: H..U, Z = 1..${MAX_Z})`,
      { field, symbol: label },
    );
  }
  const sign = m[3] ?? m[4];
  if (sign === undefined) return { label: element, element, z, charge: 0 };
  const digits = m[2] ?? m[5] ?? "";
  const n = digits === "" ? 1 : Number(digits);
  if (n === 0) return { label: element, element, z, charge: 0 };
  const charge = sign === "+" ? n : -n;
  const canonical = `${element}${n}${sign}`;
  if (options.requireFormFactor === true && !LABEL_INDEX.has(canonical)) {
    throw new UnknownElementError(
      `no Waasmaier-Kirfel form factor for ion "${label.trim()}" (${canonical}); ` +
        `use the neutral element "${element}" or another charge state`,
      { field, symbol: label },
    );
  }
  return { label: canonical, element, z, charge };
}

/** Atomic number of an element symbol or ion label ("Fe", "Fe3+", "FE"). */
export function atomicNumber(label: string): number {
  return parseScatterer(label).z;
}

/** Whether `label` (element or ion) has a WK1995 form factor. */
export function hasFormFactor(label: string): boolean {
  try {
    return LABEL_INDEX.has(parseScatterer(label).label);
  } catch {
    return false;
  }
}

/** The WK1995 coefficients of an element or ion. */
export interface Wk1995Coefficients {
  readonly label: string;
  readonly a: readonly [number, number, number, number, number];
  readonly b: readonly [number, number, number, number, number];
  readonly c: number;
}

function coefficientOffset(label: string, field?: string): number {
  const s = parseScatterer(label, { field, requireFormFactor: true });
  const i = LABEL_INDEX.get(s.label);
  if (i === undefined) {
    throw new UnknownElementError(`no Waasmaier-Kirfel form factor for "${label}"`, {
      field,
      symbol: label,
    });
  }
  return 11 * i;
}

/** The coefficients (float64 copies of cctbx's float32 values) for an element or ion. */
export function wk1995Coefficients(label: string): Wk1995Coefficients {
  const o = coefficientOffset(label);
  const c = (k: number): number => COEFFICIENTS[o + k] ?? NaN;
  return {
    label: parseScatterer(label).label,
    a: [c(0), c(1), c(2), c(3), c(4)],
    b: [c(5), c(6), c(7), c(8), c(9)],
    c: c(10),
  };
}

/** Throws unless 0 <= s <= MAX_STOL. */
export function checkStol(s: number, field = "stol"): void {
  if (!Number.isFinite(s) || s < 0 || s > MAX_STOL) {
    throw new ScatteringError(
      `sin(theta)/lambda must be a finite number in [0, ${MAX_STOL}] 1/A (the WK1995 range), got ${s}`,
      { field },
    );
  }
}

function f0At(o: number, s: number): number {
  const s2 = s * s;
  let f = COEFFICIENTS[o + 10] ?? NaN;
  for (let k = 0; k < 5; k++) {
    f += (COEFFICIENTS[o + k] ?? NaN) * Math.exp(-(COEFFICIENTS[o + 5 + k] ?? NaN) * s2);
  }
  return f;
}

/** f0 of an element or ion at s = sin(theta)/lambda (1/A), in electrons. */
export function formFactor(label: string, stol: number): number {
  const o = coefficientOffset(label, "label");
  checkStol(stol);
  return f0At(o, stol);
}

/** f0 of an element or ion at every s of `stol` (1/A). */
export function formFactors(label: string, stol: ArrayLike<number>): Float64Array {
  const o = coefficientOffset(label, "label");
  const out = new Float64Array(stol.length);
  for (let i = 0; i < stol.length; i++) {
    const s = stol[i] ?? NaN;
    checkStol(s, `stol[${i}]`);
    out[i] = f0At(o, s);
  }
  return out;
}
