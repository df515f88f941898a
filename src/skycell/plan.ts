// The work of a run, worked out before any pixel is read: which rows, in what order, each
// row's padded window, the part of it carried over from the previous row's window (the
// cross-row padding already in memory), and the cell pieces to read for the rest.
import { formatSkycellName, type CellListRow, type ProjectionInfo } from "./dataset.js";
import {
  intersect,
  masterArrayConfig,
  ProjectionLayout,
  subtract,
  type MasterArrayConfig,
  type PlacementConfig,
  type Rect,
} from "./geometry.js";
import { rowKey } from "./output.js";

export interface ListedCell {
  col: number;
  index: number;
  /** As the cell list names it (either style); the output uses this name. */
  name: string;
}

export interface PieceTask {
  /** Position in the run's read order. */
  id: number;
  projection: number;
  row: number;
  col: number;
  /** The name to read it by: the listed name, or the plain form for a padding neighbour. */
  name: string;
  /** Mosaic px of the piece, and the same in the cell's own px. */
  rect: Rect;
  local: Rect;
  /** Not a listed cell of the row being assembled: read only to pad it. */
  padding: boolean;
}

export interface RowJob {
  projection: number;
  layout: ProjectionLayout;
  row: number;
  cells: ListedCell[];
  window: Rect;
  /** Taken from the previous job's window (same projection, the row before). */
  carry?: Rect;
  pieces: PieceTask[];
}

export interface RunPlan {
  jobs: RowJob[];
  /** Rows already done in the output (skipped). */
  skipped: number;
  master: MasterArrayConfig;
}

/**
 * Plan the rows of `cells` (grouped by projection, rows in increasing order), skipping the
 * rows in `done`. `infos` has every listed projection.
 */
export function planRun(
  cells: readonly CellListRow[],
  infos: ReadonlyMap<number, ProjectionInfo>,
  config: PlacementConfig,
  done: ReadonlySet<string>,
): RunPlan {
  const byProjection = new Map<number, Map<number, ListedCell[]>>();
  for (const c of cells) {
    const rows = byProjection.get(c.projection) ?? new Map<number, ListedCell[]>();
    byProjection.set(c.projection, rows);
    const row = rows.get(c.row) ?? [];
    rows.set(c.row, row);
    row.push({ col: c.col, index: c.index, name: c.skycell });
  }
  const jobs: RowJob[] = [];
  let skipped = 0;
  let maxCells = 1;
  let maxH = 1;
  let maxW = 1;
  let id = 0;
  for (const projection of [...byProjection.keys()].sort((a, b) => a - b)) {
    const info = infos.get(projection)!;
    const layout = new ProjectionLayout(info, config);
    const rows = byProjection.get(projection)!;
    let previous: RowJob | undefined;
    for (const row of [...rows.keys()].sort((a, b) => a - b)) {
      const listed = rows.get(row)!.sort((a, b) => a.col - b.col);
      const cols = listed.map((c) => c.col);
      maxCells = Math.max(maxCells, cols.at(-1)! - cols[0]! + 1);
      maxH = Math.max(maxH, info.cellShape[0]);
      maxW = Math.max(maxW, info.cellShape[1]);
      if (done.has(rowKey(projection, row))) {
        skipped++;
        previous = undefined;
        continue;
      }
      const window = layout.rowWindow(row, cols);
      const carry = previous ? intersect(previous.window, window) : undefined;
      const listedAt = new Map(listed.map((c) => [c.col, c]));
      const pieces: PieceTask[] = subtract(window, carry).flatMap((part) =>
        layout.pieces(part).map((p) => {
          const own = p.row === row ? listedAt.get(p.col) : undefined;
          return {
            id: id++,
            projection,
            row: p.row,
            col: p.col,
            name: own?.name ?? formatSkycellName(projection, layout.index(p.row, p.col)),
            rect: p.rect,
            local: p.local,
            padding: own === undefined,
          };
        }),
      );
      const job: RowJob = { projection, layout, row, cells: listed, window, pieces };
      if (carry) job.carry = carry;
      jobs.push(job);
      previous = job;
    }
  }
  return {
    jobs,
    skipped,
    master: masterArrayConfig([maxH, maxW], config.padPx, maxCells),
  };
}
