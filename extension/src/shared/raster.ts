/**
 * A colour image of cols x rows pixels on a canvas, scaled up nearest-neighbour so that its
 * larger side fills a box, with a transparent overlay canvas on top for markers, and the map
 * from pointer positions back to pixels. Shared by VoxelView's planes and FftExplorer's panels.
 */

/** The view's own classes (besides the shared sl-raster-stack, -image and -overlay). */
export interface RasterClasses {
  /** The wrapper holding the image and the overlay. */
  stack: string;
  image: string;
  overlay: string;
}

export class RasterCanvas {
  readonly stack = document.createElement("div");
  /** The image (what tests read); the overlay lies on top of it. */
  readonly canvas = document.createElement("canvas");
  readonly overlay = document.createElement("canvas");
  private readonly source = document.createElement("canvas");
  cols = 0;
  rows = 0;
  /** Called after each redraw of the image (draw markers on `overlay` there). */
  onDraw: (() => void) | undefined;

  constructor(
    classes: RasterClasses,
    private box = 260,
  ) {
    this.stack.className = `sl-raster-stack ${classes.stack}`;
    this.canvas.className = `sl-raster-image ${classes.image}`;
    this.overlay.className = `sl-raster-overlay ${classes.overlay}`;
    this.overlay.setAttribute("aria-hidden", "true");
    this.stack.append(this.canvas, this.overlay);
  }

  /** New pixels (RGBA, row-major cols x rows); false when the length does not fit. */
  paint(rgba: Uint8ClampedArray, cols: number, rows: number): boolean {
    if (rgba.length !== cols * rows * 4 || cols < 1 || rows < 1) return false;
    this.source.width = cols;
    this.source.height = rows;
    const ctx = this.source.getContext("2d");
    if (!ctx) return false;
    ctx.putImageData(
      new ImageData(
        new Uint8ClampedArray(rgba.buffer as ArrayBuffer, rgba.byteOffset, rgba.length),
        cols,
        rows,
      ),
      0,
      0,
    );
    this.cols = cols;
    this.rows = rows;
    this.draw();
    return true;
  }

  /** The larger side of the image on screen (CSS px). */
  setBox(px: number): void {
    if (Math.abs(px - this.box) < 1) return;
    this.box = px;
    this.draw();
  }

  /** Scale the pixels into the canvases, then `onDraw`. */
  draw(): void {
    if (!this.cols || this.source.width !== this.cols || this.source.height !== this.rows) return;
    const scale = this.box / Math.max(this.cols, this.rows);
    const w = Math.max(1, Math.round(this.cols * scale));
    const h = Math.max(1, Math.round(this.rows * scale));
    for (const c of [this.canvas, this.overlay]) {
      if (c.width !== w) c.width = w;
      if (c.height !== h) c.height = h;
    }
    const ctx = this.canvas.getContext("2d");
    if (!ctx) return;
    ctx.clearRect(0, 0, w, h);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.source, 0, 0, w, h);
    this.onDraw?.();
  }

  /** The overlay's context, cleared (null before the first image). */
  clearOverlay(): CanvasRenderingContext2D | null {
    const ctx = this.overlay.getContext("2d");
    if (!ctx || !this.cols) return null;
    ctx.clearRect(0, 0, this.overlay.width, this.overlay.height);
    return ctx;
  }

  /** Overlay coordinates of a point given in pixel units (c + 0.5 is the centre of column c). */
  at(c: number, r: number): [number, number] {
    return [(c / this.cols) * this.overlay.width, (r / this.rows) * this.overlay.height];
  }

  /**
   * The pixel [column, row] under a pointer position: undefined outside the image, or with
   * `clamp` the nearest pixel of the image (for drags that leave it).
   */
  cellAt(e: { clientX: number; clientY: number }, clamp = false): [number, number] | undefined {
    if (!this.cols) return undefined;
    const rect = this.canvas.getBoundingClientRect();
    if (rect.width <= 0 || rect.height <= 0) return undefined;
    let c = Math.floor(((e.clientX - rect.left) / rect.width) * this.cols);
    let r = Math.floor(((e.clientY - rect.top) / rect.height) * this.rows);
    if (clamp) {
      c = Math.min(this.cols - 1, Math.max(0, c));
      r = Math.min(this.rows - 1, Math.max(0, r));
    }
    if (r < 0 || c < 0 || r >= this.rows || c >= this.cols) return undefined;
    return [c, r];
  }
}

const ARROWS: Record<string, [number, number]> = {
  ArrowLeft: [-1, 0],
  ArrowRight: [1, 0],
  ArrowUp: [0, -1],
  ArrowDown: [0, 1],
};

/** The pixel step [dc, dr] of an arrow key (its default prevented); undefined for other keys. */
export function arrowStep(e: KeyboardEvent): [number, number] | undefined {
  const m = ARROWS[e.key];
  if (m) e.preventDefault();
  return m;
}
