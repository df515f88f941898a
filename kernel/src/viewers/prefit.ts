/**
 * PrefitSnapshot, kernel side: seed 003's live prefit snapshot of a CubeFit file (layout in
 * src/cubefit/layout.ts), four read-only panels over the file while the HyperCube builder may
 * still be writing it:
 *
 *   spectra    (TL) observed spectra /DataCube[s, :] of a few spaxels against the wavelength
 *              exp(/ObsPix); pixels with /Mask == 0 are shaded, and the y-limits come from
 *              unmasked pixels only (their min..max, 5 % padding)
 *   templates  (TR) templates rebinned to the observed grid before convolution:
 *              Templates (P, T) x R_T (T, L), for a few populations (float64 sums)
 *   losvd      (BL) the LOSVD /LOSVD[s, :, c] of the selected spaxel and component against
 *              /VelPix, and its kernel on log-lambda offsets k * dlog (dlog the /TemPix
 *              step): the builder's own kernel (each velocity bin spread over the template
 *              pixels it overlaps), normalised to sum 1
 *   models     (BR) stored models /HyperCube/models[s, c, p, :] of one population for several
 *              diverse (s, c) pairs, the selected pair first; pairs whose tile is not done in
 *              /HyperCube/_done are "pending" (no values)
 *
 * The tile of (s, c, p) is (s / tS, c / tC, p / tP) with the tile shape from an attribute
 * `tile` of /HyperCube/_done, else the chunk shape of /HyperCube/models when it matches the
 * _done grid, else ceil(size / grid). R_T stored (L, T) is transposed (seed: "if you see
 * (L, T), transpose"); without R_T, /RebinMatrix (L, T) is used.
 *
 * The file is opened read-only on the store thread; while a writer still writes it the model
 * polls refresh() and pushes the models panel when tiles complete (and every panel when a
 * dataset appears). Its display carries a static PNG of the four panels.
 *
 * Messages (custom, view -> kernel):
 *   {type: "panels", id}                                    all four panels
 *   {type: "select", id, spaxel?, component?, population?}  the panels the change affects
 * (kernel -> view): {type: "panels", id, sequence, tiles_done, panels: {name: panel}} with
 *   the panels' typed arrays as buffers (`buffer_paths`); id "live" for pushes while following;
 *   {type: "error", id, message}.
 */
import path from "node:path";
import {
  AsyncStoreReader,
  DatasetNotFoundError,
  ShapeMismatchError,
  cubefit,
  encodePng,
  type DatasetInfo,
} from "@stagelab/core";
import { type MimeBundle } from "../format.js";
import { FileView, attrText, followState, type FollowState } from "./file-view.js";
import { composeGrid } from "./compose.js";
import { lineChart, PALETTE } from "./chart-raster.js";
import { WIDGETS_MODULE, WIDGETS_VERSION } from "./h5view.js";
import {
  SerialQueue,
  checkIndex,
  datasetInfo,
  parseDims,
  readFloat64,
  sendPacked,
  spread,
} from "./cubefit-common.js";

const { CUBEFIT, C_KMS } = cubefit;

export const PREFIT_PANELS = ["spectra", "templates", "losvd", "models"] as const;
export type PrefitPanelName = (typeof PREFIT_PANELS)[number];

export interface PrefitOptions {
  /** The selected spaxel (LOSVD panel, first spectrum, first model pair; default 0). */
  spaxel?: number;
  /** The selected component (default 0). */
  component?: number;
  /** The population whose stored models are shown (default 0). */
  population?: number;
  /** Further spaxels whose spectra are shown (default: 3 spread over the cube). */
  spaxels?: number[];
  /** Populations whose rebinned templates are shown (default: up to 4 spread over P). */
  populations?: number[];
  /** Further (spaxel, component) pairs of the models panel (default: up to 5 diverse ones). */
  pairs?: [number, number][];
  /** Poll interval while following a file a writer still writes (ms, default 500). */
  pollMs?: number;
  /** Follow new commits (default: while the file is being written). */
  follow?: boolean;
}

/** The cube's sizes (0 where no dataset says). */
export interface PrefitDims {
  S: number;
  L: number;
  T: number;
  V: number;
  C: number;
  P: number;
}

/** Which of the datasets the panels read are in the file, and notes about them. */
export interface PrefitLayout extends Record<string, unknown> {
  dims: PrefitDims;
  present: Record<string, boolean>;
  /** How the rebin operator is read: "R_T", "R_T transposed", "RebinMatrix" or "". */
  rebin: string;
  /** Tile shape [tS, tC, tP] and the _done grid [Sgrid, Cgrid, Pgrid] (null without _done). */
  tile: [number, number, number] | null;
  grid: [number, number, number] | null;
  /** Root attributes as text (file-controlled: shown as text). */
  attrs: Record<string, string>;
}

export interface SpectraPanel {
  name: "spectra";
  /** exp(/ObsPix) (pixel indices without /ObsPix). */
  wavelength: Float64Array;
  spaxels: number[];
  values: Float64Array[];
  /** /Mask (1 = used); all ones without /Mask. */
  mask: Uint8Array;
  /** Wavelength ranges of masked pixels (from pixel edge to pixel edge). */
  masked: [number, number][];
  /** y-limits from unmasked pixels only (null when there are none). */
  y_domain: [number, number] | null;
  note: string;
}

