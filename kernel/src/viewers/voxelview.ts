/**
 * VoxelView, kernel side: three linked orthogonal planes through a merged 3-d diffuse map.
 *
 * The map (written by the voxel accumulator through the store):
 *   /map/intensity float32 [nH, nK, nL] (NaN: no data), /map/sigma float32, /map/n_obs uint32;
 *   attributes of /map: hkl_origin [3] (sub-Miller index of voxel [0,0,0]), ndiv [3],
 *   laue_class, space_group, unit_cell [6], b_matrix [9] (row-major, per Å), asu_only, units.
 * Fractional hkl of voxel [i, j, k] is (hkl_origin + [i, j, k]) / ndiv.
 *
 * The model opens the file read-only on the store's thread, and answers the view's requests
 * with exactly the planes on screen: for each pixel (an integer sub-Miller index n) the stored
 * voxel it shows, mapped into the asymmetric unit through the Laue operators when the view
 * expands the ASU to full reciprocal space (the stored volume stays in the kernel; only planes
 * travel). While following a file the accumulator is still writing, it polls for commits and
 * pushes the planes on screen again. Its display also carries a static PNG of the three
 * planes for notebooks read without a kernel.
 *
 * Messages (custom, view -> kernel): {type: "planes", id, position: [nh, nk, nl], expand,
 *   fixed: [axes]} (fixed axis 0 = the k-l plane at h, 1 = h-l at k, 2 = h-k at l).
 * (kernel -> view): {type: "plane", id, sequence, expand, fixed, index, x, y} with three
 *   buffers: intensity float32, sigma float32, n_obs uint32, row-major (rows top to bottom;
 *   pixel [r, c] shows n[x.axis] = x.start + c * x.step, n[y.axis] = y.start + r * y.step,
 *   n[fixed] = index); pushed after a new commit with id "live";
 *   {type: "error", id, message}.
 */
import path from "node:path";
import * as core from "@stagelab/core";
import {
  AsyncStoreReader,
  encodePng,
  viewer,
  type AxisSelection,
  type StoreArray,
} from "@stagelab/core";
import { type MimeBundle } from "../format.js";
import { FileView, attrText, followState } from "./file-view.js";
import { composeGrid, fitScale, type RgbaImage } from "./compose.js";
import { WIDGETS_MODULE, WIDGETS_VERSION } from "./h5view.js";

const { fracText } = viewer;
type VoxelMapInfo = core.viewer.VoxelMapInfo;

/** B of a cell [a, b, c, alpha, beta, gamma] (dxtbx/cctbx convention), row-major. */
function bMatrixFromCell(cell: readonly number[]): number[] {
  const [aA, bA, cA, alphaDeg, betaDeg, gammaDeg] = cell as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  return [...core.geometry.bMatrix({ aA, bA, cA, alphaDeg, betaDeg, gammaDeg })];
}
import {
  clampPosition,
  expandedExtent,
  gather,
  planeGrid,
  planeVoxels,
  storedExtent,
  voxelBox,
  type Axis,
  type Extent,
  type LaueOps,
  type PlaneGrid,
  type Vec3,
} from "./voxelplanes.js";

type ColormapName = "viridis" | "magma" | "gray" | "coolwarm";
const COLORMAP_NAMES: readonly string[] = viewer.COLORMAPS;

/** The Laue-symmetry functions VoxelView uses (the API of @stagelab/core's symmetry module). */
export interface SymmetryModule {
  laueGroup(spaceGroup: string | number): unknown;
  /** The group of a Laue class name ("mmm", "4/mmm", ...), for maps naming no space group. */
  laueGroupByName?(name: string): unknown;
  mapToAsu(group: never, hkl: Int32Array, out?: Int32Array): Int32Array;
  symmetryMates(group: never, h: number, k: number, l: number): Int32Array;
}

function isSymmetryModule(x: unknown): x is SymmetryModule {
  const o = x as Record<string, unknown> | null | undefined;
  return (
    !!o &&
    typeof o.laueGroup === "function" &&
    typeof o.mapToAsu === "function" &&
    typeof o.symmetryMates === "function"
  );
}

/** @stagelab/core's symmetry functions (as `symmetry.*` or at top level), if it has them. */
export function coreSymmetry(): SymmetryModule | undefined {
  const c = core as unknown as Record<string, unknown>;
  for (const candidate of [c["symmetry"], c]) if (isSymmetryModule(candidate)) return candidate;
  return undefined;
}

