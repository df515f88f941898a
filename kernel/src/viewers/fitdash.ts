/**
 * FitDashboard, kernel side: seed 003's live fit dashboard over the /Fit groups a fit tracker
 * writes (layout in src/cubefit/layout.ts), for one run or several overlaid (several files, or
 * several fit groups of one file).
 *
 *   metrics   every series of <group>/metrics (the seed's ten first, then any others) against
 *             epoch or time_sec: the raw values, and a debiased EWMA of each, as Adam's moment
 *             estimates: m_t = beta m_{t-1} + (1 - beta) x_t, shown s_t = m_t / (1 - beta^t),
 *             t counting the finite values so far (non-finite values are skipped and give NaN)
 *   best      per run, the row of the smallest finite val_rmse (the first of ties)
 *   solution  x_latest (or x_best) of one run reshaped (C, P), x[c * P + p]: per-component
 *             mass s_c = sum_p x[c, p], and the C x P values
 *
 * C and P come from the root attribute `dims` (nComp, nPop), else the shapes of /LOSVD (S, V, C)
 * and /Templates (P, T), else the options, else C = 1.
 *
 * The files are opened read-only on the store thread. While any is being written the model
 * polls them and pushes only the new rows of each run (the view adds them with Vega
 * changesets), and the solution shown when it changed. Pausing (following = false) stops the
 * pushes; resuming sends every row committed meanwhile. Its display carries a static PNG.
 *
 * Messages (custom, view -> kernel): {type: "series", id}: every row of every run (reset);
 *   {type: "solution", id}: the solution shown.
 * (kernel -> view):
 *   {type: "rows", id, reset, sequence, runs: [{run, start, count, columns: {name: f64[count]},
 *    smooth: {name: f64[count]}, best}]}   (id "live" for pushes while following)
 *   {type: "solution", id, run, which, C, P, x: f64[C*P], masses: f64[C], note}
 *   {type: "error", id, message}; typed arrays travel as buffers (`buffer_paths`).
 */
import path from "node:path";
import {
  AsyncStoreReader,
  DatasetNotFoundError,
  InvalidArgumentError,
  cubefit,
  encodePng,
} from "@stagelab/core";
import { type MimeBundle } from "../format.js";
import { FileView, attrText, followState, type FollowState } from "./file-view.js";
import { composeGrid, type RgbaPanel } from "./compose.js";
import { PALETTE, barChart, heatmap, lineChart } from "./chart-raster.js";
import { WIDGETS_MODULE, WIDGETS_VERSION } from "./h5view.js";
import { SerialQueue, datasetInfo, parseDims, readFloat64, sendPacked } from "./cubefit-common.js";

const { CUBEFIT, FIT_METRICS } = cubefit;

/** A run: a file (its /Fit group), or a file and a fit group, with an optional label. */
export type RunSpec = string | { file: string; group?: string; label?: string };

export type XAxis = "epoch" | "time_sec";
export type SolutionName = "x_latest" | "x_best";

export interface FitDashboardOptions {
  /** Fit groups read from each file given as a plain path (default ["/Fit"]). */
  groups?: string[];
  /** x axis: "epoch" (default) or "time_sec". */
  x?: XAxis;
  /** EWMA factor beta in [0, 1) of the smoothed series (default 0.9; 0 = raw). */
  smoothing?: number;
  logX?: boolean;
  logY?: boolean;
  /** Which solution the component panels show (default "x_latest"). */
  solution?: SolutionName;
  /** Index of the run whose solution is shown (default 0). */
  run?: number;
  /** C and P when the file does not say (root attribute dims, /LOSVD, /Templates). */
  components?: number;
  populations?: number;
  /** Poll interval while following files a tracker still writes (ms, default 500). */
  pollMs?: number;
  /** Follow new rows (default: while any file is being written). */
  follow?: boolean;
}

export interface BestMark extends Record<string, unknown> {
  row: number;
  epoch: number;
  time_sec: number;
  val_rmse: number;
}

