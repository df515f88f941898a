/**
 * The CubeFit file manager (the seed's H5Manager): create and populate the canonical layout
 * (layout.ts) from arrays, build the rebin operator and the template FFT caches, and
 * diagnose the template guard at the edges. Every write goes through the store's single
 * writer; every check reads committed data only.
 *
 *   await populateCubeFile("cube.h5", { temPix, obsPix, velPix, losvd, datacube, templates, mask });
 *   await ensureRebinAndResample("cube.h5"); // /R_T, /RebinMatrix, /TemplatesFFT, /TemplatesFFT_R
 *   (await diagnoseRebinEdges("cube.h5")).safe;
 *
 * Inputs. The data cube may come as (L, S) (wavelength-major, the seed's upstream order) or
 * (S, L); it is stored (S, L). Which one is decided by which axis has the length of ObsPix;
 * when both do (S = L) the caller must say (`datacubeLayout`). Templates come as
 * (T, ...population axes), e.g. (T, nZ, nAge), and are stored flattened (P, T) with p the
 * C-order index over the population axes (numpy's moveaxis(t, 0, -1).reshape(-1, T));
 * template_meta_json records the axes to undo it. Already flat (P, T) templates are accepted
 * with `templatesLayout: "PT"` (or when unambiguous).
 *
 * Guard. A model at template pixel t reads the template from t - kMax to t - kMin (the LOSVD
 * kernel's support, from the velocity grid). The observed range must therefore sit inside the
 * template range with at least max(kMax, 0) template pixels to its blue side and
 * max(-kMin, 0) to its red side, or the models near the edges see the zeros beyond the
 * templates. guard.* and guard_info_json record this; diagnoseRebinEdges checks it on the
 * stored operator.
 */
import {
  StoreReader,
  StoreWriter,
  type Attrs,
  type JsonValue,
  type TypedArray,
} from "../store/index.js";
import { CubeFitError } from "./errors.js";
import {
  cubeDims,
  Digest,
  fixedSpec,
  readerSource,
  readF64,
  requireDataset,
  writeRows,
  writerSource,
  type CubeSource,
} from "./file.js";
import { CUBEFIT, type CubeDims } from "./layout.js";
import {
  binEdges,
  checkGrid,
  denseRebinRows,
  kernelGeometry,
  RebinColumns,
  rebinOperator,
  templateRfft,
  uniformStep,
} from "./ops.js";

/** An n-d array in C order. */
export interface NdInput {
  data: ArrayLike<number>;
  shape: readonly number[];
}

/** The arrays of one problem (the seed's populate_from_arrays plus the grids). */
export interface CubeFitInputs {
  /** (T,) template ln-lambda centres, uniform step. */
  temPix: ArrayLike<number>;
  /** (L,) observed ln-lambda centres, increasing (need not be uniform). */
  obsPix: ArrayLike<number>;
  /** (V,) LOSVD velocity bin centres, km/s, increasing. */
  velPix: ArrayLike<number>;
  /** (S, V, C) LOSVD histograms, >= 0. */
  losvd: NdInput;
  /** (L, S) or (S, L) observed spectra. */
  datacube: NdInput;
  /** (T, ...population axes) or (P, T). */
  templates: NdInput;
  /** (L,) truthy = use the pixel. */
  mask?: ArrayLike<number | boolean>;
  /** (nPix,) image-plane coordinates and pixel -> spaxel (bin) map in [0, S). */
  xpix?: ArrayLike<number>;
  ypix?: ArrayLike<number>;
  binnum?: ArrayLike<number>;
  /** (C * P,) an initial solution, written to /X_global. */
  xInit?: ArrayLike<number>;
}

export interface PopulateOptions {
  /** Replace an existing file. */
  overwrite?: boolean;
  /** Required when S = L: "SL" or "LS" (the data cube's axis order as given). */
  datacubeLayout?: "SL" | "LS";
  /** "T-first" (T, ...axes) or "PT"; default: whichever the shape allows (T-first if both). */
  templatesLayout?: "T-first" | "PT";
  /** Names of the population axes (template_meta_json), e.g. ["metallicity", "age"]. */
  templateAxes?: string[];
  /** Values along each named population axis (template_meta_json). */
  templateAxisValues?: Record<string, number[]>;
  /** Extra template pixels the guard demands beyond the kernel half-width. Default 0. */
  safetyPadPx?: number;
}