interface VoxelViewState extends Record<string, unknown> {
  file: string;
  map: VoxelMapInfo;
  /** Sub-Miller indices [nh, nk, nl] of the three planes (the crosshair). */
  position: Vec3;
  expand_asu: boolean;
  expand_available: boolean;
  /** Why expanding is unavailable, or which Laue group it uses. */
  expand_note: string;
  /** Sub-Miller ranges of the stored arrays, and of full reciprocal space when expandable. */
  extent: Extent;
  expanded_extent: Extent | null;
  colormap: ColormapName;
  log: boolean;
  following: boolean;
  poll_ms: number;
  sequence: number;
  file_state: string;
  error: string;
  /** Planes larger than this per axis are sent strided. */
  max_per_axis: number;
}

export interface VoxelViewOptions {
  /** Fractional hkl positions of the planes: k-l at h, h-l at k, h-k at l (default 0 or centre). */
  planes?: { h?: number; k?: number; l?: number };
  colormap?: ColormapName;
  log?: boolean;
  /** Start with the ASU expanded to full reciprocal space (needs an ASU-only map). */
  expandAsu?: boolean;
  /** Poll interval while following a file another writer is filling (ms, default 500). */
  pollMs?: number;
  /** Follow new commits (default: while the file is being written). */
  follow?: boolean;
  /** Group holding the map (default "/map"). */
  group?: string;
  /** Largest plane size per axis sent unstrided (default 512). */
  maxPerAxis?: number;
  /** Laue operators to use instead of @stagelab/core's symmetry module. */
  symmetry?: SymmetryModule;
}

export interface PlaneData {
  grid: PlaneGrid;
  intensity: Float32Array;
  sigma: Float32Array;
  nObs: Uint32Array;
}

function attrNumbers(v: unknown): number[] | undefined {
  let x = v;
  if (typeof x === "string") {
    try {
      x = JSON.parse(x);
    } catch {
      return undefined;
    }
  }
  if (ArrayBuffer.isView(x)) x = Array.from(x as unknown as ArrayLike<number | bigint>);
  if (!Array.isArray(x)) return typeof x === "number" ? [x] : undefined;
  const out = x.map(Number);
  return out.every(Number.isFinite) ? out : undefined;
}

function attrBool(v: unknown): boolean {
  if (typeof v === "string") return v.toLowerCase() === "true" || v === "1";
  if (typeof v === "bigint") return v !== 0n;
  if (ArrayBuffer.isView(v)) return Number((v as unknown as ArrayLike<number>)[0] ?? 0) !== 0;
  return Boolean(v);
}

function vec3(v: number[] | undefined, fallback: Vec3, integer: boolean): Vec3 {
  if (!v || v.length !== 3) return fallback;
  return (integer ? v.map(Math.round) : v) as Vec3;
}

async function exists(reader: AsyncStoreReader, ds: string): Promise<boolean> {
  try {
    await reader.info(ds);
    return true;
  } catch {
    return false;
  }
}

/** The map's layout and attributes. */
export async function readMapInfo(reader: AsyncStoreReader, group = "/map"): Promise<VoxelMapInfo> {
  const g = group.replace(/\/+$/, "") || "/map";
  const info = await reader.info(`${g}/intensity`);
  if (info.shape.length !== 3)
    throw new Error(
      `${g}/intensity must be 3-d [nH, nK, nL], it is [${info.shape.join(" x ")}] in ${reader.path}`,
    );
  const attrs = await reader.attrs(g);
  const ndiv = vec3(attrNumbers(attrs.ndiv), [1, 1, 1], true);
  if (ndiv.some((d) => d < 1))
    throw new Error(`${g}@ndiv must be positive, got [${ndiv.join(", ")}]`);
  const cell = attrNumbers(attrs.unit_cell) ?? [];
  let b = attrNumbers(attrs.b_matrix) ?? null;
  if (!b || b.length !== 9)
    b = cell.length === 6 && cell.every((x) => x > 0) ? bMatrixFromCell(cell) : null;
  return {
    group: g,
    shape: info.shape as Vec3,
    origin: vec3(attrNumbers(attrs.hkl_origin), [0, 0, 0], true),
    ndiv,
    laue_class: attrText(attrs.laue_class),
    space_group: attrText(attrs.space_group),
    unit_cell: cell,
    b_matrix: b,
    asu_only: attrBool(attrs.asu_only),
    units: attrText(attrs.units),
    dtype: info.dtype,
    has_sigma: await exists(reader, `${g}/sigma`),
    has_n_obs: await exists(reader, `${g}/n_obs`),
  };
}

