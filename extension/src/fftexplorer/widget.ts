/**
 * FftExplorer, browser side: the 4D FFT explorer of super-resolution step 2, four linked
 * panels over a cache's bigFT (kernel/src/viewers/fftexplorer.ts computes them):
 *
 *   FFT overview (mean |FT| over the virtual-detector mask)   |  sub-selection (|FT| at q)
 *   amplitude of the detector pixel                            |  phase of the detector pixel
 *
 * A click in the overview picks the scan frequency q, a click in the sub-selection the
 * detector pixel; the mask is drawn there (rectangle or circle drags add to it, Shift-drags
 * take away, the toggle tool flips single pixels; "all" / "clear"). Colormap and log scale
 * for the magnitudes, the cyclic twilight map for the phase, a readout of the value under the
 * pointer, "k of n blocks complete" while step 2 still writes (pending values show hatched),
 * and "Proceed", which runs the kernel's proceed action. One request is in flight at a time;
 * later picks are merged into the next. File-controlled text is shown with textContent only.
 */
import { DOMWidgetModel, DOMWidgetView, type ISerializers } from "@jupyter-widgets/base";
import { COLORMAPS, DIVERGING, type ColormapName } from "@stagelab/core/viewer";
import { computeWorker } from "../workers/index.js";
import { typed } from "../shared/buffers.js";
import { FOLLOW_DEFAULTS, widgetNames } from "../shared/model.js";
import {
  FollowHeader,
  bindControl,
  buildFields,
  button,
  labelled,
  setField,
} from "../shared/controls.js";
import { numText } from "../voxelview/geometry.js";
import {
  PANEL_NAMES,
  combineMask,
  countMask,
  shapeMask,
  shift,
  signedFrequency,
  unshift,
  type MaskTool,
  type Panel,
  type PanelName,
} from "./geometry.js";
import { FftPanel } from "./panel.js";

export class FftExplorerModel extends DOMWidgetModel {
  static override serializers: ISerializers = { ...DOMWidgetModel.serializers };
  static model_name = "FftExplorerModel";
  static view_name = "FftExplorerView";

  override defaults(): Backbone.ObjectHash {
    return {
      ...super.defaults(),
      ...widgetNames("FftExplorerModel", "FftExplorerView"),
      file: "",
      info: null,
      scan_frequency: [0, 0],
      detector_pixel: [0, 0],
      mask: null,
      mask_count: 0,
      blocks_done: 0,
      blocks_total: 0,
      colormap: "viridis",
      log: true,
      ...FOLLOW_DEFAULTS,
      proceed_status: "",
      proceed_message: "",
      proceed_count: 0,
      proceed_incomplete: false,
    };
  }
}

interface CacheInfo {
  scan: [number, number];
  crop: [number, number];
  crop_bounds: number[];
  block_shape: number[];
  blocks_total: number;
  linked_file: string;
  dataset: string;
  computation_date: string;
  mode: string;
}

interface PanelsMessage {
  type: "panels";
  id: string;
  sequence: number;
  blocks_done: number;
  scan_frequency: [number, number];
  detector_pixel: [number, number];
  mask_count: number;
  panels: Omit<Panel, "values" | "sequence" | "scanFrequency" | "detectorPixel" | "maskCount">[];
}

/** What the next request asks for (picks merged while one is in flight). */
interface Wanted {
  scan_frequency?: [number, number];
  detector_pixel?: [number, number];
  mask?: Uint8Array | "all" | "clear";
  panels?: boolean;
}

const TITLES: Record<PanelName, string> = {
  overview: "FFT overview",
  detector: "Sub-selection",
  amplitude: "Amplitude",
  phase: "Phase",
};

/** The readout's fields: key, label. */
const READOUT = [
  ["panel", "panel"],
  ["q", "q (qy, qx)"],
  ["freq", "cycles/px"],
  ["k", "pixel (ky, kx)"],
  ["value", "value"],
] as const;

let nextRequest = 0;

