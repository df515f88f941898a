/**
 * Absolute scaling of merged total scattering (seed 001, Module 4.S.1): find the factor `scale`
 * that puts the relatively scaled diffuse map and the partiality-corrected Bragg intensities on
 * electron units per unit cell, then subtract the theoretical incoherent scattering.
 *
 * ## Conventions (all per unit cell, |q| = 1/d in 1/A, V = cell volume, V* = 1/V)
 *
 * Total scattering per cell as a density in reciprocal space:
 *
 *   J(q) = J_diffuse(q) + sum_h |F_h|^2 V* delta(q - h)
 *
 * (|sum_n exp(2 pi i q.R_n)|^2 = N V* sum_h delta(q - h) for N cells). J_diffuse is in electron
 * units per cell and includes the Compton scattering. The inputs, on one common relative scale:
 *
 * - diffuse voxel v at |q_v|:  scale * I_v          = J_diffuse(q_v)
 * - Bragg reflection h:        scale * f_B * I_h    = |F_h|^2   (f_B = `braggFactor`, default 1)
 *
 * i.e. a Bragg intensity is the reflection's integral over its reciprocal-lattice cell (volume V*)
 * divided by V*, and a voxel intensity is a density (its integral over the voxel divided by the
 * voxel volume). If the upstream Bragg integration uses another normalization, pass the known
 * ratio as `braggFactor`.
 *
 * ## Krogh-Moe / Norman sum rule
 *
 * Away from q = 0, the total scattering integrated over a large region Omega of reciprocal space
 * equals that of independent atoms: the interatomic cross terms oscillate and average out. With
 * T(q) = sum_j [f0_j(q)^2 + S_j(q)] (composition.ts):
 *
 *   scale * integral_Omega J_rel d^3q = integral_Omega T d^3q - C
 *
 * where C = 0 (Norman: Omega a shell at high |q|) or C = F(000)^2 / V (Krogh-Moe: Omega the
 * sphere 0 < |q| <= qMax; the deficit of the atoms' correlation hole, i.e. of the F(000) term that
 * the measurement excludes; F(000) = electrons per cell).
 *
 * The integral over Omega = [qMin, qMax] is split into `bins` shells of equal volume w_b. Within a
 * shell, voxels sample J_diffuse and reflections sample the Bragg part; both are averaged with
 * their weights (multiplicity of a merged asymmetric-unit sample; for voxels of unequal size also
 * their volume), so incomplete (ASU-only, masked) data estimate the full shell:
 *
 *   integral_shell J_rel d^3q = w_b (<I_diffuse>_b + f_B <I_Bragg>_b)
 *
 * The Bragg term is the shell's lattice sum V* sum_{h in shell} I_h written as a mean: the shell
 * holds w_b / V* lattice points (Wilson: <|F|^2> over a shell = Bragg density averaged over it).
 * With complete data this equals the plain sums V* sum_h I_h + sum_v dV_v I_v over the region.
 * Theory: integral_shell T 4 pi q^2 dq by 8-point Gauss-Legendre (Krogh-Moe: from 0 to qMax).
 * A shell without both diffuse and Bragg samples is left out of both sides (Norman) or is an
 * error (Krogh-Moe, which needs the whole sphere).
 *
 * Which region: measured on hard-sphere random-atom models (P1, 15 x 16 x 17 A, 160 C/N/O atoms
 * no closer than 1.3 A, B = 8 A^2; two random realizations: the one in
 * tests/scattering/absolute-scale.test.ts and a numpy prototype), Norman over |q| in [1, 2] gives
 * the scale to < 0.01% and over [0.5, 2] to <= 0.1%, but over [0.02, 1] it is 2.3-3.5% high and
 * over [0.02, 0.6] 8% high (the correlation hole lowers the total at |q| < ~1 1/A); Krogh-Moe over
 * (0, 2] is 0.2-0.7% low, over (0, 1] 1.3-2% low. So: Norman when the data reach |q| >~ 1 1/A
 * (d <~ 1 A), else Krogh-Moe from the lowest |q| measured; below qMin Krogh-Moe takes the
 * observed scattering as 0 apart from the excluded F(000) term. Real crystals (bonded distances,
 * solvent) differ from this model, so treat a scale from low-|q| data as good to a few percent.
 *
 * Uncertainty: `scaleSigma` is the propagation of the input sigmas only (counting statistics).
 * `details.binScatterSigma` (the standard error of the per-shell ratios T_b / observed_b) shows
 * systematic disagreement between shells and is usually the larger of the two.
 *
 * ## Applying it (seed 4.S.1 step 3)
 *
 *   I_abs = scale * I_rel - sum_j S_j(|q|)       sigma_abs = scale * sigma_rel
 *
 * The sigma neglects the uncertainty of `scale` and of the tabulated S (the seed's documented
 * simplification: both are small next to a voxel's counting error). Per-still models: with the
 * relative model I_corr = M_i I_rel + C_i (seed 3.S.4 merges (I_corr - C_i) / M_i), the absolute
 * model is M_i' = M_i / scale and C_i' = C_i + M_i' sum_j S_j(|q|), so (I_corr - C_i') / M_i' =
 * I_abs. (For a model that multiplies the observations, g_i = 1 / M_i, the absolute multiplier is
 * g_i * scale.)
 */

