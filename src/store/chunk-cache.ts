/**
 * A reader-side LRU of whole chunks, for small reads.
 *
 * h5wasm opens and closes the dataset on every call, so HDF5's own chunk cache never
 * survives between reads: each small slice re-reads (and re-inflates) its whole chunk.
 * Viewers read many small slices of the same chunks, so we keep recent chunks here.
 * The cache belongs to one open view of the file and is dropped on refresh, so it never
 * serves bytes from before a commit.
 */
export class ChunkCache {
  private readonly entries = new Map<string, Uint8Array>();
  private bytes = 0;

  constructor(readonly budgetBytes: number) {}

  get(key: string, load: () => Uint8Array): Uint8Array {
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    const value = load();
    if (value.byteLength <= this.budgetBytes) {
      this.entries.set(key, value);
      this.bytes += value.byteLength;
      for (const [k, v] of this.entries) {
        if (this.bytes <= this.budgetBytes) break;
        this.entries.delete(k);
        this.bytes -= v.byteLength;
      }
    }
    return value;
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }
}

/**
 * Copy an N-d block (C order) of `count` elements from `src` (extent `srcShape`, block at
 * `srcStart`) into `dst` (extent `dstShape`, block at `dstStart`), a contiguous run at a time.
 */
export function copyBlock(
  src: Uint8Array,
  srcShape: number[],
  srcStart: number[],
  dst: Uint8Array,
  dstShape: number[],
  dstStart: number[],
  count: number[],
  itemBytes: number,
): void {
  const rank = count.length;
  const srcStrides = stridesOf(srcShape, itemBytes);
  const dstStrides = stridesOf(dstShape, itemBytes);
  const runBytes = (count[rank - 1] ?? 1) * itemBytes;
  const outer = count.slice(0, -1);
  const idx = outer.map(() => 0);
  const nRuns = outer.reduce((a, b) => a * b, 1);
  for (let r = 0; r < nRuns; r++) {
    let so = 0;
    let d = 0;
    for (let a = 0; a < rank; a++) {
      const i = a < rank - 1 ? idx[a]! : 0;
      so += (srcStart[a]! + i) * srcStrides[a]!;
      d += (dstStart[a]! + i) * dstStrides[a]!;
    }
    dst.set(src.subarray(so, so + runBytes), d);
    for (let a = outer.length - 1; a >= 0; a--) {
      if (++idx[a]! < outer[a]!) break;
      idx[a] = 0;
    }
  }
}

function stridesOf(shape: number[], itemBytes: number): number[] {
  const s = new Array<number>(shape.length);
  let acc = itemBytes;
  for (let a = shape.length - 1; a >= 0; a--) {
    s[a] = acc;
    acc *= shape[a]!;
  }
  return s;
}
