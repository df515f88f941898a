/**
 * The five super-resolution steps as cell-callable stages over the cache file: each reports
 * progress, stops at an AbortSignal between blocks (what it finished stays valid), and
 * continues where a previous session (or a killed process) left off.
 *
 *   const s = await SuperResSession.open("scan.emd");   // finds a usable cache, or none
 *   await s.detect();       // 1: bright-field disk and crop; creates the cache
 *   await s.computeBigFT(); // 2: bigFT into the cache, block by block
 *   await s.correlate();    // 3: correlations with the smoothed reference image
 *   s.findShifts();         // 4: shift and quality maps, aberration fit
 *   await s.reconstruct();  // 5: super-resolved image, standard BF; a results run in the main file
 *
 * Memory. Steps 2 and 5 read the datacube in bands of detector rows (every scan position);
 * blocks are transformed in worker threads while the main thread reads and writes. Step 2
 * reads one block row at a time (in the stored number type; the workers widen it) and keeps
 * every worker busy when the crop fits the budget ("memory" mode), otherwise as many blocks
 * in flight as the budget allows ("streaming" mode). Results do not depend on the mode, the block order or the
 * number of workers: every block is computed by the same pure function.
 *
 * Resume. `open` takes the newest cache of the main file that holds this datacube (its
 * fingerprint) and whose step-3+ parameters are compatible (changed ones invalidate only the
 * steps they feed); its step-1 results (disk, crop) are adopted. Blocks stamped complete are
 * never recomputed. `fresh: true` ignores existing caches.
 */
import os from "node:os";
import path from "node:path";
import fs from "node:fs";
import { StoreWriter } from "../store/index.js";
import type { AberrationFit } from "./aberrations.js";
import { bandImages, fitShiftMaps, Reconstruction, shiftsOfBlock } from "./blocks.js";
import {
  BlockGrid,
  cacheTimestamp,
  deleteBigFT,
  listCaches,
  planResume,
  SuperResCache,
  type DatacubeIdentity,
  type ResumePlan,
  type SuperResParameters,
} from "./cache.js";
import { CacheMissingError, CacheStepError } from "./cache-errors.js";
import { ComputePool } from "./compute-pool.js";
import { InFlight } from "../parallel/in-flight.js";
import { gaussianFilter } from "./correlate.js";
import { cropBounds, detectBrightField, type BrightFieldDisk, type CropBounds } from "./disk.js";
import { requireInteger, SuperResError } from "./errors.js";
import { Datacube, type PixelArray } from "./input.js";
import { listSuperResRuns, writeSuperResRun } from "./results.js";

export interface SuperResSessionOptions {
  /** Dataset in an HDF5 main file (default: the only or first EMD datacube). */
  dataset?: string;
  /** Step 1: crop margin beyond the disk radius, detector px. Default 2. */
  cropMarginPx?: number;
  /** Step 3: Gaussian sigma of the reference image, scan px. Default 0.5. */
  referenceSmoothing?: number;
  /** Step 3: reference pixel in the crop; default its centre (crop shape // 2). */
  referencePixel?: [number, number];
  /** Step 4: pixels below this quality are left out of the fit. Default 0.1. */
  qualityThreshold?: number;
  /** Step 4: only crop pixels within this distance of the disk centre, detector px. Default: the disk radius. */
  detectorRadius?: number;
  /** Step 4: the 180-degree convention of the fit. Default +1. */
  defocusSign?: 1 | -1;
  /** Step 5: upsampling factor. Default 4. */
  upscaleFactor?: number;
  /** Bytes the stages may hold at once. Default min(2 GiB, half the machine's memory). */
  memoryBudgetBytes?: number;
  /** Worker threads for steps 2-3. Default os.availableParallelism(). */
  workers?: number;
  /** Detector block shape [by, bx] of a new cache (default chosen for the explorer's reads). */
  blockShape?: [number, number];
  /** Ignore existing caches: start a new one. */
  fresh?: boolean;
  /** An HDF5 main file in the pre-1.10 format must be upgraded (copied once) to take results. */
  upgradeFormat?: boolean;
}