export interface TemplatesPanel {
  name: "templates";
  wavelength: Float64Array;
  populations: number[];
  /** Templates[p, :] x R_T, one per population. */
  values: Float64Array[];
  note: string;
}

export interface LosvdPanel {
  name: "losvd";
  spaxel: number;
  component: number;
  velocity: Float64Array;
  values: Float64Array;
  /** The kernel: log-lambda offsets k * dlog, their velocities, and weights (sum 1). */
  kernel_offsets: Float64Array;
  kernel_velocity: Float64Array;
  kernel_weights: Float64Array;
  dlog: number;
  note: string;
}

export interface ModelPair {
  spaxel: number;
  component: number;
  /** Its tile of /HyperCube/models is done. */
  done: boolean;
}

export interface ModelsPanel {
  name: "models";
  wavelength: Float64Array;
  population: number;
  pairs: ModelPair[];
  /** models[s, c, p, :] per pair (empty while pending). */
  values: Float64Array[];
  tiles_done: number;
  tiles_total: number;
  note: string;
}

export interface PrefitPanels {
  spectra: SpectraPanel;
  templates: TemplatesPanel;
  losvd: LosvdPanel;
  models: ModelsPanel;
}

interface PrefitState extends FollowState {
  file: string;
  /** The cube's sizes and datasets ("layout" is ipywidgets' own Layout trait: not that name). */
  cube: PrefitLayout;
  spaxel: number;
  component: number;
  population: number;
  /** What the panels show besides the selection (resolved defaults). */
  spaxels: number[];
  populations: number[];
  pairs: [number, number][];
  max_spectra: number;
  tiles_done: number;
  tiles_total: number;
  sequence: number;
  file_state: string;
}

interface Selection {
  spaxel: number;
  component: number;
  population: number;
  spaxels: number[];
  populations: number[];
  pairs: [number, number][];
  /** How many spectra the spectra panel shows at most. */
  maxSpectra: number;
}

/** Bytes of R_T read at once while rebinning templates. */
const REBIN_SLAB_BYTES = 8 * 1024 * 1024;

/** exp of each value. */
function expAll(a: Float64Array): Float64Array {
  return a.map(Math.exp);
}

/** Median step of a grid (0 for fewer than two points). */
export function medianStep(grid: ArrayLike<number>): number {
  const d: number[] = [];
  for (let i = 1; i < grid.length; i++) d.push(grid[i]! - grid[i - 1]!);
  if (d.length === 0) return 0;
  d.sort((a, b) => a - b);
  return d[Math.floor(d.length / 2)]!;
}

/**
 * The LOSVD's kernel on log-lambda offsets k * dlog, exactly as the HyperCube builder convolves
 * with it (cubefit.kernelGeometry / losvdKernel: each velocity bin spread over the template
 * pixels it overlaps), normalised to sum 1 for display.
 */
export function losvdKernel(
  velocity: ArrayLike<number>,
  values: ArrayLike<number>,
  dlog: number,
): { offsets: Float64Array; velocity: Float64Array; weights: Float64Array } {
  if (velocity.length === 0 || !(dlog > 0))
    return {
      offsets: new Float64Array(0),
      velocity: new Float64Array(0),
      weights: new Float64Array(0),
    };
  const g = cubefit.kernelGeometry(Float64Array.from(velocity), dlog);
  const weights = cubefit.losvdKernel(g, values);
  const sum = weights.reduce((a, b) => a + b, 0);
  if (sum > 0) for (let i = 0; i < weights.length; i++) weights[i]! /= sum;
  const offsets = Float64Array.from(weights, (_, i) => (g.kMin + i) * dlog);
  return { offsets, velocity: offsets.map((o) => C_KMS * o), weights };
}

/**
 * y-limits of spectra from their unmasked pixels: [min, max] of the finite unmasked values
 * with 5 % of the range added on both sides (1 % of |value|, or 1, when flat).
 */
