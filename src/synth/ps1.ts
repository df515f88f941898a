/**
 * A synthetic PS1 skycell dataset with known truth (the test bed of the PS1 pipeline, issue 9),
 * in the layout of src/skycell/dataset.ts.
 *
 * Each projection has a per-band linear "sky" defined analytically on its global pixel grid:
 * a smooth background (sinusoidal ripple + gradient), Gaussian stars with per-star colours
 * (truncated at 6 sigma) and one faint, large elliptical source (truncated at 4 sigma). Cells are
 * cut from it, so overlapping cells carry the same sky; each cell/band gets its own
 * BOFFSET/BSOFTEN and is stored asinh-compressed (ps1Compress). Mask patches (some with bad bits,
 * some with harmless ones) and NaN patches are also global, per band, so overlaps agree there too.
 * A cell list (CSV) for one TESS sector/camera/CCD lists a tilted-rectangle footprint of cells,
 * naming them in both styles; the store uses both styles too, not always the same as the CSV.
 *
 * Deterministic: the same options give the same files on every machine (src/synth/random.ts).
 * The truth evaluates pixels one at a time (`flux`, `maskBits`, `isNan`: plain loops over the
 * sources, the independent reference) or renders rectangles (`renderBand`: what the generator
 * writes; the same float64 operations in the same order, so both agree exactly).
 */
import fs from "node:fs";
import path from "node:path";
import {
  DEFAULT_PS1_STORE_NAME,
  DEFAULT_TESS_BAND_WEIGHTS,
  PS1_BANDS,
  PS1_DEFAULT_BAD_MASK,
  PS1_MASK,
  PS1_PIXEL_SCALE_ARCSEC,
  cellCsvName,
  cellPlacement,
  formatSkycellName,
  parseSkycellName,
  projectionShapePx,
  projectionWcs,
  skycellHeader,
  tanPixelToSkyDeg,
  writeCellList,
  writeProjectionInfo,
  writeSkycell,
  SkycellError,
  type CellListRow,
  type PixelRect,
  type ProjectionInfo,
  type Ps1Band,
  type Ps1BandWeights,
  type SkycellBandPixels,
  type SkycellNameStyle,
  type TessCcd,
} from "../skycell/dataset.js";
import { ps1Compress, type Ps1AsinhHeader } from "../skycell/asinh.js";
import { Rng } from "./random.js";

export interface Ps1DatasetOptions {
  /** Default 1. */
  seed?: number;
  /** Projection ids (default [1847, 1848]). */
  projections?: readonly number[];
  /** Skycells per projection [ny, nx] (default [3, 4]). */
  grid?: readonly [number, number];
  /** Pixels per cell [H, W] (default [64, 64]). */
  cellShape?: readonly [number, number];
  /** Default 16. */
  overlapPx?: number;
  /** Default all of PS1_BANDS. */
  bands?: readonly Ps1Band[];
  /** Zarr chunk shape (default [min(H, 128), W]). */
  chunkShape?: readonly [number, number];
  /** Default "zlib". */
  compressor?: "zlib" | "none";
  /** Default sector 20, camera 3, CCD 3. */
  tess?: TessCcd;
  /** Tangent point [RA, Dec] of the first projection; the others follow eastwards. */
  centreDeg?: readonly [number, number];
  /** Mean number of stars per cell area (default 6). */
  starsPerCell?: number;
  /** Mean number of flagged patches per cell area (default 1.5). */
  flagPatchesPerCell?: number;
  /** Mean number of NaN patches per cell area (default 0.5). */
  nanPatchesPerCell?: number;
  /**
   * Each cell and band adds its own constant sky offset, uniform in +-this fraction of the
   * band's sky level (default 0): as real stacks, neighbours then differ in their overlap,
   * and which cell supplies an overlap pixel shows. The truth functions give the shared sky;
   * a cell's stored flux is that plus its `skyOffset`.
   */
  cellSkyOffsetFrac?: number;
  /** Which cells the CSV lists (default: a tilted rectangle of the grid, see tiltedFootprint). */
  listCell?: (projection: number, row: number, col: number, projectionOrdinal: number) => boolean;
  /** Cells (either name form) not written to the store. Default none. */
  omitCells?: readonly string[];
  /** Store directory under dataRoot (default DEFAULT_PS1_STORE_NAME). */
  storeName?: string;
  /** Replace an existing store and CSV (default: refuse). */
  overwrite?: boolean;
}