export interface StepRunOptions {
  /** Blocks done (including those a previous run finished) of the step's total. */
  onProgress?: (done: number, total: number) => void;
  /** Stops between blocks; finished blocks stay in the cache. */
  signal?: AbortSignal;
}

export interface StepReport {
  step: 1 | 2 | 3 | 4 | 5;
  /** False when the signal stopped it (run it again to continue). */
  complete: boolean;
  /** Blocks complete now / in all. */
  blocksDone: number;
  blocksTotal: number;
  /** Blocks this call computed (the rest were complete already). */
  blocksComputed: number;
  /** "memory": the crop was read whole, "streaming": in bands (steps 2 and 5). */
  mode?: "memory" | "streaming";
  seconds: number;
}

export interface DetectResult {
  disk: BrightFieldDisk;
  bounds: CropBounds;
  /** [detY, detX] mean diffraction pattern (undefined when adopted from a cache). */
  meanDiffraction?: Float64Array;
  /** True when step 1 came from an existing cache. */
  fromCache: boolean;
}

export interface ShiftMaps {
  /** [cropY * cropX], scan px relative to the reference image. */
  shiftYPx: Float64Array;
  shiftXPx: Float64Array;
  quality: Float64Array;
  fit: AberrationFit;
}

export interface ReconstructResult {
  /** [scanY * factor, scanX * factor] and its sample weight. */
  superRes: Float64Array;
  superResWeight: Float64Array;
  /** [scanY, scanX]. */
  standardBf: Float64Array;
  referenceImage: Float64Array;
  factor: number;
  pixelsReconstructed: number;
  /** The file and group the run was saved to. */
  resultsFile: string;
  group: string;
}

/** What a block step's work gets: the blocks to do, the pool, and where results go. */
interface BlockRun {
  pending: number[];
  pool: ComputePool;
  /** Hand over the outputs of `blocks` (in order) once `work` resolves; waits for a free place. */
  submit: (blocks: number[], work: Promise<Float64Array[]>) => Promise<void>;
  /** The signal fired: stop submitting. */
  stopped: () => boolean;
  signal: AbortSignal | undefined;
}

/** Bytes per element the block math holds per block in flight (input, split complex, output, HDF5 copy). */
const BYTES_PER_BLOCK_ELEMENT = 56;
/** Largest single read from the datacube (h5wasm's heap is 2 GiB). */
const MAX_READ_BYTES = 128 * 1024 * 1024;

function defaultBudget(): number {
  return Math.min(2 * 1024 ** 3, os.totalmem() / 2);
}

function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

/** Where results go: the main file, or for a .npy input an HDF5 file beside it. */
export function resultsFileFor(mainFile: string, kind: Datacube["kind"]): string {
  if (kind !== "npy") return mainFile;
  const dir = path.dirname(mainFile);
  return path.join(dir, `${path.basename(mainFile, ".npy")}_superres_results.h5`);
}

export class SuperResSession {
  private disk?: BrightFieldDisk;
  private bounds?: CropBounds;
  private cacheFile?: string;
  private step = 0;
  private running: Promise<unknown> = Promise.resolve();
  private maps?: ShiftMaps;
  private referenceImg?: Float64Array;
  private readonly budget: number;
  private readonly workers: number;

  private constructor(
    readonly datacube: Datacube,
    readonly identity: DatacubeIdentity,
    private readonly options: SuperResSessionOptions,
    /** What `open` found: the cache it continues, or why it starts fresh. */
    readonly resumePlan: ResumePlan,
  ) {
    this.budget = options.memoryBudgetBytes ?? defaultBudget();
    this.workers = options.workers ?? os.availableParallelism();
    if (!(this.budget > 0))
      throw new SuperResError("memoryBudgetBytes", `must be > 0, got ${this.budget}`);
    requireInteger("workers", this.workers, 1);
  }

