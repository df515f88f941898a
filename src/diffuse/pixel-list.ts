/**
 * The on-disk `CorrectedDiffusePixelList` of every still, in one HDF5 file written through
 * the store: rows appended still by still and committed after each, so readers follow the
 * extraction live and an interrupted run resumes at the first still not committed.
 *
 *   /diffuse/pixels/q_lab        [n, 3] float64  q = s1 - s0 (per Angstrom), lab frame
 *   /diffuse/pixels/intensity    [n]    float64  corrected, counts per second per steradian
 *   /diffuse/pixels/sigma        [n]    float64  its standard deviation
 *   /diffuse/pixels/q_length     [n]    float64  |q| (per Angstrom)
 *   /diffuse/pixels/total_mult   [n]    float64  the product of the correction multipliers
 *   /diffuse/pixels/panel, fast, slow  [n] uint16/uint32/uint32  pixel of origin
 *   /diffuse/pixels/still        [n]    uint32   still index (row of /diffuse/stills)
 *   /diffuse/stills/first_row, n_pixels, exposure_s, n_masked, n_bragg   [stills]
 *   /diffuse/stills/s0         [stills, 3] float64  the still's beam vector (per Angstrom)
 *   /diffuse/stills@names        JSON list of the stills' experiment files (set at close)
 */
import type { PanelColumns } from "./extract-panel.js";

export const PIXEL_COLUMNS = {
  intensity: "float64",
  sigma: "float64",
  q_length: "float64",
  total_mult: "float64",
  panel: "uint16",
  fast: "uint32",
  slow: "uint32",
  still: "uint32",
} as const;

export const STILL_COLUMNS = {
  first_row: "uint64",
  n_pixels: "uint64",
  exposure_s: "float64",
  n_masked: "uint64",
  n_bragg: "uint64",
} as const;

/** One still's corrected pixels, all panels concatenated (the plan's CorrectedDiffusePixelList_i). */
export interface StillPixels {
  count: number;
  qLab: Float64Array;
  intensity: Float64Array;
  sigma: Float64Array;
  qLength: Float64Array;
  totalMult: Float64Array;
  panel: Uint16Array;
  fast: Uint32Array;
  slow: Uint32Array;
  still: Uint32Array;
}

/** Concatenates per-panel columns into one still's list. */
export function concatPanels(parts: PanelColumns[], stillIndex: number): StillPixels {
  const count = parts.reduce((n, p) => n + p.count, 0);
  const out: StillPixels = {
    count,
    qLab: new Float64Array(3 * count),
    intensity: new Float64Array(count),
    sigma: new Float64Array(count),
    qLength: new Float64Array(count),
    totalMult: new Float64Array(count),
    panel: new Uint16Array(count),
    fast: new Uint32Array(count),
    slow: new Uint32Array(count),
    still: new Uint32Array(count).fill(stillIndex),
  };
  let at = 0;
  for (const p of parts) {
    const n = p.count;
    out.qLab.set(p.qLab.subarray(0, 3 * n), 3 * at);
    out.intensity.set(p.intensity.subarray(0, n), at);
    out.sigma.set(p.sigma.subarray(0, n), at);
    out.qLength.set(p.qLengthPerA.subarray(0, n), at);
    out.totalMult.set(p.totalMult.subarray(0, n), at);
    out.panel.set(p.panel.subarray(0, n), at);
    out.fast.set(p.fast.subarray(0, n), at);
    out.slow.set(p.slow.subarray(0, n), at);
    at += n;
  }
  return out;
}