/** The Laue operators of the map's group, or why there are none. */
export function laueOpsFor(
  sym: SymmetryModule | undefined,
  map: VoxelMapInfo,
): { ops?: LaueOps; note: string } {
  if (!sym) return { note: "no symmetry module (@stagelab/core symmetry) available" };
  const errors: string[] = [];
  // The space group first; else the Laue class by name (or as the space group call takes it).
  const tries: [string, string, (name: string) => unknown][] = [
    ["space group", map.space_group, (n) => sym.laueGroup(n)],
    ["Laue class", map.laue_class, (n) => (sym.laueGroupByName ?? sym.laueGroup)(n)],
  ];
  for (const [what, name, groupOf] of tries) {
    if (!name) continue;
    try {
      const group = groupOf(name) as never;
      const ops: LaueOps = {
        mapToAsu: (hkl, out) => sym.mapToAsu(group, hkl, out),
        mates: (h, k, l) => sym.symmetryMates(group, h, k, l),
      };
      ops.mapToAsu(new Int32Array([1, 2, 3]), new Int32Array(3));
      const laue = (group as { name?: unknown } | null)?.name;
      return {
        ops,
        note: `Laue group ${typeof laue === "string" ? laue : ""} of ${what} ${name}`.replace(
          "  ",
          " ",
        ),
      };
    } catch (e) {
      errors.push(`${what} ${JSON.stringify(name)}: ${(e as Error).message}`);
    }
  }
  return {
    note: errors.length
      ? `unknown symmetry (${errors.join("; ")})`
      : "the map names no space group or Laue class",
  };
}

function defaultPosition(
  extent: Extent,
  map: VoxelMapInfo,
  planes: VoxelViewOptions["planes"],
): Vec3 {
  const want = [planes?.h, planes?.k, planes?.l];
  return [0, 1, 2].map((a) => {
    const [lo, hi] = extent[a]!;
    const f = want[a];
    if (typeof f === "number" && Number.isFinite(f)) return Math.round(f * map.ndiv[a]!);
    return lo <= 0 && 0 <= hi ? 0 : Math.round((lo + hi) / 2);
  }) as Vec3;
}

export class VoxelView extends FileView<VoxelViewState> {
  private ops: LaueOps | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  /** What the views show (their last request, or the state they published since): pushes
   *  after new commits go there. Undefined until a view asks: then pushes are worth sending. */
  private shown: { position: Vec3; expand: boolean } | undefined;

  private constructor(
    reader: AsyncStoreReader,
    private readonly symmetry: SymmetryModule | undefined,
    state: VoxelViewState,
    ops: LaueOps | undefined,
  ) {
    super(
      reader,
      {
        modelName: "VoxelViewModel",
        modelModule: WIDGETS_MODULE,
        viewName: "VoxelViewView",
        viewModule: WIDGETS_MODULE,
      },
      state,
    );
    this.ops = ops;
    this.onCustom((content) => void this.handleRequest(content as Record<string, unknown>));
    this.observe(() => {
      if (this.shown)
        this.shown = { position: this.get("position"), expand: this.get("expand_asu") };
    }, ["position", "expand_asu"]);
  }

  /** Open `file` and build the viewer (use `await voxelView(file)` in a cell). */
  static async open(file: string, opts: VoxelViewOptions = {}): Promise<VoxelView> {
    const reader = await AsyncStoreReader.open(file);
    try {
      const map = await readMapInfo(reader, opts.group);
      const status = await reader.status();
      const symmetry = opts.symmetry ?? coreSymmetry();
      const { ops, note } = laueOpsFor(symmetry, map);
      const extent = storedExtent(map.shape, map.origin);
      const expanded = ops ? expandedExtent(extent, ops) : null;
      const expandAvailable = !!ops && map.asu_only;
      const expand = expandAvailable && (opts.expandAsu ?? false);
      const position = clampPosition(
        defaultPosition(extent, map, opts.planes),
        expand && expanded ? expanded : extent,
      );
      const colormap =
        opts.colormap && COLORMAP_NAMES.includes(opts.colormap) ? opts.colormap : "viridis";
      const v = new VoxelView(
        reader,
        symmetry,
        {
          _model_module_version: WIDGETS_VERSION,
          _view_module_version: WIDGETS_VERSION,
          file,
          map,
          position,
          expand_asu: expand,
          expand_available: expandAvailable,
          expand_note: ops && !map.asu_only ? "the map is not stored ASU-only" : note,
          extent,
          expanded_extent: expanded,
          colormap,
          log: opts.log ?? false,
          ...followState(opts, status.state, status.sequence),
          max_per_axis: Math.max(16, Math.round(opts.maxPerAxis ?? 512)),
        },
        ops,
      );
      await v.setPreview(
        () => v.staticPreview(),
        () => v.describe(),
      );
      return v;
    } catch (e) {
      await reader.close();
      throw e;
    }
  }

