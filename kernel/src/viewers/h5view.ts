/**
 * H5View, kernel side: a live HDF5 browser widget.
 *
 * The model opens the file read-only through the store on the shared store thread (so
 * the kernel stays responsive), sends the tree as state, answers the view's reads with
 * only what it shows (strided slices, in parts under the server's message limit), and
 * while following polls for new commits and pushes only the increment. Its display also
 * carries a static preview (PNG or Vega-Lite plus text) for notebooks read without a kernel.
 *
 * Messages (custom, view -> kernel): {type: "read", id, path, selection}
 * (kernel -> view): {type: "data", id, path, dtype, shape, part, parts, offset} + 1 buffer;
 *                   {type: "grown", path, from, to} when a dataset gained committed rows;
 *                   increments are "data" messages with id "increment:<path>", whose
 *                   `start` says which row along axis 0 they begin at.
 */
import path from "node:path";
import {
  AsyncStoreReader,
  encodePng,
  viewer,
  type AxisSelection,
  type DatasetInfo,
  type DType,
  type StoreArray,
} from "@stagelab/core";
import { type MimeBundle } from "../format.js";
import { FileView, attrText } from "./file-view.js";

export const WIDGETS_MODULE = "@stagelab/widgets";
export const WIDGETS_VERSION = "0.1.0";

export interface TreeEntry {
  path: string;
  kind: "group" | "dataset" | "other";
  shape?: number[];
  maxshape?: (number | null)[];
  dtype?: DType;
  chunks?: number[] | null;
  compression?: string;
  /** Attribute values as text (JSON for non-strings): the view shows them as text only. */
  attrs: Record<string, string>;
}

interface H5ViewState extends Record<string, unknown> {
  file: string;
  tree: TreeEntry[];
  selected: string;
  following: boolean;
  poll_ms: number;
  sequence: number;
  file_state: string;
  error: string;
  /** What the view shows: {path, displayAxes, indices, maxPerAxis} (set by the view). */
  view: {
    path?: string;
    displayAxes?: number[];
    indices?: Record<string, number>;
    maxPerAxis?: number;
  } | null;
}

export interface H5ViewOptions {
  /** Dataset to show first (default: the first dataset with data). */
  select?: string;
  /** Poll interval while following a file another process writes (ms, default 500). */
  pollMs?: number;
  /** Follow new commits from the start (default true while the file is being written). */
  follow?: boolean;
}

async function readTree(reader: AsyncStoreReader): Promise<TreeEntry[]> {
  const nodes = await reader.tree();
  const out: TreeEntry[] = [{ path: "/", kind: "group", attrs: mapAttrs(await reader.attrs("/")) }];
  for (const n of nodes) {
    if (n.kind === "dataset") {
      try {
        const info: DatasetInfo = await reader.info(n.path);
        out.push({
          path: n.path,
          kind: "dataset",
          shape: info.shape,
          maxshape: info.maxshape,
          dtype: info.dtype,
          chunks: info.chunks,
          compression: info.compression,
          attrs: mapAttrs(info.attrs),
        });
      } catch (e) {
        out.push({ path: n.path, kind: "other", attrs: { error: (e as Error).message } });
      }
    } else {
      out.push({
        path: n.path,
        kind: n.kind,
        attrs: n.kind === "group" ? mapAttrs(await reader.attrs(n.path)) : {},
      });
    }
  }
  return out;
}

function mapAttrs(attrs: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(attrs))
    // A JSON null shows as "null" (attrText: "" for a value that is not there).
    if (!k.startsWith("_stagelab")) out[k] = v === null ? "null" : attrText(v);
  return out;
}

