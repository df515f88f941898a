/**
 * One plane of VoxelView: the colour image on a canvas (nearest neighbour, square voxels,
 * the larger index up), a crosshair overlay at the linked position, tick labels in fractional
 * hkl (text nodes), and the pointer: hover reports the voxel under it, a click moves the
 * other planes there.
 */
import {
  AXIS_NAMES,
  PLANE_AXES,
  fracText,
  pixelIndex,
  pixelOf,
  ticks,
  type Axis,
  type Plane,
  type Vec3,
} from "./geometry.js";
import { RasterCanvas, arrowStep } from "../shared/raster.js";

/** Largest side of a plane on screen (CSS px), unless the view sets it (setBox). */
const BOX = 260;

export interface PlaneEvents {
  /** The pointer is over pixel (c, r) of the plane (null: it left). */
  hover(plane: Plane | undefined, c: number, r: number): void;
  /** A click on the voxel with these sub-Miller indices. */
  pick(n: Vec3): void;
}

export class PlanePanel {
  readonly el = document.createElement("div");
  private readonly raster = new RasterCanvas(
    { stack: "sl-vx-stack", image: "sl-vx-image", overlay: "sl-vx-crosshair" },
    BOX,
  );
  readonly canvas = this.raster.canvas;
  private readonly title = document.createElement("div");
  private readonly xTicks = document.createElement("div");
  private readonly yTicks = document.createElement("div");
  plane: Plane | undefined;
  private position: Vec3 = [0, 0, 0];
  private ndiv: Vec3 = [1, 1, 1];

  constructor(
    readonly fixed: Axis,
    private readonly events: PlaneEvents,
  ) {
    const [xa, ya] = PLANE_AXES[fixed];
    const name = `${AXIS_NAMES[xa]}${AXIS_NAMES[ya]}`;
    this.el.className = "sl-vx-plane";
    this.el.dataset.plane = name;
    this.title.className = "sl-vx-plane-title";
    this.canvas.setAttribute("role", "img");
    this.canvas.tabIndex = 0;
    this.canvas.dataset.fixed = String(fixed);
    this.raster.onDraw = () => {
      const p = this.plane;
      if (!p || this.raster.cols !== p.x.count || this.raster.rows !== p.y.count) return;
      this.drawTicks(this.canvas.width, this.canvas.height);
      this.drawCrosshair();
    };
    this.xTicks.className = "sl-vx-xticks";
    this.yTicks.className = "sl-vx-yticks";
    const xLabel = document.createElement("div");
    xLabel.className = "sl-vx-xlabel";
    xLabel.textContent = AXIS_NAMES[xa];
    const yLabel = document.createElement("div");
    yLabel.className = "sl-vx-ylabel";
    yLabel.textContent = AXIS_NAMES[ya];
    const plot = document.createElement("div");
    plot.className = "sl-vx-plot";
    const corner = () => document.createElement("div");
    plot.append(
      yLabel,
      this.yTicks,
      this.raster.stack,
      corner(),
      corner(),
      this.xTicks,
      corner(),
      corner(),
      xLabel,
    );
    this.el.append(this.title, plot);
    this.canvas.addEventListener("mousemove", this.onMove);
    this.canvas.addEventListener("mouseleave", () => this.events.hover(undefined, 0, 0));
    this.canvas.addEventListener("click", this.onClick);
    this.canvas.addEventListener("keydown", this.onKey);
  }

  /** New plane data (colours follow with `paint`). */
  setPlane(p: Plane, ndiv: Vec3): void {
    this.plane = p;
    this.ndiv = ndiv;
    const { x, y } = p;
    const d = this.canvas.dataset;
    d.index = String(p.index);
    d.cols = String(x.count);
    d.rows = String(y.count);
    d.xStart = String(x.start);
    d.xStep = String(x.step);
    d.yStart = String(y.start);
    d.yStep = String(y.step);
    d.sequence = String(p.sequence);
    d.expand = String(p.expand);
    const [xa, ya] = PLANE_AXES[this.fixed];
    const label = `${AXIS_NAMES[xa]}-${AXIS_NAMES[ya]} plane at ${AXIS_NAMES[this.fixed]} = ${fracText(p.index, ndiv[this.fixed])}`;
    this.title.textContent = label;
    this.canvas.setAttribute("aria-label", label);
  }

