/**
 * VoxelView, browser side: three linked orthogonal planes (h-k at l, h-l at k, k-l at h)
 * through a merged 3-d diffuse map, with a crosshair (a click in one plane moves the other two
 * there), sliders per axis in fractional hkl, a cursor readout (hkl, |q|, d, I, σ, n_obs),
 * contrast limits with a histogram and percentile auto, colormaps, log scale, expanding the
 * stored asymmetric unit to full reciprocal space (the kernel maps every pixel into the ASU
 * through the Laue operators) and live following while the accumulator still writes.
 *
 * The kernel side (kernel/src/viewers/voxelview.ts) sends only the planes on screen; the
 * histogram, limits and colouring run in the compute worker. File-controlled text is shown
 * with textContent only.
 */
import { DOMWidgetModel, DOMWidgetView, type ISerializers } from "@jupyter-widgets/base";
import { COLORMAPS, DIVERGING, type ColormapName } from "@stagelab/core/viewer";
import { computeWorker } from "../workers/index.js";
import {
  AXIS_NAMES,
  clampPosition,
  fracText,
  numText,
  pixelIndex,
  qLength,
  type Axis,
  type Extent,
  type MapInfo,
  type Plane,
  type PlaneAxis,
  type Vec3,
} from "./geometry.js";
import { PlanePanel } from "./plane.js";
import { HistogramPanel } from "./histogram.js";
import { typed } from "../shared/buffers.js";
import { FOLLOW_DEFAULTS, widgetNames } from "../shared/model.js";
import { FollowHeader, bindControl, buildFields, labelled, setField } from "../shared/controls.js";

export class VoxelViewModel extends DOMWidgetModel {
  static override serializers: ISerializers = { ...DOMWidgetModel.serializers };
  static model_name = "VoxelViewModel";
  static view_name = "VoxelViewView";

  override defaults(): Backbone.ObjectHash {
    return {
      ...super.defaults(),
      ...widgetNames("VoxelViewModel", "VoxelViewView"),
      file: "",
      map: null,
      position: [0, 0, 0],
      expand_asu: false,
      expand_available: false,
      expand_note: "",
      extent: [
        [0, 0],
        [0, 0],
        [0, 0],
      ],
      expanded_extent: null,
      colormap: "viridis",
      log: false,
      ...FOLLOW_DEFAULTS,
      max_per_axis: 512,
    };
  }
}

interface PlaneMessage {
  type: "plane";
  id: string;
  sequence: number;
  expand: boolean;
  fixed: Axis;
  index: number;
  x: PlaneAxis;
  y: PlaneAxis;
}

/** The readout's fields: key, label. */
const READOUT = [
  ["h", "h"],
  ["k", "k"],
  ["l", "l"],
  ["q", "|q| (1/Å)"],
  ["d", "d (Å)"],
  ["I", "I"],
  ["sigma", "σ"],
  ["n_obs", "n_obs"],
] as const;

let nextRequest = 0;

export class VoxelViewView extends DOMWidgetView {
  private readonly panels: PlanePanel[] = [];
  private histogram!: HistogramPanel;
  private header!: FollowHeader;
  private readonly meta = document.createElement("div");
  private readonly controls = document.createElement("div");
  private readonly sliders = document.createElement("div");
  private readonly readout = document.createElement("div");
  private readonly colormap = document.createElement("select");
  private readonly logScale = document.createElement("input");
  private readonly expand = document.createElement("input");
  private readonly lo = document.createElement("input");
  private readonly hi = document.createElement("input");
  private readonly autoButton = document.createElement("button");
  private readonly sliderInputs: HTMLInputElement[] = [];
  private readonly sliderTexts: HTMLSpanElement[] = [];
  private position: Vec3 = [0, 0, 0];
  private expanded = false;
  /** Axes whose planes need fetching, and whether a request is in flight. */
  private readonly wanted = new Set<Axis>();
  private inflight: { id: string; left: number } | undefined;
  private limitsSet = false;
  private redrawQueued = false;
  private redrawSeq = 0;
  private draws = 0;
  private diverging = false;
  private logOn = false;
  private resizeObserver: ResizeObserver | undefined;

