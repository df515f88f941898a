/**
 * Image stacks in HDF5 / NeXus files, read through the store's read-only H5File:
 * NXmx `/entry/data/data` ([frame, slow, fast]), Eiger master files whose
 * `/entry/data/data_000001`... are external links to data files, or any dataset by path.
 *
 * HDF5 itself follows external links, but it re-opens the target file on every dataset open
 * (h5wasm opens the dataset on every read), so links are resolved here once and the data
 * files are opened directly: one open per file, and a missing data file is a clear error.
 */
import fs from "node:fs";
import path from "node:path";
import { loadH5, type H5Lib } from "../store/h5lib.js";
import { H5File } from "../store/h5file.js";
import { claim } from "../store/registry.js";
import { allocate, itemBytes, type DType, type TypedArray } from "../store/dtype.js";
import { StoreError } from "../store/errors.js";
import { FrameIndexError, ImageFormatError, ImageNotFoundError } from "./errors.js";

export interface NexusStackOptions {
  /**
   * The frames' dataset: [frame, slow, fast] or a single [slow, fast] image. Default:
   * `/entry/data/data`, else every `/entry/data/data_NNNNNN` in order (Eiger master files).
   */
  datasetPath?: string;
}

/** Element types of image datasets we read (not bool or complex). */
export type ImageDType = Exclude<DType, "bool" | "complex64" | "complex128">;
export type FrameArray = TypedArray;

export interface NexusStack {
  readonly path: string;
  readonly frameCount: number;
  /** Slow-axis pixels. */
  readonly height: number;
  /** Fast-axis pixels. */
  readonly width: number;
  readonly dtype: ImageDType;
  /** Where the frames live, in order: `file:dataset` and how many frames each holds. */
  readonly segments: readonly { file: string; dataset: string; frames: number }[];
  /** `/entry/instrument/detector/count_time` (first value if per-frame), if present. */
  readonly exposureTimeS: number | undefined;
  /** The count time of frame i (per-frame arrays are honoured). */
  frameExposureTimeS(i: number): number | undefined;
  /** Frame i, slow-major, in the dataset's own type (raw values). */
  readFrame(i: number): FrameArray;
  /** Frame i into a caller's array of the dataset's type and at least height*width values. */
  readFrameInto(i: number, out: FrameArray): void;
  close(): void;
}

interface Segment {
  file: H5File;
  dataset: string;
  first: number;
  frames: number;
  rank: number;
}

const COUNT_TIME = "/entry/instrument/detector/count_time";
const TIME_UNITS: Record<string, number> = {
  s: 1,
  sec: 1,
  second: 1,
  seconds: 1,
  ms: 1e-3,
  us: 1e-6,
  µs: 1e-6,
  ns: 1e-9,
};

/** Open a read-only HDF5 file the way the store's reader does (SWMR first, plain if older format). */
function openH5(lib: H5Lib, file: string): { h5: H5File; release: () => void } {
  if (!fs.existsSync(file)) throw new ImageNotFoundError("no such file", { file });
  const release = claim(file, "reader");
  try {
    try {
      return { h5: H5File.open(lib, file, "Sr"), release };
    } catch (e) {
      if (e instanceof StoreError && /SWMR|superblock version|libver/i.test(e.hdf5Detail ?? "")) {
        return { h5: H5File.open(lib, file, "r"), release };
      }
      throw e;
    }
  } catch (e) {
    release();
    if (e instanceof StoreError) {
      const problem = e.message.startsWith(`${file}: `)
        ? e.message.slice(file.length + 2)
        : e.message;
      throw new ImageFormatError(`cannot open as HDF5: ${problem}`, { file }, { cause: e });
    }
    throw e;
  }
}

export async function openNexusStack(
  file: string,
  opts: NexusStackOptions = {},
): Promise<NexusStack> {
  const lib = await loadH5();
  const opened = new Map<string, { h5: H5File; release: () => void }>();
  const closeAll = () => {
    for (const { h5, release } of opened.values()) {
      try {
        h5.close();
      } finally {
        release();
      }
    }
    opened.clear();
  };
  const open = (f: string): H5File => {
    const key = path.resolve(f);
    let o = opened.get(key);
    if (!o) {
      o = openH5(lib, f);
      opened.set(key, o);
    }
    return o.h5;
  };
  try {
    const master = open(file);
    const paths = opts.datasetPath !== undefined ? [opts.datasetPath] : defaultDatasets(master);
    const times = readCountTime(master);
    const resolveSegment = (p: string, first: number): Segment => {
      const { h5, dataset } = resolveDataset(master, p, open, 0);
      return describeSegment(h5, dataset, first);
    };
    return new Stack(file, paths, resolveSegment, times, closeAll);
  } catch (e) {
    closeAll();
    throw e;
  }
}

