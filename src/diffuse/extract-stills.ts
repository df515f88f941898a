/**
 * The per-still extraction stage (plan Modules 1.S.3, 2.S.1 and 2.S.2 over many stills):
 * for every still, its Bragg mask from its reflection table, the combined mask, then the
 * corrected diffuse pixels of every panel, appended to one HDF5 file and committed still by
 * still (see pixel-list.ts for the layout). Progress, AbortSignal, resume.
 */
import fs from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import { inspectSameRun, StoreReader, StoreWriter, type JsonValue } from "../store/index.js";
import type { Experiment, Vec3 } from "../geometry/models.js";
import { beamS0 } from "../geometry/corrections.js";
import { readExperimentList } from "../dials/experiment-list.js";
import { readReflectionTable, type ReflectionTable } from "../dials/reflection-table.js";
import { readStillImage } from "../images/source.js";
import { ExtractWorkspace, extractPanel, type ExtractPanelOptions } from "./extract-panel.js";
import { braggMask, type BraggMaskSource } from "./bragg-mask.js";
import { andMasks, staticMask, totalMask, countUsable, type PixelMask } from "./masks.js";
import { concatPanels, PIXEL_COLUMNS, STILL_COLUMNS, type StillPixels } from "./pixel-list.js";
import { DiffuseInputError } from "./errors.js";

const STAGE = "diffuse.extract";

/** A still: its experiment list (one experiment) and, for the Bragg mask, its reflections. */
export interface StillInput {
  expt: string;
  refl?: string;
}

export type BackgroundSpec = ExtractPanelOptions["background"];