import { ScatteringError } from "./errors.js";
import {
  type InventoryInput,
  MAX_Q,
  electronCount,
  parseInventory,
  sumIncoherent,
  sumTotalIndependent,
} from "./composition.js";

/** Samples of (relatively scaled) intensity at |q|. */
export interface IntensitySamples {
  /** |q| = 1/d of each sample (1/A). */
  readonly q: ArrayLike<number>;
  /** Intensity; NaN marks a sample without data (skipped). */
  readonly intensity: ArrayLike<number>;
  /** Standard uncertainty of `intensity` (>= 0). */
  readonly sigma: ArrayLike<number>;
  /**
   * Relative weight (>= 0) of each sample in its shell's mean, default 1: the multiplicity of a
   * merged asymmetric-unit sample (number of symmetry mates incl. Friedel in the full sphere), and
   * for voxels of unequal size also their volume.
   */
  readonly weight?: ArrayLike<number> | undefined;
}

export type AbsoluteScaleMethod = "norman" | "krogh-moe";

export interface AbsoluteScaleInput {
  /** Merged relatively scaled diffuse voxels (VoxelData_relative: |q|_center, I, sigma). */
  readonly diffuse: IntensitySamples;
  /** Merged, partiality-corrected Bragg intensities on the same relative scale. */
  readonly bragg: IntensitySamples;
  /** Atoms per unit cell (including solvent and hydrogens). */
  readonly inventory: InventoryInput;
  /** Unit-cell volume (A^3). */
  readonly cellVolume: number;
  /** |q| range (1/A) of the integral; default: where both data sets have samples. */
  readonly qRange?: readonly [number, number] | undefined;
  /** Number of equal-volume shells, default 20. */
  readonly bins?: number | undefined;
  /** Sum rule variant, default "norman" (see the module doc for which to use). */
  readonly method?: AbsoluteScaleMethod | undefined;
  /** Known factor f_B with scale * f_B * I_Bragg = |F|^2, default 1. */
  readonly braggFactor?: number | undefined;
}

/** One shell of the integral. */
export interface AbsoluteScaleShell {
  readonly qLow: number;
  readonly qHigh: number;
  /** Shell volume (1/A^3). */
  readonly volume: number;
  readonly diffuseCount: number;
  readonly braggCount: number;
  /** Weighted mean relative diffuse intensity (NaN without samples) and its sigma. */
  readonly diffuseMean: number;
  readonly diffuseMeanSigma: number;
  /** Weighted mean relative Bragg intensity times braggFactor (NaN without samples), sigma. */
  readonly braggMean: number;
  readonly braggMeanSigma: number;
  /** Shell average of sum (f0^2 + S) (electron units per cell). */
  readonly theoryMean: number;
  /** Shell average of sum S. */
  readonly incoherentMean: number;
  /** theoryMean / (diffuseMean + braggMean): the scale this shell alone would give. */
  readonly ratio: number;
  /** Whether the shell entered the sums. */
  readonly used: boolean;
}