/** A run as the state shows it. File, group and label are file- or user-controlled text. */
export interface RunInfo extends Record<string, unknown> {
  index: number;
  file: string;
  group: string;
  label: string;
  rows: number;
  file_state: string;
  best: BestMark | null;
  C: number;
  P: number;
  note: string;
}

interface FitDashState extends FollowState {
  runs: RunInfo[];
  /** The series plotted (every metric but epoch and time_sec), in order. */
  metrics: string[];
  x_axis: XAxis;
  smoothing: number;
  log_x: boolean;
  log_y: boolean;
  solution: SolutionName;
  solution_run: number;
  /** Bumped with every push of rows. */
  sequence: number;
  /** "writing" while any file is being written. */
  file_state: string;
}

/** A run's rows, as the view receives them. */
export interface RunRows {
  run: number;
  start: number;
  count: number;
  /** Raw values of every series (epoch and time_sec included), rows [start, start + count). */
  columns: Record<string, Float64Array>;
  /** The debiased EWMA of each plotted series over the same rows. */
  smooth: Record<string, Float64Array>;
  best: BestMark | null;
}

export interface Solution {
  run: number;
  which: SolutionName;
  C: number;
  P: number;
  /** x[c * P + p] (empty when the run has no such dataset). */
  x: Float64Array;
  /** s_c = sum_p x[c, p]. */
  masses: Float64Array;
  note: string;
}

const X_SERIES = ["epoch", "time_sec"];

/**
 * The debiased EWMA of `values` (Adam's bias correction): s_t = m_t / (1 - beta^t), with
 * m_t = beta m_{t-1} + (1 - beta) x_t over the finite values (t counts them); NaN where a
 * value is not finite. `state` carries m and t across calls (for rows that arrive later).
 */
export function debiasedEwma(
  values: ArrayLike<number>,
  beta: number,
  state: { m: number; t: number } = { m: 0, t: 0 },
): Float64Array {
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    if (!Number.isFinite(x)) {
      out[i] = NaN;
      continue;
    }
    state.m = beta * state.m + (1 - beta) * x;
    state.t++;
    out[i] = beta > 0 ? state.m / (1 - beta ** state.t) : x;
  }
  return out;
}

/** The row of the smallest finite value (the first of ties), or -1. */
export function argminFinite(values: ArrayLike<number>): number {
  let best = -1;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isFinite(v) && (best < 0 || v < values[best]!)) best = i;
  }
  return best;
}

function metricOrder(names: string[]): string[] {
  const known = FIT_METRICS.filter((m) => names.includes(m));
  const rest = names.filter((n) => !(FIT_METRICS as readonly string[]).includes(n)).sort();
  return [...known, ...rest];
}

function normGroup(g: string): string {
  const parts = g.split("/").filter(Boolean);
  return "/" + parts.join("/");
}

/** One fit group of one file, with every row read so far. */
class Run {
  names: string[] = [];
  rows = 0;
  readonly columns = new Map<string, number[]>();
  readonly smooth = new Map<string, number[]>();
  private ewma = new Map<string, { m: number; t: number }>();
  C = 0;
  P = 0;
  note = "";
  /** The solution vectors last sent (to push only changes). */
  lastSolution = new Map<SolutionName, Float64Array>();

  constructor(
    readonly index: number,
    readonly file: string,
    readonly group: string,
    public label: string,
    readonly reader: AsyncStoreReader,
  ) {}

  get plotted(): string[] {
    return this.names.filter((n) => !X_SERIES.includes(n));
  }

  /** The metric series present now (sorted as the seed lists them). */
  async listMetrics(): Promise<string[]> {
    const g = `${this.group}/metrics`;
    const nodes = await this.reader.tree(g);
    const names: string[] = [];
    for (const n of nodes) {
      if (n.kind !== "dataset") continue;
      const rel = n.path.slice(g.length + 1);
      if (rel.includes("/")) continue;
      names.push(rel);
    }
    return metricOrder(names);
  }

