// Skycell placement: the owner rule of geometry.ts against the seed's procedure done
// literally (paste cell ids in row-major order, each later cell sparing its first
// edge-exclusion rows/columns), windows, pieces and the halo carried between rows.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  GeometryError,
  masterArrayConfig,
  ProjectionLayout,
  rectArea,
  subtract,
  planRun,
  type CellListRow,
  type ProjectionInfo,
  type Rect,
} from "../../src/skycell/index.js";

const GRIDS = [
  { rows: 3, cols: 4, h: 20, w: 24, overlap: 6, edge: 2, pad: 5 },
  { rows: 2, cols: 2, h: 10, w: 10, overlap: 0, edge: 0, pad: 3 },
  { rows: 4, cols: 3, h: 12, w: 9, overlap: 4, edge: 4, pad: 7 },
];

/** Cell id (row * cols + col) at every mosaic pixel, by pasting literally. */
function literalOwners(g: (typeof GRIDS)[number]): { ids: Int32Array; H: number; W: number } {
  const [sy, sx] = [g.h - g.overlap, g.w - g.overlap];
  const H = (g.rows - 1) * sy + g.h;
  const W = (g.cols - 1) * sx + g.w;
  const ids = new Int32Array(H * W).fill(-1);
  for (let r = 0; r < g.rows; r++)
    for (let c = 0; c < g.cols; c++)
      for (let y = r > 0 ? g.edge : 0; y < g.h; y++)
        for (let x = c > 0 ? g.edge : 0; x < g.w; x++)
          ids[(r * sy + y) * W + c * sx + x] = r * g.cols + c;
  return { ids, H, W };
}

const layoutOf = (g: (typeof GRIDS)[number]) =>
  new ProjectionLayout(
    { projection: 7, grid: [g.rows, g.cols], cellShape: [g.h, g.w], overlapPx: g.overlap },
    { edgeExclusionPx: g.edge, padPx: g.pad },
  );

test("owned rectangles tile the mosaic exactly as the literal row-major paste", () => {
  for (const g of GRIDS) {
    const { ids, H, W } = literalOwners(g);
    const layout = layoutOf(g);
    assert.deepEqual(layout.extent, { y0: 0, y1: H, x0: 0, x1: W });
    const seen = new Int32Array(H * W).fill(-1);
    for (let r = 0; r < g.rows; r++)
      for (let c = 0; c < g.cols; c++) {
        const o = layout.ownedRect(r, c);
        for (let y = o.y0; y < o.y1; y++)
          for (let x = o.x0; x < o.x1; x++) {
            assert.equal(seen[y * W + x], -1, "owned rectangles overlap");
            seen[y * W + x] = r * g.cols + c;
          }
      }
    assert.deepEqual(seen, ids);
  }
});

test("a window's pieces cover its in-grid part once, each from its literal owner, in cell-local px", () => {
  for (const g of GRIDS) {
    const { ids, W } = literalOwners(g);
    const layout = layoutOf(g);
    for (let row = 0; row < g.rows; row++) {
      const win = layout.rowWindow(row, [0, g.cols - 1]);
      let covered = 0;
      for (const p of layout.pieces(win)) {
        covered += rectArea(p.rect);
        const cell = layout.cellRect(p.row, p.col);
        assert.deepEqual(p.local, {
          y0: p.rect.y0 - cell.y0,
          y1: p.rect.y1 - cell.y0,
          x0: p.rect.x0 - cell.x0,
          x1: p.rect.x1 - cell.x0,
        });
        for (let y = p.rect.y0; y < p.rect.y1; y++)
          for (let x = p.rect.x0; x < p.rect.x1; x++)
            assert.equal(ids[y * W + x], p.row * g.cols + p.col);
      }
      const inGrid: Rect = {
        y0: Math.max(0, win.y0),
        y1: Math.min(layout.extent.y1, win.y1),
        x0: Math.max(0, win.x0),
        x1: Math.min(layout.extent.x1, win.x1),
      };
      assert.equal(covered, rectArea(inGrid));
    }
  }
});