export interface AbsoluteScaleResult {
  /** Multiply relative intensities by this to get electron units per unit cell. */
  readonly scale: number;
  /** Uncertainty of `scale` propagated from the input sigmas. */
  readonly scaleSigma: number;
  /** |q| range actually integrated (1/A). */
  readonly qRange: readonly [number, number];
  readonly details: {
    readonly method: AbsoluteScaleMethod;
    readonly shells: readonly AbsoluteScaleShell[];
    readonly shellsUsed: number;
    /** Integral of sum (f0^2 + S) over the used shells (Krogh-Moe: over 0..qMax), e.u./cell / A^3. */
    readonly theoryIntegral: number;
    /** F(000)^2 / V subtracted from the theory (Krogh-Moe), else 0. */
    readonly densityCorrection: number;
    /** Integral of the relative total scattering over the used shells, and its sigma. */
    readonly observedIntegral: number;
    readonly observedIntegralSigma: number;
    /** Share of observedIntegral from the diffuse part. */
    readonly diffuseShare: number;
    /** Standard error of the volume-and-intensity-weighted per-shell ratios around `scale`. */
    readonly binScatterSigma: number;
    readonly electronsPerCell: number;
    readonly cellVolume: number;
    readonly diffuseSamplesUsed: number;
    readonly braggSamplesUsed: number;
    /** Samples skipped because their intensity is NaN. */
    readonly samplesWithoutData: number;
  };
}

// 8-point Gauss-Legendre on [-1, 1].
const GL_X = [
  -0.9602898564975363, -0.7966664774136267, -0.525532409916329, -0.1834346424956498,
  0.1834346424956498, 0.525532409916329, 0.7966664774136267, 0.9602898564975363,
];
const GL_W = [
  0.1012285362903763, 0.2223810344533745, 0.3137066458778873, 0.362683783378362, 0.362683783378362,
  0.3137066458778873, 0.2223810344533745, 0.1012285362903763,
];

interface CheckedSamples {
  q: Float64Array;
  i: Float64Array;
  s: Float64Array;
  w: Float64Array;
  skipped: number;
}

function checkSamples(name: string, x: IntensitySamples, factor: number): CheckedSamples {
  if (x === null || typeof x !== "object") {
    throw new ScatteringError(`expected { q, intensity, sigma }`, { field: name });
  }
  const n = x.q?.length;
  if (typeof n !== "number") throw new ScatteringError(`q is missing`, { field: name });
  for (const [k, arr] of [
    ["intensity", x.intensity],
    ["sigma", x.sigma],
    ["weight", x.weight],
  ] as const) {
    if (arr === undefined && k === "weight") continue;
    if (arr?.length !== n) {
      throw new ScatteringError(`${k} has ${arr?.length ?? "no"} entries, q has ${n}`, {
        field: `${name}.${k}`,
      });
    }
  }
  const q: number[] = [];
  const inten: number[] = [];
  const sig: number[] = [];
  const wt: number[] = [];
  let skipped = 0;
  for (let j = 0; j < n; j++) {
    const I = x.intensity[j] ?? NaN;
    if (Number.isNaN(I)) {
      skipped++;
      continue;
    }
    const qj = x.q[j] ?? NaN;
    const sj = x.sigma[j] ?? NaN;
    const wj = x.weight === undefined ? 1 : (x.weight[j] ?? NaN);
    if (!Number.isFinite(qj) || qj < 0) {
      throw new ScatteringError(`|q| must be finite and >= 0, got ${qj}`, {
        field: `${name}.q[${j}]`,
      });
    }
    if (!Number.isFinite(I)) {
      throw new ScatteringError(`intensity must be finite or NaN (no data), got ${I}`, {
        field: `${name}.intensity[${j}]`,
      });
    }
    if (!Number.isFinite(sj) || sj < 0) {
      throw new ScatteringError(`sigma must be finite and >= 0, got ${sj}`, {
        field: `${name}.sigma[${j}]`,
      });
    }
    if (!Number.isFinite(wj) || wj < 0) {
      throw new ScatteringError(`weight must be finite and >= 0, got ${wj}`, {
        field: `${name}.weight[${j}]`,
      });
    }
    if (wj === 0) continue;
    q.push(qj);
    inten.push(I * factor);
    sig.push(sj * factor);
    wt.push(wj);
  }
  return {
    q: Float64Array.from(q),
    i: Float64Array.from(inten),
    s: Float64Array.from(sig),
    w: Float64Array.from(wt),
    skipped,
  };
}

function range(a: Float64Array): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of a) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/** integral_a^b T(q) 4 pi q^2 dq, piecewise 8-point Gauss-Legendre over `pieces` equal parts. */
function theoryIntegral(
  inventory: InventoryInput,
  a: number,
  b: number,
  pieces: number,
): { total: number; incoherent: number } {
  if (b <= a) return { total: 0, incoherent: 0 };
  const qs = new Float64Array(8 * pieces);
  const ws = new Float64Array(8 * pieces);
  const h = (b - a) / pieces;
  for (let p = 0; p < pieces; p++) {
    const mid = a + (p + 0.5) * h;
    for (let k = 0; k < 8; k++) {
      const q = mid + 0.5 * h * (GL_X[k] ?? 0);
      qs[8 * p + k] = q;
      ws[8 * p + k] = 0.5 * h * (GL_W[k] ?? 0) * 4 * Math.PI * q * q;
    }
  }
  const t = sumTotalIndependent(inventory, qs);
  const s = sumIncoherent(inventory, qs);
  let total = 0;
  let inc = 0;
  for (let j = 0; j < qs.length; j++) {
    total += (ws[j] ?? 0) * (t[j] ?? 0);
    inc += (ws[j] ?? 0) * (s[j] ?? 0);
  }
  return { total, incoherent: inc };
}

