/**
 * FftExplorer's pure helpers (no DOM): what the kernel's panels mean (fftshifted scan
 * frequencies), numpy's signed frequencies, and the mask shapes drawn on the sub-selection
 * plane. See kernel/src/viewers/fftexplorer.ts for the messages.
 */

export type PanelName = "overview" | "detector" | "amplitude" | "phase";
export const PANEL_NAMES: readonly PanelName[] = ["overview", "detector", "amplitude", "phase"];

/** One panel of a kernel "panels" message, its buffer decoded. */
export interface Panel {
  name: PanelName;
  rows: number;
  cols: number;
  /** fftshifted: display row r shows index unshift(r). */
  shifted: boolean;
  pending: number;
  averaged?: number;
  values: Float32Array;
  /** From the message: what the panel was computed for. */
  sequence: number;
  scanFrequency: [number, number];
  detectorPixel: [number, number];
  maskCount: number;
}

/** The bigFT index shown at display position `d` of an fftshifted axis of length n. */
export function unshift(d: number, n: number): number {
  return (((d - Math.floor(n / 2)) % n) + n) % n;
}

/** The display position of bigFT index `i` on an fftshifted axis of length n. */
export function shift(i: number, n: number): number {
  return (((i + Math.floor(n / 2)) % n) + n) % n;
}

/** numpy.fft.fftfreq's integer frequency of index i on an axis of length n (i, or i - n). */
export function signedFrequency(i: number, n: number): number {
  return i < Math.ceil(n / 2) ? i : i - n;
}

export type MaskTool = "rectangle" | "circle" | "toggle";

/**
 * The pixels [rows x cols] a drag from `a` to `b` ([column, row]) covers: the rectangle with
 * those corners, or the circle centred at `a` through `b`.
 */
export function shapeMask(
  tool: "rectangle" | "circle",
  a: [number, number],
  b: [number, number],
  rows: number,
  cols: number,
): Uint8Array {
  const out = new Uint8Array(rows * cols);
  if (tool === "rectangle") {
    const [c0, c1] = [Math.min(a[0], b[0]), Math.max(a[0], b[0])];
    const [r0, r1] = [Math.min(a[1], b[1]), Math.max(a[1], b[1])];
    for (let r = Math.max(0, r0); r <= Math.min(rows - 1, r1); r++)
      for (let c = Math.max(0, c0); c <= Math.min(cols - 1, c1); c++) out[r * cols + c] = 1;
    return out;
  }
  const rad = Math.hypot(b[0] - a[0], b[1] - a[1]) + 0.5;
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) if (Math.hypot(c - a[0], r - a[1]) <= rad) out[r * cols + c] = 1;
  return out;
}

/** `mask` with `shape` added (or taken away). */
export function combineMask(mask: Uint8Array, shape: Uint8Array, subtract: boolean): Uint8Array {
  const out = mask.slice();
  for (let i = 0; i < out.length; i++) if (shape[i]) out[i] = subtract ? 0 : 1;
  return out;
}

export function countMask(mask: Uint8Array): number {
  let n = 0;
  for (const v of mask) n += v ? 1 : 0;
  return n;
}
