// A master array: one row window's combined flux and mask, in buffers sized once for the
// largest window (the seed's MasterArrayConfig) and reused row after row. Flux is NaN where no
// cell supplied data or the pixel is invalid (masked bad, or NaN in a band): the normalised
// convolution gives those weight 0. The buffers are SharedArrayBuffers so convolution threads
// read them in place.
import { GeometryError, intersect, type MasterArrayConfig, type Rect } from "./geometry.js";

export class MasterArray {
  /** The window held now, in mosaic px; its pixels are stored row-major with stride `width`. */
  rect: Rect = { y0: 0, y1: 0, x0: 0, x1: 0 };
  private readonly valueBuf: Float32Array;
  private readonly maskBuf: Uint16Array;

  constructor(readonly capacity: MasterArrayConfig) {
    const n = capacity.width * capacity.height;
    this.valueBuf = new Float32Array(new SharedArrayBuffer(n * 4));
    this.maskBuf = new Uint16Array(new SharedArrayBuffer(n * 2));
  }

  get width(): number {
    return this.rect.x1 - this.rect.x0;
  }

  get height(): number {
    return this.rect.y1 - this.rect.y0;
  }

  /** Combined flux (NaN: no data). */
  get value(): Float32Array {
    return this.valueBuf.subarray(0, this.width * this.height);
  }

  /** The supplying cell's combined PS1 mask bits. */
  get mask(): Uint16Array {
    return this.maskBuf.subarray(0, this.width * this.height);
  }

  /** Start window `rect` with no data anywhere. */
  reset(rect: Rect): void {
    const w = rect.x1 - rect.x0;
    const h = rect.y1 - rect.y0;
    if (w > this.capacity.width || h > this.capacity.height)
      throw new GeometryError(
        `window ${h} x ${w} exceeds the master array ${this.capacity.height} x ${this.capacity.width}`,
      );
    this.rect = { ...rect };
    this.value.fill(NaN);
    this.mask.fill(0);
  }

  /** Write a piece (row-major over `rect`, in mosaic px) into the window. */
  place(rect: Rect, value: Float32Array, mask: Uint16Array): void {
    const pw = rect.x1 - rect.x0;
    const ph = rect.y1 - rect.y0;
    if (value.length !== pw * ph || mask.length !== pw * ph)
      throw new GeometryError(`piece arrays do not match its ${ph} x ${pw} rectangle`);
    const inside = intersect(rect, this.rect);
    if (
      !inside ||
      inside.y0 !== rect.y0 ||
      inside.y1 !== rect.y1 ||
      inside.x0 !== rect.x0 ||
      inside.x1 !== rect.x1
    )
      throw new GeometryError(
        `piece ${JSON.stringify(rect)} is not inside the window ${JSON.stringify(this.rect)}`,
      );
    const w = this.width;
    for (let y = 0; y < ph; y++) {
      const to = (rect.y0 - this.rect.y0 + y) * w + (rect.x0 - this.rect.x0);
      this.valueBuf.set(value.subarray(y * pw, (y + 1) * pw), to);
      this.maskBuf.set(mask.subarray(y * pw, (y + 1) * pw), to);
    }
  }

  /** Copy `rect` (inside both windows) from another master array: the carried halo. */
  copyFrom(other: MasterArray, rect: Rect): void {
    const ow = other.width;
    const w = this.width;
    const n = rect.x1 - rect.x0;
    for (let y = rect.y0; y < rect.y1; y++) {
      const from = (y - other.rect.y0) * ow + (rect.x0 - other.rect.x0);
      const to = (y - this.rect.y0) * w + (rect.x0 - this.rect.x0);
      this.valueBuf.set(other.valueBuf.subarray(from, from + n), to);
      this.maskBuf.set(other.maskBuf.subarray(from, from + n), to);
    }
  }
}

/** Rows-major copy of `rect` (inside `window`) out of an array laid out over `window`. */
export function extractRect<T extends Float32Array | Uint16Array>(
  data: T,
  window: Rect,
  rect: Rect,
): T {
  const w = window.x1 - window.x0;
  const n = rect.x1 - rect.x0;
  const out = new (data.constructor as new (len: number) => T)((rect.y1 - rect.y0) * n);
  for (let y = rect.y0; y < rect.y1; y++) {
    const from = (y - window.y0) * w + (rect.x0 - window.x0);
    out.set(data.subarray(from, from + n), (y - rect.y0) * n);
  }
  return out;
}
