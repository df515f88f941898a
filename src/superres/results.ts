/**
 * Super-resolution results in the main file: one group per run,
 *
 *   /superres_results/run_{YYYYMMDD_HHMMSS}/
 *       attrs     timestamp, bf_center [cy, cx], bf_radius, crop_bounds [y1, y2, x1, x2],
 *                 upscale_factor, reference_smoothing, detector_radius, quality_threshold,
 *                 cache_file (the cache's file name)
 *       shift_y, shift_x, quality     float64 [crop_dy, crop_dx]
 *       superres_image                float64 [sy * upscale_factor, sx * upscale_factor]
 *       standard_bf, reference_image  float64 [sy, sx]
 *
 * Writing follows the store's rules for the main file: its single writer (the lock; a
 * StoreLockedError names the holder), in a store thread so the caller may keep the datacube
 * open for reading in its own thread. The run's attributes are written last (at close), so
 * a group without them is a run still being written or one whose writer died: listRuns
 * reports it as incomplete. A main file in the pre-1.10 HDF5 format (h5py's default) must be
 * rewritten once in the 1.10 format before the store can write to it: pass
 * `upgradeFormat: true` (a full copy of the file).
 */
import path from "node:path";
import { AsyncStoreReader, AsyncStoreWriter, type Attrs, type AttrValue } from "../store/index.js";
import { SuperResRunError } from "./cache-errors.js";

export const RESULTS_GROUP = "/superres_results";

export interface SuperResRun {
  /** YYYYMMDD_HHMMSS: names the group (run_<timestamp>); use the cache's for a cached run. */
  timestamp: string;
  bfCenter: [number, number];
  bfRadius: number;
  cropBounds: [number, number, number, number];
  upscaleFactor: number;
  referenceSmoothing: number;
  detectorRadius: number;
  qualityThreshold: number;
  /** The cache file (its name is stored). */
  cacheFile: string;
  /** [crop_dy, crop_dx] maps, C order. */
  shiftY: Float64Array;
  shiftX: Float64Array;
  quality: Float64Array;
  /** [sy, sx]. */
  scanShape: [number, number];
  /** [sy * upscaleFactor, sx * upscaleFactor]. */
  superresImage: Float64Array;
  /** [sy, sx]. */
  standardBf: Float64Array;
  referenceImage: Float64Array;
}

export interface RunSummary {
  group: string;
  timestamp: string;
  /** False while being written (or when its writer died): no attributes yet. */
  complete: boolean;
  attrs: Attrs;
}

const TIMESTAMP_RE = /^\d{8}_\d{6}$/;
const ARRAYS = [
  "shift_y",
  "shift_x",
  "quality",
  "superres_image",
  "standard_bf",
  "reference_image",
] as const;

function shapes(run: SuperResRun): Record<(typeof ARRAYS)[number], [number, number]> {
  const [y1, y2, x1, x2] = run.cropBounds;
  const [sy, sx] = run.scanShape;
  const crop: [number, number] = [y2 - y1, x2 - x1];
  const f = run.upscaleFactor;
  return {
    shift_y: crop,
    shift_x: crop,
    quality: crop,
    superres_image: [sy * f, sx * f],
    standard_bf: [sy, sx],
    reference_image: [sy, sx],
  };
}

function arraysOf(run: SuperResRun): Record<(typeof ARRAYS)[number], Float64Array> {
  return {
    shift_y: run.shiftY,
    shift_x: run.shiftX,
    quality: run.quality,
    superres_image: run.superresImage,
    standard_bf: run.standardBf,
    reference_image: run.referenceImage,
  };
}

function check(file: string, run: SuperResRun): void {
  const bad = (why: string) => new SuperResRunError(file, `run ${run.timestamp}: ${why}`);
  if (!TIMESTAMP_RE.test(run.timestamp)) throw bad("timestamp must be YYYYMMDD_HHMMSS");
  if (!Number.isInteger(run.upscaleFactor) || run.upscaleFactor < 1) {
    throw bad(`upscale_factor must be a positive integer, got ${run.upscaleFactor}`);
  }
  const [y1, y2, x1, x2] = run.cropBounds;
  if (!run.cropBounds.every(Number.isInteger) || y2 <= y1 || x2 <= x1) {
    throw bad(`crop_bounds ${JSON.stringify(run.cropBounds)} is not a box [y1, y2, x1, x2]`);
  }
  const want = shapes(run);
  for (const [name, data] of Object.entries(arraysOf(run))) {
    const [h, w] = want[name as keyof typeof want];
    if (!(data instanceof Float64Array) || data.length !== h * w) {
      throw bad(`${name} needs a Float64Array of ${h}x${w} values, got ${data?.length}`);
    }
  }
}

function runAttrs(run: SuperResRun): Attrs {
  return {
    timestamp: run.timestamp,
    bf_center: Float64Array.from(run.bfCenter),
    bf_radius: run.bfRadius,
    crop_bounds: BigInt64Array.from(run.cropBounds.map((v) => BigInt(v))),
    upscale_factor: BigInt(run.upscaleFactor),
    reference_smoothing: run.referenceSmoothing,
    detector_radius: run.detectorRadius,
    quality_threshold: run.qualityThreshold,
    cache_file: path.basename(run.cacheFile),
  };
}

/**
 * A reader of the main file in a store thread, for as long as `fn` runs. The caller typically
 * has the main file open for reading in its own thread (the datacube), and HDF5 shares one
 * file's state between the handles of a library instance: a second reader there would see the
 * file as it was when the first opened it, without the runs written since. (The store gives a
 * reader its own thread when the shared one already has the file open.)
 */
