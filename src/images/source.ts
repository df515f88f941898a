/**
 * The images of an experiment, still by still, cut into the detector's panels.
 *
 * An imageset (dxtbx's, as in models.ts) names its images as a file list (CBF files, or an
 * HDF5/NeXus file repeated with `singleFileIndices`), or as a template: `img_#####.cbf` with
 * the image numbers of the scan, or an HDF5 master file. Each raw image is split into one
 * array per panel using the panel's `rawImageOffset` and `imageSize`. Values stay raw:
 * negative (masked) pixels, overloads and NaN are kept for the masks downstream.
 */
import fs from "node:fs";
import path from "node:path";
import type { Detector, Experiment, ImageSetRef, Panel, Scan } from "../geometry/models.js";
import { readSuperblock } from "../store/superblock.js";
import { readCbf } from "./cbf.js";
import { openNexusStack, type FrameArray, type NexusStack } from "./nexus.js";
import {
  FrameIndexError,
  ImageError,
  ImageFormatError,
  ImageNotFoundError,
  PanelLayoutError,
} from "./errors.js";

export interface StillImage {
  /** One array per detector panel, slow-major (nSlow * nFast), raw values as float64. */
  panels: Float64Array[];
  /**
   * Counting time: CBF Exposure_time (else Exposure_period), NeXus count_time; else the
   * scan's exposure time, else `defaultExposureTimeS`.
   */
  exposureTimeS: number;
  /** Where the image came from: the file, and the frame within it (0 for CBF). */
  file: string;
  frame: number;
}

/** One whole raw image, before panel splitting. */
export interface RawImage {
  /** Fast-axis pixels. */
  width: number;
  /** Slow-axis pixels. */
  height: number;
  /** Slow-major raw values in the file's own type (Int32Array for CBF). */
  data: FrameArray;
  exposureTimeS: number | undefined;
  file: string;
  frame: number;
}

export interface ImageSourceOptions {
  /** Directory relative image paths are resolved against (the .expt file's). Default: cwd. */
  baseDir?: string;
  /** For templates: image numbers and, when files have none, exposure times. */
  scan?: Scan;
  /** 1-based inclusive image numbers for a template (overrides the scan's). */
  imageRange?: readonly [number, number];
  /** HDF5: the frames' dataset when it is not /entry/data/data (see openNexusStack). */
  datasetPath?: string;
  /** Used when neither the file nor the scan gives an exposure time. */
  defaultExposureTimeS?: number;
  /** CBF: check Content-MD5. Default false. */
  verifyMd5?: boolean;
}

export interface ImageSource {
  /** Number of images (stills). */
  readonly count: number;
  /** File and frame of image i. */
  locate(i: number): { file: string; frame: number };
  /** Image i, split into the detector's panels. */
  read(i: number): Promise<StillImage>;
  /** Image i whole, in the file's own element type. */
  readRaw(i: number): Promise<RawImage>;
  close(): void;
}

/** A file and the frame within it; frame undefined: every frame of an HDF5 file, or a CBF. */
interface Entry {
  file: string;
  frame: number | undefined;
}

/** Open an imageset's images; `detector` says how to cut each raw image into panels. */
export async function openImageSource(
  imageset: ImageSetRef,
  detector: Detector,
  opts: ImageSourceOptions = {},
): Promise<ImageSource> {
  const src = new Source(detector, opts);
  try {
    await src.init(imageset);
    return src;
  } catch (e) {
    src.close();
    throw e;
  }
}

/**
 * One still of an experiment (image `index` of its imageset, default the only one): the
 * convenience for per-still pipelines. For many images of one HDF5 file, open an
 * ImageSource once instead: this opens and closes the file on every call.
 */
export async function readStillImage(
  experiment: Experiment,
  opts: ImageSourceOptions & { index?: number } = {},
): Promise<StillImage> {
  if (!experiment.imageset) {
    throw new ImageFormatError("the experiment has no imageset", {
      file: `experiment ${experiment.identifier}`,
    });
  }
  const scan = opts.scan ?? experiment.scan;
  const src = await openImageSource(experiment.imageset, experiment.detector, {
    ...opts,
    ...(scan ? { scan } : {}),
  });
  try {
    if (opts.index === undefined && src.count !== 1) {
      throw new FrameIndexError(
        `the imageset has ${plural(src.count, "image")}: pass \`index\` to say which still to read`,
        { file: src.count > 0 ? src.locate(0).file : "<imageset>" },
      );
    }
    return await src.read(opts.index ?? 0);
  } finally {
    src.close();
  }
}

/**
 * Cut a raw image into panels. Throws PanelLayoutError when a panel reaches outside it.
 * `where` names the image in errors.
 */