export interface Ps1GeneratedCell {
  index: number;
  row: number;
  col: number;
  originPx: [number, number];
  /** Directory name in the store, or null when omitted. */
  storedName: string | null;
  /** BOFFSET/BSOFTEN per band. */
  scaling: Record<Ps1Band, Ps1AsinhHeader>;
  /** The cell's own additive sky offset per band (see cellSkyOffsetFrac). */
  skyOffset: Record<Ps1Band, number>;
}

export interface Ps1GeneratedProjection {
  info: ProjectionInfo;
  /** Global pixel grid size [height, width]. */
  shapePx: [number, number];
  cells: Ps1GeneratedCell[];
}

export interface Ps1BandRender {
  /** Linear sky (float64, finite everywhere: NaN pixels are in `nan`). */
  flux: Float64Array;
  mask: Uint16Array;
  /** 1 where the stored value is NaN. */
  nan: Uint8Array;
}

export interface Ps1Truth {
  /** Linear sky of a band at a global projection pixel. */
  flux(projection: number, band: Ps1Band, yPx: number, xPx: number): number;
  maskBits(projection: number, band: Ps1Band, yPx: number, xPx: number): number;
  isNan(projection: number, band: Ps1Band, yPx: number, xPx: number): boolean;
  /** A band over a global rectangle (row-major). */
  renderBand(projection: number, band: Ps1Band, rect: PixelRect): Ps1BandRender;
  /** What combineBands should give over a global rectangle (same semantics, float64). */
  renderCombined(
    projection: number,
    rect: PixelRect,
    weights?: Ps1BandWeights,
    badMaskBits?: number,
  ): { flux: Float64Array; mask: Uint16Array; valid: Uint8Array };
}

export interface Ps1Dataset {
  dataRoot: string;
  storeRoot: string;
  csvPath: string;
  tess: TessCcd;
  bands: Ps1Band[];
  projections: Ps1GeneratedProjection[];
  /** The CSV's rows, in file order. */
  listed: CellListRow[];
  truth: Ps1Truth;
}

// Per-band sky level and colour slope (a redder star is brighter in z/y, fainter in g).
const SKY_LEVEL: Record<Ps1Band, number> = { g: 60, r: 100, i: 140, z: 190, y: 240 };
const COLOUR_SLOPE: Record<Ps1Band, number> = { g: 1.2, r: 0.5, i: 0, z: -0.3, y: -0.45 };

/** Bits the generator sets: the first three are bad by default, the last two harmless. */
const PATCH_BITS = [
  PS1_MASK.BLANK,
  PS1_MASK.SAT,
  PS1_MASK.CR,
  PS1_MASK.CONV_POOR,
  PS1_MASK.GHOST,
] as const;

interface Star {
  y: number;
  x: number;
  r2Max: number; // (6 sigma)^2
  inv2s2: number; // 1 / (2 sigma^2)
  peak: Record<Ps1Band, number>;
}

interface Extended {
  y: number;
  x: number;
  cos: number;
  sin: number;
  invA2: number; // 1 / major sigma^2
  invB2: number;
  reach: number; // bounding half-width, px (4 major sigmas)
  peak: Record<Ps1Band, number>;
}

interface Patch {
  rect: PixelRect;
  bands: Set<Ps1Band>;
  bits: number; // 0 for NaN patches
}

interface Sky {
  shapePx: [number, number];
  rippleY: number; // radians per pixel
  rippleX: number;
  phaseY: number;
  phaseX: number;
  stars: Star[];
  extended: Extended[];
  flags: Patch[];
  nans: Patch[];
}

function colourPeaks(rng: Rng, peak: number): Record<Ps1Band, number> {
  const colour = rng.next() * 2 - 1;
  const out = {} as Record<Ps1Band, number>;
  for (const b of PS1_BANDS) out[b] = peak * 10 ** (-0.4 * colour * COLOUR_SLOPE[b]);
  return out;
}

