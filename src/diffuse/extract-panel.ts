/**
 * The per-panel kernel of plan Modules 2.S.1 + 2.S.2: from one panel of one still's raw image,
 * the usable pixels' q-vectors and corrected diffuse intensities with uncertainties.
 *
 * For every pixel (i = fast, j = slow) on the pixelStep grid (i, j = 0, N, 2N, ...) that the
 * mask marks usable (nonzero) and whose raw value is not NaN:
 *
 *   p        = dxtbx lab coordinate of the pixel CENTRE (i + 0.5, j + 0.5), mm, parallax-corrected
 *              when dxtbx would (see `geometry/panel.ts`)
 *   s1       = unit(p) / lambda,  s0 = -directionToSource / lambda,  q = s1 - s0 (per A, no 2 pi)
 *   total    = SA_mult * Pol_mult * Eff_mult * Att_mult * L_mult   (see `geometry/corrections.ts`)
 *   I        = (raw - bkg) / t * total
 *   Var      = (max(raw, 0) / gain + Var_bkg) / t^2 * total^2,   sigma = sqrt(Var)
 *
 * The Poisson term is the plan's raw/gain. Negative raw values (pedestal-subtracted noise) are
 * kept, with their intensity, but contribute max(raw, 0) = 0 to the Poisson variance. The gain
 * enters only the variance (the plan's convention: raw is in the units the intensity is wanted
 * in). Correction factors are taken as exact (their uncertainties are not propagated).
 * Then the filters: d = 1/|q| must lie in [dMinA, dMaxA] and I in [intensityMin, intensityMax]
 * (each bound optional, inclusive).
 *
 * Units: with SA_mult = 1/Omega, intensity and sigma are (raw units) per second per steradian.
 *
 * Speed: one pass over the panel after a cheap counting pass (mask and NaN) that sizes the output
 * exactly (or none, into a reusable `ExtractWorkspace`); per-column pieces of the lab position
 * are precomputed; no per-pixel allocation or call (exp is inlined, see `expInline`).
 */
import {
  airMuForOptions,
  sensorMuForPanel,
  type CorrectionOptions,
} from "../geometry/corrections.js";
import type { Beam, Panel } from "../geometry/models.js";
import { panelUsesParallax } from "../geometry/panel.js";
import { DiffuseInputError } from "./errors.js";

export type BackgroundOption =
  /** A constant raw-unit background for every pixel, with an optional variance (default 0). */
  | { constant: number; variance?: number }
  /** Per-pixel background and its variance, each nSlow * nFast, slow-major like the raw data. */
  | { map: Float64Array; variance: Float64Array };

export interface ExtractPanelOptions {
  /** Index of the panel in the detector (stored in the `panel` column; < 65536). */
  panelIndex: number;
  /** Identifier of the still (stored as `stillId` on the result). */
  stillId: number;
  /** Exposure time of the still, seconds (> 0). */
  exposureTimeS: number;
  /** Detector gain (> 0): raw / gain is the Poisson variance of a raw value. */
  gain: number;
  /** Process every Nth pixel along fast and slow (default 1). */
  pixelStep?: number;
  background?: BackgroundOption;
  corrections?: CorrectionOptions;
  /** Keep pixels with d-spacing >= dMinA (Angstrom). */
  dMinA?: number;
  /** Keep pixels with d-spacing <= dMaxA (Angstrom). */
  dMaxA?: number;
  /** Keep pixels with corrected intensity >= intensityMin. */
  intensityMin?: number;
  /** Keep pixels with corrected intensity <= intensityMax. */
  intensityMax?: number;
  /** Fill the per-pixel multiplier columns (default true); false leaves them empty (length 0). */
  multipliers?: boolean;
  /**
   * Write the columns into this workspace's buffers instead of fresh arrays: the result's columns
   * are then VIEWS that the next call with the same workspace overwrites. For loops over many
   * stills that consume (copy, write) each result at once; saves allocating and first-touching
   * ~100 bytes per pixel per call. One workspace per panel when results of several panels must
   * live at the same time.
   */
  workspace?: ExtractWorkspace;
}

/** Reusable, growing output buffers for `extractPanel` (see `ExtractPanelOptions.workspace`). */
export class ExtractWorkspace {
  private readonly f64s = new Map<string, Float64Array>();
  private readonly u32s = new Map<string, Uint32Array>();
  private readonly u16s = new Map<string, Uint16Array>();

