/**
 * The seed's FitTracker: live /Fit metrics, checkpoints and the best-so-far solution of a
 * running fit, written by a dedicated thread (tracker-thread.ts) that owns the only write
 * handle to the file. The solver side only does cheap arithmetic (EWMA, norms, the
 * validation RMSE on a fixed Ns x Kval sample) and posts small messages; every record is
 * committed, so SWMR readers (dashboards, h5py with swmr=True) see it at once.
 *
 *   const tracker = await FitTracker.open("cube.h5", design, { valIntervalSec: 60 });
 *   tracker.setOrbitWeights(w);                         // optional: mass_err_* metrics
 *   await solveKaczmarz(design, { ...tracker.hooks() }); // on_batch + gated maybe_save
 *   await tracker.close({ x, epoch });                   // final record, file marked complete
 *
 * What a record holds (one row of every /Fit/metrics series, one ring slot):
 * - epoch: as passed (the hooks pass epochs completed, fractional mid-epoch);
 * - time_sec: seconds of fitting, continued across resumed runs (last recorded + this run's);
 * - train_rmse_ewma: EWMA (factor ewmaAlpha) of the per-spaxel RMSEs given to onBatch;
 * - val_rmse: RMSE of A x - y on the sample when validation was due at this record, NaN
 *   otherwise (a gap in a plot, not a stale value). The sample is a fixed monitor drawn from
 *   diagSeed, not held out from training: the seed's Kaczmarz draws rows at random;
 * - delta_x_rel: ||x - x_prev|| / ||x|| against the previous record of this run (NaN first);
 * - nnz (x_j > 0), l1_norm, l2_norm;
 * - mass_err_L1 / mass_err_Linf: with orbit weights, the component mass fractions
 *   s_c / sum(s) (s_c = sum_p x[c*P + p]) against w_c / sum(w), L1 and max norm; NaN without.
 * x_ring (and x_vis_ring, float32) slot i mod ringSize holds x of metrics row i; x_latest and
 * /X_global are rewritten at checkpoints; x_best when a validation beats every earlier one.
 *
 * Resume: opening a file that already has /Fit continues it: rows are appended, the ring
 * goes on from the next slot, the stored sample is reused, and x_best only moves for a
 * val_rmse below the best already recorded. close() is the clean end; a process that exits
 * without it leaves every committed record readable, and the next open rebuilds the file
 * from them (the store's crash recovery).
 */
import type { Worker } from "node:worker_threads";
import * as Comlink from "comlink/dist/esm/comlink.mjs";
import { nodeEndpoint } from "../../store/worker/endpoint.js";
import { spawnModuleWorker } from "../../store/worker/spawn.js";
import { STORE_ERROR_CLASSES, StoreLockedError, type LockHolder } from "../../store/errors.js";
import { Rng } from "../../synth/random.js";
import { FIT_METRICS, type FitMetric } from "../layout.js";
import { checkSpaxel, dot, type DesignSource } from "./design.js";
import {
  CubeFitSolveError,
  FitLayoutMismatchError,
  FitTrackerError,
  requireInt,
  requireVector,
} from "./errors.js";
import type { BatchInfo, EpochInfo } from "./kaczmarz.js";
import type { TrackerThreadApi, TrackerThreadOpened } from "./tracker-thread.js";

export interface TrackerConfig {
  /** Seconds between metrics rows (and ring slots). Default 300. */
  metricsIntervalSec: number;
  /** Seconds between validations (val_rmse, x_best). Default 3600. */
  valIntervalSec: number;
  /** Seconds between checkpoints (x_latest, /X_global). Default 1800. */
  ckptIntervalSec: number;
  /** Validation spaxels. Default 16. */
  Ns: number;
  /** Validation pixels per sample spaxel (the same pixel indices in each). Default 32. */
  Kval: number;
  /** Seed of the validation sample. Default 12345. */
  diagSeed: number;
  /** Slots of x_ring / x_vis_ring (a resumed file keeps its own). Default 96. */
  ringSize: number;
  /** Also keep the float32 x_vis_ring for dashboards. Default true. */
  visRing: boolean;
  /** EWMA factor of train_rmse_ewma (weight of the newest batch). Default 0.05. */
  ewmaAlpha: number;
}

