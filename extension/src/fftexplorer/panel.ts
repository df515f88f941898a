/**
 * One panel of FftExplorer: a title, the colour image (nearest neighbour; pending values are
 * transparent over a hatched background), a marker at the selected pixel, on the sub-selection
 * plane the virtual-detector mask's outline and the shape being dragged, and the pointer: hover
 * reports the pixel under it, a click (or Enter / arrow keys) picks one, a drag draws a shape.
 */
import { RasterCanvas, arrowStep } from "../shared/raster.js";
import type { Panel, PanelName } from "./geometry.js";

/** Largest side of a panel on screen (CSS px), unless the view sets it (setBox). */
const BOX = 280;

export interface PanelEvents {
  /** The pointer is over display pixel (c, r) (undefined: it left). */
  hover(panel: FftPanel, at: [number, number] | undefined): void;
  /** A click (or key) on display pixel (c, r). */
  pick(panel: FftPanel, at: [number, number]): void;
  /** A drag from `from` to `to` (display pixels); `done` when the button is released. */
  drag?(
    panel: FftPanel,
    from: [number, number],
    to: [number, number],
    done: boolean,
    e: MouseEvent,
  ): void;
}

export class FftPanel {
  readonly el = document.createElement("div");
  private readonly raster = new RasterCanvas(
    { stack: "sl-fx-stack", image: "sl-fx-image", overlay: "sl-fx-overlay" },
    BOX,
  );
  readonly canvas = this.raster.canvas;
  private readonly title = document.createElement("div");
  private readonly note = document.createElement("div");
  data: Panel | undefined;
  /** The selected display pixel [c, r] (marked with a square). */
  private marker: [number, number] | undefined;
  /** Sub-selection plane: the mask (row-major, display = crop order) and a shape in progress. */
  private mask: Uint8Array | undefined;
  private shape: Uint8Array | undefined;
  private press: { at: [number, number]; dragging: boolean } | undefined;

  constructor(
    readonly name: PanelName,
    private readonly events: PanelEvents,
  ) {
    this.el.className = "sl-fx-panel";
    this.el.dataset.panel = name;
    this.el.style.maxWidth = `${BOX}px`;
    this.title.className = "sl-fx-title";
    this.note.className = "sl-fx-note";
    this.canvas.setAttribute("role", "img");
    this.canvas.tabIndex = 0;
    this.canvas.dataset.panel = name;
    this.raster.onDraw = () => this.drawOverlay();
    this.el.append(this.title, this.raster.stack, this.note);
    this.canvas.addEventListener("mousemove", (e) => {
      if (!this.press) this.events.hover(this, this.raster.cellAt(e));
    });
    this.canvas.addEventListener("mouseleave", () => {
      if (!this.press) this.events.hover(this, undefined);
    });
    this.canvas.addEventListener("mousedown", this.onDown);
    this.canvas.addEventListener("keydown", this.onKey);
  }

  setTitle(text: string, note = ""): void {
    this.title.textContent = text;
    this.note.textContent = note;
    this.canvas.setAttribute("aria-label", text);
  }

  /** New values (colours follow with `paint`). */
  setData(p: Panel): void {
    this.data = p;
    const d = this.canvas.dataset;
    d.rows = String(p.rows);
    d.cols = String(p.cols);
    d.shifted = String(p.shifted);
    d.pending = String(p.pending);
    d.sequence = String(p.sequence);
    d.q = p.scanFrequency.join(",");
    d.k = p.detectorPixel.join(",");
    d.maskCount = String(p.maskCount);
    if (p.averaged !== undefined) d.averaged = String(p.averaged);
  }

  /** Draw RGBA pixels of the current values. */
  paint(rgba: Uint8ClampedArray): void {
    const p = this.data;
    if (!p || !this.raster.paint(rgba, p.cols, p.rows)) return;
    // What the pixels now show (tests wait on it).
    this.canvas.dataset.painted = [
      p.sequence,
      p.scanFrequency.join(","),
      p.detectorPixel.join(","),
      p.maskCount,
    ].join(":");
  }

  setBox(px: number): void {
    this.raster.setBox(px);
    // Titles wrap at the image's width instead of widening the grid.
    this.el.style.maxWidth = `${Math.round(px)}px`;
  }

  setMarker(at: [number, number] | undefined): void {
    this.marker = at;
    this.drawOverlay();
  }

  setMask(mask: Uint8Array | undefined, shape?: Uint8Array): void {
    this.mask = mask;
    this.shape = shape;
    this.drawOverlay();
  }

