/**
 * 4D-STEM datacubes [scan_y, scan_x, detector_y, detector_x] from `.npy` files, EMD 1.0 files
 * (`/version_1/data/datacubes/datacube_NNN/data`) or any HDF5 file with a 4-d dataset.
 *
 * Nothing is loaded at open: callers read boxes, whole scan rows, or blocks of detector
 * pixels over the whole scan (what the 4D FFT over the scan needs). How fast each is depends
 * on the file's layout: a C-ordered .npy or a frame-chunked HDF5 file reads scan rows
 * sequentially, while a detector block touches every frame (read in large coalesced runs).
 * Each open holds a file handle (an HDF5 reader for EMD/HDF5): close() it. In one thread an
 * HDF5 file cannot be open for reading and writing at once (see the store), so results are
 * written from a worker (results.ts).
 */
import { boxInside } from "../array/box.js";
import fs from "node:fs";
import { createHash } from "node:crypto";
import { NpyReader } from "../formats/npy.js";
import {
  StoreReader,
  type AxisSelection,
  type DType,
  type StoreArray,
  type TypedArrayFor,
} from "../store/index.js";
import { DatacubeError } from "./cache-errors.js";

export const EMD_DATACUBE_RE = /^\/version_1\/data\/datacubes\/datacube_(\d+)\/data$/;

export type DatacubeKind = "npy" | "emd" | "hdf5";

/** Detector pixels in a number type the workers widen to float64 themselves. */
export type PixelArray = Exclude<TypedArrayFor[DType], BigInt64Array | BigUint64Array>;

export interface DatacubeEntry {
  /** Dataset path in the HDF5 file. */
  dataset: string;
  shape: number[];
  dtype: DType;
  /** Is it an EMD 1.0 datacube_NNN? */
  emd: boolean;
}

export interface OpenDatacubeOptions {
  /** Dataset path in an HDF5 file. Default: EMD datacube_000, else the only 4-d dataset. */
  dataset?: string;
}

const NPY_MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);

