/**
 * The whole diffuse pipeline (plan phases 1 to 4) over a directory of stills in one call,
 * resumable step by step:
 *
 *   masks       static mask (trusted range of the first still, beamstop, regions) AND the
 *               dynamic mask over every still                          -> outDir/masks.h5
 *   extract     Bragg masks, corrected diffuse pixels of every still   -> outDir/pixels.h5
 *   grid        GlobalVoxelGrid from the pixel list and the stills' crystals (ndiv, dMinA)
 *   accumulate  VoxelAccumulator, hdf5 backend: observations, per-voxel statistics and the
 *               live /map a viewer can follow (voxelView)              -> outDir/voxels.h5
 *   scale       relative scaling (diffuse + partiality-corrected Bragg references)
 *   merge       inverse-variance merge, absolute scale with an inventory  -> outDir/merged.h5
 *
 * Every output goes through the store and carries provenance (`stagelab_stage`,
 * `stagelab_parameters`). A step is skipped when its output is complete and was made with
 * the same parameters from the same upstream output (each step's parameters name the
 * upstream file's run: its stage, parameters and creation time). Otherwise it runs again,
 * replacing its output: extraction continues after the last committed still; accumulation
 * starts over (it is a fast pass over the pixel list); scaling and merging run in one go and
 * write their file at the end. An aborted run (AbortSignal) returns `complete: false` with
 * the step it stopped in; calling again with the same arguments continues from there.
 *
 * Errors: bad arguments are DiffuseInputError; a failure inside a step is a
 * DiffusePipelineError naming the step, with the original error as `cause`.
 */
import fs from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import { inspectSameRun, StoreReader, StoreWriter, type JsonValue } from "../store/index.js";
import type { Detector, Vec3 } from "../geometry/models.js";
import { readExperimentList } from "../dials/experiment-list.js";
import { readReflectionTable } from "../dials/reflection-table.js";
import { readStillImage } from "../images/source.js";
import { GlobalVoxelGrid, type Ndiv } from "../voxel/grid.js";
import { VoxelAccumulator, type AccumulationStatistics } from "../voxel/accumulator.js";
import type { ScalingIteration, StillReflections } from "../scaling/index.js";
import type { InventoryInput } from "../scattering/index.js";
import {
  andMasks,
  countUsable,
  dynamicMask,
  staticMask,
  type DynamicMaskOptions,
  type MaskRegion,
  type PixelMask,
} from "./masks.js";
import {
  extractDiffuse,
  findStills,
  type BackgroundSpec,
  type ExtractDiffuseOptions,
  type ExtractDiffuseResult,
  type StillInput,
} from "./extract-stills.js";
import {
  scaleAndMerge,
  storeFingerprint,
  type ScaleMergeOptions,
  type ScaleMergeResult,
} from "./merge-stage.js";
import { DiffuseInputError } from "./errors.js";

const MASK_STAGE = "diffuse.pipeline.masks";
const ACC_STAGE = "diffuse.pipeline.accumulate";

export type DiffusePipelineStep = "masks" | "extract" | "grid" | "accumulate" | "scale" | "merge";

export const DIFFUSE_PIPELINE_STEPS: readonly DiffusePipelineStep[] = [
  "masks",
  "extract",
  "grid",
  "accumulate",
  "scale",
  "merge",
];

/** A failure inside one step of the pipeline; `cause` is the original error. */
export class DiffusePipelineError extends Error {
  readonly step: DiffusePipelineStep;

  constructor(step: DiffusePipelineStep, cause: unknown) {
    super(`diffuse pipeline, step ${step}: ${(cause as Error)?.message ?? String(cause)}`, {
      cause,
    });
    this.name = new.target.name;
    this.step = step;
  }
}

