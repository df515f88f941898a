// Expected values for selections, computed from the formulas with plain index loops (not
// with the store's own selection code), and comparison helpers.
import assert from "node:assert/strict";
import type { DType } from "../../../src/index.js";
import { elementValue } from "./formula.mjs";

export type Sel =
  number | null | [number | null, number | null] | [number | null, number | null, number];

/** Indices an axis selection picks, by the documented rules (numpy-like, stop exclusive). */
export function axisIndices(sel: Sel | undefined, extent: number): number[] {
  if (sel === undefined || sel === null) return [...Array(extent).keys()];
  if (typeof sel === "number") return [sel < 0 ? extent + sel : sel];
  const [a, b, step = 1] = sel;
  const start = a === null ? 0 : a < 0 ? extent + a : a;
  const stop = b === null ? extent : b < 0 ? extent + b : b;
  const out: number[] = [];
  for (let i = start; i < stop; i += step) out.push(i);
  return out;
}

/**
 * The expected result of reading `sel` from a dataset of `shape` whose element at flat
 * C-order index k is `value(k)`: [resultShape, values in C order].
 */
export function expectSelection<V>(
  shape: number[],
  sel: Sel[],
  value: (k: number) => V,
): [number[], V[]] {
  const picks = shape.map((extent, axis) => axisIndices(sel[axis], extent));
  const out: V[] = [];
  const idx = new Array<number>(shape.length).fill(0);
  const total = picks.reduce((a, p) => a * p.length, 1);
  for (let n = 0; n < total; n++) {
    let k = 0;
    for (let axis = 0; axis < shape.length; axis++)
      k = k * shape[axis]! + picks[axis]![idx[axis]!]!;
    out.push(value(k));
    for (let axis = shape.length - 1; axis >= 0; axis--) {
      if (++idx[axis]! < picks[axis]!.length) break;
      idx[axis] = 0;
    }
  }
  return [picks.map((p) => p.length), out];
}

/** Flatten formula values to the typed-array entries of a dtype (complex -> re, im). */
export function entries(
  dtype: DType,
  values: (number | bigint | [number, number])[],
): (number | bigint)[] {
  return dtype.startsWith("complex")
    ? values.flatMap((v) => v as [number, number])
    : (values as (number | bigint)[]);
}

/** Typed-array entries equal to the expected ones (Object.is: NaN equals NaN, -0 is not 0). */
export function assertEntries(
  got: ArrayLike<number | bigint>,
  expected: (number | bigint)[],
  what: string,
): void {
  assert.equal(
    got.length,
    expected.length,
    `${what}: ${got.length} entries, expected ${expected.length}`,
  );
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(got[i], expected[i])) {
      assert.fail(`${what}: entry ${i} is ${String(got[i])}, expected ${String(expected[i])}`);
    }
  }
}

/** Expected entries of a whole dtype-pattern dataset selection. */
export function expectPattern(
  dtype: DType,
  shape: number[],
  sel: Sel[] = [],
): [number[], (number | bigint)[]] {
  const [s, vals] = expectSelection(shape, sel, (k) => elementValue(dtype, k));
  return [s, entries(dtype, vals)];
}
