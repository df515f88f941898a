/**
 * FftExplorer, kernel side: the 4D FFT explorer of the super-resolution workflow's step 2,
 * over the cache file's bigFT (complex128 [sy, sx, crop_dy, crop_dx] = numpy.fft.fft2 of the
 * cropped datacube over the scan axes; see src/superres/cache.ts). Four linked panels:
 *
 *   overview      mean |bigFT| over the detector pixels of the virtual-detector mask, per
 *                 scan frequency [sy, sx], fftshifted (zero frequency at row sy/2, column sx/2)
 *   detector      |bigFT| at the selected scan frequency, per crop pixel [crop_dy, crop_dx]
 *                 ("sub-selection": where the view picks the detector pixel and draws the mask)
 *   amplitude     |bigFT| of the selected detector pixel [sy, sx], fftshifted
 *   phase         arg(bigFT) of that pixel (radians, -pi..pi), fftshifted
 *
 * Only complete blocks count (their completion stamps match the file's parameters): values of
 * pending blocks are NaN, and the overview averages the masked pixels of complete blocks only.
 * The scan frequency is [qy, qx], indices into bigFT's axes 0 and 1 (0 = zero frequency; the
 * panels show index ifftshift(r) at display row r); the detector pixel is [ky, kx] in the crop.
 *
 * Memory. When 8 bytes per bigFT element fit `memoryBudget` (default 512 MiB), the model keeps
 * float32 |bigFT| and phase of every complete block in memory, pixel-major ([pixel][scan
 * frequency], so one pixel's plane is contiguous), filled block by block as blocks complete;
 * the overview is a running sum over the masked pixels, updated by the pixels a mask change
 * adds or removes. Otherwise ("file" mode) every panel is read from the file per request, and
 * a mask change reads the blocks holding the pixels it adds or removes.
 *
 * The cache is opened read-only on a store thread (SuperResCacheReader, never for writing);
 * while step 2 still writes, the model polls refresh() and pushes the panels new blocks change.
 * Its display carries a static PNG of the four panels for notebooks read without a kernel.
 *
 * Messages (custom, view -> kernel):
 *   {type: "select", id, scan_frequency?, detector_pixel?, mask?: "all" | "clear" | "buffer"}
 *     (mask "buffer": buffers[0] is the mask, uint8 [crop_dy * crop_dx]); the model applies
 *     the selection to its state and answers with the panels it changed;
 *   {type: "panels", id, panels?: [names]}: the current panels (default all four);
 *   {type: "proceed", id}: run the proceed action (below).
 * (kernel -> view):
 *   {type: "panels", id, sequence, blocks_done, scan_frequency, detector_pixel, mask_count,
 *    panels: [{name, rows, cols, shifted, pending, averaged?}]} with one float32 buffer per
 *    panel (row-major, NaN = pending); pushed with id "live" when new blocks complete and with
 *    id "kernel" when a cell changes the selection;
 *   {type: "proceed", id, status, message}; {type: "error", id, message}.
 */
import path from "node:path";
import {
  array,
  encodePng,
  superres,
  viewer,
  type BlockGrid,
  type CacheMeta,
  type SuperResCacheReader,
} from "@stagelab/core";
import { type MimeBundle } from "../format.js";
import { FileView, errorText, followState, type FollowState } from "./file-view.js";
import { composeGrid, fitScale } from "./compose.js";
import { WIDGETS_MODULE, WIDGETS_VERSION } from "./h5view.js";

type ColormapName = viewer.ColormapName;
const PANELS = ["overview", "detector", "amplitude", "phase"] as const;
export type PanelName = (typeof PANELS)[number];
const DEFAULT_BUDGET = 512 * 1024 * 1024;

/** What the proceed action hands on to step 3. */
export interface FftSelection {
  /** [qy, qx]: indices into bigFT's scan-frequency axes (0 = zero frequency). */
  scanFrequency: [number, number];
  /** [ky, kx]: the detector pixel, in crop coordinates. */
  detectorPixel: [number, number];
  /** The virtual-detector mask, uint8 [crop_dy * crop_dx] row-major (1 = in the mask). */
  mask: Uint8Array;
}

/** A mask as cells give it: per-pixel values (non-zero = in), or everything / nothing. */
export type MaskInput = ArrayLike<number | boolean> | "all" | "clear";