export const TRACKER_DEFAULTS: TrackerConfig = {
  metricsIntervalSec: 300,
  valIntervalSec: 3600,
  ckptIntervalSec: 1800,
  Ns: 16,
  Kval: 32,
  diagSeed: 12345,
  ringSize: 96,
  visRing: true,
  ewmaAlpha: 0.05,
};

export interface SaveResult {
  metrics: boolean;
  val: boolean;
  checkpoint: boolean;
  best: boolean;
}

/** Pick `k` distinct integers of [0, n), sorted (partial Fisher-Yates). */
function sampleDistinct(n: number, k: number, rng: Rng): Int32Array {
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  const m = Math.min(k, n);
  for (let i = 0; i < m; i++) {
    const j = i + Math.floor(rng.next() * (n - i));
    const t = perm[j]!;
    perm[j] = perm[i]!;
    perm[i] = t;
  }
  return perm.slice(0, m).sort();
}

function rebuildError(e: unknown): Error {
  const x = e as {
    trackerError?: string;
    message?: string;
    file?: string;
    dataset?: string;
    holder?: LockHolder;
  };
  if (x && typeof x === "object" && typeof x.trackerError === "string") {
    const msg = x.message ?? "tracker thread failed";
    if (x.trackerError === "FitLayoutMismatchError") {
      const i = msg.indexOf(": ");
      return new FitLayoutMismatchError(msg.slice(0, i), msg.slice(i + 2));
    }
    if (x.trackerError === "StoreLockedError" && x.holder)
      return new StoreLockedError({ file: x.file ?? "", dataset: x.dataset }, x.holder);
    const Cls = STORE_ERROR_CLASSES[x.trackerError];
    if (Cls) {
      // The message already names file and dataset: rebuild it without prefixing again.
      const err = new Cls("", { file: x.file ?? "" });
      err.message = msg;
      return err;
    }
    return new FitTrackerError("tracker thread", msg);
  }
  return e instanceof Error ? e : new FitTrackerError("tracker thread", String(e));
}

export class FitTracker {
  private readonly pending: Promise<unknown>[] = [];
  private failure: Error | undefined;
  private closed = false;
  private inFlight = 0;
  private ewma = NaN;
  private weights: Float64Array | undefined;
  private prevX: Float64Array | undefined;
  private lastMetrics = -Infinity;
  private lastVal = -Infinity;
  private lastCkpt = -Infinity;
  private best: number;
  private rows: number;
  private readonly started = performance.now();
  /** True when the file already had a /Fit that this tracker continues. */
  readonly resumed: boolean;
  /** time_sec recorded last before this run (resumed runs continue from it). */
  readonly timeOffset: number;
  readonly ringSize: number;
  /** The validation sample in use (/Fit/sample). */
  readonly sample: { spaxels: Int32Array; valPixels: Int32Array };
  /** What the store's crash recovery kept, when the previous writer had died (JSON). */
  readonly recovered: string | undefined;

  private constructor(
    private readonly worker: Worker,
    private readonly remote: Comlink.Remote<TrackerThreadApi>,
    readonly path: string,
    readonly nCols: number,
    readonly cfg: TrackerConfig,
    opened: TrackerThreadOpened,
    /** The validation rows: (spaxels x Kval) x nCols, pixel-major, and their targets. */
    private readonly valA: Float64Array,
    private readonly valY: Float64Array,
  ) {
    this.best = opened.bestVal;
    this.rows = opened.rows;
    this.resumed = opened.resumed;
    this.timeOffset = opened.lastTime;
    this.ringSize = opened.ringSize;
    this.sample = { spaxels: opened.spaxels, valPixels: opened.valPixels };
    this.recovered = opened.recovered;
  }