export class H5View extends FileView<H5ViewState> {
  private constructor(
    reader: AsyncStoreReader,
    file: string,
    tree: TreeEntry[],
    selected: string,
    sequence: number,
    fileState: string,
    opts: H5ViewOptions,
  ) {
    super(
      reader,
      {
        modelName: "H5ViewModel",
        modelModule: WIDGETS_MODULE,
        viewName: "H5ViewView",
        viewModule: WIDGETS_MODULE,
      },
      {
        _model_module_version: WIDGETS_VERSION,
        _view_module_version: WIDGETS_VERSION,
        file,
        tree,
        selected,
        following: opts.follow ?? fileState === "writing",
        poll_ms: opts.pollMs ?? 500,
        sequence,
        file_state: fileState,
        error: "",
        view: null,
      },
    );
    this.onCustom(
      (content) =>
        void this.handleRequest(
          content as { type?: string; id?: string; path?: string; selection?: AxisSelection[] },
        ),
    );
  }

  /** Open `file` and build the viewer (use `await h5view(file)` in a cell). */
  static async open(file: string, opts: H5ViewOptions = {}): Promise<H5View> {
    const reader = await AsyncStoreReader.open(file);
    try {
      const tree = await readTree(reader);
      const status = await reader.status();
      const datasets = tree.filter((t) => t.kind === "dataset");
      const selected =
        opts.select ??
        datasets.find((d) => (d.shape ?? []).every((x) => x > 0))?.path ??
        datasets[0]?.path ??
        "";
      const v = new H5View(reader, file, tree, selected, status.sequence, status.state, opts);
      v.preview = await staticPreview(reader, file, tree, selected);
      return v;
    } catch (e) {
      await reader.close();
      throw e;
    }
  }

  override toString(): string {
    return `H5View(${JSON.stringify(this.get("file"))})`;
  }

  protected async pollOnce(): Promise<void> {
    const before = new Map(this.get("tree").map((t) => [t.path, t.shape ?? []]));
    if (!(await this.reader.refresh())) return;
    const tree = await readTree(this.reader);
    const status = await this.reader.status();
    this.set({ tree, sequence: status.sequence, file_state: status.state, error: "" });
    for (const t of tree) {
      const old = before.get(t.path);
      const now = t.shape ?? [];
      if (t.kind !== "dataset" || !old || old.length === 0 || (now[0] ?? 0) <= (old[0] ?? 0))
        continue;
      this.sendCustom({ type: "grown", path: t.path, from: old[0], to: now[0] });
      if (t.path === this.get("view")?.path) await this.pushIncrement(t, old[0]!, now[0]!);
    }
    if (status.state === "complete") this.set({ following: false });
  }

  /** New rows of the dataset on screen, limited to what the view shows of the other axes. */
  private async pushIncrement(t: TreeEntry, from: number, to: number): Promise<void> {
    const view = this.get("view");
    const shape = t.shape ?? [];
    if (!view?.displayAxes) return;
    let selection: AxisSelection[];
    if (shape.length === 1) {
      selection = [[from, to]];
    } else if (view.displayAxes.includes(0)) {
      // An image growing along its row axis: the new rows, with the view's column stride.
      const plan = viewer.planRead(shape, {
        displayAxes: view.displayAxes,
        indices: view.indices ?? {},
        maxPerAxis: view.maxPerAxis ?? 1024,
      });
      selection = plan.selection.map((s, axis) => (axis === 0 ? [from, to] : s));
    } else if ((view.indices?.["0"] ?? 0) < 0) {
      // Showing "the latest frame": send the new latest frame.
      const plan = viewer.planRead(shape, {
        displayAxes: view.displayAxes,
        indices: { ...view.indices, 0: -1 },
        maxPerAxis: view.maxPerAxis ?? 1024,
      });
      selection = plan.selection;
    } else {
      return;
    }
    await this.sendArray(`increment:${t.path}`, t.path, selection, { start: from });
  }

