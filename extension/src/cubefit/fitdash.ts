/**
 * FitDashboard, browser side: seed 003's live fit dashboard (kernel/src/viewers/fitdash.ts
 * reads the /Fit groups and smooths the series).
 *
 *   metrics    one small chart per /Fit/metrics series against epoch or time_sec, every run
 *              overlaid (one colour each): the raw values faint, the debiased EWMA solid, the
 *              best-so-far row (smallest val_rmse) as a diamond; log-x and log-y toggles; the
 *              readout shows the row nearest the pointer
 *   solution   x_latest or x_best of one run: per-component mass s_c = sum_p x[c, p] as bars
 *              and the C x P values as a heatmap
 *
 * New rows pushed while the tracker writes are added in place with Vega changesets (the charts
 * are drawn afresh only for an axis or scale change); "pause" stops the pushes and "resume"
 * brings the rows committed meanwhile. PNG and SVG export per chart. Run labels, files and
 * groups are file-controlled text: set with textContent, or drawn as chart text.
 */
import { DOMWidgetModel, DOMWidgetView, type ISerializers } from "@jupyter-widgets/base";
import { FOLLOW_DEFAULTS, widgetNames } from "../shared/model.js";
import { FollowHeader, bindControl, button, labelled, setState } from "../shared/controls.js";
import { ChartCard, WidthWatcher, chartWidth, f64, num, unpack } from "./chart.js";

export class FitDashboardModel extends DOMWidgetModel {
  static override serializers: ISerializers = { ...DOMWidgetModel.serializers };
  static model_name = "FitDashboardModel";
  static view_name = "FitDashboardView";

  override defaults(): Backbone.ObjectHash {
    return {
      ...super.defaults(),
      ...widgetNames("FitDashboardModel", "FitDashboardView"),
      runs: [],
      metrics: [],
      x_axis: "epoch",
      smoothing: 0.9,
      log_x: false,
      log_y: false,
      solution: "x_latest",
      solution_run: 0,
      ...FOLLOW_DEFAULTS,
    };
  }
}

interface Best {
  row: number;
  epoch: number;
  time_sec: number | null;
  val_rmse: number;
}

interface RunInfo {
  index: number;
  file: string;
  group: string;
  label: string;
  rows: number;
  file_state: string;
  best: Best | null;
  C: number;
  P: number;
  note: string;
}

interface RowsMessage {
  id: string;
  reset: boolean;
  sequence: number;
  runs: {
    run: number;
    start: number;
    count: number;
    columns: Record<string, DataView | null>;
    smooth: Record<string, DataView | null>;
    best: Best | null;
  }[];
}

interface SolutionMessage {
  id: string;
  run: number;
  which: string;
  C: number;
  P: number;
  x: DataView | null;
  masses: DataView | null;
  note: string;
}

type Row = Record<string, unknown> & { ri: number };

let nextRequest = 0;

export class FitDashboardView extends DOMWidgetView {
  private header!: FollowHeader;
  private readonly controls = document.createElement("div");
  private readonly runList = document.createElement("ul");
  private readonly readout = document.createElement("div");
  private readonly xAxis = document.createElement("select");
  private readonly logX = document.createElement("input");
  private readonly logY = document.createElement("input");
  private readonly beta = document.createElement("input");
  private readonly which = document.createElement("select");
  private readonly runPick = document.createElement("select");
  private readonly solutionInfo = document.createElement("div");
  private metricsCard!: ChartCard;
  private solutionCard!: ChartCard;
  /** Every row received, long format (one per run, row and metric). */
  private rows: Row[] = [];
  private best = new Map<number, Best | null>();
  private solution: SolutionMessage | undefined;
  private drawn = false;
  private solutionDrawn = false;
  private sizer!: WidthWatcher;