  override render(): void {
    this.el.classList.add("sl-view", "stagelab-voxelview");
    this.header = new FollowHeader(this, "sl-vx", String(this.model.get("file") ?? ""));
    this.meta.className = "sl-vx-meta";
    this.buildControls();
    this.sliders.className = "sl-vx-sliders";
    this.buildSliders();

    const planes = document.createElement("div");
    planes.className = "sl-vx-planes";
    for (const fixed of [2, 1, 0] as Axis[]) {
      const panel = new PlanePanel(fixed, {
        hover: (p, c, r) => this.showReadout(p, c, r),
        pick: (n) => this.pick(fixed, n),
      });
      this.panels[fixed] = panel;
      planes.appendChild(panel.el);
    }
    this.histogram = new HistogramPanel((value, which) => {
      (which === "lo" ? this.lo : this.hi).value = numText(value, 6);
      this.recolor();
    });
    this.readout.className = "sl-vx-readout";
    this.readout.setAttribute("aria-live", "polite");
    buildFields(this.readout, "sl-vx", READOUT);
    const bottom = document.createElement("div");
    bottom.className = "sl-vx-bottom";
    bottom.append(this.histogram.el, this.readout);
    this.el.append(this.header.el, this.meta, this.controls, this.sliders, planes, bottom);

    // Three planes side by side where there is room for them.
    this.resizeObserver = new ResizeObserver(() => {
      const width = planes.clientWidth;
      if (width <= 0) return;
      const box = Math.max(120, Math.min(320, Math.floor((width - 3 * 64) / 3)));
      for (const p of this.panels) p.setBox(box);
    });
    this.resizeObserver.observe(planes);

    this.model.on("msg:custom", this.onCustom, this);
    this.model.on(
      "change:file_state change:following change:error change:sequence",
      () => this.renderStatus(),
      this,
    );
    this.model.on(
      "change:map change:extent change:expanded_extent change:expand_available",
      () => this.onMapChanged(),
      this,
    );
    this.model.on("change:expand_asu", () => this.onExpandChanged(), this);
    this.model.on("change:position", () => this.onPositionChanged(), this);
    this.model.on("change:colormap", () => this.syncScaleControls(), this);
    this.model.on("change:log", () => this.syncScaleControls(), this);

    this.position = clampPosition(this.modelPosition(), this.extent());
    this.expanded = this.expandOn();
    this.renderStatus();
    this.onMapChanged(false);
    this.syncScaleControls(false);
    this.fetch([0, 1, 2]);
  }

  override remove(): this {
    this.resizeObserver?.disconnect();
    return super.remove();
  }

  private map(): MapInfo | null {
    return (this.model.get("map") ?? null) as MapInfo | null;
  }

  private ndiv(): Vec3 {
    return this.map()?.ndiv ?? [1, 1, 1];
  }

  private modelPosition(): Vec3 {
    const p = this.model.get("position") as number[] | undefined;
    return [Number(p?.[0] ?? 0), Number(p?.[1] ?? 0), Number(p?.[2] ?? 0)];
  }

  private expandOn(): boolean {
    return Boolean(this.model.get("expand_asu")) && Boolean(this.model.get("expand_available"));
  }

  private extent(): Extent {
    const exp = this.model.get("expanded_extent") as Extent | null;
    return this.expandOn() && exp ? exp : (this.model.get("extent") as Extent);
  }

  private buildControls(): void {
    this.controls.className = "sl-vx-controls";
    for (const name of COLORMAPS) this.colormap.add(new Option(name, name));
    bindControl(this, this.colormap, "colormap");
    this.logScale.type = "checkbox";
    bindControl(this, this.logScale, "log");
    this.expand.type = "checkbox";
    bindControl(this, this.expand, "expand_asu");
    for (const input of [this.lo, this.hi]) {
      input.type = "number";
      input.step = "any";
      input.size = 8;
      input.addEventListener("change", () => {
        this.limitsSet = true;
        this.recolor();
      });
    }
    this.autoButton.textContent = "auto";
    this.autoButton.className = "sl-vx-auto jupyter-button";
    this.autoButton.title = "contrast limits from the 1st and 99th percentiles of the planes";
    this.autoButton.addEventListener("click", () => void this.redraw(true));
    this.controls.append(
      labelled("colormap", this.colormap, "sl-vx-colormap"),
      labelled("log", this.logScale, "sl-vx-log"),
      labelled("min", this.lo, "sl-vx-min"),
      labelled("max", this.hi, "sl-vx-max"),
      this.autoButton,
      labelled("expand ASU → full reciprocal space", this.expand, "sl-vx-expand"),
    );
  }

  private buildSliders(): void {
    for (const a of [0, 1, 2] as Axis[]) {
      const wrap = document.createElement("label");
      wrap.className = "sl-vx-slider";
      wrap.dataset.axis = AXIS_NAMES[a];
      const text = document.createElement("span");
      const input = document.createElement("input");
      input.type = "range";
      input.step = "1";
      input.setAttribute("aria-label", `${AXIS_NAMES[a]} (sub-Miller index)`);
      input.addEventListener("input", () => {
        const p = [...this.position] as Vec3;
        p[a] = Number(input.value);
        this.moveTo(p, [a]);
      });
      wrap.append(text, input);
      this.sliders.appendChild(wrap);
      this.sliderInputs[a] = input;
      this.sliderTexts[a] = text;
    }
  }