export function unmaskedLimits(
  spectra: ArrayLike<number>[],
  mask: ArrayLike<number>,
): [number, number] | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of spectra)
    for (let l = 0; l < s.length; l++) {
      if (!mask[l]) continue;
      const v = s[l]!;
      if (!Number.isFinite(v)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  if (!(lo <= hi)) return null;
  const pad = hi > lo ? 0.05 * (hi - lo) : Math.abs(hi) * 0.01 || 1;
  return [lo - pad, hi + pad];
}

/** Runs of masked pixels as wavelength ranges between pixel edges (midpoints in log-lambda). */
export function maskedRanges(
  mask: ArrayLike<number>,
  logLambda: ArrayLike<number> | undefined,
): [number, number][] {
  const n = mask.length;
  const edge = (i: number): number => {
    // Edge i lies between pixels i - 1 and i.
    if (!logLambda) return i - 0.5;
    const x = (j: number) => logLambda[Math.min(n - 1, Math.max(0, j))]!;
    if (n === 1) return Math.exp(x(0));
    if (i <= 0) return Math.exp(x(0) - (x(1) - x(0)) / 2);
    if (i >= n) return Math.exp(x(n - 1) + (x(n - 1) - x(n - 2)) / 2);
    return Math.exp((x(i - 1) + x(i)) / 2);
  };
  const out: [number, number][] = [];
  for (let i = 0; i < n;) {
    if (mask[i]) {
      i++;
      continue;
    }
    let j = i;
    while (j < n && !mask[j]) j++;
    out.push([edge(i), edge(j)]);
    i = j;
  }
  return out;
}

/** Diverse (s, c) pairs: spaxels spread over S, components stepping by the golden ratio. */
export function diversePairs(S: number, C: number, n = 5): [number, number][] {
  const k = Math.min(n, S * C);
  const out: [number, number][] = [];
  const seen = new Set<string>();
  const phi = (Math.sqrt(5) - 1) / 2;
  for (let i = 0; out.length < k && i < 4 * k + S * C; i++) {
    const s = k > 1 ? Math.round(((i % k) * (S - 1)) / (k - 1)) : 0;
    const c = Math.floor(((i * phi) % 1) * C);
    const key = `${s},${c}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push([s, c]);
  }
  return out;
}

/** The models tile shape from _done's attribute, the models' chunks, or the grid. */
function tileShape(
  models: DatasetInfo,
  done: DatasetInfo,
  doneAttrs: Record<string, unknown>,
): { tile: [number, number, number]; grid: [number, number, number] } {
  const dims = models.shape.slice(0, 3) as [number, number, number];
  const grid = [0, 1, 2].map((a) => Math.max(1, done.shape[a] ?? 1)) as [number, number, number];
  const fits = (t: unknown[] | null | undefined): t is number[] =>
    !!t &&
    t.length >= 3 &&
    [0, 1, 2].every((a) => {
      const v = Number(t[a]);
      return Number.isInteger(v) && v > 0 && Math.ceil(dims[a]! / v) === grid[a];
    });
  let attrTile: unknown = doneAttrs.tile;
  if (ArrayBuffer.isView(attrTile)) attrTile = Array.from(attrTile as unknown as ArrayLike<number>);
  if (Array.isArray(attrTile) && fits(attrTile))
    return { tile: attrTile.slice(0, 3).map(Number) as [number, number, number], grid };
  if (fits(models.chunks))
    return { tile: models.chunks!.slice(0, 3) as [number, number, number], grid };
  return {
    tile: [0, 1, 2].map((a) => Math.max(1, Math.ceil(dims[a]! / grid[a]!))) as [
      number,
      number,
      number,
    ],
    grid,
  };
}

/**
 * The sizes and which datasets exist; ShapeMismatchError when datasets disagree about a size,
 * DatasetNotFoundError when the file has none of a CubeFit file's main datasets.
 */
export async function readPrefitLayout(reader: AsyncStoreReader): Promise<PrefitLayout> {
  const file = reader.path;
  const names = {
    dataCube: CUBEFIT.dataCube,
    obsPix: CUBEFIT.obsPix,
    mask: CUBEFIT.mask,
    templates: CUBEFIT.templates,
    temPix: CUBEFIT.temPix,
    rebinT: CUBEFIT.rebinT,
    rebinMatrix: CUBEFIT.rebinMatrix,
    losvd: CUBEFIT.losvd,
    velPix: CUBEFIT.velPix,
    models: CUBEFIT.models,
    modelsDone: CUBEFIT.modelsDone,
  };
  const info: Partial<Record<keyof typeof names, DatasetInfo>> = {};
  for (const [k, ds] of Object.entries(names) as [keyof typeof names, string][]) {
    const i = await datasetInfo(reader, ds);
    if (i) info[k] = i;
  }
  if (!info.dataCube && !info.templates && !info.losvd && !info.models)
    throw new DatasetNotFoundError(
      `not a CubeFit file: none of ${CUBEFIT.dataCube}, ${CUBEFIT.templates}, ${CUBEFIT.losvd}, ${CUBEFIT.models}`,
      { file },
    );
  const rootAttrs = await reader.attrs("/");
  const fromAttr = parseDims(rootAttrs.dims);
  // Every dataset's say about each size; they must agree.
  const claims: Record<keyof PrefitDims, [string, number][]> = {
    S: [],
    L: [],
    T: [],
    V: [],
    C: [],
    P: [],
  };
  const claim = (k: keyof PrefitDims, ds: string, n: number | undefined) => {
    if (n !== undefined) claims[k].push([ds, n]);
  };
  const sh = (i: DatasetInfo | undefined, axes: number) =>
    i && i.shape.length === axes ? i.shape : undefined;
  for (const [ds, i, axes] of [
    [CUBEFIT.dataCube, info.dataCube, 2],
    [CUBEFIT.templates, info.templates, 2],
    [CUBEFIT.losvd, info.losvd, 3],
    [CUBEFIT.models, info.models, 4],
    [CUBEFIT.obsPix, info.obsPix, 1],
    [CUBEFIT.temPix, info.temPix, 1],
    [CUBEFIT.velPix, info.velPix, 1],
    [CUBEFIT.mask, info.mask, 1],
    [CUBEFIT.rebinMatrix, info.rebinMatrix, 2],
  ] as const) {
    if (i && !sh(i, axes))
      throw new ShapeMismatchError(
        `must have ${axes} axes (seed 003's layout), it is [${i.shape.join(" x ")}]`,
        { file, dataset: ds },
      );
  }
  const dc = sh(info.dataCube, 2);
  claim("S", CUBEFIT.dataCube, dc?.[0]);
  claim("L", CUBEFIT.dataCube, dc?.[1]);
  const tp = sh(info.templates, 2);
  claim("P", CUBEFIT.templates, tp?.[0]);
  claim("T", CUBEFIT.templates, tp?.[1]);
  const lv = sh(info.losvd, 3);
  claim("S", CUBEFIT.losvd, lv?.[0]);
  claim("V", CUBEFIT.losvd, lv?.[1]);
  claim("C", CUBEFIT.losvd, lv?.[2]);
  const md = sh(info.models, 4);
  claim("S", CUBEFIT.models, md?.[0]);
  claim("C", CUBEFIT.models, md?.[1]);
  claim("P", CUBEFIT.models, md?.[2]);
  claim("L", CUBEFIT.models, md?.[3]);
  claim("L", CUBEFIT.obsPix, sh(info.obsPix, 1)?.[0]);
  claim("L", CUBEFIT.mask, sh(info.mask, 1)?.[0]);
  claim("T", CUBEFIT.temPix, sh(info.temPix, 1)?.[0]);
  claim("V", CUBEFIT.velPix, sh(info.velPix, 1)?.[0]);
  const rm = sh(info.rebinMatrix, 2);
  claim("L", CUBEFIT.rebinMatrix, rm?.[0]);
  claim("T", CUBEFIT.rebinMatrix, rm?.[1]);
  const dims = { S: 0, L: 0, T: 0, V: 0, C: 0, P: 0 } as PrefitDims;
  const attrKey = {
    S: "nSpat",
    L: "nLSpec",
    T: "nTSpec",
    V: "nVel",
    C: "nComp",
    P: "nPop",
  } as const;
  for (const k of Object.keys(claims) as (keyof PrefitDims)[]) {
    const list = claims[k];
    const first = list[0];
    const other = list.find(([, n]) => n !== first?.[1]);
    if (first && other)
      throw new ShapeMismatchError(
        `the datasets disagree about ${k}: ${list.map(([ds, n]) => `${ds} says ${n}`).join(", ")}`,
        { file, dataset: other[0] },
      );
    dims[k] = first?.[1] ?? fromAttr[attrKey[k]] ?? 0;
  }
  // R_T is (T, L); stored the other way round it is transposed on reading.
  let rebin = "";
  const rebinT = info.rebinT;
  if (rebinT && rebinT.shape.length === 2) {
    const [a, b] = rebinT.shape as [number, number];
    if (a === dims.T && b === dims.L) rebin = "R_T";
    else if (a === dims.L && b === dims.T) rebin = "R_T transposed";
    else
      throw new ShapeMismatchError(
        `is [${a} x ${b}], neither (T, L) = (${dims.T}, ${dims.L}) nor its transpose`,
        { file, dataset: CUBEFIT.rebinT },
      );
  } else if (info.rebinMatrix) rebin = "RebinMatrix";
  let tile: [number, number, number] | null = null;
  let grid: [number, number, number] | null = null;
  if (info.models && info.modelsDone) {
    if (info.modelsDone.shape.length !== 3)
      throw new ShapeMismatchError(
        `must be the tile grid (Sgrid, Cgrid, Pgrid), it is [${info.modelsDone.shape.join(" x ")}]`,
        { file, dataset: CUBEFIT.modelsDone },
      );
    ({ tile, grid } = tileShape(info.models, info.modelsDone, info.modelsDone.attrs));
  }
  const present: Record<string, boolean> = {};
  for (const [k] of Object.entries(names)) present[k] = !!info[k as keyof typeof names];
  const attrs: Record<string, string> = {};
  for (const [k, v] of Object.entries(rootAttrs))
    if (!k.startsWith("_stagelab") && !k.startsWith("stagelab_")) attrs[k] = attrText(v);
  return { dims, present, rebin, tile, grid, attrs };
}

/**
 * The snapshot's data apart from the widget: reads the panels for a selection (one reader
 * call at a time, with refreshes in between), caching the rebinned templates.
 */
export class PrefitData {
  readonly queue = new SerialQueue();
  private templatesCache: { key: string; panel: TemplatesPanel } | undefined;
  private done: Uint8Array | undefined;

  constructor(
    readonly reader: AsyncStoreReader,
    public layout: PrefitLayout,
  ) {}

  get dims(): PrefitDims {
    return this.layout.dims;
  }

  /** Re-read the layout after a refresh; true when datasets appeared or went. */
  async relayout(): Promise<boolean> {
    const next = await readPrefitLayout(this.reader);
    const changed = JSON.stringify(next.present) !== JSON.stringify(this.layout.present);
    this.layout = next;
    if (changed) this.templatesCache = undefined;
    return changed;
  }

  /** Re-read /HyperCube/_done; true when it changed. */
  async readDone(): Promise<boolean> {
    const g = this.layout.grid;
    let next: Uint8Array | undefined;
    if (g && this.layout.present.modelsDone) {
      const a = await this.reader.read(CUBEFIT.modelsDone);
      next = Uint8Array.from(a.data as ArrayLike<number | bigint>, (v) => (Number(v) ? 1 : 0));
    }
    const before = this.done;
    this.done = next;
    return (
      !before !== !next ||
      (!!before &&
        !!next &&
        (before.length !== next.length || before.some((v, i) => v !== next[i])))
    );
  }

  /** Tiles done and in all (a file with models but no _done counts every tile as done). */
  get tiles(): { done: number; total: number } {
    if (!this.layout.present.models) return { done: 0, total: 0 };
    if (!this.done) return { done: 1, total: 1 };
    return { done: this.done.reduce((a, b) => a + b, 0), total: this.done.length };
  }

  /** Whether the tile holding (s, c, p) is done. */
  tileDone(s: number, c: number, p: number): boolean {
    const { tile, grid } = this.layout;
    if (!this.layout.present.models) return false;
    if (!this.done || !tile || !grid) return true;
    const [gs, gc, gp] = [
      Math.floor(s / tile[0]),
      Math.floor(c / tile[1]),
      Math.floor(p / tile[2]),
    ];
    if (gs >= grid[0] || gc >= grid[1] || gp >= grid[2]) return false;
    return this.done[(gs * grid[1] + gc) * grid[2] + gp] === 1;
  }

  private async logLambda(): Promise<Float64Array | undefined> {
    return this.layout.present.obsPix ? readFloat64(this.reader, CUBEFIT.obsPix) : undefined;
  }

  private async wavelength(): Promise<Float64Array> {
    const ll = await this.logLambda();
    return ll ? expAll(ll) : Float64Array.from({ length: this.dims.L }, (_, i) => i);
  }

  async spectra(sel: Selection): Promise<SpectraPanel> {
    const { L } = this.dims;
    const present = this.layout.present;
    const ll = await this.logLambda();
    const wavelength = ll ? expAll(ll) : Float64Array.from({ length: L }, (_, i) => i);
    const mask = present.mask
      ? Uint8Array.from(
          (await this.reader.read(CUBEFIT.mask)).data as ArrayLike<number | bigint>,
          (v) => (Number(v) ? 1 : 0),
        )
      : new Uint8Array(L).fill(1);
    const spaxels = present.dataCube
      ? [sel.spaxel, ...sel.spaxels.filter((s) => s !== sel.spaxel)].slice(0, sel.maxSpectra)
      : [];
    const values: Float64Array[] = [];
    for (const s of spaxels) values.push(await readFloat64(this.reader, CUBEFIT.dataCube, [s]));
    const notes = [];
    if (!present.dataCube) notes.push(`no ${CUBEFIT.dataCube}`);
    if (!ll) notes.push(`no ${CUBEFIT.obsPix}: x is the pixel index`);
    if (!present.mask) notes.push(`no ${CUBEFIT.mask}: every pixel used`);
    return {
      name: "spectra",
      wavelength,
      spaxels,
      values,
      mask,
      masked: maskedRanges(mask, ll),
      y_domain: unmaskedLimits(values, mask),
      note: notes.join("; "),
    };
  }

  async templates(sel: Selection): Promise<TemplatesPanel> {
    const key = JSON.stringify(sel.populations);
    if (this.templatesCache?.key === key) return this.templatesCache.panel;
    const { T, L } = this.dims;
    const wavelength = await this.wavelength();
    const present = this.layout.present;
    const rebin = this.layout.rebin;
    if (!present.templates || !rebin) {
      const note = !present.templates
        ? `no ${CUBEFIT.templates}`
        : `no ${CUBEFIT.rebinT} (or ${CUBEFIT.rebinMatrix})`;
      return { name: "templates", wavelength, populations: [], values: [], note };
    }
    const populations = sel.populations;
    const tmpl: Float64Array[] = [];
    for (const p of populations) tmpl.push(await readFloat64(this.reader, CUBEFIT.templates, [p]));
    const out = populations.map(() => new Float64Array(L));
    if (rebin === "R_T") {
      // (T, L): rows t, slab by slab: out[p][l] += tmpl[p][t] * R[t][l].
      const rows = Math.max(1, Math.floor(REBIN_SLAB_BYTES / (8 * Math.max(1, L))));
      for (let t0 = 0; t0 < T; t0 += rows) {
        const t1 = Math.min(T, t0 + rows);
        const slab = await readFloat64(this.reader, CUBEFIT.rebinT, [[t0, t1]]);
        for (let t = t0; t < t1; t++) {
          const row = slab.subarray((t - t0) * L, (t - t0 + 1) * L);
          populations.forEach((_, j) => {
            const w = tmpl[j]![t]!;
            if (w === 0) return;
            const o = out[j]!;
            for (let l = 0; l < L; l++) if (row[l] !== 0) o[l]! += w * row[l]!;
          });
        }
      }
    } else {
      // (L, T) (R_T transposed, or /RebinMatrix): out[p][l] = sum_t R[l][t] * tmpl[p][t].
      const ds = rebin === "RebinMatrix" ? CUBEFIT.rebinMatrix : CUBEFIT.rebinT;
      const rows = Math.max(1, Math.floor(REBIN_SLAB_BYTES / (8 * Math.max(1, T))));
      for (let l0 = 0; l0 < L; l0 += rows) {
        const l1 = Math.min(L, l0 + rows);
        const slab = await readFloat64(this.reader, ds, [[l0, l1]]);
        for (let l = l0; l < l1; l++) {
          const row = slab.subarray((l - l0) * T, (l - l0 + 1) * T);
          populations.forEach((_, j) => {
            const tp = tmpl[j]!;
            let acc = 0;
            for (let t = 0; t < T; t++) acc += row[t]! * tp[t]!;
            out[j]![l] = acc;
          });
        }
      }
    }
    const panel: TemplatesPanel = {
      name: "templates",
      wavelength,
      populations: [...populations],
      values: out,
      note: rebin === "R_T" ? "" : `rebinned with ${rebin}`,
    };
    this.templatesCache = { key, panel };
    return panel;
  }

  async losvd(sel: Selection): Promise<LosvdPanel> {
    const present = this.layout.present;
    const { spaxel, component } = sel;
    const empty = new Float64Array(0);
    if (!present.losvd || !present.velPix)
      return {
        name: "losvd",
        spaxel,
        component,
        velocity: empty,
        values: empty,
        kernel_offsets: empty,
        kernel_velocity: empty,
        kernel_weights: empty,
        dlog: 0,
        note: `no ${present.losvd ? CUBEFIT.velPix : CUBEFIT.losvd}`,
      };
    const velocity = await readFloat64(this.reader, CUBEFIT.velPix);
    const values = await readFloat64(this.reader, CUBEFIT.losvd, [spaxel, null, component]);
    const grid = present.temPix
      ? await readFloat64(this.reader, CUBEFIT.temPix)
      : await this.logLambda();
    const dlog = grid ? medianStep(grid) : 0;
    const k = losvdKernel(velocity, values, dlog);
    const notes = [];
    if (!present.temPix) notes.push(`no ${CUBEFIT.temPix}: kernel on the ${CUBEFIT.obsPix} step`);
    if (!(dlog > 0)) notes.push("no log-lambda step: no kernel");
    return {
      name: "losvd",
      spaxel,
      component,
      velocity,
      values,
      kernel_offsets: k.offsets,
      kernel_velocity: k.velocity,
      kernel_weights: k.weights,
      dlog,
      note: notes.join("; "),
    };
  }

  async models(sel: Selection): Promise<ModelsPanel> {
    const present = this.layout.present;
    const wavelength = await this.wavelength();
    const { done, total } = this.tiles;
    const p = sel.population;
    const list: [number, number][] = [[sel.spaxel, sel.component]];
    for (const pr of sel.pairs)
      if (!list.some((q) => q[0] === pr[0] && q[1] === pr[1])) list.push(pr);
    const pairs: ModelPair[] = [];
    const values: Float64Array[] = [];
    if (present.models) {
      for (const [s, c] of list) {
        const ok = this.tileDone(s, c, p);
        pairs.push({ spaxel: s, component: c, done: ok });
        values.push(
          ok ? await readFloat64(this.reader, CUBEFIT.models, [s, c, p]) : new Float64Array(0),
        );
      }
    }
    const notes = [];
    if (!present.models) notes.push(`no ${CUBEFIT.models} yet`);
    else if (!present.modelsDone) notes.push(`no ${CUBEFIT.modelsDone}: every tile shown as done`);
    return {
      name: "models",
      wavelength,
      population: p,
      pairs,
      values,
      tiles_done: done,
      tiles_total: total,
      note: notes.join("; "),
    };
  }

  /** The named panels for a selection (reads one at a time through the queue). */
  panels(names: readonly PrefitPanelName[], sel: Selection): Promise<Partial<PrefitPanels>> {
    return this.queue.run(async () => {
      const out: Partial<PrefitPanels> = {};
      for (const n of names) {
        if (n === "spectra") out.spectra = await this.spectra(sel);
        else if (n === "templates") out.templates = await this.templates(sel);
        else if (n === "losvd") out.losvd = await this.losvd(sel);
        else out.models = await this.models(sel);
      }
      return out;
    });
  }
}

function resolveSelection(dims: PrefitDims, opts: PrefitOptions): Selection {
  const { S, C, P } = dims;
  const idx = (what: string, v: number | undefined, n: number) =>
    n > 0 ? checkIndex(what, v ?? 0, n) : 0;
  const spaxel = idx("spaxel", opts.spaxel, S);
  const component = idx("component", opts.component, C);
  const population = idx("population", opts.population, P);
  const spaxels = (opts.spaxels ?? spread(S, 4)).map((s) => idx("spaxels[]", s, S));
  const populations = (opts.populations ?? spread(P, 4)).map((p) => idx("populations[]", p, P));
  const pairs = (opts.pairs ?? diversePairs(S, C)).map(
    ([s, c]) => [idx("pairs[][0]", s, S), idx("pairs[][1]", c, C)] as [number, number],
  );
  return {
    spaxel,
    component,
    population,
    spaxels,
    populations,
    pairs,
    maxSpectra: opts.spaxels ? spaxels.length + 1 : 4,
  };
}

export class PrefitSnapshot extends FileView<PrefitState> {
  private viewsAsked = false;

  private constructor(
    reader: AsyncStoreReader,
    private readonly data: PrefitData,
    state: PrefitState,
  ) {
    super(
      reader,
      {
        modelName: "PrefitSnapshotModel",
        modelModule: WIDGETS_MODULE,
        viewName: "PrefitSnapshotView",
        viewModule: WIDGETS_MODULE,
      },
      state,
    );
    this.onCustom((content) => void this.onRequest(content as Record<string, unknown>));
  }

  /** Open a CubeFit file read-only (use `await prefitSnapshot(file)` in a cell). */
  static async open(file: string, opts: PrefitOptions = {}): Promise<PrefitSnapshot> {
    const reader = await AsyncStoreReader.open(file);
    let v: PrefitSnapshot | undefined;
    try {
      const layout = await readPrefitLayout(reader);
      const data = new PrefitData(reader, layout);
      await data.readDone();
      const status = await reader.status();
      const sel = resolveSelection(layout.dims, opts);
      const tiles = data.tiles;
      v = new PrefitSnapshot(reader, data, {
        _model_module_version: WIDGETS_VERSION,
        _view_module_version: WIDGETS_VERSION,
        file,
        cube: layout,
        spaxel: sel.spaxel,
        component: sel.component,
        population: sel.population,
        spaxels: sel.spaxels,
        populations: sel.populations,
        pairs: sel.pairs,
        max_spectra: sel.maxSpectra,
        tiles_done: tiles.done,
        tiles_total: tiles.total,
        ...followState(opts, status.state, status.sequence),
      });
      await v.setPreview(
        () => v!.staticPreview(),
        () => v!.describe(),
      );
      return v;
    } catch (e) {
      if (v) v.close();
      else await reader.close();
      throw e;
    }
  }

  override toString(): string {
    return `PrefitSnapshot(${JSON.stringify(this.get("file"))})`;
  }

  private selection(): Selection {
    return {
      spaxel: this.get("spaxel"),
      component: this.get("component"),
      population: this.get("population"),
      spaxels: this.get("spaxels"),
      populations: this.get("populations"),
      pairs: this.get("pairs"),
      maxSpectra: this.get("max_spectra"),
    };
  }

  /** The four panels as the view receives them (for scripts and tests). */
  async panels(): Promise<PrefitPanels> {
    return (await this.data.panels(PREFIT_PANELS, this.selection())) as PrefitPanels;
  }

  /** Tiles of /HyperCube/models done, and in all. */
  get tiles(): { done: number; total: number } {
    return { done: this.get("tiles_done"), total: this.get("tiles_total") };
  }

  /** Change the selection from a cell (the views follow). */
  async select(sel: { spaxel?: number; component?: number; population?: number }): Promise<void> {
    const changed = this.applySelection(sel);
    if (this.viewsAsked && changed.length) await this.sendPanels("kernel", changed);
  }

  /** Apply a partial selection; the panels it changes. RangeError on bad indices. */
  private applySelection(sel: Record<string, unknown>): PrefitPanelName[] {
    const { S, C, P } = this.data.dims;
    const patch: Partial<PrefitState> = {};
    const changed = new Set<PrefitPanelName>();
    if (sel.spaxel !== undefined && S > 0) {
      const s = checkIndex("spaxel", sel.spaxel, S);
      if (s !== this.get("spaxel")) {
        patch.spaxel = s;
        for (const n of ["spectra", "losvd", "models"] as const) changed.add(n);
      }
    }
    if (sel.component !== undefined && C > 0) {
      const c = checkIndex("component", sel.component, C);
      if (c !== this.get("component")) {
        patch.component = c;
        for (const n of ["losvd", "models"] as const) changed.add(n);
      }
    }
    if (sel.population !== undefined && P > 0) {
      const p = checkIndex("population", sel.population, P);
      if (p !== this.get("population")) {
        patch.population = p;
        changed.add("models");
      }
    }
    this.set(patch);
    return PREFIT_PANELS.filter((n) => changed.has(n));
  }

  protected override fromView(patch: Record<string, unknown>): Partial<PrefitState> {
    const { spaxel, component, population, ...rest } = patch;
    if (spaxel !== undefined || component !== undefined || population !== undefined)
      void this.applyAndPush("state", { spaxel, component, population });
    return rest as Partial<PrefitState>;
  }

  private async applyAndPush(id: string, sel: Record<string, unknown>): Promise<void> {
    try {
      const changed = this.applySelection(sel);
      if (changed.length || id !== "state") await this.sendPanels(id, changed);
    } catch (e) {
      this.sendError(id, e);
    }
  }

  private async onRequest(c: Record<string, unknown>): Promise<void> {
    const id = String(c.id ?? "");
    this.viewsAsked = true;
    try {
      if (c.type === "panels") await this.sendPanels(id, [...PREFIT_PANELS]);
      else if (c.type === "select")
        await this.applyAndPush(id, {
          spaxel: c.spaxel,
          component: c.component,
          population: c.population,
        });
    } catch (e) {
      this.sendError(id, e);
    }
  }

  private async sendPanels(id: string, names: PrefitPanelName[]): Promise<void> {
    if (this.comm.isClosed) return;
    const panels = await this.data.panels(names, this.selection());
    sendPacked(this, {
      type: "panels",
      id,
      sequence: this.get("sequence"),
      tiles_done: this.get("tiles_done"),
      selection: {
        spaxel: this.get("spaxel"),
        component: this.get("component"),
        population: this.get("population"),
      },
      panels,
    });
  }

  protected async pollOnce(): Promise<void> {
    const data = this.data;
    const fresh = await data.queue.run(() => this.reader.refresh());
    if (!fresh) return;
    const status = await data.queue.run(() => this.reader.status());
    const { relaid, tilesChanged } = await data.queue.run(async () => ({
      relaid: await data.relayout(),
      tilesChanged: await data.readDone(),
    }));
    const tiles = data.tiles;
    this.set({
      sequence: status.sequence,
      file_state: status.state,
      tiles_done: tiles.done,
      tiles_total: tiles.total,
      error: "",
      ...(relaid ? { cube: data.layout } : {}),
    });
    if (this.viewsAsked && (relaid || tilesChanged))
      await this.sendPanels("live", relaid ? [...PREFIT_PANELS] : ["models"]);
    if (status.state === "complete") this.set({ following: false });
  }

  protected override closeReader(): Promise<void> {
    return this.data.queue.run(() => this.reader.close()).catch(() => undefined);
  }

  // ---- static preview ------------------------------------------------------------------------

  describe(): string {
    const { S, L, T, V, C, P } = this.data.dims;
    const { done, total } = this.tiles;
    return [
      `PrefitSnapshot ${path.basename(this.get("file"))}: S=${S} spaxels, L=${L} pixels, T=${T} template pixels, V=${V} velocity bins, C=${C} components, P=${P} populations`,
      `HyperCube tiles done: ${done} / ${total}`,
      `TL observed spectra (spaxel ${this.get("spaxel")} and others; masked pixels shaded)  |  TR templates rebinned with R_T (populations ${this.get("populations").join(", ")})`,
      `BL LOSVD of spaxel ${this.get("spaxel")}, component ${this.get("component")} and its log-lambda kernel  |  BR stored models of population ${this.get("population")}`,
    ].join("\n");
  }

  private async staticPreview(): Promise<MimeBundle> {
    const bundle: MimeBundle = { "text/plain": this.describe() };
    const p = await this.panels();
    const W = 380;
    const H = 230;
    const colour = (i: number) => PALETTE[i % PALETTE.length]!;
    const tl = lineChart({
      title: `Observed spectra (s = ${p.spectra.spaxels.join(",")})`,
      width: W,
      height: H,
      // Masked pixels are left out: one line per run of unmasked pixels.
      series: p.spectra.values.flatMap((y, i) =>
        unmaskedRuns(p.spectra.mask).map(([a, b]) => ({
          x: p.spectra.wavelength.subarray(a, b),
          y: y.subarray(a, b),
          color: colour(i),
        })),
      ),
      bands: p.spectra.masked,
      ...(p.spectra.y_domain ? { yDomain: p.spectra.y_domain } : {}),
    });
    const tr = lineChart({
      title: `Templates x R_T (p = ${p.templates.populations.join(",")})`,
      width: W,
      height: H,
      series: p.templates.values.map((y, i) => ({
        x: p.templates.wavelength,
        y,
        color: colour(i),
      })),
    });
    const bl = lineChart({
      title: `LOSVD s=${p.losvd.spaxel} c=${p.losvd.component} + kernel (km/s)`,
      width: W,
      height: H,
      series: [
        { x: p.losvd.velocity, y: normalised(p.losvd.values), color: colour(0) },
        { x: p.losvd.kernel_velocity, y: normalised(p.losvd.kernel_weights), color: colour(1) },
      ],
    });
    const br = lineChart({
      title: `Models p=${p.models.population} (${p.models.tiles_done}/${p.models.tiles_total} tiles)`,
      width: W,
      height: H,
      series: p.models.values.map((y, i) => ({ x: p.models.wavelength, y, color: colour(i) })),
    });
    const png = composeGrid([
      [tl, tr],
      [bl, br],
    ]);
    bundle["image/png"] = encodePng(png.rgba, png.width, png.height).toString("base64");
    return bundle;
  }
}

/** [start, end) of each run of unmasked pixels. */
function unmaskedRuns(mask: Uint8Array): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < mask.length;) {
    if (!mask[i]) {
      i++;
      continue;
    }
    let j = i;
    while (j < mask.length && mask[j]) j++;
    out.push([i, j]);
    i = j;
  }
  return out;
}

/** Values scaled to a maximum of 1 (for drawing two curves of different units together). */
function normalised(a: Float64Array): Float64Array {
  let m = 0;
  for (const v of a) if (Number.isFinite(v) && Math.abs(v) > m) m = Math.abs(v);
  return m > 0 ? a.map((v) => v / m) : a;
}

/**
 * The live prefit snapshot of a CubeFit file: `await prefitSnapshot("cube.h5")`. Four panels
 * (observed spectra, rebinned templates, LOSVD + kernel, stored models), read-only while the
 * HyperCube builder may still write the file (completed tiles appear as they are committed).
 */
export function prefitSnapshot(file: string, opts: PrefitOptions = {}): Promise<PrefitSnapshot> {
  return PrefitSnapshot.open(file, opts);
}