  /** Open a main file's datacube and find a cache to continue (see the module comment). */
  static async open(file: string, options: SuperResSessionOptions = {}): Promise<SuperResSession> {
    const datacube = await Datacube.open(file, options.dataset ? { dataset: options.dataset } : {});
    try {
      const identity: DatacubeIdentity = {
        file,
        dataset: datacube.dataset,
        shape: datacube.shape,
        dtype: datacube.dtype,
        fingerprint: datacube.fingerprint(),
      };
      let plan: ResumePlan = { action: "fresh", reasons: ["fresh: true was asked for"] };
      let adopted: SuperResParameters | undefined;
      if (!options.fresh) {
        // Step 1's results come from the newest cache of this very datacube; planResume then
        // judges the later parameters against it.
        const passed: string[] = [];
        for (const l of await listCaches(file)) {
          const meta = l.snapshot?.meta;
          if (l.status === "ok" && meta?.datacube?.fingerprint === identity.fingerprint) {
            const { cropBounds: cb, bfCenter, bfRadius } = meta.parameters;
            adopted = { cropBounds: cb, bfCenter, bfRadius, referenceSmoothing: 0 };
            break;
          }
          // Damaged, truncated or foreign caches are passed over (never deleted), with why.
          passed.push(l.message ?? `${l.path}: holds another datacube`);
        }
        plan = adopted
          ? await planResume({ datacube: identity, parameters: withLater(adopted, options) })
          : {
              action: "fresh",
              reasons: passed.length ? passed : ["no cache of this datacube beside the main file"],
            };
      }
      const s = new SuperResSession(datacube, identity, options, plan);
      if (plan.action === "resume" && adopted) {
        s.cacheFile = plan.cache;
        s.step = plan.stepCompleted;
        const [y0, y1, x0, x1] = adopted.cropBounds;
        s.bounds = { y0, y1, x0, x1 };
        s.disk = {
          centerYPx: adopted.bfCenter[0],
          centerXPx: adopted.bfCenter[1],
          radiusPx: adopted.bfRadius,
        };
      }
      return s;
    } catch (e) {
      datacube.close();
      throw e;
    }
  }

  /** The last completed step (0 before detect). */
  get stepCompleted(): number {
    return this.step;
  }

  /** The cache file (after step 1). */
  get cache(): string | undefined {
    return this.cacheFile;
  }

  get brightField(): { disk: BrightFieldDisk; bounds: CropBounds } | undefined {
    return this.disk && this.bounds ? { disk: this.disk, bounds: this.bounds } : undefined;
  }

  /** Step 4's maps and fit, once found. */
  get shifts(): ShiftMaps | undefined {
    return this.maps;
  }

  /** The parameters of the cache (step 1's results and the options). */
  get parameters(): SuperResParameters {
    const { disk, bounds } = this.requireDetected();
    return withLater(
      {
        cropBounds: [bounds.y0, bounds.y1, bounds.x0, bounds.x1],
        bfCenter: [disk.centerYPx, disk.centerXPx],
        bfRadius: disk.radiusPx,
        referenceSmoothing: 0,
      },
      this.options,
    );
  }

  private requireDetected(): { disk: BrightFieldDisk; bounds: CropBounds } {
    if (!this.disk || !this.bounds)
      throw new CacheStepError(this.identity.file, "run detect() (step 1) first");
    return { disk: this.disk, bounds: this.bounds };
  }

  private requireStep(step: number, what: string): void {
    if (this.step < step)
      throw new CacheStepError(
        this.cacheFile ?? this.identity.file,
        `${what} needs step ${step} (step ${this.step} is the last completed)`,
      );
  }

  private cropShape(): [number, number] {
    const { bounds } = this.requireDetected();
    return [bounds.y1 - bounds.y0, bounds.x1 - bounds.x0];
  }

  private async openCache(): Promise<SuperResCache> {
    const file = this.cacheFile!;
    if (!fs.existsSync(file)) {
      // Deleted while the session ran: what it held is gone, so the run starts over.
      this.step = 0;
      this.cacheFile = undefined;
      this.maps = undefined;
      throw new CacheMissingError(
        file,
        "the cache file was deleted; the session starts fresh: run detect() (step 1) again",
      );
    }
    return SuperResCache.open(file, { datacube: this.identity, parameters: this.parameters });
  }