export interface FftExplorerOptions {
  /** Start at this scan frequency [qy, qx] (negative = from the end; default [0, 0]). */
  scanFrequency?: [number, number];
  /** Start at this detector pixel [ky, kx] (default the crop's centre, step 3's reference). */
  detectorPixel?: [number, number];
  /** Initial virtual-detector mask (default "all": every crop pixel). */
  mask?: MaskInput;
  /** Colormap of the magnitude panels (the phase uses the cyclic "twilight"). */
  colormap?: ColormapName;
  /** Log colour scale for the magnitude panels (default true). */
  log?: boolean;
  /** Poll interval while following a cache step 2 still writes (ms, default 500). */
  pollMs?: number;
  /** Follow new blocks (default: while the cache is being written). */
  follow?: boolean;
  /** Bytes the in-memory |bigFT| and phase may take (default 512 MiB; 0 = always read the file). */
  memoryBudget?: number;
  /**
   * Called with the selection when the user presses "Proceed" (or a cell calls proceed()).
   * May return a promise; its error is shown in the view as text. A string result is shown too.
   */
  onProceed?: (selection: FftSelection) => unknown;
  /**
   * Allow proceeding while bigFT blocks are still missing (default false: step 3 needs all of
   * them, so the button waits for step 2 to finish).
   */
  proceedIncomplete?: boolean;
}

export interface FftCacheInfo extends Record<string, unknown> {
  /** Scan shape [sy, sx] and crop shape [crop_dy, crop_dx]. */
  scan: [number, number];
  crop: [number, number];
  crop_bounds: [number, number, number, number];
  block_shape: [number, number];
  blocks_total: number;
  bf_center: [number, number];
  bf_radius: number;
  /** File-controlled text (shown as text). */
  linked_file: string;
  dataset: string;
  computation_date: string;
  version: string;
  /** "memory": |bigFT| and phase of complete blocks are held in memory; "file": read per request. */
  mode: "memory" | "file";
}

interface FftExplorerState extends FollowState {
  file: string;
  info: FftCacheInfo;
  scan_frequency: [number, number];
  detector_pixel: [number, number];
  mask: Uint8Array;
  mask_count: number;
  blocks_done: number;
  blocks_total: number;
  colormap: ColormapName;
  log: boolean;
  /** Bumped whenever complete blocks change what the panels show. */
  sequence: number;
  file_state: string;
  proceed_status: "" | "running" | "done" | "error";
  proceed_message: string;
  proceed_count: number;
  /** Proceeding is allowed before every block is complete. */
  proceed_incomplete: boolean;
}

/** One panel as the view receives it. */
export interface PanelData {
  name: PanelName;
  rows: number;
  cols: number;
  /** fftshifted: display row r shows scan-frequency index ifftshift(r). */
  shifted: boolean;
  /** Row-major values, NaN where pending. */
  values: Float32Array;
  /** How many values are NaN (pending). */
  pending: number;
  /** Overview only: how many masked pixels of complete blocks it averages. */
  averaged?: number;
}

type Panels = Record<PanelName, PanelData>;

interface SelectionPatch {
  scanFrequency?: unknown;
  detectorPixel?: unknown;
  mask?: unknown;
}

/**
 * sum += sign * (the planes [S] of `pixels` in the pixel-major `planes`), four planes per pass
 * over `sum` (the full-mask case streams every plane: keep the sum's traffic low).
 */
function addPlanes(
  sum: Float64Array,
  planes: Float32Array,
  S: number,
  pixels: readonly number[],
  sign: number,
): void {
  let i = 0;
  for (; i + 4 <= pixels.length; i += 4) {
    const [a, b, c, d] = [
      pixels[i]! * S,
      pixels[i + 1]! * S,
      pixels[i + 2]! * S,
      pixels[i + 3]! * S,
    ];
    for (let s = 0; s < S; s++)
      sum[s]! += sign * (planes[a + s]! + planes[b + s]! + planes[c + s]! + planes[d + s]!);
  }
  for (; i < pixels.length; i++) {
    const a = pixels[i]! * S;
    for (let s = 0; s < S; s++) sum[s]! += sign * planes[a + s]!;
  }
}

/** Pixels of the crop (row-major) grouped by the block holding them. */
function byBlock(grid: BlockGrid, pixels: number[]): Map<number, number[]> {
  const cdx = grid.cropShape[1];
  const out = new Map<number, number[]>();
  for (const p of pixels) {
    const b = grid.blockOf(Math.floor(p / cdx), p % cdx);
    let list = out.get(b);
    if (!list) out.set(b, (list = []));
    list.push(p);
  }
  return out;
}