interface ShellMeans {
  n: Int32Array;
  sw: Float64Array;
  swi: Float64Array;
  sw2s2: Float64Array;
}

function accumulate(
  x: CheckedSamples,
  lo: number,
  hi: number,
  nb: number,
): ShellMeans & { used: number } {
  const n = new Int32Array(nb);
  const sw = new Float64Array(nb);
  const swi = new Float64Array(nb);
  const sw2s2 = new Float64Array(nb);
  const lo3 = lo * lo * lo;
  const span = hi * hi * hi - lo3;
  let used = 0;
  for (let j = 0; j < x.q.length; j++) {
    const q = x.q[j] ?? 0;
    if (q < lo || q > hi) continue;
    const b = Math.min(nb - 1, Math.max(0, Math.floor(((q * q * q - lo3) / span) * nb)));
    const w = x.w[j] ?? 0;
    const s = x.s[j] ?? 0;
    n[b] = (n[b] ?? 0) + 1;
    sw[b] = (sw[b] ?? 0) + w;
    swi[b] = (swi[b] ?? 0) + w * (x.i[j] ?? 0);
    sw2s2[b] = (sw2s2[b] ?? 0) + w * w * s * s;
    used++;
  }
  return { n, sw, swi, sw2s2, used };
}

/**
 * Determines the absolute scale by the Krogh-Moe / Norman sum rule (module doc). Throws
 * ScatteringError for malformed input, an empty |q| overlap, or no usable shell.
 */