  /**
   * Start the writer thread on `path` (created when missing) and draw (or, on resume, read
   * back) the validation sample, whose rows are fetched from `design` once.
   */
  static async open(
    path: string,
    design: DesignSource,
    config: Partial<TrackerConfig> = {},
  ): Promise<FitTracker> {
    const cfg: TrackerConfig = { ...TRACKER_DEFAULTS, ...config };
    for (const k of ["metricsIntervalSec", "valIntervalSec", "ckptIntervalSec"] as const)
      if (!(cfg[k] >= 0)) throw new CubeFitSolveError(k, `must be >= 0 seconds, got ${cfg[k]}`);
    requireInt("Ns", cfg.Ns, 1);
    requireInt("Kval", cfg.Kval, 1);
    requireInt("ringSize", cfg.ringSize, 1);
    if (!(cfg.ewmaAlpha > 0 && cfg.ewmaAlpha <= 1))
      throw new CubeFitSolveError("ewmaAlpha", `must be in (0, 1], got ${cfg.ewmaAlpha}`);
    const n = design.nCols;
    const S = design.nSpaxels;
    requireInt("design.nSpaxels", S, 1);

    // The proposed sample: Ns spaxels, then Kval pixels valid in every one of them.
    const rng = new Rng(cfg.diagSeed);
    const spaxels = sampleDistinct(S, cfg.Ns, rng);
    let minPixels = Infinity;
    for (const s of spaxels) minPixels = Math.min(minPixels, (await design.spaxel(s)).pixels);
    if (!(minPixels > 0))
      throw new CubeFitSolveError("Ns", "a sampled spaxel has no pixels: nothing to validate on");
    const valPixels = sampleDistinct(minPixels, cfg.Kval, rng);

    const worker = spawnModuleWorker(new URL("./tracker-thread", import.meta.url));
    const remote = Comlink.wrap<TrackerThreadApi>(nodeEndpoint(worker));
    let opened: TrackerThreadOpened | undefined;
    try {
      opened = await remote
        .open(path, {
          nCols: n,
          ringSize: cfg.ringSize,
          visRing: cfg.visRing,
          spaxels,
          valPixels,
          parameters: { ...cfg, nCols: n },
        })
        .catch((e: unknown) => {
          throw rebuildError(e);
        });
      const { valA, valY } = await validationRows(design, opened.spaxels, opened.valPixels);
      worker.unref();
      return new FitTracker(worker, remote, path, n, cfg, opened, valA, valY);
    } catch (e) {
      if (opened) await remote.abandon().catch(() => {});
      remote[Comlink.releaseProxy]();
      await worker.terminate();
      throw e;
    }
  }

  /** Per-component prior weights (length C, C divides nCols) for the mass_err_* metrics. */
  setOrbitWeights(w: ArrayLike<number>): void {
    if (w.length === 0 || this.nCols % w.length !== 0)
      throw new CubeFitSolveError(
        "orbitWeights",
        `has ${w.length} components, which does not divide nCols = ${this.nCols}`,
      );
    requireVector("orbitWeights", w, w.length);
    this.weights = Float64Array.from(w);
  }

  /** Once per spaxel: fold that batch's RMSE into the EWMA. */
  onBatch(rmse: number): void {
    if (!Number.isFinite(rmse)) return;
    this.ewma = Number.isNaN(this.ewma)
      ? rmse
      : this.cfg.ewmaAlpha * rmse + (1 - this.cfg.ewmaAlpha) * this.ewma;
  }

  get trainRmseEwma(): number {
    return this.ewma;
  }

  /** Lowest val_rmse recorded (this run or the resumed ones). */
  get bestValRmse(): number {
    return this.best;
  }

  /** Metrics rows in the file (after the posted records are written). */
  get records(): number {
    return this.rows;
  }