  /** Committed rows: the shortest series (a record is one row of each). */
  async committedRows(): Promise<number> {
    let n = Infinity;
    for (const name of this.names) {
      const info = await this.reader.info(`${this.group}/metrics/${name}`);
      n = Math.min(n, info.shape[0] ?? 0);
    }
    return Number.isFinite(n) ? n : 0;
  }

  /** Forget the rows (a reset: new series, or a new smoothing factor). */
  clear(): void {
    this.rows = 0;
    this.columns.clear();
    this.smooth.clear();
    this.ewma.clear();
  }

  /** Re-smooth every row with `beta`. */
  resmooth(beta: number): void {
    this.smooth.clear();
    this.ewma.clear();
    for (const name of this.plotted) {
      const st = { m: 0, t: 0 };
      this.ewma.set(name, st);
      this.smooth.set(name, Array.from(debiasedEwma(this.columns.get(name) ?? [], beta, st)));
    }
  }

  /** Read rows [this.rows, n) of every series, smooth them; the increment (null if none). */
  async readNew(beta: number): Promise<RunRows | null> {
    const n = await this.committedRows();
    const start = this.rows;
    if (n <= start) return null;
    const columns: Record<string, Float64Array> = {};
    const smooth: Record<string, Float64Array> = {};
    for (const name of this.names) {
      const v = await readFloat64(this.reader, `${this.group}/metrics/${name}`, [[start, n]]);
      columns[name] = v;
      const col = this.columns.get(name) ?? [];
      for (const x of v) col.push(x);
      this.columns.set(name, col);
    }
    for (const name of this.plotted) {
      let st = this.ewma.get(name);
      if (!st) this.ewma.set(name, (st = { m: 0, t: 0 }));
      smooth[name] = debiasedEwma(columns[name]!, beta, st);
      const col = this.smooth.get(name) ?? [];
      for (const x of smooth[name]) col.push(x);
      this.smooth.set(name, col);
    }
    this.rows = n;
    return { run: this.index, start, count: n - start, columns, smooth, best: this.best() };
  }

  /** Every row read so far (a reset message). */
  all(): RunRows {
    const columns: Record<string, Float64Array> = {};
    const smooth: Record<string, Float64Array> = {};
    for (const name of this.names) columns[name] = Float64Array.from(this.columns.get(name) ?? []);
    for (const name of this.plotted) smooth[name] = Float64Array.from(this.smooth.get(name) ?? []);
    return { run: this.index, start: 0, count: this.rows, columns, smooth, best: this.best() };
  }

  best(): BestMark | null {
    const val = this.columns.get("val_rmse");
    if (!val) return null;
    const i = argminFinite(val);
    if (i < 0) return null;
    return {
      row: i,
      epoch: this.columns.get("epoch")?.[i] ?? i,
      time_sec: this.columns.get("time_sec")?.[i] ?? NaN,
      val_rmse: val[i]!,
    };
  }

  /** C and P from the file (root dims, /LOSVD, /Templates) or the options. */
  async readShape(opts: FitDashboardOptions): Promise<void> {
    const dims = parseDims((await this.reader.attrs("/")).dims);
    let C = dims.nComp;
    let P = dims.nPop;
    const losvd = await datasetInfo(this.reader, CUBEFIT.losvd);
    const templates = await datasetInfo(this.reader, CUBEFIT.templates);
    if (!C && losvd?.shape.length === 3) C = losvd.shape[2];
    if (!P && templates?.shape.length === 2) P = templates.shape[0];
    this.C = C ?? opts.components ?? 0;
    this.P = P ?? opts.populations ?? 0;
  }

  async solution(which: SolutionName): Promise<Solution> {
    const ds = `${this.group}/${which}`;
    const info = await datasetInfo(this.reader, ds);
    const empty = new Float64Array(0);
    if (!info)
      return {
        run: this.index,
        which,
        C: this.C,
        P: this.P,
        x: empty,
        masses: empty,
        note: `no ${ds}`,
      };
    const x = await readFloat64(this.reader, ds);
    const n = x.length;
    let { C, P } = this;
    let note = "";
    if (C > 0 && P > 0 && C * P !== n) {
      note = `${ds} has ${n} values, not C x P = ${C} x ${P}`;
      C = 1;
      P = n;
    } else if (!(C > 0 && P > 0)) {
      if (C > 0 && n % C === 0) P = n / C;
      else if (P > 0 && n % P === 0) C = n / P;
      else {
        C = 1;
        P = n;
        note = "C and P unknown: shown as one component";
      }
    }
    const masses = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let p = 0; p < P; p++) s += x[c * P + p]!;
      masses[c] = s;
    }
    return { run: this.index, which, C, P, x, masses, note };
  }
}

