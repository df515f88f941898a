/**
 * Relative scaling of diffuse stills (plan Module 3.S.3). Each observation of voxel v on still
 * i, panel p, at |q| and detector position (x, y) is modelled as
 *
 *   I_obs = b_i * d_p * a(x, y) * I_ref(v) + c_i(|q|)
 *
 * with b_i the still's overall scale, d_p a per-panel factor, a(x, y) a smooth
 * detector-position factor (a 2-D polynomial in lab x, y), and c_i(|q|) the still's additive
 * offset (a polynomial in |q|). Partiality-corrected Bragg intensities, when given, add
 * `I_bragg / P = b_i * d_p * a * F(HKL)` equations that tie the scales to the Bragg reference.
 *
 * Refinement alternates closed-form weighted least-squares steps until the parameters stop
 * changing: merged references from the current model, then every still's (b_i, c_i) from a
 * small linear system, then the panel factors, then a(x, y). Each step cannot increase chi^2
 * for the others fixed, so chi^2 falls monotonically (reported per iteration).
 *
 * Gauges (what the data cannot decide, and how it is fixed):
 * - one overall factor between model and references: the mean of b_i is 1, the mean of d_p is
 *   1 and a(x, y) is 1 at the mean observed position;
 * - one additive function between offsets and the reference: I_ref -> I_ref + delta(|q|) with
 *   c_i -> c_i - b_i delta leaves every prediction unchanged. The reference still's offset
 *   (`referenceStill`, default 0) is fixed to 0, so offsets are relative to that still.
 *   Absolute scaling (phase 4) fixes the remaining additive level.
 */
import { ScalingError } from "./errors.js";

export interface DiffuseObservations {
  count: number;
  /** Voxel (ASU) index of each observation. */
  voxel: Int32Array | Uint32Array;
  still: Uint32Array | Uint16Array;
  panel: Uint16Array;
  qLengthPerA: Float64Array;
  /** Lab-frame position of the pixel on the detector (mm), for a(x, y). */
  xMm: Float64Array;
  yMm: Float64Array;
  intensity: Float64Array;
  sigma: Float64Array;
}

/** The per-observation columns of DiffuseObservations. */
export const OBSERVATION_COLUMNS = [
  "voxel",
  "still",
  "panel",
  "qLengthPerA",
  "xMm",
  "yMm",
  "intensity",
  "sigma",
] as const;

export interface BraggObservations {
  count: number;
  /** Index of the reflection's symmetry-unique HKL (0 .. nUnique-1). */
  unique: Int32Array | Uint32Array;
  still: Uint32Array | Uint16Array;
  panel: Uint16Array;
  xMm: Float64Array;
  yMm: Float64Array;
  /** Partiality-corrected intensity per second: I_sum / (exposure * partiality). */
  intensity: Float64Array;
  sigma: Float64Array;
}

export interface ScalingOptions {
  /** Degree of the |q| polynomial of the offsets (default 0: a constant per still). */
  offsetDegree?: number;
  /** Refine per-panel factors (default true when there are several panels). */
  panelFactors?: boolean;
  /** Degree of the detector-position polynomial a(x, y) (default 2; 0 = none). */
  positionDegree?: number;
  referenceStill?: number;
  /** Relative weight of the Bragg equations (default 1: plain inverse variance). */
  braggWeight?: number;
  maxIterations?: number;
  /** Stop when no parameter changes by more than this (relative; default 1e-6). */
  tolerance?: number;
  onIteration?: (it: ScalingIteration) => void;
  signal?: AbortSignal;
}

export interface ScalingIteration {
  iteration: number;
  chi2PerObservation: number;
  maxRelativeChange: number;
}

export interface StillScaleModel {
  still: number;
  scale: number;
  /** Offset polynomial coefficients in |q| (per Angstrom), constant first. */
  offset: number[];
}