  override render(): void {
    this.el.classList.add("sl-view", "stagelab-fitdash", "stagelab-cubefit");
    this.header = new FollowHeader(this, "sl-cf", "Fit dashboard", [], "resume");
    this.runList.className = "sl-fd-runs";
    this.buildControls();
    this.metricsCard = new ChartCard(
      "metrics",
      "Metrics",
      () => this.stem(),
      (d) => this.showReadout(d),
    );
    this.solutionCard = new ChartCard(
      "solution",
      "Current solution by component",
      () => this.stem(),
      (d) => this.showReadout(d),
    );
    this.solutionInfo.className = "sl-fd-solution-info";
    this.solutionCard.caption.appendChild(this.solutionInfo);
    this.readout.className = "sl-cf-readout";
    this.readout.setAttribute("aria-live", "polite");
    this.el.append(
      this.header.el,
      this.runList,
      this.controls,
      this.readout,
      this.metricsCard.el,
      this.solutionCard.el,
    );

    this.model.on("msg:custom", this.onCustom, this);
    this.model.on(
      "change:file_state change:following change:error",
      () => this.renderStatus(),
      this,
    );
    this.model.on("change:runs", () => this.renderRuns(), this);
    this.model.on(
      "change:x_axis change:log_x change:log_y change:metrics",
      () => this.redraw(),
      this,
    );
    this.model.on(
      "change:smoothing change:solution change:solution_run",
      () => this.syncControls(),
      this,
    );
    this.sizer = new WidthWatcher(this.el, () => {
      this.redraw();
      if (this.solution) void this.drawSolution(true);
    });
    this.renderStatus();
    this.renderRuns();
    this.syncControls();
    this.send({ type: "series", id: `d${++nextRequest}` });
    this.send({ type: "solution", id: `d${++nextRequest}` });
  }

  override remove(): this {
    this.sizer.dispose();
    this.metricsCard.dispose();
    this.solutionCard.dispose();
    return super.remove();
  }

  private runs(): RunInfo[] {
    return (this.model.get("runs") ?? []) as RunInfo[];
  }

  private stem(): string {
    const f = this.runs()[0]?.file.split(/[\\/]/).pop() ?? "fit";
    return `fit-${f.replace(/\.[^.]*$/, "")}`;
  }

  private buildControls(): void {
    this.controls.className = "sl-cf-controls";
    this.xAxis.add(new Option("epoch", "epoch"));
    this.xAxis.add(new Option("time (s)", "time_sec"));
    bindControl(this, this.xAxis, "x_axis");
    for (const box of [this.logX, this.logY]) box.type = "checkbox";
    bindControl(this, this.logX, "log_x");
    bindControl(this, this.logY, "log_y");
    this.beta.type = "number";
    this.beta.min = "0";
    this.beta.max = "0.99";
    this.beta.step = "0.05";
    this.beta.title =
      "EWMA factor beta of the smoothed series (bias-corrected as in Adam; 0 = raw)";
    this.beta.addEventListener("change", () => {
      const b = Number(this.beta.value);
      if (b >= 0 && b < 1) setState(this, "smoothing", b);
      else this.syncControls();
    });
    this.which.add(new Option("x_latest", "x_latest"));
    this.which.add(new Option("x_best", "x_best"));
    bindControl(this, this.which, "solution");
    this.runPick.addEventListener("change", () =>
      setState(this, "solution_run", Number(this.runPick.value)),
    );
    this.controls.append(
      labelled("x", this.xAxis, "sl-fd-x"),
      labelled("log x", this.logX, "sl-fd-logx"),
      labelled("log y", this.logY, "sl-fd-logy"),
      labelled("smoothing β", this.beta, "sl-fd-beta"),
      labelled("solution", this.which, "sl-fd-which"),
      labelled("of run", this.runPick, "sl-fd-run-pick"),
      button("refresh", "sl-fd-refresh", "ask the kernel for every row again", () => {
        this.send({ type: "series", id: `d${++nextRequest}` });
        this.send({ type: "solution", id: `d${++nextRequest}` });
      }),
    );
  }

  // ---- model -> view -------------------------------------------------------------------------

  private renderStatus(): void {
    this.el.dataset.following = String(this.header.render());
  }