  private updateSliders(): void {
    const ext = this.extent();
    const ndiv = this.ndiv();
    for (const a of [0, 1, 2] as Axis[]) {
      const input = this.sliderInputs[a]!;
      input.min = String(ext[a][0]);
      input.max = String(ext[a][1]);
      input.value = String(this.position[a]);
      const name = AXIS_NAMES[a];
      this.sliderTexts[a]!.textContent =
        `${name} = ${fracText(this.position[a], ndiv[a])}  (${name} ${fracText(ext[a][0], ndiv[a])} … ${fracText(ext[a][1], ndiv[a])})`;
    }
  }

  private setField(key: string, text: string): void {
    setField(this.readout, key, text);
  }

  private showReadout(p: Plane | undefined, c: number, r: number): void {
    if (!p) {
      this.readout.dataset.active = "false";
      return;
    }
    const map = this.map();
    const ndiv = this.ndiv();
    const n = pixelIndex(p, c, r);
    const hkl = n.map((v, a) => v / ndiv[a]!) as Vec3;
    n.forEach((v, a) => this.setField(AXIS_NAMES[a]!, fracText(v, ndiv[a]!)));
    if (map?.b_matrix && map.b_matrix.length === 9) {
      const q = qLength(map.b_matrix, hkl[0], hkl[1], hkl[2]);
      this.setField("q", numText(q, 5));
      this.setField("d", q > 0 ? numText(1 / q, 5) : "∞");
    } else {
      this.setField("q", "–");
      this.setField("d", "–");
    }
    const i = r * p.x.count + c;
    const nObs = p.nObs[i] ?? 0;
    const value = p.intensity[i] ?? NaN;
    this.setField("I", Number.isNaN(value) ? "no data" : numText(value));
    this.setField("sigma", numText(p.sigma[i] ?? NaN));
    this.setField("n_obs", String(nObs));
    this.readout.dataset.active = "true";
  }

  private renderStatus(): void {
    this.header.render();
    this.el.dataset.sequence = String(this.model.get("sequence") ?? 0);
  }

  private onMapChanged(refetch = true): void {
    const map = this.map();
    if (map) {
      const parts = [
        `intensity ${map.dtype} [${map.shape.join(" × ")}]`,
        `ndiv [${map.ndiv.join(", ")}]`,
        map.space_group ? `space group ${map.space_group}` : "",
        map.laue_class ? `Laue class ${map.laue_class}` : "",
        map.unit_cell.length === 6
          ? `cell ${map.unit_cell.map((x) => numText(x, 5)).join(" ")}`
          : "",
        map.asu_only ? "ASU only" : "",
        map.units ? `units ${map.units}` : "",
      ];
      this.meta.textContent = parts.filter(Boolean).join(" · ");
    }
    const available = Boolean(this.model.get("expand_available"));
    this.expand.disabled = !available;
    const note = String(this.model.get("expand_note") ?? "");
    (this.expand.parentElement as HTMLElement).title = available
      ? `map every pixel into the stored ASU (${note})`
      : note;
    this.expand.checked = this.expandOn();
    const before = this.position.join(",");
    this.position = clampPosition(this.position, this.extent());
    this.updateSliders();
    for (const p of this.panels) p.setPosition(this.position);
    if (refetch) this.fetch([0, 1, 2]);
    else if (before !== this.position.join(",")) this.publishPosition();
  }

  private onExpandChanged(): void {
    const on = this.expandOn();
    this.expand.checked = on;
    if (on === this.expanded) return;
    this.expanded = on;
    this.position = clampPosition(this.position, this.extent());
    this.updateSliders();
    for (const p of this.panels) p.setPosition(this.position);
    this.publishPosition();
    this.fetch([0, 1, 2]);
  }

  private onPositionChanged(): void {
    const p = clampPosition(this.modelPosition(), this.extent());
    const changed = ([0, 1, 2] as Axis[]).filter((a) => p[a] !== this.position[a]);
    if (changed.length) this.moveTo(p, changed, false);
  }

  /** Colormap and log from the model into the controls (and redraw). */
  private syncScaleControls(redraw = true): void {
    const cmap = String(this.model.get("colormap") ?? "viridis");
    if (this.colormap.value !== cmap) this.colormap.value = cmap;
    const log = Boolean(this.model.get("log"));
    this.logScale.checked = log;
    const logChanged = log !== this.logOn;
    this.logOn = log;
    const diverging = DIVERGING.has(cmap as ColormapName);
    const divergingChanged = diverging !== this.diverging;
    this.diverging = diverging;
    if (!redraw) return;
    // New limits when the scale changes meaning: log, or to or from a map centred on 0.
    void this.redraw(logChanged || divergingChanged);
  }

