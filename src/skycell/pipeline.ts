/**
 * The PS1 sliding-window convolution pipeline (seed 004), on worker_threads:
 *
 *   readers (parallel)  ->  pre-processors (parallel)  ->  assembler (this thread)  ->  saver
 *   cell pieces from Zarr   band linearisation and          row windows, convolution   Zarr +
 *                           combination, mask OR            split over the workers     JSON
 *
 * Stages 1 and 2 run back to back in each of `workers` worker threads (worker-thread.ts), which
 * also run the convolution's strips and compress the output chunks: the assembler and the
 * saver only copy and write, so `workers` is the number of cores the run keeps busy.
 *
 * The assembler walks the rows of each projection in order. A row's window is its cells plus
 * `padPx` all round, in a master array (two, alternating, sized once). The part of the window
 * the previous row's window already held (the overlap and both paddings: the halo) is copied
 * over; everything else is read as pieces of cells: the row's own cells, the next row's cells
 * down to the bottom padding (cross-row padding), and neighbours outside the cell list for
 * the side and corner padding (on-demand padding cells). Each mosaic pixel comes from the one
 * cell that supplies it under the seed's overlap rule (geometry.ts), so nothing is read twice
 * for one window, and the window holds only the halo of the next row, not the next row.
 *
 * Reads run ahead of the assembler up to `queueDepth` pieces and `readAheadBytes` (default
 * one master window of raw bands): memory is the master arrays, the convolution buffers and
 * those pieces, whatever the number of rows.
 *
 * Failures. A piece that cannot be read or combined (or misses the row's gather deadline)
 * leaves its pixels without data; a listed cell with such a piece is not written and is
 * reported, the rest of the row goes on. A missing neighbour only weakens the padding (noted
 * in the row's record). Rows with failed cells are retried by the next run.
 *
 * Stopping. `signal` (the kernel's stop button, or SIGINT/SIGTERM in the command-line tool)
 * stops between pieces and rows; the saver finishes what it was given, and the row being
 * assembled is not recorded, so the output stays consistent and a new run resumes after the
 * last recorded row.
 */
import fs from "node:fs";
import path from "node:path";
import * as Comlink from "comlink/dist/esm/comlink.mjs";
import { WorkerPool } from "../parallel/worker-pool.js";
import { resolveConfig, SkycellConfigError, type SkycellConfig } from "./config.js";
import {
  DEFAULT_PS1_STORE_NAME,
  DEFAULT_TESS_BAND_WEIGHTS,
  findCellCsv,
  loadCellList,
  PS1_DEFAULT_BAD_MASK,
  projectionDirName,
  readProjectionInfo,
  type Ps1Band,
  type ProjectionInfo,
} from "./dataset.js";
import {
  completedRows,
  inputFingerprint,
  outputDir,
  OUTPUT_FORMAT,
  readOutputMetadata,
  rowKey,
  runParameters,
  type FailedCell,
  type OutputMetadata,
  type RowRecord,
} from "./output.js";
import { rectArea } from "./geometry.js";
import { planRun, type PieceTask, type RowJob } from "./plan.js";
import type { SaverThreadApi } from "./saver-thread.js";
import type { PieceOutcome, WorkerThreadApi } from "./worker-thread.js";
import { MasterArray } from "./window.js";

export interface SkycellRunOptions extends Partial<SkycellConfig> {
  /** Holds the cell lists, the input store (default name) and convolved_results/. */
  dataRoot: string;
  sector: number;
  camera: number;
  ccd: number;
  /** Default `<dataRoot>/ps1_skycells.zarr`. */
  inputStore?: string;
  /** Default `<dataRoot>/cells_sSSSS_cC_ccdD.csv`. */
  cellList?: string;
  /** Default `<dataRoot>/convolved_results/sector_SSSS/camera_C/ccd_D`. */
  outputDir?: string;
  /** Only the first N projections (in id order). */
  projectionsLimit?: number;
  /** Ignore (and replace) earlier output in the output directory. */
  fresh?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: SkycellProgress) => void;
}

