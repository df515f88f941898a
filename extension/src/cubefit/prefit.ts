/**
 * PrefitSnapshot, browser side: the four panels of seed 003's prefit snapshot of a CubeFit
 * file (kernel/src/viewers/prefit.ts reads and computes them) as one Vega-Lite chart, 2 x 2:
 *
 *   observed spectra (masked pixels shaded,      |  templates x R_T (before convolution)
 *   y-limits from unmasked pixels)               |
 *   LOSVD of (spaxel, component) and its kernel  |  stored models of several (s, c) pairs
 *   on log-lambda offsets (top and right axes)   |  (pending tiles listed, not drawn)
 *
 * Spaxel, component and population pickers ask the kernel for the panels they change; while
 * the builder still writes the file the kernel pushes the models panel as tiles complete
 * ("k of n tiles done"; the follow button pauses). PNG and SVG export, a hover readout, and a
 * caption per panel whose data attributes (rows, sums, pending) say what the chart holds.
 * File-controlled text (names, attributes, notes) is set with textContent only.
 */
import { DOMWidgetModel, DOMWidgetView, type ISerializers } from "@jupyter-widgets/base";
import { FOLLOW_DEFAULTS, widgetNames } from "../shared/model.js";
import { FollowHeader, labelled } from "../shared/controls.js";
import { ChartCard, WidthWatcher, chartWidth, f64, num, unpack } from "./chart.js";

export class PrefitSnapshotModel extends DOMWidgetModel {
  static override serializers: ISerializers = { ...DOMWidgetModel.serializers };
  static model_name = "PrefitSnapshotModel";
  static view_name = "PrefitSnapshotView";

  override defaults(): Backbone.ObjectHash {
    return {
      ...super.defaults(),
      ...widgetNames("PrefitSnapshotModel", "PrefitSnapshotView"),
      file: "",
      cube: null,
      spaxel: 0,
      component: 0,
      population: 0,
      spaxels: [],
      populations: [],
      pairs: [],
      max_spectra: 4,
      tiles_done: 0,
      tiles_total: 0,
      ...FOLLOW_DEFAULTS,
    };
  }
}

interface Layout {
  dims: { S: number; L: number; T: number; V: number; C: number; P: number };
  present: Record<string, boolean>;
  rebin: string;
  tile: number[] | null;
  grid: number[] | null;
  attrs: Record<string, string>;
}

type Wire = DataView | Float64Array | null;

interface Panels {
  spectra?: {
    wavelength: Wire;
    spaxels: number[];
    values: Wire[];
    mask: DataView | null;
    masked: [number, number][];
    y_domain: [number, number] | null;
    note: string;
  };
  templates?: { wavelength: Wire; populations: number[]; values: Wire[]; note: string };
  losvd?: {
    spaxel: number;
    component: number;
    velocity: Wire;
    values: Wire;
    kernel_offsets: Wire;
    kernel_velocity: Wire;
    kernel_weights: Wire;
    dlog: number;
    note: string;
  };
  models?: {
    wavelength: Wire;
    population: number;
    pairs: { spaxel: number; component: number; done: boolean }[];
    values: Wire[];
    tiles_done: number;
    tiles_total: number;
    note: string;
  };
}

const C_KMS = 299792.458;
/** Legends above the charts (the panels stay narrow enough for two columns). */
const LEGEND = { orient: "top", direction: "horizontal", title: null };
const PANEL_NAMES = ["spectra", "templates", "losvd", "models"] as const;

let nextRequest = 0;

/** One line per series against the wavelength (rows: {series, wavelength, value}). */
function lineSpec(
  title: string,
  width: number,
  height: number,
  rows: Record<string, unknown>[],
  yTitle: string,
  colorTitle: string,
): Record<string, unknown> {
  return {
    title,
    width,
    height,
    data: { values: rows },
    mark: { type: "line", clip: true, strokeWidth: 1.3 },
    encoding: {
      x: {
        field: "wavelength",
        type: "quantitative",
        title: "wavelength = exp(ObsPix)",
        scale: { zero: false },
      },
      y: { field: "value", type: "quantitative", title: yTitle, scale: { zero: false } },
      color: { field: "series", type: "nominal", title: colorTitle, sort: null, legend: LEGEND },
    },
  };
}