/** guard.* attributes (template pixels unless named otherwise). */
export interface GuardInfo {
  /** The guard required on each side: max(kMax, -kMin, 0) + safety_pad_px. */
  Kguard_px: number;
  dlog_tem: number;
  /** Outer bin edges of the observed and template grids, ln lambda. */
  obs_lo: number;
  obs_hi: number;
  tem_lo: number;
  tem_hi: number;
  safety_pad_px: number;
  /** The LOSVD kernel's support on the template grid. */
  k_min_px: number;
  k_max_px: number;
  /** Template coverage beyond the observed range: (obs_lo - tem_lo) / dlog_tem and the red side. */
  left_margin_px: number;
  right_margin_px: number;
  /** What each side needs: max(kMax, 0) + pad (blue), max(-kMin, 0) + pad (red). */
  need_left_px: number;
  need_right_px: number;
  safe: boolean;
}

export interface PopulateReport {
  file: string;
  dims: CubeDims;
  /** How the data cube was given. */
  datacubeLayout: "SL" | "LS";
  guard: GuardInfo;
  templateMeta: JsonValue;
}

const STAGE = "cubefit.populate";
/** Margins are compared with this slack (template pixels) against rounding of the grids. */
const MARGIN_SLACK_PX = 1e-6;

// ---- validation ----------------------------------------------------------------------------

function requireShape(field: string, a: NdInput, rank: number, what: string): number[] {
  const shape = [...a.shape];
  if (shape.length !== rank || shape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new CubeFitError(field, `must be ${what}, got shape ${JSON.stringify(shape)}`);
  }
  const n = shape.reduce((x, y) => x * y, 1);
  if (a.data.length !== n)
    throw new CubeFitError(
      field,
      `shape ${JSON.stringify(shape)} needs ${n} values, got ${a.data.length}`,
    );
  return shape;
}

function requireFinite(field: string, data: ArrayLike<number>, shape: number[]): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]!))
      throw new CubeFitError(field, `value at ${JSON.stringify(unravel(i, shape))} is ${data[i]}`);
  }
}

function unravel(i: number, shape: number[]): number[] {
  const out = new Array<number>(shape.length);
  for (let a = shape.length - 1; a >= 0; a--) {
    out[a] = i % shape[a]!;
    i = Math.floor(i / shape[a]!);
  }
  return out;
}

/** The guard of grids and a velocity grid (see the module comment). */
export function guardInfo(
  temPix: Float64Array,
  obsPix: Float64Array,
  velPix: Float64Array,
  safetyPadPx = 0,
): GuardInfo {
  const dlog = uniformStep("temPix", temPix);
  const g = kernelGeometry(velPix, dlog);
  const te = binEdges(temPix);
  const oe = binEdges(obsPix);
  const pad = safetyPadPx;
  const needLeft = Math.max(g.kMax, 0) + pad;
  const needRight = Math.max(-g.kMin, 0) + pad;
  const left = (oe[0]! - te[0]!) / dlog;
  const right = (te[te.length - 1]! - oe[oe.length - 1]!) / dlog;
  return {
    Kguard_px: Math.max(g.kMax, -g.kMin, 0) + pad,
    dlog_tem: dlog,
    obs_lo: oe[0]!,
    obs_hi: oe[oe.length - 1]!,
    tem_lo: te[0]!,
    tem_hi: te[te.length - 1]!,
    safety_pad_px: pad,
    k_min_px: g.kMin,
    k_max_px: g.kMax,
    left_margin_px: left,
    right_margin_px: right,
    need_left_px: needLeft,
    need_right_px: needRight,
    safe: left + MARGIN_SLACK_PX >= needLeft && right + MARGIN_SLACK_PX >= needRight,
  };
}

function guardAttrs(g: GuardInfo): Attrs {
  const attrs: Attrs = {};
  for (const [k, v] of Object.entries(g)) attrs[`guard.${k}`] = v as number | boolean;
  attrs["guard_info_json"] = JSON.stringify(g);
  return attrs;
}

interface Normalized {
  temPix: Float64Array;
  obsPix: Float64Array;
  velPix: Float64Array;
  dims: CubeDims;
  datacube: Float64Array;
  layout: "SL" | "LS";
  templates: Float32Array;
  templateMeta: JsonValue;
  losvd: Float32Array;
  mask?: Uint8Array;
  xpix?: Float64Array;
  ypix?: Float64Array;
  binnum?: Int32Array;
  xInit?: Float64Array;
}