/**
 * |bigFT| and phase of complete blocks, float32, pixel-major: the plane of crop pixel p is
 * [p * S, (p + 1) * S) with S = sy * sx (unshifted scan-frequency order).
 */
class SpectraInMemory {
  readonly amp: Float32Array;
  readonly phase: Float32Array;

  constructor(
    readonly grid: BlockGrid,
    readonly scanSize: number,
  ) {
    const n = grid.cropShape[0] * grid.cropShape[1] * scanSize;
    this.amp = new Float32Array(n);
    this.phase = new Float32Array(n);
  }

  /** Block b's data [sy, sx, h, w] (complex interleaved) into the pixel-major planes. */
  put(b: number, data: Float64Array): void {
    const { y0, x0, h, w } = this.grid.block(b);
    const cdx = this.grid.cropShape[1];
    const S = this.scanSize;
    const hw = h * w;
    for (let j = 0; j < hw; j++) {
      const p = (y0 + Math.floor(j / w)) * cdx + x0 + (j % w);
      const base = p * S;
      for (let s = 0, o = 2 * j; s < S; s++, o += 2 * hw) {
        const re = data[o]!;
        const im = data[o + 1]!;
        this.amp[base + s] = Math.sqrt(re * re + im * im);
        this.phase[base + s] = Math.atan2(im, re);
      }
    }
  }

  plane(which: "amp" | "phase", p: number): Float32Array {
    return this[which].subarray(p * this.scanSize, (p + 1) * this.scanSize);
  }
}

function countNaN(v: Float32Array): number {
  let n = 0;
  for (let i = 0; i < v.length; i++) if (v[i] !== v[i]) n++;
  return n;
}

function pair(v: unknown): [number, number] | undefined {
  if (!Array.isArray(v) && !ArrayBuffer.isView(v)) return undefined;
  const a = Array.from(v as ArrayLike<unknown>, Number);
  return a.length === 2 && a.every(Number.isInteger) ? [a[0]!, a[1]!] : undefined;
}

/**
 * The explorer's data, apart from the widget: which blocks it shows, their |bigFT| and phase
 * (memory mode), the running overview sum over the mask, and the panels. Reads go through the
 * cache reader; `exclusive` serialises them with refreshes.
 */