function finiteSum(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) if (Number.isFinite(a[i]!)) s += a[i]!;
  return s;
}

export class PrefitSnapshotView extends DOMWidgetView {
  private header!: FollowHeader;
  private readonly meta = document.createElement("div");
  private readonly controls = document.createElement("div");
  private readonly readout = document.createElement("div");
  private readonly tiles = document.createElement("span");
  private readonly spaxel = document.createElement("input");
  private readonly component = document.createElement("select");
  private readonly population = document.createElement("select");
  private readonly infos = new Map<string, HTMLElement>();
  private card!: ChartCard;
  private panels: Panels = {};
  private sizer!: WidthWatcher;
  private pending = 0;

  override render(): void {
    this.el.classList.add("sl-view", "stagelab-prefit", "stagelab-cubefit");
    this.tiles.className = "sl-pf-tiles";
    this.tiles.setAttribute("aria-live", "polite");
    this.header = new FollowHeader(this, "sl-cf", String(this.model.get("file") ?? ""), [
      this.tiles,
    ]);
    this.meta.className = "sl-cf-meta";
    this.buildControls();
    this.card = new ChartCard(
      "prefit",
      "Prefit snapshot",
      () => this.stem(),
      (d) => this.showReadout(d),
    );
    for (const name of PANEL_NAMES) {
      const info = document.createElement("div");
      info.className = "sl-pf-info";
      info.dataset.panel = name;
      this.infos.set(name, info);
      this.card.caption.appendChild(info);
    }
    this.readout.className = "sl-cf-readout";
    this.readout.setAttribute("aria-live", "polite");
    this.el.append(this.header.el, this.meta, this.controls, this.card.el, this.readout);

    this.model.on("msg:custom", this.onCustom, this);
    this.model.on(
      "change:file_state change:following change:error change:tiles_done change:tiles_total",
      () => this.renderStatus(),
      this,
    );
    this.model.on("change:cube", () => this.renderMeta(), this);
    this.model.on(
      "change:spaxel change:component change:population",
      () => this.syncControls(),
      this,
    );
    this.sizer = new WidthWatcher(this.el, () => void this.draw());
    this.renderStatus();
    this.renderMeta();
    this.syncControls();
    this.request({ type: "panels" });
  }

  override remove(): this {
    this.sizer.dispose();
    this.card.dispose();
    return super.remove();
  }

  private layout(): Layout | null {
    return (this.model.get("cube") ?? null) as Layout | null;
  }

  private stem(): string {
    const f =
      String(this.model.get("file") ?? "cubefit")
        .split(/[\\/]/)
        .pop() ?? "cubefit";
    return `prefit-${f.replace(/\.[^.]*$/, "")}`;
  }

  private buildControls(): void {
    this.controls.className = "sl-cf-controls";
    this.spaxel.type = "number";
    this.spaxel.min = "0";
    this.spaxel.step = "1";
    this.spaxel.className = "sl-pf-spaxel-input";
    // Typed numbers count after a short pause, arrows and Enter at once.
    let typing: ReturnType<typeof setTimeout> | undefined;
    const pick = () => {
      if (typing) clearTimeout(typing);
      typing = undefined;
      const s = Number(this.spaxel.value);
      if (this.spaxel.value !== "" && Number.isInteger(s) && s !== this.model.get("spaxel"))
        this.request({ type: "select", spaxel: s });
    };
    this.spaxel.addEventListener("change", pick);
    this.spaxel.addEventListener("input", () => {
      if (typing) clearTimeout(typing);
      typing = setTimeout(pick, 400);
    });
    this.component.addEventListener("change", () =>
      this.request({ type: "select", component: Number(this.component.value) }),
    );
    this.population.addEventListener("change", () =>
      this.request({ type: "select", population: Number(this.population.value) }),
    );
    this.controls.append(
      labelled("spaxel", this.spaxel, "sl-pf-spaxel"),
      labelled("component", this.component, "sl-pf-component"),
      labelled("population (models)", this.population, "sl-pf-population"),
    );
  }

  private request(content: Record<string, unknown>): void {
    this.pending++;
    this.el.dataset.busy = "true";
    this.send({ ...content, id: `p${++nextRequest}` });
  }

  // ---- model -> view -------------------------------------------------------------------------

