// Stage 4, the single saver: the only thread that writes the output (the workers compressed
// it). Calls are applied in the order they arrive, so a row's completion record is written
// only after its cells.
import path from "node:path";
import { parentPort } from "node:worker_threads";
import * as Comlink from "comlink/dist/esm/comlink.mjs";
import { nodeEndpoint } from "../store/worker/endpoint.js";
import {
  OUTPUT_STORE_NAME,
  removeStaleMetadataTemporaries,
  writeOutputMetadata,
  type CellRecord,
  type OutputMetadata,
  type RowRecord,
} from "./output.js";
import { writeEncodedZarr, type EncodedZarrArray } from "./zarr-encode.js";

/** A convolved cell as the workers encoded it: its arrays' files, and its record. */
export interface EncodedCell {
  name: string;
  arrays: EncodedZarrArray[];
  record: CellRecord;
}

let dir = "";
let meta: OutputMetadata | undefined;
let queue: Promise<unknown> = Promise.resolve();

/** Run `fn` after everything submitted before it (its own failure is the caller's). */
function inOrder<T>(fn: () => Promise<T> | T): Promise<T> {
  const run = queue.then(fn);
  queue = run.catch(() => undefined);
  return run;
}

const api = {
  open(outDir: string, metadata: OutputMetadata): Promise<void> {
    return inOrder(() => {
      dir = outDir;
      meta = metadata;
      removeStaleMetadataTemporaries(dir);
      writeOutputMetadata(dir, meta);
    });
  },

  saveCell(cell: EncodedCell): Promise<void> {
    return inOrder(async () => {
      const root = path.join(dir, OUTPUT_STORE_NAME);
      await writeEncodedZarr(root, cell.arrays);
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
