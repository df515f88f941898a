/**
 * The observation tables the scaling model refines against, built from the stage outputs:
 * diffuse pixels (from the /diffuse/pixels list, binned with the voxel grid) and Bragg
 * reflections (from the stills' reflection tables, partiality-corrected, per second).
 *
 * Detector position for the smooth factor a(x, y): where the scattered ray meets a plane
 * 100 mm downstream of the sample, normal to the beam (x, y in mm). It depends only on the
 * ray, so diffuse pixels and Bragg spots of any panel layout share one coordinate frame.
 */
import { mapToAsu, type LaueGroup } from "../symmetry/index.js";
import type { Experiment } from "../geometry/models.js";
import { pixelCorrections, type CorrectionOptions } from "../geometry/corrections.js";
import { cellVolumeA3, unitCellFromVectors } from "../geometry/crystal.js";
import { rayIntersectionPx } from "../geometry/panel.js";
import type { ReflectionTable } from "../dials/reflection-table.js";
import type { BraggObservations } from "./relative.js";
import { ScalingError } from "./errors.js";

const PLANE_MM = 100;

/** (x, y) in mm on the plane 100 mm downstream for a ray along s1 (beam along -z). */
export function rayPositionMm(s1: readonly [number, number, number]): [number, number] {
  const z = Math.abs(s1[2]) || 1e-12;
  return [(PLANE_MM * s1[0]) / z, (PLANE_MM * s1[1]) / z];
}

export interface StillReflections {
  still: number;
  table: ReflectionTable;
  exposureS: number;
  /**
   * The still's models: with them, each summed intensity is corrected for the detector's
   * effects at its spot as the diffuse pixels are (polarization, sensor efficiency, air; not
   * the solid angle, which a spot's sum integrates over), so Bragg and diffuse share a scale.
   * DIALS's `intensity.sum.value` is uncorrected (its `lp`, `qe` columns hold the factors).
   */
  experiment?: Experiment;
  /** The corrections of the diffuse extraction (same options, default all on). */
  corrections?: CorrectionOptions;
}

export interface BraggOptions {
  /** Reflections with a smaller partiality are left out (their correction is unreliable). */
  minPartiality?: number;
  /**
   * Leave out reflections with I / sigma below this (default: keep all). A cut biases every
   * shell mean upwards (it drops the weak ones), and the absolute scale sums those means.
   */
  minIOverSigma?: number;
  /**
   * Width sigma(q) = perA + perAPerQ q (1/A) of the lattice points' excitation-error profile
   * (the partiality model). With it (and each still's experiment) a full still reflection
   * I / (t P) is put on the diffuse's per-steradian footing: multiplied by
   * V sqrt(2 pi) sigma(q) / lambda^2, the inverse of the rate a 3-D Gaussian lattice point
   * gives when the Ewald sphere cuts it (solid angle = lambda^2 x area on the sphere), so that
   * absolute scale * I = |F|^2 (braggFactor 1). See synth/stills-truth.ts for the derivation.
   */
  excitationSigma?: { perA: number; perAPerQ?: number };
}