  float64(name: string, len: number): Float64Array {
    return grow(this.f64s, name, len, (n) => new Float64Array(n));
  }
  uint32(name: string, len: number): Uint32Array {
    return grow(this.u32s, name, len, (n) => new Uint32Array(n));
  }
  uint16(name: string, len: number): Uint16Array {
    return grow(this.u16s, name, len, (n) => new Uint16Array(n));
  }
}

function grow<T extends { length: number }>(
  m: Map<string, T>,
  name: string,
  len: number,
  make: (n: number) => T,
): T {
  const have = m.get(name);
  if (have !== undefined && have.length >= len) return have;
  const a = make(Math.max(len, Math.ceil((have?.length ?? 0) * 1.25)));
  m.set(name, a);
  return a;
}

/** One row per kept pixel (CorrectedDiffusePixelList of the plan, as columns). */
export interface PanelColumns {
  count: number;
  stillId: number;
  /** q = s1 - s0 in the lab frame, per Angstrom, (x, y, z) interleaved: length 3 * count. */
  qLab: Float64Array;
  qLengthPerA: Float64Array;
  /** Corrected intensity: raw units per second per steradian (with the default corrections). */
  intensity: Float64Array;
  sigma: Float64Array;
  panel: Uint16Array;
  /** Pixel indices (fast, slow) in the panel. */
  fast: Uint32Array;
  slow: Uint32Array;
  /** The multipliers (empty when `multipliers: false`); totalMult is their product. */
  solidAngleMult: Float64Array;
  polarizationMult: Float64Array;
  efficiencyMult: Float64Array;
  airMult: Float64Array;
  lorentzMult: Float64Array;
  totalMult: Float64Array;
}

/** Alias: the plan's name for the per-still list these columns make up. */
export type DiffusePixelColumns = PanelColumns;

interface Validated {
  nFast: number;
  nSlow: number;
  step: number;
  invT: number;
  invGain: number;
  bgConst: number;
  bgVarConst: number;
  bgMap: Float64Array | null;
  bgVarMap: Float64Array | null;
  dMin: number;
  dMax: number;
  iMin: number;
  iMax: number;
  muSensor: number;
  muAir: number;
}

