// The on-disk contract of the PS1 skycell input (issue 9): store layout, skycell names, the
// per-CCD cell list (CSV) and the PS1 -> TESS-like band combination. Written by the synthetic
// generator (src/synth/ps1.ts), read by the pipeline.
//
// Store (Zarr v2 directory store, every level a group, so zarr-python's open_group walks it):
//
//   <storeRoot>/.zgroup
//   <storeRoot>/<PPPP>/.zgroup, .zattrs      projection group; attrs: layout, projection, grid
//                                            [ny, nx], cellShape [H, W], overlapPx, bands,
//                                            crvalDeg [RA, Dec], crpixPx [CRPIX1, CRPIX2] (FITS,
//                                            1-based, of the whole projection grid),
//                                            pixelScaleArcsec
//   <storeRoot>/<PPPP>/<skycell>/.zgroup, .zattrs   cell group; attrs: projection, index, row,
//                                            col, originPx [y0, x0]
//   <storeRoot>/<PPPP>/<skycell>/<band>/image  float32 [H, W], asinh-compressed stack values;
//                                            attrs.header = FITS-like header (Ps1StackHeader)
//   <storeRoot>/<PPPP>/<skycell>/<band>/mask   uint16 [H, W], PS1 mask bits (PS1_MASK)
//
// PPPP is the 4-digit projection id; <skycell> is either `skycell.PPPP.YYY` or
// `rings.v3.skycell.PPPP.YYY` (stores mix both; readers try both). YYY = row * nx + col.
// Frames: arrays are [y, x] (row-major, y = FITS axis 2). A cell at grid (row, col) has its local
// pixel (0, 0) at global projection pixel originPx = (row * stepY, col * stepX), step = size -
// overlapPx, so neighbouring cells share `overlapPx` rows/columns of identical sky. FITS pixel
// numbers are 1-based: FITS (x, y) = (local x + 1, local y + 1), and a cell's CRPIX is the
// projection's CRPIX minus its origin, so every cell header describes the same tangent plane.
import fs from "node:fs";
import path from "node:path";
import { createZarrArray, openZarrArray, ZarrError, type ZarrCompressor } from "./zarr.js";
import { checkedAsinh, linearize, type Ps1AsinhHeader } from "./asinh.js";

// --- bands and mask bits -----------------------------------------------------------------------

export const PS1_BANDS = ["g", "r", "i", "z", "y"] as const;
export type Ps1Band = (typeof PS1_BANDS)[number];
export type Ps1BandWeights = Partial<Record<Ps1Band, number>>;

/**
 * Weights of the PS1 bands in a TESS-like broad band (600-1000 nm). Illustrative defaults, not a
 * fitted transmission match: pass your own weights to combineBands.
 */
export const DEFAULT_TESS_BAND_WEIGHTS: Readonly<Record<Ps1Band, number>> = {
  g: 0,
  r: 0.24,
  i: 0.41,
  z: 0.25,
  y: 0.1,
};

/** PS1 mask bits (IPP masks.16bit.config, as listed in the PS1 archive's pixel flag table). */
export const PS1_MASK = {
  FLAT: 0x0002,
  DARK: 0x0004,
  BLANK: 0x0008,
  CTE: 0x0010,
  SAT: 0x0020,
  LOW: 0x0040,
  SUSPECT: 0x0080,
  CR: 0x0100,
  SPIKE: 0x0200,
  GHOST: 0x0400,
  STREAK: 0x0800,
  STARCORE: 0x1000,
  CONV_BAD: 0x2000,
  CONV_POOR: 0x4000,
} as const;

/** Bits that make a pixel unusable by default (the others only flag it). */
export const PS1_DEFAULT_BAD_MASK =
  PS1_MASK.FLAT | PS1_MASK.DARK | PS1_MASK.BLANK | PS1_MASK.SAT | PS1_MASK.CR | PS1_MASK.CONV_BAD;

/** PS1 stack pixel scale (arcsec per pixel). */
export const PS1_PIXEL_SCALE_ARCSEC = 0.25;

/** Version tag in every projection group's attributes. */
export const PS1_STORE_LAYOUT = "stagelab.ps1-skycells.v1";

/** Conventional store directory name under a data root. */
export const DEFAULT_PS1_STORE_NAME = "ps1_skycells.zarr";

// --- errors --------------------------------------------------------------------------------------