function normalize(inputs: CubeFitInputs, opts: PopulateOptions): Normalized {
  const temPix = checkGrid("temPix", inputs.temPix, 3);
  uniformStep("temPix", temPix);
  const obsPix = checkGrid("obsPix", inputs.obsPix, 2);
  const velPix = checkGrid("velPix", inputs.velPix, 2);
  const T = temPix.length;
  const L = obsPix.length;
  const V = velPix.length;

  const [S, V2, C] = requireShape("losvd", inputs.losvd, 3, "(S, V, C)") as [
    number,
    number,
    number,
  ];
  if (V2 !== V) throw new CubeFitError("losvd", `has ${V2} velocity bins, velPix has ${V}`);
  const losvd = Float32Array.from(inputs.losvd.data);
  for (let i = 0; i < losvd.length; i++) {
    const v = losvd[i]!;
    if (!Number.isFinite(v) || v < 0) {
      const [s, vb, c] = unravel(i, [S, V, C]);
      throw new CubeFitError(
        "losvd",
        `must be finite and non-negative (a histogram): [spaxel ${s}, velocity bin ${vb}, component ${c}] is ${inputs.losvd.data[i]}`,
      );
    }
  }

  // The data cube: (L, S) or (S, L), decided by the axis of length L.
  const dshape = requireShape("datacube", inputs.datacube, 2, "2-D, (L, S) or (S, L)");
  const [a, b] = dshape as [number, number];
  let layout: "SL" | "LS";
  if (a === L && b === L) {
    if (!opts.datacubeLayout) {
      throw new CubeFitError(
        "datacubeLayout",
        `the data cube is ${a} x ${b} and ObsPix has ${L} values, so (S, L) and (L, S) are both possible: pass datacubeLayout "SL" or "LS"`,
      );
    }
    layout = opts.datacubeLayout;
  } else if (a === L) layout = "LS";
  else if (b === L) layout = "SL";
  else
    throw new CubeFitError(
      "datacube",
      `shape ${JSON.stringify(dshape)} has no axis of length L = ${L} (ObsPix); expected (L, S) or (S, L)`,
    );
  if (opts.datacubeLayout && opts.datacubeLayout !== layout) {
    throw new CubeFitError(
      "datacubeLayout",
      `"${opts.datacubeLayout}" does not fit shape ${JSON.stringify(dshape)} with L = ${L}`,
    );
  }
  const Sd = layout === "SL" ? a : b;
  if (Sd !== S) throw new CubeFitError("datacube", `has ${Sd} spaxels, the LOSVD has ${S}`);
  const datacube = new Float64Array(S * L);
  const src = inputs.datacube.data;
  for (let s = 0; s < S; s++)
    for (let l = 0; l < L; l++)
      datacube[s * L + l] = layout === "SL" ? src[s * L + l]! : src[l * S + s]!;

  let mask: Uint8Array | undefined;
  if (inputs.mask !== undefined) {
    if (inputs.mask.length !== L)
      throw new CubeFitError("mask", `has ${inputs.mask.length} values, ObsPix has ${L}`);
    mask = Uint8Array.from(Array.from(inputs.mask, (v) => (v ? 1 : 0)));
    if (!mask.some((v) => v === 1)) throw new CubeFitError("mask", "masks every pixel");
  }
  // Masked pixels may hold NaN (bad pixels); used ones must be finite.
  for (let s = 0; s < S; s++)
    for (let l = 0; l < L; l++) {
      if ((mask === undefined || mask[l]) && !Number.isFinite(datacube[s * L + l]!))
        throw new CubeFitError(
          "datacube",
          `spaxel ${s}, pixel ${l} is ${datacube[s * L + l]} (unmasked values must be finite)`,
        );
    }

  // Templates: (T, ...axes) -> (P, T).
  const tshape = [...inputs.templates.shape];
  const tn = tshape.reduce((x, y) => x * y, 1);
  if (
    tshape.length < 1 ||
    tshape.some((d) => !Number.isInteger(d) || d < 1) ||
    tn !== inputs.templates.data.length
  ) {
    throw new CubeFitError(
      "templates",
      `shape ${JSON.stringify(tshape)} does not describe ${inputs.templates.data.length} values`,
    );
  }
  const tFirstOk = tshape[0] === T;
  const ptOk = tshape.length === 2 && tshape[1] === T;
  let tlayout = opts.templatesLayout ?? (tFirstOk ? "T-first" : ptOk ? "PT" : undefined);
  if (tlayout === "T-first" && !tFirstOk) tlayout = undefined;
  if (tlayout === "PT" && !ptOk) tlayout = undefined;
  if (!tlayout) {
    throw new CubeFitError(
      "templates",
      `shape ${JSON.stringify(tshape)} is neither (T, ...population axes) nor (P, T) with T = ${T} (TemPix)${opts.templatesLayout ? ` as templatesLayout "${opts.templatesLayout}" says` : ""}`,
    );
  }
  requireFinite("templates", inputs.templates.data, tshape);
  const popShape =
    tlayout === "T-first" ? (tshape.length > 1 ? tshape.slice(1) : [1]) : [tshape[0]!];
  const P = popShape.reduce((x, y) => x * y, 1);
  const templates = new Float32Array(P * T);
  const td = inputs.templates.data;
  if (tlayout === "PT") templates.set(Float32Array.from(td));
  else
    for (let t = 0; t < T; t++) for (let p = 0; p < P; p++) templates[p * T + t] = td[t * P + p]!;
  const axes = opts.templateAxes ?? popShape.map((_, i) => `axis${i + 1}`);
  if (axes.length !== popShape.length) {
    throw new CubeFitError(
      "templateAxes",
      `names ${axes.length} axes, the templates have ${popShape.length} population axes`,
    );
  }
  const values: Record<string, number[]> = {};
  for (const [name, v] of Object.entries(opts.templateAxisValues ?? {})) {
    const i = axes.indexOf(name);
    if (i < 0 || v.length !== popShape[i])
      throw new CubeFitError(
        "templateAxisValues",
        `"${name}" must name a population axis (${axes.join(", ")}) and give one value per entry`,
      );
    values[name] = [...v];
  }
  const templateMeta: JsonValue = {
    source_shape: tshape,
    source_layout: tlayout,
    spectral_axis: tlayout === "T-first" ? 0 : 1,
    pop_shape: popShape,
    axes,
    ...(Object.keys(values).length ? { values } : {}),
    order: "C",
    flatten: "p is the C-order (row-major) index over pop_shape; /Templates[p, t]",
  };

  const out: Normalized = {
    temPix,
    obsPix,
    velPix,
    dims: { nSpat: S, nLSpec: L, nTSpec: T, nVel: V, nComp: C, nPop: P },
    datacube,
    layout,
    templates,
    templateMeta,
    losvd,
  };
  if (mask) out.mask = mask;

  // Per-pixel image-plane metadata: equal lengths, BinNum integers in [0, S).
  const lengths: [string, number][] = [];
  if (inputs.xpix !== undefined) {
    out.xpix = Float64Array.from(inputs.xpix);
    requireFinite("xpix", out.xpix, [out.xpix.length]);
    lengths.push(["xpix", out.xpix.length]);
  }
  if (inputs.ypix !== undefined) {
    out.ypix = Float64Array.from(inputs.ypix);
    requireFinite("ypix", out.ypix, [out.ypix.length]);
    lengths.push(["ypix", out.ypix.length]);
  }
  if (inputs.binnum !== undefined) {
    const bn = inputs.binnum;
    if (bn.length === 0) throw new CubeFitError("binnum", "is empty");
    for (let i = 0; i < bn.length; i++) {
      const v = bn[i]!;
      if (!Number.isInteger(v) || v < 0 || v >= S)
        throw new CubeFitError(
          "binnum",
          `pixel ${i} maps to ${v}, outside the spaxels [0, ${S - 1}]`,
        );
    }
    out.binnum = Int32Array.from(bn);
    lengths.push(["binnum", bn.length]);
  }
  for (const [name, n] of lengths.slice(1)) {
    if (n !== lengths[0]![1])
      throw new CubeFitError(name, `has ${n} pixels, ${lengths[0]![0]} has ${lengths[0]![1]}`);
  }
  if (inputs.xInit !== undefined) {
    if (inputs.xInit.length !== C * P)
      throw new CubeFitError("xInit", `has ${inputs.xInit.length} values, C * P = ${C * P}`);
    out.xInit = Float64Array.from(inputs.xInit);
    requireFinite("xInit", out.xInit, [C * P]);
  }
  return out;
}

