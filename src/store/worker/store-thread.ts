/**
 * The side of the store that runs inside a worker thread: it owns its own h5wasm instance,
 * so HDF5's synchronous calls never block the kernel's event loop. Handles are numbered;
 * array data crosses the thread boundary as transferred ArrayBuffers (no copy).
 */
import { parentPort } from "node:worker_threads";
import * as Comlink from "comlink/dist/esm/comlink.mjs";
import { nodeEndpoint } from "./endpoint.js";
import { StoreReader, type AxisSelection, type ReaderOptions } from "../reader.js";
import { StoreWriter, type DatasetSpec, type OpenOptions, type WriterOptions } from "../writer.js";
import type { DType, TypedArrayFor } from "../dtype.js";
import type { Attrs } from "../h5file.js";
import { StoreError, StoreLockedError } from "../errors.js";

const readers = new Map<number, StoreReader>();
const writers = new Map<number, StoreWriter>();
let nextId = 1;

function reader(id: number): StoreReader {
  const r = readers.get(id);
  if (!r) throw new Error(`no open reader #${id} in this store thread`);
  return r;
}

function writer(id: number): StoreWriter {
  const w = writers.get(id);
  if (!w) throw new Error(`no open writer #${id} in this store thread`);
  return w;
}

/** Errors cross threads as plain objects; the calling side rebuilds the typed error. */
async function guarded<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof StoreError) {
      // comlink keeps only name/message/stack of Error instances, but plain objects whole.
      throw {
        storeErrorName: e.name,
        message: e.message,
        file: e.file,
        dataset: e.dataset,
        hdf5Detail: e.hdf5Detail,
        holder: e instanceof StoreLockedError ? e.holder : undefined,
      };
    }
    throw e;
  }
}

const api = {
  openReader: (path: string, opts?: ReaderOptions) =>
    guarded(async () => {
      const id = nextId++;
      readers.set(id, await StoreReader.open(path, opts));
      return id;
    }),
  refresh: (id: number) => guarded(() => reader(id).refresh()),
  status: (id: number) =>
    guarded(() => ({ sequence: reader(id).sequence, state: reader(id).state })),
  tree: (id: number, group?: string) => guarded(() => reader(id).tree(group)),
  info: (id: number, ds: string) => guarded(() => reader(id).info(ds)),
  attrs: (id: number, p?: string) => guarded(() => reader(id).attrs(p)),
  read: (id: number, ds: string, sel?: AxisSelection[]) =>
    guarded(() => {
      const a = reader(id).read(ds, sel);
      return Comlink.transfer(a, [a.data.buffer as ArrayBuffer]);
    }),
  closeReader: (id: number) =>
    guarded(() => {
      readers.get(id)?.close();
      readers.delete(id);
    }),

  createWriter: (path: string, opts?: WriterOptions) =>
    guarded(async () => {
      const id = nextId++;
      writers.set(id, await StoreWriter.create(path, opts));
      return id;
    }),
  openWriter: (path: string, opts?: OpenOptions) =>
    guarded(async () => {
      const id = nextId++;
      const w = await StoreWriter.open(path, opts);
      writers.set(id, w);
      return { id, recovered: w.recovered };
    }),
  createDataset: (id: number, name: string, spec: DatasetSpec) =>
    guarded(() => {
      writer(id).createDataset(name, spec);
    }),
  setAttrs: (id: number, p: string, attrs: Attrs) => guarded(() => writer(id).setAttrs(p, attrs)),
  append: <D extends DType>(id: number, ds: string, data: TypedArrayFor[D]) =>
    guarded(() => writer(id).dataset<D>(ds).append(data)),
  write: <D extends DType>(
    id: number,
    ds: string,
    start: number[],
    count: number[],
    data: TypedArrayFor[D],
  ) => guarded(() => writer(id).dataset<D>(ds).write(start, count, data)),
  commit: (id: number) => guarded(() => writer(id).commit()),
  closeWriter: (id: number) =>
    guarded(() => {
      const w = writer(id);
      writers.delete(id);
      return w.close();
    }),
  abandonWriter: (id: number) =>
    guarded(() => {
      writers.get(id)?.abandon();
      writers.delete(id);
    }),
};

export type StoreThreadApi = typeof api;

if (parentPort) Comlink.expose(api, nodeEndpoint(parentPort));