export class SkycellError extends Error {
  override name = "SkycellError";
}
/** Not a `skycell.PPPP.YYY` / `rings.v3.skycell.PPPP.YYY` name. */
export class SkycellNameError extends SkycellError {
  override name = "SkycellNameError";
}
/** A bad cell list: `file`, 1-based `line` and `column` name where (when known). */
export class SkycellCsvError extends SkycellError {
  override name = "SkycellCsvError";
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly column: string | undefined,
    detail: string,
  ) {
    super(
      `${file}${line === undefined ? "" : `:${line}`}` +
        `${column === undefined ? "" : ` (column ${column})`}: ${detail}`,
    );
  }
}
/** A projection or cell the store does not have (the pipeline treats it as "no data"). */
export class SkycellMissingError extends SkycellError {
  override name = "SkycellMissingError";
  constructor(
    readonly storeRoot: string,
    readonly projection: number,
    readonly skycell: string | undefined,
    detail: string,
  ) {
    super(detail);
  }
}
/** Store content that breaks the layout (corrupt metadata, mismatched shapes or dtypes). */
export class SkycellStoreError extends SkycellError {
  override name = "SkycellStoreError";
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super(`${path}: ${detail}`);
  }
}

// --- names ---------------------------------------------------------------------------------------

export type SkycellNameStyle = "plain" | "rings";

export interface SkycellId {
  projection: number;
  /** row * nx + col within the projection. */
  index: number;
  /** The name as given. */
  name: string;
  style: SkycellNameStyle;
}

const NAME_RE = /^(rings\.v3\.)?skycell\.(\d{4})\.(\d{3})$/;

export function parseSkycellName(name: string): SkycellId {
  const m = NAME_RE.exec(name);
  if (!m) {
    throw new SkycellNameError(
      `bad skycell name ${JSON.stringify(name)}: expected skycell.PPPP.YYY or rings.v3.skycell.PPPP.YYY`,
    );
  }
  return { projection: Number(m[2]), index: Number(m[3]), name, style: m[1] ? "rings" : "plain" };
}

function checkProjectionId(projection: number): void {
  if (!Number.isInteger(projection) || projection < 0 || projection > 9999) {
    throw new SkycellNameError(`projection id must be an integer 0..9999, got ${projection}`);
  }
}

export function formatSkycellName(
  projection: number,
  index: number,
  style: SkycellNameStyle = "plain",
): string {
  checkProjectionId(projection);
  if (!Number.isInteger(index) || index < 0 || index > 999) {
    throw new SkycellNameError(`skycell index must be an integer 0..999, got ${index}`);
  }
  const plain = `skycell.${String(projection).padStart(4, "0")}.${String(index).padStart(3, "0")}`;
  return style === "rings" ? `rings.v3.${plain}` : plain;
}

/** The projection group's directory name (4 digits). */
export function projectionDirName(projection: number): string {
  checkProjectionId(projection);
  return String(projection).padStart(4, "0");
}

// --- projection geometry -------------------------------------------------------------------------

export interface ProjectionInfo {
  projection: number;
  /** Skycell grid [ny, nx]. */
  grid: [number, number];
  /** Pixels per cell [H, W]. */
  cellShape: [number, number];
  /** Rows/columns shared by neighbouring cells. */
  overlapPx: number;
  bands: Ps1Band[];
  /** Tangent point [RA, Dec] (CRVAL1, CRVAL2). */
  crvalDeg: [number, number];
  /** FITS reference pixel [CRPIX1 (x), CRPIX2 (y)] of the whole projection grid (1-based). */
  crpixPx: [number, number];
  pixelScaleArcsec: number;
}

/** Global pixel step between neighbouring cells [stepY, stepX]. */
export function cellStepPx(
  info: Pick<ProjectionInfo, "cellShape" | "overlapPx">,
): [number, number] {
  return [info.cellShape[0] - info.overlapPx, info.cellShape[1] - info.overlapPx];
}

/** Size [height, width] of the pixel grid the projection's cells cover. */
export function projectionShapePx(
  info: Pick<ProjectionInfo, "grid" | "cellShape" | "overlapPx">,
): [number, number] {
  const [sy, sx] = cellStepPx(info);
  return [(info.grid[0] - 1) * sy + info.cellShape[0], (info.grid[1] - 1) * sx + info.cellShape[1]];
}

export interface CellPlacement {
  index: number;
  row: number;
  col: number;
  /** Global projection pixel [y0, x0] of the cell's local (0, 0). */
  originPx: [number, number];
}

export function cellPlacement(
  info: Pick<ProjectionInfo, "projection" | "grid" | "cellShape" | "overlapPx">,
  index: number,
): CellPlacement {
  const [ny, nx] = info.grid;
  if (!Number.isInteger(index) || index < 0 || index >= ny * nx) {
    throw new SkycellError(
      `skycell index ${index} is outside projection ${info.projection}'s ${ny}x${nx} grid`,
    );
  }
  const row = Math.floor(index / nx);
  const col = index % nx;
  const [sy, sx] = cellStepPx(info);
  return { index, row, col, originPx: [row * sy, col * sx] };
}

