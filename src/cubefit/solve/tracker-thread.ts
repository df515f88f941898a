/**
 * The fit tracker's writer thread: it owns the only write handle to the HDF5 file (the
 * seed's "dedicated writer process"), so the solver thread never opens the file for writing.
 * It creates (or adopts, on resume) /Fit and /X_global, then writes each record the solver
 * posts and commits it, so SWMR readers (dashboards, h5py) follow the fit as it runs.
 *
 * The ring slot of metrics row i is i mod R: a reader finds the newest snapshot from the
 * length of /Fit/metrics/epoch, with no extra bookkeeping dataset.
 */
import fs from "node:fs";
import { parentPort } from "node:worker_threads";
import * as Comlink from "comlink/dist/esm/comlink.mjs";
import { nodeEndpoint } from "../../store/worker/endpoint.js";
import { StoreWriter, type DatasetWriter } from "../../store/writer.js";
import { StoreError, StoreLockedError } from "../../store/errors.js";
import type { DType } from "../../store/dtype.js";
import { CUBEFIT, FIT_METRICS } from "../layout.js";

export interface TrackerThreadInit {
  nCols: number;
  ringSize: number;
  visRing: boolean;
  /** Proposed sample (kept only when the file has none yet). */
  spaxels: Int32Array;
  valPixels: Int32Array;
  parameters: Record<string, number | string | boolean>;
}

export interface TrackerThreadOpened {
  resumed: boolean;
  /** Metrics rows already in the file. */
  rows: number;
  /** Smallest val_rmse recorded (Infinity when none). */
  bestVal: number;
  /** Last time_sec and epoch recorded (0 when none). */
  lastTime: number;
  lastEpoch: number;
  ringSize: number;
  spaxels: Int32Array;
  valPixels: Int32Array;
  /** Set when the file's previous writer died and its committed data was rebuilt. */
  recovered: string | undefined;
}

export interface TrackerThreadRecord {
  /** One value per FIT_METRICS entry, in that order. */
  metrics: number[];
  /** The solution at this row (ring slot); also written to x_latest/X_global/x_best as flagged. */
  x: Float64Array;
  checkpoint: boolean;
  best: boolean;
}

const M = CUBEFIT.metrics;
let writer: StoreWriter | undefined;
let state:
  { nCols: number; ringSize: number; visRing: boolean; rows: number; path: string } | undefined;

/** Errors cross the thread as plain objects (comlink keeps only name/message of Errors). */
function plain(e: unknown): unknown {
  if (e instanceof Error) {
    return {
      trackerError: e.name,
      message: e.message,
      file: e instanceof StoreError ? e.file : undefined,
      dataset: e instanceof StoreError ? e.dataset : undefined,
      holder: e instanceof StoreLockedError ? e.holder : undefined,
    };
  }
  return e;
}

async function guarded<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw plain(e);
  }
}

function mismatch(dataset: string, problem: string): Error {
  const e = new Error(`${dataset}: ${problem}`);
  e.name = "FitLayoutMismatchError";
  return e;
}

function w(): StoreWriter {
  if (!writer) throw new Error("tracker thread: no open file");
  return writer;
}

function has(p: string): boolean {
  return w().h5().kind(p) !== "missing";
}

/** The writer's handle on an existing dataset; refuses objects this store does not track. */
function adopt(p: string): DatasetWriter<DType> {
  try {
    return w().dataset(p);
  } catch {
    throw mismatch(
      p,
      "exists but was not written by a stagelab store writer (cannot append to it)",
    );
  }
}

function ensure(
  p: string,
  dtype: "float64" | "float32" | "int32",
  rowShape: number[],
  maxRows: number | null,
  chunkRows: number,
): DatasetWriter<DType> {
  if (has(p)) {
    const d = adopt(p);
    const want = JSON.stringify(rowShape);
    if (d.dtype !== dtype || JSON.stringify(d.shape.slice(1)) !== want)
      throw mismatch(
        p,
        `is ${d.dtype} with rows ${JSON.stringify(d.shape.slice(1))}, this fit needs ${dtype} rows ${want} (another problem's fit? use another file or delete /Fit)`,
      );
    return d;
  }
  // Ring rows are chunks of their own (rewritten in place when the ring wraps), capped at
  // 16 MiB of float64; metrics series get chunks of many rows.
  const inner = rowShape.map((d) => Math.max(1, Math.min(d, 1 << 21)));
  return w().createDataset(p, {
    dtype,
    shape: [0, ...rowShape],
    maxshape: [maxRows, ...rowShape],
    chunks: [chunkRows, ...inner],
    // Small, rewritten in place, read while written: uncompressed keeps chunks in place.
    compression: "none",
  });
}

/** A (C*P,) vector stored as a 1-D dataset that is empty until first written. */
function ensureVector(p: string, n: number): DatasetWriter<DType> {
  if (has(p)) {
    const d = adopt(p);
    if (d.dtype !== "float64" || d.shape.length !== 1 || (d.length !== 0 && d.length !== n))
      throw mismatch(
        p,
        `is ${d.dtype} of shape ${JSON.stringify(d.shape)}, this fit has ${n} columns`,
      );
    return d;
  }
  return w().createDataset(p, {
    dtype: "float64",
    shape: [0],
    maxshape: [n],
    chunks: [Math.min(n, 1 << 21)],
    compression: "none",
  });
}

