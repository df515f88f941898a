/**
 * Store readers and writers that run in a worker thread, for callers that must stay
 * responsive (a kernel serving widgets while a stage writes). Same API as StoreReader and
 * StoreWriter, but every method returns a promise. A thread is started on first use and
 * ends when its last handle closes; it keeps the process alive only while a call is pending.
 */
import { resolve as resolvePath } from "node:path";
import type { Worker } from "node:worker_threads";
import { spawnModuleWorker } from "./spawn.js";
import * as Comlink from "comlink/dist/esm/comlink.mjs";
import { nodeEndpoint } from "./endpoint.js";
import type { StoreThreadApi } from "./store-thread.js";
import type { AxisSelection, DatasetInfo, ReaderOptions, StoreArray, TreeNode } from "../reader.js";
import type { CommitInfo, DatasetSpec, OpenOptions, WriterOptions } from "../writer.js";
import type { RecoveryReport } from "../recover.js";
import type { DType, TypedArrayFor } from "../dtype.js";
import type { Attrs } from "../h5file.js";
import type { FileState } from "../bookkeeping.js";
import { STORE_ERROR_CLASSES, StoreError, StoreLockedError, type LockHolder } from "../errors.js";

function spawnThread(): Worker {
  return spawnModuleWorker(new URL("./store-thread", import.meta.url));
}

/** One worker thread with its own HDF5 instance. */
export class StoreThread {
  private readonly worker: Worker;
  private readonly remote: Comlink.Remote<StoreThreadApi>;
  private inFlight = 0;
  private handles = 0;
  private ended = false;

  constructor() {
    this.worker = spawnThread();
    this.worker.unref();
    this.remote = Comlink.wrap<StoreThreadApi>(nodeEndpoint(this.worker));
  }

  /** @internal run a remote call, keeping the process alive until it answers. */
  async call<T>(fn: (api: Comlink.Remote<StoreThreadApi>) => Promise<T>): Promise<T> {
    if (this.ended) throw new Error("store thread has ended");
    if (this.inFlight++ === 0) this.worker.ref();
    try {
      return await fn(this.remote);
    } catch (e) {
      throw rebuildError(e);
    } finally {
      if (--this.inFlight === 0) this.worker.unref();
    }
  }

  /** @internal */
  retain(): void {
    this.handles++;
  }

  /** @internal the last handle closing ends the thread (unless it is the shared one). */
  async release(): Promise<void> {
    if (--this.handles <= 0 && this !== shared) await this.terminate();
  }

  async terminate(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.remote[Comlink.releaseProxy]();
    await this.worker.terminate();
  }
}

let shared: StoreThread | undefined;
/** Readers open in the shared thread, by resolved path. */
const sharedOpen = new Map<string, number>();

/** The process-wide thread that readers share unless given their own. */
export function sharedStoreThread(): StoreThread {
  shared ??= new StoreThread();
  return shared;
}

function rebuildError(e: unknown): unknown {
  const x = e as {
    storeErrorName?: string;
    message?: string;
    file?: string;
    dataset?: string;
    hdf5Detail?: string;
    holder?: LockHolder;
  };
  if (!x || typeof x.storeErrorName !== "string") return e;
  const ctx = { file: x.file ?? "", dataset: x.dataset, hdf5Detail: x.hdf5Detail };
  if (x.storeErrorName === "StoreLockedError" && x.holder)
    return new StoreLockedError(ctx, x.holder);
  const cls = STORE_ERROR_CLASSES[x.storeErrorName] ?? StoreError;
  const err = new cls("", ctx);
  // Keep the message as the worker wrote it (it already names file and dataset).
  err.message = x.message ?? err.message;
  return err;
}

export class AsyncStoreReader {
  private constructor(
    private readonly thread: StoreThread,
    private readonly id: number,
    readonly path: string,
  ) {}