function checkProjectionInfo(info: ProjectionInfo, where: string): void {
  const bad = (what: string) => new SkycellStoreError(where, `bad projection attributes: ${what}`);
  const posInts = (v: unknown, n: number) =>
    Array.isArray(v) && v.length === n && v.every((k) => Number.isInteger(k) && k > 0);
  const finite = (v: unknown, n: number) =>
    Array.isArray(v) && v.length === n && v.every((k) => Number.isFinite(k));
  if (!Number.isInteger(info.projection)) throw bad("projection");
  if (!posInts(info.grid, 2)) throw bad(`grid ${JSON.stringify(info.grid)}`);
  if (info.grid[0] * info.grid[1] > 1000) throw bad("more than 1000 cells (3-digit index)");
  if (!posInts(info.cellShape, 2)) throw bad(`cellShape ${JSON.stringify(info.cellShape)}`);
  if (
    !Number.isInteger(info.overlapPx) ||
    info.overlapPx < 0 ||
    info.overlapPx >= Math.min(...info.cellShape)
  ) {
    throw bad(`overlapPx ${info.overlapPx} (cellShape ${JSON.stringify(info.cellShape)})`);
  }
  if (
    !Array.isArray(info.bands) ||
    info.bands.length === 0 ||
    info.bands.some((b) => !PS1_BANDS.includes(b)) ||
    new Set(info.bands).size !== info.bands.length
  ) {
    throw bad(`bands ${JSON.stringify(info.bands)}`);
  }
  if (!finite(info.crvalDeg, 2)) throw bad("crvalDeg");
  if (!finite(info.crpixPx, 2)) throw bad("crpixPx");
  if (!(info.pixelScaleArcsec > 0)) throw bad("pixelScaleArcsec");
}

// Group metadata by hand: zarr.ts only writes arrays (and bare parent .zgroup files).
async function writeGroup(dir: string, attrs?: Record<string, unknown>): Promise<void> {
  await fs.promises.mkdir(dir, { recursive: true });
  await fs.promises.writeFile(path.join(dir, ".zgroup"), JSON.stringify({ zarr_format: 2 }));
  if (attrs) await fs.promises.writeFile(path.join(dir, ".zattrs"), JSON.stringify(attrs, null, 2));
}

/** Create (or rewrite) the store root and a projection group with its grid attributes. */
export async function writeProjectionInfo(storeRoot: string, info: ProjectionInfo): Promise<void> {
  const dir = path.join(storeRoot, projectionDirName(info.projection));
  checkProjectionInfo(info, dir);
  await writeGroup(storeRoot);
  await writeGroup(dir, { layout: PS1_STORE_LAYOUT, ...info });
}