  /**
   * Step 1: the mean diffraction pattern (read in bands of scan rows), the bright-field disk
   * and the crop; creates the cache. Adopted from the cache when `open` found one (pass
   * `again: true` to detect anyway, which starts a new cache).
   */
  detect(opts: StepRunOptions & { again?: boolean } = {}): Promise<DetectResult> {
    return this.serial(() => this.detectNow(opts));
  }

  private async detectNow(opts: StepRunOptions & { again?: boolean }): Promise<DetectResult> {
    if (this.step >= 1 && !opts.again) {
      const { disk, bounds } = this.requireDetected();
      return { disk, bounds, fromCache: true };
    }
    const [sy, sx, dy, dx] = this.datacube.shape;
    const frameBytes = sx * dy * dx * 8;
    const rows = Math.max(
      1,
      Math.floor(Math.min(this.budget / 8, MAX_READ_BYTES / 4) / frameBytes),
    );
    const sum = new Float64Array(dy * dx);
    for (let y = 0; y < sy; y += rows) {
      if (aborted(opts.signal)) throw new SuperResError("signal", "step 1 was stopped");
      const n = Math.min(rows, sy - y);
      // Summed in the file's own type (no float64 copy of the band).
      const band = this.datacube.readBlock([y, 0, 0, 0], [n, sx, dy, dx]).data;
      if (band instanceof BigInt64Array || band instanceof BigUint64Array) {
        for (let o = 0; o < band.length; o += dy * dx)
          for (let d = 0; d < dy * dx; d++) sum[d]! += Number(band[o + d]!);
      } else {
        for (let o = 0; o < band.length; o += dy * dx)
          for (let d = 0; d < dy * dx; d++) sum[d]! += band[o + d]!;
      }
      opts.onProgress?.(y + n, sy);
      await yieldToEventLoop();
    }
    const mean = sum.map((v) => v / (sy * sx));
    const disk = detectBrightField(mean, dy, dx);
    const bounds = cropBounds(disk, dy, dx, this.options.cropMarginPx ?? 2);
    this.disk = disk;
    this.bounds = bounds;
    this.maps = undefined;
    this.referenceImg = undefined;
    const cache = await SuperResCache.create({
      datacube: this.identity,
      parameters: this.parameters,
      ...(this.options.blockShape ? { blockShape: this.options.blockShape } : {}),
    });
    cache.close();
    this.cacheFile = cache.path;
    this.step = 1;
    return { disk, bounds, meanDiffraction: mean, fromCache: false };
  }

  /**
   * Step 2 reads the crop one block row at a time, so the workers start on the first row
   * while the main thread reads the next; beside that row, as many blocks may be in flight as
   * the budget holds. "memory": the whole crop would fit in half the budget (then only the
   * number of workers limits the blocks in flight); "streaming": it would not.
   */
  private bandPlan(grid: BlockGrid): {
    inFlight: number;
    blocksPerTask: number;
    mode: "memory" | "streaming";
  } {
    const [sy, sx] = this.datacube.scanShape;
    const [by, bx] = grid.blockShape;
    const blockRowBytes = sy * sx * by * grid.cropShape[1] * 8;
    const blockBytes = sy * sx * by * bx * BYTES_PER_BLOCK_ELEMENT;
    const left = this.budget - blockRowBytes;
    const inFlight = Math.max(1, Math.min(this.workers, Math.floor(left / blockBytes)));
    const blocksPerTask = Math.max(1, Math.floor(left / inFlight / blockBytes));
    return {
      inFlight,
      blocksPerTask,
      mode: grid.counts[0] * blockRowBytes <= this.budget / 2 ? "memory" : "streaming",
    };
  }