  /** RMSE of A x - y on the validation sample. */
  valRmse(x: Float64Array): number {
    const n = this.nCols;
    const k = this.valY.length;
    let sq = 0;
    for (let i = 0; i < k; i++) {
      const r = this.valY[i]! - dot(this.valA, i * n, x, n);
      sq += r * r;
    }
    return Math.sqrt(sq / k);
  }

  /**
   * Record what is due: a metrics row (and ring slot) every metricsIntervalSec, a validation
   * every valIntervalSec (always with a row), a checkpoint every ckptIntervalSec; the first
   * call records all three. `force` records all three now. Resolves once the record is
   * posted (it waits for the writer only when two records are already queued); a failure
   * of the writer thread is thrown here or by the next call.
   */
  async maybeSave(x: Float64Array, epoch: number, force = false): Promise<SaveResult> {
    this.check();
    const now = performance.now();
    const due = (last: number, sec: number) => force || now - last >= sec * 1000;
    const val = due(this.lastVal, this.cfg.valIntervalSec);
    const checkpoint = due(this.lastCkpt, this.cfg.ckptIntervalSec);
    const metrics = val || checkpoint || due(this.lastMetrics, this.cfg.metricsIntervalSec);
    if (!metrics) return { metrics, val, checkpoint, best: false };
    if (x.length !== this.nCols)
      throw new CubeFitSolveError(
        "x",
        `has ${x.length} entries, the fit has ${this.nCols} columns`,
      );
    const row = this.metricsRow(x, epoch, val ? this.valRmse(x) : NaN, now);
    const v = row[FIT_METRICS.indexOf("val_rmse")]!;
    const best = val && v < this.best;
    if (best) this.best = v;
    this.lastMetrics = now;
    if (val) this.lastVal = now;
    if (checkpoint) this.lastCkpt = now;
    const copy = Float64Array.from(x);
    this.prevX = Float64Array.from(x);
    this.rows++;
    await this.post(
      this.remoteCall((r) =>
        r.record(Comlink.transfer({ metrics: row, x: copy, checkpoint, best }, [copy.buffer])),
      ),
    );
    return { metrics, val, checkpoint, best };
  }

  private metricsRow(x: Float64Array, epoch: number, val: number, now: number): number[] {
    const n = this.nCols;
    let nnz = 0;
    let l1 = 0;
    let l2 = 0;
    let d2 = 0;
    for (let j = 0; j < n; j++) {
      const v = x[j]!;
      if (v > 0) nnz++;
      l1 += Math.abs(v);
      l2 += v * v;
      if (this.prevX) d2 += (v - this.prevX[j]!) ** 2;
    }
    const [massL1, massLinf] = this.massErrors(x);
    const values: Record<FitMetric, number> = {
      epoch,
      time_sec: this.timeOffset + (now - this.started) / 1000,
      train_rmse_ewma: this.ewma,
      val_rmse: val,
      delta_x_rel: this.prevX ? (l2 > 0 ? Math.sqrt(d2 / l2) : Math.sqrt(d2)) : NaN,
      nnz,
      l1_norm: l1,
      l2_norm: Math.sqrt(l2),
      mass_err_L1: massL1,
      mass_err_Linf: massLinf,
    };
    return FIT_METRICS.map((m) => values[m]);
  }