  override toString(): string {
    return `VoxelView(${JSON.stringify(this.get("file"))})`;
  }

  /** Move the planes (fractional hkl; axes not given stay). */
  moveTo(planes: { h?: number; k?: number; l?: number }): void {
    const map = this.get("map");
    const p = [...this.get("position")] as Vec3;
    [planes.h, planes.k, planes.l].forEach((f, a) => {
      if (typeof f === "number" && Number.isFinite(f)) p[a] = Math.round(f * map.ndiv[a]!);
    });
    this.set({ position: clampPosition(p, this.currentExtent()) });
  }

  /** Expand the ASU to full reciprocal space in the view (or go back to the stored ASU). */
  expandAsu(on = true): void {
    if (on && !this.get("expand_available")) throw new Error(this.get("expand_note"));
    this.set({ expand_asu: on });
  }

  /** The planes at a position, as the view receives them (for scripts and tests). */
  async planes(
    position: Vec3 = this.get("position"),
    expand: boolean = this.get("expand_asu"),
  ): Promise<PlaneData[]> {
    return this.exclusive(async () => {
      const out: PlaneData[] = [];
      for (const fixed of [2, 1, 0] as Axis[])
        out.push(await this.readPlane(fixed, position, expand));
      return out;
    });
  }

  private currentExtent(): Extent {
    const exp = this.get("expanded_extent");
    return this.get("expand_asu") && exp ? exp : this.get("extent");
  }

  /** Run reader work one piece at a time (a refresh must not land between plane reads). */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async readPlane(fixed: Axis, position: Vec3, expand: boolean): Promise<PlaneData> {
    const map = this.get("map");
    const useExpand = expand && !!this.ops && this.get("expand_available");
    const extent = useExpand ? this.get("expanded_extent")! : this.get("extent");
    const grid = planeGrid(fixed, Math.round(position[fixed]), extent, this.get("max_per_axis"));
    const voxels = planeVoxels(grid, map.shape, map.origin, useExpand ? this.ops : undefined);
    const n = voxels.length;
    const out: PlaneData = {
      grid,
      intensity: new Float32Array(n).fill(NaN),
      sigma: new Float32Array(n).fill(NaN),
      nObs: new Uint32Array(n),
    };
    const box = voxelBox(voxels, map.shape);
    if (!box) return out;
    const sel: AxisSelection[] = [0, 1, 2].map((a) => [
      box.start[a]!,
      box.start[a]! + box.count[a]!,
    ]);
    const values = (a: StoreArray) => a.data as unknown as ArrayLike<number | bigint>;
    const g = map.group;
    gather(
      voxels,
      map.shape,
      box,
      values(await this.reader.read(`${g}/intensity`, sel)),
      out.intensity,
      NaN,
    );
    if (map.has_sigma)
      gather(
        voxels,
        map.shape,
        box,
        values(await this.reader.read(`${g}/sigma`, sel)),
        out.sigma,
        NaN,
      );
    if (map.has_n_obs)
      gather(
        voxels,
        map.shape,
        box,
        values(await this.reader.read(`${g}/n_obs`, sel)),
        out.nObs,
        0,
      );
    return out;
  }

  private sendPlane(id: string, p: PlaneData, expand: boolean): void {
    this.sendCustom(
      {
        type: "plane",
        id,
        sequence: this.get("sequence"),
        expand,
        fixed: p.grid.fixed,
        index: p.grid.index,
        x: p.grid.x,
        y: p.grid.y,
      },
      [p.intensity, p.sigma, p.nObs],
    );
  }

  private async handleRequest(c: Record<string, unknown>): Promise<void> {
    if (c.type !== "planes") return;
    const id = String(c.id ?? "");
    try {
      const expand = Boolean(c.expand) && this.get("expand_available");
      const extent = expand ? this.get("expanded_extent")! : this.get("extent");
      const position = clampPosition(
        Array.isArray(c.position) ? (c.position as number[]) : this.get("position"),
        extent,
      );
      const fixed = (Array.isArray(c.fixed) ? (c.fixed as unknown[]) : [0, 1, 2])
        .map(Number)
        .filter((a): a is Axis => a === 0 || a === 1 || a === 2);
      this.shown = { position, expand };
      await this.exclusive(async () => {
        for (const a of fixed)
          this.sendPlane(id, await this.readPlane(a, position, expand), expand);
      });
    } catch (e) {
      this.sendCustom({ type: "error", id, message: (e as Error).message });
    }
  }