  /**
   * Crop rows [r0, r0 + h) at every scan position: [sy, sx, h, cropX] in the stored number
   * type, in reads of bounded size.
   */
  private async readCropBand(
    r0: number,
    h: number,
    signal?: AbortSignal,
  ): Promise<PixelArray | undefined> {
    const { bounds } = this.requireDetected();
    const [sy, sx] = this.datacube.scanShape;
    const cropX = bounds.x1 - bounds.x0;
    const rowBytes = sx * h * cropX * 8;
    const step = Math.max(1, Math.floor(MAX_READ_BYTES / rowBytes));
    let out: PixelArray | undefined;
    for (let y = 0; y < sy; y += step) {
      if (aborted(signal)) return undefined;
      const n = Math.min(step, sy - y);
      const part = this.datacube.readDetectorPixels(bounds.y0 + r0, bounds.x0, h, cropX, y, n);
      if (n === sy) return part;
      out ??= new (part.constructor as new (n: number) => PixelArray)(sy * sx * h * cropX);
      out.set(part, y * sx * h * cropX);
      await yieldToEventLoop();
    }
    return out;
  }

  /**
   * Step 2: bigFT = fft2 over the scan axes of the cropped datacube, into the cache, block by
   * block (see the module comment for memory and parallelism). The explorer can follow it.
   */
  computeBigFT(opts: StepRunOptions = {}): Promise<StepReport> {
    return this.serial(() => this.computeBigFTNow(opts));
  }

  private async computeBigFTNow(opts: StepRunOptions): Promise<StepReport> {
    this.requireStep(1, "computeBigFT");
    let mode: StepReport["mode"];
    const report = await this.blockStep(2, opts, (cache) => {
      const plan = this.bandPlan(cache.grid);
      mode = plan.mode;
      return { inFlight: plan.inFlight, run: (run) => this.bigFTBands(cache.grid, plan, run) };
    });
    return { ...report, ...(mode ? { mode } : {}) };
  }

  /** Step 2's work: the crop read in bands, each band's pending blocks transformed in the pool. */
  private async bigFTBands(
    grid: BlockGrid,
    plan: ReturnType<SuperResSession["bandPlan"]>,
    { pending, pool, submit, stopped, signal }: BlockRun,
  ): Promise<void> {
    const [sy, sx] = this.datacube.scanShape;
    const cropX = grid.cropShape[1];
    const todo = new Set(pending);
    for (let row = 0; row < grid.counts[0]; row++) {
      const blocks: number[] = [];
      for (let c = 0; c < grid.counts[1]; c++) {
        const b = row * grid.counts[1] + c;
        if (todo.has(b)) blocks.push(b);
      }
      if (!blocks.length) continue;
      const r0 = row * grid.blockShape[0];
      const h = Math.min(grid.blockShape[0], grid.cropShape[0] - r0);
      const band = await this.readCropBand(r0, h, signal);
      if (!band) return;
      for (const piece of taskPieces(grid, blocks, this.workers, plan.blocksPerTask)) {
        if (stopped()) return;
        // One worker call transforms the box of several neighbouring blocks of a block row
        // (fewer, larger calls); each block is then written on its own, with its stamp.
        const first = grid.block(piece[0]!);
        const last = grid.block(piece.at(-1)!);
        const width = last.x0 + last.w - first.x0;
        const data = gatherBlock(band, sy * sx, h, cropX, first.y0 - r0, first.x0, first.h, width);
        await submit(
          piece,
          pool.bigFT(
            data,
            sy,
            sx,
            first.h,
            width,
            piece.map((b) => {
              const blk = grid.block(b);
              return { x0: blk.x0 - first.x0, w: blk.w };
            }),
          ),
        );
      }
    }
  }