  private renderRuns(): void {
    const runs = this.runs();
    this.runList.replaceChildren();
    for (const r of runs) {
      const li = document.createElement("li");
      li.className = "sl-fd-run";
      li.dataset.run = String(r.index);
      li.dataset.rows = String(r.rows);
      const b = r.best;
      li.dataset.bestRow = b ? String(b.row) : "";
      li.dataset.bestVal = b ? String(b.val_rmse) : "";
      li.dataset.bestEpoch = b ? String(b.epoch) : "";
      const swatch = document.createElement("span");
      swatch.className = "sl-fd-swatch";
      swatch.style.background = PALETTE[r.index % PALETTE.length]!;
      const text = document.createElement("span");
      text.className = "sl-fd-run-text";
      text.textContent =
        `${r.label} · ${r.rows} rows` +
        (b ? ` · best val_rmse ${num(b.val_rmse, 5)} at epoch ${num(b.epoch)}` : "") +
        (r.note ? ` · ${r.note}` : "");
      text.title = `${r.file} ${r.group}`;
      li.append(swatch, text);
      this.runList.appendChild(li);
    }
    if (this.runPick.options.length !== runs.length) {
      this.runPick.replaceChildren();
      for (const r of runs) this.runPick.add(new Option(r.label, String(r.index)));
    }
    this.syncControls();
  }

  private syncControls(): void {
    this.xAxis.value = String(this.model.get("x_axis") ?? "epoch");
    this.logX.checked = Boolean(this.model.get("log_x"));
    this.logY.checked = Boolean(this.model.get("log_y"));
    this.beta.value = String(this.model.get("smoothing") ?? 0.9);
    this.which.value = String(this.model.get("solution") ?? "x_latest");
    this.runPick.value = String(this.model.get("solution_run") ?? 0);
    this.el.dataset.xAxis = this.xAxis.value;
    this.el.dataset.logX = String(this.logX.checked);
    this.el.dataset.logY = String(this.logY.checked);
    this.el.dataset.beta = this.beta.value;
  }

  private onCustom(content: Record<string, unknown>, buffers: (DataView | ArrayBuffer)[]): void {
    if (content.type === "error") {
      this.header.error(content.message);
      return;
    }
    if (content.type === "rows") void this.takeRows(unpack<RowsMessage>(content, buffers));
    else if (content.type === "solution") {
      this.solution = unpack<SolutionMessage>(content, buffers);
      void this.drawSolution();
    }
  }

  // ---- metrics -------------------------------------------------------------------------------

  private label(ri: number): string {
    return this.runs()[ri]?.label ?? `run ${ri}`;
  }

  private async takeRows(msg: RowsMessage): Promise<void> {
    const fresh: Row[] = [];
    const resetRuns = new Set<number>();
    for (const r of msg.runs) {
      if (msg.reset) resetRuns.add(r.run);
      this.best.set(r.run, r.best);
      const cols: Record<string, Float64Array> = {};
      for (const [k, v] of Object.entries(r.columns)) cols[k] = f64(v);
      const smooth: Record<string, Float64Array> = {};
      for (const [k, v] of Object.entries(r.smooth)) smooth[k] = f64(v);
      const run = this.label(r.run);
      for (let i = 0; i < r.count; i++) {
        const epoch = cols.epoch?.[i] ?? r.start + i;
        const time = cols.time_sec?.[i] ?? NaN;
        for (const m of Object.keys(smooth))
          fresh.push({
            ri: r.run,
            run,
            metric: m,
            row: r.start + i,
            epoch,
            time_sec: time,
            raw: cols[m]?.[i] ?? NaN,
            smooth: smooth[m]![i]!,
          });
      }
    }
    if (resetRuns.size) this.rows = this.rows.filter((d) => !resetRuns.has(d.ri));
    this.rows.push(...fresh);
    this.el.dataset.rows = String(this.rowCount());
    this.el.dataset.sequence = String(msg.sequence);
    if (!this.drawn) {
      this.redraw();
      return;
    }
    await this.metricsCard.change(
      "rows",
      fresh,
      resetRuns.size ? (d) => resetRuns.has((d as Row).ri) : false,
    );
    await this.metricsCard.change("best", this.bestRows(), true);
    this.el.dataset.inserted = String(Number(this.el.dataset.inserted ?? 0) + fresh.length);
    this.caption();
  }