export interface DiffusePipelineOptions {
  // ---- masks
  /** The beamstop's shadow (and holder arm) to mask. */
  beamstop?: { radiusMm: number; armWidthMm?: number; armDirection?: Vec3 };
  /** More regions to mask (rectangles, circles, beamstops), as staticMask takes them. */
  maskRegions?: MaskRegion[];
  /** Thresholds of the dynamic mask over all stills (dynamicMask's defaults); false: none. */
  dynamicMask?: Omit<DynamicMaskOptions, "onProgress" | "signal"> | false;
  // ---- extraction (see extractDiffuse)
  pixelStep?: number;
  /** A background for every still, or one per still index. */
  background?: BackgroundSpec | ((still: number) => BackgroundSpec);
  /** Detector gain (default: each panel's). */
  gain?: number;
  bragg?: ExtractDiffuseOptions["bragg"];
  corrections?: ExtractDiffuseOptions["corrections"];
  intensityMin?: number;
  intensityMax?: number;
  // ---- grid
  /** High-resolution limit (Angstrom) of the extraction and the grid (default: the data's). */
  dMinA?: number;
  dMaxA?: number;
  /** Voxel divisions per reciprocal lattice unit (default 2). */
  ndiv?: Ndiv;
  /** Space group of the ASU mapping (default: the crystals'). */
  spaceGroup?: string | number;
  cellAveraging?: "median" | "mean";
  // ---- accumulation
  /** Refresh the live /map of voxels.h5 at most this often (seconds, default 2). */
  commitIntervalS?: number;
  /** Memory of the sort at finalize (bytes). */
  accumulatorBufferBytes?: number;
  // ---- scaling, merging, absolute scale (see scaleAndMerge)
  /**
   * Scaling options. Defaults here: positionDegree 1 (the radial part of a quadratic a(x, y)
   * is a function of |q| when the beam hits the detector near its centre, which the reference
   * absorbs: a gauge the data cannot decide, which only slows convergence and bends the map
   * with |q|); tolerance 1e-5 and maxIterations 500 (the alternating refinement converges
   * linearly, at about 3% per iteration near the end).
   */
  scaling?: Omit<
    ScaleMergeOptions,
    | "reflections"
    | "inventory"
    | "absoluteMethod"
    | "braggFactor"
    | "gain"
    | "resume"
    | "onIteration"
    | "onProgress"
    | "signal"
  >;
  /** Use the stills' reflection tables as the Bragg reference (default: when every still has one). */
  useBragg?: boolean;
  /** Unit-cell contents: with it the merge adds the absolute scale (needs the Bragg reference). */
  inventory?: InventoryInput;
  absoluteMethod?: ScaleMergeOptions["absoluteMethod"];
  braggFactor?: number;
  // ---- control
  /** Redo every step even when its output is complete. */
  force?: boolean;
  /** Progress within a step (done of total, in the step's own units). */
  onProgress?: (step: DiffusePipelineStep, done: number, total: number) => void;
  /**
   * When a step starts computing, or is found complete (skipped: its output is reused). The
   * extraction reports its start with its first still; scale and merge with their first progress.
   */
  onStep?: (step: DiffusePipelineStep, info: { skipped: boolean; file?: string }) => void;
  /** Every scaling iteration (round 0: observed variances; then predicted). */
  onIteration?: (it: ScalingIteration & { round: number }) => void;
  signal?: AbortSignal;
}

export interface DiffusePipelineFiles {
  masks: string;
  pixels: string;
  voxels: string;
  merged: string;
}

export interface PipelineMaskSummary {
  /** 1 = usable, per panel: the static mask AND the dynamic mask (what the extraction used). */
  pixelMask: PixelMask;
  pixels: number;
  rejectedByStaticMask: number;
  rejectedByDynamicMask: number;
  usable: number;
}

interface PipelineParts {
  outDir: string;
  files: DiffusePipelineFiles;
  stills: number;
  /** What each step did: ran, or skipped (its output was complete). */
  steps: Partial<Record<DiffusePipelineStep, "ran" | "skipped">>;
}

export interface DiffusePipelineComplete extends PipelineParts {
  complete: true;
  masks: PipelineMaskSummary;
  extraction: ExtractDiffuseResult;
  grid: GlobalVoxelGrid;
  accumulation: AccumulationStatistics;
  merge: ScaleMergeResult;
}

export interface DiffusePipelineIncomplete extends PipelineParts {
  complete: false;
  /** The step the signal stopped. */
  stoppedAt: DiffusePipelineStep;
  masks?: PipelineMaskSummary;
  extraction?: ExtractDiffuseResult;
  grid?: GlobalVoxelGrid;
  accumulation?: AccumulationStatistics;
}

