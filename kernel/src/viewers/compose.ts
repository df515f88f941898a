/**
 * The kernel viewers' static previews: colour images of panels laid out on a grid in one RGBA
 * picture (encoded as the PNG a notebook shows without a kernel).
 */

/** A colour image: RGBA bytes, row-major, `cols` x `rows` pixels. */
export interface RgbaPanel {
  rgba: Uint8ClampedArray;
  cols: number;
  rows: number;
  /** Each pixel becomes a scale x scale block (nearest neighbour; default 1). */
  scale?: number;
}

export interface RgbaImage {
  rgba: Uint8ClampedArray;
  width: number;
  height: number;
}

/** The largest integer scale at which a cols x rows panel fits a maxSide square (at least 1). */
export function fitScale(cols: number, rows: number, maxSide: number): number {
  return Math.max(1, Math.floor(maxSide / Math.max(1, cols, rows)));
}

/**
 * Panels on a grid (`grid[row][column]`, null leaves a cell empty), `gap` pixels apart: each
 * column as wide as its widest panel, each row as tall as its tallest, every panel at the
 * top-left of its cell; the background is transparent.
 */
export function composeGrid(grid: (RgbaPanel | null)[][], gap = 8): RgbaImage {
  const nCols = Math.max(0, ...grid.map((row) => row.length));
  const size = (p: RgbaPanel | null | undefined) =>
    p ? [p.cols * (p.scale ?? 1), p.rows * (p.scale ?? 1)] : [0, 0];
  const colWidth = Array.from({ length: nCols }, (_, j) =>
    Math.max(0, ...grid.map((row) => size(row[j])[0]!)),
  );
  const rowHeight = grid.map((row) => Math.max(0, ...row.map((p) => size(p)[1]!)));
  const width = colWidth.reduce((a, b) => a + b, 0) + gap * Math.max(0, nCols - 1);
  const height = rowHeight.reduce((a, b) => a + b, 0) + gap * Math.max(0, grid.length - 1);
  const rgba = new Uint8ClampedArray(width * height * 4);
  let top = 0;
  grid.forEach((row, i) => {
    let left = 0;
    row.forEach((p, j) => {
      if (p) blit(rgba, width, p, left, top);
      left += colWidth[j]! + gap;
    });
    top += rowHeight[i]! + gap;
  });
  return { rgba, width, height };
}

function blit(
  dst: Uint8ClampedArray,
  width: number,
  p: RgbaPanel,
  left: number,
  top: number,
): void {
  const s = p.scale ?? 1;
  for (let y = 0; y < p.rows * s; y++) {
    const r = Math.floor(y / s);
    for (let x = 0; x < p.cols * s; x++) {
      const from = 4 * (r * p.cols + Math.floor(x / s));
      const to = 4 * ((top + y) * width + left + x);
      for (let ch = 0; ch < 4; ch++) dst[to + ch] = p.rgba[from + ch]!;
    }
  }
}
