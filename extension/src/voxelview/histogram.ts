/**
 * VoxelView's histogram of the values on screen (a canvas; log10 of the positive values in
 * log scale) with the contrast limits marked. A click moves the nearer limit there.
 */
import { numText } from "./geometry.js";

export class HistogramPanel {
  readonly el = document.createElement("div");
  readonly canvas = document.createElement("canvas");
  private readonly lowText = document.createElement("span");
  private readonly highText = document.createElement("span");
  private counts: Uint32Array = new Uint32Array(0);
  /** The histogram's range, in log10 when `log`. */
  private range: [number, number] = [0, 1];
  private log = false;
  private limits: [number, number] = [0, 1];

  constructor(private readonly onPick: (value: number, which: "lo" | "hi") => void) {
    this.el.className = "sl-vx-histogram";
    this.canvas.width = 260;
    this.canvas.height = 64;
    this.canvas.setAttribute("role", "img");
    this.canvas.setAttribute("aria-label", "histogram of the values on screen");
    const axis = document.createElement("div");
    axis.className = "sl-vx-hist-axis";
    axis.append(this.lowText, this.highText);
    this.el.append(this.canvas, axis);
    this.canvas.addEventListener("click", (e) => {
      const rect = this.canvas.getBoundingClientRect();
      const f = (e.clientX - rect.left) / rect.width;
      const t = this.range[0] + f * (this.range[1] - this.range[0]);
      const value = this.log ? 10 ** t : t;
      const [lo, hi] = this.limits.map((v) => this.toAxis(v));
      const which = Math.abs(t - lo!) <= Math.abs(t - hi!) ? "lo" : "hi";
      this.onPick(value, which);
    });
  }

  private toAxis(v: number): number {
    return this.log ? (v > 0 ? Math.log10(v) : this.range[0]) : v;
  }

  show(counts: Uint32Array, range: [number, number], log: boolean, limits: [number, number]): void {
    this.counts = counts;
    this.range = range;
    this.log = log;
    this.setLimits(limits);
  }

  setLimits(limits: [number, number]): void {
    this.limits = limits;
    this.draw();
  }

  private draw(): void {
    const ctx = this.canvas.getContext("2d");
    if (!ctx) return;
    const { width: w, height: h } = this.canvas;
    ctx.clearRect(0, 0, w, h);
    const style = getComputedStyle(this.el);
    const fg = style.getPropertyValue("--jp-ui-font-color2").trim() || "#757575";
    const accent = style.getPropertyValue("--jp-brand-color1").trim() || "#1976d2";
    const n = this.counts.length;
    let max = 0;
    for (const c of this.counts) max = Math.max(max, c);
    if (n > 0 && max > 0) {
      ctx.fillStyle = fg;
      const bw = w / n;
      // Square-root heights: a few bright voxels stay visible beside the bulk.
      for (let i = 0; i < n; i++) {
        const bh = Math.sqrt(this.counts[i]! / max) * (h - 2);
        ctx.fillRect(i * bw, h - bh, Math.max(1, bw - 0.5), bh);
      }
    }
    const [r0, r1] = this.range;
    const span = r1 > r0 ? r1 - r0 : 1;
    ctx.strokeStyle = accent;
    ctx.lineWidth = 2;
    for (const v of this.limits) {
      const x = ((this.toAxis(v) - r0) / span) * w;
      ctx.beginPath();
      ctx.moveTo(Math.min(w - 1, Math.max(1, x)), 0);
      ctx.lineTo(Math.min(w - 1, Math.max(1, x)), h);
      ctx.stroke();
    }
    const label = (t: number) => numText(this.log ? 10 ** t : t, 4);
    this.lowText.textContent = label(r0);
    this.highText.textContent = label(r1);
  }
}