export class BigFtPanels {
  readonly grid: BlockGrid;
  readonly scan: [number, number];
  readonly crop: [number, number];
  private readonly S: number;
  private readonly npix: number;
  private readonly memory: SpectraInMemory | undefined;
  /** Blocks whose values are shown (memory mode: loaded into memory). */
  private readonly known: Uint8Array;
  /** Overview: the sum of |bigFT| over `summed` pixels (masked pixels of known blocks). */
  private readonly ovSum: Float64Array;
  private readonly summed: Uint8Array;
  private summedCount = 0;
  private maskNow: Uint8Array;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly reader: SuperResCacheReader,
    memory: boolean,
    mask: Uint8Array,
  ) {
    const meta = reader.meta;
    this.grid = reader.grid;
    this.scan = [meta.originalDataShape[0], meta.originalDataShape[1]];
    this.crop = [meta.croppedDataShape[2], meta.croppedDataShape[3]];
    this.S = this.scan[0] * this.scan[1];
    this.npix = this.crop[0] * this.crop[1];
    this.memory = memory ? new SpectraInMemory(this.grid, this.S) : undefined;
    this.known = new Uint8Array(this.grid.total);
    this.ovSum = new Float64Array(this.S);
    this.summed = new Uint8Array(this.npix);
    this.maskNow = mask;
  }

  get mode(): "memory" | "file" {
    return this.memory ? "memory" : "file";
  }

  /** How many blocks are shown. */
  get blocksDone(): number {
    return this.known.reduce((a, b) => a + b, 0);
  }

  /** Run reader work one piece at a time (a refresh must not land between reads). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Memory mode answers from memory at once; file mode reads, one request at a time. */
  private reading<T>(fn: () => Promise<T>): Promise<T> {
    return this.memory ? fn() : this.exclusive(fn);
  }

  /**
   * Take in blocks that completed (and drop blocks that no longer count). Memory mode loads
   * them one by one, each followed at once (synchronously) by its share of the overview sum,
   * so requests answered between two blocks see consistent sums. Whether anything changed.
   */
  async integrate(): Promise<boolean> {
    const done = this.reader.done("bigFT");
    let changed = false;
    let dropped = false;
    for (let b = 0; b < this.grid.total; b++) {
      if (this.known[b] && !done[b]) {
        this.known[b] = 0;
        dropped = changed = true;
      }
    }
    if (dropped) this.resetOverview();
    for (let b = 0; b < this.grid.total; b++) {
      if (!done[b] || this.known[b]) continue;
      if (this.memory) this.memory.put(b, await this.reader.readBlock("bigFT", b));
      this.known[b] = 1;
      changed = true;
      await this.syncOverview();
    }
    return changed;
  }

  /** A new virtual-detector mask (uint8 0/1 per crop pixel): the overview follows. */
  setMask(mask: Uint8Array): Promise<void> {
    this.maskNow = mask;
    return this.reading(() => this.syncOverview());
  }

  private pixelKnown(p: number): boolean {
    const cdx = this.crop[1];
    return this.known[this.grid.blockOf(Math.floor(p / cdx), p % cdx)] === 1;
  }

  private resetOverview(): void {
    this.ovSum.fill(0);
    this.summed.fill(0);
    this.summedCount = 0;
  }

  /**
   * Bring the overview sum to the masked pixels of known blocks: add and subtract the pixels
   * that differ, or start again when more pixels change than would be summed afresh.
   */
  private async syncOverview(): Promise<void> {
    const mask = this.maskNow;
    const add: number[] = [];
    const remove: number[] = [];
    let want = 0;
    for (let p = 0; p < this.npix; p++) {
      const w = mask[p] === 1 && this.pixelKnown(p);
      if (w) want++;
      if (w && !this.summed[p]) add.push(p);
      else if (!w && this.summed[p]) remove.push(p);
    }
    if (add.length + remove.length === 0) return;
    if (add.length + remove.length > want) {
      this.resetOverview();
      add.length = remove.length = 0;
      for (let p = 0; p < this.npix; p++) if (mask[p] === 1 && this.pixelKnown(p)) add.push(p);
    }
    for (const [pixels, sign] of [
      [remove, -1],
      [add, 1],
    ] as const) {
      if (this.memory) addPlanes(this.ovSum, this.memory.amp, this.S, pixels, sign);
      else {
        const sum = this.ovSum;
        await this.amplitudes(pixels, (_p, amp) => {
          for (let s = 0; s < sum.length; s++) sum[s]! += sign * amp[s]!;
        });
      }
      for (const p of pixels) this.summed[p] = sign > 0 ? 1 : 0;
      this.summedCount += sign * pixels.length;
    }
  }

  /** Each pixel's |bigFT| plane [S] (unshifted); pixels of known blocks only. */
  private async amplitudes(
    pixels: number[],
    fn: (p: number, amp: Float32Array) => void,
  ): Promise<void> {
    if (pixels.length === 0) return;
    if (this.memory) {
      for (const p of pixels) fn(p, this.memory.plane("amp", p));
      return;
    }
    const cdx = this.crop[1];
    const plane = new Float32Array(this.S);
    for (const [b, list] of byBlock(this.grid, pixels)) {
      const data = await this.reader.readBlock("bigFT", b);
      const { y0, x0, w, h } = this.grid.block(b);
      const hw = h * w;
      for (const p of list) {
        const j = (Math.floor(p / cdx) - y0) * w + (p % cdx) - x0;
        for (let s = 0, o = 2 * j; s < this.S; s++, o += 2 * hw)
          plane[s] = Math.hypot(data[o]!, data[o + 1]!);
        fn(p, plane);
      }
    }
  }

  /** Panels at scan frequency q = [qy, qx] and detector pixel k = [ky, kx]. */
  panels(
    names: readonly PanelName[],
    q: [number, number],
    k: [number, number],
  ): Promise<PanelData[]> {
    return this.reading(async () => {
      const out: PanelData[] = [];
      for (const name of PANELS) if (names.includes(name)) out.push(await this.panel(name, q, k));
      return out;
    });
  }

  private async panel(
    name: PanelName,
    [qy, qx]: [number, number],
    [ky, kx]: [number, number],
  ): Promise<PanelData> {
    const [sy, sx] = this.scan;
    const [cdy, cdx] = this.crop;
    const S = this.S;
    const shifted = (values: Float32Array): Float32Array => array.fftshift2(values, sy, sx);
    let values: Float32Array;
    let averaged: number | undefined;
    if (name === "overview") {
      const mean = new Float32Array(S);
      const n = this.summedCount;
      for (let s = 0; s < S; s++) mean[s] = n > 0 ? this.ovSum[s]! / n : NaN;
      values = shifted(mean);
      averaged = n;
    } else if (name === "detector") {
      const s = qy * sx + qx;
      values = new Float32Array(this.npix).fill(NaN);
      if (this.memory) {
        for (let p = 0; p < this.npix; p++)
          if (this.pixelKnown(p)) values[p] = this.memory.amp[p * S + s]!;
      } else {
        const { data, valid } = await this.reader.readScanPlane("bigFT", qy, qx);
        for (let p = 0; p < this.npix; p++)
          if (valid[p] && this.pixelKnown(p))
            values[p] = Math.hypot(data[2 * p]!, data[2 * p + 1]!);
      }
    } else {
      const p = ky * cdx + kx;
      let plane: Float32Array | undefined;
      if (this.pixelKnown(p)) {
        if (this.memory) plane = this.memory.plane(name === "amplitude" ? "amp" : "phase", p);
        else {
          const z = await this.reader.readDetectorPixel("bigFT", ky, kx);
          if (z) {
            plane = new Float32Array(S);
            for (let s = 0; s < S; s++)
              plane[s] =
                name === "amplitude"
                  ? Math.hypot(z[2 * s]!, z[2 * s + 1]!)
                  : Math.atan2(z[2 * s + 1]!, z[2 * s]!);
          }
        }
      }
      values = plane ? shifted(plane) : new Float32Array(S).fill(NaN);
    }
    const isScan = name !== "detector";
    return {
      name,
      rows: isScan ? sy : cdy,
      cols: isScan ? sx : cdx,
      shifted: isScan,
      values,
      pending: countNaN(values),
      ...(averaged !== undefined ? { averaged } : {}),
    };
  }
}