export class FftExplorerView extends DOMWidgetView {
  private readonly panels = new Map<PanelName, FftPanel>();
  private header!: FollowHeader;
  private readonly meta = document.createElement("div");
  private readonly controls = document.createElement("div");
  private readonly readout = document.createElement("div");
  private readonly blocks = document.createElement("span");
  private readonly colormap = document.createElement("select");
  private readonly logScale = document.createElement("input");
  private readonly tool = document.createElement("select");
  private readonly maskText = document.createElement("span");
  private readonly proceedButton = document.createElement("button");
  private readonly proceedText = document.createElement("span");
  private q: [number, number] = [0, 0];
  private k: [number, number] = [0, 0];
  private mask: Uint8Array = new Uint8Array(0);
  private wanted: Wanted = {};
  private inflight: string | undefined;
  private readonly paintSeq = new Map<PanelName, number>();
  private draws = 0;
  private resizeObserver: ResizeObserver | undefined;

  override render(): void {
    this.el.classList.add("sl-view", "stagelab-fftexplorer");
    this.blocks.className = "sl-fx-blocks";
    this.blocks.setAttribute("aria-live", "polite");
    this.header = new FollowHeader(this, "sl-fx", String(this.model.get("file") ?? ""), [
      this.blocks,
    ]);
    this.meta.className = "sl-fx-meta";
    this.buildControls();

    const grid = document.createElement("div");
    grid.className = "sl-fx-grid";
    for (const name of PANEL_NAMES) {
      const panel = new FftPanel(name, {
        hover: (p, at) => this.showReadout(p, at),
        pick: (p, at) => this.pick(p, at),
        ...(name === "detector" ? { drag: this.onDrag } : {}),
      });
      this.panels.set(name, panel);
      grid.appendChild(panel.el);
    }
    this.readout.className = "sl-fx-readout";
    this.readout.setAttribute("aria-live", "polite");
    buildFields(this.readout, "sl-fx", READOUT);
    this.el.append(this.header.el, this.meta, this.controls, grid, this.readout);

    // Two panels side by side where there is room.
    this.resizeObserver = new ResizeObserver(() => {
      const width = grid.clientWidth;
      if (width <= 0) return;
      const box = Math.max(140, Math.min(360, Math.floor((width - 40) / 2)));
      for (const p of this.panels.values()) p.setBox(box);
    });
    this.resizeObserver.observe(grid);

    this.model.on("msg:custom", this.onCustom, this);
    this.model.on(
      "change:file_state change:following change:error change:blocks_done change:blocks_total",
      () => this.renderStatus(),
      this,
    );
    this.model.on("change:info", () => this.renderMeta(), this);
    this.model.on("change:scan_frequency change:detector_pixel", () => this.syncSelection(), this);
    this.model.on("change:mask", () => this.syncMask(), this);
    this.model.on("change:colormap change:log", () => this.syncScale(), this);
    this.model.on(
      "change:proceed_status change:proceed_message change:proceed_count change:blocks_done change:proceed_incomplete",
      () => this.renderProceed(),
      this,
    );

    this.renderStatus();
    this.renderMeta();
    this.syncSelection();
    this.syncMask();
    this.syncScale(false);
    this.renderProceed();
    this.request({ panels: true });
  }

  override remove(): this {
    this.resizeObserver?.disconnect();
    return super.remove();
  }

  private info(): CacheInfo | null {
    return (this.model.get("info") ?? null) as CacheInfo | null;
  }

  private scan(): [number, number] {
    return this.info()?.scan ?? [1, 1];
  }

  private crop(): [number, number] {
    return this.info()?.crop ?? [1, 1];
  }

  // ---- controls ------------------------------------------------------------------------------

  private buildControls(): void {
    this.controls.className = "sl-fx-controls";
    for (const name of COLORMAPS) this.colormap.add(new Option(name, name));
    bindControl(this, this.colormap, "colormap");
    this.logScale.type = "checkbox";
    bindControl(this, this.logScale, "log");
    for (const [value, text] of [
      ["rectangle", "rectangle"],
      ["circle", "circle"],
      ["toggle", "toggle pixels"],
    ])
      this.tool.add(new Option(text, value));
    this.maskText.className = "sl-fx-mask-count";
    this.proceedButton.className = "sl-fx-proceed jupyter-button";
    this.proceedButton.textContent = "Proceed to cross-correlation";
    this.proceedButton.addEventListener("click", () => this.proceed());
    this.proceedText.className = "sl-fx-proceed-status";
    this.proceedText.setAttribute("aria-live", "polite");
    const mask = document.createElement("span");
    mask.className = "sl-fx-mask";
    mask.title =
      "drag on the sub-selection to add a shape to the virtual-detector mask (Shift: remove it); " +
      "a click picks the detector pixel (and flips it with the toggle tool)";
    mask.append(
      labelled("mask tool", this.tool, "sl-fx-tool"),
      button("all", "sl-fx-mask-all", "every crop pixel", () => this.setMask("all")),
      button("clear", "sl-fx-mask-clear", "no pixel", () => this.setMask("clear")),
      this.maskText,
    );
    const proceed = document.createElement("span");
    proceed.className = "sl-fx-proceed-box";
    proceed.append(this.proceedButton, this.proceedText);
    this.controls.append(
      labelled("colormap", this.colormap, "sl-fx-colormap"),
      labelled("log", this.logScale, "sl-fx-log"),
      mask,
      proceed,
    );
  }

