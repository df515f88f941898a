// Stage 4, the single saver: the only thread that writes the output. Calls are applied in
// the order they arrive, so a row's completion record is written only after its cells.
import path from "node:path";
import { parentPort } from "node:worker_threads";
import * as Comlink from "comlink/dist/esm/comlink.mjs";
import { nodeEndpoint } from "../store/worker/endpoint.js";
import { projectionDirName } from "./dataset.js";
import {
  OUTPUT_STORE_NAME,
  writeOutputMetadata,
  type CellRecord,
  type OutputMetadata,
  type RowRecord,
} from "./output.js";
import { createZarrArray, type ZarrTypedArray } from "./zarr.js";

export interface ConvolvedCell {
  projection: number;
  name: string;
  shape: [number, number];
  image: Float32Array;
  weight: Float32Array;
  mask: Uint16Array;
  record: CellRecord;
}

let dir = "";
let meta: OutputMetadata | undefined;
let chunkPx = 512;
let queue: Promise<unknown> = Promise.resolve();

/** Run `fn` after everything submitted before it (its own failure is the caller's). */
function inOrder<T>(fn: () => Promise<T> | T): Promise<T> {
  const run = queue.then(fn);
  queue = run.catch(() => undefined);
  return run;
}

async function writeArray(
  root: string,
  arrayPath: string,
  data: ZarrTypedArray,
  shape: [number, number],
): Promise<void> {
  const isFloat = data instanceof Float32Array;
  const a = await createZarrArray(root, arrayPath, {
    shape,
    chunks: [Math.min(chunkPx, shape[0]), Math.min(chunkPx, shape[1])],
    dtype: isFloat ? "float32" : "uint16",
    compressor: "zlib",
    level: 1,
    fillValue: isFloat ? NaN : 0,
    overwrite: true,
  });
  await a.write(data);
}

const api = {
  open(outDir: string, metadata: OutputMetadata, outputChunkPx: number): Promise<void> {
    return inOrder(() => {
      dir = outDir;
      meta = metadata;
      chunkPx = outputChunkPx;
      writeOutputMetadata(dir, meta);
    });
  },

  saveCell(cell: ConvolvedCell): Promise<void> {
    return inOrder(async () => {
      const root = path.join(dir, OUTPUT_STORE_NAME);
      const base = `${projectionDirName(cell.projection)}/${cell.name}`;
      await writeArray(root, `${base}/image`, cell.image, cell.shape);
      await writeArray(root, `${base}/weight`, cell.weight, cell.shape);
      await writeArray(root, `${base}/mask`, cell.mask, cell.shape);
      meta!.cells[cell.name] = cell.record;
    });
  },

  /** Record a row as done (replacing an earlier record of it: a retried row). */
  completeRow(row: RowRecord): Promise<void> {
    return inOrder(() => {
      meta!.rows = meta!.rows.filter(
        (r) => !(r.projection === row.projection && r.row === row.row),
      );
      meta!.rows.push(row);
      writeOutputMetadata(dir, meta!);
    });
  },

  /** Resolves when every call made before it has finished. */
  flush(): Promise<void> {
    return inOrder(() => undefined);
  },
};

export type SaverThreadApi = typeof api;

if (parentPort) Comlink.expose(api, nodeEndpoint(parentPort));