function validate(
  panel: Panel,
  beam: Beam,
  raw: Float64Array,
  mask: Uint8Array,
  opts: ExtractPanelOptions,
): Validated {
  const ctx = (field: string) => ({ field, panelIndex: opts.panelIndex, stillId: opts.stillId });
  const fail = (field: string, problem: string): never => {
    throw new DiffuseInputError(problem, ctx(field));
  };
  const [nFast, nSlow] = panel.imageSize;
  const nPix = nFast * nSlow;
  const sizeText = `panel "${panel.name}" is ${nFast} (fast) x ${nSlow} (slow) = ${nPix} pixels`;
  if (!Number.isInteger(opts.panelIndex) || opts.panelIndex < 0 || opts.panelIndex > 0xffff) {
    fail("panelIndex", `must be an integer in [0, 65535], got ${opts.panelIndex}`);
  }
  if (raw.length !== nPix) fail("raw", `has ${raw.length} values but ${sizeText}`);
  if (mask.length !== nPix) fail("mask", `has ${mask.length} values but ${sizeText}`);
  if (!(opts.exposureTimeS > 0) || !Number.isFinite(opts.exposureTimeS)) {
    fail("exposureTimeS", `must be a positive finite number of seconds, got ${opts.exposureTimeS}`);
  }
  if (!(opts.gain > 0) || !Number.isFinite(opts.gain))
    fail("gain", `must be positive and finite, got ${opts.gain}`);
  const step = opts.pixelStep ?? 1;
  if (!Number.isInteger(step) || step < 1)
    fail("pixelStep", `must be a positive integer, got ${step}`);
  if (!(beam.wavelengthA > 0) || !Number.isFinite(beam.wavelengthA)) {
    fail("beam.wavelengthA", `must be positive and finite, got ${beam.wavelengthA}`);
  }
  const [dx, dy, dz] = beam.directionToSource;
  if (!(Math.hypot(dx, dy, dz) > 0)) fail("beam.directionToSource", "is a zero vector");
  const [fx, fy, fz] = panel.fastAxis;
  const [sx, sy, sz] = panel.slowAxis;
  const [ox, oy, oz] = panel.originMm;
  const nDotO = (fy * sz - fz * sy) * ox + (fz * sx - fx * sz) * oy + (fx * sy - fy * sx) * oz;
  if (!(Math.abs(nDotO) > 0) || !Number.isFinite(nDotO)) {
    fail(
      "panel",
      `the plane of panel "${panel.name}" passes through the sample (or its axes are parallel)`,
    );
  }
  if (!(panel.pixelSizeMm[0] > 0 && panel.pixelSizeMm[1] > 0)) {
    fail("panel.pixelSizeMm", `must be positive, got [${panel.pixelSizeMm.join(", ")}]`);
  }

  let bgConst = 0;
  let bgVarConst = 0;
  let bgMap: Float64Array | null = null;
  let bgVarMap: Float64Array | null = null;
  const bg = opts.background;
  if (bg !== undefined) {
    if ("map" in bg) {
      if (bg.map.length !== nPix)
        fail("background.map", `has ${bg.map.length} values but ${sizeText}`);
      if (bg.variance.length !== nPix) {
        fail("background.variance", `has ${bg.variance.length} values but ${sizeText}`);
      }
      bgMap = bg.map;
      bgVarMap = bg.variance;
    } else {
      if (!Number.isFinite(bg.constant))
        fail("background.constant", `must be finite, got ${bg.constant}`);
      bgConst = bg.constant;
      bgVarConst = bg.variance ?? 0;
      if (!(bgVarConst >= 0) || !Number.isFinite(bgVarConst)) {
        fail("background.variance", `must be finite and >= 0, got ${bgVarConst}`);
      }
    }
  }

  const dMin = opts.dMinA ?? 0;
  const dMax = opts.dMaxA ?? Infinity;
  if (!(dMin >= 0)) fail("dMinA", `must be >= 0, got ${opts.dMinA}`);
  if (!(dMax > 0)) fail("dMaxA", `must be > 0, got ${opts.dMaxA}`);
  if (dMin > dMax) fail("dMinA", `(${dMin} A) is larger than dMaxA (${dMax} A)`);
  const iMin = opts.intensityMin ?? -Infinity;
  const iMax = opts.intensityMax ?? Infinity;
  if (Number.isNaN(iMin) || Number.isNaN(iMax))
    fail("intensityMin", "intensity bounds must not be NaN");
  if (iMin > iMax) fail("intensityMin", `(${iMin}) is larger than intensityMax (${iMax})`);

  const corr = opts.corrections ?? {};
  let muSensor = 0;
  if (corr.efficiency !== false) {
    if (!(panel.thicknessMm > 0)) {
      fail(
        "corrections.efficiency",
        `panel "${panel.name}" has sensor thickness ${panel.thicknessMm} mm; set the thickness or pass corrections.efficiency: false`,
      );
    }
    try {
      muSensor = sensorMuForPanel(panel, beam.wavelengthA);
    } catch (e) {
      fail(
        "corrections.efficiency",
        `${e instanceof Error ? e.message : String(e)}; set panel muPerMm or pass corrections.efficiency: false`,
      );
    }
  }
  let muAir = 0;
  try {
    muAir = airMuForOptions(corr.air, beam.wavelengthA);
  } catch (e) {
    fail("corrections.air", e instanceof Error ? e.message : String(e));
  }
  if (corr.lorentz !== undefined && corr.lorentz !== "none" && corr.lorentz !== "sin2theta") {
    fail("corrections.lorentz", `must be "none" or "sin2theta", got ${String(corr.lorentz)}`);
  }
  return {
    nFast,
    nSlow,
    step,
    invT: 1 / opts.exposureTimeS,
    invGain: 1 / opts.gain,
    bgConst,
    bgVarConst,
    bgMap,
    bgVarMap,
    dMin,
    dMax,
    iMin,
    iMax,
    muSensor,
    muAir,
  };
}

// ---- allocation helpers: module-level functions, not per-call closures (a closure created per
// call is a new call target each time and made TurboFan deoptimise the caller at every call).

