/**
 * A 2-d array as a canvas image: colormapping runs in the compute worker, the canvas shows
 * the result scaled to the output area (nearest neighbour), and the cursor readout maps the
 * pointer back to dataset indices and the value there.
 */
import type { ColorScale } from "@stagelab/core/viewer";
import { computeWorker } from "../workers/index.js";

export interface ImageData2D {
  /** Rows x columns of displayed values (after striding). */
  rows: number;
  cols: number;
  values: Float64Array;
  /** Dataset index of displayed row r is rowStart + r * rowStep (same for columns). */
  rowStart: number;
  rowStep: number;
  colStart: number;
  colStep: number;
}

export class ImagePanel {
  readonly el = document.createElement("div");
  private readonly canvas = document.createElement("canvas");
  private readonly source = document.createElement("canvas");
  private data: ImageData2D | undefined;
  private drawSeq = 0;

  constructor(private readonly onCursor: (text: string) => void) {
    this.el.className = "sl-h5-image";
    this.canvas.setAttribute("role", "img");
    this.canvas.tabIndex = 0;
    this.el.appendChild(this.canvas);
    this.canvas.addEventListener("mousemove", this.onMove);
    this.canvas.addEventListener("mouseleave", () => this.onCursor(""));
  }

  /** Colorize in the worker and draw; a newer call supersedes an older one still in flight. */
  async show(data: ImageData2D, scale: ColorScale, label: string): Promise<void> {
    const seq = ++this.drawSeq;
    this.data = data;
    const rgba = await computeWorker().colorize(data.values, scale);
    if (seq !== this.drawSeq) return;
    this.source.width = data.cols;
    this.source.height = data.rows;
    const ctx = this.source.getContext("2d");
    if (!ctx) return;
    ctx.putImageData(
      new ImageData(new Uint8ClampedArray(rgba.buffer as ArrayBuffer), data.cols, data.rows),
      0,
      0,
    );
    this.canvas.setAttribute("aria-label", label);
    this.draw();
  }

  /** Fit to the available width, keeping pixels square. */
  draw(): void {
    const d = this.data;
    if (!d) return;
    const width = Math.max(64, Math.min(this.el.clientWidth || 480, 900));
    const scale = Math.max(0.1, Math.min(width / d.cols, 600 / d.rows));
    this.canvas.width = Math.max(1, Math.round(d.cols * scale));
    this.canvas.height = Math.max(1, Math.round(d.rows * scale));
    const ctx = this.canvas.getContext("2d");
    if (!ctx) return;
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.source, 0, 0, this.canvas.width, this.canvas.height);
  }

  private readonly onMove = (e: MouseEvent): void => {
    const d = this.data;
    if (!d) return;
    const rect = this.canvas.getBoundingClientRect();
    const c = Math.floor(((e.clientX - rect.left) / rect.width) * d.cols);
    const r = Math.floor(((e.clientY - rect.top) / rect.height) * d.rows);
    if (r < 0 || c < 0 || r >= d.rows || c >= d.cols) return;
    const v = d.values[r * d.cols + c]!;
    this.onCursor(
      `[${d.rowStart + r * d.rowStep}, ${d.colStart + c * d.colStep}] = ${formatValue(v)}`,
    );
  };
}

export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  return Number.isInteger(v) && Math.abs(v) < 1e15 ? String(v) : v.toPrecision(6);
}