  /** A click in the plane fixing `fixed`: the other two planes move to the voxel. */
  private pick(fixed: Axis, n: Vec3): void {
    const p = [...this.position] as Vec3;
    const moved = ([0, 1, 2] as Axis[]).filter((a) => a !== fixed);
    for (const a of moved) p[a] = n[a];
    this.moveTo(p, moved);
  }

  private moveTo(p: Vec3, axes: Axis[], publish = true): void {
    this.position = clampPosition(p, this.extent());
    this.updateSliders();
    for (const panel of this.panels) panel.setPosition(this.position);
    if (publish) this.publishPosition();
    this.fetch(axes);
  }

  private publishPosition(): void {
    this.model.set("position", [...this.position]);
    this.touch();
  }

  /** Ask for the planes fixing `axes` (one request in flight; later asks are merged). */
  private fetch(axes: Axis[]): void {
    for (const a of axes) this.wanted.add(a);
    this.pump();
  }

  private pump(): void {
    if (this.inflight || this.wanted.size === 0) return;
    const fixed = [...this.wanted].sort();
    this.wanted.clear();
    const id = `v${++nextRequest}`;
    this.inflight = { id, left: fixed.length };
    this.send({ type: "planes", id, position: [...this.position], expand: this.expanded, fixed });
  }

  private onCustom(
    content: PlaneMessage | { type: string; id?: string; message?: string },
    buffers: (DataView | ArrayBuffer)[],
  ): void {
    if (content.type === "error") {
      const c = content as { id?: string; message?: string };
      this.header.error(c.message);
      if (this.inflight?.id === c.id) {
        this.inflight = undefined;
        this.pump();
      }
      return;
    }
    if (content.type !== "plane") return;
    const m = content as PlaneMessage;
    if (this.inflight?.id === m.id && --this.inflight.left <= 0) {
      this.inflight = undefined;
      queueMicrotask(() => this.pump());
    }
    // Only planes of what is on screen now (a live push may cross a move).
    if (m.expand !== this.expanded || m.index !== this.position[m.fixed]) return;
    const plane: Plane = {
      id: m.id,
      sequence: m.sequence,
      expand: m.expand,
      fixed: m.fixed,
      index: m.index,
      x: m.x,
      y: m.y,
      intensity: typed(Float32Array, buffers[0]),
      sigma: typed(Float32Array, buffers[1]),
      nObs: typed(Uint32Array, buffers[2]),
    };
    const n = m.x.count * m.y.count;
    if (plane.intensity.length !== n) return;
    if (plane.sigma.length !== n) plane.sigma = new Float32Array(n).fill(NaN);
    if (plane.nObs.length !== n) plane.nObs = new Uint32Array(n);
    const panel = this.panels[m.fixed];
    if (!panel) return;
    panel.setPlane(plane, this.ndiv());
    panel.setPosition(this.position);
    this.queueRedraw();
  }

  private queueRedraw(): void {
    if (this.redrawQueued) return;
    this.redrawQueued = true;
    queueMicrotask(() => {
      this.redrawQueued = false;
      const ready = this.panels.every((p) => p.plane);
      void this.redraw(!this.limitsSet && ready);
    });
  }

  private recolor(): void {
    void this.redraw(false);
  }

  /** Histogram and colours of the three planes (new percentile limits when `auto`). */
  private async redraw(auto: boolean): Promise<void> {
    const panels = this.panels.filter((p) => p.plane);
    if (panels.length === 0) return;
    const seq = ++this.redrawSeq;
    const planes = panels.map((p) => p.plane!);
    const log = this.logScale.checked;
    const cmap = this.colormap.value as ColormapName;
    const worker = computeWorker();
    try {
      const stats = await worker.planeStats(
        planes.map((p) => p.intensity),
        64,
        log,
        1,
        99,
      );
      if (seq !== this.redrawSeq) return;
      if (auto) {
        let [lo, hi] = stats.limits;
        if (DIVERGING.has(cmap) && !log) {
          const m = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
          [lo, hi] = [-m, m];
        }
        this.lo.value = numText(lo, 6);
        this.hi.value = numText(hi, 6);
        this.limitsSet = this.panels.every((p) => p.plane);
      }
      const lo = Number(this.lo.value);
      const hi = Number(this.hi.value);
      this.histogram.show(stats.counts, stats.range, log, [lo, hi]);
      const rgba = await worker.colorizePlanes(
        planes.map((p) => p.intensity),
        { colormap: cmap, lo, hi, log },
      );
      if (seq !== this.redrawSeq) return;
      panels.forEach((p, i) => {
        if (p.plane === planes[i]) p.paint(rgba[i]!);
      });
      this.el.dataset.draws = String(++this.draws);
    } catch (e) {
      this.header.error((e as Error).message);
    }
  }
}
