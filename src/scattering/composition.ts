/**
 * Unit-cell inventories: what atoms one unit cell holds, and the independent-atom sums over
 * them as functions of |q| (1/A, |q| = 2 sin(theta)/lambda = 1/d; s = |q|/2 for the tables):
 *
 *   sum_j f0_j(|q|)^2     coherent independent-atom scattering per cell (electron units)
 *   sum_j S_j(|q|)        incoherent (Compton) scattering per cell (electron units)
 *   sum_j (Z_j - charge)  electrons per cell, F(000)
 *
 * An inventory is an object `{ C: 600, N: 160, O: 200, S: 8, H: 1000 }` (keys may be ions such as
 * "Fe2+" or PDB-style upper case "FE") or a formula string "C600 N160 O200 S8 H1000" (also
 * "C600N160O200S8H1000", "H2O"; elements only, counts may be decimals for partial occupancy),
 * optionally times a multiplier (the number of formula units per cell, e.g. Z = 4 in P212121).
 * Unknown symbols raise UnknownElementError naming the symbol.
 */

import { ScatteringError, UnknownElementError } from "./errors.js";
import { MAX_STOL, formFactors, parseScatterer } from "./form-factors.js";
import { incoherentScatterings } from "./incoherent.js";

/** Largest |q| (1/A) the sums accept: 2 * MAX_STOL. */
export const MAX_Q = 2 * MAX_STOL;

/** One species of a unit cell. */
export interface CompositionEntry {
  /** Canonical scatterer label ("C", "Fe2+"). */
  readonly label: string;
  readonly element: string;
  readonly z: number;
  readonly charge: number;
  /** Atoms of this species per unit cell. */
  readonly count: number;
}

/** A parsed, validated unit-cell inventory (species merged, counts per cell). */
export interface Composition {
  readonly kind: "composition";
  readonly entries: readonly CompositionEntry[];
}

/** What the functions here accept as an inventory. */
export type InventoryInput = Composition | string | Readonly<Record<string, number>>;

function checkCount(count: unknown, field: string, symbol?: string): number {
  if (typeof count !== "number" || !Number.isFinite(count) || count < 0) {
    throw new ScatteringError(`atom count must be a finite number >= 0, got ${String(count)}`, {
      field,
      symbol,
    });
  }
  return count;
}

function parseFormula(formula: string): [string, number][] {
  const out: [string, number][] = [];
  const tokens = formula
    .trim()
    .split(/[\s,;]+/)
    .filter((t) => t !== "");
  for (const token of tokens) {
    if (!/^(?:[A-Z][a-z]?(?:\d+(?:\.\d+)?|\.\d+)?)+$/.test(token)) {
      // Name the first piece that does not parse, so "C600 Xq12 N5" reports "Xq12".
      throw new UnknownElementError(
        `cannot parse "${token}" in formula "${formula}" (expected element symbols with counts, ` +
          `e.g. "C600 N160 O200 S8 H1000")`,
        { field: "inventory", symbol: token },
      );
    }
    for (const m of token.matchAll(/([A-Z][a-z]?)(\d+(?:\.\d+)?|\.\d+)?/g)) {
      const sym = m[1] ?? "";
      out.push([sym, m[2] === undefined ? 1 : Number(m[2])]);
    }
  }
  return out;
}

/**
 * Validates an inventory and merges repeated species. `multiplier` scales every count (e.g. the
 * number of asymmetric units per cell); it must be a finite number > 0.
 */
