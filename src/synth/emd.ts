/**
 * Writing 4D-STEM datacubes [scan_y, scan_x, detector_y, detector_x] as EMD 1.0 files, the
 * layout 4D-STEM tools (and the MIB-to-EMD converter the super-resolution seed reads) use:
 *
 *   /                                   version_major = 1, version_minor = 0
 *   /version_1                          major = 1, minor = 0
 *   /version_1/data/datacubes/datacube_NNN     emd_group_type = 1
 *       data                            the cube
 *       dim1 .. dim4                    axis coordinates, with attributes name and units
 *
 * Integer attributes are written as int64 (h5py reads numpy ints). dim1..dim4 are datasets
 * as the EMD 1.0 specification has them. For .npy output use `writeNpy` (formats/npy).
 */
import {
  ShapeMismatchError,
  StoreWriter,
  type Compression,
  type DType,
  type TypedArrayFor,
} from "../store/index.js";
import { dtypeOfTypedArray } from "../store/dtype.js";

export const EMD_DATACUBES_GROUP = "/version_1/data/datacubes";

/** The dataset path of datacube `index` (datacube_000, datacube_001, ...). */
export function emdDatacubePath(index: number): string {
  return `${EMD_DATACUBES_GROUP}/datacube_${String(index).padStart(3, "0")}/data`;
}

export interface EmdAxis {
  name: string;
  units: string;
  /** Coordinate of pixel 0 and the step (default 0 and 1: pixel indices). */
  origin?: number;
  step?: number;
}

export interface EmdDatacube {
  /** C-ordered values of shape [sy, sx, dy, dx]. */
  data: TypedArrayFor[DType];
  shape: [number, number, number, number];
  /** Default from the array class (Float32Array -> float32, Uint16Array -> uint16, ...). */
  dtype?: DType;
  /** Default: scan_y, scan_x, detector_y, detector_x in pixels. */
  axes?: [EmdAxis, EmdAxis, EmdAxis, EmdAxis];
}

export interface EmdWriteOptions {
  /** Chunk shape of each cube. Default: the store's (about 1 MiB of whole scan rows). */
  chunks?: number[];
  /** Default "none": raw detector counts compress poorly and are read often. */
  compression?: Compression;
  /** Replace an existing file. */
  overwrite?: boolean;
}

const DEFAULT_AXES: [EmdAxis, EmdAxis, EmdAxis, EmdAxis] = [
  { name: "scan_y", units: "pixels" },
  { name: "scan_x", units: "pixels" },
  { name: "detector_y", units: "pixels" },
  { name: "detector_x", units: "pixels" },
];

/**
 * Write datacubes as datacube_000, datacube_001, ... of a new EMD 1.0 file (through the
 * store: one writer, SWMR-readable, marked complete at the end). Returns the dataset paths.
 */
export async function writeEmdDatacubes(
  file: string,
  cubes: EmdDatacube[],
  opts: EmdWriteOptions = {},
): Promise<string[]> {
  const w = await StoreWriter.create(file, {
    overwrite: opts.overwrite ?? false,
    provenance: { stage: "synth.emd", parameters: { cubes: cubes.map((c) => c.shape) } },
  });
  try {
    w.setAttrs("/", { version_major: 1n, version_minor: 0n });
    w.setAttrs("/version_1", { major: 1n, minor: 0n });
    const paths = cubes.map((cube, i) => {
      const ds = emdDatacubePath(i);
      const group = ds.slice(0, -"/data".length);
      const dtype = cube.dtype ?? dtypeOfTypedArray(cube.data);
      const n = cube.shape.reduce((a, b) => a * b, 1);
      if (cube.data.length !== n) {
        throw new ShapeMismatchError(
          `datacube ${i} has ${cube.data.length} values, shape ${JSON.stringify(cube.shape)} needs ${n}`,
          { file, dataset: ds },
        );
      }
      w.createGroup(group, { emd_group_type: 1n });
      w.createDataset(ds, {
        dtype,
        shape: [0, ...cube.shape.slice(1)],
        maxshape: [...cube.shape],
        ...(opts.chunks ? { chunks: opts.chunks } : {}),
        compression: opts.compression ?? "none",
      });
      (cube.axes ?? DEFAULT_AXES).forEach((axis, a) => {
        w.createDataset(`${group}/dim${a + 1}`, {
          dtype: "float64",
          shape: [0],
          maxshape: [cube.shape[a]!],
          compression: "none",
          attrs: { name: axis.name, units: axis.units },
        });
      });
      return ds;
    });
    cubes.forEach((cube, i) => {
      w.dataset(paths[i]!).append(cube.data);
      const group = paths[i]!.slice(0, -"/data".length);
      (cube.axes ?? DEFAULT_AXES).forEach((axis, a) => {
        const n = cube.shape[a]!;
        const values = Float64Array.from(
          { length: n },
          (_, k) => (axis.origin ?? 0) + k * (axis.step ?? 1),
        );
        w.dataset<"float64">(`${group}/dim${a + 1}`).append(values);
      });
    });
    w.close();
    return paths;
  } catch (e) {
    w.abandon();
    throw e;
  }
}