export async function readProjectionInfo(
  storeRoot: string,
  projection: number,
): Promise<ProjectionInfo> {
  const dir = path.join(storeRoot, projectionDirName(projection));
  let text: string;
  try {
    text = await fs.promises.readFile(path.join(dir, ".zattrs"), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    if (fs.existsSync(path.join(dir, ".zgroup"))) {
      throw new SkycellStoreError(dir, "projection group has no .zattrs");
    }
    throw new SkycellMissingError(
      storeRoot,
      projection,
      undefined,
      `projection ${projection} is not in the store ${storeRoot}`,
    );
  }
  let a: Record<string, unknown>;
  try {
    a = JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new SkycellStoreError(path.join(dir, ".zattrs"), `not JSON: ${(err as Error).message}`);
  }
  if (a["layout"] !== PS1_STORE_LAYOUT) {
    throw new SkycellStoreError(
      dir,
      `layout ${JSON.stringify(a["layout"])}, expected ${PS1_STORE_LAYOUT}`,
    );
  }
  const info = {
    projection: a["projection"],
    grid: a["grid"],
    cellShape: a["cellShape"],
    overlapPx: a["overlapPx"],
    bands: a["bands"],
    crvalDeg: a["crvalDeg"],
    crpixPx: a["crpixPx"],
    pixelScaleArcsec: a["pixelScaleArcsec"],
  } as ProjectionInfo;
  checkProjectionInfo(info, dir);
  if (info.projection !== projection) {
    throw new SkycellStoreError(dir, `attributes are for projection ${info.projection}`);
  }
  return info;
}

// --- headers and WCS -----------------------------------------------------------------------------

/** The linear part of a TAN WCS (FITS keywords; CRPIX 1-based, CD in degrees per pixel). */
export interface TanWcs {
  CRVAL1: number;
  CRVAL2: number;
  CRPIX1: number;
  CRPIX2: number;
  CD1_1: number;
  CD1_2: number;
  CD2_1: number;
  CD2_2: number;
}

/** The FITS-like header stored with each band image (`attrs.header`). */
export interface Ps1StackHeader extends Ps1AsinhHeader, TanWcs {
  NAXIS: 2;
  NAXIS1: number;
  NAXIS2: number;
  CTYPE1: "RA---TAN";
  CTYPE2: "DEC--TAN";
  CUNIT1: "deg";
  CUNIT2: "deg";
  RADESYS: "ICRS";
  EQUINOX: 2000;
  FILTER: Ps1Band;
  SKYCELL: string;
}

/** WCS of the whole projection grid in global pixels. */
export function projectionWcs(info: ProjectionInfo): TanWcs {
  const cd = info.pixelScaleArcsec / 3600;
  return {
    CRVAL1: info.crvalDeg[0],
    CRVAL2: info.crvalDeg[1],
    CRPIX1: info.crpixPx[0],
    CRPIX2: info.crpixPx[1],
    CD1_1: -cd, // RA grows to the left (east), as on the sky
    CD1_2: 0,
    CD2_1: 0,
    CD2_2: cd,
  };
}

export function skycellHeader(
  info: ProjectionInfo,
  index: number,
  band: Ps1Band,
  scaling: Ps1AsinhHeader,
  skycellName = formatSkycellName(info.projection, index),
): Ps1StackHeader {
  const { originPx } = cellPlacement(info, index);
  const wcs = projectionWcs(info);
  return {
    NAXIS: 2,
    NAXIS1: info.cellShape[1],
    NAXIS2: info.cellShape[0],
    CTYPE1: "RA---TAN",
    CTYPE2: "DEC--TAN",
    CUNIT1: "deg",
    CUNIT2: "deg",
    RADESYS: "ICRS",
    EQUINOX: 2000,
    ...wcs,
    CRPIX1: wcs.CRPIX1 - originPx[1],
    CRPIX2: wcs.CRPIX2 - originPx[0],
    FILTER: band,
    SKYCELL: skycellName,
    BOFFSET: scaling.BOFFSET,
    BSOFTEN: scaling.BSOFTEN,
  };
}

/** [RA, Dec] in degrees (RA in [0, 360)) of 0-based array pixel (yPx, xPx) under a TAN WCS. */
export function tanPixelToSkyDeg(wcs: TanWcs, yPx: number, xPx: number): [number, number] {
  const dx = xPx + 1 - wcs.CRPIX1;
  const dy = yPx + 1 - wcs.CRPIX2;
  const rad = Math.PI / 180;
  const xi = (wcs.CD1_1 * dx + wcs.CD1_2 * dy) * rad;
  const eta = (wcs.CD2_1 * dx + wcs.CD2_2 * dy) * rad;
  const dec0 = wcs.CRVAL2 * rad;
  const den = Math.cos(dec0) - eta * Math.sin(dec0);
  const ra = wcs.CRVAL1 + Math.atan2(xi, den) / rad;
  const dec = Math.atan2(eta * Math.cos(dec0) + Math.sin(dec0), Math.hypot(xi, den)) / rad;
  return [((ra % 360) + 360) % 360, dec];
}

// --- writing cells -------------------------------------------------------------------------------

export interface SkycellBandPixels {
  /** asinh-compressed stack values [H * W]. */
  image: Float32Array;
  mask: Uint16Array;
  header: Ps1StackHeader;
}

export interface WriteSkycellOptions {
  /** Chunk shape [rows, cols] (default [min(H, 128), W]: row strips). */
  chunkShape?: readonly [number, number];
  compressor?: Extract<ZarrCompressor, "none" | "zlib">;
}

/**
 * Write one cell (every band of `bands`, replacing what is there) under `skycellName` (either
 * naming style).
 */
export async function writeSkycell(
  storeRoot: string,
  info: ProjectionInfo,
  skycellName: string,
  bands: Partial<Record<Ps1Band, SkycellBandPixels>>,
  opts: WriteSkycellOptions = {},
): Promise<void> {
  const id = parseSkycellName(skycellName);
  if (id.projection !== info.projection) {
    throw new SkycellNameError(`${skycellName} is not in projection ${info.projection}`);
  }
  const place = cellPlacement(info, id.index);
  const [h, w] = info.cellShape;
  const cellPath = `${projectionDirName(info.projection)}/${skycellName}`;
  // Replacing arrays costs a recursive delete each; only pay it when the cell was there before.
  const overwrite = fs.existsSync(path.join(storeRoot, cellPath));
  await writeGroup(path.join(storeRoot, cellPath), {
    projection: info.projection,
    index: id.index,
    row: place.row,
    col: place.col,
    originPx: place.originPx,
  });
  const chunks = opts.chunkShape ?? [Math.min(h, 128), w];
  const compressor = opts.compressor ?? "zlib";
  const entries = Object.entries(bands) as [Ps1Band, SkycellBandPixels][];
  for (const [band, px] of entries) {
    const where = path.join(storeRoot, cellPath, band);
    if (px.image.length !== h * w || px.mask.length !== h * w) {
      throw new SkycellStoreError(where, `image/mask lengths do not match cellShape ${h}x${w}`);
    }
    if (px.header.NAXIS1 !== w || px.header.NAXIS2 !== h) {
      throw new SkycellStoreError(where, `header NAXIS1/2 do not match cellShape ${h}x${w}`);
    }
  }
  const common = { shape: [h, w], chunks, compressor, overwrite } as const;
  // All arrays at once: the cost is file-system round trips, which overlap.
  await Promise.all(
    entries.flatMap(([band, px]) => [
      createZarrArray(storeRoot, `${cellPath}/${band}/image`, {
        ...common,
        dtype: "float32",
        fillValue: NaN,
        attributes: { header: px.header },
      }).then((a) => a.write(px.image)),
      createZarrArray(storeRoot, `${cellPath}/${band}/mask`, {
        ...common,
        dtype: "uint16",
        fillValue: 0,
      }).then((a) => a.write(px.mask)),
    ]),
  );
}

// --- reading cells -------------------------------------------------------------------------------

/** Half-open pixel rectangle [y0, y1) x [x0, x1) (local cell pixels for reads). */
export interface PixelRect {
  y0: number;
  y1: number;
  x0: number;
  x1: number;
}

export interface SkycellBundle {
  projection: number;
  index: number;
  row: number;
  col: number;
  /** The name asked for, and the directory name found in the store. */
  name: string;
  storedName: string;
  /** The region read, in local cell pixels. */
  region: PixelRect;
  /** [height, width] of the region. */
  shape: [number, number];
  /** Global projection pixel [y, x] of the region's first pixel. */
  originPx: [number, number];
  bands: Partial<Record<Ps1Band, SkycellBandPixels>>;
}

function otherStyle(id: SkycellId): string {
  return formatSkycellName(id.projection, id.index, id.style === "plain" ? "rings" : "plain");
}

/** The stored directory name of a cell (either style), or undefined when absent. */
async function findSkycellDir(
  storeRoot: string,
  projection: number,
  id: SkycellId,
): Promise<string | undefined> {
  const projDir = path.join(storeRoot, projectionDirName(projection));
  const found: string[] = [];
  for (const name of [id.name, otherStyle(id)]) {
    if (fs.existsSync(path.join(projDir, name, ".zgroup"))) found.push(name);
  }
  if (found.length > 1) {
    throw new SkycellStoreError(projDir, `cell stored twice, as ${found.join(" and ")}`);
  }
  return found[0];
}

function parseInProjection(projection: number, skycellName: string): SkycellId {
  const id = parseSkycellName(skycellName);
  if (id.projection !== projection) {
    throw new SkycellNameError(`${skycellName} is not in projection ${projection}`);
  }
  return id;
}

/** Whether the store holds the cell (under either name). */
export async function skycellExists(
  storeRoot: string,
  projection: number,
  skycellName: string,
): Promise<boolean> {
  return (
    (await findSkycellDir(storeRoot, projection, parseInProjection(projection, skycellName))) !==
    undefined
  );
}

const HEADER_NUMBERS = [
  "NAXIS1",
  "NAXIS2",
  "BOFFSET",
  "BSOFTEN",
  "CRVAL1",
  "CRVAL2",
  "CRPIX1",
  "CRPIX2",
  "CD1_1",
  "CD1_2",
  "CD2_1",
  "CD2_2",
] as const;

function checkHeader(
  raw: unknown,
  where: string,
  info: ProjectionInfo,
  place: CellPlacement,
  band: Ps1Band,
): Ps1StackHeader {
  if (typeof raw !== "object" || raw === null) {
    throw new SkycellStoreError(where, "image has no `header` attribute");
  }
  const h = raw as Record<string, unknown>;
  for (const k of HEADER_NUMBERS) {
    if (typeof h[k] !== "number" || !Number.isFinite(h[k])) {
      throw new SkycellStoreError(where, `header ${k} is ${JSON.stringify(h[k])}, not a number`);
    }
  }
  if (!((h["BSOFTEN"] as number) > 0)) throw new SkycellStoreError(where, "header BSOFTEN <= 0");
  if (h["FILTER"] !== band) {
    throw new SkycellStoreError(
      where,
      `header FILTER ${JSON.stringify(h["FILTER"])} in band ${band}`,
    );
  }
  const [h0, w0] = info.cellShape;
  if (h["NAXIS2"] !== h0 || h["NAXIS1"] !== w0) {
    throw new SkycellStoreError(
      where,
      `header NAXIS2 x NAXIS1 = ${String(h["NAXIS2"])}x${String(h["NAXIS1"])}, projection cellShape ${h0}x${w0}`,
    );
  }
  // CRPIX ties the cell to its grid position: a mismatch means a misplaced or mislabelled cell.
  const crpix1 = info.crpixPx[0] - place.originPx[1];
  const crpix2 = info.crpixPx[1] - place.originPx[0];
  if (
    Math.abs((h["CRPIX1"] as number) - crpix1) > 1e-6 ||
    Math.abs((h["CRPIX2"] as number) - crpix2) > 1e-6
  ) {
    throw new SkycellStoreError(
      where,
      `header CRPIX (${String(h["CRPIX1"])}, ${String(h["CRPIX2"])}) does not place cell ${place.index} at origin ${JSON.stringify(place.originPx)} (expected (${crpix1}, ${crpix2}))`,
    );
  }
  return h as unknown as Ps1StackHeader;
}

async function openCellArray(
  storeRoot: string,
  arrayPath: string,
  dtype: "float32" | "uint16",
  cellShape: [number, number],
) {
  const where = path.join(storeRoot, arrayPath);
  let a;
  try {
    a = await openZarrArray(storeRoot, arrayPath, { dtype });
  } catch (err) {
    if (err instanceof ZarrError) throw new SkycellStoreError(where, err.message);
    throw err;
  }
  if (a.shape.length !== 2 || a.shape[0] !== cellShape[0] || a.shape[1] !== cellShape[1]) {
    throw new SkycellStoreError(
      where,
      `shape ${JSON.stringify(a.shape)}, projection cellShape ${JSON.stringify(cellShape)}`,
    );
  }
  return { a, where };
}

/**
 * What a reader has learnt of a store's layout (projection attributes, where each cell is
 * stored, its opened arrays), kept for the reads that follow: a pipeline's reader reads
 * dozens of pieces of the same cells and must not re-read their metadata every time. Only
 * for a store that does not change while the cache lives (one pipeline run); a failed lookup
 * is not kept.
 */
export class SkycellReadCache {
  private readonly memo = new Map<string, Promise<unknown>>();

  get<T>(key: string, load: () => Promise<T>): Promise<T> {
    let p = this.memo.get(key) as Promise<T> | undefined;
    if (p === undefined) {
      p = load();
      this.memo.set(key, p);
      p.catch(() => this.memo.delete(key));
    }
    return p;
  }
}

/**
 * Read a region (local cell pixels) of some bands (default: all the projection's bands) of a
 * cell, given either form of its name. Image values stay asinh-compressed (see combineBands).
 * Only the chunks the region touches are read. With a `cache`, the store's metadata is read
 * once per cache.
 */
export async function readSkycellRegion(
  storeRoot: string,
  projection: number,
  skycellName: string,
  region: PixelRect,
  bands?: readonly Ps1Band[],
  cache?: SkycellReadCache,
): Promise<SkycellBundle> {
  const memo = <T>(key: string, load: () => Promise<T>): Promise<T> =>
    cache ? cache.get(`${storeRoot}\0${key}`, load) : load();
  const id = parseInProjection(projection, skycellName);
  const info = await memo(`info ${projection}`, () => readProjectionInfo(storeRoot, projection));
  const place = cellPlacement(info, id.index);
  const storedName = await memo(`dir ${projection} ${id.index}`, () =>
    findSkycellDir(storeRoot, projection, id),
  );
  if (storedName === undefined) {
    throw new SkycellMissingError(
      storeRoot,
      projection,
      skycellName,
      `skycell ${skycellName} (projection ${projection}) is not in the store ${storeRoot}`,
    );
  }
  const [h, w] = info.cellShape;
  const { y0, y1, x0, x1 } = region;
  if (
    ![y0, y1, x0, x1].every(Number.isInteger) ||
    y0 < 0 ||
    x0 < 0 ||
    y1 > h ||
    x1 > w ||
    y0 > y1 ||
    x0 > x1
  ) {
    throw new SkycellError(
      `region ${JSON.stringify(region)} is outside skycell ${skycellName} (${h}x${w})`,
    );
  }
  const want = bands ?? info.bands;
  const cellPath = `${projectionDirName(projection)}/${storedName}`;
  const out: Partial<Record<Ps1Band, SkycellBandPixels>> = {};
  await Promise.all(
    want.map(async (band) => {
      if (!info.bands.includes(band)) {
        throw new SkycellError(`projection ${projection} has no band ${JSON.stringify(band)}`);
      }
      const open = (name: string, dtype: "float32" | "uint16") =>
        memo(`array ${cellPath}/${band}/${name}`, () =>
          openCellArray(storeRoot, `${cellPath}/${band}/${name}`, dtype, info.cellShape),
        );
      const [img, msk] = await Promise.all([open("image", "float32"), open("mask", "uint16")]);
      const header = checkHeader(img.a.attributes["header"], img.where, info, place, band);
      const sel = [
        [y0, y1],
        [x0, x1],
      ] as const;
      const [image, mask] = await Promise.all([img.a.read(sel), msk.a.read(sel)]);
      out[band] = {
        image: image.data as Float32Array,
        mask: mask.data as Uint16Array,
        header,
      };
    }),
  );
  return {
    projection,
    index: id.index,
    row: place.row,
    col: place.col,
    name: skycellName,
    storedName,
    region: { y0, y1, x0, x1 },
    shape: [y1 - y0, x1 - x0],
    originPx: [place.originPx[0] + y0, place.originPx[1] + x0],
    bands: out,
  };
}

// --- cell lists (CSV) ----------------------------------------------------------------------------

export interface TessCcd {
  sector: number;
  camera: number;
  ccd: number;
}

export const CELL_CSV_COLUMNS = [
  "projection",
  "skycell",
  "row",
  "col",
  "ra_deg",
  "dec_deg",
] as const;

export interface CellListRow {
  projection: number;
  /** As written in the file (either naming style). */
  skycell: string;
  index: number;
  row: number;
  col: number;
  /** Cell centre. */
  raDeg: number;
  decDeg: number;
  /** 1-based line in the file. */
  line: number;
}

/** `cells_s0020_c3_ccd3.csv` for sector 20, camera 3, CCD 3. */
export function cellCsvName({ sector, camera, ccd }: TessCcd): string {
  const ok = (v: number, lo: number, hi: number) => Number.isInteger(v) && v >= lo && v <= hi;
  if (!ok(sector, 1, 9999) || !ok(camera, 1, 4) || !ok(ccd, 1, 4)) {
    throw new SkycellError(
      `bad TESS sector/camera/ccd ${sector}/${camera}/${ccd} (sector 1..9999, camera and ccd 1..4)`,
    );
  }
  return `cells_s${String(sector).padStart(4, "0")}_c${camera}_ccd${ccd}.csv`;
}

/** The cell list of a TESS sector/camera/CCD directly under `dataRoot`. */
export function findCellCsv(dataRoot: string, ccd: TessCcd): string {
  const p = path.join(dataRoot, cellCsvName(ccd));
  if (!fs.existsSync(p)) {
    throw new SkycellCsvError(
      p,
      undefined,
      undefined,
      `no cell list for sector ${ccd.sector} camera ${ccd.camera} ccd ${ccd.ccd}`,
    );
  }
  return p;
}

export async function writeCellList(
  csvPath: string,
  rows: readonly Omit<CellListRow, "index" | "line">[],
): Promise<void> {
  const lines = rows.map((r) =>
    [r.projection, r.skycell, r.row, r.col, r.raDeg, r.decDeg].map(String).join(","),
  );
  await fs.promises.mkdir(path.dirname(csvPath), { recursive: true });
  await fs.promises.writeFile(csvPath, [CELL_CSV_COLUMNS.join(","), ...lines, ""].join("\n"));
}

/**
 * Parse a cell list: a header line naming (at least) CELL_CSV_COLUMNS in any order, then one cell
 * per line; blank lines are skipped. Each (projection, index) may appear once, in either naming.
 */
export async function loadCellList(csvPath: string): Promise<CellListRow[]> {
  let text: string;
  try {
    text = await fs.promises.readFile(csvPath, "utf8");
  } catch (err) {
    throw new SkycellCsvError(csvPath, undefined, undefined, (err as Error).message);
  }
  const lines = text.split(/\r?\n/);
  const header = (lines[0] ?? "").split(",").map((s) => s.trim());
  const col: Record<string, number> = {};
  for (const name of CELL_CSV_COLUMNS) {
    const i = header.indexOf(name);
    if (i < 0) throw new SkycellCsvError(csvPath, 1, name, "header lacks this column");
    col[name] = i;
  }
  const rows: CellListRow[] = [];
  const seen = new Map<string, number>();
  for (let li = 1; li < lines.length; li++) {
    const text = lines[li]!;
    if (text.trim() === "") continue;
    const line = li + 1;
    const fields = text.split(",").map((s) => s.trim());
    const field = (name: (typeof CELL_CSV_COLUMNS)[number]): string => {
      const v = fields[col[name]!];
      if (v === undefined || v === "") {
        throw new SkycellCsvError(csvPath, line, name, "missing value");
      }
      return v;
    };
    const num = (name: (typeof CELL_CSV_COLUMNS)[number], integer: boolean): number => {
      const s = field(name);
      const v = Number(s);
      if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s) || (integer && !Number.isInteger(v))) {
        throw new SkycellCsvError(
          csvPath,
          line,
          name,
          `${JSON.stringify(s)} is not ${integer ? "an integer" : "a number"}`,
        );
      }
      return v;
    };
    if (fields.length !== header.length) {
      throw new SkycellCsvError(
        csvPath,
        line,
        fields.length < header.length ? header[fields.length] : undefined,
        `${fields.length} fields, header has ${header.length}`,
      );
    }
    const projection = num("projection", true);
    const skycell = field("skycell");
    let id: SkycellId;
    try {
      id = parseSkycellName(skycell);
    } catch (err) {
      throw new SkycellCsvError(csvPath, line, "skycell", (err as Error).message);
    }
    if (id.projection !== projection) {
      throw new SkycellCsvError(
        csvPath,
        line,
        "skycell",
        `${skycell} is not in projection ${projection}`,
      );
    }
    const row = num("row", true);
    const c = num("col", true);
    if (row < 0 || c < 0)
      throw new SkycellCsvError(csvPath, line, row < 0 ? "row" : "col", "negative");
    const raDeg = num("ra_deg", false);
    const decDeg = num("dec_deg", false);
    if (decDeg < -90 || decDeg > 90) {
      throw new SkycellCsvError(csvPath, line, "dec_deg", `${decDeg} is outside [-90, 90]`);
    }
    const key = `${projection}.${id.index}`;
    const first = seen.get(key);
    if (first !== undefined) {
      throw new SkycellCsvError(
        csvPath,
        line,
        "skycell",
        `duplicate cell ${skycell} (first on line ${first})`,
      );
    }
    seen.set(key, line);
    rows.push({ projection, skycell, index: id.index, row, col: c, raDeg, decDeg, line });
  }
  return rows;
}