function randomPatches(
  rng: Rng,
  count: number,
  shapePx: [number, number],
  bands: readonly Ps1Band[],
  nan: boolean,
): Patch[] {
  const out: Patch[] = [];
  for (let k = 0; k < count; k++) {
    const kind = rng.next();
    // single pixels, small blocks and thin streaks
    const [h, w] =
      kind < 0.3
        ? [1, 1]
        : kind < 0.8
          ? [2 + Math.floor(rng.next() * 6), 2 + Math.floor(rng.next() * 6)]
          : [1, 8 + Math.floor(rng.next() * 16)];
    const y0 = Math.floor(rng.next() * Math.max(1, shapePx[0] - h));
    const x0 = Math.floor(rng.next() * Math.max(1, shapePx[1] - w));
    const oneBand = bands[Math.floor(rng.next() * bands.length)]!;
    const allBands = rng.next() < 0.3;
    const bits = nan ? 0 : PATCH_BITS[Math.floor(rng.next() * PATCH_BITS.length)]!;
    out.push({
      rect: { y0, y1: Math.min(y0 + h, shapePx[0]), x0, x1: Math.min(x0 + w, shapePx[1]) },
      bands: new Set(allBands ? bands : [oneBand]),
      bits,
    });
  }
  return out;
}

function makeSky(
  rng: Rng,
  shapePx: [number, number],
  cells: number,
  bands: readonly Ps1Band[],
  o: Required<Pick<Ps1DatasetOptions, "starsPerCell" | "flagPatchesPerCell" | "nanPatchesPerCell">>,
): Sky {
  const [hp, wp] = shapePx;
  const stars: Star[] = [];
  for (let k = Math.round(o.starsPerCell * cells); k > 0; k--) {
    const sigma = 1 + 1.5 * rng.next();
    stars.push({
      y: rng.next() * hp,
      x: rng.next() * wp,
      r2Max: 36 * sigma * sigma,
      inv2s2: 1 / (2 * sigma * sigma),
      peak: colourPeaks(rng, 10 ** (1.5 + 3 * rng.next())),
    });
  }
  const a = 0.2 * Math.min(hp, wp) * (0.7 + 0.3 * rng.next());
  const b = a * (0.4 + 0.4 * rng.next());
  const theta = Math.PI * rng.next();
  const extended: Extended[] = [
    {
      y: hp * (0.3 + 0.4 * rng.next()),
      x: wp * (0.3 + 0.4 * rng.next()),
      cos: Math.cos(theta),
      sin: Math.sin(theta),
      invA2: 1 / (a * a),
      invB2: 1 / (b * b),
      reach: 4 * a,
      peak: colourPeaks(rng, 30),
    },
  ];
  return {
    shapePx,
    rippleY: (2 * Math.PI) / (0.8 * hp),
    rippleX: (2 * Math.PI) / (0.7 * wp),
    phaseY: 2 * Math.PI * rng.next(),
    phaseX: 2 * Math.PI * rng.next(),
    stars,
    extended,
    flags: randomPatches(rng, Math.round(o.flagPatchesPerCell * cells), shapePx, bands, false),
    nans: randomPatches(rng, Math.round(o.nanPatchesPerCell * cells), shapePx, bands, true),
  };
}

// The sky's terms, shared by point evaluation and rendering so both do the same float64 ops.
const background = (band: Ps1Band, ry: number, rx: number, xPx: number, wp: number): number =>
  SKY_LEVEL[band] * (1 + 0.2 * ry * rx) + 0.1 * SKY_LEVEL[band] * (xPx / wp);
const starTerm = (s: Star, band: Ps1Band, dy: number, dx: number): number => {
  const r2 = dy * dy + dx * dx;
  return r2 <= s.r2Max ? s.peak[band] * Math.exp(-r2 * s.inv2s2) : 0;
};
const extendedTerm = (e: Extended, band: Ps1Band, dy: number, dx: number): number => {
  const u = dx * e.cos + dy * e.sin;
  const v = -dx * e.sin + dy * e.cos;
  const q = u * u * e.invA2 + v * v * e.invB2;
  return q <= 16 ? e.peak[band] * Math.exp(-0.5 * q) : 0;
};
const inside = (r: PixelRect, y: number, x: number) =>
  y >= r.y0 && y < r.y1 && x >= r.x0 && x < r.x1;

