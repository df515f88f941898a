// Shared by the PS1 pipeline tests: a small dataset whose overlapping cells differ (so which
// cell supplies an overlap pixel shows), the configuration that fits it, an independent
// whole-mosaic reference, and output comparison.
import fs from "node:fs";
import path from "node:path";
import {
  DEFAULT_TESS_BAND_WEIGHTS,
  normalizedGaussianFilter,
  PS1_DEFAULT_BAD_MASK,
  readConvolvedCell,
  type Ps1Band,
} from "../../src/skycell/index.js";
import { generatePs1Dataset, type Ps1Dataset } from "../../src/synth/ps1.js";

/** Scaled-down seed values: overlap 16 (480), edge exclusion 2 (10), pad 16 (480), sigma 3 (60). */
export const SMALL = { overlapPx: 16, edgeExclusionPx: 2, padPx: 16, psfSigmaPx: 3 } as const;

export function makeDataset(
  dataRoot: string,
  extra: { omitCells?: string[] } = {},
): Promise<Ps1Dataset> {
  return generatePs1Dataset(dataRoot, {
    seed: 11,
    chunkShape: [24, 64],
    cellSkyOffsetFrac: 0.05,
    ...extra,
  });
}

/**
 * The seed's procedure taken literally, over a whole projection: paste every stored cell in
 * row-major order, each later one overwriting all but its first `edgeExclusionPx` rows (below
 * row 0) and columns (right of column 0); then the normalised convolution of the whole mosaic.
 * Cell values come from the generator's truth (float64), not from the store.
 */
export function wholeMosaicReference(
  ds: Ps1Dataset,
  projection: number,
  cfg: { edgeExclusionPx: number; psfSigmaPx: number },
): { data: Float32Array; shape: [number, number] } {
  const proj = ds.projections.find((p) => p.info.projection === projection)!;
  const [H, W] = proj.shapePx;
  const [ch, cw] = proj.info.cellShape;
  const mosaic = new Float64Array(H * W).fill(NaN);
  const weights = DEFAULT_TESS_BAND_WEIGHTS;
  for (const cell of proj.cells) {
    if (cell.storedName === null) continue;
    const [y0, x0] = cell.originPx;
    const c = ds.truth.renderCombined(
      projection,
      { y0, y1: y0 + ch, x0, x1: x0 + cw },
      weights,
      PS1_DEFAULT_BAD_MASK,
    );
    let offset = 0;
    for (const [b, w] of Object.entries(weights)) offset += w * cell.skyOffset[b as Ps1Band];
    const ey = cell.row > 0 ? cfg.edgeExclusionPx : 0;
    const ex = cell.col > 0 ? cfg.edgeExclusionPx : 0;
    for (let y = ey; y < ch; y++)
      for (let x = ex; x < cw; x++) {
        const i = y * cw + x;
        mosaic[(y0 + y) * W + x0 + x] = c.valid[i] ? c.flux[i]! + offset : NaN;
      }
  }
  const { data } = normalizedGaussianFilter(mosaic, [H, W], {
    sigma: cfg.psfSigmaPx,
    mode: "constant",
  });
  return { data, shape: [H, W] };
}

export function readCellOutput(
  outDir: string,
  name: string,
  what: "image" | "weight" | "mask",
): Promise<{ data: ArrayLike<number>; shape: number[] }> {
  return readConvolvedCell(outDir, name, what);
}

/** Every file under `dir` (relative path -> bytes), metadata timestamps blanked. */
export function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name === "cell_metadata.json") {
        const meta = JSON.parse(fs.readFileSync(p, "utf8")) as {
          rows: { projection: number; row: number; completedAt: string }[];
          cells: Record<string, unknown>;
        };
        meta.cells = Object.fromEntries(
          Object.entries(meta.cells).sort(([a], [b]) => (a < b ? -1 : 1)),
        );
        meta.rows = meta.rows
          .map((r) => ({ ...r, completedAt: "" }))
          .sort((a, b) => a.projection - b.projection || a.row - b.row);
        out.set(path.relative(dir, p), JSON.stringify(meta));
      } else out.set(path.relative(dir, p), fs.readFileSync(p).toString("base64"));
    }
  };
  walk(dir);
  return out;
}