export function absoluteScale(input: AbsoluteScaleInput): AbsoluteScaleResult {
  const method: AbsoluteScaleMethod = input.method ?? "norman";
  if (method !== "norman" && method !== "krogh-moe") {
    throw new ScatteringError(`method must be "norman" or "krogh-moe", got ${String(method)}`, {
      field: "method",
    });
  }
  const V = input.cellVolume;
  if (typeof V !== "number" || !Number.isFinite(V) || V <= 0) {
    throw new ScatteringError(`cell volume must be a finite number > 0 A^3, got ${String(V)}`, {
      field: "cellVolume",
    });
  }
  const nb = input.bins ?? 20;
  if (!Number.isInteger(nb) || nb < 1 || nb > 10000) {
    throw new ScatteringError(`bins must be an integer in 1..10000, got ${nb}`, { field: "bins" });
  }
  const fB = input.braggFactor ?? 1;
  if (!Number.isFinite(fB) || fB <= 0) {
    throw new ScatteringError(`braggFactor must be a finite number > 0, got ${fB}`, {
      field: "braggFactor",
    });
  }
  const inventory = parseInventory(input.inventory);
  const diffuse = checkSamples("diffuse", input.diffuse, 1);
  const bragg = checkSamples("bragg", input.bragg, fB);
  if (diffuse.q.length === 0)
    throw new ScatteringError(`no diffuse samples with data`, { field: "diffuse" });
  if (bragg.q.length === 0)
    throw new ScatteringError(`no Bragg samples with data`, { field: "bragg" });

  let lo: number;
  let hi: number;
  if (input.qRange !== undefined) {
    [lo, hi] = input.qRange;
    if (!Number.isFinite(lo) || !Number.isFinite(hi) || lo < 0 || hi <= lo || hi > MAX_Q) {
      throw new ScatteringError(`need 0 <= qMin < qMax <= ${MAX_Q} 1/A, got [${lo}, ${hi}]`, {
        field: "qRange",
      });
    }
  } else {
    const [dlo, dhi] = range(diffuse.q);
    const [blo, bhi] = range(bragg.q);
    lo = Math.max(dlo, blo);
    hi = Math.min(dhi, bhi);
    if (!(hi > lo)) {
      throw new ScatteringError(
        `diffuse |q| in [${dlo}, ${dhi}] and Bragg |q| in [${blo}, ${bhi}] do not overlap`,
        { field: "qRange" },
      );
    }
    if (hi > MAX_Q) hi = MAX_Q;
  }

  const d = accumulate(diffuse, lo, hi, nb);
  const b = accumulate(bragg, lo, hi, nb);
  const shells: AbsoluteScaleShell[] = [];
  const lo3 = lo * lo * lo;
  const span = hi * hi * hi - lo3;
  let T = 0;
  let O = 0;
  let O2 = 0;
  let Od = 0;
  let used = 0;
  const missing: string[] = [];
  const ratios: { r: number; u: number }[] = [];
  for (let k = 0; k < nb; k++) {
    const qa = Math.cbrt(lo3 + (span * k) / nb);
    const qb = Math.cbrt(lo3 + (span * (k + 1)) / nb);
    const vol = ((4 * Math.PI) / 3) * (qb * qb * qb - qa * qa * qa);
    const th = theoryIntegral(inventory, qa, qb, 1);
    const dsw = d.sw[k] ?? 0;
    const bsw = b.sw[k] ?? 0;
    const dMean = dsw > 0 ? (d.swi[k] ?? 0) / dsw : NaN;
    const bMean = bsw > 0 ? (b.swi[k] ?? 0) / bsw : NaN;
    const dSig = dsw > 0 ? Math.sqrt(d.sw2s2[k] ?? 0) / dsw : NaN;
    const bSig = bsw > 0 ? Math.sqrt(b.sw2s2[k] ?? 0) / bsw : NaN;
    const ok = dsw > 0 && bsw > 0;
    const obs = vol * (dMean + bMean);
    if (ok) {
      T += th.total;
      O += obs;
      Od += vol * dMean;
      O2 += vol * vol * (dSig * dSig + bSig * bSig);
      used++;
      ratios.push({ r: th.total / obs, u: obs });
    } else {
      missing.push(`[${qa.toPrecision(4)}, ${qb.toPrecision(4)}]`);
    }
    shells.push({
      qLow: qa,
      qHigh: qb,
      volume: vol,
      diffuseCount: d.n[k] ?? 0,
      braggCount: b.n[k] ?? 0,
      diffuseMean: dMean,
      diffuseMeanSigma: dSig,
      braggMean: bMean,
      braggMeanSigma: bSig,
      theoryMean: th.total / vol,
      incoherentMean: th.incoherent / vol,
      ratio: ok ? th.total / obs : NaN,
      used: ok,
    });
  }
  if (used === 0) {
    throw new ScatteringError(`no |q| shell in [${lo}, ${hi}] has both diffuse and Bragg samples`, {
      field: "qRange",
    });
  }
  if (method === "krogh-moe" && missing.length > 0) {
    throw new ScatteringError(
      `Krogh-Moe needs every shell of (0, ${hi}] observed, but ${missing.length} shell(s) lack ` +
        `diffuse or Bragg samples: ${missing.slice(0, 5).join(", ")}` +
        `${missing.length > 5 ? ", ..." : ""}; use fewer bins or a narrower qRange`,
      { field: "qRange" },
    );
  }
  const F000 = electronCount(inventory);
  let correction = 0;
  if (method === "krogh-moe") {
    // The sphere below qMin: no observed scattering but the excluded F(000) term.
    T += theoryIntegral(inventory, 0, lo, 4).total;
    correction = (F000 * F000) / V;
  }
  if (!(O > 0)) {
    throw new ScatteringError(`the observed total scattering integrates to ${O} (must be > 0)`, {
      field: "diffuse.intensity",
    });
  }
  const scale = (T - correction) / O;
  if (!(scale > 0)) {
    throw new ScatteringError(
      `Krogh-Moe theory integral ${T} minus F(000)^2/V = ${correction} is not positive: ` +
        `qMax ${hi} 1/A is too small for this cell`,
      { field: "qRange" },
    );
  }
  const sigmaO = Math.sqrt(O2);
  let su = 0;
  let su2 = 0;
  let sur = 0;
  for (const { r, u } of ratios) {
    su += u;
    su2 += u * u;
    sur += u * r;
  }
  const rMean = sur / su;
  let varR = 0;
  for (const { r, u } of ratios) varR += u * (r - rMean) * (r - rMean);
  varR /= su;
  const nEff = (su * su) / su2;
  return {
    scale,
    scaleSigma: (scale * sigmaO) / O,
    qRange: [lo, hi],
    details: {
      method,
      shells,
      shellsUsed: used,
      theoryIntegral: T,
      densityCorrection: correction,
      observedIntegral: O,
      observedIntegralSigma: sigmaO,
      diffuseShare: Od / O,
      binScatterSigma: used > 1 ? Math.sqrt(varR / nEff) : NaN,
      electronsPerCell: F000,
      cellVolume: V,
      diffuseSamplesUsed: d.used,
      braggSamplesUsed: b.used,
      samplesWithoutData: diffuse.skipped + bragg.skipped,
    },
  };
}