function f64(ws: ExtractWorkspace | undefined, name: string, len: number): Float64Array {
  return ws ? ws.float64(name, len) : new Float64Array(uninitialized(8 * len), 0, len);
}
function u32(ws: ExtractWorkspace | undefined, name: string, len: number): Uint32Array {
  return ws ? ws.uint32(name, len) : new Uint32Array(uninitialized(4 * len), 0, len);
}
/**
 * A fresh ArrayBuffer WITHOUT zero-filling (Node's Buffer.allocUnsafeSlow: its own buffer, not
 * the pool). Safe here because the kernel writes every row it returns (the counting pass sizes
 * the columns exactly; rows dropped by filters are cut off by `slice`). Elsewhere: zeroed.
 */
function uninitialized(bytes: number): ArrayBuffer {
  const B = (globalThis as { Buffer?: { allocUnsafeSlow(n: number): Uint8Array } }).Buffer;
  if (B === undefined || bytes === 0) return new ArrayBuffer(bytes);
  const buf = B.allocUnsafeSlow(bytes);
  return buf.byteOffset === 0 && buf.buffer.byteLength === bytes
    ? (buf.buffer as ArrayBuffer)
    : new ArrayBuffer(bytes);
}
/** Exact-length column: a workspace view, or the fresh array (copied only when filters dropped rows). */
function fit64(ws: ExtractWorkspace | undefined, a: Float64Array, len: number): Float64Array {
  return ws ? a.subarray(0, len) : a.length === len ? a : a.slice(0, len);
}
function fit32(ws: ExtractWorkspace | undefined, a: Uint32Array, len: number): Uint32Array {
  return ws ? a.subarray(0, len) : a.length === len ? a : a.slice(0, len);
}

// ---- exp without a call: V8's Math.exp is a C call, and every XMM register is caller-saved,
// so each call spilled and reloaded the ~30 live doubles of the kernel (3 calls per pixel).
// exp(x) = 2^(k/64) e^r with k = round(64 x / ln 2), |r| <= ln2/128, e^r by its degree-6 Taylor
// polynomial (truncation < 4e-17): within 2 ulp of Math.exp. Falls back to Math.exp outside
// (-700, 700) and for NaN.
const EXP_INV_LN2_64 = 64 / Math.LN2;
const EXP_LN2_64_HI = 6.9314718036912381649e-1 / 64; // fdlibm ln2_hi: k * HI is exact
const EXP_LN2_64_LO = 1.90821492927058770002e-10 / 64;
const EXP_2_J64 = Float64Array.from({ length: 64 }, (_, j) => Math.pow(2, j / 64));
const EXP_2_K = Float64Array.from({ length: 2200 }, (_, e) => Math.pow(2, e - 1100));

function expInline(x: number): number {
  if (!(x > -700 && x < 700)) return Math.exp(x);
  const k = Math.round(x * EXP_INV_LN2_64);
  const r = x - k * EXP_LN2_64_HI - k * EXP_LN2_64_LO;
  const p = 1 + r * (1 + r * (0.5 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120 + r * (1 / 720))))));
  const j = k & 63;
  return EXP_2_J64[j]! * EXP_2_K[(k - j) / 64 + 1100]! * p;
}

/** Everything the pixel loop needs, in one fixed-shape object (monomorphic loads, hoisted once). */
interface KernelArgs {
  raw: Float64Array;
  mask: Uint8Array;
  bgMap: Float64Array | null;
  bgVarMap: Float64Array | null;
  nFast: number;
  nSlow: number;
  step: number;
  // geometry
  fx: number;
  fy: number;
  fz: number;
  sx: number;
  sy: number;
  sz: number;
  ox: number;
  oy: number;
  oz: number;
  pxF: number;
  pxS: number;
  dx: number;
  dy: number;
  dz: number;
  lambda: number;
  pnx: number;
  pny: number;
  pnz: number;
  pf: number;
  saK: number;
  effK: number;
  muAir: number;
  parallax: boolean;
  parInvMu: number;
  parK: number;
  parMuK: number;
  // switches and filters
  doSA: boolean;
  doPol: boolean;
  doEff: boolean;
  doAir: boolean;
  doLor: boolean;
  keepMults: boolean;
  filterD: boolean;
  dMin: number;
  dMax: number;
  filterI: boolean;
  iMin: number;
  iMax: number;
  invT: number;
  invGain: number;
  bgConst: number;
  bgVarConst: number;
  // outputs
  qLab: Float64Array;
  qLen: Float64Array;
  inten: Float64Array;
  sig: Float64Array;
  fastOut: Uint32Array;
  slowOut: Uint32Array;
  saOut: Float64Array;
  polOut: Float64Array;
  effOut: Float64Array;
  airOut: Float64Array;
  lorOut: Float64Array;
  totOut: Float64Array;
}