export interface ScalingResult {
  stills: StillScaleModel[];
  panelFactors: number[];
  /** a(x, y) = sum c_k x^i y^j over the monomials (x, y centred and scaled, see positionFrame). */
  positionCoefficients: number[];
  positionFrame: { x0Mm: number; y0Mm: number; scaleMm: number; degree: number };
  history: ScalingIteration[];
  converged: boolean;
  /** The references of the last iteration (per voxel; per unique Bragg reflection). */
  diffuseReference: Float64Array;
  braggReference: Float64Array;
}

/** Monomials x^i y^j with i + j <= degree, in a fixed order (constant first). */
function monomials(degree: number): [number, number][] {
  const out: [number, number][] = [];
  for (let d = 0; d <= degree; d++) for (let i = d; i >= 0; i--) out.push([i, d - i]);
  return out;
}

function polyAt(coeffs: number[], terms: [number, number][], x: number, y: number): number {
  let v = 0;
  for (let k = 0; k < terms.length; k++) v += coeffs[k]! * x ** terms[k]![0] * y ** terms[k]![1];
  return v;
}

/** Solves the symmetric system A x = b (n small) by Gaussian elimination with pivoting. */
export function solveSmall(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const m = Float64Array.from(a),
    r = Float64Array.from(b);
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let k = c + 1; k < n; k++)
      if (Math.abs(m[k * n + c]!) > Math.abs(m[piv * n + c]!)) piv = k;
    if (Math.abs(m[piv * n + c]!) < 1e-300)
      throw new ScalingError(`singular normal equations (column ${c})`);
    if (piv !== c) {
      for (let j = 0; j < n; j++) [m[c * n + j], m[piv * n + j]] = [m[piv * n + j]!, m[c * n + j]!];
      [r[c], r[piv]] = [r[piv]!, r[c]!];
    }
    for (let k = c + 1; k < n; k++) {
      const f = m[k * n + c]! / m[c * n + c]!;
      if (f === 0) continue;
      for (let j = c; j < n; j++) m[k * n + j]! -= f * m[c * n + j]!;
      r[k]! -= f * r[c]!;
    }
  }
  const x = new Float64Array(n);
  for (let c = n - 1; c >= 0; c--) {
    let s = r[c]!;
    for (let j = c + 1; j < n; j++) s -= m[c * n + j]! * x[j]!;
    x[c] = s / m[c * n + c]!;
  }
  return x;
}

function check(obs: DiffuseObservations) {
  for (const k of OBSERVATION_COLUMNS)
    if (obs[k].length < obs.count)
      throw new ScalingError(
        `observation column ${k} has ${obs[k].length} values, expected ${obs.count}`,
      );
  for (let n = 0; n < obs.count; n++)
    if (!(obs.sigma[n]! > 0))
      throw new ScalingError(`observation ${n} has sigma ${obs.sigma[n]} (must be > 0)`);
}

