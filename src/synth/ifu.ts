/**
 * A synthetic IFU problem for CubeFit (seed 003) with known truth: templates on a uniform
 * log-lambda grid (populations from metallicity x age axes), per-spaxel LOSVDs of several
 * kinematic components (Gaussians with their own mean velocity and dispersion, varying across
 * the field), sparse non-negative true weights x_true[c * P + p], a coarser observed grid
 * inside the template span with a guard wider than the LOSVD kernel, and the observed cube
 * y = A x_true (+ Gaussian noise of known sigma), a pixel mask and an image-plane pixel map.
 *
 * Exactness. y is computed from the float32 models the HyperCube stores (ops.ts
 * TileComputer on the float32 templates, LOSVDs and R_T a file holds), accumulated in float64:
 * without noise, y[s] = sum_{c,p} models[s, c, p, :] x_true[c * P + p] holds to float64
 * rounding for a built file, so a solver can recover x_true exactly.
 *
 * Deterministic: the same options give the same arrays on every machine (src/synth/random.ts).
 */
import type { CubeFitInputs } from "../cubefit/manager.js";
import { C_KMS } from "../cubefit/layout.js";
import { RebinColumns, rebinOperator, TileComputer, type TileContextData } from "../cubefit/ops.js";
import { CubeFitError, requireInt } from "../cubefit/errors.js";
import { Rng } from "./random.js";

export interface SyntheticIfuOptions {
  seed?: number;
  /** S spaxels. Default 12. */
  spaxels?: number;
  /** C kinematic components. Default 3. */
  components?: number;
  /** Population axes (P = metallicities x ages). Defaults 2 x 4. */
  metallicities?: number;
  ages?: number;
  /** T template pixels. Default 600. */
  templatePixels?: number;
  /** L observed pixels. Default 200. */
  observedPixels?: number;
  /** Observed pixel width in template pixels (coarser: > 1). Default 2.5. */
  observedBinRatio?: number;
  /** Template pixel width, km/s (dlog = velscale / c). Default 25. */
  templateVelscaleKms?: number;
  /** V velocity bins (odd: one at 0) and their width, km/s. Defaults 41 and 30. */
  velocityBins?: number;
  velocityStepKms?: number;
  /** Wavelength of the first template pixel, Angstrom. Default 4800. */
  lambda0?: number;
  /** Gaussian noise sigma added to y (0: none). Default 0. */
  noiseSigma?: number;
  /** Masked observed pixels (a band, as a sky line would make). Default 8. */
  maskedPixels?: number;
  /** Image pixels per spaxel for /XPix, /YPix, /BinNum (0: none). Default 2. */
  pixelsPerSpaxel?: number;
  /** Fraction of x_true that is non-zero (at least one per component). Default 0.4. */
  nonzeroFraction?: number;
  /** Also return the models (S, C, P, L) float32. Default false. */
  keepModels?: boolean;
}

export interface SyntheticIfu {
  /** Ready for populateCubeFile(file, ifu.inputs, { templateAxes: ifu.templateAxes, ... }). */
  inputs: CubeFitInputs & {
    templates: { data: Float32Array; shape: number[] };
    losvd: { data: Float32Array; shape: number[] };
    datacube: { data: Float64Array; shape: number[] };
  };
  templateAxes: string[];
  templateAxisValues: Record<string, number[]>;
  S: number;
  C: number;
  P: number;
  T: number;
  L: number;
  V: number;
  /** (C * P,) true weights, >= 0. */
  xTrue: Float64Array;
  /** (S, L) the noise-free cube A x_true; inputs.datacube holds it plus the noise. */
  yClean: Float64Array;
  noiseSigma: number;
  /** Per spaxel and component: the LOSVD's mean velocity and dispersion, km/s. */
  kinematics: { mean: Float64Array; sigma: Float64Array };
  /** (S, C, P, L) models when keepModels. */
  models?: Float32Array;
}

/** Rest-frame absorption features as fractions of the span, with which axis drives them. */
const LINES: { at: number; depth: number; widthPx: number; kind: "metal" | "balmer" }[] = [
  { at: 0.12, depth: 0.35, widthPx: 1.6, kind: "balmer" },
  { at: 0.21, depth: 0.18, widthPx: 1.2, kind: "metal" },
  { at: 0.3, depth: 0.25, widthPx: 2.0, kind: "metal" },
  { at: 0.41, depth: 0.12, widthPx: 1.0, kind: "metal" },
  { at: 0.5, depth: 0.3, widthPx: 1.8, kind: "balmer" },
  { at: 0.58, depth: 0.22, widthPx: 1.4, kind: "metal" },
  { at: 0.67, depth: 0.15, widthPx: 1.1, kind: "metal" },
  { at: 0.76, depth: 0.28, widthPx: 2.4, kind: "metal" },
  { at: 0.85, depth: 0.2, widthPx: 1.5, kind: "balmer" },
  { at: 0.93, depth: 0.1, widthPx: 1.3, kind: "metal" },
];