/** The pixel loop; returns the number of rows written. */
function runKernel(a: KernelArgs): number {
  const { raw, mask, bgMap, bgVarMap, nFast, nSlow, step } = a;
  const { fx, fy, fz, sx, sy, sz, ox, oy, oz, pxF, pxS, dx, dy, dz, lambda, pnx, pny, pnz, pf } = a;
  const { saK, effK, muAir, parallax, parInvMu, parK, parMuK } = a;
  const { doSA, doPol, doEff, doAir, doLor, keepMults, filterD, dMin, dMax, filterI, iMin, iMax } =
    a;
  const { invT, invGain, bgConst, bgVarConst } = a;
  const {
    qLab,
    qLen,
    inten,
    sig,
    fastOut,
    slowOut,
    saOut,
    polOut,
    effOut,
    airOut,
    lorOut,
    totOut,
  } = a;
  const invLambda = 1 / lambda;
  const polA = 1 - 2 * pf;
  const invT2 = invT * invT;
  const nCols = Math.ceil(nFast / step);
  const colX = new Float64Array(nCols);
  const colY = new Float64Array(nCols);
  const colZ = new Float64Array(nCols);
  for (let c = 0; c < nCols; c++) {
    const xMm = (c * step + 0.5) * pxF;
    colX[c] = xMm * fx;
    colY[c] = xMm * fy;
    colZ[c] = xMm * fz;
  }
  // Parallax shift of every column of the current row (see the row pre-pass below).
  const shX = new Float64Array(nCols);
  const shY = new Float64Array(nCols);
  const shZ = new Float64Array(nCols);
  let n = 0;
  for (let j = 0; j < nSlow; j += step) {
    const yMm = (j + 0.5) * pxS;
    const rowX = ox + yMm * sx;
    const rowY = oy + yMm * sy;
    const rowZ = oz + yMm * sz;
    const row = j * nFast;
    if (parallax) {
      // Row pre-pass: dxtbx parallax_correction_inv, the shift back along (s1.fast, s1.slow) by
      // the attenuation length, for every column. A separate short loop: its sqrt -> exp -> div
      // chain overlaps across iterations instead of lengthening the main loop's (measured ~10%).
      for (let c = 0; c < nCols; c++) {
        const px = rowX + colX[c]!;
        const py = rowY + colY[c]!;
        const pz = rowZ + colZ[c]!;
        const r0 = Math.sqrt(px * px + py * py + pz * pz);
        const o = (parInvMu - (parK * r0 + parInvMu) * expInline(parMuK * r0)) / r0;
        const sf = (px * fx + py * fy + pz * fz) * o;
        const ss = (px * sx + py * sy + pz * sz) * o;
        shX[c] = sf * fx + ss * sx;
        shY[c] = sf * fy + ss * sy;
        shZ[c] = sf * fz + ss * sz;
      }
    }
    for (let i = 0, c = 0; i < nFast; i += step, c++) {
      const k = row + i;
      const rawV = raw[k]!;
      if (mask[k] === 0 || rawV !== rawV) continue;
      let px = rowX + colX[c]!;
      let py = rowY + colY[c]!;
      let pz = rowZ + colZ[c]!;
      if (parallax) {
        px -= shX[c]!;
        py -= shY[c]!;
        pz -= shZ[c]!;
      }
      const r2 = px * px + py * py + pz * pz;
      const r = Math.sqrt(r2);
      const invR = 1 / r;
      const ux = px * invR;
      const uy = py * invR;
      const uz = pz * invR;
      const qx = (ux + dx) * invLambda;
      const qy = (uy + dy) * invLambda;
      const qz = (uz + dz) * invLambda;
      const ql = Math.sqrt(qx * qx + qy * qy + qz * qz);
      if (filterD) {
        const d = 1 / ql;
        if (!(d >= dMin && d <= dMax)) continue;
      }
      let total = 1;
      let saM = 1;
      let polM = 1;
      let effM = 1;
      let airM = 1;
      let lorM = 1;
      if (doSA) {
        saM = r2 * r * saK;
        total = saM;
      }
      if (doPol) {
        const pn = pnx * ux + pny * uy + pnz * uz;
        const c2t = ux * dx + uy * dy + uz * dz; // = -cos(2 theta); squared below
        polM = 1 / (polA * (1 - pn * pn) + pf * (1 + c2t * c2t));
        total *= polM;
      }
      if (doEff) {
        effM = 1 / (1 - expInline(-effK * r));
        total *= effM;
      }
      if (doAir) {
        airM = expInline(muAir * r);
        total *= airM;
      }
      if (doLor) {
        // sin(2 theta) = 2 sin(theta) cos(theta), sin(theta) = |q| lambda / 2 (exact near 2theta = 0).
        const st = 0.5 * ql * lambda;
        lorM = 2 * st * Math.sqrt(1 - st * st);
        total *= lorM;
      }
      let bgV = bgConst;
      let bgVar = bgVarConst;
      if (bgMap !== null) {
        bgV = bgMap[k]!;
        bgVar = bgVarMap![k]!;
      }
      const I = (rawV - bgV) * invT * total;
      if (filterI && !(I >= iMin && I <= iMax)) continue;
      const varPerS = ((rawV > 0 ? rawV : 0) * invGain + bgVar) * invT2;
      qLab[3 * n] = qx;
      qLab[3 * n + 1] = qy;
      qLab[3 * n + 2] = qz;
      qLen[n] = ql;
      inten[n] = I;
      sig[n] = Math.sqrt(varPerS * total * total);
      fastOut[n] = i;
      slowOut[n] = j;
      if (keepMults) {
        saOut[n] = saM;
        polOut[n] = polM;
        effOut[n] = effM;
        airOut[n] = airM;
        lorOut[n] = lorM;
        totOut[n] = total;
      }
      n++;
    }
  }
  return n;
}