test("subtract leaves disjoint parts that, with the inner rectangle, make up the outer", () => {
  const outer = { y0: 0, y1: 10, x0: 0, x1: 12 };
  for (const inner of [
    { y0: 0, y1: 4, x0: 0, x1: 12 },
    { y0: 2, y1: 5, x0: 3, x1: 7 },
    { y0: 6, y1: 10, x0: 5, x1: 12 },
  ]) {
    const parts = subtract(outer, inner);
    assert.equal(parts.reduce((a, r) => a + rectArea(r), 0) + rectArea(inner), rectArea(outer));
  }
  assert.deepEqual(subtract(outer, undefined), [outer]);
});

test("the run plan carries the previous row's window and reads only the rest; master arrays fit every window", () => {
  const info: ProjectionInfo = {
    projection: 7,
    grid: [3, 4],
    cellShape: [20, 24],
    overlapPx: 6,
    bands: ["r"],
    crvalDeg: [0, 0],
    crpixPx: [0, 0],
    pixelScaleArcsec: 0.25,
  };
  const listed: CellListRow[] = [
    [0, 0],
    [0, 1],
    [1, 0],
    [1, 1],
    [1, 2],
    [2, 2],
  ].map(([row, col], line) => ({
    projection: 7,
    skycell: `skycell.0007.${String(row! * 4 + col!).padStart(3, "0")}`,
    index: row! * 4 + col!,
    row: row!,
    col: col!,
    raDeg: 0,
    decDeg: 0,
    line,
  }));
  const cfg = { overlapPx: 6, edgeExclusionPx: 2, padPx: 5 };
  const plan = planRun(listed, new Map([[7, info]]), cfg, new Set());
  assert.equal(plan.jobs.length, 3);
  assert.deepEqual(plan.master, masterArrayConfig([20, 24], 5, 3));
  for (const [k, job] of plan.jobs.entries()) {
    const w = job.window;
    assert.ok(w.y1 - w.y0 <= plan.master.height && w.x1 - w.x0 <= plan.master.width);
    const read = job.pieces.reduce((a, p) => a + rectArea(p.rect), 0);
    const carried = job.carry ? rectArea(job.carry) : 0;
    const layout = job.layout;
    const inGrid = layout.pieces(w).reduce((a, p) => a + rectArea(p.rect), 0);
    assert.equal(
      read + (job.carry ? rectArea(intersectGrid(job.carry, layout.extent)) : 0),
      inGrid,
    );
    if (k > 0) assert.ok(carried > 0, "consecutive rows share a halo");
    // Listed cells of this row are read under their listed names, neighbours as padding.
    for (const p of job.pieces)
      assert.equal(p.padding, !(p.row === job.row && job.cells.some((c) => c.col === p.col)));
  }
  // A row already done is skipped, and the next row then carries nothing.
  const resumed = planRun(listed, new Map([[7, info]]), cfg, new Set(["7/0"]));
  assert.equal(resumed.skipped, 1);
  assert.equal(resumed.jobs[0]!.carry, undefined);
});

function intersectGrid(r: Rect, e: Rect): Rect {
  return {
    y0: Math.max(r.y0, e.y0),
    y1: Math.min(r.y1, e.y1),
    x0: Math.max(r.x0, e.x0),
    x1: Math.min(r.x1, e.x1),
  };
}

test("bad grids and cells outside the grid are typed errors", () => {
  assert.throws(
    () =>
      new ProjectionLayout(
        { projection: 1, grid: [2, 2], cellShape: [10, 10], overlapPx: 3 },
        { edgeExclusionPx: 4, padPx: 1 },
      ),
    GeometryError,
  );
  const layout = layoutOf(GRIDS[0]!);
  assert.throws(() => layout.cellRect(3, 0), /outside projection 7's 3 x 4 grid/);
  assert.throws(() => layout.rowWindow(0, []), GeometryError);
});