export interface QueueDepths {
  /** Worker calls (pieces to read and combine, convolution strips, cells to encode). */
  workers: { queued: number; running: number };
  /** Pieces read ahead and not yet placed, and the bytes they may hold. */
  ahead: number;
  aheadBytes: number;
  /** Saver calls not yet finished. */
  save: number;
}

export interface SkycellProgress {
  phase: "gather" | "convolve" | "saved";
  projection: number;
  row: number;
  /** Rows recorded in the output (this run's and earlier runs'), and of the whole list. */
  rowsDone: number;
  rowsTotal: number;
  cellsWritten: number;
  failed: number;
  queues: QueueDepths;
  seconds: number;
  /** Listed-cell megapixels written per second, this run. */
  megapixelsPerSecond: number;
}

export interface SkycellRunReport {
  outputDir: string;
  rowsTotal: number;
  rowsDone: number;
  /** Rows found done in the output and skipped. */
  rowsSkipped: number;
  cellsWritten: number;
  /** Cells (and padding neighbours) that failed this run. */
  failed: FailedCell[];
  aborted: boolean;
  seconds: number;
  /** Listed-cell megapixels written this run, and per second of the whole run. */
  megapixels: number;
  megapixelsPerSecond: number;
  workers: number;
}

/** Something stopped the whole run (a save failing, say), named with its cause. */
export class SkycellPipelineError extends Error {
  override readonly name = "SkycellPipelineError";
}

type PieceResult =
  PieceOutcome | { ok: false; stage: FailedCell["stage"]; message: string; missing: boolean };

