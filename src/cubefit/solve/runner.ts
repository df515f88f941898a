/**
 * The seed's PipelineRunner.solve_all in one call: resume priority from the file, the
 * Kaczmarz fit, and the tracker wiring (the tracker's thread is the only writer of the file).
 */
import fs from "node:fs";
import { StoreReader } from "../../store/reader.js";
import { DatasetNotFoundError } from "../../store/errors.js";
import { CUBEFIT } from "../layout.js";
import type { DesignSource } from "./design.js";
import {
  resolveStart,
  solveKaczmarz,
  type KaczmarzOptions,
  type KaczmarzResult,
  type StartChoice,
} from "./kaczmarz.js";
import { FitTracker, type TrackerConfig } from "./tracker.js";

/** What the file holds for a resume: /Fit/x_best and /X_global (undefined when absent or empty). */
export async function readFitStart(
  path: string,
): Promise<{ xBest: Float64Array | undefined; xGlobal: Float64Array | undefined }> {
  if (!fs.existsSync(path)) return { xBest: undefined, xGlobal: undefined };
  const r = await StoreReader.open(path);
  try {
    const get = (ds: string): Float64Array | undefined => {
      try {
        const a = r.read<"float64">(ds);
        return a.data.length > 0 ? (a.data as Float64Array) : undefined;
      } catch (e) {
        if (e instanceof DatasetNotFoundError) return undefined;
        throw e;
      }
    };
    return { xBest: get(CUBEFIT.xBest), xGlobal: get(CUBEFIT.xGlobal) };
  } finally {
    r.close();
  }
}

export interface SolveAllOptions extends Omit<KaczmarzOptions, "x0"> {
  /** Used when the file holds nothing to resume from (or always, with preferX0). */
  x0?: Float64Array;
  /** The seed's direct warm start: x0 overrides the resume priority. */
  preferX0?: boolean;
  /** Tracker knobs; `false` runs without a tracker (nothing is written). */
  tracker?: Partial<TrackerConfig> | false;
}

export interface SolveAllResult extends KaczmarzResult {
  /** Where the fit started, by the resume priority. */
  from: StartChoice["source"];
  /** The tracker's lowest val_rmse (NaN without a tracker). */
  bestValRmse: number;
}

/**
 * Resume (x_best -> X_global -> x0 -> streaming-Jacobi seed), fit, track. The tracker's
 * hooks run after the caller's own onBatch/onEpochEnd. The final x is recorded (and written
 * to x_latest and /X_global) when the tracker closes.
 */
export async function solveAll(
  path: string,
  design: DesignSource,
  opts: SolveAllOptions = {},
): Promise<SolveAllResult> {
  const held = await readFitStart(path);
  const start = resolveStart(design.nCols, held, opts.x0, { preferX0: opts.preferX0 ?? false });
  const tracker =
    opts.tracker === false ? undefined : await FitTracker.open(path, design, opts.tracker ?? {});
  try {
    if (tracker && opts.orbitWeights) tracker.setOrbitWeights(opts.orbitWeights);
    const hooks = tracker?.hooks();
    const kz: KaczmarzOptions = {
      ...opts,
      onBatch: async (rmse, info) => {
        await opts.onBatch?.(rmse, info);
        await hooks?.onBatch(rmse, info);
      },
      onEpochEnd: async (info) => {
        await opts.onEpochEnd?.(info);
        await hooks?.onEpochEnd(info);
      },
    };
    delete kz.x0;
    if (start.x) kz.x0 = start.x;
    const res = await solveKaczmarz(design, kz);
    await tracker?.close({ x: res.x, epoch: res.epochs });
    return { ...res, from: start.source, bestValRmse: tracker?.bestValRmse ?? NaN };
  } catch (e) {
    await tracker?.close().catch(() => {});
    throw e;
  }
}