// --- band combination ----------------------------------------------------------------------------

export interface CombinedBands {
  /** Weighted sum of the linearised bands; NaN where `valid` is 0. */
  flux: Float32Array;
  /** OR of the combined bands' masks. */
  mask: Uint16Array;
  /** 1 where every combined band is finite and free of `badMaskBits`, else 0. */
  valid: Uint8Array;
}

/**
 * The per-pixel loop of combineBands, over typed arrays and numbers only (params: weight,
 * BOFFSET, BSOFTEN per band), so that its optimised code does not depend on the shapes of the
 * header objects each piece brings. One sweep over the pixels, the bands inside: no float64
 * sum image to write and re-read.
 */
function combinePixels(
  images: Float32Array[],
  masks: Uint16Array[],
  params: Float64Array,
  badMaskBits: number,
  flux: Float32Array,
  mask: Uint16Array,
  valid: Uint8Array,
): void {
  const k = images.length;
  for (let i = 0; i < flux.length; i++) {
    let sum = 0;
    let bits = 0;
    let ok = 1;
    for (let j = 0; j < k; j++) {
      const v = linearize(images[j]![i]!, params[3 * j + 1]!, params[3 * j + 2]!);
      const m = masks[j]![i]!;
      bits |= m;
      if (v !== v || (m & badMaskBits) !== 0) ok = 0;
      sum += params[3 * j]! * v;
    }
    mask[i] = bits;
    valid[i] = ok;
    flux[i] = ok ? sum : NaN;
  }
}

