/** Is [start, start + count) a box of integer bounds inside `shape` (one entry per axis)? */
export function boxInside(
  start: readonly number[],
  count: readonly number[],
  shape: readonly number[],
): boolean {
  return (
    start.length === shape.length &&
    count.length === shape.length &&
    start.every(
      (s, a) =>
        Number.isInteger(s) &&
        Number.isInteger(count[a]) &&
        s >= 0 &&
        count[a]! >= 0 &&
        s + count[a]! <= shape[a]!,
    )
  );
}