// ---- populate ------------------------------------------------------------------------------

/**
 * Create the file and write every input dataset and the root attributes (dims,
 * template_meta_json, guard.*, guard_info_json). The derived operators come from
 * ensureRebinAndResample().
 */
export async function populateCubeFile(
  file: string,
  inputs: CubeFitInputs,
  opts: PopulateOptions = {},
): Promise<PopulateReport> {
  const n = normalize(inputs, opts);
  const pad = opts.safetyPadPx ?? 0;
  if (!Number.isInteger(pad) || pad < 0)
    throw new CubeFitError("safetyPadPx", `must be a non-negative integer, got ${pad}`);
  const guard = guardInfo(n.temPix, n.obsPix, n.velPix, pad);
  const { nSpat: S, nLSpec: L, nTSpec: T, nVel: V, nComp: C, nPop: P } = n.dims;
  const w = await StoreWriter.create(file, {
    overwrite: opts.overwrite ?? false,
    provenance: { stage: STAGE, parameters: { dims: { ...n.dims }, datacubeLayout: n.layout } },
  });
  try {
    const put = (
      ds: string,
      dtype: "float64" | "float32" | "int32" | "bool",
      shape: number[],
      data: TypedArray,
      attrs: Attrs = {},
    ) => {
      w.createDataset(ds, fixedSpec(dtype, shape, { attrs }));
      writeRows(w, ds, shape, data);
    };
    put(CUBEFIT.temPix, "float64", [T], n.temPix, {
      units: "ln(Angstrom)",
      semantic: "template log-lambda bin centres (uniform step)",
    });
    put(CUBEFIT.obsPix, "float64", [L], n.obsPix, {
      units: "ln(Angstrom)",
      semantic: "observed log-lambda bin centres",
    });
    put(CUBEFIT.velPix, "float64", [V], n.velPix, {
      units: "km/s",
      center_definition: "bin_centers",
    });
    put(CUBEFIT.dataCube, "float64", [S, L], n.datacube, {
      semantic: "observed spectra (spaxel, pixel)",
      input_layout: n.layout,
    });
    put(CUBEFIT.templates, "float32", [P, T], n.templates, {
      semantic: "templates, population axes flattened (see template_meta_json)",
    });
    put(CUBEFIT.losvd, "float32", [S, V, C], n.losvd, {
      semantic: "LOSVD histogram per spaxel, velocity bin (VelPix) and component",
    });
    if (n.mask) put(CUBEFIT.mask, "bool", [L], n.mask, { semantic: "1 = use the pixel" });
    if (n.xpix)
      put(CUBEFIT.xPix, "float64", [n.xpix.length], n.xpix, {
        semantic: "image-plane X per pixel",
      });
    if (n.ypix)
      put(CUBEFIT.yPix, "float64", [n.ypix.length], n.ypix, {
        semantic: "image-plane Y per pixel",
      });
    if (n.binnum)
      put(CUBEFIT.binNum, "int32", [n.binnum.length], n.binnum, {
        semantic: "pixel -> spaxel (bin) index in [0, S)",
      });
    if (n.xInit)
      put(CUBEFIT.xGlobal, "float64", [C * P], n.xInit, {
        semantic: "initial solution x[c * P + p]",
      });
    w.setAttrs("/", {
      dims: { ...n.dims },
      template_meta_json: JSON.stringify(n.templateMeta),
      ...guardAttrs(guard),
    });
    w.close();
  } catch (e) {
    w.abandon();
    throw e;
  }
  return { file, dims: n.dims, datacubeLayout: n.layout, guard, templateMeta: n.templateMeta };
}