export class FftExplorer extends FileView<FftExplorerState, SuperResCacheReader> {
  /** Resolves with the selection when the proceed action first succeeds (never rejects). */
  readonly proceeded: Promise<FftSelection>;
  private resolveProceeded!: (s: FftSelection) => void;
  /** Set once a view has asked for panels: from then on changes are pushed. */
  private viewsAsked = false;

  private constructor(
    reader: SuperResCacheReader,
    private readonly data: BigFtPanels,
    state: FftExplorerState,
    private readonly onProceed: FftExplorerOptions["onProceed"],
  ) {
    super(
      reader,
      {
        modelName: "FftExplorerModel",
        modelModule: WIDGETS_MODULE,
        viewName: "FftExplorerView",
        viewModule: WIDGETS_MODULE,
      },
      state,
    );
    this.proceeded = new Promise((resolve) => (this.resolveProceeded = resolve));
    this.onCustom(
      (content, buffers) => void this.onRequest(content as Record<string, unknown>, buffers),
    );
  }

  /** Open a cache and build the explorer (use `await fftExplorer(file)` in a cell). */
  static async open(file: string, opts: FftExplorerOptions = {}): Promise<FftExplorer> {
    const reader = await superres.SuperResCacheReader.open(file, { worker: true });
    let v: FftExplorer | undefined;
    try {
      const snap = reader.snapshot;
      if (snap.bigFTDeleted)
        throw new superres.CacheNotReadyError(
          file,
          "bigFT was deleted from this cache (deleteBigFT): there is no 4D FFT to explore",
        );
      const meta = reader.meta;
      const [sy, sx] = meta.originalDataShape;
      const crop: [number, number] = [meta.croppedDataShape[2], meta.croppedDataShape[3]];
      const budget = opts.memoryBudget ?? DEFAULT_BUDGET;
      const mask = maskFrom(opts.mask ?? "all", crop[0] * crop[1]);
      // The blocks complete now are loaded before the widget exists: its first state is right.
      const data = new BigFtPanels(reader, sy * sx * crop[0] * crop[1] * 8 <= budget, mask);
      await data.exclusive(() => data.integrate());
      const colormap =
        opts.colormap && viewer.COLORMAPS.includes(opts.colormap) ? opts.colormap : "viridis";
      v = new FftExplorer(
        reader,
        data,
        {
          _model_module_version: WIDGETS_VERSION,
          _view_module_version: WIDGETS_VERSION,
          file,
          info: cacheInfo(meta, reader.grid, data.mode),
          scan_frequency: normFrequency(opts.scanFrequency ?? [0, 0], [sy, sx]),
          detector_pixel: clampPixel(
            opts.detectorPixel ?? [Math.floor(crop[0] / 2), Math.floor(crop[1] / 2)],
            crop,
          ),
          mask,
          mask_count: mask.reduce((a, b) => a + b, 0),
          blocks_done: data.blocksDone,
          blocks_total: reader.grid.total,
          colormap,
          log: opts.log ?? true,
          ...followState(opts, snap.state, 1),
          proceed_status: "",
          proceed_message: "",
          proceed_count: 0,
          proceed_incomplete: opts.proceedIncomplete ?? false,
        },
        opts.onProceed,
      );
      await v.setPreview(
        () => v!.staticPreview(),
        () => v!.describe(),
      );
      return v;
    } catch (e) {
      if (v) v.close();
      else await reader.close();
      throw e;
    }
  }