/** The runs' files, one reader each (a run set is what the FileView closes). */
class RunSet {
  readonly queue = new SerialQueue();

  constructor(
    readonly readers: Map<string, AsyncStoreReader>,
    readonly runs: Run[],
  ) {}

  async close(): Promise<void> {
    await this.queue.run(async () => {
      for (const r of this.readers.values()) await r.close().catch(() => undefined);
    });
  }
}

function runSpecs(files: RunSpec | RunSpec[], opts: FitDashboardOptions) {
  const list = Array.isArray(files) ? files : [files];
  if (list.length === 0)
    throw new InvalidArgumentError("fitDashboard needs at least one file", { file: "" });
  const out: { file: string; group: string; label?: string }[] = [];
  for (const spec of list) {
    if (typeof spec === "string") {
      for (const g of opts.groups ?? [CUBEFIT.fit]) out.push({ file: spec, group: normGroup(g) });
    } else if (spec && typeof spec.file === "string") {
      out.push({
        file: spec.file,
        group: normGroup(spec.group ?? CUBEFIT.fit),
        ...(spec.label !== undefined ? { label: String(spec.label) } : {}),
      });
    } else {
      throw new InvalidArgumentError(
        `a run is a file path or {file, group?, label?}, got ${JSON.stringify(spec)}`,
        { file: "" },
      );
    }
  }
  return out;
}

/**
 * A short label for a run without one: the file name (the path when two files share it), and
 * the group when it is not /Fit or its file has other unlabelled groups.
 */
function defaultLabel(
  spec: { file: string; group: string },
  all: { file: string; group: string; label?: string }[],
): string {
  const base = path.basename(spec.file);
  const unlabelled = all.filter((s) => !("label" in s));
  const sameBase = unlabelled.filter((s) => path.basename(s.file) === base);
  let name = new Set(sameBase.map((s) => s.file)).size > 1 ? spec.file : base;
  if (
    spec.group !== CUBEFIT.fit ||
    unlabelled.some((s) => s.file === spec.file && s.group !== spec.group)
  )
    name += `:${spec.group}`;
  return name;
}

export class FitDashboard extends FileView<FitDashState, RunSet> {
  private viewsAsked = false;

  private constructor(
    private readonly set_: RunSet,
    state: FitDashState,
  ) {
    super(
      set_,
      {
        modelName: "FitDashboardModel",
        modelModule: WIDGETS_MODULE,
        viewName: "FitDashboardView",
        viewModule: WIDGETS_MODULE,
      },
      state,
    );
    this.onCustom((content) => void this.onRequest(content as Record<string, unknown>));
    this.observe(() => void this.resmooth(), ["smoothing"]);
    this.observe(() => void this.pushSolution("state"), ["solution", "solution_run"]);
  }

