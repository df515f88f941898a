/**
 * Phases 3.S.3 to 4.S.1 as one stage over the extracted pixel list: relative scaling against
 * the merged diffuse and partiality-corrected Bragg references, the inverse-variance merge into
 * the voxel grid (VoxelData_relative), and, given the unit-cell inventory, the absolute scale
 * with incoherent subtraction (VoxelData_absolute) and the final per-still models.
 *
 * Output file (through the store):
 *   /merged/voxel_idx, hkl [n,3], q_lab [n,3], q_length, intensity, sigma, n_obs
 *            (+ intensity_abs, sigma_abs, incoherent with the absolute scale)   one row per voxel with data
 *   /map, /map_absolute        dense [nH, nK, nL] layouts for the voxel viewer (voxelView)
 *   /scaling/scale [stills], offset [stills, degree+1], panel_factors, position_coefficients
 *            (+ absolute_multiplier, absolute_offset [stills, degree+1])    attrs: history, gauge, ...
 */
import { StoreReader, StoreWriter, type JsonValue } from "../store/index.js";
import type { GlobalVoxelGrid } from "../voxel/grid.js";
import { laueGroup } from "../symmetry/index.js";
import {
  MergeAccumulator,
  braggObservations,
  rayPositionMm,
  refineScaling,
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
} from "../scattering/index.js";
import { cellVolumeA3 } from "../geometry/crystal.js";
import { DiffuseInputError } from "./errors.js";

const STAGE = "diffuse.scale_merge";
const SLAB = 1 << 18;