/** Usable pixels (mask nonzero, raw not NaN) on the step grid. */
function countUsable(
  raw: Float64Array,
  mask: Uint8Array,
  nFast: number,
  nSlow: number,
  step: number,
): number {
  let count = 0;
  for (let j = 0; j < nSlow; j += step) {
    const row = j * nFast;
    for (let i = 0; i < nFast; i += step) {
      const k = row + i;
      if (mask[k] !== 0 && raw[k] === raw[k]) count++;
    }
  }
  return count;
}

/**
 * Extract and correct the usable pixels of one panel of one still.
 *
 * @param raw   nSlow * nFast raw values, slow-major (index j * nFast + i); NaN = no data.
 * @param mask  same layout; nonzero = usable (Mask_total of the plan: pixel mask AND NOT Bragg).
 */
export function extractPanel(
  panel: Panel,
  beam: Beam,
  raw: Float64Array,
  mask: Uint8Array,
  opts: ExtractPanelOptions,
): PanelColumns {
  const v = validate(panel, beam, raw, mask, opts);
  const { nFast, nSlow, step } = v;
  const corr = opts.corrections ?? {};
  const keepMults = opts.multipliers !== false;

  // Outputs: fresh arrays sized exactly by a counting pass (mask and NaN), or views into a
  // reusable workspace sized by the step grid (no counting pass, no fresh pages).
  const ws = opts.workspace;
  const capacity =
    ws !== undefined
      ? Math.ceil(nSlow / step) * Math.ceil(nFast / step)
      : countUsable(raw, mask, nFast, nSlow, step);
  const mCap = keepMults ? capacity : 0;

  // Geometry constants. n = fast x slow (unnormalised, dxtbx get_normal). Every point p of the
  // panel plane, parallax-shifted or not, has n.p = n.origin (n is perpendicular to fast and
  // slow), so cos(incidence) = |n.o| / (|n| r), Omega = pxF pxS |n.o| / r^3, and dxtbx's parallax
  // cos_t = s1^.(+-n) = |n.o| / r0: no per-pixel normal dot products.
  const [fx, fy, fz] = panel.fastAxis;
  const [sx, sy, sz] = panel.slowAxis;
  const [ox, oy, oz] = panel.originMm;
  const [pxF, pxS] = panel.pixelSizeMm;
  const nx = fy * sz - fz * sy;
  const ny = fz * sx - fx * sz;
  const nz = fx * sy - fy * sx;
  const nLen = Math.sqrt(nx * nx + ny * ny + nz * nz);
  const absNO = Math.abs(nx * ox + ny * oy + nz * oz);
  const [d0x, d0y, d0z] = beam.directionToSource;
  const dLen = Math.sqrt(d0x * d0x + d0y * d0y + d0z * d0z);
  const [pnx, pny, pnz] = beam.polarizationNormal;
  const parallax = panelUsesParallax(panel);
  const parMu = panel.muPerMm;
  const parK = panel.thicknessMm / absNO;

  const args: KernelArgs = {
    raw,
    mask,
    bgMap: v.bgMap,
    bgVarMap: v.bgVarMap,
    nFast,
    nSlow,
    step,
    fx,
    fy,
    fz,
    sx,
    sy,
    sz,
    ox,
    oy,
    oz,
    pxF,
    pxS,
    dx: d0x / dLen,
    dy: d0y / dLen,
    dz: d0z / dLen,
    lambda: beam.wavelengthA,
    pnx,
    pny,
    pnz,
    pf: beam.polarizationFraction,
    // 1/Omega = r^3 saK
    saK: 1 / (pxF * pxS * absNO),
    // efficiency 1 - exp(-mu t / cos a) = 1 - exp(-effK r)
    effK: (v.muSensor * panel.thicknessMm * nLen) / absNO,
    muAir: v.muAir,
    // parallax: o = 1/mu - (t / cos_t + 1/mu) exp(-mu t / cos_t), t / cos_t = parK r0
    parallax,
    parInvMu: parallax ? 1 / parMu : 0,
    parK,
    parMuK: -parMu * parK,
    doSA: corr.solidAngle !== false,
    doPol: corr.polarization !== false,
    doEff: corr.efficiency !== false,
    doAir: corr.air !== false && v.muAir > 0,
    doLor: corr.lorentz === "sin2theta",
    keepMults,
    filterD: v.dMin > 0 || v.dMax < Infinity,
    dMin: v.dMin,
    dMax: v.dMax,
    filterI: v.iMin > -Infinity || v.iMax < Infinity,
    iMin: v.iMin,
    iMax: v.iMax,
    invT: v.invT,
    invGain: v.invGain,
    bgConst: v.bgConst,
    bgVarConst: v.bgVarConst,
    qLab: f64(ws, "qLab", 3 * capacity),
    qLen: f64(ws, "qLength", capacity),
    inten: f64(ws, "intensity", capacity),
    sig: f64(ws, "sigma", capacity),
    fastOut: u32(ws, "fast", capacity),
    slowOut: u32(ws, "slow", capacity),
    saOut: f64(ws, "sa", mCap),
    polOut: f64(ws, "pol", mCap),
    effOut: f64(ws, "eff", mCap),
    airOut: f64(ws, "air", mCap),
    lorOut: f64(ws, "lorentz", mCap),
    totOut: f64(ws, "total", mCap),
  };
  const n = runKernel(args);

  const panelOut = ws ? ws.uint16("panel", n).subarray(0, n) : new Uint16Array(n);
  panelOut.fill(opts.panelIndex);
  const mLen = keepMults ? n : 0;
  return {
    count: n,
    stillId: opts.stillId,
    qLab: fit64(ws, args.qLab, 3 * n),
    qLengthPerA: fit64(ws, args.qLen, n),
    intensity: fit64(ws, args.inten, n),
    sigma: fit64(ws, args.sig, n),
    panel: panelOut,
    fast: fit32(ws, args.fastOut, n),
    slow: fit32(ws, args.slowOut, n),
    solidAngleMult: fit64(ws, args.saOut, mLen),
    polarizationMult: fit64(ws, args.polOut, mLen),
    efficiencyMult: fit64(ws, args.effOut, mLen),
    airMult: fit64(ws, args.airOut, mLen),
    lorentzMult: fit64(ws, args.lorOut, mLen),
    totalMult: fit64(ws, args.totOut, mLen),
  };
}