export interface ExtractDiffuseOptions {
  /** The global pixel mask (static AND dynamic); each still's own trusted range is always applied too. */
  pixelMask?: PixelMask;
  /** Bragg mask from shoebox foregrounds, from bounding boxes, or none (default: shoebox when present). */
  bragg?: BraggMaskSource | "none";
  pixelStep?: number;
  gain?: number;
  /** A background for every still, or one per still index. */
  background?: BackgroundSpec | ((still: number) => BackgroundSpec);
  corrections?: ExtractPanelOptions["corrections"];
  dMinA?: number;
  dMaxA?: number;
  intensityMin?: number;
  intensityMax?: number;
  /** Start again even when `outFile` holds an unfinished run of other parameters. */
  overwrite?: boolean;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface ExtractDiffuseResult {
  file: string;
  stills: number;
  pixels: number;
  resumedFrom: number;
  complete: boolean;
}

/**
 * The stills of a directory: every `*.expt` with the `.refl` beside it (same stem, or
 * DIALS's `_integrated.expt` / `_integrated.refl` and `_indexed` pairs), sorted by name.
 */
export function findStills(dir: string): StillInput[] {
  if (!fs.existsSync(dir)) throw new DiffuseInputError(`no such directory: ${dir}`);
  const names = fs.readdirSync(dir).sort();
  const out: StillInput[] = [];
  for (const name of names) {
    if (!name.endsWith(".expt")) continue;
    const stem = name.slice(0, -5);
    const refl = path.join(dir, `${stem}.refl`);
    out.push({ expt: path.join(dir, name), ...(fs.existsSync(refl) ? { refl } : {}) });
  }
  return out;
}

export interface LoadedStill {
  experiment: Experiment;
  reflections?: ReflectionTable;
}

/** Reads a still's experiment (the first of its list) and reflections. */
export async function loadStill(still: StillInput): Promise<LoadedStill> {
  const experiments = await readExperimentList(still.expt);
  const experiment = experiments[0];
  if (!experiment) throw new DiffuseInputError(`${still.expt} holds no experiment`);
  const reflections = still.refl ? await readReflectionTable(still.refl) : undefined;
  return { experiment, ...(reflections ? { reflections } : {}) };
}

/** Corrected diffuse pixels of one still (all panels), with the masks used. */
export async function extractStill(
  still: StillInput,
  index: number,
  opts: ExtractDiffuseOptions = {},
  /** Reused output buffers, one per panel (the result is copied out of them). */
  workspaces?: ExtractWorkspace[],
): Promise<{
  pixels: StillPixels;
  exposureS: number;
  s0: Vec3;
  mask: PixelMask;
  nMasked: number;
  nBragg: number;
}> {
  const { experiment, reflections } = await loadStill(still);
  const image = await readStillImage(experiment, { baseDir: path.dirname(still.expt) });
  const detector = experiment.detector;
  let pixelMask = staticMask(detector, { trustedRangeFrom: image.panels });
  if (opts.pixelMask) pixelMask = andMasks(pixelMask, opts.pixelMask);
  const source = opts.bragg ?? (reflections?.columns.has("shoebox") ? "shoebox" : "bbox");
  const bragg =
    source === "none" || !reflections
      ? detector.panels.map((p) => new Uint8Array(p.imageSize[0] * p.imageSize[1]))
      : braggMask(detector, reflections, { source });
  const mask = totalMask(pixelMask, bragg);
  const background =
    typeof opts.background === "function" ? opts.background(index) : opts.background;
  const parts = detector.panels.map((panel, i) =>
    extractPanel(panel, experiment.beam, image.panels[i]!, mask[i]!, {
      panelIndex: i,
      stillId: index,
      ...(workspaces ? { workspace: (workspaces[i] ??= new ExtractWorkspace()) } : {}),
      exposureTimeS: image.exposureTimeS,
      gain: opts.gain ?? panel.gain,
      ...(background ? { background } : {}),
      ...(opts.pixelStep ? { pixelStep: opts.pixelStep } : {}),
      ...(opts.corrections ? { corrections: opts.corrections } : {}),
      ...(opts.dMinA !== undefined ? { dMinA: opts.dMinA } : {}),
      ...(opts.dMaxA !== undefined ? { dMaxA: opts.dMaxA } : {}),
      ...(opts.intensityMin !== undefined ? { intensityMin: opts.intensityMin } : {}),
      ...(opts.intensityMax !== undefined ? { intensityMax: opts.intensityMax } : {}),
    }),
  );
  const total = detector.panels.reduce((n, p) => n + p.imageSize[0] * p.imageSize[1], 0);
  return {
    pixels: concatPanels(parts, index),
    exposureS: image.exposureTimeS,
    s0: beamS0(experiment.beam),
    mask,
    nMasked: total - countUsable(mask),
    nBragg: countUsable(bragg),
  };
}

/** What identifies a run: the stills and every option that changes the output. */
function runParameters(stills: StillInput[], opts: ExtractDiffuseOptions): JsonValue {
  const digest = (m?: PixelMask) => {
    if (!m) return null;
    const h = createHash("sha256");
    for (const p of m) h.update(p);
    return h.digest("hex").slice(0, 16);
  };
  const background =
    typeof opts.background === "function"
      ? stills.map((_, i) => (opts.background as (s: number) => BackgroundSpec)(i))
      : opts.background;
  const bgJson = JSON.stringify(background ?? null, (_k, v) =>
    ArrayBuffer.isView(v)
      ? `sha256:${createHash("sha256")
          .update(v as Uint8Array)
          .digest("hex")
          .slice(0, 16)}`
      : v,
  );
  return JSON.parse(
    JSON.stringify({
      stills: stills.map((s) => path.basename(s.expt)),
      pixelMask: digest(opts.pixelMask),
      bragg: opts.bragg ?? "auto",
      pixelStep: opts.pixelStep ?? 1,
      gain: opts.gain ?? "panel",
      background: bgJson,
      corrections: opts.corrections ?? "default",
      dMinA: opts.dMinA ?? null,
      dMaxA: opts.dMaxA ?? null,
      intensityMin: opts.intensityMin ?? null,
      intensityMax: opts.intensityMax ?? null,
    }),
  ) as JsonValue;
}

/**
 * Extracts and corrects the diffuse pixels of every still into `outFile`. Called again on
 * the same file with the same inputs, it continues after the last committed still (or
 * returns at once when the file is complete).
 */
export async function extractDiffuse(
  stillsOrDir: StillInput[] | string,
  outFile: string,
  opts: ExtractDiffuseOptions = {},
): Promise<ExtractDiffuseResult> {
  const stills = typeof stillsOrDir === "string" ? findStills(stillsOrDir) : stillsOrDir;
  if (stills.length === 0)
    throw new DiffuseInputError("no stills to extract (no .expt files found)");
  const parameters = runParameters(stills, opts);
  const provenance = { stage: STAGE, parameters };
  const done = await inspectSameRun(outFile, STAGE, parameters, (r) =>
    r.state === "complete" ? Infinity : r.info("/diffuse/stills/n_pixels").shape[0],
  );
  if (done === Infinity) {
    const r = await StoreReader.open(outFile);
    const pixels = r.info("/diffuse/pixels/intensity").shape[0]!;
    r.close();
    return {
      file: outFile,
      stills: stills.length,
      pixels,
      resumedFrom: stills.length,
      complete: true,
    };
  }
  if (done === undefined && fs.existsSync(outFile) && !opts.overwrite) {
    const r = await StoreReader.open(outFile, { waitMs: 0 }).catch(() => undefined);
    const state = r?.state;
    r?.close();
    if (state === "writing")
      throw new DiffuseInputError(
        `${outFile} holds an unfinished extraction with other inputs; pass overwrite: true to start again`,
      );
  }

  let w: StoreWriter;
  const start = done ?? 0;
  if (done !== undefined) w = await StoreWriter.open(outFile, { provenance });
  else {
    w = await StoreWriter.create(outFile, { overwrite: true, provenance });
    const rows = 1 << 16;
    w.createDataset("/diffuse/pixels/q_lab", {
      dtype: "float64",
      shape: [0, 3],
      chunks: [rows, 3],
      attrs: { units: "1/Angstrom", frame: "lab", convention: "q = s1 - s0, |s0| = 1/wavelength" },
    });
    for (const [name, dtype] of Object.entries(PIXEL_COLUMNS))
      w.createDataset(`/diffuse/pixels/${name}`, { dtype, shape: [0], chunks: [rows] });
    w.createDataset("/diffuse/stills/s0", {
      dtype: "float64",
      shape: [0, 3],
      chunks: [256, 3],
      attrs: { units: "1/Angstrom", frame: "lab", convention: "|s0| = 1/wavelength" },
    });
    for (const [name, dtype] of Object.entries(STILL_COLUMNS))
      w.createDataset(`/diffuse/stills/${name}`, { dtype, shape: [0], chunks: [256] });
    w.setAttrs("/diffuse/pixels", {
      intensity_units: "counts per second per steradian",
      corrections: "multipliers: solid angle, polarization, efficiency, air, Lorentz",
    });
    w.commit();
  }

  let row = 0;
  if (start > 0) row = Number(w.dataset("/diffuse/pixels/intensity").length);
  let i = start;
  const workspaces: ExtractWorkspace[] = [];
  try {
    for (; i < stills.length; i++) {
      if (opts.signal?.aborted) break;
      const r = await extractStill(stills[i]!, i, opts, workspaces);
      const px = r.pixels;
      w.dataset<"float64">("/diffuse/pixels/q_lab").append(px.qLab);
      w.dataset<"float64">("/diffuse/pixels/intensity").append(px.intensity);
      w.dataset<"float64">("/diffuse/pixels/sigma").append(px.sigma);
      w.dataset<"float64">("/diffuse/pixels/q_length").append(px.qLength);
      w.dataset<"float64">("/diffuse/pixels/total_mult").append(px.totalMult);
      w.dataset<"uint16">("/diffuse/pixels/panel").append(px.panel);
      w.dataset<"uint32">("/diffuse/pixels/fast").append(px.fast);
      w.dataset<"uint32">("/diffuse/pixels/slow").append(px.slow);
      w.dataset<"uint32">("/diffuse/pixels/still").append(px.still);
      w.dataset<"uint64">("/diffuse/stills/first_row").append(new BigUint64Array([BigInt(row)]));
      w.dataset<"uint64">("/diffuse/stills/n_pixels").append(
        new BigUint64Array([BigInt(px.count)]),
      );
      w.dataset<"float64">("/diffuse/stills/exposure_s").append(new Float64Array([r.exposureS]));
      w.dataset<"float64">("/diffuse/stills/s0").append(new Float64Array(r.s0));
      w.dataset<"uint64">("/diffuse/stills/n_masked").append(
        new BigUint64Array([BigInt(r.nMasked)]),
      );
      w.dataset<"uint64">("/diffuse/stills/n_bragg").append(new BigUint64Array([BigInt(r.nBragg)]));
      row += px.count;
      w.commit();
      opts.onProgress?.(i + 1, stills.length);
    }
  } catch (e) {
    // What was committed stays; the file stays "writing" so the next call resumes.
    w.abandon();
    throw e;
  }
  const complete = i >= stills.length;
  if (complete) {
    w.setAttrs("/diffuse/stills", { names: stills.map((s) => path.basename(s.expt)) });
    w.close();
  } else {
    w.commit();
    w.abandon();
  }
  return { file: outFile, stills: stills.length, pixels: row, resumedFrom: start, complete };
}
