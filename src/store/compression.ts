/**
 * Compression choices and their HDF5 filter ids. h5wasm applies one filter per dataset
 * (shuffle+gzip silently writes uncompressed), so a choice is exactly one filter.
 */
import { InvalidArgumentError } from "./errors.js";

export type Compression =
  | "none"
  | "gzip"
  | { gzip: number }
  | "zstd"
  | { zstd: number }
  | "blosc"
  | { blosc: { clevel?: number; shuffle?: boolean; cname?: BloscCodec } };

export type BloscCodec = "blosclz" | "lz4" | "lz4hc" | "snappy" | "zlib" | "zstd";
const BLOSC_CODES: Record<BloscCodec, number> = {
  blosclz: 0,
  lz4: 1,
  lz4hc: 2,
  snappy: 3,
  zlib: 4,
  zstd: 5,
};

export const FILTER_DEFLATE = 1;
export const FILTER_ZSTD = 32015;
export const FILTER_BLOSC = 32001;

export interface FilterChoice {
  id: number;
  options: number[];
}

export function filterFor(
  c: Compression | undefined,
  file: string,
  dataset: string,
): FilterChoice | null {
  if (c === undefined || c === "none") return null;
  if (c === "gzip") return { id: FILTER_DEFLATE, options: [4] };
  if (c === "zstd") return { id: FILTER_ZSTD, options: [3] };
  // Blosc's first four values are filled in by the filter; then level, shuffle, codec
  // (hdf5plugin's defaults: lz4, level 5, byte shuffle).
  if (c === "blosc") return { id: FILTER_BLOSC, options: [0, 0, 0, 0, 5, 1, BLOSC_CODES.lz4] };
  if (typeof c === "object" && "gzip" in c) {
    if (!Number.isInteger(c.gzip) || c.gzip < 0 || c.gzip > 9) {
      throw new InvalidArgumentError(`gzip level must be an integer 0-9, got ${c.gzip}`, {
        file,
        dataset,
      });
    }
    return { id: FILTER_DEFLATE, options: [c.gzip] };
  }
  if (typeof c === "object" && "zstd" in c) {
    if (!Number.isInteger(c.zstd) || c.zstd < 1 || c.zstd > 22) {
      throw new InvalidArgumentError(`zstd level must be an integer 1-22, got ${c.zstd}`, {
        file,
        dataset,
      });
    }
    return { id: FILTER_ZSTD, options: [c.zstd] };
  }
  if (typeof c === "object" && "blosc" in c) {
    const { clevel = 5, shuffle = true, cname = "lz4" } = c.blosc;
    if (!Number.isInteger(clevel) || clevel < 0 || clevel > 9 || !(cname in BLOSC_CODES)) {
      throw new InvalidArgumentError(
        `blosc needs clevel 0-9 and cname one of ${Object.keys(BLOSC_CODES).join(", ")}`,
        { file, dataset },
      );
    }
    return { id: FILTER_BLOSC, options: [0, 0, 0, 0, clevel, shuffle ? 1 : 0, BLOSC_CODES[cname]] };
  }
  throw new InvalidArgumentError(`unknown compression ${JSON.stringify(c)}`, { file, dataset });
}

/** A readable name for a filter pipeline, for summaries and the viewer's tree. */
export function describeFilters(
  filters: { id: number; name: string; options: number[] }[],
): string {
  if (filters.length === 0) return "none";
  return filters
    .map((f) => {
      if (f.id === FILTER_DEFLATE) return `gzip-${f.options[0] ?? "?"}`;
      if (f.id === FILTER_ZSTD) return `zstd-${f.options[0] ?? "?"}`;
      if (f.id === FILTER_BLOSC) {
        const codec = Object.entries(BLOSC_CODES).find(([, v]) => v === f.options[6])?.[0] ?? "?";
        return `blosc-${codec}-${f.options[4] ?? "?"}`;
      }
      return f.name || `filter ${f.id}`;
    })
    .join("+");
}