export interface ScaleMergeOptions extends Omit<ScalingOptions, "onIteration" | "signal"> {
  /** The stills' reflections (partiality-corrected Bragg reference); omit for diffuse-only scaling. */
  reflections?: StillReflections[];
  /** At most this many observations enter the refinement (every k-th; all enter the merge). */
  maxScalingObservations?: number;
  /** Unit-cell contents for the absolute scale, e.g. "C600 N160 O200 S8 H1000" or {C: 600, ...}. */
  inventory?: Parameters<typeof parseInventory>[0];
  absoluteMethod?: "norman" | "krogh-moe";
  onIteration?: (it: ScalingIteration) => void;
  onProgress?: (phase: string, done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface ScaleMergeResult {
  file: string;
  scaling: ScalingResult;
  voxelsWithData: number;
  absolute?: AbsoluteScaleResult;
}

/** Reads every observation of the pixel list in slabs, binned with the grid (unbinned rows dropped). */
async function forEachObservationSlab(
  pixelsFile: string,
  grid: GlobalVoxelGrid,
  fn: (obs: DiffuseObservations) => void,
  signal?: AbortSignal,
  onSlab?: (done: number, total: number) => void,
): Promise<void> {
  const r = await StoreReader.open(pixelsFile);
  try {
    const n = r.info("/diffuse/pixels/intensity").shape[0]!;
    const s0 = r.read<"float64">("/diffuse/stills/s0").data;
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
      const obs: DiffuseObservations = {
        count,
        voxel,
        still,
        panel: r.read<"uint16">("/diffuse/pixels/panel", sel).data,
        qLengthPerA: r.read<"float64">("/diffuse/pixels/q_length", sel).data,
        xMm: new Float64Array(count),
        yMm: new Float64Array(count),
        intensity: r.read<"float64">("/diffuse/pixels/intensity", sel).data,
        sigma: r.read<"float64">("/diffuse/pixels/sigma", sel).data,
      };
      // Detector position of every pixel from its ray, s1 = q + s0.
      for (let k = 0; k < count; k++) {
        const i = still[k]!;
        [obs.xMm[k], obs.yMm[k]] = rayPositionMm([
          q[3 * k]! + s0[3 * i]!,
          q[3 * k + 1]! + s0[3 * i + 1]!,
          q[3 * k + 2]! + s0[3 * i + 2]!,
        ]);
      }
      fn(selectRows(obs, (k) => voxel[k]! >= 0 && obs.sigma[k]! > 0));
      onSlab?.(stop, n);
    }
  } finally {
    r.close();
  }
}

/** The observations whose row passes `keep`, as a new table. */
function selectRows(o: DiffuseObservations, keep: (k: number) => boolean): DiffuseObservations {
  const rows: number[] = [];
  for (let k = 0; k < o.count; k++) if (keep(k)) rows.push(k);
  const take = <T extends { length: number; [i: number]: number }>(
    a: T,
    make: (n: number) => T,
  ): T => {
    const out = make(rows.length);
    rows.forEach((k, j) => (out[j] = a[k]!));
    return out;
  };
  return {
    count: rows.length,
    voxel: take(o.voxel as Int32Array, (n) => new Int32Array(n)),
    still: take(o.still as Uint32Array, (n) => new Uint32Array(n)),
    panel: take(o.panel, (n) => new Uint16Array(n)),
    qLengthPerA: take(o.qLengthPerA, (n) => new Float64Array(n)),
    xMm: take(o.xMm, (n) => new Float64Array(n)),
    yMm: take(o.yMm, (n) => new Float64Array(n)),
    intensity: take(o.intensity, (n) => new Float64Array(n)),
    sigma: take(o.sigma, (n) => new Float64Array(n)),
  };
}

/** Concatenates observation tables (the scaling subsample). */
function concatObservations(parts: DiffuseObservations[]): DiffuseObservations {
  const count = parts.reduce((n, p) => n + p.count, 0);
  const out: DiffuseObservations = {
    count,
    voxel: new Int32Array(count),
    still: new Uint32Array(count),
    panel: new Uint16Array(count),
    qLengthPerA: new Float64Array(count),
    xMm: new Float64Array(count),
    yMm: new Float64Array(count),
    intensity: new Float64Array(count),
    sigma: new Float64Array(count),
  };
  let at = 0;
  for (const p of parts) {
    for (const k of [
      "voxel",
      "still",
      "panel",
      "qLengthPerA",
      "xMm",
      "yMm",
      "intensity",
      "sigma",
    ] as const)
      (out[k] as Float64Array).set(p[k] as Float64Array, at);
    at += p.count;
  }
  return out;
}

/** Relative scaling, merge and (with an inventory) absolute scale of an extracted pixel list. */
export async function scaleAndMerge(
  pixelsFile: string,
  grid: GlobalVoxelGrid,
  outFile: string,
  opts: ScaleMergeOptions = {},
): Promise<ScaleMergeResult> {
  const rPix = await StoreReader.open(pixelsFile);
  const total = rPix.info("/diffuse/pixels/intensity").shape[0]!;
  rPix.close();
  const maxObs = opts.maxScalingObservations ?? 2_000_000;
  const stride = Math.max(1, Math.ceil(total / maxObs));

  // 1. The scaling subsample (every stride-th observation, deterministic).
  const parts: DiffuseObservations[] = [];
  let seen = 0;
  await forEachObservationSlab(
    pixelsFile,
    grid,
    (obs) => {
      const base = seen;
      seen += obs.count;
      parts.push(stride === 1 ? obs : selectRows(obs, (k) => (base + k) % stride === 0));
    },
    opts.signal,
    (done, n) => opts.onProgress?.("read", done, n),
  );
  const sample = concatObservations(parts);
  if (sample.count === 0)
    throw new DiffuseInputError(`${pixelsFile}: no observation falls inside the voxel grid`);
  const laue = laueGroup(grid.symmetry.spaceGroup);
  const bragg = opts.reflections?.length ? braggObservations(opts.reflections, laue) : undefined;
  const scaling = refineScaling(sample, bragg, {
    ...opts,
    ...(opts.signal ? { signal: opts.signal } : {}),
    onIteration: (it) => {
      opts.onIteration?.(it);
      opts.onProgress?.("scale", it.iteration, opts.maxIterations ?? 200);
    },
  });

  // 2. The merge over every observation.
  const merge = new MergeAccumulator(scaling, grid.nVoxels);
  await forEachObservationSlab(
    pixelsFile,
    grid,
    (obs) => merge.add(obs),
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

  // 3. Absolute scale and incoherent subtraction.
  let absolute: AbsoluteScaleResult | undefined;
  let abs: ReturnType<typeof applyAbsoluteScale> | undefined;
  if (opts.inventory !== undefined) {
    const inventory = parseInventory(opts.inventory);
    const braggMerged = bragg
      ? {
          q: Float64Array.from({ length: scaling.braggReference.length }, (_, u) => {
            const h = [
              bragg.uniqueHkl[3 * u]!,
              bragg.uniqueHkl[3 * u + 1]!,
              bragg.uniqueHkl[3 * u + 2]!,
            ];
            const b = grid.bMatrix;
            return Math.hypot(
              b[0] * h[0]! + b[1] * h[1]! + b[2] * h[2]!,
              b[3] * h[0]! + b[4] * h[1]! + b[5] * h[2]!,
              b[6] * h[0]! + b[7] * h[1]! + b[8] * h[2]!,
            );
          }),
          intensity: scaling.braggReference,
          sigma: new Float64Array(scaling.braggReference.length).fill(1),
        }
      : undefined;
    absolute = absoluteScale({
      diffuse: { q: centres.qLength, intensity, sigma },
      ...(braggMerged ? { bragg: braggMerged } : {}),
      inventory,
      cellVolume: cellVolumeA3(grid.referenceCell),
      ...(opts.absoluteMethod ? { method: opts.absoluteMethod } : {}),
    } as Parameters<typeof absoluteScale>[0]);
    abs = applyAbsoluteScale({ q: centres.qLength, intensity, sigma }, absolute, inventory);
  }

  // 4. Write everything.
  const parameters = JSON.parse(
    JSON.stringify({
      pixels: pixelsFile,
      grid: grid.toJSON(),
      options: { ...opts, reflections: opts.reflections?.length ?? 0 },
    }),
  ) as JsonValue;
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
    const nStills = scaling.stills.length,
      nOff = scaling.stills[0]?.offset.length ?? 1;
    writes.push(
      put(
        "/scaling/scale",
        "float64",
        [nStills],
        scaling.stills.map((s) => s.scale),
      ),
    );
    writes.push(
      put(
        "/scaling/offset",
        "float64",
        [nStills, nOff],
        scaling.stills.flatMap((s) => s.offset),
      ),
    );
    writes.push(
      put("/scaling/panel_factors", "float64", [scaling.panelFactors.length], scaling.panelFactors),
    );
    writes.push(
      put(
        "/scaling/position_coefficients",
        "float64",
        [scaling.positionCoefficients.length],
        scaling.positionCoefficients,
      ),
    );
    if (absolute) {
      // Final per-still models on the absolute scale: I_obs = (M / k) I_abs' + C (see scattering).
      writes.push(
        put(
          "/scaling/absolute_multiplier",
          "float64",
          [nStills],
          scaling.stills.map((s) => s.scale / absolute!.scale),
        ),
      );
    }
    w.setAttrs("/scaling", {
      model: "I_obs = scale_i * panel_factor_p * a(x, y) * I_ref(voxel) + offset_i(|q|)",
      offset_gauge: `offsets are relative to still ${opts.referenceStill ?? 0} (its offset is 0)`,
      position_frame: JSON.stringify(scaling.positionFrame),
      history: JSON.stringify(scaling.history),
      converged: scaling.converged,
      observations_used: sample.count,
      bragg_observations: bragg?.count ?? 0,
      ...(absolute
        ? { absolute_scale: absolute.scale, absolute_scale_sigma: absolute.scaleSigma }
        : {}),
    });
    w.commit();
    for (const write of writes) write();
    w.close();
  } catch (e) {
    w.abandon();
    throw e;
  }
  return { file: outFile, scaling, voxelsWithData: rows.length, ...(absolute ? { absolute } : {}) };
}
