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
}

export interface BraggOptions {
  /** Reflections with a smaller partiality are left out (their correction is unreliable). */
  minPartiality?: number;
  /** Leave out reflections with I / sigma below this (default 1). */
  minIOverSigma?: number;
}

/** Bragg observations (I / (t P), per second) with their symmetry-unique index. */
export function braggObservations(
  stills: StillReflections[],
  laue: LaueGroup,
  opts: BraggOptions = {},
): BraggObservations & { uniqueHkl: Int32Array } {
  const minP = opts.minPartiality ?? 0.1;
  const minIs = opts.minIOverSigma ?? 1;
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
  for (const { still, table, exposureS } of stills) {
    if (!(exposureS > 0)) throw new ScalingError(`still ${still} has exposure ${exposureS} s`);
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
      const [x, y] = rayPositionMm([s1[3 * r]!, s1[3 * r + 1]!, s1[3 * r + 2]!]);
      const h: [number, number, number] = [asu[3 * r]!, asu[3 * r + 1]!, asu[3 * r + 2]!];
      rows.push({
        u: h.join(","),
        hkl: h,
        still,
        panel: panel ? panel[r]! : 0,
        x,
        y,
        i: I[r]! / (exposureS * p),
        s: Math.sqrt(v) / (exposureS * p),
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