  protected async pollOnce(): Promise<void> {
    await this.exclusive(async () => {
      if (!(await this.reader.refresh())) return;
      const status = await this.reader.status();
      const map = await readMapInfo(this.reader, this.get("map").group);
      const patch: Partial<VoxelViewState> = {
        sequence: status.sequence,
        file_state: status.state,
        error: "",
      };
      if (JSON.stringify(map) !== JSON.stringify(this.get("map"))) {
        const extent = storedExtent(map.shape, map.origin);
        const { ops, note } = laueOpsFor(this.symmetry, map);
        this.ops = ops;
        Object.assign(patch, {
          map,
          extent,
          expanded_extent: ops ? expandedExtent(extent, ops) : null,
          expand_available: !!ops && map.asu_only,
          expand_note: ops && !map.asu_only ? "the map is not stored ASU-only" : note,
        });
        if (!ops || !map.asu_only) patch.expand_asu = false;
      }
      this.set(patch);
      if (this.shown) {
        const expand = this.shown.expand && this.get("expand_available");
        const exp = this.get("expanded_extent");
        const position = clampPosition(
          this.shown.position,
          expand && exp ? exp : this.get("extent"),
        );
        for (const a of [0, 1, 2] as Axis[])
          this.sendPlane("live", await this.readPlane(a, position, expand), expand);
      }
      if (status.state === "complete") this.set({ following: false });
    });
  }

  private describe(): string {
    const m = this.get("map");
    const p = this.get("position");
    const frac = (a: number) => fracText(p[a]!, m.ndiv[a]!);
    const sym = [m.space_group, m.laue_class ? `Laue ${m.laue_class}` : ""].filter(Boolean);
    return [
      `VoxelView ${path.basename(this.get("file"))}: ${m.group}/intensity ${m.dtype} [${m.shape.join(" x ")}], ndiv [${m.ndiv.join(", ")}], hkl_origin [${m.origin.join(", ")}]`,
      `${sym.join(", ") || "no symmetry"}${m.asu_only ? ", ASU only" : ""}${m.units ? `, units ${m.units}` : ""}`,
      `planes (left to right): h-k at l = ${frac(2)}, h-l at k = ${frac(1)}, k-l at h = ${frac(0)}`,
    ].join("\n");
  }

  /** A PNG of the three planes at the initial position, and a text summary. */
  private async staticPreview(): Promise<MimeBundle> {
    const bundle: MimeBundle = { "text/plain": this.describe() };
    const planes = await this.planes();
    const all = new Float64Array(planes.reduce((s, p) => s + p.intensity.length, 0));
    let o = 0;
    for (const p of planes) {
      all.set(p.intensity, o);
      o += p.intensity.length;
    }
    const log = this.get("log");
    const colormap = this.get("colormap");
    let [lo, hi] = viewer.percentileLimits(all, 1, 99, { log });
    if (viewer.DIVERGING.has(colormap) && !log) {
      const m = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
      [lo, hi] = [-m, m];
    }
    const png = composePlanes(planes, { colormap, lo, hi, log });
    bundle["image/png"] = encodePng(png.rgba, png.width, png.height).toString("base64");
    return bundle;
  }

  protected override closeReader(): Promise<void> {
    return this.exclusive(() => this.reader.close()).catch(() => undefined);
  }
}

/** The three planes side by side (same pixel scale, 8 px apart, transparent background). */
export function composePlanes(
  planes: PlaneData[],
  scale: { colormap: ColormapName; lo: number; hi: number; log?: boolean },
  maxSide = 240,
): RgbaImage {
  const biggest = Math.max(1, ...planes.map((p) => Math.max(p.grid.x.count, p.grid.y.count)));
  const s = fitScale(biggest, biggest, maxSide);
  return composeGrid([
    planes.map((p) => ({
      rgba: viewer.applyColormap(p.intensity, scale),
      cols: p.grid.x.count,
      rows: p.grid.y.count,
      scale: s,
    })),
  ]);
}

/**
 * Three linked orthogonal planes through a merged 3-d map: `await voxelView("map.h5")`.
 * Follows the file while its writer is still committing.
 */
export function voxelView(file: string, opts: VoxelViewOptions = {}): Promise<VoxelView> {
  return VoxelView.open(file, opts);
}
