/**
 * H5View, browser side: tree, dataset info and attributes (as text), a line chart for 1-d
 * data and a canvas image for 2-d and N-d data (one slider per extra axis; axis 0 can stay
 * on the newest frame), colormaps, contrast limits (percentile auto or typed), log scale,
 * amplitude/phase for complex data, a cursor readout, and live following of a file another
 * process writes (the kernel pushes new rows; the follow button pauses and resumes).
 */
import { DOMWidgetModel, DOMWidgetView, type ISerializers } from "@jupyter-widgets/base";
import {
  COLORMAPS,
  DIVERGING,
  planRead,
  defaultView,
  type ColormapName,
  type ViewSpec,
} from "@stagelab/core/viewer";
import { computeWorker } from "../workers/index.js";
import { FOLLOW_DEFAULTS, widgetNames } from "../shared/model.js";
import { FollowHeader, labelled } from "../shared/controls.js";
import { ArrayAssembler, type ArrayMessage, type ReceivedArray } from "./data.js";
import { TreePanel, type TreeEntry } from "./tree.js";
import { ImagePanel, formatValue } from "./image.js";
import { LinePanel } from "./line.js";

export class H5ViewModel extends DOMWidgetModel {
  static override serializers: ISerializers = { ...DOMWidgetModel.serializers };
  static model_name = "H5ViewModel";
  static view_name = "H5ViewView";

  override defaults(): Backbone.ObjectHash {
    return {
      ...super.defaults(),
      ...widgetNames("H5ViewModel", "H5ViewView"),
      file: "",
      tree: [],
      selected: "",
      ...FOLLOW_DEFAULTS,
      view: null,
    };
  }
}

type ComplexPart = "amplitude" | "phase";

let nextRequest = 0;

export class H5ViewView extends DOMWidgetView {
  private readonly assembler = new ArrayAssembler();
  private readonly waiting = new Map<string, (a: ReceivedArray) => void>();
  private tree!: TreePanel;
  private image!: ImagePanel;
  private line!: LinePanel;
  private header!: FollowHeader;
  private readonly info = document.createElement("div");
  private readonly controls = document.createElement("div");
  private readonly sliders = document.createElement("div");
  private readonly readout = document.createElement("div");
  private readonly colormap = document.createElement("select");
  private readonly complexPart = document.createElement("select");
  private readonly showAs = document.createElement("select");
  private readonly logScale = document.createElement("input");
  private readonly lo = document.createElement("input");
  private readonly hi = document.createElement("input");
  private readonly autoButton = document.createElement("button");
  private spec: ViewSpec | undefined;
  private latestFrame = true;
  private lastImage: ReceivedArray | undefined;
  private resizeObserver: ResizeObserver | undefined;
  private themeObserver: MutationObserver | undefined;

  override render(): void {
    this.el.classList.add("sl-view", "stagelab-h5view");
    this.header = new FollowHeader(this, "sl-h5", String(this.model.get("file")));

    this.tree = new TreePanel((p) => this.select(p));
    this.image = new ImagePanel((t) => (this.readout.textContent = t));
    this.line = new LinePanel((t) => (this.readout.textContent = t));

    this.info.className = "sl-h5-info";
    this.buildControls();
    this.sliders.className = "sl-h5-sliders";
    this.readout.className = "sl-h5-readout";
    this.readout.setAttribute("aria-live", "polite");

    const main = document.createElement("div");
    main.className = "sl-h5-main";
    main.append(this.info, this.controls, this.sliders, this.image.el, this.line.el, this.readout);
    const body = document.createElement("div");
    body.className = "sl-h5-body";
    body.append(this.tree.el, main);
    this.el.append(this.header.el, body);

    this.model.on("msg:custom", this.onCustom, this);
    this.model.on(
      "change:tree change:file_state change:following change:error",
      () => this.renderMeta(),
      this,
    );
    this.model.on("change:tree", () => this.onTreeChanged(), this);
    this.resizeObserver = new ResizeObserver(() => this.image.draw());
    this.resizeObserver.observe(main);
    // Charts take their colours from the theme: redraw when the user switches theme.
    this.themeObserver = new MutationObserver(() => {
      if (!this.line.el.hidden) void this.reload();
    });
    this.themeObserver.observe(document.body, {
      attributes: true,
      attributeFilter: ["data-jp-theme-light"],
    });
    this.renderMeta();
    const selected = String(this.model.get("selected") ?? "");
    if (selected) void this.select(selected);
  }