  /** Open the runs (use `await fitDashboard(file | files)` in a cell). */
  static async open(
    files: RunSpec | RunSpec[],
    opts: FitDashboardOptions = {},
  ): Promise<FitDashboard> {
    const specs = runSpecs(files, opts);
    const beta = opts.smoothing ?? 0.9;
    if (!(beta >= 0 && beta < 1))
      throw new InvalidArgumentError(`smoothing (beta) must be in [0, 1), got ${beta}`, {
        file: specs[0]!.file,
      });
    const readers = new Map<string, AsyncStoreReader>();
    const runs: Run[] = [];
    try {
      for (const [i, spec] of specs.entries()) {
        let reader = readers.get(spec.file);
        if (!reader) {
          reader = await AsyncStoreReader.open(spec.file);
          readers.set(spec.file, reader);
        }
        try {
          await reader.attrs(spec.group);
        } catch (e) {
          if ((e as Error).name !== "DatasetNotFoundError") throw e;
          throw new DatasetNotFoundError(
            `no fit group ${spec.group} (a fit tracker writes ${CUBEFIT.fit}/metrics, x_latest, x_best)`,
            { file: spec.file, dataset: spec.group },
          );
        }
        const groupAttrs = await reader.attrs(spec.group);
        const label =
          spec.label ??
          (groupAttrs.label !== undefined ? attrText(groupAttrs.label) : defaultLabel(spec, specs));
        const run = new Run(i, spec.file, spec.group, label, reader);
        await reader.attrs(`${spec.group}/metrics`).catch((e: Error) => {
          if (e.name !== "DatasetNotFoundError") throw e;
          throw new DatasetNotFoundError(`no ${spec.group}/metrics group`, {
            file: spec.file,
            dataset: `${spec.group}/metrics`,
          });
        });
        run.names = await run.listMetrics();
        await run.readShape(opts);
        await run.readNew(beta);
        runs.push(run);
      }
    } catch (e) {
      for (const r of readers.values()) await r.close().catch(() => undefined);
      throw e;
    }
    const set = new RunSet(readers, runs);
    const states = new Map<string, string>();
    for (const [file, r] of readers) states.set(file, (await r.status()).state);
    const solutionRun = Math.min(runs.length - 1, Math.max(0, Math.round(opts.run ?? 0)));
    const v = new FitDashboard(set, {
      _model_module_version: WIDGETS_VERSION,
      _view_module_version: WIDGETS_VERSION,
      ...runsState(runs, states),
      x_axis: opts.x === "time_sec" ? "time_sec" : "epoch",
      smoothing: beta,
      log_x: opts.logX ?? false,
      log_y: opts.logY ?? false,
      solution: opts.solution === "x_best" ? "x_best" : "x_latest",
      solution_run: solutionRun,
      // Following while any of the files is being written.
      ...followState(opts, aggregateState([...states.values()]), 1),
    });
    v.fileStates = states;
    await v.setPreview(
      () => v.staticPreview(),
      () => v.describe(),
    );
    return v;
  }

  private fileStates = new Map<string, string>();

  override toString(): string {
    const files = [...new Set(this.set_.runs.map((r) => r.file))];
    return `FitDashboard(${files.map((f) => JSON.stringify(f)).join(", ")})`;
  }

  private syncRuns(): void {
    this.set(runsState(this.set_.runs, this.fileStates));
  }

  /** Every row of every run, as the view receives them after a reset (for scripts and tests). */
  series(): RunRows[] {
    return this.set_.runs.map((r) => r.all());
  }

  /** The solution shown (x_latest or x_best of the selected run), reshaped (C, P). */
  solution(
    which: SolutionName = this.get("solution"),
    run: number = this.get("solution_run"),
  ): Promise<Solution> {
    const r = this.set_.runs[run];
    if (!r) throw new RangeError(`run must be in [0, ${this.set_.runs.length}), got ${run}`);
    return this.set_.queue.run(() => r.solution(which));
  }

  /** The best-so-far row (smallest val_rmse) of each run. */
  get best(): (BestMark | null)[] {
    return this.set_.runs.map((r) => r.best());
  }

  /** Change the smoothing factor beta (the views redraw every series). */
  setSmoothing(beta: number): void {
    if (!(beta >= 0 && beta < 1)) throw new RangeError(`beta must be in [0, 1), got ${beta}`);
    this.set({ smoothing: beta });
  }

  /** Show x_latest or x_best of run `run`. */
  showSolution(which: SolutionName, run: number = this.get("solution_run")): void {
    if (which !== "x_latest" && which !== "x_best")
      throw new RangeError(`the solution is "x_latest" or "x_best", got ${JSON.stringify(which)}`);
    if (!this.set_.runs[run]) throw new RangeError(`no run ${run}`);
    this.set({ solution: which, solution_run: run });
  }