/**
 * Replace inputs of an existing file in place (same shapes): e.g. the LOSVDs of the next
 * iteration of an orbit model. HyperCube tiles computed from the old LOSVDs stop counting as
 * complete (their completion stamps no longer match), so the next build recomputes just them.
 */
export async function updateCubeInputs(
  file: string,
  update: { losvd?: NdInput; datacube?: NdInput; mask?: ArrayLike<number | boolean> },
  opts: Pick<PopulateOptions, "datacubeLayout"> = {},
): Promise<void> {
  const w = await StoreWriter.open(file, { provenance: { stage: "cubefit.updateInputs" } });
  try {
    const src = writerSource(w);
    const dims = cubeDims(src);
    const temPix = readF64(src, CUBEFIT.temPix);
    const obsPix = readF64(src, CUBEFIT.obsPix);
    const velPix = readF64(src, CUBEFIT.velPix);
    const templates = src.read(CUBEFIT.templates) as Float32Array;
    const mask = update.mask ?? (src.has(CUBEFIT.mask) ? src.read(CUBEFIT.mask) : undefined);
    const n = normalize(
      {
        temPix,
        obsPix,
        velPix,
        templates: { data: templates, shape: [dims.nPop, dims.nTSpec] },
        losvd: update.losvd ?? {
          data: src.read(CUBEFIT.losvd) as Float32Array,
          shape: [dims.nSpat, dims.nVel, dims.nComp],
        },
        datacube: update.datacube ?? {
          data: readF64(src, CUBEFIT.dataCube),
          shape: [dims.nSpat, dims.nLSpec],
        },
        ...(mask !== undefined ? { mask: mask as ArrayLike<number> } : {}),
      },
      { ...opts, templatesLayout: "PT", ...(update.datacube ? {} : { datacubeLayout: "SL" }) },
    );
    if (n.dims.nSpat !== dims.nSpat || n.dims.nComp !== dims.nComp)
      throw new CubeFitError(
        "losvd",
        `must stay (${dims.nSpat}, ${dims.nVel}, ${dims.nComp})`,
        file,
      );
    if (update.losvd) writeRows(w, CUBEFIT.losvd, [dims.nSpat, dims.nVel, dims.nComp], n.losvd);
    if (update.datacube) writeRows(w, CUBEFIT.dataCube, [dims.nSpat, dims.nLSpec], n.datacube);
    if (update.mask) {
      if (!src.has(CUBEFIT.mask))
        throw new CubeFitError(
          CUBEFIT.mask,
          "the file has no mask to replace (populate with one)",
          file,
        );
      writeRows(w, CUBEFIT.mask, [dims.nLSpec], n.mask!);
    }
    w.close();
  } catch (e) {
    w.abandon();
    throw e;
  }
}

