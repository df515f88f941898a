// Direct region reads of plain 2-D Zarr v2 arrays: C order, little-endian, no filters, no
// compressor or zlib/gzip. The chunks a region touches are read concurrently and inflated
// straight into the region, without zarrita's general n-d path (its per-chunk views and
// strided copies): the pipeline's readers spend most of their time here. Anything else is
// left to zarrita.
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { DTYPES, type ZarrDtype, type ZarrTypedArray } from "./zarr.js";

/** Reads rows [y0, y1) x columns [x0, x1) (checked by the caller) into a new C-order array. */
export type DirectRegionReader = (
  y0: number,
  y1: number,
  x0: number,
  x1: number,
) => Promise<ZarrTypedArray>;

type ViewCtor = new (
  buffer: ArrayBufferLike,
  byteOffset?: number,
  length?: number,
) => ZarrTypedArray;

/**
 * A direct reader for the array whose `.zarray` is `meta`, stored in directory `dir`, or
 * undefined when the array is not of the plain kind (zarrita reads it then).
 */
export function directV2Reader(
  meta: Record<string, unknown>,
  dir: string,
  fillValue: number,
): DirectRegionReader | undefined {
  const shape = meta["shape"] as number[];
  const chunks = meta["chunks"] as number[];
  const compressor = meta["compressor"] as { id?: string } | null;
  const dtype = Object.keys(DTYPES).find((k) => DTYPES[k as ZarrDtype].v2 === meta["dtype"]) as
    ZarrDtype | undefined;
  const codec = compressor === null ? "none" : compressor.id;
  if (
    dtype === undefined ||
    shape?.length !== 2 ||
    chunks?.length !== 2 ||
    meta["order"] !== "C" ||
    (meta["filters"] ?? null) !== null ||
    !(codec === "none" || codec === "zlib" || codec === "gzip")
  )
    return undefined;
  const sep = (meta["dimension_separator"] as string | undefined) ?? ".";
  const [ch, cw] = chunks as [number, number];
  const Ctor = DTYPES[dtype].ctor as unknown as ViewCtor & { BYTES_PER_ELEMENT: number };
  const size = Ctor.BYTES_PER_ELEMENT;
  /** The chunk's values (a view when the inflated bytes are aligned, else a copy). */
  const decode = (file: Buffer): ZarrTypedArray => {
    const raw =
      codec === "zlib" ? zlib.inflateSync(file) : codec === "gzip" ? zlib.gunzipSync(file) : file;
    const n = raw.byteLength / size;
    if (raw.byteOffset % size === 0) return new Ctor(raw.buffer, raw.byteOffset, n);
    return new Ctor(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  };
  return async (y0, y1, x0, x1) => {
    const w = x1 - x0;
    const out = new DTYPES[dtype].ctor((y1 - y0) * w);
    const cy0 = Math.floor(y0 / ch);
    const cx0 = Math.floor(x0 / cw);
    const keys: [number, number][] = [];
    for (let cy = cy0; cy * ch < y1; cy++)
      for (let cx = cx0; cx * cw < x1; cx++) keys.push([cy, cx]);
    const files = await Promise.all(
      keys.map(([cy, cx]) =>
        fs.promises
          .readFile(path.join(dir, `${cy}${sep}${cx}`))
          .catch((err: NodeJS.ErrnoException) => {
            if (err.code === "ENOENT") return undefined;
            throw err;
          }),
      ),
    );
    keys.forEach(([cy, cx], k) => {
      const file = files[k];
      const chunk = file === undefined ? undefined : decode(file);
      if (chunk !== undefined && chunk.length !== ch * cw)
        throw new Error(
          `chunk ${cy}${sep}${cx} of ${dir} has ${chunk.length} values, not ${ch * cw}`,
        );
      const ya = Math.max(y0, cy * ch);
      const yb = Math.min(y1, (cy + 1) * ch);
      const xa = Math.max(x0, cx * cw);
      const xb = Math.min(x1, (cx + 1) * cw);
      for (let y = ya; y < yb; y++) {
        const to = (y - y0) * w + (xa - x0);
        if (chunk === undefined) out.fill(fillValue, to, to + xb - xa);
        else {
          const from = (y - cy * ch) * cw + (xa - cx * cw);
          out.set(chunk.subarray(from, from + xb - xa), to);
        }
      }
    });
    return out;
  };
}
