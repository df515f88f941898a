// The pipeline's output (the seed's file organisation):
//
//   <dataRoot>/convolved_results/sector_SSSS/camera_C/ccd_D/
//     convolved_images.zarr/<PPPP>/<skycell>/image   float32 [H, W] convolved flux (NaN: no support)
//                                           /weight  float32 [H, W] G*w, the smoothed valid fraction
//                                           /mask    uint16  [H, W] combined PS1 mask bits
//     cell_metadata.json                              run parameters, rows done, cells, failures
//
// The metadata file is the record of completion: a row is listed only after every one of its
// cells was written, and the file is replaced atomically (write, fsync, rename). Arrays of a
// row that is not listed may be partial; a resumed run rewrites them whole.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { SkycellConfig } from "./config.js";
import {
  formatSkycellName,
  parseSkycellName,
  projectionDirName,
  SkycellMissingError,
  type CellListRow,
} from "./dataset.js";
import { readZarr, ZarrNotFoundError } from "./zarr.js";

export const OUTPUT_FORMAT = "stagelab.ps1-convolved.v1";
export const OUTPUT_STORE_NAME = "convolved_images.zarr";
export const METADATA_NAME = "cell_metadata.json";

export interface TessCcdId {
  sector: number;
  camera: number;
  ccd: number;
}

/** The settings a result depends on: a resumed run must use the same ones. */
export interface RunParameters {
  psfSigmaPx: number;
  truncate: number;
  overlapPx: number;
  edgeExclusionPx: number;
  padPx: number;
  minWeight: number;
  bandWeights: Record<string, number>;
  badMaskBits: number;
  /** Of the cell list and the listed cells' stored headers (see inputFingerprint). */
  inputFingerprint: string;
}

export interface CellRecord {
  projection: number;
  index: number;
  row: number;
  col: number;
  /** Mosaic (projection) px of the cell's first pixel. */
  originPx: [number, number];
  shape: [number, number];
  /** Its WCS/stack header (of the first band read), as stored. */
  header?: Record<string, unknown>;
}

export interface FailedCell {
  name: string;
  projection: number;
  /** What failed: the read, the band combination, or the gathering (timeout). */
  stage: "read" | "combine" | "gather" | "save";
  message: string;
  /** True when the cell is a neighbour read only for padding. */
  padding: boolean;
}

export interface RowRecord {
  projection: number;
  row: number;
  cells: string[];
  completedAt: string;
  /** Listed cells of the row not written, and neighbours whose padding was missing. */
  failed: FailedCell[];
}

export interface OutputMetadata {
  format: typeof OUTPUT_FORMAT;
  parameters: RunParameters;
  /** Where the inputs were (for the reader; moving them does not stop a resume). */
  inputs: { store: string; cellList: string };
  rows: RowRecord[];
  cells: Record<string, CellRecord>;
}

export class SkycellResumeError extends Error {
  override readonly name = "SkycellResumeError";
}

export function outputDir(dataRoot: string, ccd: TessCcdId): string {
  return path.join(
    dataRoot,
    "convolved_results",
    `sector_${String(ccd.sector).padStart(4, "0")}`,
    `camera_${ccd.camera}`,
    `ccd_${ccd.ccd}`,
  );
}

export function runParameters(c: SkycellConfig, inputFingerprint: string): RunParameters {
  return {
    psfSigmaPx: c.psfSigmaPx,
    truncate: c.truncate,
    overlapPx: c.overlapPx,
    edgeExclusionPx: c.edgeExclusionPx,
    padPx: c.padPx,
    minWeight: c.minWeight,
    bandWeights: { ...c.bandWeights },
    badMaskBits: c.badMaskBits,
    inputFingerprint,
  };
}

/**
 * A digest of the inputs a result depends on, cheap to take: the cell list's bytes and the
 * stored attributes (headers with each cell's own BOFFSET/BSOFTEN) of every listed cell's
 * bands. Regenerated or replaced inputs at the same paths change it, so a resume never mixes
 * old output with new data; moved inputs keep it.
 */