  /** Pause (or resume) live updates. */
  pause(on = true): void {
    this.follow(!on);
  }

  protected override fromView(patch: Record<string, unknown>): Partial<FitDashState> {
    const out = { ...patch } as Partial<FitDashState>;
    if ("smoothing" in patch) {
      const b = Number(patch.smoothing);
      if (!(b >= 0 && b < 1)) delete out.smoothing;
      else out.smoothing = b;
    }
    if ("solution_run" in patch) {
      const r = Number(patch.solution_run);
      if (!Number.isInteger(r) || !this.set_.runs[r]) delete out.solution_run;
    }
    if ("solution" in patch && patch.solution !== "x_latest" && patch.solution !== "x_best")
      delete out.solution;
    return out;
  }

  private async resmooth(): Promise<void> {
    const beta = this.get("smoothing");
    for (const r of this.set_.runs) r.resmooth(beta);
    if (this.viewsAsked) this.sendRows("smoothing", this.series(), true);
  }

  private sendRows(id: string, runs: RunRows[], reset: boolean): void {
    sendPacked(this, {
      type: "rows",
      id,
      reset,
      sequence: this.get("sequence"),
      runs: runs.map((r) => ({ ...r })),
    });
  }

  private async pushSolution(id: string): Promise<void> {
    try {
      const s = await this.solution();
      const r = this.set_.runs[s.run];
      r?.lastSolution.set(s.which, s.x);
      if (this.viewsAsked) sendPacked(this, { type: "solution", id, ...s });
    } catch (e) {
      this.sendError(id, e);
    }
  }

  private async onRequest(c: Record<string, unknown>): Promise<void> {
    const id = String(c.id ?? "");
    this.viewsAsked = true;
    try {
      if (c.type === "series") this.sendRows(id, this.series(), true);
      else if (c.type === "solution") await this.pushSolution(id);
    } catch (e) {
      this.sendError(id, e);
    }
  }

  protected async pollOnce(): Promise<void> {
    const set = this.set_;
    const beta = this.get("smoothing");
    const increments: RunRows[] = [];
    const resets: RunRows[] = [];
    let solutionChanged = false;
    await set.queue.run(async () => {
      for (const [file, reader] of set.readers) {
        if (!(await reader.refresh())) continue;
        this.fileStates.set(file, (await reader.status()).state);
        for (const run of set.runs) {
          if (run.file !== file) continue;
          const names = await run.listMetrics();
          if (names.join() !== run.names.join()) {
            run.names = names;
            run.clear();
            await run.readNew(beta);
            resets.push(run.all());
          } else {
            const inc = await run.readNew(beta);
            if (inc) increments.push(inc);
          }
          if (run.index === this.get("solution_run")) {
            const ds = `${run.group}/${this.get("solution")}`;
            const info = await datasetInfo(reader, ds);
            const now = info ? await readFloat64(reader, ds) : new Float64Array(0);
            if (!sameValues(now, run.lastSolution.get(this.get("solution"))))
              solutionChanged = true;
          }
        }
      }
    });
    if (increments.length || resets.length) {
      this.set({
        sequence: this.get("sequence") + 1,
        file_state: aggregateState([...this.fileStates.values()]),
        error: "",
      });
      this.syncRuns();
      if (this.viewsAsked) {
        if (resets.length) this.sendRows("live", resets, true);
        if (increments.length) this.sendRows("live", increments, false);
      }
    } else {
      this.set({ file_state: aggregateState([...this.fileStates.values()]) });
    }
    if (solutionChanged) await this.pushSolution("live");
    if ([...this.fileStates.values()].every((s) => s !== "writing")) this.set({ following: false });
  }

  // ---- static preview ------------------------------------------------------------------------