/**
 * Combine PS1 bands into one broad band: each band with a non-zero weight is linearised with its
 * own header's BOFFSET/BSOFTEN (as ps1Linearize) and added with its weight (float64 sums). Bands
 * with weight 0 are ignored entirely (their masks and NaNs too).
 */
export function combineBands(
  bundle: { shape: readonly [number, number]; bands: Partial<Record<Ps1Band, SkycellBandPixels>> },
  weights: Ps1BandWeights = DEFAULT_TESS_BAND_WEIGHTS,
  badMaskBits: number = PS1_DEFAULT_BAD_MASK,
): CombinedBands {
  const n = bundle.shape[0] * bundle.shape[1];
  const used = (Object.entries(weights) as [Ps1Band, number][]).filter(([b, wt]) => {
    if (!PS1_BANDS.includes(b) || !Number.isFinite(wt)) {
      throw new SkycellError(`bad band weight ${b}: ${wt}`);
    }
    return wt !== 0;
  });
  if (used.length === 0) throw new SkycellError("combineBands: every band weight is 0");
  const images: Float32Array[] = [];
  const masks: Uint16Array[] = [];
  const params = new Float64Array(3 * used.length);
  used.forEach(([band, wt], j) => {
    const px = bundle.bands[band];
    if (px === undefined) {
      throw new SkycellError(`combineBands: band ${band} has weight ${wt} but was not read`);
    }
    if (px.image.length !== n || px.mask.length !== n) {
      throw new SkycellError(`combineBands: band ${band} does not have ${n} pixels`);
    }
    const { BOFFSET, BSOFTEN } = checkedAsinh(px.header);
    images.push(px.image);
    masks.push(px.mask);
    params.set([wt, BOFFSET, BSOFTEN], 3 * j);
  });
  const flux = new Float32Array(n);
  const mask = new Uint16Array(n);
  const valid = new Uint8Array(n);
  combinePixels(images, masks, params, badMaskBits, flux, mask, valid);
  return { flux, mask, valid };
}