  /** [L1, Linf] of component mass fractions against the orbit weights' fractions. */
  massErrors(x: Float64Array): [number, number] {
    const w = this.weights;
    if (!w) return [NaN, NaN];
    const C = w.length;
    const P = this.nCols / C;
    let tot = 0;
    let wt = 0;
    const s = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      let sc = 0;
      for (let p = 0; p < P; p++) sc += x[c * P + p]!;
      s[c] = sc;
      tot += sc;
      wt += w[c]!;
    }
    if (!(tot > 0) || !(wt > 0)) return [NaN, NaN];
    let l1 = 0;
    let linf = 0;
    for (let c = 0; c < C; c++) {
      const e = Math.abs(s[c]! / tot - w[c]! / wt);
      l1 += e;
      if (e > linf) linf = e;
    }
    return [l1, linf];
  }

  /**
   * Hooks for solveKaczmarz: onBatch feeds the EWMA and calls maybeSave with the epochs
   * completed so far; onEpochEnd does the same at each epoch's end.
   */
  hooks(): {
    onBatch: (rmse: number, info: BatchInfo) => Promise<unknown>;
    onEpochEnd: (info: EpochInfo) => Promise<unknown>;
  } {
    return {
      onBatch: (rmse, info) => {
        this.onBatch(rmse);
        return this.maybeSave(info.x, info.epochsDone);
      },
      onEpochEnd: (info) => this.maybeSave(info.x, info.epoch + 1),
    };
  }

  /** Wait until every posted record is written and committed. */
  async flush(): Promise<void> {
    while (this.pending.length) await this.pending.shift();
    this.check();
  }

  /**
   * Write a final record of `final` (metrics, validation, checkpoint) when given, wait for
   * the queue, close the file (marked complete) and end the thread.
   */
  async close(final?: { x: Float64Array; epoch: number }): Promise<void> {
    if (this.closed) return;
    try {
      if (final && !this.failure) await this.maybeSave(final.x, final.epoch, true);
      await this.flush();
      await this.remoteCall((r) => r.close());
    } finally {
      this.closed = true;
      if (this.failure) await this.remoteCall((r) => r.abandon()).catch(() => {});
      this.remote[Comlink.releaseProxy]();
      await this.worker.terminate();
    }
    if (this.failure) throw this.failure;
  }

  private check(): void {
    if (this.failure) throw this.failure;
    if (this.closed) throw new FitTrackerError("tracker", `closed (${this.path})`);
  }

  private async remoteCall<T>(fn: (r: Comlink.Remote<TrackerThreadApi>) => Promise<T>): Promise<T> {
    // Keep the process alive only while the writer has work (like the store's threads).
    if (this.inFlight++ === 0) this.worker.ref();
    try {
      return await fn(this.remote);
    } catch (e) {
      const err = rebuildError(e);
      this.failure ??= err;
      throw err;
    } finally {
      if (--this.inFlight === 0) this.worker.unref();
    }
  }

  private async post(p: Promise<unknown>): Promise<void> {
    // The failure is recorded by remoteCall and thrown by the next call.
    const settled = p.catch(() => {});
    this.pending.push(settled);
    while (this.pending.length > 2) await this.pending.shift();
  }
}

/** The sample's rows: for each sample spaxel, its rows at valPixels (checked in range). */
async function validationRows(
  design: DesignSource,
  spaxels: Int32Array,
  valPixels: Int32Array,
): Promise<{ valA: Float64Array; valY: Float64Array }> {
  const n = design.nCols;
  const k = valPixels.length;
  const valA = new Float64Array(spaxels.length * k * n);
  const valY = new Float64Array(spaxels.length * k);
  let row = 0;
  for (const s of spaxels) {
    if (s < 0 || s >= design.nSpaxels)
      throw new FitLayoutMismatchError(
        "/Fit/sample/spaxels",
        `holds spaxel ${s}, the design has ${design.nSpaxels} (another problem's fit?)`,
      );
    const sp = await design.spaxel(s);
    checkSpaxel(design, s, sp);
    for (const l of valPixels) {
      if (l < 0 || l >= sp.pixels)
        throw new FitLayoutMismatchError(
          "/Fit/sample/val_pixels",
          `holds pixel ${l}, spaxel ${s} has ${sp.pixels} (another problem's fit?)`,
        );
      valA.set(sp.a.subarray(l * n, (l + 1) * n), row * n);
      valY[row] = sp.y[l]!;
      row++;
    }
  }
  return { valA, valY };
}