  describe(): string {
    const lines = [`FitDashboard: ${this.set_.runs.length} run(s), x = ${this.get("x_axis")}`];
    for (const r of this.set_.runs) {
      const b = r.best();
      const last = r.rows > 0 ? r.columns.get("epoch")?.[r.rows - 1] : undefined;
      const where = `${path.basename(r.file)}:${r.group}`;
      lines.push(
        `  ${r.label}${r.label.includes(path.basename(r.file)) ? "" : ` (${where})`}: ${r.rows} rows` +
          (last !== undefined ? `, last epoch ${last}` : "") +
          (b ? `, best val_rmse ${b.val_rmse.toPrecision(4)} at epoch ${b.epoch}` : ""),
      );
    }
    return lines.join("\n");
  }

  private async staticPreview(): Promise<MimeBundle> {
    const bundle: MimeBundle = { "text/plain": this.describe() };
    const xName = this.get("x_axis");
    const runs = this.set_.runs;
    const W = 320;
    const H = 180;
    const charts: RgbaPanel[] = this.get("metrics").map((m) => {
      const series = runs.flatMap((r, i) => {
        const x = r.columns.get(xName) ?? Array.from({ length: r.rows }, (_, k) => k);
        const color = PALETTE[i % PALETTE.length]!;
        return [
          { x, y: r.columns.get(m) ?? [], color, faint: true },
          { x, y: r.smooth.get(m) ?? [], color },
        ];
      });
      const markers =
        m === "val_rmse"
          ? runs.flatMap((r, i) => {
              const b = r.best();
              return b
                ? [
                    {
                      x: xName === "epoch" ? b.epoch : b.time_sec,
                      y: b.val_rmse,
                      color: PALETTE[i % PALETTE.length]!,
                    },
                  ]
                : [];
            })
          : [];
      return lineChart({
        title: `${m} vs ${xName}`,
        width: W,
        height: H,
        series,
        markers,
        xLog: this.get("log_x"),
        yLog: this.get("log_y"),
      });
    });
    const grid: (RgbaPanel | null)[][] = [];
    for (let i = 0; i < charts.length; i += 2) grid.push([charts[i]!, charts[i + 1] ?? null]);
    if (runs.length) {
      const s = await this.solution();
      grid.push([
        barChart({
          title: `${s.which} mass per component`,
          width: W,
          height: H,
          labels: Array.from({ length: s.C }, (_, c) => String(c)),
          values: s.masses,
        }),
        heatmap({
          title: `${s.which} (C x P)`,
          width: W,
          height: H,
          values: s.x,
          rows: s.C,
          cols: s.P,
        }),
      ]);
    }
    const png = composeGrid(grid);
    bundle["image/png"] = encodePng(png.rgba, png.width, png.height).toString("base64");
    return bundle;
  }
}

/** The runs and the plotted series as the state shows them. */
function runsState(
  runs: Run[],
  fileStates: Map<string, string>,
): { runs: RunInfo[]; metrics: string[] } {
  const infos: RunInfo[] = runs.map((r) => ({
    index: r.index,
    file: r.file,
    group: r.group,
    label: r.label,
    rows: r.rows,
    file_state: fileStates.get(r.file) ?? "",
    best: r.best(),
    C: r.C,
    P: r.P,
    note: r.note,
  }));
  const metrics: string[] = [];
  for (const r of runs) for (const m of r.plotted) if (!metrics.includes(m)) metrics.push(m);
  return { runs: infos, metrics: metricOrder(metrics) };
}

function aggregateState(states: string[]): string {
  if (states.some((s) => s === "writing")) return "writing";
  if (states.every((s) => s === "complete")) return "complete";
  return states[0] ?? "";
}

/** The same values (NaN equal to NaN); false against undefined. */
function sameValues(a: Float64Array, b: Float64Array | undefined): boolean {
  return !!b && a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
}

/**
 * The live fit dashboard: `await fitDashboard("cube.h5")`, or several runs overlaid:
 * `await fitDashboard(["a.h5", "b.h5"])`, `await fitDashboard([{ file, group: "/Fit_lr2" }])`.
 */
export function fitDashboard(
  files: RunSpec | RunSpec[],
  opts: FitDashboardOptions = {},
): Promise<FitDashboard> {
  return FitDashboard.open(files, opts);
}