// ---- rebin operator and FFT caches ---------------------------------------------------------

export interface RebinReport {
  /** Datasets (re)computed now; empty when all were present and current. */
  computed: string[];
  P: number;
  T: number;
  L: number;
}

const OPERATORS = [
  CUBEFIT.rebinT,
  CUBEFIT.rebinMatrix,
  CUBEFIT.templatesFFT,
  CUBEFIT.templatesFFTR,
];

/** The digests the derived datasets are stamped with (attribute inputs_stamp). */
function inputStamps(src: CubeSource): Record<string, string> {
  const grids = new Digest()
    .add("cubefit.rebin/1", src.read(CUBEFIT.temPix), src.read(CUBEFIT.obsPix))
    .hex();
  const tpl = new Digest().add("cubefit.templatesFFT/1", src.read(CUBEFIT.templates)).hex();
  return {
    [CUBEFIT.rebinT]: grids,
    [CUBEFIT.rebinMatrix]: grids,
    [CUBEFIT.templatesFFT]: tpl,
    [CUBEFIT.templatesFFTR]: tpl,
  };
}

/**
 * Make /R_T (T, L) float32, its transpose /RebinMatrix (L, T), /TemplatesFFT (P, T//2+1)
 * complex64 = rfft of each template (length T, no padding) and /TemplatesFFT_R = rfft of each
 * template reversed (tpl[T - 1 - t]). The seed gives only the shapes; its upstream code
 * computes _R from the reversed templates ("reversed for true convolution"; its docstring's
 * "re-sized version consistent with the rebin rows" cannot be: the shape is on the template
 * grid), so that is what _R is here: rfft(reversed)[k] = e^{2 pi i k / T} conj(rfft[k]). Each carries
 * the digest of the inputs it was computed from (attribute inputs_stamp): present and current
 * ones are kept, stale ones recomputed in place (their shapes follow from the grids).
 *
 * The builder does not convolve with the float32 /TemplatesFFT: it transforms the templates
 * itself in float64, zero-padded for a linear convolution (ops.ts LosvdConvolver). The caches
 * are for readers that want template spectra (e.g. correlation against the data).
 */