  override toString(): string {
    return `FftExplorer(${JSON.stringify(this.get("file"))})`;
  }

  /** The current selection (a copy). */
  get selection(): FftSelection {
    return {
      scanFrequency: [...this.get("scan_frequency")],
      detectorPixel: [...this.get("detector_pixel")],
      mask: this.mask,
    };
  }

  /** The virtual-detector mask, uint8 [crop_dy * crop_dx] row-major (a copy). */
  get mask(): Uint8Array {
    return this.get("mask").slice();
  }

  /** How many blocks the explorer shows (complete ones), and how many there are. */
  get blocks(): { done: number; total: number } {
    return { done: this.get("blocks_done"), total: this.get("blocks_total") };
  }

  /** Change the selection from a cell (the views follow). */
  async select(sel: {
    scanFrequency?: [number, number];
    detectorPixel?: [number, number];
    mask?: MaskInput;
  }): Promise<void> {
    const changed = await this.applySelection(sel);
    if (this.viewsAsked && changed.length) await this.sendPanels("kernel", changed);
  }

  /** The four panels as the view receives them (for scripts and tests). */
  async panels(): Promise<Panels> {
    const out = {} as Panels;
    for (const p of await this.computePanels(PANELS)) out[p.name] = p;
    return out;
  }

  /**
   * Run the proceed action as the button does: calls `onProceed(selection)`, shows its outcome
   * in the view and resolves `proceeded` on success. Rejects with the callback's error, or
   * when blocks are still missing (unless `proceedIncomplete`).
   */
  async proceed(): Promise<FftSelection> {
    if (this.get("proceed_status") === "running")
      throw new Error("the proceed action is already running");
    const { done, total } = this.blocks;
    if (done < total && !this.get("proceed_incomplete")) {
      const e = new superres.CacheNotReadyError(
        this.get("file"),
        `step 2 has not finished: ${done} of ${total} bigFT blocks are complete (proceed when all are, or open the explorer with proceedIncomplete: true)`,
      );
      this.set({ proceed_status: "error", proceed_message: errorText(e) });
      throw e;
    }
    const selection = this.selection;
    this.set({
      proceed_status: "running",
      proceed_message: "",
      proceed_count: this.get("proceed_count") + 1,
    });
    try {
      const result: unknown = await this.onProceed?.(selection);
      this.set({
        proceed_status: "done",
        proceed_message: typeof result === "string" ? result : "",
      });
      this.resolveProceeded(selection);
      return selection;
    } catch (e) {
      this.set({ proceed_status: "error", proceed_message: errorText(e) });
      throw e;
    }
  }

  private computePanels(names: readonly PanelName[]): Promise<PanelData[]> {
    return this.data.panels(names, this.get("scan_frequency"), this.get("detector_pixel"));
  }

  private async sendPanels(id: string, names: PanelName[]): Promise<void> {
    if (this.comm.isClosed) return;
    const panels = await this.computePanels(names);
    if (this.comm.isClosed) return;
    this.sendCustom(
      {
        type: "panels",
        id,
        sequence: this.get("sequence"),
        blocks_done: this.get("blocks_done"),
        scan_frequency: this.get("scan_frequency"),
        detector_pixel: this.get("detector_pixel"),
        mask_count: this.get("mask_count"),
        panels: panels.map(({ values: _values, ...meta }) => meta),
      },
      panels.map((p) => p.values),
    );
  }

  // ---- selection ---------------------------------------------------------------------------