  override remove(): this {
    this.resizeObserver?.disconnect();
    this.themeObserver?.disconnect();
    this.line.dispose();
    return super.remove();
  }

  private buildControls(): void {
    this.controls.className = "sl-h5-controls";
    for (const name of COLORMAPS) this.colormap.add(new Option(name, name));
    this.colormap.addEventListener("change", () => void this.redrawImage());
    for (const part of ["amplitude", "phase"]) this.complexPart.add(new Option(part, part));
    this.showAs.add(new Option("data", "data"));
    this.showAs.add(new Option("|FFT|", "fft"));
    this.showAs.title =
      "the image, or the amplitude of its 2-d Fourier transform (zero frequency centred)";
    this.showAs.addEventListener("change", () => void this.redrawImage(true));
    this.complexPart.addEventListener("change", () => void this.reload());
    this.logScale.type = "checkbox";
    this.logScale.addEventListener("change", () => void this.reload());
    for (const input of [this.lo, this.hi]) {
      input.type = "number";
      input.step = "any";
      input.size = 8;
      input.addEventListener("change", () => void this.redrawImage(false));
    }
    this.autoButton.textContent = "auto";
    this.autoButton.className = "jupyter-button";
    this.autoButton.title = "contrast limits from the 1st and 99th percentiles";
    this.autoButton.addEventListener("click", () => void this.redrawImage(true));
    this.controls.append(
      labelled("colormap", this.colormap),
      labelled("log", this.logScale),
      labelled("min", this.lo),
      labelled("max", this.hi),
      this.autoButton,
      labelled("complex", this.complexPart),
      labelled("show", this.showAs),
    );
  }

  private entries(): TreeEntry[] {
    return (this.model.get("tree") ?? []) as TreeEntry[];
  }

  private entry(path: string): TreeEntry | undefined {
    return this.entries().find((t) => t.path === path);
  }

  private renderMeta(): void {
    this.header.render();
    this.tree.render(
      this.entries(),
      this.tree.selectedPath || String(this.model.get("selected") ?? ""),
    );
  }

  private onTreeChanged(): void {
    const t = this.entry(this.tree.selectedPath);
    if (t) this.renderInfo(t);
    if (t && this.spec) this.renderSliders(t);
  }

  private renderInfo(t: TreeEntry): void {
    this.info.replaceChildren();
    const head = document.createElement("div");
    head.className = "sl-h5-info-head";
    head.textContent = `${t.path}  ${t.dtype} [${(t.shape ?? []).join(" × ")}]  chunks ${t.chunks ? `[${t.chunks.join(" × ")}]` : "contiguous"}  ${t.compression ?? ""}`;
    this.info.appendChild(head);
    const attrs = Object.entries(t.attrs ?? {});
    if (attrs.length) {
      const table = document.createElement("table");
      table.className = "sl-h5-attrs";
      for (const [k, v] of attrs) {
        const tr = table.insertRow();
        tr.insertCell().textContent = k;
        tr.insertCell().textContent = v;
      }
      this.info.appendChild(table);
    }
    const complex = (t.dtype ?? "").startsWith("complex");
    (this.complexPart.parentElement as HTMLElement).hidden = !complex;
  }

  private renderSliders(t: TreeEntry): void {
    const shape = t.shape ?? [];
    const spec = this.spec;
    this.sliders.replaceChildren();
    if (!spec) return;
    shape.forEach((extent, axis) => {
      if (spec.displayAxes.includes(axis)) return;
      const wrap = document.createElement("label");
      wrap.className = "sl-h5-slider";
      const input = document.createElement("input");
      input.type = "range";
      input.min = "0";
      input.max = String(Math.max(0, extent - 1));
      const idx = spec.indices[axis] ?? 0;
      const value = idx < 0 ? extent + idx : idx;
      input.value = String(value);
      input.setAttribute("aria-label", `index along axis ${axis}`);
      const text = document.createElement("span");
      text.textContent = `axis ${axis}: ${value} / ${extent - 1}`;
      input.addEventListener("input", () => {
        const v = Number(input.value);
        this.latestFrame = axis === 0 && v === extent - 1 && Boolean(this.model.get("following"));
        spec.indices[axis] = this.latestFrame ? -1 : v;
        text.textContent = `axis ${axis}: ${v} / ${extent - 1}`;
        void this.reload();
      });
      wrap.append(text, input);
      this.sliders.appendChild(wrap);
    });
  }

