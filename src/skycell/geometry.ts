// Where skycells sit in their projection cell's pixel frame ("mosaic px": one shared pixel
// grid per projection, y down the skycell rows, x along them), which cell supplies each mosaic
// pixel, and the padded window of one skycell row.
//
// Placement (the seed's rule). Cell (row, col) starts at (row * stepY, col * stepX) with
// step = size - overlap. Cells are laid down in row-major order; a later cell overwrites the
// overlap except its first `edgeExclusionPx` rows/columns, which stay the earlier cell's. So
// along each axis cell i supplies [i*step + (i > 0 ? E : 0), (i+1)*step + E) (the last one up
// to its far edge): the cells' "owned" rectangles tile the mosaic without overlap, and every
// pixel is read from exactly one cell. Pixels outside the grid have no data.
import { cellPlacement, cellStepPx, projectionShapePx, type ProjectionInfo } from "./dataset.js";

/** Half-open pixel rectangle [y0, y1) x [x0, x1). */
export interface Rect {
  y0: number;
  y1: number;
  x0: number;
  x1: number;
}

/** The geometry a projection's store declares (dataset.ts ProjectionInfo). */
export type ProjectionGrid = Pick<
  ProjectionInfo,
  "projection" | "grid" | "cellShape" | "overlapPx"
>;

export interface PlacementConfig {
  edgeExclusionPx: number;
  padPx: number;
}

/** A part of one cell that a window needs: `rect` in mosaic px, `local` in the cell's px. */
export interface CellPiece {
  row: number;
  col: number;
  rect: Rect;
  local: Rect;
}

/** The seed's MasterArrayConfig: the largest window any row of a listing needs. */
export interface MasterArrayConfig {
  width: number;
  height: number;
  cellWidth: number;
  cellHeight: number;
  padSize: number;
  maxCellsPerRow: number;
}

export class GeometryError extends Error {
  override readonly name = "GeometryError";
}

export const rectArea = (r: Rect): number => Math.max(0, r.y1 - r.y0) * Math.max(0, r.x1 - r.x0);

export function intersect(a: Rect, b: Rect): Rect | undefined {
  const r = {
    y0: Math.max(a.y0, b.y0),
    y1: Math.min(a.y1, b.y1),
    x0: Math.max(a.x0, b.x0),
    x1: Math.min(a.x1, b.x1),
  };
  return r.y0 < r.y1 && r.x0 < r.x1 ? r : undefined;
}

/** `outer` minus `inner` (inner inside outer) as up to four disjoint rectangles. */
export function subtract(outer: Rect, inner: Rect | undefined): Rect[] {
  if (!inner) return [outer];
  const parts: Rect[] = [
    { y0: outer.y0, y1: inner.y0, x0: outer.x0, x1: outer.x1 },
    { y0: inner.y1, y1: outer.y1, x0: outer.x0, x1: outer.x1 },
    { y0: inner.y0, y1: inner.y1, x0: outer.x0, x1: inner.x0 },
    { y0: inner.y0, y1: inner.y1, x0: inner.x1, x1: outer.x1 },
  ];
  return parts.filter((r) => rectArea(r) > 0);
}

export class ProjectionLayout {
  readonly rows: number;
  readonly cols: number;
  readonly cellHeightPx: number;
  readonly cellWidthPx: number;
  readonly stepY: number;
  readonly stepX: number;

  constructor(
    readonly grid: ProjectionGrid,
    readonly config: PlacementConfig,
  ) {
    [this.rows, this.cols] = grid.grid;
    [this.cellHeightPx, this.cellWidthPx] = grid.cellShape;
    const { cellHeightPx: h, cellWidthPx: w } = this;
    const o = grid.overlapPx;
    const { edgeExclusionPx: e, padPx } = config;
    for (const [k, v] of Object.entries({ rows: this.rows, cols: this.cols, h, w }))
      if (!Number.isInteger(v) || v < 1)
        throw new GeometryError(`projection ${grid.projection}: ${k} must be >= 1, got ${v}`);
    if (!(o >= 0 && e >= 0 && e <= o && o < Math.min(h, w) && padPx >= 0))
      throw new GeometryError(
        `projection ${grid.projection}: need 0 <= edge exclusion (${e}) <= overlap (${o}) < cell size (${h} x ${w}) and pad >= 0 (${padPx})`,
      );
    [this.stepY, this.stepX] = cellStepPx(grid);
  }