  /** Rows per run (one per record, not per metric). */
  private rowCount(): number {
    const seen = new Set<string>();
    for (const d of this.rows) seen.add(`${d.ri}:${String(d.row)}`);
    return seen.size;
  }

  private bestRows(): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const [ri, b] of this.best)
      if (b) out.push({ ri, run: this.label(ri), metric: "val_rmse", best: true, ...b });
    return out;
  }

  private caption(): void {
    const runs = this.runs();
    const metrics = (this.model.get("metrics") ?? []) as string[];
    this.metricsCard.caption.textContent =
      `${metrics.length} series × ${runs.length} run(s) against ${this.xAxis.value === "time_sec" ? "time (s)" : "epoch"}` +
      ` · faint: raw · solid: debiased EWMA, β = ${this.beta.value}` +
      " · ◆ best val_rmse so far";
    this.metricsCard.el.dataset.rows = String(this.rows.length);
  }

  private redraw(): void {
    this.syncControls();
    const metrics = (this.model.get("metrics") ?? []) as string[];
    if (!metrics.length) return;
    const xField = this.xAxis.value === "time_sec" ? "time_sec" : "epoch";
    const logX = this.logX.checked;
    const logY = this.logY.checked;
    const w = chartWidth(this.sizer.width || this.el.clientWidth || 900, 2, 170, 420);
    const h = Math.round(w * 0.45);
    const labels = this.runs().map((r) => r.label);
    const color = {
      field: "run",
      type: "nominal",
      title: "run",
      scale: { domain: labels, range: PALETTE.slice(0, Math.max(1, labels.length)) },
      legend: labels.length > 1 ? { orient: "top" } : null,
    };
    const x = {
      field: xField,
      type: "quantitative",
      title: xField === "epoch" ? "epoch" : "time (s)",
      scale: { type: logX ? "log" : "linear", zero: false, nice: !logX },
    };
    const valid = (field: string, log: boolean) => ({
      filter: log ? `isValid(datum.${field}) && datum.${field} > 0` : `isFinite(datum.${field})`,
    });
    const charts = metrics.map((m, i) => {
      const only = { filter: { field: "metric", equal: m } };
      const xOk = valid(xField, logX);
      const y = (field: string) => ({
        field,
        type: "quantitative",
        title: m,
        scale: { type: logY ? "log" : "linear", zero: false },
      });
      const layer: Record<string, unknown>[] = [
        {
          transform: [only, xOk, valid("raw", logY)],
          mark: { type: "line", strokeWidth: 1, opacity: 0.3 },
          encoding: { x, y: y("raw"), color },
        },
        {
          transform: [only, xOk, valid("smooth", logY)],
          mark: { type: "line", strokeWidth: 2 },
          encoding: { x, y: y("smooth"), color },
        },
        {
          transform: [only, xOk, valid("raw", logY)],
          params: [
            {
              name: `hover${i}`,
              select: { type: "point", on: "mouseover", nearest: true, clear: "mouseout" },
            },
          ],
          mark: { type: "point", size: 40, opacity: 0 },
          encoding: { x, y: y("raw"), color },
        },
      ];
      if (m === "val_rmse")
        layer.push({
          data: { name: "best" },
          transform: [xOk, valid("val_rmse", logY)],
          mark: {
            type: "point",
            shape: "diamond",
            filled: true,
            size: 160,
            stroke: "#222",
            strokeWidth: 1,
            opacity: 1,
          },
          encoding: { x, y: y("val_rmse"), color },
        });
      return { title: m, width: w, height: h, layer };
    });
    this.drawn = true;
    void this.metricsCard
      .render({
        $schema: "https://vega.github.io/schema/vega-lite/v6.json",
        data: { name: "rows" },
        // A snapshot: rows arriving before the chart exists are added by changesets after it.
        datasets: { rows: [...this.rows], best: this.bestRows() },
        columns: 2,
        concat: charts,
        spacing: 18,
      })
      .then(() => {
        this.el.dataset.draws = String(this.metricsCard.renders);
        this.caption();
      });
  }

  // ---- solution ------------------------------------------------------------------------------

  private async drawSolution(rerender = false): Promise<void> {
    const s = this.solution;
    if (!s) return;
    const x = f64(s.x);
    const masses = f64(s.masses);
    const massRows = Array.from(masses, (v, c) => ({ panel: "mass", component: c, mass: v }));
    const cells: Record<string, unknown>[] = [];
    for (let c = 0; c < s.C; c++)
      for (let p = 0; p < s.P; p++)
        cells.push({ panel: "cell", c, p, value: x[c * s.P + p] ?? NaN });
    const label = this.label(s.run);
    this.solutionInfo.textContent =
      `${s.which} of ${label}: C = ${s.C} components × P = ${s.P} populations · ` +
      `masses s_c = Σ_p x[c, p]: ${Array.from(masses, (v) => num(v, 5)).join(", ")}` +
      (s.note ? ` · ${s.note}` : "");
    Object.assign(this.solutionInfo.dataset, {
      which: s.which,
      run: String(s.run),
      c: String(s.C),
      p: String(s.P),
      masses: Array.from(masses).join(","),
      sum: String(x.reduce((a, b) => a + b, 0)),
    });
    if (this.solutionDrawn && !rerender) {
      await this.solutionCard.change("masses", massRows, true);
      await this.solutionCard.change("cells", cells, true);
      return;
    }
    this.solutionDrawn = true;
    const w = chartWidth(this.sizer.width || this.el.clientWidth || 900, 2, 170, 420);
    await this.solutionCard.render({
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      datasets: { masses: massRows, cells },
      hconcat: [
        {
          title: "mass per component s_c = Σ_p x[c, p]",
          width: Math.round(w * 0.7),
          height: Math.round(w * 0.45),
          data: { name: "masses" },
          mark: { type: "bar", color: PALETTE[0] },
          encoding: {
            x: { field: "component", type: "ordinal", title: "component c" },
            y: { field: "mass", type: "quantitative", title: "s_c" },
          },
        },
        {
          title: "x[c, p]",
          width: w,
          height: Math.round(w * 0.45),
          data: { name: "cells" },
          mark: { type: "rect" },
          encoding: {
            x: { field: "p", type: "ordinal", title: "population p" },
            y: { field: "c", type: "ordinal", title: "component c" },
            color: {
              field: "value",
              type: "quantitative",
              title: "x",
              scale: { scheme: "viridis" },
            },
          },
        },
      ],
      resolve: { scale: { color: "independent" } },
    });
  }

  private showReadout(d: Record<string, unknown> | undefined): void {
    if (!d) {
      this.readout.dataset.active = "false";
      return;
    }
    let text: string;
    if (d.panel === "mass") text = `component ${String(d.component)} · mass ${num(Number(d.mass))}`;
    else if (d.panel === "cell")
      text = `x[c = ${String(d.c)}, p = ${String(d.p)}] = ${num(Number(d.value))}`;
    else if (d.best)
      text = `${String(d.run)} · best val_rmse ${num(Number(d.val_rmse))} at row ${String(d.row)}, epoch ${num(Number(d.epoch))}`;
    else if (typeof d.metric === "string")
      text =
        `${String(d.run)} · ${d.metric} · row ${String(d.row)} · epoch ${num(Number(d.epoch))} · ` +
        `t = ${num(Number(d.time_sec))} s · raw ${num(Number(d.raw))} · smoothed ${num(Number(d.smooth))}`;
    else return;
    this.readout.textContent = text;
    this.readout.dataset.active = "true";
    this.readout.dataset.metric = typeof d.metric === "string" ? d.metric : String(d.panel ?? "");
    this.readout.dataset.raw = String(d.raw ?? d.mass ?? d.value ?? "");
  }
}

/** Run colours (Vega's category10, as the kernel's static preview). */
const PALETTE = [
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
];