  private setField(key: string, text: string, raw?: string): void {
    setField(this.readout, key, text, raw);
  }

  // ---- model -> view -------------------------------------------------------------------------

  private renderStatus(): void {
    const done = Number(this.model.get("blocks_done") ?? 0);
    const total = Number(this.model.get("blocks_total") ?? 0);
    this.blocks.textContent = `${done} of ${total} blocks complete`;
    this.el.dataset.blocksDone = String(done);
    this.header.render();
  }

  private renderMeta(): void {
    const i = this.info();
    if (!i) return;
    this.meta.textContent = [
      `bigFT [${[...i.scan, ...i.crop].join(" × ")}] (scan × crop)`,
      `crop [${i.crop_bounds.join(", ")}]`,
      `blocks ${i.block_shape.join(" × ")} px`,
      i.dataset ? `dataset ${i.dataset}` : "",
      i.linked_file ? `of ${i.linked_file}` : "",
      i.computation_date ? `computed ${i.computation_date}` : "",
      i.mode === "file" ? "read from the file per request" : "",
    ]
      .filter(Boolean)
      .join(" · ");
  }

  private renderProceed(): void {
    const status = String(this.model.get("proceed_status") ?? "");
    const message = String(this.model.get("proceed_message") ?? "");
    const done = Number(this.model.get("blocks_done") ?? 0);
    const total = Number(this.model.get("blocks_total") ?? 0);
    const waiting = done < total && !this.model.get("proceed_incomplete");
    this.proceedButton.disabled = status === "running" || waiting;
    this.proceedButton.title = waiting
      ? `step 2 has not finished: ${done} of ${total} blocks complete`
      : "hand the selection (scan frequency, detector pixel, mask) to the next step";
    this.proceedText.dataset.status = status;
    this.proceedText.textContent =
      status === "running"
        ? "running…"
        : status === "done"
          ? `done${message ? `: ${message}` : ""}`
          : status === "error"
            ? `error: ${message}`
            : "";
  }

  /** The selection from the model (unless this view is about to change it). */
  private syncSelection(): void {
    if (!this.wanted.scan_frequency && this.inflight === undefined)
      this.q = this.pairOf("scan_frequency");
    if (!this.wanted.detector_pixel && this.inflight === undefined)
      this.k = this.pairOf("detector_pixel");
    this.drawMarkers();
  }

  private pairOf(key: string): [number, number] {
    const v = this.model.get(key) as number[] | undefined;
    return [Number(v?.[0] ?? 0), Number(v?.[1] ?? 0)];
  }

  private syncMask(): void {
    if (this.wanted.mask !== undefined || this.inflight !== undefined) return;
    const m = this.model.get("mask") as DataView | ArrayBuffer | Uint8Array | null;
    const [cdy, cdx] = this.crop();
    const mask = typed(Uint8Array, m);
    this.mask = mask.length === cdy * cdx ? mask : new Uint8Array(cdy * cdx).fill(1);
    this.showMask();
  }

  private showMask(shape?: Uint8Array): void {
    this.panels.get("detector")?.setMask(this.mask, shape);
    const [cdy, cdx] = this.crop();
    this.maskText.textContent = `${countMask(this.mask)} of ${cdy * cdx} pixels in the mask`;
  }

  private drawMarkers(): void {
    const [sy, sx] = this.scan();
    const at: [number, number] = [shift(this.q[1], sx), shift(this.q[0], sy)];
    for (const name of ["overview", "amplitude", "phase"] as const)
      this.panels.get(name)?.setMarker(at);
    this.panels.get("detector")?.setMarker([this.k[1], this.k[0]]);
  }