  /** The mosaic extent: every pixel some cell covers. */
  get extent(): Rect {
    const [y1, x1] = projectionShapePx(this.grid);
    return { y0: 0, y1, x0: 0, x1 };
  }

  cellRect(row: number, col: number): Rect {
    const [y0, x0] = cellPlacement(this.grid, this.index(row, col)).originPx;
    return { y0, y1: y0 + this.cellHeightPx, x0, x1: x0 + this.cellWidthPx };
  }

  /** The mosaic pixels cell (row, col) supplies. */
  ownedRect(row: number, col: number): Rect {
    this.check(row, col);
    const [y0, y1] = this.owned(row, this.stepY, this.rows, this.cellHeightPx);
    const [x0, x1] = this.owned(col, this.stepX, this.cols, this.cellWidthPx);
    return { y0, y1, x0, x1 };
  }

  /** The padded window of one row's listed columns: their cells plus padPx all round. */
  rowWindow(row: number, cols: readonly number[]): Rect {
    if (!cols.length)
      throw new GeometryError(`row ${row} of projection ${this.grid.projection} lists no cells`);
    const p = this.config.padPx;
    const first = this.cellRect(row, Math.min(...cols));
    const last = this.cellRect(row, Math.max(...cols));
    return { y0: first.y0 - p, y1: first.y1 + p, x0: first.x0 - p, x1: last.x1 + p };
  }

  /** The cell parts that supply `rect` (pixels outside the grid have none). */
  pieces(rect: Rect): CellPiece[] {
    const ys = this.spans(rect.y0, rect.y1, this.stepY, this.rows, this.cellHeightPx);
    const xs = this.spans(rect.x0, rect.x1, this.stepX, this.cols, this.cellWidthPx);
    const out: CellPiece[] = [];
    for (const [row, y0, y1] of ys)
      for (const [col, x0, x1] of xs) {
        const cy = row * this.stepY;
        const cx = col * this.stepX;
        out.push({
          row,
          col,
          rect: { y0, y1, x0, x1 },
          local: { y0: y0 - cy, y1: y1 - cy, x0: x0 - cx, x1: x1 - cx },
        });
      }
    return out;
  }

  /** Skycell index within the projection (the YYY of skycell.PPPP.YYY). */
  index(row: number, col: number): number {
    this.check(row, col);
    return row * this.cols + col;
  }

  private owned(i: number, step: number, n: number, size: number): [number, number] {
    const e = this.config.edgeExclusionPx;
    return [i * step + (i > 0 ? e : 0), i < n - 1 ? (i + 1) * step + e : i * step + size];
  }

  /** Owner intervals [index, a, b) covering [lo, hi) along one axis, clipped to the grid. */
  private spans(
    lo: number,
    hi: number,
    step: number,
    n: number,
    size: number,
  ): [number, number, number][] {
    const out: [number, number, number][] = [];
    for (let i = 0; i < n; i++) {
      const [a, b] = this.owned(i, step, n, size);
      const s = Math.max(a, lo);
      const t = Math.min(b, hi);
      if (s < t) out.push([i, s, t]);
    }
    return out;
  }

  private check(row: number, col: number): void {
    if (
      !Number.isInteger(row) ||
      !Number.isInteger(col) ||
      row < 0 ||
      col < 0 ||
      row >= this.rows ||
      col >= this.cols
    )
      throw new GeometryError(
        `cell (row ${row}, col ${col}) is outside projection ${this.grid.projection}'s ${this.rows} x ${this.cols} grid`,
      );
  }
}

/** The seed's MasterArrayConfig for rows listing up to `maxCellsPerRow` cells of [H, W]. */
export function masterArrayConfig(
  cellShape: readonly [number, number],
  padPx: number,
  maxCellsPerRow: number,
): MasterArrayConfig {
  const [cellHeight, cellWidth] = cellShape;
  return {
    width: maxCellsPerRow * cellWidth + 2 * padPx,
    height: cellHeight + 2 * padPx,
    cellWidth,
    cellHeight,
    padSize: padPx,
    maxCellsPerRow,
  };
}