/** Kinematic components: mean velocity at the field's edge (rotation), dispersion, km/s. */
const COMPONENTS = [
  { vEdge: 140, sigma: 55 },
  { vEdge: 15, sigma: 150 },
  { vEdge: -100, sigma: 75 },
];

export function syntheticIfu(opts: SyntheticIfuOptions = {}): SyntheticIfu {
  const seed = opts.seed ?? 1;
  const S = opts.spaxels ?? 12;
  const C = opts.components ?? 3;
  const nZ = opts.metallicities ?? 2;
  const nA = opts.ages ?? 4;
  const T = opts.templatePixels ?? 600;
  const L = opts.observedPixels ?? 200;
  const V = opts.velocityBins ?? 41;
  for (const [k, v] of Object.entries({ S, C, nZ, nA, V })) requireInt(k, v, 1);
  requireInt("templatePixels", T, 8);
  requireInt("observedPixels", L, 2);
  const ratio = opts.observedBinRatio ?? 2.5;
  const velscale = opts.templateVelscaleKms ?? 25;
  const dv = opts.velocityStepKms ?? 30;
  const P = nZ * nA;
  const rng = new Rng(seed, 3003);

  // Grids. The observed grid is centred in the template span (shifted by 0.3 template pixel
  // so that few bin edges coincide): the guard on each side is (T - L * ratio) / 2 pixels.
  const dlog = velscale / C_KMS;
  const ln0 = Math.log(opts.lambda0 ?? 4800);
  const temPix = Float64Array.from({ length: T }, (_, t) => ln0 + t * dlog);
  const guardPx = (T - L * ratio) / 2;
  const vEdgePx = ((V / 2) * dv) / velscale;
  if (guardPx - 0.3 < vEdgePx + 1) {
    throw new CubeFitError(
      "templatePixels",
      `${T} template pixels leave a guard of ${guardPx} px around ${L} observed pixels of ${ratio} px, the LOSVD kernel reaches ${vEdgePx.toFixed(1)} px`,
    );
  }
  const obsLo = temPix[0]! - dlog / 2 + (guardPx + 0.3) * dlog;
  const obsPix = Float64Array.from({ length: L }, (_, l) => obsLo + (l + 0.5) * ratio * dlog);
  const velPix = Float64Array.from({ length: V }, (_, j) => (j - (V - 1) / 2) * dv);

  // Templates (T, nZ, nAge): a sloped continuum (redder with age) with absorption lines whose
  // depths grow with metallicity (metal lines) or shrink with age (Balmer lines), each
  // population slightly perturbed so that no two are alike.
  const templates = new Float32Array(T * P);
  const zValues = Array.from({ length: nZ }, (_, i) => (nZ === 1 ? 0 : -1 + (1.3 * i) / (nZ - 1)));
  const ageValues = Array.from({ length: nA }, (_, i) => (nA === 1 ? 5 : 1 + (12 * i) / (nA - 1)));
  for (let iz = 0; iz < nZ; iz++)
    for (let ia = 0; ia < nA; ia++) {
      const p = iz * nA + ia;
      const zf = nZ === 1 ? 0.5 : iz / (nZ - 1);
      const af = nA === 1 ? 0.5 : ia / (nA - 1);
      const slope = -0.1 + 0.5 * af;
      const lines = LINES.map((ln) => ({
        centre: ln.at * (T - 1) + (rng.next() - 0.5) * 0.4,
        depth:
          ln.depth * (ln.kind === "metal" ? 0.4 + 1.2 * zf : 1.4 - af) * (0.85 + 0.3 * rng.next()),
        width: ln.widthPx * (0.9 + 0.2 * rng.next()),
      }));
      for (let t = 0; t < T; t++) {
        const x = t / (T - 1);
        let f = 1 + slope * (x - 0.5) + 0.05 * Math.sin(6 * x + p);
        for (const ln of lines)
          f *= 1 - ln.depth * Math.exp(-0.5 * ((t - ln.centre) / ln.width) ** 2);
        templates[t * P + p] = f;
      }
    }

  // LOSVDs (S, V, C): Gaussians, rotating across a 1-D field x in [-1, 1], unit mass.
  const losvd = new Float32Array(S * V * C);
  const mean = new Float64Array(S * C);
  const sigma = new Float64Array(S * C);
  for (let s = 0; s < S; s++) {
    const x = S === 1 ? 0 : (2 * s) / (S - 1) - 1;
    for (let c = 0; c < C; c++) {
      const k = COMPONENTS[c % COMPONENTS.length]!;
      const scale = 1 + 0.15 * Math.floor(c / COMPONENTS.length);
      const mu = k.vEdge * scale * Math.tanh(2 * x);
      const sg = k.sigma * scale * (1 + 0.25 * (1 - Math.abs(x)));
      mean[s * C + c] = mu;
      sigma[s * C + c] = sg;
      let sum = 0;
      const h = velPix.map((v) => Math.exp(-0.5 * ((v - mu) / sg) ** 2));
      for (const v of h) sum += v;
      for (let j = 0; j < V; j++) losvd[(s * V + j) * C + c] = h[j]! / sum;
    }
  }

  // Sparse non-negative weights, at least one per component.
  const frac = opts.nonzeroFraction ?? 0.4;
  const xTrue = new Float64Array(C * P);
  for (let c = 0; c < C; c++) {
    const weight = 1 / (1 + c);
    for (let p = 0; p < P; p++)
      if (rng.next() < frac) xTrue[c * P + p] = weight * (0.2 + 0.8 * rng.next());
    if (!xTrue.subarray(c * P, (c + 1) * P).some((v) => v > 0))
      xTrue[c * P + Math.floor(rng.next() * P)] = weight;
  }

  // y = A x_true from the float32 models a build stores.
  const templatesPT = new Float32Array(P * T);
  for (let t = 0; t < T; t++)
    for (let p = 0; p < P; p++) templatesPT[p * T + t] = templates[t * P + p]!;
  const ctx: TileContextData = {
    T,
    L,
    P,
    V,
    templates: templatesPT,
    rebin: RebinColumns.fromOperator(rebinOperator(temPix, obsPix)).toData(),
    dlogTem: (temPix[T - 1]! - temPix[0]!) / (T - 1),
    velPix,
  };
  const computer = new TileComputer(ctx);
  const yClean = new Float64Array(S * L);
  const models = opts.keepModels ? new Float32Array(S * C * P * L) : undefined;
  for (let s = 0; s < S; s++) {
    const m = computer.compute(
      { s0: s, s1: s + 1, c0: 0, c1: C, p0: 0, p1: P },
      losvd.subarray(s * V * C, (s + 1) * V * C),
    );
    models?.set(m, s * C * P * L);
    for (let cp = 0; cp < C * P; cp++) {
      const x = xTrue[cp]!;
      if (x === 0) continue;
      for (let l = 0; l < L; l++) yClean[s * L + l] = yClean[s * L + l]! + m[cp * L + l]! * x;
    }
  }
  const noiseSigma = opts.noiseSigma ?? 0;
  const y = Float64Array.from(yClean);
  if (noiseSigma > 0) for (let i = 0; i < y.length; i++) y[i] = y[i]! + noiseSigma * rng.normal();

  // A masked band (a sky line) in the red half.
  const nMask = Math.min(opts.maskedPixels ?? 8, L - 1);
  const mask = new Uint8Array(L).fill(1);
  const m0 = Math.floor(L * 0.62);
  for (let l = m0; l < Math.min(L, m0 + nMask); l++) mask[l] = 0;

  const inputs: SyntheticIfu["inputs"] = {
    temPix,
    obsPix,
    velPix,
    losvd: { data: losvd, shape: [S, V, C] },
    datacube: { data: y, shape: [S, L] },
    templates: { data: templates, shape: [T, nZ, nA] },
    mask,
  };
  // Image pixels: spaxel s is a run of k pixels on a row of the image.
  const k = opts.pixelsPerSpaxel ?? 2;
  if (k > 0) {
    const n = S * k;
    const width = Math.ceil(Math.sqrt(n));
    inputs.xpix = Float64Array.from({ length: n }, (_, i) => i % width);
    inputs.ypix = Float64Array.from({ length: n }, (_, i) => Math.floor(i / width));
    inputs.binnum = Int32Array.from({ length: n }, (_, i) => Math.floor(i / k));
  }
  return {
    inputs,
    templateAxes: ["metallicity", "age"],
    templateAxisValues: { metallicity: zValues, age: ageValues },
    S,
    C,
    P,
    T,
    L,
    V,
    xTrue,
    yClean,
    noiseSigma,
    kinematics: { mean, sigma },
    ...(models ? { models } : {}),
  };
}