  private syncScale(redraw = true): void {
    const cmap = String(this.model.get("colormap") ?? "viridis");
    if (this.colormap.value !== cmap) this.colormap.value = cmap;
    this.logScale.checked = Boolean(this.model.get("log"));
    if (redraw) for (const name of PANEL_NAMES) void this.recolor(name);
  }

  // ---- interactions --------------------------------------------------------------------------

  private pick(panel: FftPanel, [c, r]: [number, number]): void {
    if (panel.name === "detector") {
      const [cdy, cdx] = this.crop();
      if (r >= cdy || c >= cdx) return;
      this.k = [r, c];
      const ask: Wanted = { detector_pixel: [r, c] };
      if (this.tool.value === "toggle") {
        const mask = this.mask.slice();
        mask[r * cdx + c] = mask[r * cdx + c] ? 0 : 1;
        this.mask = ask.mask = mask;
        this.showMask();
      }
      this.request(ask);
    } else {
      const [sy, sx] = this.scan();
      this.q = [unshift(r, sy), unshift(c, sx)];
      this.request({ scan_frequency: this.q });
    }
    this.drawMarkers();
  }

  private readonly onDrag = (
    panel: FftPanel,
    from: [number, number],
    to: [number, number],
    done: boolean,
    e: MouseEvent,
  ): void => {
    const tool = this.tool.value as MaskTool;
    if (tool === "toggle" || !panel.data) return;
    const shape = shapeMask(tool, from, to, panel.data.rows, panel.data.cols);
    if (!done) {
      this.showMask(shape);
      return;
    }
    this.mask = combineMask(this.mask, shape, e.shiftKey);
    this.showMask();
    this.request({ mask: this.mask });
  };

  private setMask(m: "all" | "clear"): void {
    const [cdy, cdx] = this.crop();
    this.mask = new Uint8Array(cdy * cdx).fill(m === "all" ? 1 : 0);
    this.showMask();
    this.request({ mask: m });
  }

  private proceed(): void {
    this.proceedButton.disabled = true;
    this.proceedText.textContent = "running…";
    this.send({ type: "proceed", id: `p${++nextRequest}` });
  }

  /** Ask the kernel (one request in flight; later asks are merged into the next). */
  private request(ask: Wanted): void {
    Object.assign(this.wanted, ask);
    this.pump();
  }

  private pump(): void {
    if (this.inflight !== undefined) return;
    const w = this.wanted;
    if (!w.panels && !w.scan_frequency && !w.detector_pixel && w.mask === undefined) return;
    this.wanted = {};
    const id = `f${++nextRequest}`;
    this.inflight = id;
    if (w.panels) {
      this.send({ type: "panels", id });
      // Selection changes asked for meanwhile follow in the next request.
      const { panels: _panels, ...rest } = w;
      this.wanted = rest;
      return;
    }
    const content: Record<string, unknown> = { type: "select", id };
    const buffers: ArrayBuffer[] = [];
    if (w.scan_frequency) content.scan_frequency = w.scan_frequency;
    if (w.detector_pixel) content.detector_pixel = w.detector_pixel;
    if (w.mask instanceof Uint8Array) {
      content.mask = "buffer";
      buffers.push(w.mask.slice().buffer);
    } else if (w.mask) content.mask = w.mask;
    this.send(content, buffers);
  }

  private done(id: string | undefined): void {
    if (id === undefined || id !== this.inflight) return;
    this.inflight = undefined;
    queueMicrotask(() => {
      this.pump();
      if (this.inflight === undefined) {
        // Settled: the model's selection is the truth again.
        this.syncSelection();
        this.syncMask();
      }
    });
  }

  // ---- kernel -> view ------------------------------------------------------------------------

  private onCustom(
    content: PanelsMessage | { type: string; id?: string; message?: string },
    buffers: (DataView | ArrayBuffer)[],
  ): void {
    if (content.type === "error") {
      const c = content as { id?: string; message?: string };
      this.header.error(c.message);
      this.done(c.id);
      return;
    }
    if (content.type === "proceed") return; // the state says how it went
    if (content.type !== "panels") return;
    const m = content as PanelsMessage;
    m.panels.forEach((meta, i) => {
      const panel = this.panels.get(meta.name);
      if (!panel) return;
      const values = typed(Float32Array, buffers[i]);
      if (values.length !== meta.rows * meta.cols) return;
      panel.setData({
        ...meta,
        values,
        sequence: m.sequence,
        scanFrequency: m.scan_frequency,
        detectorPixel: m.detector_pixel,
        maskCount: m.mask_count,
      });
      this.setTitle(panel);
      void this.recolor(meta.name);
    });
    this.drawMarkers();
    this.done(m.id);
  }