  /**
   * Steps 2 and 3: open the cache, run `plan`'s work over the pending blocks with `inFlight`
   * worker calls at once, write each block (with its stamp) as it arrives, and record the step
   * when every block is complete. On an error the blocks in flight finish, and what was
   * written stays (the writer is released without marking the file complete).
   */
  private async blockStep(
    step: 2 | 3,
    opts: StepRunOptions,
    plan: (cache: SuperResCache) => { inFlight: number; run: (run: BlockRun) => Promise<void> },
  ): Promise<StepReport> {
    const t0 = performance.now();
    const which = step === 2 ? "bigFT" : "correlations";
    const cache = await this.openCache();
    const pending = cache.pendingBlocks(which);
    const total = cache.grid.total;
    let done = total - pending.length;
    let computed = 0;
    opts.onProgress?.(done, total);
    const { inFlight, run } = plan(cache);
    const flight = new InFlight(inFlight);
    const pool = pending.length
      ? new ComputePool(Math.min(this.workers, pending.length))
      : undefined;
    try {
      if (pool)
        await run({
          pending,
          pool,
          stopped: () => aborted(opts.signal),
          signal: opts.signal,
          submit: (blocks, work) =>
            flight.add(
              work.then((outs) =>
                blocks.forEach((b, i) => {
                  cache.writeBlock(which, b, outs[i]!);
                  computed++;
                  done++;
                  opts.onProgress?.(done, total);
                }),
              ),
            ),
        });
      await flight.drain();
      if (done === total) {
        cache.completeStep(step);
        this.step = Math.max(this.step, step);
      }
      cache.close();
    } catch (e) {
      await flight.settle();
      cache.abandon();
      throw e;
    } finally {
      await pool?.close();
    }
    return {
      step,
      complete: done === total,
      blocksDone: done,
      blocksTotal: total,
      blocksComputed: computed,
      seconds: (performance.now() - t0) / 1000,
    };
  }

  /** Step 3's reference image: the reference pixel's virtual image, Gaussian-smoothed. */
  referenceImage(): Float64Array {
    if (!this.referenceImg) {
      const { bounds } = this.requireDetected();
      const p = this.parameters;
      const [wy, wx] = p.referencePixel ?? [
        (bounds.y1 - bounds.y0) >> 1,
        (bounds.x1 - bounds.x0) >> 1,
      ];
      const [sy, sx] = this.datacube.scanShape;
      const image = this.datacube.readDetectorBlock(bounds.y0 + wy, bounds.x0 + wx, 1, 1);
      this.referenceImg = gaussianFilter(image, sy, sx, p.referenceSmoothing);
    }
    return this.referenceImg;
  }

  /** Step 3: correlations of every cached bigFT block with the reference image, into the cache. */
  correlate(opts: StepRunOptions = {}): Promise<StepReport> {
    return this.serial(() => this.correlateNow(opts));
  }

  private async correlateNow(opts: StepRunOptions): Promise<StepReport> {
    this.requireStep(2, "correlate");
    const reference = this.referenceImage();
    const [sy, sx] = this.datacube.scanShape;
    const normalization = this.parameters.normalization ?? true;
    return this.blockStep(3, opts, (cache) => {
      const [by, bx] = cache.grid.blockShape;
      const perBlock = sy * sx * by * bx * BYTES_PER_BLOCK_ELEMENT;
      return {
        inFlight: Math.max(1, Math.min(this.workers, Math.floor(this.budget / perBlock))),
        run: async ({ pending, pool, submit, stopped }) => {
          for (const b of pending) {
            if (stopped()) return;
            const blk = cache.grid.block(b);
            const spectra = cache.readBlock("bigFT", b);
            await submit(
              [b],
              pool
                .correlations(spectra, sy, sx, blk.h * blk.w, reference, normalization)
                .then((out) => [out]),
            );
          }
        },
      };
    });
  }

  /** Step 4: shift and quality maps from the cached correlations, and the aberration fit. */
  findShifts(opts: StepRunOptions = {}): Promise<ShiftMaps> {
    return this.serial(() => this.findShiftsNow(opts));
  }