function pointFlux(sky: Sky, band: Ps1Band, y: number, x: number): number {
  let v = background(
    band,
    Math.cos(sky.rippleY * y + sky.phaseY),
    Math.sin(sky.rippleX * x + sky.phaseX),
    x,
    sky.shapePx[1],
  );
  for (const s of sky.stars) v += starTerm(s, band, y - s.y, x - s.x);
  for (const e of sky.extended) v += extendedTerm(e, band, y - e.y, x - e.x);
  return v;
}

function renderSky(sky: Sky, band: Ps1Band, r: PixelRect): Ps1BandRender {
  const h = r.y1 - r.y0;
  const w = r.x1 - r.x0;
  const flux = new Float64Array(h * w);
  const rx = new Float64Array(w);
  for (let j = 0; j < w; j++) rx[j] = Math.sin(sky.rippleX * (r.x0 + j) + sky.phaseX);
  for (let i = 0; i < h; i++) {
    const ry = Math.cos(sky.rippleY * (r.y0 + i) + sky.phaseY);
    for (let j = 0; j < w; j++)
      flux[i * w + j] = background(band, ry, rx[j]!, r.x0 + j, sky.shapePx[1]);
  }
  // Each source only over its bounding box; per pixel the terms add in the same order as pointFlux.
  const addBox = (
    cy: number,
    cx: number,
    reach: number,
    term: (dy: number, dx: number) => number,
  ) => {
    // one pixel of slack: the term itself decides the cut-off
    const ya = Math.max(r.y0, Math.floor(cy - reach));
    const yb = Math.min(r.y1 - 1, Math.ceil(cy + reach));
    const xa = Math.max(r.x0, Math.floor(cx - reach));
    const xb = Math.min(r.x1 - 1, Math.ceil(cx + reach));
    for (let y = ya; y <= yb; y++)
      for (let x = xa; x <= xb; x++) flux[(y - r.y0) * w + (x - r.x0)]! += term(y - cy, x - cx);
  };
  for (const s of sky.stars)
    addBox(s.y, s.x, Math.sqrt(s.r2Max), (dy, dx) => starTerm(s, band, dy, dx));
  for (const e of sky.extended)
    addBox(e.y, e.x, e.reach, (dy, dx) => extendedTerm(e, band, dy, dx));
  const mask = new Uint16Array(h * w);
  const nan = new Uint8Array(h * w);
  const paint = (patches: Patch[], set: (i: number, p: Patch) => void) => {
    for (const p of patches) {
      if (!p.bands.has(band)) continue;
      for (let y = Math.max(r.y0, p.rect.y0); y < Math.min(r.y1, p.rect.y1); y++)
        for (let x = Math.max(r.x0, p.rect.x0); x < Math.min(r.x1, p.rect.x1); x++)
          set((y - r.y0) * w + (x - r.x0), p);
    }
  };
  paint(sky.flags, (i, p) => (mask[i]! |= p.bits));
  paint(sky.nans, (i) => (nan[i] = 1));
  return { flux, mask, nan };
}

/**
 * The default CSV footprint: cells whose centre (in cell units about the grid centre) lies in a
 * rectangle tilted by +-30 degrees (alternating per projection), so rows differ in length and in
 * their first column.
 */
export function tiltedFootprint(
  grid: readonly [number, number],
  row: number,
  col: number,
  projectionOrdinal: number,
): boolean {
  const [ny, nx] = grid;
  const theta = ((projectionOrdinal % 2 === 0 ? 30 : -30) * Math.PI) / 180;
  const u = col - (nx - 1) / 2;
  const v = row - (ny - 1) / 2;
  const along = u * Math.cos(theta) + v * Math.sin(theta);
  const across = -u * Math.sin(theta) + v * Math.cos(theta);
  return (
    Math.abs(along) <= 0.42 * Math.hypot(nx, ny) &&
    Math.abs(across) <= 0.3 * Math.min(nx, ny) + 0.35
  );
}