  private renderStatus(): void {
    const done = Number(this.model.get("tiles_done") ?? 0);
    const total = Number(this.model.get("tiles_total") ?? 0);
    this.tiles.textContent = total ? `${done} of ${total} tiles done` : "no HyperCube tiles";
    this.el.dataset.tilesDone = String(done);
    this.header.render();
  }

  private renderMeta(): void {
    const l = this.layout();
    if (!l) return;
    const { S, L, T, V, C, P } = l.dims;
    const parts = [
      `S=${S} spaxels · L=${L} pixels · T=${T} template pixels · V=${V} velocity bins · C=${C} components · P=${P} populations`,
    ];
    if (l.tile && l.grid) parts.push(`tiles ${l.tile.join(" × ")} on a ${l.grid.join(" × ")} grid`);
    if (l.rebin && l.rebin !== "R_T") parts.push(`rebin operator: ${l.rebin}`);
    for (const [k, v] of Object.entries(l.attrs ?? {})) parts.push(`${k}: ${v}`);
    this.meta.textContent = parts.join("\n");
    this.fillOptions(this.component, C);
    this.fillOptions(this.population, P);
    this.spaxel.max = String(Math.max(0, S - 1));
    this.syncControls();
  }

  private fillOptions(select: HTMLSelectElement, n: number): void {
    if (select.options.length === n) return;
    select.replaceChildren();
    for (let i = 0; i < n; i++) select.add(new Option(String(i), String(i)));
  }

  private syncControls(): void {
    this.spaxel.value = String(this.model.get("spaxel") ?? 0);
    this.component.value = String(this.model.get("component") ?? 0);
    this.population.value = String(this.model.get("population") ?? 0);
  }

  private onCustom(content: Record<string, unknown>, buffers: (DataView | ArrayBuffer)[]): void {
    if (content.type === "error") {
      this.header.error(content.message);
      this.settle();
      return;
    }
    if (content.type !== "panels") return;
    const msg = unpack<{ id: string; panels: Panels; sequence: number }>(content, buffers);
    this.panels = { ...this.panels, ...msg.panels };
    this.el.dataset.sequence = String(msg.sequence);
    void this.draw().then(() => {
      if (msg.id !== "live" && msg.id !== "kernel") this.settle();
    });
  }

  private settle(): void {
    this.pending = Math.max(0, this.pending - 1);
    if (this.pending === 0) this.el.dataset.busy = "false";
  }

  // ---- chart ---------------------------------------------------------------------------------

  private async draw(): Promise<void> {
    const p = this.panels;
    if (!p.spectra && !p.templates && !p.losvd && !p.models) return;
    const w = chartWidth(this.sizer.width || this.el.clientWidth || 900, 2, 170, 460);
    const h = Math.round(w * 0.55);
    const tl = this.spectraSpec(w, h);
    const tr = this.templatesSpec(w, h);
    const bl = this.losvdSpec(w, h);
    const br = this.modelsSpec(w, h);
    await this.card.render({
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      columns: 2,
      concat: [tl, tr, bl, br],
      spacing: 24,
      resolve: { scale: { color: "independent" }, legend: { color: "independent" } },
    });
    this.el.dataset.draws = String(this.card.renders);
  }

  private info(name: string, text: string, attrs: Record<string, string | number>): void {
    const el = this.infos.get(name);
    if (!el) return;
    el.textContent = text;
    for (const [k, v] of Object.entries(attrs)) el.dataset[k] = String(v);
  }