  /** Draw RGBA pixels of the current plane. */
  paint(rgba: Uint8ClampedArray): void {
    const p = this.plane;
    if (!p || !this.raster.paint(rgba, p.x.count, p.y.count)) return;
    // What the pixels now show (tests wait on it).
    this.canvas.dataset.painted = `${p.index}:${p.expand}:${p.sequence}:${p.x.start}:${p.x.count}`;
  }

  /** The largest side of the plane on screen (CSS px). */
  setBox(px: number): void {
    this.raster.setBox(px);
  }

  private drawTicks(w: number, h: number): void {
    const p = this.plane!;
    const put = (box: HTMLElement, a: typeof p.x, size: number, horizontal: boolean) => {
      box.replaceChildren();
      const last = a.start + (a.count - 1) * a.step;
      const nd = this.ndiv[a.axis];
      for (const t of ticks(a.start, last, nd)) {
        const at = ((pixelOf(a, t * nd) + 0.5) / a.count) * size;
        if (at < 0 || at > size) continue;
        const s = document.createElement("span");
        s.textContent = fracText(Math.round(t * nd * 1e6) / 1e6, nd);
        s.style[horizontal ? "left" : "top"] = `${at}px`;
        box.appendChild(s);
      }
      box.style[horizontal ? "width" : "height"] = `${size}px`;
    };
    put(this.xTicks, p.x, w, true);
    put(this.yTicks, p.y, h, false);
  }

  /** The linked position (draws the crosshair where it crosses this plane). */
  setPosition(pos: Vec3): void {
    this.position = [...pos] as Vec3;
    this.drawCrosshair();
  }

  private drawCrosshair(): void {
    const p = this.plane;
    const ctx = this.raster.clearOverlay();
    if (!p || !ctx || this.raster.cols !== p.x.count || this.raster.rows !== p.y.count) return;
    const { width: w, height: h } = this.raster.overlay;
    const c = Math.round(pixelOf(p.x, this.position[p.x.axis]));
    const r = Math.round(pixelOf(p.y, this.position[p.y.axis]));
    const [px, py] = this.raster.at(c + 0.5, r + 0.5);
    const line = (x0: number, y0: number, x1: number, y1: number) => {
      for (const [style, width] of [
        ["rgba(0, 0, 0, 0.6)", 3],
        ["rgba(255, 255, 255, 0.9)", 1],
      ] as const) {
        ctx.strokeStyle = style;
        ctx.lineWidth = width;
        ctx.beginPath();
        ctx.moveTo(x0, y0);
        ctx.lineTo(x1, y1);
        ctx.stroke();
      }
    };
    if (c >= 0 && c < p.x.count) line(px, 0, px, h);
    if (r >= 0 && r < p.y.count) line(0, py, w, py);
  }

  private cell(e: MouseEvent): [number, number] | undefined {
    const p = this.plane;
    if (!p || this.raster.cols !== p.x.count || this.raster.rows !== p.y.count) return undefined;
    return this.raster.cellAt(e);
  }

  private readonly onMove = (e: MouseEvent): void => {
    const at = this.cell(e);
    if (at) this.events.hover(this.plane, at[0], at[1]);
  };

  private readonly onClick = (e: MouseEvent): void => {
    const at = this.cell(e);
    if (at && this.plane) this.events.pick(pixelIndex(this.plane, at[0], at[1]));
  };

  /** Arrow keys move the crosshair within this plane (one displayed pixel). */
  private readonly onKey = (e: KeyboardEvent): void => {
    const p = this.plane;
    if (!p) return;
    const m = arrowStep(e);
    if (!m) return;
    const c = Math.min(
      p.x.count - 1,
      Math.max(0, Math.round(pixelOf(p.x, this.position[p.x.axis])) + m[0]),
    );
    const r = Math.min(
      p.y.count - 1,
      Math.max(0, Math.round(pixelOf(p.y, this.position[p.y.axis])) + m[1]),
    );
    this.events.hover(p, c, r);
    this.events.pick(pixelIndex(p, c, r));
  };
}
