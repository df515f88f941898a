/**
 * A synthetic stills generator with known truth (the test bed of the diffuse pipeline):
 * a crystal in a random orientation per still, a Pilatus-like multi-module detector with
 * gaps and a beamstop, Bragg spots with partialities, a smooth diffuse signal, a flat
 * background, hot, dead and flagged pixels, and Poisson noise. It writes, per still, a
 * real miniCBF image, a DIALS `.expt` and a DIALS `.refl` (with bbox, partiality and
 * shoeboxes), plus `truth.json` with everything needed to check the pipeline.
 *
 * The diffuse part of pixel p is `background + t (scale D(q) + offset) / TotalCorrection(p)`:
 * the forward model of the plan's corrections, so the corrected intensity of every
 * unmasked, non-Bragg pixel estimates `scale D(q) + offset` (counts per second per
 * steradian) within its Poisson noise.
 *
 * A stage: progress, AbortSignal, and resume (each file is written atomically, the `.refl`
 * last, so a still with a `.refl` is complete and is skipped when called again).
 */
import fs from "node:fs";
import path from "node:path";
import type { Beam, Crystal, Detector, Experiment, Mat3 } from "../geometry/models.js";
import { extractPanel } from "../diffuse/extract-panel.js";
import { rayIntersectionPx } from "../geometry/panel.js";
import { bMatrix } from "../geometry/crystal.js";
import { mat3Inverse, mat3Mul, mat3MulVec } from "../geometry/vec3.js";
import { sensorMuPerMm } from "../geometry/attenuation.js";
import { writeCbf } from "../images/cbf.js";
import { writeExperimentList } from "../dials/experiment-list.js";
import {
  ReflectionTable,
  writeReflectionTable,
  type Column,
  type Shoebox,
} from "../dials/reflection-table.js";
import { DiffuseInputError } from "../diffuse/errors.js";
import { Rng } from "./random.js";
import { pixelCorrections } from "../geometry/corrections.js";
import {
  DEFAULT_STILLS_TRUTH,
  braggTruth,
  diffuseLevelTruth,
  diffuseTruth,
  moduleSlowOffsetPx,
  partialityTruth,
  rawSlowPx,
  truthBeam,
  truthDetector,
  type StillTruth,
  type StillsTruthParams,
} from "./stills-truth.js";