  private async findShiftsNow(opts: StepRunOptions): Promise<ShiftMaps> {
    this.requireStep(3, "findShifts");
    const { disk, bounds } = this.requireDetected();
    const cache = await this.openCache();
    try {
      const grid = cache.grid;
      const [sy, sx] = this.datacube.scanShape;
      const cropX = grid.cropShape[1];
      const n = grid.cropShape[0] * cropX;
      const shiftYPx = new Float64Array(n);
      const shiftXPx = new Float64Array(n);
      const quality = new Float64Array(n);
      for (let b = 0; b < grid.total; b++) {
        if (aborted(opts.signal)) throw new SuperResError("signal", "step 4 was stopped");
        const blk = grid.block(b);
        const found = shiftsOfBlock(cache.readBlock("correlations", b), sy, sx, blk.h * blk.w);
        for (let i = 0; i < blk.h; i++)
          for (let j = 0; j < blk.w; j++) {
            const c = (blk.y0 + i) * cropX + blk.x0 + j;
            shiftYPx[c] = found.shiftYPx[i * blk.w + j]!;
            shiftXPx[c] = found.shiftXPx[i * blk.w + j]!;
            quality[c] = found.quality[i * blk.w + j]!;
          }
        opts.onProgress?.(b + 1, grid.total);
        await yieldToEventLoop();
      }
      const p = this.parameters;
      const fit = fitShiftMaps(bounds, disk, shiftYPx, shiftXPx, quality, {
        qualityThreshold: p.qualityThreshold!,
        detectorRadiusPx: p.detectorRadius!,
        defocusSign: this.options.defocusSign ?? 1,
      });
      cache.completeStep(4, {
        detectorRadius: p.detectorRadius!,
        qualityThreshold: p.qualityThreshold!,
      });
      cache.close();
      this.step = Math.max(this.step, 4);
      this.maps = { shiftYPx, shiftXPx, quality, fit };
      return this.maps;
    } catch (e) {
      cache.abandon();
      throw e;
    }
  }

  /**
   * Step 5: shift-and-add of the pixels the fit used, the standard BF and the reference
   * image, saved as a results run (`/superres_results/run_<timestamp>/`) in the main file.
   */
  reconstruct(opts: StepRunOptions = {}): Promise<ReconstructResult> {
    return this.serial(() => this.reconstructNow(opts));
  }

  private async reconstructNow(opts: StepRunOptions): Promise<ReconstructResult> {
    this.requireStep(3, "reconstruct");
    const maps = this.maps ?? (await this.findShiftsNow({}));
    const { disk, bounds } = this.requireDetected();
    const [sy, sx] = this.datacube.scanShape;
    const [cropY, cropX] = this.cropShape();
    const p = this.parameters;
    const factor = p.upscaleFactor!;
    const recon = new Reconstruction(
      sy,
      sx,
      factor,
      bounds,
      disk,
      maps.shiftYPx,
      maps.shiftXPx,
      maps.fit,
    );
    const rowBytes = sy * sx * cropX * 8;
    const rowsPerBand = Math.max(1, Math.min(cropY, Math.floor(this.budget / 3 / rowBytes)));
    for (let r0 = 0; r0 < cropY; r0 += rowsPerBand) {
      const h = Math.min(rowsPerBand, cropY - r0);
      const need = recon.needed(Int32Array.from({ length: h * cropX }, (_, i) => r0 * cropX + i));
      if (need.length) {
        const band = await this.readCropBand(r0, h, opts.signal);
        if (!band) throw new SuperResError("signal", "step 5 was stopped");
        recon.add(need, bandImages(band, sy, sx, h, cropX, r0, need));
      }
      opts.onProgress?.(r0 + h, cropY);
    }
    const { superRes, superResWeight } = recon.result();
    const referenceImage = this.referenceImage();
    const resultsFile = resultsFileFor(this.identity.file, this.datacube.kind);
    if (!fs.existsSync(resultsFile)) (await StoreWriter.create(resultsFile)).close();
    const group = await writeSuperResRun(
      resultsFile,
      {
        timestamp: await freeTimestamp(resultsFile),
        bfCenter: [disk.centerYPx, disk.centerXPx],
        bfRadius: disk.radiusPx,
        cropBounds: [bounds.y0, bounds.y1, bounds.x0, bounds.x1],
        upscaleFactor: factor,
        referenceSmoothing: p.referenceSmoothing,
        detectorRadius: p.detectorRadius!,
        qualityThreshold: p.qualityThreshold!,
        cacheFile: this.cacheFile!,
        shiftY: maps.shiftYPx,
        shiftX: maps.shiftXPx,
        quality: maps.quality,
        scanShape: [sy, sx],
        superresImage: superRes,
        standardBf: recon.standardBf,
        referenceImage,
      },
      this.options.upgradeFormat ? { upgradeFormat: true } : {},
    );
    const cache = await this.openCache();
    try {
      cache.completeStep(5, { upscaleFactor: factor });
      cache.close();
    } catch (e) {
      cache.abandon();
      throw e;
    }
    this.step = 5;
    return {
      superRes,
      superResWeight,
      standardBf: recon.standardBf,
      referenceImage,
      factor,
      pixelsReconstructed: recon.pixelsReconstructed,
      resultsFile,
      group,
    };
  }