  private spectraSpec(w: number, h: number): Record<string, unknown> {
    const s = this.panels.spectra;
    const rows: Record<string, unknown>[] = [];
    const wl = f64(s?.wavelength ?? null);
    let sum = 0;
    const mask = s?.mask
      ? new Uint8Array(s.mask.buffer, s.mask.byteOffset, s.mask.byteLength)
      : new Uint8Array(0);
    (s?.values ?? []).forEach((v, i) => {
      const y = f64(v);
      sum += finiteSum(y);
      const series = `s=${s!.spaxels[i]}`;
      // Masked pixels are left out: the line breaks there (segments of unmasked runs).
      let seg = 0;
      for (let l = 0; l < y.length; l++) {
        if (mask.length === y.length && !mask[l]) {
          if (l > 0 && mask[l - 1]) seg++;
          continue;
        }
        rows.push({ panel: "spectra", series, seg, wavelength: wl[l], value: y[l], pixel: l });
      }
    });
    const masked = (s?.masked ?? []).map(([x0, x1]) => ({ panel: "masked", x0, x1 }));
    const xDomain = wl.length ? [wl[0]!, wl[wl.length - 1]!] : undefined;
    const maskedPixels = mask.filter((m) => !m).length;
    this.info(
      "spectra",
      `TL observed spectra of spaxels ${(s?.spaxels ?? []).join(", ")} · ${maskedPixels} masked pixels shaded · y-limits ${s?.y_domain ? s.y_domain.map((v) => num(v, 4)).join(" … ") : "–"} from unmasked pixels${s?.note ? ` · ${s.note}` : ""}`,
      {
        spaxels: (s?.spaxels ?? []).join(","),
        rows: rows.length,
        sum: num(sum, 10),
        masked: masked.length,
        maskedPixels,
        yDomain: (s?.y_domain ?? []).join(","),
      },
    );
    const x = {
      type: "quantitative",
      title: "wavelength = exp(ObsPix)",
      scale: { zero: false, ...(xDomain ? { domain: xDomain } : {}) },
    };
    return {
      title: "Observed spectra",
      width: w,
      height: h,
      layer: [
        {
          data: { values: masked },
          mark: { type: "rect", color: "#888", opacity: 0.25 },
          encoding: { x: { field: "x0", ...x }, x2: { field: "x1" } },
        },
        {
          data: { values: rows },
          mark: { type: "line", clip: true, strokeWidth: 1.3 },
          encoding: {
            x: { field: "wavelength", ...x },
            y: {
              field: "value",
              type: "quantitative",
              title: "flux",
              scale: s?.y_domain ? { domain: s.y_domain, zero: false } : { zero: false },
            },
            color: {
              field: "series",
              type: "nominal",
              title: "spaxel",
              sort: null,
              legend: LEGEND,
            },
            detail: { field: "seg", type: "nominal" },
          },
        },
      ],
    };
  }

  private templatesSpec(w: number, h: number): Record<string, unknown> {
    const t = this.panels.templates;
    const rows: Record<string, unknown>[] = [];
    const wl = f64(t?.wavelength ?? null);
    let sum = 0;
    (t?.values ?? []).forEach((v, i) => {
      const y = f64(v);
      sum += finiteSum(y);
      const series = `p=${t!.populations[i]}`;
      for (let l = 0; l < y.length; l++)
        rows.push({ panel: "templates", series, wavelength: wl[l], value: y[l], pixel: l });
    });
    this.info(
      "templates",
      `TR templates × R_T (rebinned, before convolution) of populations ${(t?.populations ?? []).join(", ")}${t?.note ? ` · ${t.note}` : ""}`,
      { populations: (t?.populations ?? []).join(","), rows: rows.length, sum: num(sum, 10) },
    );
    return lineSpec(
      "Templates rebinned (R_T, before convolution)",
      w,
      h,
      rows,
      "template",
      "population",
    );
  }

