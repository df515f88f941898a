// A 2-D Zarr v2 array encoded in memory (its `.zarray` and compressed chunks), then written as
// files. Splitting the two lets the pipeline compress in its worker threads, in parallel,
// while the single saver only writes bytes.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import {
  DirectoryStore,
  DTYPES,
  dtypeOf,
  ensureParentGroups,
  jsonBytes,
  normPath,
  v2ArrayMetadata,
  ZarrDtypeError,
  ZarrError,
  ZarrShapeError,
  type ZarrTypedArray,
} from "./zarr.js";

export interface EncodedZarrArray {
  /** The array's path in its store ("/a/b"). */
  path: string;
  /** The files of the array's directory: ".zarray", then chunks "i.j". */
  files: { key: string; bytes: Uint8Array }[];
}

export interface EncodeOptions {
  chunks: readonly [number, number];
  compressor: "none" | "zlib";
  /** zlib level (default 1). */
  level?: number;
  fillValue: number;
}

/**
 * Every chunk of a C-order 2-D array (edge chunks padded with the fill value, as zarr-python
 * writes them) and its metadata, in memory.
 */
export function encodeZarrV2(
  arrayPath: string,
  data: ZarrTypedArray,
  shape: readonly [number, number],
  opts: EncodeOptions,
): EncodedZarrArray {
  if (os.endianness() !== "LE") throw new ZarrError("encoding needs a little-endian machine");
  const dtype = dtypeOf(data);
  if (dtype === undefined) throw new ZarrDtypeError(`cannot store a ${data.constructor.name}`);
  const [h, w] = shape;
  const [ch, cw] = opts.chunks;
  if (data.length !== h * w)
    throw new ZarrShapeError(`data has ${data.length} elements, shape ${h} x ${w} needs ${h * w}`);
  if (!(ch >= 1 && cw >= 1)) throw new ZarrShapeError(`bad chunks ${JSON.stringify(opts.chunks)}`);
  const level = opts.level ?? 1;
  const meta = v2ArrayMetadata({
    shape,
    chunks: opts.chunks,
    dtype,
    compressor: opts.compressor,
    level,
    fillValue: opts.fillValue,
  });
  const files = [{ key: ".zarray", bytes: jsonBytes(meta) }];
  const Ctor = DTYPES[dtype].ctor;
  for (let cy = 0; cy * ch < h; cy++) {
    for (let cx = 0; cx * cw < w; cx++) {
      const chunk = new Ctor(ch * cw);
      const rows = Math.min(ch, h - cy * ch);
      const cols = Math.min(cw, w - cx * cw);
      if (rows < ch || cols < cw) chunk.fill(opts.fillValue);
      for (let y = 0; y < rows; y++) {
        const from = (cy * ch + y) * w + cx * cw;
        chunk.set(data.subarray(from, from + cols), y * cw);
      }
      const raw = new Uint8Array(chunk.buffer);
      const bytes =
        opts.compressor === "zlib" ? new Uint8Array(zlib.deflateSync(raw, { level })) : raw;
      files.push({ key: `${cy}.${cx}`, bytes });
    }
  }
  return { path: normPath(arrayPath), files };
}

/**
 * Write encoded arrays under `root`, each replacing whatever was at its path. The groups above
 * them are checked once per parent (a cell's image, weight and mask share theirs).
 */
export async function writeEncodedZarr(
  root: string,
  arrays: readonly EncodedZarrArray[],
): Promise<void> {
  const store = new DirectoryStore(root);
  const parents = new Set<string>();
  for (const array of arrays) {
    const dir = path.join(root, ...array.path.split("/").filter(Boolean));
    await fs.promises.rm(dir, { recursive: true, force: true });
    const parent = path.posix.dirname(array.path);
    if (!parents.has(parent)) {
      await ensureParentGroups(store, array.path === "/" ? "" : array.path, 2);
      parents.add(parent);
    }
    await fs.promises.mkdir(dir, { recursive: true });
    await Promise.all(
      array.files.map((f) => fs.promises.writeFile(path.join(dir, f.key), f.bytes)),
    );
  }
}