async function withFreshReader<T>(
  file: string,
  fn: (r: AsyncStoreReader) => Promise<T>,
): Promise<T> {
  const r = await AsyncStoreReader.open(file, { waitMs: 0 });
  try {
    return await fn(r);
  } finally {
    await r.close();
  }
}

async function runGroups(r: AsyncStoreReader): Promise<string[]> {
  const top = (await r.tree("/")).find((n) => n.path === RESULTS_GROUP);
  if (!top) return [];
  return (await r.tree(RESULTS_GROUP))
    .filter((n) => n.kind === "group" && /^run_[^/]+$/.test(n.path.slice(RESULTS_GROUP.length + 1)))
    .map((n) => n.path);
}

/**
 * Add a run to the main file. SuperResRunError if the run exists or its arrays do not fit
 * its shapes (checked before the file is touched). Returns the group path.
 */
export async function writeSuperResRun(
  mainFile: string,
  run: SuperResRun,
  opts: { upgradeFormat?: boolean } = {},
): Promise<string> {
  check(mainFile, run);
  const group = `${RESULTS_GROUP}/run_${run.timestamp}`;
  await withFreshReader(mainFile, async (r) => {
    if ((await runGroups(r)).includes(group)) {
      throw new SuperResRunError(mainFile, `run ${run.timestamp} already exists (${group})`);
    }
  });
  const w = await AsyncStoreWriter.open(mainFile, {
    provenance: { stage: "superres.results", parameters: { run: run.timestamp } },
    ...(opts.upgradeFormat ? { upgradeFormat: true } : {}),
  });
  try {
    const want = shapes(run);
    for (const name of ARRAYS) {
      const [h, wd] = want[name];
      await w.createDataset(`${group}/${name}`, {
        dtype: "float64",
        shape: [0, wd],
        maxshape: [h, wd],
        compression: "none",
      });
    }
    // Readers may follow from here; the group's attributes (written at close) mark it done.
    await w.commit();
    const arrays = arraysOf(run);
    // The writer thread takes the buffers: send copies, the caller keeps its arrays.
    for (const name of ARRAYS) await w.append(`${group}/${name}`, arrays[name].slice());
    await w.setAttrs(group, runAttrs(run));
    await w.close();
    return group;
  } catch (e) {
    await w.abandon();
    throw e;
  }
}

/** The runs in a main file, oldest first. */
export async function listSuperResRuns(mainFile: string): Promise<RunSummary[]> {
  return withFreshReader(mainFile, async (r) => {
    const out: RunSummary[] = [];
    for (const group of (await runGroups(r)).sort()) {
      const attrs = await r.attrs(group);
      out.push({
        group,
        timestamp: group.slice(group.lastIndexOf("run_") + 4),
        complete: typeof attrs["timestamp"] === "string",
        attrs,
      });
    }
    return out;
  });
}

function nums(file: string, attrs: Attrs, name: string, n: number): number[] {
  const v: AttrValue | undefined = attrs[name];
  const arr =
    typeof v === "number" || typeof v === "bigint"
      ? [v]
      : ArrayBuffer.isView(v) || Array.isArray(v)
        ? Array.from(v as ArrayLike<unknown>)
        : [];
  const out = arr.map((x) => (typeof x === "bigint" ? Number(x) : x));
  if (out.length !== n || !out.every((x) => typeof x === "number")) {
    throw new SuperResRunError(file, `run attribute ${name} is missing or malformed`);
  }
  return out as number[];
}

/** Read one complete run back. */
export async function readSuperResRun(mainFile: string, timestamp: string): Promise<SuperResRun> {
  const group = `${RESULTS_GROUP}/run_${timestamp}`;
  return withFreshReader(mainFile, async (r) => {
    if (!(await runGroups(r)).includes(group)) {
      throw new SuperResRunError(mainFile, `no run ${timestamp} (no group ${group})`);
    }
    const a = await r.attrs(group);
    if (typeof a["timestamp"] !== "string") {
      throw new SuperResRunError(
        mainFile,
        `run ${timestamp} is incomplete (still being written, or its writer died)`,
      );
    }
    const read = async (name: string) => (await r.read<"float64">(`${group}/${name}`)).data;
    const standardBf = await r.read<"float64">(`${group}/standard_bf`);
    return {
      timestamp: a["timestamp"],
      bfCenter: nums(mainFile, a, "bf_center", 2) as [number, number],
      bfRadius: nums(mainFile, a, "bf_radius", 1)[0]!,
      cropBounds: nums(mainFile, a, "crop_bounds", 4) as [number, number, number, number],
      upscaleFactor: nums(mainFile, a, "upscale_factor", 1)[0]!,
      referenceSmoothing: nums(mainFile, a, "reference_smoothing", 1)[0]!,
      detectorRadius: nums(mainFile, a, "detector_radius", 1)[0]!,
      qualityThreshold: nums(mainFile, a, "quality_threshold", 1)[0]!,
      cacheFile: typeof a["cache_file"] === "string" ? a["cache_file"] : "",
      shiftY: await read("shift_y"),
      shiftX: await read("shift_x"),
      quality: await read("quality"),
      scanShape: [standardBf.shape[0]!, standardBf.shape[1]!],
      superresImage: await read("superres_image"),
      standardBf: standardBf.data,
      referenceImage: await read("reference_image"),
    };
  });
}