  private losvdSpec(w: number, h: number): Record<string, unknown> {
    const lv = this.panels.losvd;
    const vel = f64(lv?.velocity ?? null);
    const val = f64(lv?.values ?? null);
    const off = f64(lv?.kernel_offsets ?? null);
    const kv = f64(lv?.kernel_velocity ?? null);
    const kw = f64(lv?.kernel_weights ?? null);
    const series = lv ? `LOSVD s=${lv.spaxel}, c=${lv.component}` : "LOSVD";
    const rows = Array.from(vel, (v, i) => ({
      panel: "losvd",
      series,
      velocity: v,
      value: val[i],
    }));
    const kernel = Array.from(off, (o, i) => ({
      panel: "kernel",
      series: "kernel",
      offset: o,
      velocity: kv[i],
      weight: kw[i],
    }));
    const vmin = vel.length ? Math.min(...vel) : -1;
    const vmax = vel.length ? Math.max(...vel) : 1;
    this.info(
      "losvd",
      `BL LOSVD of spaxel ${lv?.spaxel ?? "–"}, component ${lv?.component ?? "–"} (bottom axis, km/s) and its kernel on log-λ offsets k · dlog, dlog = ${num(lv?.dlog ?? NaN, 4)} (top axis, v/c)${lv?.note ? ` · ${lv.note}` : ""}`,
      {
        spaxel: lv?.spaxel ?? "",
        component: lv?.component ?? "",
        rows: rows.length,
        sum: num(finiteSum(val), 10),
        kernelPoints: kernel.length,
        kernelSum: num(finiteSum(kw), 10),
        dlog: lv?.dlog ?? "",
      },
    );
    return {
      title: `LOSVD (s=${lv?.spaxel ?? "–"}, c=${lv?.component ?? "–"}) and kernel`,
      width: w,
      height: h,
      layer: [
        {
          data: { values: rows },
          mark: { type: "line", point: true, color: "#1f77b4" },
          encoding: {
            x: {
              field: "velocity",
              type: "quantitative",
              title: "velocity (km/s)",
              scale: { domain: [vmin, vmax] },
            },
            y: { field: "value", type: "quantitative", title: "LOSVD" },
          },
        },
        {
          data: { values: kernel },
          mark: { type: "point", filled: true, size: 18, color: "#ff7f0e" },
          encoding: {
            x: {
              field: "offset",
              type: "quantitative",
              title: "log-λ offset (v / c)",
              axis: { orient: "top", format: ".1e" },
              scale: { domain: [vmin / C_KMS, vmax / C_KMS] },
            },
            y: {
              field: "weight",
              type: "quantitative",
              title: "kernel weight",
              axis: { orient: "right", titleColor: "#ff7f0e" },
            },
          },
        },
      ],
      resolve: { scale: { x: "independent", y: "independent" } },
    };
  }

  private modelsSpec(w: number, h: number): Record<string, unknown> {
    const m = this.panels.models;
    const rows: Record<string, unknown>[] = [];
    const wl = f64(m?.wavelength ?? null);
    let sum = 0;
    const pending: string[] = [];
    (m?.pairs ?? []).forEach((q, i) => {
      const series = `s=${q.spaxel}, c=${q.component}`;
      if (!q.done) {
        pending.push(series);
        return;
      }
      const y = f64(m!.values[i] ?? null);
      sum += finiteSum(y);
      for (let l = 0; l < y.length; l++)
        rows.push({ panel: "models", series, wavelength: wl[l], value: y[l], pixel: l });
    });
    this.info(
      "models",
      `BR stored models of population ${m?.population ?? "–"} · ${m?.tiles_done ?? 0} of ${m?.tiles_total ?? 0} tiles done${pending.length ? ` · pending: ${pending.join("; ")}` : ""}${m?.note ? ` · ${m.note}` : ""}`,
      {
        population: m?.population ?? "",
        pairs: (m?.pairs ?? []).map((q) => `${q.spaxel},${q.component}`).join(";"),
        pending: pending.length,
        rows: rows.length,
        sum: num(sum, 10),
        tilesDone: m?.tiles_done ?? 0,
      },
    );
    return lineSpec(
      `Stored models, population ${m?.population ?? "–"}${pending.length ? ` (${pending.length} pending)` : ""}`,
      w,
      h,
      rows,
      "model",
      "(s, c)",
    );
  }

  private showReadout(d: Record<string, unknown> | undefined): void {
    if (!d || typeof d.panel !== "string") {
      this.readout.dataset.active = "false";
      return;
    }
    let text: string;
    switch (d.panel) {
      case "masked":
        text = `masked pixels, λ ${num(Number(d.x0), 7)} … ${num(Number(d.x1), 7)}`;
        break;
      case "losvd":
        text = `${String(d.series)} · v = ${num(Number(d.velocity))} km/s · ${num(Number(d.value))}`;
        break;
      case "kernel":
        text = `kernel · Δlnλ = ${num(Number(d.offset))} (v = ${num(Number(d.velocity))} km/s) · weight ${num(Number(d.weight))}`;
        break;
      default:
        text = `${d.panel} ${String(d.series)} · pixel ${String(d.pixel)} · λ = ${num(Number(d.wavelength), 7)} · ${num(Number(d.value))}`;
    }
    this.readout.textContent = text;
    this.readout.dataset.active = "true";
    this.readout.dataset.panel = d.panel;
  }
}