export function splitPanels(
  raw: { width: number; height: number; data: FrameArray | ArrayLike<number> },
  panels: readonly Panel[],
  where: { file: string; frame?: number } = { file: "<image>" },
): Float64Array[] {
  return panels.map((p, k) => {
    const [ox, oy] = p.rawImageOffset;
    const [nFast, nSlow] = p.imageSize;
    if (
      !Number.isInteger(ox) ||
      !Number.isInteger(oy) ||
      ox < 0 ||
      oy < 0 ||
      ox + nFast > raw.width ||
      oy + nSlow > raw.height
    ) {
      throw new PanelLayoutError(
        `panel ${k} (fast ${ox}..${ox + nFast}, slow ${oy}..${oy + nSlow}, from rawImageOffset ` +
          `[${ox}, ${oy}] and imageSize [${nFast}, ${nSlow}]) is outside the ${raw.width} x ${raw.height} raw image`,
        { file: where.file, frame: where.frame, panel: p.name || `#${k}` },
      );
    }
    const out = new Float64Array(nFast * nSlow);
    const data = raw.data;
    const bigints = data instanceof BigInt64Array || data instanceof BigUint64Array;
    for (let s = 0; s < nSlow; s++) {
      const from = (oy + s) * raw.width + ox;
      if (bigints) {
        for (let f = 0; f < nFast; f++) out[s * nFast + f] = Number(data[from + f]!);
      } else if (ArrayBuffer.isView(data)) {
        // TypedArray.set converts element types natively: the fast path.
        out.set(
          (data as Exclude<FrameArray, BigInt64Array | BigUint64Array>).subarray(
            from,
            from + nFast,
          ),
          s * nFast,
        );
      } else {
        for (let f = 0; f < nFast; f++) out[s * nFast + f] = (data as ArrayLike<number>)[from + f]!;
      }
    }
    return out;
  });
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

class Source implements ImageSource {
  private entries: { file: string; frame: number }[] = [];
  private readonly stacks = new Map<string, Promise<NexusStack>>();
  /** Stacks whose open finished, so close() can close them synchronously. */
  private readonly openStacks = new Set<NexusStack>();
  private readonly kinds = new Map<string, "cbf" | "hdf5">();
  private closed = false;

  constructor(
    private readonly detector: Detector,
    private readonly opts: ImageSourceOptions,
  ) {}

  get count(): number {
    return this.entries.length;
  }

  async init(imageset: ImageSetRef): Promise<void> {
    const out: { file: string; frame: number }[] = [];
    for (const e of this.listEntries(imageset)) {
      if (e.frame !== undefined) {
        out.push({ file: e.file, frame: e.frame });
      } else if (this.kindOf(e.file) === "cbf") {
        out.push({ file: e.file, frame: 0 });
      } else {
        const n = (await this.stack(e.file)).frameCount;
        const range = this.hdf5Range(imageset, n);
        for (let f = range[0]; f <= range[1]; f++) out.push({ file: e.file, frame: f });
      }
    }
    this.entries = out;
  }

  private resolve(p: string): string {
    return path.resolve(this.opts.baseDir ?? process.cwd(), p);
  }

  private listEntries(imageset: ImageSetRef): Entry[] {
    const indices = imageset.singleFileIndices;
    if (imageset.images && imageset.images.length > 0) {
      const files = imageset.images.map((p) => this.resolve(p));
      if (!indices || indices.length === 0)
        return files.map((file) => ({ file, frame: undefined }));
      // dxtbx pairs them one to one; a single file shared by every index is accepted too.
      if (files.length !== indices.length && files.length !== 1) {
        throw new ImageFormatError(
          `the imageset has ${files.length} images but ${indices.length} singleFileIndices`,
          { file: files[0]! },
        );
      }
      return indices.map((frame, k) => ({ file: files[files.length === 1 ? 0 : k]!, frame }));
    }
    if (imageset.template) {
      const template = this.resolve(imageset.template);
      if (!template.includes("#")) {
        // An HDF5 master file as a sequence's template.
        if (indices && indices.length > 0)
          return indices.map((frame) => ({ file: template, frame }));
        return [{ file: template, frame: undefined }];
      }
      return this.templateFiles(template).map((file) => ({ file, frame: undefined }));
    }
    throw new ImageFormatError("the imageset names no images (neither `images` nor `template`)", {
      file: "<imageset>",
    });
  }

  /** Frames of an HDF5 file given without indices: the scan's range (1-based) or all. */
  private hdf5Range(imageset: ImageSetRef, frames: number): [number, number] {
    const range =
      this.opts.imageRange ?? (imageset.template ? this.opts.scan?.imageRange : undefined);
    return range ? [range[0] - 1, range[1] - 1] : [0, frames - 1];
  }

  /** `img_#####.cbf` filled in with the image numbers (scan or option), else every match on disk. */
  private templateFiles(template: string): string[] {
    const m = /#+/.exec(path.basename(template));
    if (!m) return [template];
    const width = m[0].length;
    const fill = (i: number) =>
      path.join(
        path.dirname(template),
        path.basename(template).replace(/#+/, String(i).padStart(width, "0")),
      );
    const range = this.opts.imageRange ?? this.opts.scan?.imageRange;
    if (range) {
      const out: string[] = [];
      for (let i = range[0]; i <= range[1]; i++) out.push(fill(i));
      return out;
    }
    const dir = path.dirname(template);
    const base = path.basename(template);
    const re = new RegExp(
      "^" +
        base.slice(0, m.index).replace(/[.*+?^${}()|[\]\\]/g, "\\$&") +
        `(\\d{${width},})` +
        base.slice(m.index + width).replace(/[.*+?^${}()|[\]\\]/g, "\\$&") +
        "$",
    );
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      throw new ImageNotFoundError(`no such directory for template ${base}`, { file: dir });
    }
    const numbers = names
      .map((n) => re.exec(n)?.[1])
      .filter((s): s is string => s !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    if (numbers.length === 0) {
      throw new ImageNotFoundError(`no files match the template ${base}`, { file: template });
    }
    return numbers.map(fill);
  }

  private kindOf(file: string): "cbf" | "hdf5" {
    let k = this.kinds.get(file);
    if (k) return k;
    if (/\.cbf(\.gz)?$/i.test(file)) k = "cbf";
    else {
      try {
        k = readSuperblock(file) ? "hdf5" : "cbf";
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") {
          throw new ImageNotFoundError("no such file", { file });
        }
        throw e;
      }
    }
    this.kinds.set(file, k);
    return k;
  }

  private stack(file: string): Promise<NexusStack> {
    let s = this.stacks.get(file);
    if (!s) {
      s = openNexusStack(
        file,
        this.opts.datasetPath !== undefined ? { datasetPath: this.opts.datasetPath } : {},
      );
      s.then(
        (stack) => {
          if (this.closed) stack.close();
          else this.openStacks.add(stack);
        },
        // A failed open is not cached: the next read tries again (the file may appear).
        () => this.stacks.delete(file),
      );
      this.stacks.set(file, s);
    }
    return s;
  }

  locate(i: number): { file: string; frame: number } {
    const e = Number.isInteger(i) ? this.entries[i] : undefined;
    if (!e) {
      throw new FrameIndexError(
        `image index ${i} is out of range: the imageset has ${plural(this.entries.length, "image")}`,
        { file: this.entries[0]?.file ?? "<imageset>" },
      );
    }
    return e;
  }

  async readRaw(i: number): Promise<RawImage> {
    if (this.closed) throw new ImageError("image source is closed", { file: "<imageset>" });
    const { file, frame } = this.locate(i);
    let raw: RawImage;
    if (this.kindOf(file) === "cbf") {
      const img = await readCbf(file, this.opts.verifyMd5 ? { verifyMd5: true } : {});
      raw = {
        width: img.width,
        height: img.height,
        data: img.data,
        exposureTimeS: img.header.exposureTimeS ?? img.header.exposurePeriodS,
        file,
        frame,
      };
    } else {
      const stack = await this.stack(file);
      raw = {
        width: stack.width,
        height: stack.height,
        data: stack.readFrame(frame),
        exposureTimeS: stack.frameExposureTimeS(frame),
        file,
        frame,
      };
    }
    raw.exposureTimeS ??= this.scanExposure(i) ?? this.opts.defaultExposureTimeS;
    return raw;
  }

  private scanExposure(i: number): number | undefined {
    const t = this.opts.scan?.exposureTimesS;
    if (!t || t.length === 0) return undefined;
    return t[i] ?? t[0];
  }

  async read(i: number): Promise<StillImage> {
    const raw = await this.readRaw(i);
    if (raw.exposureTimeS === undefined) {
      throw new ImageFormatError(
        "no exposure time: the file has none (CBF Exposure_time / Exposure_period, HDF5 " +
          "/entry/instrument/detector/count_time), no scan exposure times were given, and no defaultExposureTimeS",
        { file: raw.file, frame: raw.frame },
      );
    }
    return {
      panels: splitPanels(raw, this.detector.panels, raw),
      exposureTimeS: raw.exposureTimeS,
      file: raw.file,
      frame: raw.frame,
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // Stacks still opening are closed by their own continuation (it sees `closed`).
    for (const stack of this.openStacks) stack.close();
    this.openStacks.clear();
    this.stacks.clear();
  }
}