/** Refines the scaling model of every still against the merged references. */
export function refineScaling(
  obs: DiffuseObservations,
  bragg: BraggObservations | undefined,
  opts: ScalingOptions = {},
): ScalingResult {
  check(obs);
  const N = obs.count;
  let nStills = 0,
    nPanels = 0,
    nVoxels = 0;
  let xSum = 0,
    ySum = 0;
  for (let n = 0; n < N; n++) {
    nStills = Math.max(nStills, obs.still[n]! + 1);
    nPanels = Math.max(nPanels, obs.panel[n]! + 1);
    nVoxels = Math.max(nVoxels, obs.voxel[n]! + 1);
    xSum += obs.xMm[n]!;
    ySum += obs.yMm[n]!;
  }
  let nUnique = 0;
  if (bragg) {
    for (const k of ["unique", "still", "panel", "xMm", "yMm", "intensity", "sigma"] as const)
      if (bragg[k].length < bragg.count)
        throw new ScalingError(
          `Bragg column ${k} has ${bragg[k].length} values, expected ${bragg.count}`,
        );
    for (let n = 0; n < bragg.count; n++) {
      nUnique = Math.max(nUnique, bragg.unique[n]! + 1);
      if (!(bragg.sigma[n]! > 0))
        throw new ScalingError(`Bragg observation ${n} has sigma ${bragg.sigma[n]} (must be > 0)`);
    }
  }
  const offDeg = Math.max(0, Math.floor(opts.offsetDegree ?? 0));
  const nOff = offDeg + 1;
  const refStill = opts.referenceStill ?? 0;
  const usePanels = (opts.panelFactors ?? nPanels > 1) && nPanels > 1;
  const posDeg = Math.max(0, Math.floor(opts.positionDegree ?? 2));
  const terms = monomials(posDeg);
  const x0 = xSum / N,
    y0 = ySum / N;
  let scaleMm = 0;
  for (let n = 0; n < N; n++)
    scaleMm = Math.max(scaleMm, Math.abs(obs.xMm[n]! - x0), Math.abs(obs.yMm[n]! - y0));
  scaleMm ||= 1;
  const braggW = opts.braggWeight ?? 1;
  const maxIt = opts.maxIterations ?? 200;
  const tol = opts.tolerance ?? 1e-6;

  const b = new Float64Array(nStills).fill(1);
  const c = new Float64Array(nStills * nOff);
  const d = new Float64Array(Math.max(1, nPanels)).fill(1);
  const a = new Array<number>(terms.length).fill(0);
  a[0] = 1;
  const ref = new Float64Array(nVoxels);
  const bref = new Float64Array(nUnique);
  // Per-observation cached pieces: the position factor and the offset basis |q|^k.
  const pos = new Float64Array(N);
  const bpos = new Float64Array(bragg?.count ?? 0);
  const xs = new Float64Array(N),
    ys = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    xs[n] = (obs.xMm[n]! - x0) / scaleMm;
    ys[n] = (obs.yMm[n]! - y0) / scaleMm;
  }
  const offsetAt = (i: number, q: number) => {
    let v = 0,
      p = 1;
    for (let k = 0; k < nOff; k++, p *= q) v += c[i * nOff + k]! * p;
    return v;
  };
  const refreshPositions = () => {
    for (let n = 0; n < N; n++) pos[n] = polyAt(a, terms, xs[n]!, ys[n]!);
    if (bragg)
      for (let n = 0; n < bragg.count; n++)
        bpos[n] = polyAt(a, terms, (bragg.xMm[n]! - x0) / scaleMm, (bragg.yMm[n]! - y0) / scaleMm);
  };

  const history: ScalingIteration[] = [];
  let converged = false;
  for (let it = 1; it <= maxIt; it++) {
    if (opts.signal?.aborted) throw opts.signal.reason ?? new ScalingError("scaling aborted");
    refreshPositions();
    const before = [...b, ...c, ...d, ...a];

    // 1. References: inverse-variance means of the observations on the model's scale.
    const num = new Float64Array(nVoxels),
      den = new Float64Array(nVoxels);
    for (let n = 0; n < N; n++) {
      const i = obs.still[n]!,
        g = b[i]! * d[obs.panel[n]!]! * pos[n]!;
      const w = (g / obs.sigma[n]!) ** 2;
      num[obs.voxel[n]!]! += (w * (obs.intensity[n]! - offsetAt(i, obs.qLengthPerA[n]!))) / g;
      den[obs.voxel[n]!]! += w;
    }
    for (let v = 0; v < nVoxels; v++) ref[v] = den[v]! > 0 ? num[v]! / den[v]! : 0;
    if (bragg) {
      const bn = new Float64Array(nUnique),
        bd = new Float64Array(nUnique);
      for (let n = 0; n < bragg.count; n++) {
        const g = b[bragg.still[n]!]! * d[bragg.panel[n]!]! * bpos[n]!;
        const w = (g / bragg.sigma[n]!) ** 2;
        bn[bragg.unique[n]!]! += (w * bragg.intensity[n]!) / g;
        bd[bragg.unique[n]!]! += w;
      }
      for (let u = 0; u < nUnique; u++) bref[u] = bd[u]! > 0 ? bn[u]! / bd[u]! : 0;
    }

    // 2. Each still's scale and offsets: weighted linear least squares in (b_i, c_i0..).
    const dim = 1 + nOff;
    const ata = new Float64Array(nStills * dim * dim),
      atb = new Float64Array(nStills * dim);
    const row = new Float64Array(dim);
    for (let n = 0; n < N; n++) {
      const i = obs.still[n]!,
        w = 1 / obs.sigma[n]! ** 2;
      row[0] = d[obs.panel[n]!]! * pos[n]! * ref[obs.voxel[n]!]!;
      for (let k = 1, p = 1; k < dim; k++, p *= obs.qLengthPerA[n]!) row[k] = p;
      for (let r = 0; r < dim; r++) {
        atb[i * dim + r]! += w * row[r]! * obs.intensity[n]!;
        for (let s = 0; s < dim; s++) ata[(i * dim + r) * dim + s]! += w * row[r]! * row[s]!;
      }
    }
    if (bragg)
      for (let n = 0; n < bragg.count; n++) {
        const i = bragg.still[n]!,
          w = braggW / bragg.sigma[n]! ** 2;
        const m = d[bragg.panel[n]!]! * bpos[n]! * bref[bragg.unique[n]!]!;
        atb[i * dim]! += w * m * bragg.intensity[n]!;
        ata[i * dim * dim]! += w * m * m;
      }
    for (let i = 0; i < nStills; i++) {
      const A = ata.slice(i * dim * dim, (i + 1) * dim * dim),
        B = atb.slice(i * dim, (i + 1) * dim);
      if (i === refStill) {
        // Offsets of the reference still are the gauge: fixed at 0, only b is free.
        b[i] = A[0]! > 0 ? B[0]! / A[0]! : 1;
        continue;
      }
      const x = solveSmall(A, B, dim);
      b[i] = x[0]!;
      for (let k = 0; k < nOff; k++) c[i * nOff + k] = x[1 + k]!;
    }

    // 3. Panel factors: d_p = sum w m (I - c) / sum w m^2 with m = b a ref.
    if (usePanels) {
      const pn = new Float64Array(nPanels),
        pd = new Float64Array(nPanels);
      for (let n = 0; n < N; n++) {
        const i = obs.still[n]!,
          w = 1 / obs.sigma[n]! ** 2;
        const m = b[i]! * pos[n]! * ref[obs.voxel[n]!]!;
        pn[obs.panel[n]!]! += w * m * (obs.intensity[n]! - offsetAt(i, obs.qLengthPerA[n]!));
        pd[obs.panel[n]!]! += w * m * m;
      }
      for (let p = 0; p < nPanels; p++) if (pd[p]! > 0) d[p] = pn[p]! / pd[p]!;
    }

    // 4. Detector-position factor: linear least squares for the polynomial coefficients.
    if (terms.length > 1) {
      const T = terms.length;
      const A = new Float64Array(T * T),
        B = new Float64Array(T),
        phi = new Float64Array(T);
      for (let n = 0; n < N; n++) {
        const i = obs.still[n]!,
          w = 1 / obs.sigma[n]! ** 2;
        const m = b[i]! * d[obs.panel[n]!]! * ref[obs.voxel[n]!]!;
        for (let k = 0; k < T; k++) phi[k] = m * xs[n]! ** terms[k]![0] * ys[n]! ** terms[k]![1];
        const y = obs.intensity[n]! - offsetAt(i, obs.qLengthPerA[n]!);
        for (let r = 0; r < T; r++) {
          B[r]! += w * phi[r]! * y;
          for (let s = 0; s < T; s++) A[r * T + s]! += w * phi[r]! * phi[s]!;
        }
      }
      const x = solveSmall(A, B, T);
      for (let k = 0; k < T; k++) a[k] = x[k]!;
    }

    // Gauges: mean b = 1, mean d = 1, a = 1 at the centre; the references absorb the factor.
    let bMean = 0;
    for (let i = 0; i < nStills; i++) bMean += b[i]! / nStills;
    let dMean = 1;
    if (usePanels) {
      dMean = 0;
      for (let p = 0; p < nPanels; p++) dMean += d[p]! / nPanels;
      for (let p = 0; p < nPanels; p++) d[p] = d[p]! / dMean;
    }
    const a0 = a[0]!;
    for (let k = 0; k < a.length; k++) a[k] = a[k]! / a0;
    for (let i = 0; i < nStills; i++) b[i] = b[i]! / bMean;
    const gain = bMean * dMean * a0;
    for (let v = 0; v < nVoxels; v++) ref[v] = ref[v]! * gain;
    for (let u = 0; u < nUnique; u++) bref[u] = bref[u]! * gain;

    // chi^2 of the current model and references.
    refreshPositions();
    let chi2 = 0;
    for (let n = 0; n < N; n++) {
      const i = obs.still[n]!;
      const pred =
        b[i]! * d[obs.panel[n]!]! * pos[n]! * ref[obs.voxel[n]!]! +
        offsetAt(i, obs.qLengthPerA[n]!);
      chi2 += ((obs.intensity[n]! - pred) / obs.sigma[n]!) ** 2;
    }
    const after = [...b, ...c, ...d, ...a];
    let maxChange = 0;
    let cScale = 1e-300;
    for (let v = 0; v < nVoxels; v++) cScale = Math.max(cScale, Math.abs(ref[v]!));
    // Scales and panel factors change relative to themselves; offsets relative to the largest
    // reference value; position coefficients (dimensionless, a = 1 at the centre) absolutely.
    after.forEach((v, k) => {
      const isOffset = k >= nStills && k < nStills + c.length;
      const isPosition = k >= nStills + c.length + d.length;
      const scale = isOffset ? cScale : isPosition ? 1 : Math.max(Math.abs(v), 1e-12);
      maxChange = Math.max(maxChange, Math.abs(v - before[k]!) / scale);
    });
    const step = { iteration: it, chi2PerObservation: chi2 / N, maxRelativeChange: maxChange };
    history.push(step);
    opts.onIteration?.(step);
    if (maxChange < tol) {
      converged = true;
      break;
    }
  }
  return {
    stills: Array.from({ length: nStills }, (_, i) => ({
      still: i,
      scale: b[i]!,
      offset: Array.from(c.subarray(i * nOff, (i + 1) * nOff)),
    })),
    panelFactors: Array.from(d.subarray(0, Math.max(1, nPanels))),
    positionCoefficients: a,
    positionFrame: { x0Mm: x0, y0Mm: y0, scaleMm, degree: posDeg },
    history,
    converged,
    diffuseReference: ref,
    braggReference: bref,
  };
}

/** The model's multiplier M and offset C for one observation: I_scaled = (I - C) / M. */
export function scalingAt(
  r: ScalingResult,
  still: number,
  panel: number,
  qLengthPerA: number,
  xMm: number,
  yMm: number,
): { multiplier: number; offset: number } {
  const s = r.stills[still];
  if (!s) throw new ScalingError(`no scaling model for still ${still}`);
  const f = r.positionFrame;
  const pos = polyAt(
    r.positionCoefficients,
    monomials(f.degree),
    (xMm - f.x0Mm) / f.scaleMm,
    (yMm - f.y0Mm) / f.scaleMm,
  );
  let offset = 0,
    p = 1;
  for (const ck of s.offset) {
    offset += ck * p;
    p *= qLengthPerA;
  }
  return { multiplier: s.scale * (r.panelFactors[panel] ?? 1) * pos, offset };
}
