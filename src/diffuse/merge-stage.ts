/**
 * Phases 3.S.3 to 4.S.1 as one stage over the extracted pixel list: relative scaling against
 * the merged diffuse and partiality-corrected Bragg references, the inverse-variance merge into
 * the voxel grid (VoxelData_relative), and, given the unit-cell inventory, the absolute scale
 * with incoherent subtraction (VoxelData_absolute) and the final per-still models.
 *
 * Weights. A pixel's sigma comes from its own observed counts, and weighting by 1/sigma^2 from
 * observed counts biases every weighted mean low by about one count per pixel (a pixel that
 * fluctuated down gets more weight; Neyman's chi^2). At tens of counts per pixel that is a
 * percent, far more than the sigma of a merged voxel and than the offsets between stills. So
 * by default (`varianceModel: "predicted"`) the scaling is refined once with the observed
 * sigmas, then again with every variance recomputed from the model's prediction instead of the
 * observed counts (as scaling programs do):
 *
 *   var_pred = var_obs + (I_pred - I_obs) * total_mult / (exposure * gain)
 *
 * (the Poisson part of the extraction's variance is raw/gain * (total_mult/exposure)^2 and raw
 * = I * exposure / total_mult + background), with I_pred = M * I_ref(voxel) + C. The merge uses
 * the same predicted variances. Observations of voxels without a reference keep var_obs.
 *
 * Output file (through the store):
 *   /merged/voxel_idx, hkl [n,3], q_lab [n,3], q_length, intensity, sigma, n_obs
 *            (+ intensity_abs, sigma_abs, incoherent with the absolute scale)   one row per voxel with data
 *   /map, /map_absolute        dense [nH, nK, nL] layouts for the voxel viewer (voxelView)
 *   /scaling/scale [stills], offset [stills, degree+1], panel_factors, position_coefficients,
 *            diffuse_reference [voxels of the refinement], bragg_hkl [u,3], bragg_intensity,
 *            bragg_sigma [u] (the merged Bragg reference on the relative scale)
 *            (+ absolute_multiplier [stills] = scale_i / k)   attrs: history, rounds, gauge, ...
 *   The absolute per-still offset is C_i(|q|) + absolute_multiplier_i * S(|q|), with S the
 *   incoherent scattering of the inventory (/scaling@inventory; per voxel in /merged/incoherent).
 *
 * Resume: with `resume: true` a complete output made from the same pixel list (same
 * extraction run), grid, reflections and options is read back instead of recomputed.
 */
import fs from "node:fs";
import { createHash } from "node:crypto";
import { inspectSameRun, StoreReader, StoreWriter, type JsonValue } from "../store/index.js";
import type { GlobalVoxelGrid } from "../voxel/grid.js";
import { laueGroup, symmetryMates, type LaueGroup } from "../symmetry/index.js";
import {
  MergeAccumulator,
  OBSERVATION_COLUMNS,
  braggObservations,
  rayPositionMm,
  refineScaling,
  scalingAt,
  type BraggOptions,
  type DiffuseObservations,
  type ScalingIteration,
  type ScalingOptions,
  type ScalingResult,
  type StillReflections,
} from "../scaling/index.js";
import {
  absoluteScale,
  applyAbsoluteScale,
  parseInventory,
  type AbsoluteScaleResult,
  type InventoryInput,
} from "../scattering/index.js";
import { cellVolumeA3 } from "../geometry/crystal.js";
import { DiffuseInputError } from "./errors.js";

const STAGE = "diffuse.scale_merge";
const SLAB = 1 << 18;

export type VarianceModel = "observed" | "predicted";