  /** Apply a (partial) selection; returns the panels it changed. Throws on bad input. */
  private async applySelection(sel: SelectionPatch): Promise<PanelName[]> {
    const { scan, crop } = this.data;
    const changed: PanelName[] = [];
    const patch: Partial<FftExplorerState> = {};
    if (sel.scanFrequency !== undefined) {
      const q = pair(sel.scanFrequency);
      if (!q)
        throw new RangeError(
          `the scan frequency is two integers [qy, qx], got ${JSON.stringify(sel.scanFrequency)}`,
        );
      const n = normFrequency(q, scan);
      if (n.join() !== this.get("scan_frequency").join()) {
        patch.scan_frequency = n;
        changed.push("detector");
      }
    }
    if (sel.detectorPixel !== undefined) {
      const k = pair(sel.detectorPixel);
      if (!k)
        throw new RangeError(
          `the detector pixel is two integers [ky, kx], got ${JSON.stringify(sel.detectorPixel)}`,
        );
      const c = clampPixel(k, crop);
      if (c.join() !== this.get("detector_pixel").join()) {
        patch.detector_pixel = c;
        changed.push("amplitude", "phase");
      }
    }
    let mask: Uint8Array | undefined;
    if (sel.mask !== undefined) {
      const m = maskFrom(sel.mask as MaskInput, crop[0] * crop[1]);
      const old = this.get("mask");
      if (m.some((v, i) => v !== old[i])) {
        mask = patch.mask = m;
        patch.mask_count = m.reduce((a, b) => a + b, 0);
        changed.push("overview");
      }
    }
    this.set(patch);
    if (mask) await this.data.setMask(mask);
    return changed;
  }

  /** Selection changes a view publishes as plain state updates go the same way as requests. */
  protected override fromView(patch: Record<string, unknown>): Partial<FftExplorerState> {
    const { scan_frequency, detector_pixel, mask, ...rest } = patch;
    if (scan_frequency !== undefined || detector_pixel !== undefined || mask !== undefined) {
      const sel: SelectionPatch = {};
      if (scan_frequency !== undefined) sel.scanFrequency = scan_frequency;
      if (detector_pixel !== undefined) sel.detectorPixel = detector_pixel;
      if (mask !== undefined) sel.mask = mask;
      void this.applyAndPush("state", sel);
    }
    return rest as Partial<FftExplorerState>;
  }

  private async applyAndPush(id: string, sel: SelectionPatch): Promise<void> {
    try {
      const changed = await this.applySelection(sel);
      if (changed.length || id !== "state") await this.sendPanels(id, changed);
    } catch (e) {
      this.sendError(id, e);
    }
  }

  private async onRequest(c: Record<string, unknown>, buffers: Uint8Array[]): Promise<void> {
    const id = String(c.id ?? "");
    this.viewsAsked = true;
    try {
      if (c.type === "select") {
        const sel: SelectionPatch = {};
        if (c.scan_frequency !== undefined) sel.scanFrequency = c.scan_frequency;
        if (c.detector_pixel !== undefined) sel.detectorPixel = c.detector_pixel;
        if (c.mask === "all" || c.mask === "clear") sel.mask = c.mask;
        else if (c.mask === "buffer") {
          if (!buffers[0]) throw new RangeError("a mask update needs the mask as its buffer");
          sel.mask = buffers[0];
        }
        await this.applyAndPush(id, sel);
      } else if (c.type === "panels") {
        const names = Array.isArray(c.panels)
          ? PANELS.filter((n) => (c.panels as unknown[]).includes(n))
          : [...PANELS];
        await this.sendPanels(id, names);
      } else if (c.type === "proceed") {
        await this.proceed().catch(() => undefined);
        this.sendCustom({
          type: "proceed",
          id,
          status: this.get("proceed_status"),
          message: this.get("proceed_message"),
        });
      }
    } catch (e) {
      this.sendError(id, e);
    }
  }

  // ---- following ---------------------------------------------------------------------------

  protected async pollOnce(): Promise<void> {
    const data = this.data;
    const fresh = await data.exclusive(() => this.reader.refresh());
    if (!fresh) return;
    const snap = this.reader.snapshot;
    this.set({ file_state: snap.state, error: "" });
    if (await data.exclusive(() => data.integrate())) {
      this.set({ blocks_done: data.blocksDone, sequence: this.get("sequence") + 1 });
      if (this.viewsAsked) await this.sendPanels("live", [...PANELS]);
    }
    if (snap.state === "complete") this.set({ following: false });
  }

  // ---- static preview ----------------------------------------------------------------------