  private async handleRequest(c: {
    type?: string;
    id?: string;
    path?: string;
    selection?: AxisSelection[];
  }): Promise<void> {
    if (c.type !== "read" || typeof c.path !== "string") return;
    try {
      await this.sendArray(String(c.id ?? ""), c.path, c.selection ?? []);
    } catch (e) {
      this.sendCustom({
        type: "error",
        id: c.id ?? "",
        path: c.path,
        message: (e as Error).message,
      });
    }
  }

  private async sendArray(
    id: string,
    dsPath: string,
    selection: AxisSelection[],
    extra: Record<string, unknown> = {},
  ): Promise<void> {
    const a: StoreArray = await this.reader.read(dsPath, selection);
    const bytes = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
    const parts = viewer.splitBuffer(bytes);
    if (parts.length === 0) parts.push(bytes);
    let offset = 0;
    parts.forEach((p, i) => {
      this.sendCustom(
        {
          type: "data",
          id,
          path: dsPath,
          dtype: a.dtype,
          shape: a.shape,
          selection,
          part: i,
          parts: parts.length,
          offset,
          byteLength: bytes.byteLength,
          ...extra,
        },
        [p],
      );
      offset += p.byteLength;
    });
  }
}

/** Text, and an image or chart of the first dataset, for readers without a kernel. */
async function staticPreview(
  reader: AsyncStoreReader,
  file: string,
  tree: TreeEntry[],
  selected: string,
): Promise<MimeBundle> {
  const lines = [`H5View ${path.basename(file)}`];
  for (const t of tree) {
    if (t.path === "/") continue;
    const depth = t.path.split("/").length - 2;
    const desc =
      t.kind === "dataset"
        ? `  ${t.dtype} [${(t.shape ?? []).join(" x ")}]${t.compression && t.compression !== "none" ? ` ${t.compression}` : ""}`
        : "/";
    lines.push(`${"  ".repeat(depth)}${t.path.split("/").pop()}${desc}`);
  }
  const bundle: MimeBundle = { "text/plain": lines.join("\n") };
  const entry = tree.find((t) => t.path === selected);
  const shape = entry?.shape ?? [];
  if (!entry || shape.length === 0 || shape.some((d) => d === 0)) return bundle;
  try {
    if (shape.length === 1) {
      const plan = viewer.planRead(shape, { displayAxes: [0], indices: {}, maxPerAxis: 2000 });
      const a = await reader.read(selected, plan.selection);
      const ys = realValues(a);
      const step = plan.steps[0]!;
      bundle["application/vnd.vegalite.v5+json"] = {
        $schema: "https://vega.github.io/schema/vega-lite/v5.json",
        title: `${selected}`,
        width: 480,
        height: 200,
        data: { values: Array.from(ys, (y, i) => ({ index: i * step, value: y })) },
        mark: "line",
        encoding: {
          x: { field: "index", type: "quantitative" },
          y: { field: "value", type: "quantitative" },
        },
      };
    } else {
      const spec = viewer.defaultView(shape, 256);
      const plan = viewer.planRead(shape, spec);
      const a = await reader.read(selected, plan.selection);
      const values = realValues(a);
      const [lo, hi] = viewer.percentileLimits(values, 1, 99);
      const rgba = viewer.applyColormap(values, { colormap: "viridis", lo, hi });
      const [h, w] = plan.shape as [number, number];
      bundle["image/png"] = encodePng(rgba, w, h).toString("base64");
    }
  } catch {
    /* the preview is a courtesy: a dataset we cannot read still gets the text */
  }
  return bundle;
}

function realValues(a: StoreArray): Float64Array {
  if (a.dtype === "complex64" || a.dtype === "complex128")
    return viewer.complexParts(a.data as Float64Array, "amplitude");
  return Float64Array.from(a.data as ArrayLike<number | bigint>, Number);
}

/** Display a live HDF5 browser for `file`: `await h5view("scan.h5")`. */
export function h5view(file: string, opts: H5ViewOptions = {}): Promise<H5View> {
  return H5View.open(file, opts);
}