function scaleOf(scale: number | { readonly scale: number }): number {
  const k = typeof scale === "number" ? scale : scale?.scale;
  if (typeof k !== "number" || !Number.isFinite(k) || k <= 0) {
    throw new ScatteringError(`scale must be a finite number > 0, got ${String(k)}`, {
      field: "scale",
    });
  }
  return k;
}

function checkLengths(name: string, arrays: Record<string, ArrayLike<number>>): number {
  let n: number | undefined;
  for (const [k, a] of Object.entries(arrays)) {
    if (a === undefined || a === null || typeof a.length !== "number") {
      throw new ScatteringError(`${k} is missing`, { field: `${name}.${k}` });
    }
    if (n === undefined) n = a.length;
    else if (a.length !== n) {
      throw new ScatteringError(`${k} has ${a.length} entries, expected ${n}`, {
        field: `${name}.${k}`,
      });
    }
  }
  return n ?? 0;
}

/** VoxelData_absolute columns. */
export interface AbsoluteVoxels {
  /** scale * I_rel - sum S(|q|): diffuse intensity in electron units per cell, Compton removed. */
  readonly intensity: Float64Array;
  /** scale * sigma_rel (see the module doc for what it neglects). */
  readonly sigma: Float64Array;
  /** The subtracted sum S(|q|) per voxel. */
  readonly incoherent: Float64Array;
}

/**
 * Puts relative voxels on the absolute scale and subtracts the incoherent scattering of the
 * cell: I_abs = scale I_rel - sum_j S_j(|q|), sigma_abs = scale sigma_rel. NaN intensities (empty
 * voxels) stay NaN.
 */
export function applyAbsoluteScale(
  voxels: {
    readonly q: ArrayLike<number>;
    readonly intensity: ArrayLike<number>;
    readonly sigma: ArrayLike<number>;
  },
  scale: number | { readonly scale: number },
  inventory: InventoryInput,
): AbsoluteVoxels {
  const k = scaleOf(scale);
  const n = checkLengths("voxels", {
    q: voxels.q,
    intensity: voxels.intensity,
    sigma: voxels.sigma,
  });
  const incoherent = sumIncoherent(parseInventory(inventory), voxels.q);
  const intensity = new Float64Array(n);
  const sigma = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    intensity[j] = k * (voxels.intensity[j] ?? NaN) - (incoherent[j] ?? 0);
    sigma[j] = k * (voxels.sigma[j] ?? NaN);
  }
  return { intensity, sigma, incoherent };
}

/** A per-observation scaling model, I_corr = multiplier * I_rel + offset (seed 3.S.4). */
export interface StillModelTerms {
  /** M_i evaluated per observation. */
  readonly multiplier: ArrayLike<number>;
  /** C_i evaluated per observation. */
  readonly offset: ArrayLike<number>;
  /** |q| of each observation (1/A). */
  readonly q: ArrayLike<number>;
}

/**
 * ScalingModel_final terms: M' = M / scale, C' = C + M' sum_j S_j(|q|), so that
 * (I_corr - C') / M' = scale (I_corr - C) / M - sum_j S_j(|q|) = I_abs.
 */
export function absoluteStillModel(
  model: StillModelTerms,
  scale: number | { readonly scale: number },
  inventory: InventoryInput,
): { multiplier: Float64Array; offset: Float64Array } {
  const k = scaleOf(scale);
  const n = checkLengths("model", {
    multiplier: model.multiplier,
    offset: model.offset,
    q: model.q,
  });
  const incoherent = sumIncoherent(parseInventory(inventory), model.q);
  const multiplier = new Float64Array(n);
  const offset = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const m = model.multiplier[j] ?? NaN;
    if (!Number.isFinite(m) || m === 0) {
      throw new ScatteringError(`multiplier must be finite and non-zero, got ${m}`, {
        field: `model.multiplier[${j}]`,
      });
    }
    const mAbs = m / k;
    multiplier[j] = mAbs;
    offset[j] = (model.offset[j] ?? NaN) + mAbs * (incoherent[j] ?? 0);
  }
  return { multiplier, offset };
}