export function parseInventory(
  input: InventoryInput,
  options: { multiplier?: number } = {},
): Composition {
  const multiplier = options.multiplier ?? 1;
  if (!Number.isFinite(multiplier) || multiplier <= 0) {
    throw new ScatteringError(`multiplier must be a finite number > 0, got ${multiplier}`, {
      field: "multiplier",
    });
  }
  let pairs: [string, number][];
  if (typeof input === "string") {
    pairs = parseFormula(input);
  } else if (
    input !== null &&
    typeof input === "object" &&
    (input as Composition).kind === "composition"
  ) {
    pairs = (input as Composition).entries.map((e) => [e.label, e.count]);
  } else if (input !== null && typeof input === "object") {
    pairs = Object.entries(input as Record<string, number>);
  } else {
    throw new ScatteringError(`inventory must be an object of counts or a formula string`, {
      field: "inventory",
    });
  }
  const merged = new Map<string, CompositionEntry>();
  for (const [symbol, count] of pairs) {
    const sc = parseScatterer(symbol, { field: "inventory", requireFormFactor: true });
    const n = checkCount(count, `inventory.${symbol}`, symbol) * multiplier;
    const prev = merged.get(sc.label);
    merged.set(sc.label, {
      label: sc.label,
      element: sc.element,
      z: sc.z,
      charge: sc.charge,
      count: (prev?.count ?? 0) + n,
    });
  }
  const entries = [...merged.values()].filter((e) => e.count > 0);
  if (entries.length === 0) {
    throw new ScatteringError(`inventory holds no atoms`, { field: "inventory" });
  }
  return { kind: "composition", entries };
}

function asComposition(inv: InventoryInput): Composition {
  return typeof inv === "object" && (inv as Composition).kind === "composition"
    ? (inv as Composition)
    : parseInventory(inv);
}

/** Electrons per unit cell, F(000) = sum n (Z - charge). */
export function electronCount(inventory: InventoryInput): number {
  let n = 0;
  for (const e of asComposition(inventory).entries) n += e.count * (e.z - e.charge);
  return n;
}

/** Atoms per unit cell. */
export function atomCount(inventory: InventoryInput): number {
  let n = 0;
  for (const e of asComposition(inventory).entries) n += e.count;
  return n;
}

function stolOf(qAbs: ArrayLike<number>, field: string): Float64Array {
  const s = new Float64Array(qAbs.length);
  for (let i = 0; i < qAbs.length; i++) {
    const q = qAbs[i] ?? NaN;
    if (!Number.isFinite(q) || q < 0 || q > MAX_Q) {
      throw new ScatteringError(`|q| must be a finite number in [0, ${MAX_Q}] 1/A, got ${q}`, {
        field: `${field}[${i}]`,
      });
    }
    s[i] = q / 2;
  }
  return s;
}

/** sum_j f0_j(|q|)^2 per unit cell at every |q| (1/A). */
export function sumF0Squared(inventory: InventoryInput, qAbs: ArrayLike<number>): Float64Array {
  const comp = asComposition(inventory);
  const s = stolOf(qAbs, "qAbs");
  const out = new Float64Array(s.length);
  for (const e of comp.entries) {
    const f = formFactors(e.label, s);
    for (let i = 0; i < s.length; i++) {
      const fi = f[i] ?? 0;
      out[i] = (out[i] ?? 0) + e.count * fi * fi;
    }
  }
  return out;
}

/** sum_j S_j(|q|) per unit cell at every |q| (1/A); ions use their element's S. */
export function sumIncoherent(inventory: InventoryInput, qAbs: ArrayLike<number>): Float64Array {
  const comp = asComposition(inventory);
  const s = stolOf(qAbs, "qAbs");
  const out = new Float64Array(s.length);
  for (const e of comp.entries) {
    const S = incoherentScatterings(e.z, s);
    for (let i = 0; i < s.length; i++) out[i] = (out[i] ?? 0) + e.count * (S[i] ?? 0);
  }
  return out;
}

/** sum_j [f0_j^2 + S_j] per unit cell: the independent-atom total scattering. */
export function sumTotalIndependent(
  inventory: InventoryInput,
  qAbs: ArrayLike<number>,
): Float64Array {
  const a = sumF0Squared(inventory, qAbs);
  const b = sumIncoherent(inventory, qAbs);
  for (let i = 0; i < a.length; i++) a[i] = (a[i] ?? 0) + (b[i] ?? 0);
  return a;
}