// Mixed naming, on different rules for the store and the CSV, so both match and mismatch occur.
const storeStyle = (row: number, col: number): SkycellNameStyle =>
  (row + col) % 2 === 0 ? "rings" : "plain";
const csvStyle = (row: number): SkycellNameStyle => (row % 2 === 0 ? "plain" : "rings");

export async function generatePs1Dataset(
  dataRoot: string,
  opts: Ps1DatasetOptions = {},
): Promise<Ps1Dataset> {
  const seed = opts.seed ?? 1;
  const projections = [...(opts.projections ?? [1847, 1848])];
  const grid: [number, number] = [...(opts.grid ?? [3, 4])];
  const cellShape: [number, number] = [...(opts.cellShape ?? [64, 64])];
  const overlapPx = opts.overlapPx ?? 16;
  const bands = [...(opts.bands ?? PS1_BANDS)];
  const tess = opts.tess ?? { sector: 20, camera: 3, ccd: 3 };
  const centreDeg = opts.centreDeg ?? [84, -30];
  const counts = {
    starsPerCell: opts.starsPerCell ?? 6,
    flagPatchesPerCell: opts.flagPatchesPerCell ?? 1.5,
    nanPatchesPerCell: opts.nanPatchesPerCell ?? 0.5,
  };
  const listCell =
    opts.listCell ??
    ((_p: number, row: number, col: number, k: number) => tiltedFootprint(grid, row, col, k));
  const omitted = new Set(
    (opts.omitCells ?? []).map((n) => {
      const id = parseSkycellName(n);
      if (!projections.includes(id.projection)) {
        throw new SkycellError(`omitCells: ${n} is not in projections ${projections.join(", ")}`);
      }
      return `${id.projection}.${id.index}`;
    }),
  );
  if (new Set(projections).size !== projections.length)
    throw new SkycellError(`duplicate projection ids ${projections.join(", ")}`);

  const storeRoot = path.join(dataRoot, opts.storeName ?? DEFAULT_PS1_STORE_NAME);
  const csvPath = path.join(dataRoot, cellCsvName(tess));
  for (const p of [storeRoot, csvPath]) {
    if (fs.existsSync(p)) {
      if (!opts.overwrite)
        throw new SkycellError(`${p} exists (pass overwrite: true to replace it)`);
      await fs.promises.rm(p, { recursive: true, force: true });
    }
  }

  const skies = new Map<number, Sky>();
  const out: Ps1GeneratedProjection[] = [];
  const listed: Omit<CellListRow, "index" | "line">[] = [];
  for (const [k, projection] of projections.entries()) {
    const info: ProjectionInfo = {
      projection,
      grid,
      cellShape,
      overlapPx,
      bands,
      crvalDeg: [0, 0],
      crpixPx: [0, 0],
      pixelScaleArcsec: PS1_PIXEL_SCALE_ARCSEC,
    };
    const shapePx = projectionShapePx(info);
    const widthDeg = (shapePx[1] * PS1_PIXEL_SCALE_ARCSEC) / 3600;
    const decDeg = centreDeg[1];
    const raDeg =
      (((centreDeg[0] + (k * widthDeg) / Math.cos((decDeg * Math.PI) / 180)) % 360) + 360) % 360;
    info.crvalDeg = [raDeg, decDeg];
    info.crpixPx = [(shapePx[1] + 1) / 2, (shapePx[0] + 1) / 2];
    await writeProjectionInfo(storeRoot, info);

    const sky = makeSky(new Rng(seed, projection), shapePx, grid[0] * grid[1], bands, counts);
    skies.set(projection, sky);
    const cells: Ps1GeneratedCell[] = [];
    for (let index = 0; index < grid[0] * grid[1]; index++) {
      const { row, col, originPx } = cellPlacement(info, index);
      const rng = new Rng(seed, projection, index, 1);
      const scaling = {} as Record<Ps1Band, Ps1AsinhHeader>;
      for (const b of PS1_BANDS) {
        // draw for every PS1 band so a band subset keeps the others' values
        const BSOFTEN = SKY_LEVEL[b] * (0.05 + 0.15 * rng.next());
        const BOFFSET = SKY_LEVEL[b] * (0.2 * rng.next() - 0.1);
        scaling[b] = { BOFFSET, BSOFTEN };
      }
      // A stream of its own, so the offsets leave every other draw as it was.
      const offsetRng = new Rng(seed, projection, index, 2);
      const skyOffset = {} as Record<Ps1Band, number>;
      for (const b of PS1_BANDS)
        skyOffset[b] = SKY_LEVEL[b] * (opts.cellSkyOffsetFrac ?? 0) * (2 * offsetRng.next() - 1);
      const omit = omitted.has(`${projection}.${index}`);
      const storedName = omit ? null : formatSkycellName(projection, index, storeStyle(row, col));
      if (storedName !== null) {
        const rect = {
          y0: originPx[0],
          y1: originPx[0] + cellShape[0],
          x0: originPx[1],
          x1: originPx[1] + cellShape[1],
        };
        const pixels: Partial<Record<Ps1Band, SkycellBandPixels>> = {};
        for (const band of bands) {
          const r = renderSky(sky, band, rect);
          if (skyOffset[band] !== 0)
            for (let i = 0; i < r.flux.length; i++) r.flux[i]! += skyOffset[band];
          const image = ps1Compress(r.flux, scaling[band]);
          for (let i = 0; i < image.length; i++) if (r.nan[i]) image[i] = NaN;
          pixels[band] = {
            image,
            mask: r.mask,
            header: skycellHeader(info, index, band, scaling[band], storedName),
          };
        }
        await writeSkycell(storeRoot, info, storedName, pixels, {
          chunkShape: opts.chunkShape,
          compressor: opts.compressor ?? "zlib",
        });
      }
      cells.push({ index, row, col, originPx, storedName, scaling, skyOffset });
      if (listCell(projection, row, col, k)) {
        const [ra, dec] = tanPixelToSkyDeg(
          projectionWcs(info),
          originPx[0] + (cellShape[0] - 1) / 2,
          originPx[1] + (cellShape[1] - 1) / 2,
        );
        listed.push({
          projection,
          skycell: formatSkycellName(projection, index, csvStyle(row)),
          row,
          col,
          raDeg: ra,
          decDeg: dec,
        });
      }
    }
    out.push({ info, shapePx, cells });
  }
  await writeCellList(csvPath, listed);

  const skyOf = (projection: number): Sky => {
    const s = skies.get(projection);
    if (!s) throw new SkycellError(`projection ${projection} is not in this dataset`);
    return s;
  };
  const truth: Ps1Truth = {
    flux: (p, band, y, x) => pointFlux(skyOf(p), band, y, x),
    maskBits: (p, band, y, x) =>
      skyOf(p).flags.reduce(
        (m, f) => (f.bands.has(band) && inside(f.rect, y, x) ? m | f.bits : m),
        0,
      ),
    isNan: (p, band, y, x) => skyOf(p).nans.some((f) => f.bands.has(band) && inside(f.rect, y, x)),
    renderBand: (p, band, rect) => renderSky(skyOf(p), band, rect),
    renderCombined: (
      p,
      rect,
      weights = DEFAULT_TESS_BAND_WEIGHTS,
      badMaskBits = PS1_DEFAULT_BAD_MASK,
    ) => {
      const n = (rect.y1 - rect.y0) * (rect.x1 - rect.x0);
      const flux = new Float64Array(n);
      const mask = new Uint16Array(n);
      const valid = new Uint8Array(n).fill(1);
      for (const [band, wt] of Object.entries(weights) as [Ps1Band, number][]) {
        if (wt === 0) continue;
        const r = renderSky(skyOf(p), band, rect);
        for (let i = 0; i < n; i++) {
          flux[i]! += wt * r.flux[i]!;
          mask[i]! |= r.mask[i]!;
          if (r.nan[i] || (r.mask[i]! & badMaskBits) !== 0) valid[i] = 0;
        }
      }
      for (let i = 0; i < n; i++) if (!valid[i]) flux[i] = NaN;
      return { flux, mask, valid };
    },
  };
  return {
    dataRoot,
    storeRoot,
    csvPath,
    tess,
    bands,
    projections: out,
    listed: listed.map((r, i) => ({ ...r, index: parseSkycellName(r.skycell).index, line: i + 2 })),
    truth,
  };
}