  private async select(path: string): Promise<void> {
    const t = this.entry(path);
    if (!t || t.kind !== "dataset") return;
    this.model.set("selected", path);
    const shape = t.shape ?? [];
    this.spec = defaultView(shape, shape.length <= 1 ? 4096 : 512);
    this.latestFrame = shape.length > 2;
    this.tree.render(this.entries(), path);
    this.renderInfo(t);
    this.renderSliders(t);
    this.publishView(path);
    await this.reload();
  }

  /** Tell the kernel what is on screen, so it pushes the increments of exactly that. */
  private publishView(path: string): void {
    const s = this.spec;
    this.model.set(
      "view",
      s ? { path, displayAxes: s.displayAxes, indices: s.indices, maxPerAxis: s.maxPerAxis } : null,
    );
    this.touch();
  }

  private request(path: string, selection: unknown[]): Promise<ReceivedArray> {
    const id = `r${++nextRequest}`;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, resolve);
      this.waitingErrors.set(id, reject);
      this.send({ type: "read", id, path, selection });
    });
  }

  private readonly waitingErrors = new Map<string, (e: Error) => void>();

  private async reload(): Promise<void> {
    const path = this.tree.selectedPath;
    const t = this.entry(path);
    if (!t || !this.spec) return;
    const shape = t.shape ?? [];
    if (shape.some((d) => d === 0)) {
      this.readout.textContent = "no committed data yet";
      return;
    }
    const plan = planRead(shape, this.spec);
    try {
      const a = await this.request(path, plan.selection);
      this.setImageControls(shape.length > 1);
      if (shape.length <= 1) {
        this.image.el.hidden = true;
        this.line.el.hidden = false;
        const step = plan.steps[0] ?? 1;
        const values = await this.realValues(a);
        await this.line.show(
          Array.from(values, (v, i) => ({ index: i * step, value: v })),
          path,
          this.logScale.checked,
        );
      } else {
        this.line.el.hidden = true;
        this.image.el.hidden = false;
        this.lastImage = a;
        this.lastPlanSteps = plan;
        await this.redrawImage(this.lo.value === "" || this.hi.value === "");
      }
    } catch (e) {
      this.readout.textContent = (e as Error).message;
    }
  }

  private lastPlanSteps: ReturnType<typeof planRead> | undefined;

  /** Colormap and contrast limits only mean something for images. */
  private setImageControls(visible: boolean): void {
    for (const el of [this.colormap, this.lo, this.hi])
      (el.parentElement as HTMLElement).hidden = !visible;
    this.autoButton.style.display = visible ? "" : "none";
  }

  private readonly decodedCache = new WeakMap<ReceivedArray, Promise<Float64Array>>();

  /** Float64 values of an array (decoded once, in the worker); complex: the chosen part. */
  private async realValues(a: ReceivedArray): Promise<Float64Array> {
    let decoded = this.decodedCache.get(a);
    if (!decoded) {
      decoded = computeWorker().decode(a.dtype, a.bytes);
      this.decodedCache.set(a, decoded);
    }
    const values = await decoded;
    if (!a.dtype.startsWith("complex")) return values;
    return computeWorker().complexPart(values, this.complexPart.value as ComplexPart);
  }

  private async redrawImage(autoLimits = false): Promise<void> {
    const a = this.lastImage;
    const plan = this.lastPlanSteps;
    const spec = this.spec;
    if (!a || !plan || !spec) return;
    let values = await this.realValues(a);
    const [rowAxis, colAxis] = spec.displayAxes as [number, number];
    const sel = plan.selection;
    const start = (axis: number) => (sel[axis] as [number, number, number])[0] ?? 0;
    let image = {
      rows: plan.shape[0]!,
      cols: plan.shape[1]!,
      rowStart: start(rowAxis),
      rowStep: plan.steps[0]!,
      colStart: start(colAxis),
      colStep: plan.steps[1]!,
    };
    const fft = this.showAs.value === "fft";
    if (fft) {
      const ps = await computeWorker().powerSpectrum(values, image.rows, image.cols);
      values = ps.values;
      // Readout in frequency indices, zero at the centre.
      image = {
        rows: ps.rows,
        cols: ps.cols,
        rowStart: -ps.rows / 2,
        rowStep: 1,
        colStart: -ps.cols / 2,
        colStep: 1,
      };
    }
    const log = this.logScale.checked;
    const cmap = this.colormap.value as ColormapName;
    if (autoLimits) {
      let [lo, hi] = await computeWorker().limits(values, 1, fft ? 99.9 : 99, log);
      if (DIVERGING.has(cmap) && !log) {
        const m = Math.max(Math.abs(lo), Math.abs(hi));
        [lo, hi] = [-m, m];
      }
      this.lo.value = formatValue(lo);
      this.hi.value = formatValue(hi);
    }
    const others =
      spec.displayAxes.length < (this.entry(a.path)?.shape?.length ?? 0)
        ? ` at ${JSON.stringify(spec.indices)}`
        : "";
    await this.image.show(
      { ...image, values },
      { colormap: cmap, lo: Number(this.lo.value), hi: Number(this.hi.value), log },
      `${fft ? "|FFT| of " : ""}${a.path}${others}`,
    );
  }

  private onCustom(
    content:
      | ArrayMessage
      | { type: string; id?: string; path?: string; message?: string; from?: number; to?: number },
    buffers: (DataView | ArrayBuffer)[],
  ): void {
    if (content.type === "error") {
      const reject = this.waitingErrors.get(content.id ?? "");
      this.waiting.delete(content.id ?? "");
      this.waitingErrors.delete(content.id ?? "");
      reject?.(new Error((content as { message?: string }).message ?? "read failed"));
      return;
    }
    if (content.type !== "data") return;
    const msg = content as ArrayMessage;
    const whole = this.assembler.add(msg, buffers[0]!);
    if (!whole) return;
    if (msg.id.startsWith("increment:")) {
      void this.applyIncrement(whole);
      return;
    }
    const resolve = this.waiting.get(msg.id);
    this.waiting.delete(msg.id);
    this.waitingErrors.delete(msg.id);
    resolve?.(whole);
  }

  /** New rows of a 2-d image drawn at full row resolution: append them; otherwise re-read. */
  private async appendRows(inc: ReceivedArray): Promise<void> {
    const last = this.lastImage;
    const t = this.entry(inc.path);
    const spec = this.spec;
    const plan = this.lastPlanSteps;
    if (
      !last ||
      !t?.shape ||
      !spec ||
      !plan ||
      spec.window ||
      plan.steps[0] !== 1 ||
      inc.start !== last.shape[0] ||
      inc.shape[1] !== last.shape[1]
    ) {
      await this.reload();
      return;
    }
    const bytes = new Uint8Array(last.bytes.byteLength + inc.bytes.byteLength);
    bytes.set(last.bytes);
    bytes.set(inc.bytes, last.bytes.byteLength);
    const grown: ReceivedArray = {
      path: last.path,
      dtype: last.dtype,
      shape: [last.shape[0]! + inc.shape[0]!, last.shape[1]!],
      bytes,
    };
    const newShape = [grown.shape[0]!, ...t.shape.slice(1)];
    const newPlan = planRead(newShape, spec);
    if (newPlan.steps[0] !== 1) {
      await this.reload(); // the image outgrew full resolution: re-read it strided
      return;
    }
    this.lastImage = grown;
    this.lastPlanSteps = newPlan;
    await this.redrawImage(false);
  }

  /** New committed rows of the dataset on screen: extend the line, or show the new frame. */
  private async applyIncrement(a: ReceivedArray): Promise<void> {
    if (a.path !== this.tree.selectedPath) return;
    const t = this.entry(a.path);
    const rank = t?.shape?.length ?? 0;
    if (rank <= 1) {
      const values = await this.realValues(a);
      const start = a.start ?? 0;
      const points = Array.from(values, (v, i) => ({ index: start + i, value: v }));
      // A chart drawn with a stride would mix resolutions: redraw instead.
      if (
        (this.spec && planRead(t?.shape ?? [], this.spec).steps[0] !== 1) ||
        !(await this.line.append(points))
      )
        await this.reload();
      return;
    }
    if (rank > 2 && this.latestFrame && this.spec && t?.shape) {
      // The kernel pushed exactly the newest frame as this view shows it.
      this.lastImage = a;
      this.lastPlanSteps = planRead(t.shape, this.spec);
      await this.redrawImage(false);
    } else if (rank === 2) {
      await this.appendRows(a);
    }
  }
}