  private setTitle(panel: FftPanel): void {
    const p = panel.data;
    if (!p) return;
    const [sy, sx] = this.scan();
    const [qy, qx] = p.scanFrequency;
    const [ky, kx] = p.detectorPixel;
    const q = `q = (${signedFrequency(qy, sy)}, ${signedFrequency(qx, sx)})`;
    const pending = p.pending > 0 ? `${p.pending} pending` : "";
    switch (p.name) {
      case "overview":
        panel.setTitle(
          `${TITLES.overview}: mean |FT| over the mask`,
          `${p.averaged ?? 0} of ${p.maskCount} masked pixels complete · zero frequency centred`,
        );
        break;
      case "detector":
        panel.setTitle(`${TITLES.detector}: |FT| at ${q}`, pending);
        break;
      case "amplitude":
        panel.setTitle(`${TITLES.amplitude}: |FT| of pixel (${ky}, ${kx})`, pending);
        break;
      case "phase":
        panel.setTitle(`${TITLES.phase} of pixel (${ky}, ${kx}), −π … π`, pending);
        break;
    }
  }

  /** Colours of one panel: percentile limits for magnitudes, −π…π (cyclic) for the phase. */
  private async recolor(name: PanelName): Promise<void> {
    const panel = this.panels.get(name);
    const p = panel?.data;
    if (!panel || !p) return;
    const seq = (this.paintSeq.get(name) ?? 0) + 1;
    this.paintSeq.set(name, seq);
    const worker = computeWorker();
    try {
      let scale: { colormap: ColormapName; lo: number; hi: number; log: boolean };
      if (name === "phase") scale = { colormap: "twilight", lo: -Math.PI, hi: Math.PI, log: false };
      else {
        const log = this.logScale.checked;
        const cmap = this.colormap.value as ColormapName;
        let [lo, hi] = (await worker.planeStats([p.values], 2, log, 1, 99)).limits;
        // One value (a flat image's spectrum is its zero frequency alone): show it bright.
        if (!(hi - lo > 1e-5 * Math.abs(hi))) [lo, hi] = log ? [hi / 10, hi] : [hi - 1, hi];
        if (DIVERGING.has(cmap) && !log) {
          const m = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
          [lo, hi] = [-m, m];
        }
        scale = { colormap: cmap, lo, hi, log };
      }
      const [rgba] = await worker.colorizePlanes([p.values], scale);
      if (seq !== this.paintSeq.get(name) || panel.data !== p || !rgba) return;
      panel.paint(rgba);
      this.el.dataset.draws = String(++this.draws);
    } catch (e) {
      this.header.error((e as Error).message);
    }
  }

  private showReadout(panel: FftPanel, at: [number, number] | undefined): void {
    const p = panel.data;
    if (!at || !p) {
      this.readout.dataset.active = "false";
      return;
    }
    const [c, r] = at;
    const value = panel.valueAt(c, r);
    this.setField("panel", TITLES[panel.name]);
    if (panel.name === "detector") {
      const [cdy, cdx] = this.crop();
      if (r >= cdy || c >= cdx) return;
      this.setField("q", "–");
      this.setField("freq", "–");
      this.setField("k", `(${r}, ${c})${this.mask[r * cdx + c] ? " in mask" : ""}`);
    } else {
      const [sy, sx] = this.scan();
      const [qy, qx] = [unshift(r, sy), unshift(c, sx)];
      const [fy, fx] = [signedFrequency(qy, sy), signedFrequency(qx, sx)];
      this.setField("q", `(${qy}, ${qx})`);
      this.setField("freq", `(${numText(fy / sy, 4)}, ${numText(fx / sx, 4)})`);
      this.setField(
        "k",
        panel.name === "overview" ? "mask mean" : `(${p.detectorPixel.join(", ")})`,
      );
    }
    const unit = panel.name === "phase" ? " rad" : "";
    this.setField(
      "value",
      Number.isNaN(value) ? "pending" : `${numText(value, 6)}${unit}`,
      String(value),
    );
    this.readout.dataset.active = "true";
  }
}