export async function runSkycellPipeline(opts: SkycellRunOptions): Promise<SkycellRunReport> {
  const t0 = performance.now();
  const config = resolveConfig(opts, {
    bandWeights: DEFAULT_TESS_BAND_WEIGHTS,
    badMaskBits: PS1_DEFAULT_BAD_MASK,
  });
  const ccd = { sector: opts.sector, camera: opts.camera, ccd: opts.ccd };
  const inputStore = opts.inputStore ?? path.join(opts.dataRoot, DEFAULT_PS1_STORE_NAME);
  const cellList = opts.cellList ?? findCellCsv(opts.dataRoot, ccd);
  const dir = opts.outputDir ?? outputDir(opts.dataRoot, ccd);

  let cells = await loadCellList(cellList);
  const projections = [...new Set(cells.map((c) => c.projection))].sort((a, b) => a - b);
  const kept = new Set(projections.slice(0, opts.projectionsLimit ?? projections.length));
  cells = cells.filter((c) => kept.has(c.projection));
  const infos = new Map<number, ProjectionInfo>();
  for (const p of kept) {
    const info = await readProjectionInfo(inputStore, p);
    if (info.overlapPx !== config.overlapPx)
      throw new SkycellConfigError(
        "overlapPx",
        `is ${config.overlapPx}, but projection ${p} in ${inputStore} has cells overlapping by ${info.overlapPx} px`,
      );
    infos.set(p, info);
  }
  const bands = Object.entries(config.bandWeights)
    .filter(([, w]) => w !== 0)
    .map(([b]) => b as Ps1Band);

  const parameters = runParameters(config, inputFingerprint(inputStore, cellList, cells, bands));
  if (opts.fresh) fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const earlier = readOutputMetadata(dir, parameters);
  const inputs = { store: path.resolve(inputStore), cellList: path.resolve(cellList) };
  const meta: OutputMetadata = earlier
    ? { ...earlier, inputs }
    : { format: OUTPUT_FORMAT, parameters, inputs, rows: [], cells: {} };
  const plan = planRun(cells, infos, config, completedRows(earlier));
  const rowsTotal = plan.jobs.length + plan.skipped;

  // A run with every row done already starts no worker threads.
  const pool = new WorkerPool<WorkerThreadApi>(
    new URL("./worker-thread", import.meta.url),
    plan.jobs.length ? config.workers : 0,
  );
  const saver = new WorkerPool<SaverThreadApi>(new URL("./saver-thread", import.meta.url), 1);
  const limit = (what: string) => ({ timeoutMs: config.queueTimeoutMs, what });
  let saving = 0;
  const save = async <T>(what: string, fn: (s: Comlink.Remote<SaverThreadApi>) => Promise<T>) => {
    saving++;
    try {
      return await saver.run(fn, limit(what));
    } catch (e) {
      throw new SkycellPipelineError(`the saver failed (${what}): ${(e as Error).message}`);
    } finally {
      saving--;
    }
  };

  // ---- reading ahead ----
  const pieces = plan.jobs.flatMap((j) => j.pieces);
  const results = new Map<number, Promise<PieceResult>>();
  let nextPiece = 0;
  const stopped = () => opts.signal?.aborted === true;
  // A piece holds 6 bytes per pixel per band while read (float32 image, uint16 mask), and 6
  // once combined: count the larger against the read-ahead budget until it is placed.
  const bytesPerPx = 6 * bands.length;
  const pieceBytes = (p: PieceTask) => rectArea(p.rect) * bytesPerPx;
  const budgetBytes = config.readAheadBytes ?? plan.master.width * plan.master.height * bytesPerPx;
  let aheadBytes = 0;
  const pump = () => {
    while (!stopped() && results.size < config.queueDepth && nextPiece < pieces.length) {
      const p = pieces[nextPiece]!;
      if (results.size > 0 && aheadBytes + pieceBytes(p) > budgetBytes) break;
      nextPiece++;
      aheadBytes += pieceBytes(p);
      results.set(p.id, fetchPiece(p));
    }
  };
  const fetchPiece = async (p: PieceTask): Promise<PieceResult> => {
    const what = `${p.name} rows ${p.local.y0}-${p.local.y1} cols ${p.local.x0}-${p.local.x1}`;
    try {
      return await pool.run<PieceOutcome>(
        (w) =>
          w.readCombined(
            inputStore,
            p.projection,
            p.name,
            p.local,
            bands,
            config.bandWeights,
            config.badMaskBits,
          ),
        limit(`reading and combining ${what}`),
      );
    } catch (e) {
      // The call itself failed: timed out (a hung read, most likely) or its thread died.
      return { ok: false, stage: "read", message: (e as Error).message, missing: false };
    }
  };

  // ---- assembling, convolving, saving ----
  const masters = [new MasterArray(plan.master), new MasterArray(plan.master)];
  const capacity = plan.master.width * plan.master.height;
  const shared = () => new Float32Array(new SharedArrayBuffer(capacity * 4));
  const [num, den, data, weight] = [shared(), shared(), shared(), shared()];
  const cellKey = (projection: number, row: number, col: number) => `${projection}/${row}/${col}`;
  const listedCells = new Set(cells.map((c) => cellKey(c.projection, c.row, c.col)));
  const failedCells = new Map<string, FailedCell>();
  const headers = new Map<string, Record<string, unknown>>();
  const failedThisRun: FailedCell[] = [];
  let rowsDone = plan.skipped;
  let cellsWritten = 0;
  let megapixels = 0;
  let pendingRow: Promise<void> = Promise.resolve();
  let encoding: Promise<unknown> = Promise.resolve();
  const progress = (phase: SkycellProgress["phase"], job: RowJob) => {
    const seconds = (performance.now() - t0) / 1000;
    opts.onProgress?.({
      phase,
      projection: job.projection,
      row: job.row,
      rowsDone,
      rowsTotal,
      cellsWritten,
      failed: failedThisRun.length,
      queues: {
        workers: pool.depth,
        ahead: results.size,
        aheadBytes,
        save: saving,
      },
      seconds,
      megapixelsPerSecond: seconds > 0 ? megapixels / seconds : 0,
    });
  };

  try {
    await save("opening the output", (s) => s.open(dir, meta));
    pump();
    for (let k = 0; k < plan.jobs.length && !stopped(); k++) {
      const job = plan.jobs[k]!;
      const buf = masters[k % 2]!;
      progress("gather", job);
      buf.reset(job.window);
      if (job.carry) buf.copyFrom(masters[(k + 1) % 2]!, job.carry);
      const rowFailures: FailedCell[] = [];
      const deadline = performance.now() + config.gatherTimeoutMs;
      for (const p of job.pieces) {
        pump();
        const r = await withDeadline(results.get(p.id)!, deadline, opts.signal);
        results.delete(p.id);
        aheadBytes -= pieceBytes(p);
        if (r === "stopped") break;
        const result: PieceResult =
          r === "late"
            ? {
                ok: false,
                stage: "gather",
                message: `not gathered within ${config.gatherTimeoutMs} ms`,
                missing: false,
              }
            : r;
        if (result.ok) {
          buf.place(p.rect, result.flux, result.mask);
          const key = cellKey(p.projection, p.row, p.col);
          if (result.header && listedCells.has(key)) headers.set(key, result.header);
          continue;
        }
        // An absent neighbour outside the list is an edge of the data, not a failure.
        if (result.missing && p.padding) continue;
        const f: FailedCell = {
          name: p.name,
          projection: p.projection,
          stage: result.stage,
          message: result.message,
          padding: p.padding,
        };
        failedCells.set(cellKey(p.projection, p.row, p.col), f);
        rowFailures.push(f);
      }
      pump();
      if (stopped()) break;

      progress("convolve", job);
      // The previous row's cells are encoded out of `data` and `weight` before they are reused.
      await encoding;
      await convolveWindow(pool, buf, config, { num, den, data, weight });

      const written: string[] = [];
      const saves: Promise<void>[] = [];
      const encodes: Promise<unknown>[] = [];
      const n = buf.width * buf.height;
      for (const cell of job.cells) {
        const failure = failedCells.get(cellKey(job.projection, job.row, cell.col));
        if (failure) {
          if (failure.padding || failure.name !== cell.name)
            rowFailures.push({ ...failure, name: cell.name, padding: false });
          continue;
        }
        const rect = job.layout.cellRect(job.row, cell.col);
        const shape: [number, number] = [rect.y1 - rect.y0, rect.x1 - rect.x0];
        const header = headers.get(cellKey(job.projection, job.row, cell.col));
        headers.delete(cellKey(job.projection, job.row, cell.col));
        const record = {
          projection: job.projection,
          index: cell.index,
          row: job.row,
          col: cell.col,
          originPx: [rect.y0, rect.x0] as [number, number],
          shape,
          ...(header ? { header } : {}),
        };
        const encoded = pool
          .run(
            (w) =>
              w.encodeCell({
                base: `${projectionDirName(job.projection)}/${cell.name}`,
                window: buf.rect,
                rect,
                data: data.subarray(0, n),
                weight: weight.subarray(0, n),
                mask: buf.mask,
                chunkPx: config.outputChunkPx,
              }),
            { ...limit(`encoding ${cell.name}`), urgent: true },
          )
          .catch((e: Error) => {
            throw new SkycellPipelineError(`encoding ${cell.name} failed: ${e.message}`);
          });
        encodes.push(encoded);
        saves.push(
          encoded
            .then((arrays) =>
              save(`writing ${cell.name}`, (s) =>
                s.saveCell(
                  Comlink.transfer(
                    { name: cell.name, arrays, record },
                    arrays.flatMap((a) => a.files.map((f) => f.bytes.buffer)),
                  ),
                ),
              ),
            )
            .then(() => {
              cellsWritten++;
              megapixels += (shape[0] * shape[1]) / 1e6;
            }),
        );
        written.push(cell.name);
      }
      encoding = Promise.allSettled(encodes);
      failedThisRun.push(...rowFailures);
      const record: RowRecord = {
        projection: job.projection,
        row: job.row,
        cells: written,
        completedAt: new Date().toISOString(),
        failed: rowFailures,
      };
      // One row's saves may overlap the next row's assembly, no more (memory stays bounded).
      // A failing row is heard when the next row (or the end of the run) waits for it; until
      // then it is marked handled, so the process does not see an unhandled rejection.
      const previous = pendingRow;
      pendingRow = Promise.all([previous, ...saves])
        .then(() =>
          save(`recording row ${rowKey(job.projection, job.row)}`, (s) => s.completeRow(record)),
        )
        .then(() => {
          rowsDone++;
          progress("saved", job);
        });
      pendingRow.catch(() => undefined);
      await previous;
    }
    await pendingRow;
    await save("flushing", (s) => s.flush());
  } finally {
    // Reads still in flight are dropped with their threads.
    await Promise.allSettled([pool.close(), saver.close()]);
  }
  return {
    outputDir: dir,
    rowsTotal,
    rowsDone,
    rowsSkipped: plan.skipped,
    cellsWritten,
    failed: failedThisRun,
    aborted: stopped() && rowsDone < rowsTotal,
    seconds: (performance.now() - t0) / 1000,
    megapixels,
    megapixelsPerSecond: megapixels / ((performance.now() - t0) / 1000),
    workers: config.workers,
  };
}