  private describe(): string {
    const i = this.get("info");
    const [qy, qx] = this.get("scan_frequency");
    const [ky, kx] = this.get("detector_pixel");
    return [
      `FftExplorer ${path.basename(this.get("file"))}: bigFT complex128 [${[...i.scan, ...i.crop].join(" x ")}] (scan frequencies x crop pixels), ${this.get("blocks_done")} of ${this.get("blocks_total")} blocks complete`,
      `crop [${i.crop_bounds.join(", ")}] of ${i.dataset || "the datacube"} in ${i.linked_file}`,
      `panels: FFT overview (mean |bigFT| over ${this.get("mask_count")} masked pixels) | sub-selection (|bigFT| at scan frequency [${qy}, ${qx}])`,
      `        amplitude | phase of detector pixel [${ky}, ${kx}] (overview, amplitude and phase fftshifted)`,
    ].join("\n");
  }

  /** A PNG of the four panels (2 x 2) at the initial selection, and a text summary. */
  private async staticPreview(): Promise<MimeBundle> {
    const bundle: MimeBundle = { "text/plain": this.describe() };
    const p = await this.panels();
    const log = this.get("log");
    const colormap = this.get("colormap");
    const colour = (d: PanelData) => {
      if (d.name === "phase")
        return viewer.applyColormap(d.values, { colormap: "twilight", lo: -Math.PI, hi: Math.PI });
      let [lo, hi] = viewer.percentileLimits(d.values, 1, 99, { log });
      if (!(hi - lo > 1e-5 * Math.abs(hi))) [lo, hi] = log ? [hi / 10, hi] : [hi - 1, hi];
      if (viewer.DIVERGING.has(colormap) && !log) {
        const m = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
        [lo, hi] = [-m, m];
      }
      return viewer.applyColormap(d.values, { colormap, lo, hi, log });
    };
    const cell = (d: PanelData) => ({
      rgba: colour(d),
      cols: d.cols,
      rows: d.rows,
      scale: fitScale(d.cols, d.rows, 200),
    });
    const png = composeGrid([
      [cell(p.overview), cell(p.detector)],
      [cell(p.amplitude), cell(p.phase)],
    ]);
    bundle["image/png"] = encodePng(png.rgba, png.width, png.height).toString("base64");
    return bundle;
  }

  protected override closeReader(): Promise<void> {
    return this.data.exclusive(() => this.reader.close()).catch(() => undefined);
  }
}

function cacheInfo(meta: CacheMeta, grid: BlockGrid, mode: "memory" | "file"): FftCacheInfo {
  const p = meta.parameters;
  return {
    scan: [meta.originalDataShape[0], meta.originalDataShape[1]],
    crop: [meta.croppedDataShape[2], meta.croppedDataShape[3]],
    crop_bounds: [...p.cropBounds],
    block_shape: [...grid.blockShape],
    blocks_total: grid.total,
    bf_center: [...p.bfCenter],
    bf_radius: p.bfRadius,
    linked_file: meta.linkedEmdPath,
    dataset: meta.datacube?.dataset ?? "",
    computation_date: meta.computationDate,
    version: meta.version,
    mode,
  };
}

/** [qy, qx] as bigFT indices: negative indices count from the end (numpy's convention). */
function normFrequency(q: readonly number[], scan: readonly [number, number]): [number, number] {
  return [0, 1].map((a) => {
    const n = scan[a]!;
    const v = Math.round(Number(q[a] ?? 0));
    return ((v % n) + n) % n;
  }) as [number, number];
}

function clampPixel(k: readonly number[], crop: readonly [number, number]): [number, number] {
  return [0, 1].map((a) => Math.min(crop[a]! - 1, Math.max(0, Math.round(Number(k[a] ?? 0))))) as [
    number,
    number,
  ];
}

/** A mask as uint8 0/1 of `n` pixels. */
function maskFrom(m: MaskInput, n: number): Uint8Array {
  if (m === "all") return new Uint8Array(n).fill(1);
  if (m === "clear") return new Uint8Array(n);
  if (typeof m !== "object" || m === null || typeof (m as ArrayLike<unknown>).length !== "number")
    throw new TypeError(`a mask is "all", "clear" or ${n} values (non-zero = in the mask)`);
  if (m.length !== n)
    throw new RangeError(`the mask needs ${n} values (crop_dy * crop_dx), got ${m.length}`);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = m[i] ? 1 : 0;
  return out;
}

/**
 * The 4D FFT explorer over a super-resolution cache's bigFT: `await fftExplorer(cacheFile)`.
 * Follows the cache while step 2 still writes it; `explorer.proceeded` resolves with the
 * selection once the user presses "Proceed" (and `onProceed`, if given, succeeded).
 */
export function fftExplorer(
  cacheFile: string,
  opts: FftExplorerOptions = {},
): Promise<FftExplorer> {
  return FftExplorer.open(cacheFile, opts);
}