  /** The value at display pixel (c, r). */
  valueAt(c: number, r: number): number {
    const p = this.data;
    return p ? (p.values[r * p.cols + c] ?? NaN) : NaN;
  }

  private drawOverlay(): void {
    const ctx = this.raster.clearOverlay();
    const p = this.data;
    if (!ctx || !p || this.raster.cols !== p.cols || this.raster.rows !== p.rows) return;
    if (this.mask) this.outline(ctx, this.mask, "rgba(255, 255, 255, 0.95)", 2);
    if (this.shape) this.outline(ctx, this.shape, "rgba(255, 200, 0, 0.95)", 2);
    const m = this.marker;
    if (m) {
      const [x0, y0] = this.raster.at(m[0], m[1]);
      const [x1, y1] = this.raster.at(m[0] + 1, m[1] + 1);
      for (const [style, width] of [
        ["rgba(0, 0, 0, 0.7)", 3],
        ["rgba(255, 80, 80, 1)", 1.5],
      ] as const) {
        ctx.strokeStyle = style;
        ctx.lineWidth = width;
        ctx.strokeRect(x0 - 1, y0 - 1, x1 - x0 + 2, y1 - y0 + 2);
      }
    }
  }

  /** The boundary of a pixel set: each edge between a pixel in it and one outside. */
  private outline(ctx: CanvasRenderingContext2D, set: Uint8Array, style: string, width: number) {
    const { rows, cols } = this.data!;
    const inSet = (r: number, c: number) =>
      r >= 0 && c >= 0 && r < rows && c < cols && set[r * cols + c] === 1;
    ctx.strokeStyle = style;
    ctx.lineWidth = width;
    ctx.beginPath();
    const edge = (c0: number, r0: number, c1: number, r1: number) => {
      const [x0, y0] = this.raster.at(c0, r0);
      const [x1, y1] = this.raster.at(c1, r1);
      ctx.moveTo(x0, y0);
      ctx.lineTo(x1, y1);
    };
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < cols; c++) {
        if (!inSet(r, c)) continue;
        if (!inSet(r - 1, c)) edge(c, r, c + 1, r);
        if (!inSet(r + 1, c)) edge(c, r + 1, c + 1, r + 1);
        if (!inSet(r, c - 1)) edge(c, r, c, r + 1);
        if (!inSet(r, c + 1)) edge(c + 1, r, c + 1, r + 1);
      }
    ctx.stroke();
  }

  private readonly onDown = (e: MouseEvent): void => {
    if (e.button !== 0) return;
    const at = this.raster.cellAt(e);
    if (!at) return;
    e.preventDefault();
    // (Scrolling the panel into view would move it under the pointer mid-drag.)
    this.canvas.focus({ preventScroll: true });
    this.press = { at, dragging: false };
    const move = (ev: MouseEvent) => {
      const press = this.press;
      const to = this.clampedCell(ev);
      if (!press || !to || !this.events.drag) return;
      if (!press.dragging && to[0] === press.at[0] && to[1] === press.at[1]) return;
      press.dragging = true;
      this.events.drag(this, press.at, to, false, ev);
    };
    const up = (ev: MouseEvent) => {
      window.removeEventListener("mousemove", move);
      window.removeEventListener("mouseup", up);
      const press = this.press;
      this.press = undefined;
      if (!press) return;
      if (press.dragging && this.events.drag) {
        this.events.drag(this, press.at, this.clampedCell(ev) ?? press.at, true, ev);
      } else this.events.pick(this, press.at);
    };
    window.addEventListener("mousemove", move);
    window.addEventListener("mouseup", up);
  };

  /** The pixel under the pointer, clamped into the image (drags may leave it). */
  private clampedCell(e: MouseEvent): [number, number] | undefined {
    const p = this.data;
    if (!p || this.raster.cols !== p.cols || this.raster.rows !== p.rows) return undefined;
    return this.raster.cellAt(e, true);
  }

  /** Arrow keys move the marker by one pixel and pick there. */
  private readonly onKey = (e: KeyboardEvent): void => {
    const p = this.data;
    if (!p) return;
    const m = arrowStep(e);
    if (!m) return;
    const [c0, r0] = this.marker ?? [Math.floor(p.cols / 2), Math.floor(p.rows / 2)];
    const at: [number, number] = [
      Math.min(p.cols - 1, Math.max(0, c0 + m[0])),
      Math.min(p.rows - 1, Math.max(0, r0 + m[1])),
    ];
    this.events.hover(this, at);
    this.events.pick(this, at);
  };
}