export type DiffusePipelineResult = DiffusePipelineComplete | DiffusePipelineIncomplete;

/** JSON of a value, with typed arrays replaced by a digest (masks, background maps). */
function jsonOf(value: unknown): JsonValue {
  return JSON.parse(
    JSON.stringify(value ?? null, (_k, v: unknown) =>
      ArrayBuffer.isView(v)
        ? `sha256:${createHash("sha256")
            .update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength))
            .digest("hex")
            .slice(0, 16)}`
        : v,
    ),
  ) as JsonValue;
}

function panelName(i: number): string {
  return `panel_${String(i).padStart(2, "0")}`;
}

function abortedBy(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

/** The masks step: compute, save through the store, or read back a complete run. */
async function masksStep(
  stills: StillInput[],
  file: string,
  opts: DiffusePipelineOptions,
  skipAllowed: boolean,
): Promise<{ summary: PipelineMaskSummary; skipped: boolean } | undefined> {
  const regions: MaskRegion[] = [
    ...(opts.beamstop ? [{ kind: "beamstop" as const, ...opts.beamstop }] : []),
    ...(opts.maskRegions ?? []),
  ];
  const parameters = jsonOf({
    stills: stills.map((s) => path.basename(s.expt)),
    trustedRangeFrom: path.basename(stills[0]!.expt),
    regions,
    dynamic: opts.dynamicMask === false ? false : (opts.dynamicMask ?? {}),
  });
  const summarize = (stat: PixelMask, dyn: PixelMask | undefined, total: number) => {
    const pixelMask = dyn ? andMasks(stat, dyn) : stat;
    return {
      pixelMask,
      pixels: total,
      rejectedByStaticMask: total - countUsable(stat),
      rejectedByDynamicMask: dyn ? total - countUsable(dyn) : 0,
      usable: countUsable(pixelMask),
    };
  };
  const done =
    skipAllowed &&
    (await inspectSameRun(file, MASK_STAGE, parameters, (r) => r.state === "complete")) === true;
  opts.onStep?.("masks", { skipped: done, file });
  if (done) {
    const r = await StoreReader.open(file);
    try {
      const n = Number(r.attrs("/masks").panels);
      const read = (kind: string) =>
        Array.from(
          { length: n },
          (_, i) => r.read<"uint8">(`/masks/${kind}/${panelName(i)}`).data as Uint8Array,
        );
      const stat = read("static");
      const dyn = opts.dynamicMask === false ? undefined : read("dynamic");
      const total = stat.reduce((s, m) => s + m.length, 0);
      return { summary: summarize(stat, dyn, total), skipped: true };
    } finally {
      r.close();
    }
  }

  const first = (await readExperimentList(stills[0]!.expt))[0];
  if (!first) throw new DiffuseInputError(`${stills[0]!.expt} holds no experiment`);
  const detector: Detector = first.detector;
  const image0 = await readStillImage(first, { baseDir: path.dirname(stills[0]!.expt) });
  const stat = staticMask(detector, {
    trustedRangeFrom: image0.panels,
    regions,
    directionToSource: first.beam.directionToSource,
  });
  let dyn: Awaited<ReturnType<typeof dynamicMask>> | undefined;
  if (opts.dynamicMask !== false) {
    const signal = opts.signal;
    let done = 0;
    async function* images() {
      for (const s of stills) {
        if (signal?.aborted) return;
        const e = (await readExperimentList(s.expt))[0];
        if (!e) throw new DiffuseInputError(`${s.expt} holds no experiment`);
        yield (await readStillImage(e, { baseDir: path.dirname(s.expt) })).panels;
        opts.onProgress?.("masks", ++done, stills.length);
      }
    }
    dyn = await dynamicMask(detector, images(), { ...(opts.dynamicMask ?? {}) });
    if (abortedBy(signal)) return undefined;
  }
  const total = detector.panels.reduce((n, p) => n + p.imageSize[0] * p.imageSize[1], 0);
  const summary = summarize(stat, dyn?.mask, total);

  const w = await StoreWriter.create(file, {
    overwrite: true,
    provenance: { stage: MASK_STAGE, parameters },
  });
  try {
    const writes: (() => void)[] = [];
    const put = (kind: string, masks: (Uint8Array | Uint16Array)[], dtype: "uint8" | "uint16") =>
      detector.panels.forEach((p, i) => {
        const shape = [p.imageSize[1], p.imageSize[0]];
        const ds = w.createDataset(`/masks/${kind}/${panelName(i)}`, {
          dtype,
          shape,
          maxshape: shape,
          chunks: [Math.min(shape[0]!, 256), shape[1]!],
        });
        writes.push(() => ds.write([0, 0], shape, masks[i]! as never));
      });
    put("static", stat, "uint8");
    if (dyn) {
      put("dynamic", dyn.mask, "uint8");
      put("anomalous_count", dyn.anomalousCount, "uint16");
    }
    put("pixel", summary.pixelMask, "uint8");
    w.setAttrs("/masks", {
      panels: detector.panels.length,
      polarity: "1 = usable (dxtbx); arrays [slow, fast] per panel",
      static: "trusted range of the first still, beamstop and regions",
      dynamic: dyn
        ? `anomalous (hot, cold, negative, NaN) on enough of the ${dyn.stills} stills; anomalous_count: on how many`
        : "none",
      pixel: "static AND dynamic: the mask the extraction used",
      stills: stills.length,
    });
    w.commit();
    for (const write of writes) write();
    w.close();
  } catch (e) {
    w.abandon();
    throw e;
  }
  return { summary, skipped: false };
}

/** Highest |q| of the pixel list (for the default grid limit). */
async function maxQ(pixels: string): Promise<number> {
  const r = await StoreReader.open(pixels);
  try {
    const n = r.info("/diffuse/pixels/q_length").shape[0] ?? 0;
    let m = 0;
    for (let a = 0; a < n; a += 1 << 20) {
      const q = r.read<"float64">("/diffuse/pixels/q_length", [[a, Math.min(n, a + (1 << 20))]])
        .data as Float64Array;
      for (let k = 0; k < q.length; k++) if (q[k]! > m) m = q[k]!;
    }
    return m;
  } finally {
    r.close();
  }
}

/** Runs (or resumes) the whole diffuse pipeline on a directory of stills (module doc). */
export async function runDiffusePipeline(
  stillsDir: string,
  outDir: string,
  opts: DiffusePipelineOptions = {},
): Promise<DiffusePipelineResult> {
  const stills = findStills(stillsDir);
  if (stills.length === 0)
    throw new DiffuseInputError(`no stills (.expt files) in ${stillsDir}`, { field: "stillsDir" });
  if (opts.dMinA !== undefined && !(opts.dMinA > 0))
    throw new DiffuseInputError(`must be > 0, got ${opts.dMinA}`, { field: "dMinA" });
  const allRefl = stills.every((s) => s.refl);
  const useBragg = opts.useBragg ?? allRefl;
  if (useBragg && !allRefl)
    throw new DiffuseInputError(`some stills in ${stillsDir} have no .refl file`, {
      field: "useBragg",
    });
  if (opts.inventory !== undefined && !useBragg)
    throw new DiffuseInputError(
      "the absolute scale (inventory) needs the Bragg reference: the stills' .refl files",
      { field: "inventory" },
    );
  fs.mkdirSync(outDir, { recursive: true });
  const files: DiffusePipelineFiles = {
    masks: path.join(outDir, "masks.h5"),
    pixels: path.join(outDir, "pixels.h5"),
    voxels: path.join(outDir, "voxels.h5"),
    merged: path.join(outDir, "merged.h5"),
  };
  const skipAllowed = !opts.force;
  const signal = opts.signal;
  const base: PipelineParts = { outDir, files, stills: stills.length, steps: {} };
  const partial: Omit<DiffusePipelineIncomplete, keyof PipelineParts | "complete" | "stoppedAt"> =
    {};
  const stopped = (step: DiffusePipelineStep): DiffusePipelineIncomplete => ({
    ...base,
    ...partial,
    complete: false,
    stoppedAt: step,
  });
  let step: DiffusePipelineStep = "masks";
  try {
    // 1. Masks.
    if (abortedBy(signal)) return stopped(step);
    const m = await masksStep(stills, files.masks, opts, skipAllowed);
    if (!m) return stopped(step);
    partial.masks = m.summary;
    base.steps.masks = m.skipped ? "skipped" : "ran";

    // 2. Extraction (resumable still by still on its own).
    step = "extract";
    if (abortedBy(signal)) return stopped(step);
    if (!skipAllowed && fs.existsSync(files.pixels)) fs.rmSync(files.pixels);
    let extracting = false;
    const extraction = await extractDiffuse(stills, files.pixels, {
      pixelMask: m.summary.pixelMask,
      overwrite: true,
      ...(opts.pixelStep !== undefined ? { pixelStep: opts.pixelStep } : {}),
      ...(opts.background !== undefined ? { background: opts.background } : {}),
      ...(opts.gain !== undefined ? { gain: opts.gain } : {}),
      ...(opts.bragg !== undefined ? { bragg: opts.bragg } : {}),
      ...(opts.corrections !== undefined ? { corrections: opts.corrections } : {}),
      ...(opts.dMinA !== undefined ? { dMinA: opts.dMinA } : {}),
      ...(opts.dMaxA !== undefined ? { dMaxA: opts.dMaxA } : {}),
      ...(opts.intensityMin !== undefined ? { intensityMin: opts.intensityMin } : {}),
      ...(opts.intensityMax !== undefined ? { intensityMax: opts.intensityMax } : {}),
      onProgress: (done, total) => {
        if (!extracting) {
          extracting = true;
          opts.onStep?.("extract", { skipped: false, file: files.pixels });
        }
        opts.onProgress?.("extract", done, total);
      },
      ...(signal ? { signal } : {}),
    });
    partial.extraction = extraction;
    if (!extraction.complete) return stopped(step);
    base.steps.extract = extraction.resumedFrom === stills.length ? "skipped" : "ran";
    if (base.steps.extract === "skipped")
      opts.onStep?.("extract", { skipped: true, file: files.pixels });

    // 3 + 4. Grid and accumulation (skipped together when voxels.h5 is complete).
    step = "grid";
    if (abortedBy(signal)) return stopped(step);
    const experiments = await Promise.all(
      stills.map(async (s) => {
        const e = (await readExperimentList(s.expt))[0];
        if (!e?.crystal)
          throw new DiffuseInputError(`${s.expt} holds no experiment with a crystal model`);
        return e;
      }),
    );
    const crystals = experiments.map((e) => e.crystal!);
    const accParameters = jsonOf({
      pixels: (await storeFingerprint(files.pixels)) ?? null,
      ndiv: opts.ndiv ?? 2,
      positiveSigmaOnly: true,
      dMinA: opts.dMinA ?? null,
      dMaxA: opts.dMaxA ?? null,
      spaceGroup: opts.spaceGroup ?? null,
      cellAveraging: opts.cellAveraging ?? "median",
    });
    let grid: GlobalVoxelGrid;
    let accumulation: AccumulationStatistics;
    const accDone =
      skipAllowed &&
      (await inspectSameRun(
        files.voxels,
        ACC_STAGE,
        accParameters,
        (r) => r.state === "complete" && r.attrs("/voxels").finalized === true,
      )) === true;
    if (accDone) {
      opts.onStep?.("grid", { skipped: true });
      opts.onStep?.("accumulate", { skipped: true, file: files.voxels });
      const acc = await VoxelAccumulator.open(files.voxels);
      try {
        grid = acc.globalVoxelGrid;
        accumulation = acc.getAccumulationStatistics();
      } finally {
        acc.close();
      }
      base.steps.grid = "skipped";
      base.steps.accumulate = "skipped";
    } else {
      opts.onStep?.("grid", { skipped: false });
      opts.onProgress?.("grid", 0, 1);
      const dMinA = opts.dMinA ?? (1 / (await maxQ(files.pixels))) * (1 - 1e-9);
      grid = await GlobalVoxelGrid.fromPixelList(files.pixels, {
        stillCrystals: crystals,
        ndiv: opts.ndiv ?? 2,
        dMinA,
        ...(opts.dMaxA !== undefined ? { dMaxA: opts.dMaxA } : {}),
        ...(opts.spaceGroup !== undefined ? { spaceGroup: opts.spaceGroup } : {}),
        ...(opts.cellAveraging ? { cellAveraging: opts.cellAveraging } : {}),
        ...(signal ? { signal } : {}),
      });
      opts.onProgress?.("grid", 1, 1);
      partial.grid = grid;
      base.steps.grid = "ran";

      step = "accumulate";
      if (abortedBy(signal)) return stopped(step);
      const acc = await VoxelAccumulator.create(grid, {
        backend: "hdf5",
        storagePath: files.voxels,
        overwrite: true,
        commitIntervalS: opts.commitIntervalS ?? 2,
        ...(opts.accumulatorBufferBytes ? { bufferBytes: opts.accumulatorBufferBytes } : {}),
        provenance: { stage: ACC_STAGE, parameters: accParameters },
      });
      try {
        acc.commit(); // the layout and an empty map: a viewer can open the file now
        opts.onStep?.("accumulate", { skipped: false, file: files.voxels });
        await acc.addObservationsFromPixelList(files.pixels, {
          positiveSigmaOnly: true,
          onProgress: (p) => opts.onProgress?.("accumulate", p.rowsDone, p.rowsTotal),
          ...(signal ? { signal } : {}),
        });
        await acc.finalize();
        accumulation = acc.getAccumulationStatistics();
        acc.close();
      } catch (e) {
        acc.abandon();
        if (abortedBy(signal)) return stopped(step);
        throw e;
      }
      base.steps.accumulate = "ran";
    }
    partial.grid = grid;
    partial.accumulation = accumulation;

    // 5 + 6. Scaling, merge, absolute scale (scaleAndMerge skips a complete identical run).
    step = "scale";
    if (abortedBy(signal)) return stopped(step);
    let reflections: StillReflections[] | undefined;
    if (useBragg) {
      const r = await StoreReader.open(files.pixels);
      const exposure = r.read<"float64">("/diffuse/stills/exposure_s").data as Float64Array;
      r.close();
      reflections = await Promise.all(
        stills.map(async (s, i) => ({
          still: i,
          table: await readReflectionTable(s.refl!),
          exposureS: exposure[i]!,
          experiment: experiments[i]!,
          ...(opts.corrections !== undefined ? { corrections: opts.corrections } : {}),
        })),
      );
    }
    const gain = opts.gain ?? experiments[0]!.detector.panels.map((p) => p.gain);
    // scaleAndMerge reports progress only when it computes (not when it reads a complete run).
    let scaling = false,
      merging = false;
    const merge = await scaleAndMerge(files.pixels, grid, files.merged, {
      positionDegree: 1,
      tolerance: 1e-5,
      maxIterations: 500,
      ...(opts.scaling ?? {}),
      ...(reflections ? { reflections } : {}),
      ...(opts.inventory !== undefined ? { inventory: opts.inventory } : {}),
      ...(opts.absoluteMethod ? { absoluteMethod: opts.absoluteMethod } : {}),
      ...(opts.braggFactor !== undefined ? { braggFactor: opts.braggFactor } : {}),
      gain,
      resume: skipAllowed,
      ...(opts.onIteration ? { onIteration: opts.onIteration } : {}),
      onProgress: (phase, done, total) => {
        if (!scaling) {
          scaling = true;
          opts.onStep?.("scale", { skipped: false, file: files.merged });
        }
        if ((phase === "merge" || phase === "write") && !merging) {
          merging = true;
          step = "merge";
          opts.onStep?.("merge", { skipped: false, file: files.merged });
        }
        opts.onProgress?.(merging ? "merge" : "scale", done, total);
      },
      ...(signal ? { signal } : {}),
    });
    if (merge.resumed) {
      opts.onStep?.("scale", { skipped: true, file: files.merged });
      opts.onStep?.("merge", { skipped: true, file: files.merged });
    }
    base.steps.scale = merge.resumed ? "skipped" : "ran";
    base.steps.merge = merge.resumed ? "skipped" : "ran";
    return {
      ...base,
      complete: true,
      masks: m.summary,
      extraction,
      grid,
      accumulation,
      merge,
    };
  } catch (e) {
    if (abortedBy(signal)) return stopped(step);
    if (e instanceof DiffuseInputError) throw e;
    throw new DiffusePipelineError(step, e);
  }
}