function defaultDatasets(master: H5File): string[] {
  if (master.kind("/entry/data/data") === "dataset") return ["/entry/data/data"];
  if (master.kind("/entry/data") === "group") {
    const links = master
      .list("/entry/data", false)
      .filter((p) => /\/data_\d+$/.test(p))
      .sort(
        (a, b) => Number(a.slice(a.lastIndexOf("_") + 1)) - Number(b.slice(b.lastIndexOf("_") + 1)),
      );
    if (links.length > 0) return links;
  }
  const candidates = master
    .list("/", true)
    .filter((p) => master.kind(p) === "dataset")
    .filter((p) => {
      try {
        const r = master.layout(p).shape.length;
        return r === 2 || r === 3;
      } catch {
        return false;
      }
    })
    .slice(0, 10);
  throw new ImageFormatError(
    "no image dataset: looked for /entry/data/data and /entry/data/data_NNNNNN; pass datasetPath" +
      (candidates.length ? ` (2-D/3-D datasets here: ${candidates.join(", ")})` : ""),
    { file: master.path },
  );
}

/** Follow external links ourselves (at most a few hops) to the file and dataset holding the data. */
function resolveDataset(
  h5: H5File,
  objectPath: string,
  open: (f: string) => H5File,
  depth: number,
): { h5: H5File; dataset: string } {
  const link = h5.run("reading link", objectPath, () =>
    h5.lib.M.get_external_link(h5.fid, objectPath),
  ) as { filename?: string; obj_path?: string };
  if (link.filename !== undefined && link.obj_path !== undefined) {
    if (depth >= 4) {
      throw new ImageFormatError(`${objectPath}: external links nest deeper than 4`, {
        file: h5.path,
      });
    }
    const target = locateLinkTarget(h5.path, link.filename);
    if (target === undefined) {
      throw new ImageNotFoundError(
        `${objectPath} is an external link to ${link.filename}:${link.obj_path}, and that file is missing ` +
          `(looked beside ${h5.path})`,
        { file: h5.path },
      );
    }
    return resolveDataset(open(target), link.obj_path, open, depth + 1);
  }
  const kind = h5.kind(objectPath);
  if (kind !== "dataset") {
    throw new ImageFormatError(
      kind === "missing" ? `no dataset ${objectPath}` : `${objectPath} is a ${kind}, not a dataset`,
      { file: h5.path },
    );
  }
  return { h5, dataset: objectPath };
}

/** HDF5's rule: relative names are beside the linking file; absolute ones fall back to there too. */
function locateLinkTarget(fromFile: string, name: string): string | undefined {
  const dir = path.dirname(fromFile);
  const tries = path.isAbsolute(name)
    ? [name, path.join(dir, path.basename(name))]
    : [path.join(dir, name)];
  return tries.find((t) => fs.existsSync(t));
}

function describeSegment(h5: H5File, dataset: string, first: number): Segment {
  let shape: number[];
  try {
    shape = h5.layout(dataset).shape;
  } catch (e) {
    if (e instanceof StoreError) {
      throw new ImageFormatError(
        `cannot read ${dataset}: ${e.message}`,
        { file: h5.path },
        { cause: e },
      );
    }
    throw e;
  }
  checkVirtualSources(h5, dataset);
  if (shape.length !== 2 && shape.length !== 3) {
    throw new ImageFormatError(
      `${dataset} has shape [${shape.join(", ")}]: expected [frame, slow, fast] or [slow, fast]`,
      { file: h5.path },
    );
  }
  return {
    file: h5,
    dataset,
    first,
    frames: shape.length === 3 ? shape[0]! : 1,
    rank: shape.length,
  };
}

/**
 * A virtual dataset whose source file is missing reads as its fill value, silently: refuse
 * it instead, naming the files. (Names with printf patterns, for growing datasets, are skipped.)
 */
function checkVirtualSources(h5: H5File, dataset: string): void {
  const sources = (h5.metadata(dataset) as { virtual_sources?: { file_name: string }[] })
    .virtual_sources;
  if (!sources) return;
  const missing = new Set<string>();
  for (const { file_name: name } of sources) {
    if (name === "." || name.includes("%")) continue;
    if (locateLinkTarget(h5.path, name) === undefined) missing.add(name);
  }
  if (missing.size > 0) {
    throw new ImageNotFoundError(
      `${dataset} is a virtual dataset whose source file${missing.size === 1 ? " is" : "s are"} missing ` +
        `(looked beside ${h5.path}): ${[...missing].join(", ")}`,
      { file: h5.path },
    );
  }
}

interface Layout {
  height: number;
  width: number;
  dtype: ImageDType;
}

function segmentLayout(s: Segment): Layout {
  const l = s.file.layout(s.dataset);
  const [height, width] = l.shape.slice(-2) as [number, number];
  if (l.dtype === "bool" || l.dtype === "complex64" || l.dtype === "complex128") {
    throw new ImageFormatError(`${s.dataset} holds ${l.dtype} values, not image pixels`, {
      file: s.file.path,
    });
  }
  return { height, width, dtype: l.dtype };
}