  /** Delete bigFT from the cache (after step 3) to reclaim its space. */
  deleteBigFT(): Promise<{ bytesBefore: number; bytesAfter: number }> {
    return this.serial(async () => {
      this.requireStep(3, "deleteBigFT");
      return deleteBigFT(this.cacheFile!);
    });
  }

  /**
   * Steps run one at a time: a call made while another step runs (a widget's Proceed button
   * and a cell, say) waits for it, then finds its blocks complete.
   */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.running.then(fn);
    this.running = run.catch(() => undefined);
    return run;
  }

  /** Close the datacube (the cache is closed after every step). */
  close(): void {
    this.datacube.close();
  }
}

/** The parameters a cache records, step 1's from `first`, the rest from the options. */
function withLater(first: SuperResParameters, o: SuperResSessionOptions): SuperResParameters {
  return {
    cropBounds: first.cropBounds,
    bfCenter: first.bfCenter,
    bfRadius: first.bfRadius,
    referenceSmoothing: o.referenceSmoothing ?? 0.5,
    ...(o.referencePixel ? { referencePixel: o.referencePixel } : {}),
    normalization: true,
    detectorRadius: o.detectorRadius ?? first.bfRadius,
    qualityThreshold: o.qualityThreshold ?? 0.1,
    upscaleFactor: o.upscaleFactor ?? 4,
  };
}

/**
 * The pending blocks of a band as worker tasks: runs of neighbouring blocks in one block row,
 * cut so the row's work spreads over the workers and no task holds more than `maxBlocks`.
 */
function taskPieces(
  grid: BlockGrid,
  blocks: number[],
  workers: number,
  maxBlocks: number,
): number[][] {
  const runs: number[][] = [];
  for (const b of blocks) {
    const run = runs.at(-1);
    if (run && run.at(-1) === b - 1 && grid.block(b).iy === grid.block(run[0]!).iy) run.push(b);
    else runs.push([b]);
  }
  const pieces: number[][] = [];
  for (const run of runs) {
    const size = Math.max(1, Math.min(maxBlocks, Math.ceil(run.length / workers)));
    for (let i = 0; i < run.length; i += size) pieces.push(run.slice(i, i + size));
  }
  return pieces;
}

/** Block [y, y + h) x [x, x + w) of a band [n, bandH, bandW] as a fresh [n, h, w] array. */
function gatherBlock(
  band: PixelArray,
  n: number,
  bandH: number,
  bandW: number,
  y: number,
  x: number,
  h: number,
  w: number,
): PixelArray {
  const out = new (band.constructor as new (n: number) => PixelArray)(n * h * w);
  // Runs are a few pixels long: an index loop beats a subarray per run several times over.
  let o = 0;
  for (let s = 0; s < n; s++)
    for (let i = 0; i < h; i++) {
      const from = (s * bandH + y + i) * bandW + x;
      for (let j = 0; j < w; j++) out[o++] = band[from + j]!;
    }
  return out;
}

/** A results-group timestamp not taken yet in the file (now, or the next free second). */
async function freeTimestamp(file: string): Promise<string> {
  const taken = new Set((await listSuperResRuns(file)).map((r) => r.timestamp));
  let t = Date.now();
  while (taken.has(cacheTimestamp(new Date(t)))) t += 1000;
  return cacheTimestamp(new Date(t));
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