const api = {
  open: (path: string, init: TrackerThreadInit) =>
    guarded(async (): Promise<TrackerThreadOpened> => {
      if (writer) throw new Error("tracker thread: a file is already open");
      const provenance = { stage: "cubefit.FitTracker", parameters: init.parameters };
      writer = fs.existsSync(path)
        ? await StoreWriter.open(path, { provenance })
        : await StoreWriter.create(path, { provenance });
      try {
        const n = init.nCols;
        const resumed = has(CUBEFIT.xRing);
        let ringSize = init.ringSize;
        if (resumed) {
          const d = adopt(CUBEFIT.xRing);
          ringSize = d.maxshape[0] ?? ringSize;
        }
        const series = FIT_METRICS.map((m) => ensure(`${M}/${m}`, "float64", [], null, 1024));
        ensure(CUBEFIT.xRing, "float64", [n], ringSize, 1);
        if (init.visRing || has(CUBEFIT.xVisRing))
          ensure(CUBEFIT.xVisRing, "float32", [n], ringSize, 1);
        ensureVector(CUBEFIT.xLatest, n);
        ensureVector(CUBEFIT.xBest, n);
        ensureVector(CUBEFIT.xGlobal, n);
        let spaxels = init.spaxels;
        let valPixels = init.valPixels;
        if (has(CUBEFIT.sampleSpaxels) && has(CUBEFIT.sampleValPixels)) {
          const ds = adopt(CUBEFIT.sampleSpaxels);
          const dv = adopt(CUBEFIT.sampleValPixels);
          spaxels = ds.read([0], [ds.length]) as Int32Array;
          valPixels = dv.read([0], [dv.length]) as Int32Array;
        } else {
          w()
            .createDataset(CUBEFIT.sampleSpaxels, {
              dtype: "int32",
              shape: [0],
              maxshape: [spaxels.length],
              chunks: [Math.max(1, spaxels.length)],
              compression: "none",
            })
            .write([0], [spaxels.length], spaxels);
          w()
            .createDataset(CUBEFIT.sampleValPixels, {
              dtype: "int32",
              shape: [0],
              maxshape: [valPixels.length],
              chunks: [Math.max(1, valPixels.length)],
              compression: "none",
            })
            .write([0], [valPixels.length], valPixels);
        }
        const lengths = series.map((d) => d.length);
        const rows = lengths[0] ?? 0;
        if (lengths.some((l) => l !== rows))
          throw mismatch(M, `series have different lengths ${JSON.stringify(lengths)}`);
        let bestVal = Infinity;
        let lastTime = 0;
        let lastEpoch = 0;
        if (rows > 0) {
          const val = series[FIT_METRICS.indexOf("val_rmse")]!.read([0], [rows]) as Float64Array;
          for (const v of val) if (v < bestVal) bestVal = v;
          lastTime = (
            series[FIT_METRICS.indexOf("time_sec")]!.read([rows - 1], [1]) as Float64Array
          )[0]!;
          lastEpoch = (
            series[FIT_METRICS.indexOf("epoch")]!.read([rows - 1], [1]) as Float64Array
          )[0]!;
        }
        state = { nCols: n, ringSize, visRing: has(CUBEFIT.xVisRing), rows, path };
        // Commit now: the layout is frozen and SWMR readers can open the file from here on.
        w().commit();
        return {
          resumed,
          rows,
          bestVal,
          lastTime,
          lastEpoch,
          ringSize,
          spaxels,
          valPixels,
          recovered: w().recovered ? JSON.stringify(w().recovered) : undefined,
        };
      } catch (e) {
        writer.abandon();
        writer = undefined;
        throw e;
      }
    }),

  record: (rec: TrackerThreadRecord) =>
    guarded(() => {
      const st = state;
      if (!st) throw new Error("tracker thread: record before open");
      const W = w();
      const n = st.nCols;
      if (rec.x.length !== n)
        throw new Error(`tracker thread: x has ${rec.x.length} values, not ${n}`);
      // Vectors first, metrics last: a reader that sees metrics row i finds ring slot i filled.
      const slot = st.rows % st.ringSize;
      W.dataset(CUBEFIT.xRing).write([slot, 0], [1, n], rec.x);
      if (st.visRing)
        W.dataset(CUBEFIT.xVisRing).write([slot, 0], [1, n], Float32Array.from(rec.x));
      if (rec.checkpoint) {
        W.dataset(CUBEFIT.xLatest).write([0], [n], rec.x);
        W.dataset(CUBEFIT.xGlobal).write([0], [n], rec.x);
      }
      if (rec.best) W.dataset(CUBEFIT.xBest).write([0], [n], rec.x);
      FIT_METRICS.forEach((m, i) =>
        W.dataset(`${M}/${m}`).append(Float64Array.of(rec.metrics[i] ?? NaN)),
      );
      st.rows++;
      W.commit();
      return st.rows;
    }),

  close: () =>
    guarded(() => {
      const W = writer;
      writer = undefined;
      state = undefined;
      W?.close();
    }),

  abandon: () =>
    guarded(() => {
      writer?.abandon();
      writer = undefined;
      state = undefined;
    }),
};

export type TrackerThreadApi = typeof api;

if (parentPort) Comlink.expose(api, nodeEndpoint(parentPort));