export async function ensureRebinAndResample(file: string): Promise<RebinReport> {
  // A read-only look first: when everything is current the file is not touched.
  const r = await StoreReader.open(file);
  let stale: string[];
  let dims: CubeDims;
  try {
    const src = readerSource(r);
    dims = cubeDims(src);
    for (const ds of [CUBEFIT.temPix, CUBEFIT.obsPix])
      requireDataset(src, ds, "populateCubeFile()");
    const want = inputStamps(src);
    stale = OPERATORS.filter((ds) => !src.has(ds) || r.attrs(ds)["inputs_stamp"] !== want[ds]);
  } finally {
    r.close();
  }
  const { nPop: P, nTSpec: T, nLSpec: L } = dims;
  if (stale.length === 0) return { computed: [], P, T, L };

  const w = await StoreWriter.open(file, {
    provenance: { stage: "cubefit.ensureRebinAndResample" },
  });
  try {
    const src = writerSource(w);
    const want = inputStamps(src);
    const temPix = readF64(src, CUBEFIT.temPix);
    const obsPix = readF64(src, CUBEFIT.obsPix);
    const nf = Math.floor(T / 2) + 1;
    const specs: Record<string, () => void> = {
      [CUBEFIT.rebinT]: () =>
        w.createDataset(
          CUBEFIT.rebinT,
          fixedSpec("float32", [T, L], {
            compression: { gzip: 1 },
            attrs: {
              semantic:
                "rebin operator R_T[t, l] = |template bin t ∩ observed bin l| / |template bin t| (models = R_T^T m)",
            },
          }),
        ),
      [CUBEFIT.rebinMatrix]: () =>
        w.createDataset(
          CUBEFIT.rebinMatrix,
          fixedSpec("float32", [L, T], {
            compression: { gzip: 1 },
            attrs: { semantic: "transpose of /R_T" },
          }),
        ),
      [CUBEFIT.templatesFFT]: () =>
        w.createDataset(
          CUBEFIT.templatesFFT,
          fixedSpec("complex64", [P, nf], {
            attrs: { semantic: "numpy.fft.rfft(Templates, axis=1)" },
          }),
        ),
      [CUBEFIT.templatesFFTR]: () =>
        w.createDataset(
          CUBEFIT.templatesFFTR,
          fixedSpec("complex64", [P, nf], {
            attrs: { semantic: "numpy.fft.rfft(Templates[:, ::-1], axis=1)" },
          }),
        ),
    };
    for (const ds of stale) if (!src.has(ds)) specs[ds]!();

    if (stale.includes(CUBEFIT.rebinT) || stale.includes(CUBEFIT.rebinMatrix)) {
      const op = rebinOperator(temPix, obsPix);
      if (stale.includes(CUBEFIT.rebinT)) {
        const rows = Math.max(1, Math.floor((16 << 20) / (4 * L)));
        for (let t0 = 0; t0 < T; t0 += rows) {
          const t1 = Math.min(T, t0 + rows);
          w.dataset<"float32">(CUBEFIT.rebinT).write(
            [t0, 0],
            [t1 - t0, L],
            denseRebinRows(op, t0, t1),
          );
        }
      }
      if (stale.includes(CUBEFIT.rebinMatrix)) {
        const cols = RebinColumns.fromOperator(op);
        const rows = Math.max(1, Math.floor((16 << 20) / (4 * T)));
        for (let l0 = 0; l0 < L; l0 += rows) {
          const l1 = Math.min(L, l0 + rows);
          const block = new Float32Array((l1 - l0) * T);
          for (let l = l0; l < l1; l++)
            for (let k = cols.start[l]!; k < cols.start[l + 1]!; k++)
              block[(l - l0) * T + cols.t[k]!] = cols.w[k]!;
          w.dataset<"float32">(CUBEFIT.rebinMatrix).write([l0, 0], [l1 - l0, T], block);
        }
      }
    }
    for (const [ds, reversed] of [
      [CUBEFIT.templatesFFT, false],
      [CUBEFIT.templatesFFTR, true],
    ] as const) {
      if (!stale.includes(ds)) continue;
      const templates = src.read(CUBEFIT.templates) as Float32Array;
      const rows = Math.max(1, Math.floor((16 << 20) / (8 * nf)));
      for (let p0 = 0; p0 < P; p0 += rows) {
        const p1 = Math.min(P, p0 + rows);
        const block = new Float32Array((p1 - p0) * 2 * nf);
        for (let p = p0; p < p1; p++)
          block.set(
            templateRfft(templates.subarray(p * T, (p + 1) * T), reversed),
            (p - p0) * 2 * nf,
          );
        w.dataset<"complex64">(ds).write([p0, 0], [p1 - p0, nf], block);
      }
    }
    // Data first (committed), the stamps after: they reach the file at close(), so a crash in
    // between leaves the datasets unstamped and the next call recomputes them.
    w.commit();
    for (const ds of stale) w.setAttrs(ds, { inputs_stamp: want[ds]! });
    w.close();
  } catch (e) {
    w.abandon();
    throw e;
  }
  return { computed: stale, P, T, L };
}

// ---- edge diagnostics ----------------------------------------------------------------------

