/** Median of a list (sorted in place), the robust level of disk.ts and aberrations.ts. */
export function median(values: number[]): number {
  values.sort((a, b) => a - b);
  const h = values.length >> 1;
  return values.length % 2 ? values[h]! : 0.5 * (values[h - 1]! + values[h]!);
}