export interface ScaleMergeOptions extends Omit<ScalingOptions, "onIteration" | "signal"> {
  /** The stills' reflections (partiality-corrected Bragg reference); omit for diffuse-only scaling. */
  reflections?: StillReflections[];
  /** Which reflections enter the Bragg reference (partiality and I/sigma cut-offs). */
  braggOptions?: BraggOptions;
  /** At most this many observations enter the refinement (every k-th; all enter the merge). */
  maxScalingObservations?: number;
  /** Weights from the observed counts, or (default) from the model's prediction (module doc). */
  varianceModel?: VarianceModel;
  /** Refinements with predicted variances after the first one (default 1; "predicted" only). */
  predictedRounds?: number;
  /** Detector gain the extraction used: one for all panels or one per panel (default 1). */
  gain?: number | readonly number[];
  /** Unit-cell contents for the absolute scale, e.g. "C600 N160 O200 S8 H1000" or {C: 600, ...}. */
  inventory?: InventoryInput;
  absoluteMethod?: "norman" | "krogh-moe";
  /** Known factor f_B with k * f_B * I_Bragg = |F|^2 (see scattering/absolute-scale.ts), default 1. */
  braggFactor?: number;
  /** Return the stored result when `outFile` is complete and made from the same inputs. */
  resume?: boolean;
  /** Every refinement iteration; `round` 0 uses the observed variances, later rounds predicted. */
  onIteration?: (it: ScalingIteration & { round: number }) => void;
  /** phase "read" | "scale" | "merge" | "write". */
  onProgress?: (phase: string, done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface ScaleMergeRound {
  round: number;
  varianceModel: VarianceModel;
  history: ScalingIteration[];
  converged: boolean;
}

export interface ScaleMergeResult {
  file: string;
  /** The final model (the last round). */
  scaling: ScalingResult;
  /** Every refinement round, the first with observed variances. */
  rounds: ScaleMergeRound[];
  voxelsWithData: number;
  /** Observations in the refinement and in the merge. */
  observationsScaled: number;
  observationsMerged: number;
  absolute?: AbsoluteScaleResult;
  /** True when the result was read back from a complete `outFile` (nothing recomputed). */
  resumed: boolean;
}

/** Observations with the extra column the variance model needs. */
interface PixelObservations extends DiffuseObservations {
  /** total_mult / (exposure * gain): d(variance)/d(intensity); 0 when unknown. */
  beta: Float64Array;
}

const COLUMNS = [...OBSERVATION_COLUMNS, "beta"] as const;

type Column = (typeof COLUMNS)[number];
type AnyArray = PixelObservations[Column];

function newLike<T extends AnyArray>(a: T, n: number): T {
  return new (a.constructor as new (n: number) => T)(n);
}

/**
 * What identifies a stage's output file: its stage, parameters and creation time (a file
 * written again gets a new one). Undefined when the file is missing, not complete or not ours.
 */
export async function storeFingerprint(file: string): Promise<string | undefined> {
  if (!fs.existsSync(file)) return undefined;
  let r: StoreReader | undefined;
  try {
    r = await StoreReader.open(file, { waitMs: 0 });
    if (r.state !== "complete") return undefined;
    const a = r.attrs("/");
    if (typeof a.stagelab_stage !== "string") return undefined;
    return createHash("sha256")
      .update(
        JSON.stringify([a.stagelab_stage, a.stagelab_parameters ?? null, a.stagelab_created ?? ""]),
      )
      .digest("hex")
      .slice(0, 24);
  } catch {
    return undefined;
  } finally {
    r?.close();
  }
}

/** Reads every observation of the pixel list in slabs, binned with the grid (unbinned rows dropped). */
async function forEachObservationSlab(
  pixelsFile: string,
  grid: GlobalVoxelGrid,
  gain: (panel: number) => number,
  fn: (obs: PixelObservations) => void,
  signal?: AbortSignal,
  onSlab?: (done: number, total: number) => void,
): Promise<void> {
  const r = await StoreReader.open(pixelsFile);
  try {
    const n = r.info("/diffuse/pixels/intensity").shape[0]!;
    const s0 = r.read<"float64">("/diffuse/stills/s0").data;
    const exposure = r.read<"float64">("/diffuse/stills/exposure_s").data;
    const hasMult = r.tree("/diffuse/pixels").some((e) => e.path.endsWith("/total_mult"));
    for (let start = 0; start < n; start += SLAB) {
      if (signal?.aborted) throw signal.reason ?? new DiffuseInputError("aborted");
      const stop = Math.min(n, start + SLAB);
      const count = stop - start;
      const sel: [number, number][] = [[start, stop]];
      const q = r.read<"float64">("/diffuse/pixels/q_lab", [[start, stop], null]).data;
      const still = r.read<"uint32">("/diffuse/pixels/still", sel).data;
      const voxel = new Int32Array(count);
      // Bin still by still (runs of equal still ids), each with its own A_i^-1.
      for (let a = 0; a < count;) {
        let b = a + 1;
        while (b < count && still[b] === still[a]) b++;
        grid.computeVoxelIndices(
          still[a]!,
          q.subarray(3 * a, 3 * b),
          undefined,
          voxel.subarray(a, b),
        );
        a = b;
      }
      const panel = r.read<"uint16">("/diffuse/pixels/panel", sel).data;
      const mult = hasMult ? r.read<"float64">("/diffuse/pixels/total_mult", sel).data : undefined;
      const obs: PixelObservations = {
        count,
        voxel,
        still,
        panel,
        qLengthPerA: r.read<"float64">("/diffuse/pixels/q_length", sel).data,
        xMm: new Float64Array(count),
        yMm: new Float64Array(count),
        intensity: r.read<"float64">("/diffuse/pixels/intensity", sel).data,
        sigma: r.read<"float64">("/diffuse/pixels/sigma", sel).data,
        beta: new Float64Array(count),
      };
      for (let k = 0; k < count; k++) {
        const i = still[k]!;
        // Detector position of every pixel from its ray, s1 = q + s0.
        [obs.xMm[k], obs.yMm[k]] = rayPositionMm([
          q[3 * k]! + s0[3 * i]!,
          q[3 * k + 1]! + s0[3 * i + 1]!,
          q[3 * k + 2]! + s0[3 * i + 2]!,
        ]);
        const t = exposure[i]!;
        obs.beta[k] = mult && t > 0 ? mult[k]! / (t * gain(panel[k]!)) : 0;
      }
      fn(selectRows(obs, (k) => voxel[k]! >= 0 && obs.sigma[k]! > 0));
      onSlab?.(stop, n);
      await new Promise((res) => setImmediate(res));
    }
  } finally {
    r.close();
  }
}

/** The observations whose row passes `keep`, as a new table. */
function selectRows(o: PixelObservations, keep: (k: number) => boolean): PixelObservations {
  const rows: number[] = [];
  for (let k = 0; k < o.count; k++) if (keep(k)) rows.push(k);
  const out = { count: rows.length } as PixelObservations;
  for (const c of COLUMNS) {
    const src = o[c];
    const dst = newLike(src, rows.length);
    for (let j = 0; j < rows.length; j++) dst[j] = src[rows[j]!]!;
    (out as unknown as Record<Column, AnyArray>)[c] = dst;
  }
  return out;
}

/** Concatenates observation tables (the scaling subsample). */
function concatObservations(parts: PixelObservations[], template: PixelObservations) {
  const count = parts.reduce((n, p) => n + p.count, 0);
  const out = { count } as PixelObservations;
  for (const c of COLUMNS) {
    const dst = newLike(template[c], count);
    let at = 0;
    for (const p of parts) {
      (dst as Float64Array).set(p[c] as Float64Array, at);
      at += p.count;
    }
    (out as unknown as Record<Column, AnyArray>)[c] = dst;
  }
  return out;
}

/**
 * Variances from the model's prediction (module doc) into `out` (sigmas); observations of
 * voxels without a reference, or without the extraction's multipliers, keep their own.
 */
function predictedSigmas(
  obs: PixelObservations,
  sigmaObs: Float64Array,
  scaling: ScalingResult,
  hasReference: Uint8Array,
  out: Float64Array,
): void {
  const ref = scaling.diffuseReference;
  for (let k = 0; k < obs.count; k++) {
    const v = obs.voxel[k]!;
    const s = sigmaObs[k]!;
    const beta = obs.beta[k]!;
    if (!hasReference[v] || !(beta > 0)) {
      out[k] = s;
      continue;
    }
    const { multiplier, offset } = scalingAt(
      scaling,
      obs.still[k]!,
      obs.panel[k]!,
      obs.qLengthPerA[k]!,
      obs.xMm[k]!,
      obs.yMm[k]!,
    );
    const pred = multiplier * ref[v]! + offset;
    const v2 = s * s + (pred - obs.intensity[k]!) * beta;
    out[k] = v2 > 0 ? Math.sqrt(v2) : s;
  }
}

/** The options that change the output, as JSON (functions, the signal and the reflections' tables left out). */
function optionsJson(opts: ScaleMergeOptions): JsonValue {
  const {
    reflections: _r,
    onIteration: _i,
    onProgress: _p,
    signal: _s,
    resume: _re,
    inventory,
    ...rest
  } = opts;
  return JSON.parse(
    JSON.stringify({
      ...rest,
      inventory: inventory === undefined ? null : parseInventory(inventory).entries,
    }),
  ) as JsonValue;
}

/** A digest of the reflections' content that enters the Bragg reference. */
function reflectionsDigest(reflections: StillReflections[] | undefined): string | null {
  if (!reflections?.length) return null;
  const h = createHash("sha256");
  for (const { still, table, exposureS } of reflections) {
    h.update(`${still}/${exposureS}/${table.nrows}/`);
    for (const name of ["intensity.sum.value", "intensity.sum.variance", "partiality"])
      if (table.has(name)) {
        const d = table.doubles(name);
        h.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
      }
    if (table.has("miller_index")) {
      const m = Int32Array.from(table.millerIndices());
      h.update(new Uint8Array(m.buffer));
    }
  }
  return h.digest("hex").slice(0, 24);
}

async function parametersOf(
  pixelsFile: string,
  grid: GlobalVoxelGrid,
  opts: ScaleMergeOptions,
): Promise<JsonValue> {
  return JSON.parse(
    JSON.stringify({
      pixels: pixelsFile,
      pixelsRun: (await storeFingerprint(pixelsFile)) ?? null,
      grid: grid.toJSON(),
      reflections: reflectionsDigest(opts.reflections),
      options: optionsJson(opts),
    }),
  ) as JsonValue;
}

/** Multiplicity (symmetry mates incl. Friedel) of every voxel's sub-Miller index. */
function voxelMultiplicities(grid: GlobalVoxelGrid, laue: LaueGroup, rows: number[]): Float64Array {
  return Float64Array.from(rows, (v) => {
    const [a, b, c] = grid.voxelIndexToSubMiller(v);
    return symmetryMates(laue, a, b, c).length / 3;
  });
}

/** Relative scaling, merge and (with an inventory) absolute scale of an extracted pixel list. */
export async function scaleAndMerge(
  pixelsFile: string,
  grid: GlobalVoxelGrid,
  outFile: string,
  opts: ScaleMergeOptions = {},
): Promise<ScaleMergeResult> {
  if (opts.inventory !== undefined && !opts.reflections?.length)
    throw new DiffuseInputError(
      "the absolute scale needs the stills' Bragg reflections (pass reflections with the inventory)",
      { field: "inventory" },
    );
  const varianceModel = opts.varianceModel ?? "predicted";
  if (varianceModel !== "predicted" && varianceModel !== "observed")
    throw new DiffuseInputError(`must be "observed" or "predicted", got ${String(varianceModel)}`, {
      field: "varianceModel",
    });
  const predictedRounds = varianceModel === "predicted" ? (opts.predictedRounds ?? 1) : 0;
  if (!Number.isInteger(predictedRounds) || predictedRounds < 0 || predictedRounds > 20)
    throw new DiffuseInputError(`must be an integer 0..20, got ${opts.predictedRounds}`, {
      field: "predictedRounds",
    });
  const gains = opts.gain ?? 1;
  const gain =
    typeof gains === "number" ? () => gains : (p: number) => gains[p] ?? gains[gains.length - 1]!;
  for (const g of typeof gains === "number" ? [gains] : gains)
    if (!(g > 0) || !Number.isFinite(g))
      throw new DiffuseInputError(`must be finite and > 0, got ${g}`, { field: "gain" });

  const parameters = await parametersOf(pixelsFile, grid, opts);
  if (opts.resume) {
    if (await inspectSameRun(outFile, STAGE, parameters, (r) => r.state === "complete"))
      return { ...(await readScaleMerge(outFile)), resumed: true };
  }

  const rPix = await StoreReader.open(pixelsFile);
  const total = rPix.info("/diffuse/pixels/intensity").shape[0]!;
  rPix.close();
  opts.onProgress?.("read", 0, total);
  const maxObs = opts.maxScalingObservations ?? 2_000_000;
  const stride = Math.max(1, Math.ceil(total / maxObs));

  // 1. The scaling subsample (every stride-th observation, deterministic).
  const parts: PixelObservations[] = [];
  let template: PixelObservations | undefined;
  let seen = 0;
  await forEachObservationSlab(
    pixelsFile,
    grid,
    gain,
    (obs) => {
      const base = seen;
      seen += obs.count;
      template ??= obs;
      parts.push(stride === 1 ? obs : selectRows(obs, (k) => (base + k) % stride === 0));
    },
    opts.signal,
    (done, n) => opts.onProgress?.("read", done, n),
  );
  const sample = template ? concatObservations(parts, template) : undefined;
  parts.length = 0;
  if (!sample || sample.count === 0)
    throw new DiffuseInputError(`${pixelsFile}: no observation falls inside the voxel grid`);
  const laue = laueGroup(grid.symmetry.spaceGroup);
  const bragg = opts.reflections?.length
    ? braggObservations(opts.reflections, laue, opts.braggOptions)
    : undefined;
  const hasReference = new Uint8Array(grid.nVoxels);
  for (let k = 0; k < sample.count; k++) hasReference[sample.voxel[k]!] = 1;
  const sigmaObs = Float64Array.from(sample.sigma);
  const maxIt = opts.maxIterations ?? 200;
  const nRounds = 1 + predictedRounds;
  const rounds: ScaleMergeRound[] = [];
  let scaling: ScalingResult | undefined;
  for (let round = 0; round < nRounds; round++) {
    if (scaling) predictedSigmas(sample, sigmaObs, scaling, hasReference, sample.sigma);
    scaling = refineScaling(sample, bragg, {
      ...opts,
      ...(opts.signal ? { signal: opts.signal } : {}),
      onIteration: (it) => {
        opts.onIteration?.({ ...it, round });
        opts.onProgress?.("scale", round * maxIt + it.iteration, nRounds * maxIt);
      },
    });
    rounds.push({
      round,
      varianceModel: round === 0 ? "observed" : "predicted",
      history: scaling.history,
      converged: scaling.converged,
    });
  }
  const final = scaling!;

  // 2. The merge over every observation (with the same variance model).
  const merge = new MergeAccumulator(final, grid.nVoxels);
  let merged0 = 0;
  await forEachObservationSlab(
    pixelsFile,
    grid,
    gain,
    (obs) => {
      if (predictedRounds > 0) {
        const own = Float64Array.from(obs.sigma);
        predictedSigmas(obs, own, final, hasReference, obs.sigma);
      }
      merged0 += obs.count;
      merge.add(obs);
    },
    opts.signal,
    (done, n) => opts.onProgress?.("merge", done, n),
  );
  const merged = merge.result();
  const rows: number[] = [];
  for (let v = 0; v < grid.nVoxels; v++) if (merged.nObs[v]) rows.push(v);
  const centres = grid.voxelCentres(rows);
  const pick = (a: Float64Array) => Float64Array.from(rows, (v) => a[v]!);
  const intensity = pick(merged.intensity),
    sigma = pick(merged.sigma);

  // The Bragg reference on the final relative scale, with its sigma.
  const nUnique = final.braggReference.length;
  const braggI = new Float64Array(nUnique).fill(NaN),
    braggS = new Float64Array(nUnique).fill(NaN);
  if (bragg) {
    const sw = new Float64Array(nUnique),
      swi = new Float64Array(nUnique);
    for (let n = 0; n < bragg.count; n++) {
      const m = scalingAt(
        final,
        bragg.still[n]!,
        bragg.panel[n]!,
        0,
        bragg.xMm[n]!,
        bragg.yMm[n]!,
      ).multiplier;
      const w = (m / bragg.sigma[n]!) ** 2;
      sw[bragg.unique[n]!]! += w;
      swi[bragg.unique[n]!]! += (w * bragg.intensity[n]!) / m;
    }
    for (let u = 0; u < nUnique; u++)
      if (sw[u]! > 0) {
        braggI[u] = swi[u]! / sw[u]!;
        braggS[u] = 1 / Math.sqrt(sw[u]!);
      }
  }
  const braggHkl = bragg?.uniqueHkl ?? new Int32Array(0);

  // 3. Absolute scale and incoherent subtraction.
  let absolute: AbsoluteScaleResult | undefined;
  let abs: ReturnType<typeof applyAbsoluteScale> | undefined;
  if (opts.inventory !== undefined && bragg) {
    const inventory = parseInventory(opts.inventory);
    const b = grid.bMatrix;
    const braggQ = Float64Array.from({ length: nUnique }, (_, u) => {
      const [h, k, l] = [braggHkl[3 * u]!, braggHkl[3 * u + 1]!, braggHkl[3 * u + 2]!];
      return Math.hypot(
        b[0] * h + b[1] * k + b[2] * l,
        b[3] * h + b[4] * k + b[5] * l,
        b[6] * h + b[7] * k + b[8] * l,
      );
    });
    const braggWeight = Float64Array.from(
      { length: nUnique },
      (_, u) =>
        symmetryMates(laue, braggHkl[3 * u]!, braggHkl[3 * u + 1]!, braggHkl[3 * u + 2]!).length /
        3,
    );
    absolute = absoluteScale({
      diffuse: {
        q: centres.qLength,
        intensity,
        sigma,
        weight: voxelMultiplicities(grid, laue, rows),
      },
      bragg: { q: braggQ, intensity: braggI, sigma: braggS, weight: braggWeight },
      inventory,
      cellVolume: cellVolumeA3(grid.referenceCell),
      ...(opts.absoluteMethod ? { method: opts.absoluteMethod } : {}),
      ...(opts.braggFactor !== undefined ? { braggFactor: opts.braggFactor } : {}),
    });
    abs = applyAbsoluteScale({ q: centres.qLength, intensity, sigma }, absolute, inventory);
  }

  // 4. Write everything.
  opts.onProgress?.("write", 0, 1);
  const w = await StoreWriter.create(outFile, {
    overwrite: true,
    provenance: { stage: STAGE, parameters },
  });
  try {
    const n = rows.length;
    const typed = { float64: Float64Array, uint32: Uint32Array, int32: Int32Array } as const;
    const put = (
      name: string,
      dtype: keyof typeof typed,
      shape: number[],
      data: ArrayLike<number>,
    ) => {
      const ds = w.createDataset(name, {
        dtype,
        shape: [0, ...shape.slice(1)],
        chunks: [Math.max(1, Math.min(65536, shape[0]!)), ...shape.slice(1)],
      });
      const values = data instanceof typed[dtype] ? data : typed[dtype].from(data);
      return () => ds.append(values as never);
    };
    const writes = [
      put("/merged/voxel_idx", "uint32", [n], Uint32Array.from(rows)),
      put("/merged/hkl", "float64", [n, 3], centres.hkl),
      put("/merged/q_lab", "float64", [n, 3], centres.q),
      put("/merged/q_length", "float64", [n], centres.qLength),
      put("/merged/intensity", "float64", [n], intensity),
      put("/merged/sigma", "float64", [n], sigma),
      put(
        "/merged/n_obs",
        "uint32",
        [n],
        Uint32Array.from(rows, (v) => merged.nObs[v]!),
      ),
    ];
    if (abs) {
      writes.push(put("/merged/intensity_abs", "float64", [n], abs.intensity));
      writes.push(put("/merged/sigma_abs", "float64", [n], abs.sigma));
      writes.push(put("/merged/incoherent", "float64", [n], abs.incoherent));
    }
    const mapAttrs = { ...grid.toAttrs(), asu_only: true };
    const dense = (group: string, values: Float64Array, sig: Float64Array, units: string) => {
      const shape = [...grid.shape];
      const I = new Float32Array(grid.nVoxels).fill(NaN),
        S = new Float32Array(grid.nVoxels).fill(NaN);
      rows.forEach((v, j) => {
        I[v] = values[j]!;
        S[v] = sig[j]!;
      });
      const chunks = shape.map((s) => Math.max(1, Math.min(s, 32)));
      const mk = (name: string, dtype: "float32" | "uint32", data: Float32Array | Uint32Array) => {
        const ds = w.createDataset(`${group}/${name}`, { dtype, shape, maxshape: shape, chunks });
        return () => ds.write([0, 0, 0], shape, data as never);
      };
      w.setAttrs(group, { ...mapAttrs, units });
      return [
        mk("intensity", "float32", I),
        mk("sigma", "float32", S),
        mk("n_obs", "uint32", merged.nObs),
      ];
    };
    writes.push(...dense("/map", intensity, sigma, "relative (scale of the reference still set)"));
    if (abs)
      writes.push(
        ...dense("/map_absolute", abs.intensity, abs.sigma, "electron units per unit cell"),
      );
    const nStills = final.stills.length,
      nOff = final.stills[0]?.offset.length ?? 1;
    writes.push(
      put(
        "/scaling/scale",
        "float64",
        [nStills],
        final.stills.map((s) => s.scale),
      ),
      put(
        "/scaling/offset",
        "float64",
        [nStills, nOff],
        final.stills.flatMap((s) => s.offset),
      ),
      put("/scaling/panel_factors", "float64", [final.panelFactors.length], final.panelFactors),
      put(
        "/scaling/position_coefficients",
        "float64",
        [final.positionCoefficients.length],
        final.positionCoefficients,
      ),
      put(
        "/scaling/diffuse_reference",
        "float64",
        [final.diffuseReference.length],
        final.diffuseReference,
      ),
      put("/scaling/bragg_hkl", "int32", [nUnique, 3], braggHkl),
      put("/scaling/bragg_intensity", "float64", [nUnique], braggI),
      put("/scaling/bragg_sigma", "float64", [nUnique], braggS),
    );
    if (absolute) {
      // Final per-still models on the absolute scale: I_obs = (M / k) I_abs' + C (see scattering).
      writes.push(
        put(
          "/scaling/absolute_multiplier",
          "float64",
          [nStills],
          final.stills.map((s) => s.scale / absolute!.scale),
        ),
      );
    }
    w.setAttrs("/scaling", {
      model: "I_obs = scale_i * panel_factor_p * a(x, y) * I_ref(voxel) + offset_i(|q|)",
      offset_gauge: `offsets are relative to still ${opts.referenceStill ?? 0} (its offset is 0)`,
      position_frame: JSON.stringify(final.positionFrame),
      history: JSON.stringify(final.history),
      rounds: JSON.stringify(rounds),
      converged: final.converged,
      variance_model: varianceModel,
      observations_used: sample.count,
      observations_merged: merged0,
      bragg_observations: bragg?.count ?? 0,
      ...(absolute
        ? {
            absolute_scale: absolute.scale,
            absolute_scale_sigma: absolute.scaleSigma,
            absolute: JSON.stringify(absolute),
            inventory: JSON.stringify(parseInventory(opts.inventory!).entries),
          }
        : {}),
    });
    w.commit();
    for (const write of writes) write();
    w.close();
  } catch (e) {
    w.abandon();
    throw e;
  }
  opts.onProgress?.("write", 1, 1);
  return {
    file: outFile,
    scaling: final,
    rounds,
    voxelsWithData: rows.length,
    observationsScaled: sample.count,
    observationsMerged: merged0,
    ...(absolute ? { absolute } : {}),
    resumed: false,
  };
}

/** Reads a complete scale-and-merge output file back into its result (`resumed: true`). */
export async function readScaleMerge(file: string): Promise<ScaleMergeResult> {
  const r = await StoreReader.open(file);
  try {
    if (r.attrs("/").stagelab_stage !== STAGE)
      throw new DiffuseInputError(`${file} is not a scale-and-merge output`);
    const a = r.attrs("/scaling");
    const f64 = (p: string) => r.read<"float64">(p).data as Float64Array;
    const scale = f64("/scaling/scale");
    const offset = f64("/scaling/offset");
    const nOff = scale.length ? offset.length / scale.length : 1;
    const scaling: ScalingResult = {
      stills: Array.from(scale, (s, i) => ({
        still: i,
        scale: s,
        offset: Array.from(offset.subarray(i * nOff, (i + 1) * nOff)),
      })),
      panelFactors: Array.from(f64("/scaling/panel_factors")),
      positionCoefficients: Array.from(f64("/scaling/position_coefficients")),
      positionFrame: JSON.parse(String(a.position_frame)) as ScalingResult["positionFrame"],
      history: JSON.parse(String(a.history)) as ScalingIteration[],
      converged: a.converged === true,
      diffuseReference: f64("/scaling/diffuse_reference"),
      braggReference: f64("/scaling/bragg_intensity"),
    };
    const absolute =
      typeof a.absolute === "string" ? (JSON.parse(a.absolute) as AbsoluteScaleResult) : undefined;
    return {
      file,
      scaling,
      rounds: JSON.parse(String(a.rounds)) as ScaleMergeRound[],
      voxelsWithData: r.info("/merged/voxel_idx").shape[0]!,
      observationsScaled: Number(a.observations_used),
      observationsMerged: Number(a.observations_merged),
      ...(absolute ? { absolute } : {}),
      resumed: true,
    };
  } finally {
    r.close();
  }
}