/** count_time as seconds: a scalar, or one value per frame. */
function readCountTime(master: H5File): number[] | undefined {
  if (master.kind(COUNT_TIME) !== "dataset") return undefined;
  const l = master.layout(COUNT_TIME);
  if (l.dtype === "bool" || l.dtype.startsWith("complex")) return undefined;
  const n = l.shape.reduce((a, b) => a * b, 1);
  const data = allocate(l.dtype, n);
  master.readHyperslab(
    COUNT_TIME,
    l.shape.map(() => 0),
    l.shape,
    new Uint8Array(data.buffer, data.byteOffset, n * itemBytes(l.dtype)),
  );
  const units = master.readAttrs(COUNT_TIME)["units"];
  const factor = typeof units === "string" ? TIME_UNITS[units.trim().toLowerCase()] : 1;
  if (factor === undefined) return undefined;
  return Array.from(data as ArrayLike<number | bigint>, (v) => Number(v) * factor);
}

/**
 * Segments (one per Eiger data file) are opened lazily, in order, as frames are asked for:
 * reading frame k opens only the data files up to the one holding it.
 */
class Stack implements NexusStack {
  private closed = false;
  private readonly segs: Segment[] = [];
  private next = 0;
  private resolvedFrames = 0;
  readonly height: number;
  readonly width: number;
  readonly dtype: ImageDType;

  constructor(
    readonly path: string,
    private readonly segmentPaths: string[],
    private readonly resolveSegment: (p: string, first: number) => Segment,
    private readonly times: number[] | undefined,
    private readonly closeFiles: () => void,
  ) {
    const first = this.resolveNext()!;
    const layout = segmentLayout(first);
    this.height = layout.height;
    this.width = layout.width;
    this.dtype = layout.dtype;
  }

  /** Open the next segment; undefined when all are open. */
  private resolveNext(): Segment | undefined {
    const p = this.segmentPaths[this.next];
    if (p === undefined) return undefined;
    const seg = this.resolveSegment(p, this.resolvedFrames);
    if (this.segs.length > 0) {
      const l = segmentLayout(seg);
      if (l.height !== this.height || l.width !== this.width || l.dtype !== this.dtype) {
        throw new ImageFormatError(
          `${seg.dataset} frames are ${l.dtype} ${l.height} x ${l.width}, the first data set's are ` +
            `${this.dtype} ${this.height} x ${this.width}`,
          { file: seg.file.path },
        );
      }
    }
    this.next++;
    this.segs.push(seg);
    this.resolvedFrames += seg.frames;
    return seg;
  }

  get frameCount(): number {
    while (this.resolveNext()) {
      /* open every segment to count its frames */
    }
    return this.resolvedFrames;
  }

  get segments(): { file: string; dataset: string; frames: number }[] {
    void this.frameCount;
    return this.segs.map((s) => ({ file: s.file.path, dataset: s.dataset, frames: s.frames }));
  }

  get exposureTimeS(): number | undefined {
    return this.times?.[0];
  }

  frameExposureTimeS(i: number): number | undefined {
    if (!this.times) return undefined;
    return this.times.length === 1 ? this.times[0] : this.times[i];
  }

  readFrame(i: number): FrameArray {
    const out = allocate(this.dtype, this.height * this.width);
    this.readFrameInto(i, out);
    return out;
  }

  private segmentFor(i: number): Segment | undefined {
    if (Number.isInteger(i) && i >= 0) {
      while (i >= this.resolvedFrames && this.resolveNext()) {
        /* open data files up to the one holding frame i */
      }
      // Segments are few (one per Eiger data file): a linear search is fine.
      if (i < this.resolvedFrames) return this.segs.find((seg) => i < seg.first + seg.frames);
    }
    return undefined;
  }

  readFrameInto(i: number, out: FrameArray): void {
    if (this.closed) throw new ImageFormatError("stack is closed", { file: this.path });
    const s = this.segmentFor(i);
    if (!s) {
      const n = this.frameCount;
      throw new FrameIndexError(
        `frame index ${i} is out of range: the file has ${n} frame${n === 1 ? "" : "s"}`,
        { file: this.path, frame: i },
      );
    }
    const n = this.height * this.width;
    const bytes = n * itemBytes(this.dtype);
    if (out.byteLength < bytes || out.constructor !== allocate(this.dtype, 0).constructor) {
      throw new RangeError(`readFrameInto needs a ${this.dtype} array of at least ${n} values`);
    }
    const local = i - s.first;
    const start = s.rank === 3 ? [local, 0, 0] : [0, 0];
    const count = s.rank === 3 ? [1, this.height, this.width] : [this.height, this.width];
    try {
      s.file.readHyperslab(
        s.dataset,
        start,
        count,
        new Uint8Array(out.buffer, out.byteOffset, bytes),
      );
    } catch (e) {
      if (e instanceof StoreError) {
        throw new ImageFormatError(
          `reading frame ${local} of ${s.dataset} failed: ${e.message}`,
          { file: this.path, frame: i },
          { cause: e },
        );
      }
      throw e;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closeFiles();
  }
}