/**
 * Normalised Gaussian convolution of the window, split over the pre-processor threads: the
 * axis-1 pass in bands of rows, then (every row done) the axis-0 pass and division in bands of
 * the columns the cells cover (the padding's own results are never used).
 */
async function convolveWindow(
  pool: WorkerPool<WorkerThreadApi>,
  buf: MasterArray,
  config: SkycellConfig,
  out: { num: Float32Array; den: Float32Array; data: Float32Array; weight: Float32Array },
): Promise<void> {
  const h = buf.height;
  const w = buf.width;
  const n = h * w;
  const shape: [number, number] = [h, w];
  const gauss = { sigma: config.psfSigmaPx, truncate: config.truncate, mode: "constant" as const };
  const [num, den, data, weight] = [out.num, out.den, out.data, out.weight].map((a) =>
    a.subarray(0, n),
  ) as [Float32Array, Float32Array, Float32Array, Float32Array];
  const image = buf.value;
  await Promise.all(
    bands(0, h, pool.size).map(([y0, y1]) =>
      pool.run((c) => c.rowsPass(image, num, den, shape, gauss, y0, y1), URGENT),
    ),
  );
  const pad = config.padPx;
  await Promise.all(
    bands(pad, w - pad, pool.size).map(([x0, x1]) =>
      pool.run(
        (c) => c.colsPass(num, den, data, weight, shape, gauss, x0, x1, config.minWeight),
        URGENT,
      ),
    ),
  );
}

/** The assembler waits on these calls: they go ahead of pieces read ahead. */
const URGENT = { urgent: true } as const;

/** [lo, hi) cut into `parts` near-equal bands (fewer when too short). */
function bands(lo: number, hi: number, parts: number): [number, number][] {
  const n = Math.max(1, Math.min(parts, hi - lo));
  return Array.from({ length: n }, (_, i) => [
    lo + Math.floor(((hi - lo) * i) / n),
    lo + Math.floor(((hi - lo) * (i + 1)) / n),
  ]);
}

/** `p`, or "late" past the deadline, or "stopped" when the signal fires first. */
function withDeadline<T>(
  p: Promise<T>,
  deadline: number,
  signal: AbortSignal | undefined,
): Promise<T | "late" | "stopped"> {
  if (signal?.aborted) return Promise.resolve("stopped");
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  return Promise.race([
    p,
    new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), Math.max(0, deadline - performance.now()));
    }),
    new Promise<"stopped">((resolve) => {
      onAbort = () => resolve("stopped");
      signal?.addEventListener("abort", onAbort, { once: true });
    }),
  ]).finally(() => {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener("abort", onAbort);
  });
}
