/**
 * What the CubeFit views (PrefitSnapshot, FitDashboard) share: a Vega-Lite chart in a card
 * with PNG and SVG export (Vega's view.toImageURL / view.toSVG, saved as a download), rows
 * added or replaced in place with Vega changesets, a hover callback, redraws when the view's
 * width changes, and the kernel's packed messages (typed arrays as buffers at `buffer_paths`)
 * unpacked back into objects.
 */
import embed, { type Result } from "vega-embed";
import { changeset } from "vega";
import { put_buffers } from "@jupyter-widgets/base";
import { typed } from "../shared/buffers.js";
import { themeConfig } from "../shared/vega-theme.js";
import { button } from "../shared/controls.js";

/** A custom message with its buffers put back where `buffer_paths` says (as DataViews). */
export function unpack<T>(
  content: Record<string, unknown>,
  buffers: (DataView | ArrayBuffer)[],
): T {
  const c = structuredClone(content) as Record<string, unknown>;
  const paths = (c.buffer_paths ?? []) as (string | number)[][];
  put_buffers(c as never, paths, buffers);
  return c as T;
}

/** A buffer (or an already typed array) as float64 values. */
export function f64(v: unknown): Float64Array {
  if (v instanceof Float64Array) return v;
  return typed(Float64Array, v as DataView | null);
}

/** A number as short text (6 significant digits; exponent form when large or small). */
export function num(v: number, digits = 6): string {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "-∞";
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-4 || a >= 1e9)) return v.toExponential(digits - 1).replace(/\.?0+e/, "e");
  return String(Number(v.toPrecision(digits)));
}

type Spec = Record<string, unknown>;

/** A Vega-Lite chart in a card: title bar with export buttons, the chart, a caption. */
export class ChartCard {
  readonly el = document.createElement("div");
  readonly chart = document.createElement("div");
  readonly caption = document.createElement("div");
  private readonly exportStatus = document.createElement("span");
  private result: Result | undefined;
  private rendering: Promise<void> = Promise.resolve();
  /** Full renders and changeset updates so far (the tests read them as data attributes). */
  renders = 0;
  changes = 0;

  constructor(
    readonly name: string,
    title: string,
    private readonly fileStem: () => string,
    private readonly onHover: (datum: Record<string, unknown> | undefined) => void,
  ) {
    this.el.className = "sl-cf-card";
    this.el.dataset.chart = name;
    const head = document.createElement("div");
    head.className = "sl-cf-card-head";
    const t = document.createElement("span");
    t.className = "sl-cf-card-title";
    t.textContent = title;
    this.exportStatus.className = "sl-cf-export-status";
    this.exportStatus.setAttribute("aria-live", "polite");
    head.append(
      t,
      button(
        "PNG",
        "sl-cf-export-png",
        "save the chart as a PNG image",
        () => void this.export("png"),
      ),
      button(
        "SVG",
        "sl-cf-export-svg",
        "save the chart as an SVG drawing",
        () => void this.export("svg"),
      ),
      this.exportStatus,
    );
    this.chart.className = "sl-cf-chart";
    this.caption.className = "sl-cf-caption";
    this.el.append(head, this.chart, this.caption);
  }

  get view(): Result["view"] | undefined {
    return this.result?.view;
  }

  /** Draw `spec` afresh (renders run one after another). */
  render(spec: Spec): Promise<void> {
    this.rendering = this.rendering
      .then(async () => {
        this.result?.finalize();
        this.result = undefined;
        const result = await embed(
          this.chart,
          { ...spec, config: { ...themeConfig(), ...((spec.config as Spec) ?? {}) } } as never,
          { actions: false, renderer: "canvas" },
        );
        this.result = result;
        result.view.addEventListener("mousemove", (_e, item) => this.hover(item));
        result.view.addEventListener("mouseout", () => this.onHover(undefined));
        this.renders++;
        this.el.dataset.renders = String(this.renders);
      })
      .catch((e: Error) => {
        this.caption.textContent = `chart error: ${e.message}`;
      });
    return this.rendering;
  }

  /**
   * Insert rows into dataset `name` in place (a Vega changeset, no re-render); `remove` takes
   * out rows first: all of them (true) or those it returns true for.
   */
  change(
    name: string,
    rows: Record<string, unknown>[],
    remove: boolean | ((d: Record<string, unknown>) => boolean) = false,
  ): Promise<void> {
    this.rendering = this.rendering.then(async () => {
      const view = this.result?.view;
      if (!view) return;
      const cs = changeset();
      if (remove === true) cs.remove(() => true);
      else if (remove) cs.remove(remove as (d: object) => boolean);
      await view.change(name, cs.insert(rows)).runAsync();
      this.changes++;
      this.el.dataset.changes = String(this.changes);
    });
    return this.rendering;
  }

  private hover(item: unknown): void {
    let d = (item as { datum?: Record<string, unknown> } | null)?.datum;
    // Voronoi cells (nearest-point hover) carry the point's item as their datum.
    if (d && typeof d === "object" && "datum" in d && d.datum && typeof d.datum === "object")
      d = d.datum as Record<string, unknown>;
    this.onHover(d && typeof d === "object" ? d : undefined);
  }

  /** Save the chart: PNG through view.toImageURL, SVG through view.toSVG, as a download. */
  async export(kind: "png" | "svg"): Promise<string | undefined> {
    await this.rendering;
    const view = this.result?.view;
    if (!view) return undefined;
    let url: string;
    let text: string;
    if (kind === "png") {
      url = await view.toImageURL("png", 2);
      text = url;
    } else {
      text = await view.toSVG();
      url = URL.createObjectURL(new Blob([text], { type: "image/svg+xml" }));
    }
    const a = document.createElement("a");
    a.href = url;
    a.download = `${this.fileStem()}-${this.name}.${kind}`;
    a.style.display = "none";
    document.body.appendChild(a);
    a.click();
    a.remove();
    if (kind === "svg") setTimeout(() => URL.revokeObjectURL(url), 10_000);
    this.el.dataset.exported = kind;
    this.el.dataset.exportHead = text.slice(0, 22);
    this.el.dataset.exportLength = String(text.length);
    this.exportStatus.textContent = `saved ${a.download}`;
    return text;
  }

  dispose(): void {
    this.result?.finalize();
    this.result = undefined;
  }
}

/** Sizes for charts laid out `columns` across an element `width` pixels wide. */
export function chartWidth(width: number, columns: number, min = 220, max = 520): number {
  const w = Math.floor((Math.max(0, width) - 90 * columns) / columns);
  return Math.max(min, Math.min(max, w || min));
}

/**
 * The width of `el` for charts: `onChange` runs when it has changed by 40 px or more (at once
 * the first time, then 200 ms after the last change) with `width` already updated.
 */
export class WidthWatcher {
  width = 0;
  private readonly observer: ResizeObserver;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(el: HTMLElement, onChange: () => void) {
    this.observer = new ResizeObserver(() => {
      const w = el.clientWidth;
      if (w <= 0 || Math.abs(w - this.width) < 40) return;
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(
        () => {
          this.width = el.clientWidth;
          onChange();
        },
        this.width ? 200 : 0,
      );
    });
    this.observer.observe(el);
  }

  dispose(): void {
    this.observer.disconnect();
    if (this.timer) clearTimeout(this.timer);
  }
}