  static async open(
    path: string,
    opts: ReaderOptions & { thread?: StoreThread } = {},
  ): Promise<AsyncStoreReader> {
    // HDF5 shares one file's state between the handles of a library instance: a second
    // reader of a file the shared thread already has open would see the file as it was at
    // the first open (and neither could refresh). Such a reader gets a thread of its own.
    const key = resolvePath(path);
    const thread = opts.thread ?? (sharedOpen.has(key) ? new StoreThread() : sharedStoreThread());
    const { thread: _t, ...readerOpts } = opts;
    let id: number;
    try {
      id = await thread.call((api) => api.openReader(path, readerOpts));
    } catch (e) {
      if (thread !== shared && !opts.thread) await thread.terminate();
      throw e;
    }
    thread.retain();
    if (thread === shared) sharedOpen.set(key, (sharedOpen.get(key) ?? 0) + 1);
    return new AsyncStoreReader(thread, id, path);
  }

  refresh(): Promise<boolean> {
    return this.thread.call((api) => api.refresh(this.id));
  }
  status(): Promise<{ sequence: number; state: FileState | "foreign" }> {
    return this.thread.call((api) => api.status(this.id));
  }
  tree(group?: string): Promise<TreeNode[]> {
    return this.thread.call((api) => api.tree(this.id, group));
  }
  info(ds: string): Promise<DatasetInfo> {
    return this.thread.call((api) => api.info(this.id, ds));
  }
  attrs(p?: string): Promise<Attrs> {
    return this.thread.call((api) => api.attrs(this.id, p));
  }
  read<D extends DType = DType>(ds: string, sel?: AxisSelection[]): Promise<StoreArray<D>> {
    return this.thread.call((api) => api.read(this.id, ds, sel)) as Promise<StoreArray<D>>;
  }
  async close(): Promise<void> {
    await this.thread.call((api) => api.closeReader(this.id));
    if (this.thread === shared) {
      const key = resolvePath(this.path);
      const n = (sharedOpen.get(key) ?? 1) - 1;
      if (n > 0) sharedOpen.set(key, n);
      else sharedOpen.delete(key);
    }
    await this.thread.release();
  }
}

/** A writer on its own thread (one writer per thread: its file stays open there). */
export class AsyncStoreWriter {
  private constructor(
    private readonly thread: StoreThread,
    private readonly id: number,
    readonly path: string,
    readonly recovered: RecoveryReport | undefined,
  ) {}

  static async create(path: string, opts: WriterOptions = {}): Promise<AsyncStoreWriter> {
    const thread = new StoreThread();
    try {
      const id = await thread.call((api) => api.createWriter(path, opts));
      thread.retain();
      return new AsyncStoreWriter(thread, id, path, undefined);
    } catch (e) {
      await thread.terminate();
      throw e;
    }
  }

  static async open(path: string, opts: OpenOptions = {}): Promise<AsyncStoreWriter> {
    const thread = new StoreThread();
    try {
      const { id, recovered } = await thread.call((api) => api.openWriter(path, opts));
      thread.retain();
      return new AsyncStoreWriter(thread, id, path, recovered);
    } catch (e) {
      await thread.terminate();
      throw e;
    }
  }

  createDataset(name: string, spec: DatasetSpec): Promise<void> {
    return this.thread.call((api) => api.createDataset(this.id, name, spec));
  }
  setAttrs(p: string, attrs: Attrs): Promise<void> {
    return this.thread.call((api) => api.setAttrs(this.id, p, attrs));
  }
  /** Append rows; the array's buffer is transferred to the writer thread (do not reuse it). */
  append<D extends DType>(ds: string, data: TypedArrayFor[D]): Promise<void> {
    return this.thread.call((api) =>
      api.append(this.id, ds, Comlink.transfer(data, [data.buffer as ArrayBuffer])),
    );
  }
  write<D extends DType>(
    ds: string,
    start: number[],
    count: number[],
    data: TypedArrayFor[D],
  ): Promise<void> {
    return this.thread.call((api) =>
      api.write(this.id, ds, start, count, Comlink.transfer(data, [data.buffer as ArrayBuffer])),
    );
  }
  commit(): Promise<CommitInfo> {
    return this.thread.call((api) => api.commit(this.id));
  }
  async close(): Promise<CommitInfo> {
    try {
      return await this.thread.call((api) => api.closeWriter(this.id));
    } finally {
      await this.thread.release();
    }
  }
  async abandon(): Promise<void> {
    try {
      await this.thread.call((api) => api.abandonWriter(this.id));
    } finally {
      await this.thread.release();
    }
  }
}