export interface SyntheticStillsOptions extends Partial<StillsTruthParams> {
  /** Replace a directory generated with other parameters (default: refuse). */
  overwrite?: boolean;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface PixelRef {
  panel: number;
  fast: number;
  slow: number;
}

export interface StillsTruth {
  generator: "stagelab synth.stills";
  params: StillsTruthParams;
  stills: StillTruth[];
  hotPixels: PixelRef[];
  deadPixels: PixelRef[];
  /** Pixels the detector flags (value -2, below the trusted range). */
  badPixels: PixelRef[];
}

export interface SyntheticStillsResult {
  dir: string;
  /** Per still: its image, experiment list and reflection table paths. */
  files: { cbf: string; expt: string; refl: string }[];
  truth: StillsTruth;
  generated: number;
  resumed: number;
  complete: boolean;
}

/** Shoebox mask codes, as DIALS's MaskCode. */
const VALID = 1,
  FOREGROUND = 2,
  BACKGROUND = 4;
const SPOT_SIGMA_PX = 0.8;
const SPOT_HALF_BOX_PX = 4;

export function stillFileStem(i: number): string {
  return `still_${String(i).padStart(4, "0")}`;
}

function drawTruth(p: StillsTruthParams): StillsTruth {
  const stills: StillTruth[] = [];
  const level = diffuseLevelTruth(p, 0.3);
  const [oMin, oMax] = p.offsetFraction;
  for (let i = 0; i < p.stills; i++) {
    const rng = new Rng(p.seed, i, 1);
    const u = rng.rotation();
    const scale = 0.8 + 0.4 * rng.next();
    const offset = level * (oMin + (oMax - oMin) * rng.next());
    stills.push({
      index: i,
      u,
      exposureS: p.exposureS * (1 + 0.25 * Math.sin(i)),
      scale,
      offsetPerSPerSr: i === 0 ? 0 : offset,
      backgroundCounts: 2 + 3 * rng.next(),
    });
  }
  const rng = new Rng(p.seed, 0x5eed);
  const taken = new Set<string>();
  const pick = (n: number): PixelRef[] => {
    const out: PixelRef[] = [];
    while (out.length < n) {
      const ref = {
        panel: Math.floor(rng.next() * p.modules),
        fast: Math.floor(rng.next() * p.moduleFastPx),
        slow: Math.floor(rng.next() * p.moduleSlowPx),
      };
      const key = `${ref.panel}/${ref.fast}/${ref.slow}`;
      if (!taken.has(key)) {
        taken.add(key);
        out.push(ref);
      }
    }
    return out;
  };
  return {
    generator: "stagelab synth.stills",
    params: p,
    stills,
    hotPixels: pick(p.hotPixels),
    deadPixels: pick(p.deadPixels),
    badPixels: pick(p.badPixels),
  };
}

/** The still's crystal: A = U B, and the real-space vectors are the rows of A^-1. */
export function stillCrystal(p: StillsTruthParams, u: Mat3): Crystal {
  const a = mat3Mul(u, bMatrix(p.cell));
  const r = mat3Inverse(a);
  return {
    realSpaceA: [r[0], r[1], r[2]],
    realSpaceB: [r[3], r[4], r[5]],
    realSpaceC: [r[6], r[7], r[8]],
    spaceGroupHall: p.spaceGroupHall,
  };
}

export function stillsModels(p: StillsTruthParams): { beam: Beam; detector: Detector } {
  const beam = truthBeam(p);
  const detector = truthDetector(p, (t) => sensorMuPerMm("Si", p.wavelengthA) * (t > 0 ? 1 : 0));
  return { beam, detector };
}

/** Writes (or completes) a directory of synthetic stills. */
export async function writeSyntheticStills(
  dir: string,
  opts: SyntheticStillsOptions = {},
): Promise<SyntheticStillsResult> {
  const { overwrite, onProgress, signal, ...overrides } = opts;
  const params: StillsTruthParams = { ...DEFAULT_STILLS_TRUTH, ...overrides };
  if (!(params.stills >= 1))
    throw new DiffuseInputError(`stills must be at least 1, got ${params.stills}`);
  fs.mkdirSync(dir, { recursive: true });
  const truthPath = path.join(dir, "truth.json");
  const truth = drawTruth(params);
  const truthText = JSON.stringify(truth, null, 1);
  if (fs.existsSync(truthPath)) {
    const old = fs.readFileSync(truthPath, "utf8");
    if (old !== truthText) {
      if (!overwrite)
        throw new DiffuseInputError(
          `${dir} holds synthetic stills made with other parameters; pass overwrite: true to replace them`,
        );
      for (const f of fs.readdirSync(dir))
        if (/^still_\d{4}\.(cbf|expt|refl)$/.test(f)) fs.rmSync(path.join(dir, f));
    }
  }
  writeAtomically(truthPath, truthText);

  const { beam, detector } = stillsModels(params);
  const files = truth.stills.map((s) => {
    const stem = path.join(dir, stillFileStem(s.index));
    return { cbf: `${stem}.cbf`, expt: `${stem}.expt`, refl: `${stem}.refl` };
  });
  let generated = 0,
    resumed = 0;
  for (const s of truth.stills) {
    const f = files[s.index]!;
    if (fs.existsSync(f.refl)) {
      resumed++;
      onProgress?.(s.index + 1, params.stills);
      continue;
    }
    if (signal?.aborted) break;
    const { raw, reflections } = renderStill(params, truth, s, beam, detector);
    await writeCbf(
      f.cbf,
      { width: params.moduleFastPx, height: rawSlowPx(params), data: raw },
      {
        detector: "PILATUS 300K, S/N synthetic",
        exposureTimeS: s.exposureS,
        exposurePeriodS: s.exposureS,
        pixelSizeM: [params.pixelSizeMm / 1000, params.pixelSizeMm / 1000],
        thicknessM: (params.thicknessMm[0] ?? 0.45) / 1000,
        wavelengthA: params.wavelengthA,
        detectorDistanceM: params.distanceMm / 1000,
        beamXyPx: params.beamCentrePx,
        countCutoff: 1048575,
        startAngleDeg: 0,
        angleIncrementDeg: 0,
        polarization: params.polarizationFraction,
      },
    );
    const experiment: Experiment = {
      identifier: `synthetic-${stillFileStem(s.index)}`,
      beam,
      detector,
      crystal: stillCrystal(params, s.u),
      imageset: { type: "ImageSet", images: [path.basename(f.cbf)] },
    };
    await writeExperimentList(f.expt, [experiment]);
    reflections.identifiers.set(0, experiment.identifier);
    await writeReflectionTable(f.refl, reflections);
    generated++;
    onProgress?.(s.index + 1, params.stills);
  }
  const complete = files.every((f) => fs.existsSync(f.refl));
  return { dir, files, truth, generated, resumed, complete };
}

function writeAtomically(file: string, text: string) {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

/** Expected counts of every detector pixel (diffuse + background), per panel, slow-major. */
export function expectedDiffuseCounts(
  p: StillsTruthParams,
  s: StillTruth,
  beam: Beam,
  detector: Detector,
): Float64Array[] {
  const aInv = mat3Inverse(mat3Mul(s.u, bMatrix(p.cell)));
  return detector.panels.map((panel, m) => {
    const n = panel.imageSize[0] * panel.imageSize[1];
    const cols = extractPanel(panel, beam, new Float64Array(n), new Uint8Array(n).fill(1), {
      exposureTimeS: 1,
      gain: 1,
      panelIndex: m,
      stillId: s.index,
    });
    const out = new Float64Array(n);
    const nFast = panel.imageSize[0];
    const shadow = beamstopShadow(p, panel);
    for (let k = 0; k < cols.count; k++) {
      if (shadow[cols.slow[k]! * nFast + cols.fast[k]!]) {
        out[cols.slow[k]! * nFast + cols.fast[k]!] = s.backgroundCounts;
        continue;
      }
      const q: [number, number, number] = [
        cols.qLab[3 * k]!,
        cols.qLab[3 * k + 1]!,
        cols.qLab[3 * k + 2]!,
      ];
      const [h, kk, l] = mat3MulVec(aInv, q);
      const d = s.scale * diffuseTruth(p, h, kk, l, cols.qLengthPerA[k]!) + s.offsetPerSPerSr;
      out[cols.slow[k]! * nFast + cols.fast[k]!] =
        s.backgroundCounts + (s.exposureS * d) / cols.totalMult[k]!;
    }
    return out;
  });
}

/**
 * Pixels in the beamstop's shadow (1): within `beamstopRadiusMm` of the beam axis, or on its
 * holder arm (as wide as the stop) running from the axis towards +y (up). Only background
 * reaches them.
 */
export function beamstopShadow(
  p: StillsTruthParams,
  panel: Detector["panels"][number],
): Uint8Array {
  const [nFast, nSlow] = panel.imageSize;
  const r = p.beamstopRadiusMm;
  const out = new Uint8Array(nFast * nSlow);
  for (let sl = 0; sl < nSlow; sl++)
    for (let f = 0; f < nFast; f++) {
      const u = (f + 0.5) * panel.pixelSizeMm[0],
        v = (sl + 0.5) * panel.pixelSizeMm[1];
      const x = panel.originMm[0] + u * panel.fastAxis[0] + v * panel.slowAxis[0];
      const y = panel.originMm[1] + u * panel.fastAxis[1] + v * panel.slowAxis[1];
      if (x * x + y * y <= r * r || (Math.abs(x) <= r && y > 0)) out[sl * nFast + f] = 1;
    }
  return out;
}

interface Spot {
  hkl: [number, number, number];
  panel: number;
  fastPx: number;
  slowPx: number;
  counts: number;
  partiality: number;
  s1: [number, number, number];
  dA: number;
}

function predictSpots(p: StillsTruthParams, s: StillTruth, beam: Beam, detector: Detector): Spot[] {
  const a = mat3Mul(s.u, bMatrix(p.cell));
  const invL = 1 / beam.wavelengthA;
  const s0: [number, number, number] = [0, 0, -invL];
  const qMax = 1 / p.dMinA;
  const hMax = Math.ceil(p.cell.aA / p.dMinA),
    kMax = Math.ceil(p.cell.bA / p.dMinA),
    lMax = Math.ceil(p.cell.cA / p.dMinA);
  const spots: Spot[] = [];
  const shadows = detector.panels.map((panel) => beamstopShadow(p, panel));
  for (let h = -hMax; h <= hMax; h++)
    for (let k = -kMax; k <= kMax; k++)
      for (let l = -lMax; l <= lMax; l++) {
        if (h === 0 && k === 0 && l === 0) continue;
        const q = mat3MulVec(a, [h, k, l]);
        const qLen = Math.hypot(q[0], q[1], q[2]);
        if (qLen > qMax) continue;
        const s1: [number, number, number] = [s0[0] + q[0], s0[1] + q[1], s0[2] + q[2]];
        const s1Len = Math.hypot(s1[0], s1[1], s1[2]);
        const partiality = partialityTruth(p, s1Len - invL, qLen);
        if (partiality < 0.02) continue;
        const full = braggTruth(p, h, k, l, qLen);
        if (full === 0) continue;
        const dir: [number, number, number] = [s1[0] / s1Len, s1[1] / s1Len, s1[2] / s1Len];
        for (let m = 0; m < detector.panels.length; m++) {
          const panel = detector.panels[m]!;
          const px = rayIntersectionPx(panel, dir);
          if (!px) continue;
          const [fastPx, slowPx] = px;
          // Only spots whose whole box lies on the panel, outside the beamstop's shadow: the
          // table's summation integrals are then complete (a real integration flags the rest).
          if (
            fastPx < 0 ||
            slowPx < 0 ||
            fastPx >= panel.imageSize[0] ||
            slowPx >= panel.imageSize[1]
          )
            continue;
          const edge = SPOT_HALF_BOX_PX + 1;
          if (
            fastPx < edge ||
            slowPx < edge ||
            fastPx >= panel.imageSize[0] - edge ||
            slowPx >= panel.imageSize[1] - edge ||
            shadows[m]![Math.floor(slowPx) * panel.imageSize[0] + Math.floor(fastPx)]
          )
            break;
          // The detector's effects on the spot: polarization, sensor efficiency, air (not the
          // solid angle: a reflection's counts are an integral over it).
          const c = pixelCorrections(panel, beam, fastPx, slowPx);
          const detected = c.solidAngleMult / c.totalMult;
          spots.push({
            hkl: [h, k, l],
            panel: m,
            fastPx,
            slowPx,
            counts: s.scale * s.exposureS * full * partiality * detected,
            partiality,
            s1: [dir[0] * invL, dir[1] * invL, dir[2] * invL],
            dA: 1 / qLen,
          });
          break;
        }
      }
  return spots;
}

/** Renders one still: the raw int32 image (gaps -1) and its reflection table. */
export function renderStill(
  p: StillsTruthParams,
  truth: StillsTruth,
  s: StillTruth,
  beam: Beam,
  detector: Detector,
): { raw: Int32Array; reflections: ReflectionTable } {
  const expected = expectedDiffuseCounts(p, s, beam, detector);
  const spots = predictSpots(p, s, beam, detector);
  const bragg = detector.panels.map((pl) => new Float64Array(pl.imageSize[0] * pl.imageSize[1]));
  const boxes: [number, number, number, number][] = [];
  for (const spot of spots) {
    const [nFast, nSlow] = detector.panels[spot.panel]!.imageSize;
    const x0 = Math.max(0, Math.floor(spot.fastPx - SPOT_HALF_BOX_PX));
    const x1 = Math.min(nFast, Math.floor(spot.fastPx + SPOT_HALF_BOX_PX) + 1);
    const y0 = Math.max(0, Math.floor(spot.slowPx - SPOT_HALF_BOX_PX));
    const y1 = Math.min(nSlow, Math.floor(spot.slowPx + SPOT_HALF_BOX_PX) + 1);
    boxes.push([x0, x1, y0, y1]);
    const b = bragg[spot.panel]!;
    const norm = spot.counts / (2 * Math.PI * SPOT_SIGMA_PX ** 2);
    for (let y = y0; y < y1; y++)
      for (let x = x0; x < x1; x++) {
        const r2 = (x + 0.5 - spot.fastPx) ** 2 + (y + 0.5 - spot.slowPx) ** 2;
        b[y * nFast + x]! += norm * Math.exp(-r2 / (2 * SPOT_SIGMA_PX ** 2));
      }
  }

  const rng = new Rng(p.seed, s.index, 2);
  const width = p.moduleFastPx;
  const raw = new Int32Array(width * rawSlowPx(p)).fill(-1);
  const panelCounts = detector.panels.map((pl, m) => {
    const e = expected[m]!,
      b = bragg[m]!;
    const counts = new Int32Array(e.length);
    for (let k = 0; k < e.length; k++) counts[k] = rng.poisson(e[k]! + b[k]!);
    return counts;
  });
  for (const px of truth.hotPixels)
    panelCounts[px.panel]![px.slow * p.moduleFastPx + px.fast] = 60000 + rng.poisson(100);
  for (const px of truth.deadPixels) panelCounts[px.panel]![px.slow * p.moduleFastPx + px.fast] = 0;
  for (const px of truth.badPixels) panelCounts[px.panel]![px.slow * p.moduleFastPx + px.fast] = -2;
  panelCounts.forEach((c, m) => raw.set(c, moduleSlowOffsetPx(p, m) * width));

  return { raw, reflections: reflectionTable(spots, boxes, panelCounts, expected, detector, rng) };
}

function reflectionTable(
  spots: Spot[],
  boxes: [number, number, number, number][],
  counts: Int32Array[],
  expected: Float64Array[],
  detector: Detector,
  rng: Rng,
): ReflectionTable {
  const n = spots.length;
  const miller = new Int32Array(3 * n);
  const panel = new Float64Array(n);
  const id = new Int32Array(n);
  const xyzcalPx = new Float64Array(3 * n),
    xyzcalMm = new Float64Array(3 * n);
  const xyzobsPx = new Float64Array(3 * n),
    xyzobsVar = new Float64Array(3 * n);
  const s1 = new Float64Array(3 * n);
  const bbox = new Int32Array(6 * n);
  const partiality = new Float64Array(n),
    d = new Float64Array(n);
  const isum = new Float64Array(n),
    isumVar = new Float64Array(n);
  const flags = new Float64Array(n);
  const shoeboxes: Shoebox[] = [];
  spots.forEach((spot, r) => {
    const [x0, x1, y0, y1] = boxes[r]!;
    const pl = detector.panels[spot.panel]!;
    miller.set(spot.hkl, 3 * r);
    panel[r] = spot.panel;
    xyzcalPx.set([spot.fastPx, spot.slowPx, 0], 3 * r);
    xyzcalMm.set([spot.fastPx * pl.pixelSizeMm[0], spot.slowPx * pl.pixelSizeMm[1], 0], 3 * r);
    xyzobsPx.set([spot.fastPx + 0.05 * rng.normal(), spot.slowPx + 0.05 * rng.normal(), 0], 3 * r);
    xyzobsVar.set([0.0025, 0.0025, 0], 3 * r);
    s1.set(spot.s1, 3 * r);
    bbox.set([x0, x1, y0, y1, 0, 1], 6 * r);
    partiality[r] = spot.partiality;
    d[r] = spot.dA;
    // Indexed | predicted | integrated_sum, as DIALS's flags.
    flags[r] = 1 | 4 | 256;
    const nx = x1 - x0,
      ny = y1 - y0;
    const data = new Float32Array(nx * ny),
      mask = new Int32Array(nx * ny),
      background = new Float32Array(nx * ny);
    let sum = 0,
      bsum = 0;
    for (let y = y0; y < y1; y++)
      for (let x = x0; x < x1; x++) {
        const k = y * pl.imageSize[0] + x,
          j = (y - y0) * nx + (x - x0);
        data[j] = counts[spot.panel]![k]!;
        background[j] = expected[spot.panel]![k]!;
        const fg =
          (x + 0.5 - spot.fastPx) ** 2 + (y + 0.5 - spot.slowPx) ** 2 <= (4 * SPOT_SIGMA_PX) ** 2;
        mask[j] = VALID | (fg ? FOREGROUND : BACKGROUND);
        if (fg) {
          sum += data[j]! - background[j]!;
          bsum += data[j]!;
        }
      }
    isum[r] = sum;
    isumVar[r] = Math.max(bsum, 1);
    shoeboxes.push({ panel: spot.panel, bbox: [x0, x1, y0, y1, 0, 1], data, mask, background });
  });
  const columns: [string, Column][] = [
    ["miller_index", { type: "cctbx::miller::index<>", data: miller }],
    ["id", { type: "int", data: id }],
    ["panel", { type: "std::size_t", data: panel }],
    ["xyzcal.px", { type: "vec3<double>", data: xyzcalPx }],
    ["xyzcal.mm", { type: "vec3<double>", data: xyzcalMm }],
    ["xyzobs.px.value", { type: "vec3<double>", data: xyzobsPx }],
    ["xyzobs.px.variance", { type: "vec3<double>", data: xyzobsVar }],
    ["s1", { type: "vec3<double>", data: s1 }],
    ["bbox", { type: "int6", data: bbox }],
    ["partiality", { type: "double", data: partiality }],
    ["d", { type: "double", data: d }],
    ["intensity.sum.value", { type: "double", data: isum }],
    ["intensity.sum.variance", { type: "double", data: isumVar }],
    ["flags", { type: "std::size_t", data: flags }],
    ["shoebox", { type: "Shoebox<>", data: shoeboxes }],
  ];
  return new ReflectionTable(n, columns);
}