/** Bragg observations (I / (t P), per second) with their symmetry-unique index. */
export function braggObservations(
  stills: StillReflections[],
  laue: LaueGroup,
  opts: BraggOptions = {},
): BraggObservations & { uniqueHkl: Int32Array } {
  const minP = opts.minPartiality ?? 0.1;
  const minIs = opts.minIOverSigma ?? -Infinity;
  const sigmaQ = opts.excitationSigma;
  if (sigmaQ && !(sigmaQ.perA > 0 && (sigmaQ.perAPerQ ?? 0) >= 0))
    throw new ScalingError(
      `excitationSigma needs perA > 0 and perAPerQ >= 0, got ${JSON.stringify(sigmaQ)}`,
    );
  const rows: {
    u: string;
    hkl: [number, number, number];
    still: number;
    panel: number;
    x: number;
    y: number;
    i: number;
    s: number;
  }[] = [];
  for (const { still, table, exposureS, experiment, corrections } of stills) {
    if (!(exposureS > 0)) throw new ScalingError(`still ${still} has exposure ${exposureS} s`);
    if (sigmaQ && !experiment?.crystal)
      throw new ScalingError(
        `excitationSigma needs each still's experiment with its crystal (still ${still} has none)`,
      );
    for (const name of [
      "miller_index",
      "intensity.sum.value",
      "intensity.sum.variance",
      "partiality",
      "s1",
    ])
      if (!table.has(name))
        throw new ScalingError(`the reflections of still ${still} have no '${name}' column`);
    const hkl = table.millerIndices();
    const I = table.doubles("intensity.sum.value");
    const V = table.doubles("intensity.sum.variance");
    const P = table.doubles("partiality");
    const s1 = table.vec3("s1");
    const panel = table.has("panel") ? table.sizes("panel") : undefined;
    const asu = mapToAsu(laue, Int32Array.from(hkl));
    for (let r = 0; r < table.nrows; r++) {
      const p = P[r]!,
        v = V[r]!;
      if (!(p >= minP) || !(v > 0) || I[r]! / Math.sqrt(v) < minIs) continue;
      if (hkl[3 * r] === 0 && hkl[3 * r + 1] === 0 && hkl[3 * r + 2] === 0) continue;
      const ray: [number, number, number] = [s1[3 * r]!, s1[3 * r + 1]!, s1[3 * r + 2]!];
      const [x, y] = rayPositionMm(ray);
      const h: [number, number, number] = [asu[3 * r]!, asu[3 * r + 1]!, asu[3 * r + 2]!];
      const factor = experiment
        ? detectorFactor(experiment, panel ? panel[r]! : 0, ray, corrections) *
          (sigmaQ ? stillsNormalization(experiment, ray, sigmaQ) : 1)
        : 1;
      rows.push({
        u: h.join(","),
        hkl: h,
        still,
        panel: panel ? panel[r]! : 0,
        x,
        y,
        i: (factor * I[r]!) / (exposureS * p),
        s: (factor * Math.sqrt(v)) / (exposureS * p),
      });
    }
  }
  const ids = new Map<string, number>();
  const count = rows.length;
  const out = {
    count,
    unique: new Int32Array(count),
    still: new Uint32Array(count),
    panel: new Uint16Array(count),
    xMm: new Float64Array(count),
    yMm: new Float64Array(count),
    intensity: new Float64Array(count),
    sigma: new Float64Array(count),
    uniqueHkl: new Int32Array(0),
  };
  const uniq: number[] = [];
  rows.forEach((r, n) => {
    let id = ids.get(r.u);
    if (id === undefined) {
      id = ids.size;
      ids.set(r.u, id);
      uniq.push(...r.hkl);
    }
    out.unique[n] = id;
    out.still[n] = r.still;
    out.panel[n] = r.panel;
    out.xMm[n] = r.x;
    out.yMm[n] = r.y;
    out.intensity[n] = r.i;
    out.sigma[n] = r.s;
  });
  out.uniqueHkl = Int32Array.from(uniq);
  return out;
}

/** Polarization x efficiency x air (x Lorentz) multiplier at the spot the ray s1 makes. */
function detectorFactor(
  experiment: Experiment,
  panelIndex: number,
  s1: [number, number, number],
  corrections: CorrectionOptions | undefined,
): number {
  const panel = experiment.detector.panels[panelIndex];
  const px = panel && rayIntersectionPx(panel, s1);
  if (!px)
    throw new ScalingError(
      `a reflection's s1 ${JSON.stringify(s1)} does not meet panel ${panelIndex} of its experiment`,
    );
  const c = pixelCorrections(panel, experiment.beam, px[0], px[1], corrections);
  return c.totalMult / c.solidAngleMult;
}

/** V sqrt(2 pi) sigma(q) / lambda^2 (see BraggOptions.excitationSigma). */
function stillsNormalization(
  experiment: Experiment,
  s1: [number, number, number],
  sigmaQ: { perA: number; perAPerQ?: number },
): number {
  const s1Len = Math.hypot(s1[0], s1[1], s1[2]);
  const lambda = 1 / s1Len;
  const d = experiment.beam.directionToSource;
  const dLen = Math.hypot(d[0], d[1], d[2]);
  // q = s1 - s0 with s0 = -direction to source / lambda.
  const q = Math.hypot(
    s1[0] + d[0] / dLen / lambda,
    s1[1] + d[1] / dLen / lambda,
    s1[2] + d[2] / dLen / lambda,
  );
  const sigma = sigmaQ.perA + (sigmaQ.perAPerQ ?? 0) * q;
  const c = experiment.crystal!;
  const volume = cellVolumeA3(unitCellFromVectors(c.realSpaceA, c.realSpaceB, c.realSpaceC));
  return (volume * Math.sqrt(2 * Math.PI) * sigma) / lambda ** 2;
}