function sniff(file: string): "npy" | "hdf5" {
  const head = Buffer.alloc(6);
  try {
    const fd = fs.openSync(file, "r");
    try {
      fs.readSync(fd, head, 0, 6, 0);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DatacubeError(file, code === "ENOENT" ? "no such file" : `cannot open (${code})`);
  }
  // Anything else goes to the store, whose CorruptFileError says when it is not HDF5 either.
  return head.equals(NPY_MAGIC) ? "npy" : "hdf5";
}

/**
 * The datacubes of a file: an HDF5 file's 4-d datasets, EMD 1.0 datacube_NNN first (in order)
 * then the others; a 4-d .npy lists itself (dataset "").
 */
export async function listDatacubes(file: string): Promise<DatacubeEntry[]> {
  if (sniff(file) === "npy") {
    const r = NpyReader.open(file);
    r.close();
    return r.shape.length === 4
      ? [{ dataset: "", shape: r.shape, dtype: r.dtype, emd: false }]
      : [];
  }
  const r = await StoreReader.open(file, { waitMs: 0 });
  try {
    return listIn(r);
  } finally {
    r.close();
  }
}

function listIn(r: StoreReader): DatacubeEntry[] {
  const out: DatacubeEntry[] = [];
  for (const node of r.tree("/")) {
    if (node.kind !== "dataset") continue;
    let info;
    try {
      info = r.info(node.path);
    } catch {
      continue; // strings, compounds...: not a datacube
    }
    if (info.shape.length !== 4) continue;
    out.push({
      dataset: node.path,
      shape: info.shape,
      dtype: info.dtype,
      emd: EMD_DATACUBE_RE.test(node.path),
    });
  }
  const key = (e: DatacubeEntry) => {
    const m = EMD_DATACUBE_RE.exec(e.dataset);
    return m ? Number(m[1]) : Infinity;
  };
  return out.sort((a, b) => key(a) - key(b) || a.dataset.localeCompare(b.dataset));
}

interface Backend {
  read(start: number[], count: number[]): TypedArrayFor[DType];
  close(): void;
}

export class Datacube {
  private closed = false;

  private constructor(
    readonly file: string,
    readonly kind: DatacubeKind,
    /** Dataset path for HDF5 inputs, "" for .npy. */
    readonly dataset: string,
    readonly shape: [number, number, number, number],
    readonly dtype: DType,
    private readonly backend: Backend,
  ) {}

  static async open(file: string, opts: OpenDatacubeOptions = {}): Promise<Datacube> {
    if (sniff(file) === "npy") {
      if (opts.dataset) {
        throw new DatacubeError(
          file,
          `a .npy file holds one array; there is no dataset '${opts.dataset}'`,
        );
      }
      const r = NpyReader.open(file);
      try {
        const shape = checkShape(file, r.shape, r.dtype, "");
        return new Datacube(file, "npy", "", shape, r.dtype, {
          read: (start, count) => r.readBlock(start, count),
          close: () => r.close(),
        });
      } catch (e) {
        r.close();
        throw e;
      }
    }
    const r = await StoreReader.open(file, { waitMs: 0 });
    try {
      const entries = listIn(r);
      const entry = pick(file, entries, opts.dataset);
      const shape = checkShape(file, entry.shape, entry.dtype, entry.dataset);
      const ds = entry.dataset;
      return new Datacube(file, entry.emd ? "emd" : "hdf5", ds, shape, entry.dtype, {
        read: (start, count) =>
          r.read(
            ds,
            start.map((s, a) => [s, s + count[a]!] as AxisSelection),
          ).data,
        close: () => r.close(),
      });
    } catch (e) {
      r.close();
      throw e;
    }
  }

  get scanShape(): [number, number] {
    return [this.shape[0], this.shape[1]];
  }

  get detectorShape(): [number, number] {
    return [this.shape[2], this.shape[3]];
  }

  /** The box [start, start + count), C-ordered, in the file's element type. */
  readBlock(start: number[], count: number[]): StoreArray {
    if (this.closed) throw new DatacubeError(this.file, "datacube is closed");
    if (!boxInside(start, count, this.shape)) {
      throw new DatacubeError(
        this.file,
        `block start ${JSON.stringify(start)} count ${JSON.stringify(count)} is outside ${JSON.stringify(this.shape)}`,
      );
    }
    return { dtype: this.dtype, shape: [...count], data: this.backend.read(start, count) };
  }

  /** Scan rows [y0, y0 + n): shape [n, sx, dy, dx]. */
  readScanRows(y0: number, n: number): StoreArray {
    const [, sx, dy, dx] = this.shape;
    return this.readBlock([y0, 0, 0, 0], [n, sx, dy, dx]);
  }

  /**
   * Detector pixels [y0, y0 + h) x [x0, x0 + w) at every scan position (or at scan rows
   * [scanRow0, scanRow0 + scanRows)), as float64: shape [sy (or scanRows), sx, h, w].
   */
  readDetectorBlock(
    y0: number,
    x0: number,
    h: number,
    w: number,
    scanRow0 = 0,
    scanRows = this.shape[0] - scanRow0,
  ): Float64Array {
    return toFloat64(this.readDetectorPixels(y0, x0, h, w, scanRow0, scanRows));
  }

  /**
   * As readDetectorBlock, in the stored number type (64-bit integers become float64): the
   * bulk reads of steps 2 and 5 leave the widening to float64 to the worker threads.
   */
  readDetectorPixels(
    y0: number,
    x0: number,
    h: number,
    w: number,
    scanRow0 = 0,
    scanRows = this.shape[0] - scanRow0,
  ): PixelArray {
    const sx = this.shape[1];
    const a = this.readBlock([scanRow0, 0, y0, x0], [scanRows, sx, h, w]).data;
    return a instanceof BigInt64Array || a instanceof BigUint64Array ? toFloat64(a) : a;
  }

  /**
   * A short digest of the cube's identity: shape, type and 16 whole frames spread over the
   * scan (corners, centre and a scatter between). A cache records it so it is never reused
   * for other data of the same name or shape.
   */
  fingerprint(): string {
    const [sy, sx, dy, dx] = this.shape;
    const h = createHash("sha256");
    h.update(JSON.stringify({ shape: this.shape, dtype: this.dtype }));
    if (sy * sx * dy * dx > 0) {
      const at: [number, number][] = [
        [0, 0],
        [sy - 1, sx - 1],
        [0, sx - 1],
        [sy - 1, 0],
        [sy >> 1, sx >> 1],
      ];
      for (let i = 1; at.length < 16; i++) {
        at.push([Math.floor((i * sy) / 12) % sy, Math.floor((((i * 5) % 12) * sx) / 12)]);
      }
      for (const [y, x] of at) {
        const f = this.readBlock([y, x, 0, 0], [1, 1, dy, dx]).data;
        h.update(new Uint8Array(f.buffer, f.byteOffset, f.byteLength));
      }
    }
    return h.digest("hex").slice(0, 32);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.backend.close();
  }
}

function pick(file: string, entries: DatacubeEntry[], dataset: string | undefined): DatacubeEntry {
  const names = entries.map((e) => `${e.dataset} ${JSON.stringify(e.shape)}`).join(", ");
  if (dataset !== undefined) {
    const want = "/" + dataset.split("/").filter(Boolean).join("/");
    const hit = entries.find((e) => e.dataset === want);
    if (!hit) {
      throw new DatacubeError(
        file,
        `no 4-d dataset '${want}'${entries.length ? `; 4-d datasets: ${names}` : " (the file has no 4-d dataset)"}`,
      );
    }
    return hit;
  }
  const emd = entries.filter((e) => e.emd);
  if (emd.length) return emd[0]!;
  if (entries.length === 1) return entries[0]!;
  if (entries.length === 0) throw new DatacubeError(file, "has no 4-d dataset (no datacube)");
  throw new DatacubeError(file, `has several 4-d datasets; pass { dataset } with one of: ${names}`);
}

function checkShape(
  file: string,
  shape: number[],
  dtype: DType,
  dataset: string,
): [number, number, number, number] {
  const where = dataset ? ` (${dataset})` : "";
  if (shape.length !== 4) {
    throw new DatacubeError(
      file,
      `is not a 4-d datacube${where}: shape ${JSON.stringify(shape)} (expected [scan_y, scan_x, detector_y, detector_x])`,
    );
  }
  if (dtype === "bool" || dtype.startsWith("complex")) {
    throw new DatacubeError(
      file,
      `datacube${where} has element type ${dtype}; real numbers are needed`,
    );
  }
  return shape as [number, number, number, number];
}

function toFloat64(a: TypedArrayFor[DType]): Float64Array {
  if (a instanceof Float64Array) return a;
  const out = new Float64Array(a.length);
  if (a instanceof BigInt64Array || a instanceof BigUint64Array) {
    for (let i = 0; i < a.length; i++) out[i] = Number(a[i]!);
  } else out.set(a);
  return out;
}