export function inputFingerprint(
  storeRoot: string,
  cellListPath: string,
  cells: readonly CellListRow[],
  bands: readonly string[],
): string {
  const h = createHash("sha256");
  h.update(fs.readFileSync(cellListPath));
  for (const c of cells)
    for (const style of ["plain", "rings"] as const) {
      const dir = path.join(
        storeRoot,
        projectionDirName(c.projection),
        formatSkycellName(c.projection, c.index, style),
      );
      for (const b of bands) {
        const attrs = path.join(dir, b, "image", ".zattrs");
        if (fs.existsSync(attrs)) h.update(`${c.skycell}/${b}:`).update(fs.readFileSync(attrs));
      }
    }
  return h.digest("hex").slice(0, 32);
}

/**
 * The metadata of an earlier run into `dir`, or undefined when there is none. Throws
 * SkycellResumeError when it is unreadable or was made with other parameters (its results
 * would mix with these).
 */
export function readOutputMetadata(dir: string, wanted: RunParameters): OutputMetadata | undefined {
  const file = path.join(dir, METADATA_NAME);
  if (!fs.existsSync(file)) return undefined;
  let meta: OutputMetadata;
  try {
    meta = JSON.parse(fs.readFileSync(file, "utf8")) as OutputMetadata;
  } catch (e) {
    throw new SkycellResumeError(
      `${file} is not valid JSON (${(e as Error).message}); move it away or run with fresh: true`,
    );
  }
  if (meta.format !== OUTPUT_FORMAT || !Array.isArray(meta.rows) || typeof meta.cells !== "object")
    throw new SkycellResumeError(`${file} is not a ${OUTPUT_FORMAT} metadata file`);
  const changed = (Object.keys(wanted) as (keyof RunParameters)[]).filter(
    (k) => JSON.stringify(meta.parameters?.[k]) !== JSON.stringify(wanted[k]),
  );
  if (changed.length)
    throw new SkycellResumeError(
      `${dir} holds results made ${changed
        .map((k) =>
          k === "inputFingerprint"
            ? "from other inputs (the cell list or the stored cells changed)"
            : `with ${k}: ${JSON.stringify(meta.parameters?.[k])} (now ${JSON.stringify(wanted[k])})`,
        )
        .join("; ")}; use another output directory or fresh: true`,
    );
  return meta;
}

/**
 * Remove what a killed writer left of an atomic metadata write (its temporary files): called
 * by the single writer when it opens the output, before it writes.
 */
export function removeStaleMetadataTemporaries(dir: string): void {
  for (const f of fs.readdirSync(dir))
    if (f.startsWith(`${METADATA_NAME}.tmp-`)) fs.rmSync(path.join(dir, f), { force: true });
}

/** Replace the metadata file atomically: a reader sees the old or the new, never half. */
export function writeOutputMetadata(dir: string, meta: OutputMetadata): void {
  const file = path.join(dir, METADATA_NAME);
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, "w");
  try {
    fs.writeSync(fd, JSON.stringify(meta, null, 1));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

/** Rows completed without failures (a resumed run skips these, and retries the others). */
export function completedRows(meta: OutputMetadata | undefined): Set<string> {
  return new Set(
    (meta?.rows ?? [])
      .filter((r) => !r.failed.some((f) => !f.padding))
      .map((r) => rowKey(r.projection, r.row)),
  );
}

export const rowKey = (projection: number, row: number): string => `${projection}/${row}`;

/**
 * One convolved cell of an output directory, by either form of its name: `image` (float32
 * flux, NaN without support), `weight` (G*w) or `mask` (uint16 PS1 bits).
 */
export async function readConvolvedCell(
  dir: string,
  skycellName: string,
  what: "image" | "weight" | "mask" = "image",
): Promise<{ data: Float32Array | Uint16Array; shape: [number, number] }> {
  const id = parseSkycellName(skycellName);
  const root = path.join(dir, OUTPUT_STORE_NAME);
  for (const style of ["plain", "rings"] as const) {
    const name = formatSkycellName(id.projection, id.index, style);
    try {
      const r = await readZarr(root, `${projectionDirName(id.projection)}/${name}/${what}`);
      return { data: r.data as Float32Array | Uint16Array, shape: r.shape as [number, number] };
    } catch (e) {
      if (!(e instanceof ZarrNotFoundError)) throw e;
    }
  }
  throw new SkycellMissingError(
    root,
    id.projection,
    skycellName,
    `no convolved ${what} of ${skycellName} (either name form) in ${root}`,
  );
}