export interface EdgeDiagnosis {
  /** True when every observed pixel is fully covered and no model reads beyond the templates. */
  safe: boolean;
  /** Why not, in words (empty when safe). */
  reasons: string[];
  /** Recomputed from the file's grids (the guard.* attributes record the same at populate). */
  guard: GuardInfo;
  /** First and last template pixel the stored R_T uses. */
  usedRows: [number, number];
  /** Fraction of each observed pixel the template grid covers, from the stored R_T: min, max. */
  coverageMin: number;
  coverageMax: number;
  /** Observed pixels covered less than 1 - 1e-6. */
  uncoveredPixels: number[];
  /**
   * Flux conservation of the stored R_T: max over t of |sum_l R_T[t, l] - covered fraction
   * of template pixel t| (float32 rounding, ~1e-7, when the operator is right).
   */
  fluxError: number;
}

/** Check the template guard and the stored rebin operator (the seed's diagnose_rebin_edges). */
export async function diagnoseRebinEdges(file: string): Promise<EdgeDiagnosis> {
  const r = await StoreReader.open(file);
  try {
    const src = readerSource(r);
    const { nTSpec: T, nLSpec: L } = cubeDims(src);
    requireDataset(src, CUBEFIT.rebinT, "ensureRebinAndResample()");
    const temPix = readF64(src, CUBEFIT.temPix);
    const obsPix = readF64(src, CUBEFIT.obsPix);
    const velPix = readF64(src, CUBEFIT.velPix);
    const guard = guardInfo(
      temPix,
      obsPix,
      velPix,
      Number(r.attrs("/")["guard.safety_pad_px"] ?? 0),
    );
    const rt = src.read(CUBEFIT.rebinT) as Float32Array;
    const cols = RebinColumns.fromDense(T, L, [rt]);
    const te = binEdges(temPix);
    const oe = binEdges(obsPix);
    const coverage = new Float64Array(L);
    for (let l = 0; l < L; l++) {
      let c = 0;
      for (let k = cols.start[l]!; k < cols.start[l + 1]!; k++) {
        const t = cols.t[k]!;
        c += cols.w[k]! * (te[t + 1]! - te[t]!);
      }
      coverage[l] = c / (oe[l + 1]! - oe[l]!);
    }
    let fluxError = 0;
    const lo = oe[0]!;
    const hi = oe[L]!;
    for (let t = 0; t < T; t++) {
      let sum = 0;
      for (let l = 0; l < L; l++) sum += rt[t * L + l]!;
      const covered =
        Math.max(0, Math.min(hi, te[t + 1]!) - Math.max(lo, te[t]!)) / (te[t + 1]! - te[t]!);
      fluxError = Math.max(fluxError, Math.abs(sum - covered));
    }
    const uncovered: number[] = [];
    coverage.forEach((c, l) => {
      if (c < 1 - 1e-6) uncovered.push(l);
    });
    const usedRows = cols.usedRows();
    const reasons: string[] = [];
    if (uncovered.length)
      reasons.push(
        `${uncovered.length} observed pixels are not fully inside the template range (first ${uncovered[0]})`,
      );
    if (usedRows[0] >= 0 && usedRows[0] < Math.max(guard.k_max_px, 0))
      reasons.push(
        `the first template pixel R_T uses is ${usedRows[0]}, but positive velocities up to ${guard.k_max_px} px need that many template pixels before it`,
      );
    if (usedRows[1] >= 0 && T - 1 - usedRows[1] < Math.max(-guard.k_min_px, 0))
      reasons.push(
        `the last template pixel R_T uses is ${usedRows[1]} of ${T}, but negative velocities down to ${guard.k_min_px} px need ${-guard.k_min_px} template pixels after it`,
      );
    if (!guard.safe && reasons.length === 0)
      reasons.push(
        `template margins ${guard.left_margin_px.toFixed(2)} / ${guard.right_margin_px.toFixed(2)} px are below the required ${guard.need_left_px} / ${guard.need_right_px} px (safety pad ${guard.safety_pad_px})`,
      );
    if (fluxError > 1e-5)
      reasons.push(`R_T row sums differ from the covered fractions by ${fluxError}`);
    return {
      safe: reasons.length === 0,
      reasons,
      guard,
      usedRows,
      coverageMin: coverage.reduce((a, b) => Math.min(a, b), Infinity),
      coverageMax: coverage.reduce((a, b) => Math.max(a, b), -Infinity),
      uncoveredPixels: uncovered,
      fluxError,
    };
  } finally {
    r.close();
  }
}
