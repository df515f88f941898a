/**
 * A fixed set of worker threads running one module each, called through comlink. Each call
 * takes the next idle worker; callers holding more work than workers wait in line. The
 * compute pools of the stages (super-resolution blocks, CubeFit HyperCube tiles) are thin
 * typed wrappers over this one.
 */
import type { Worker } from "node:worker_threads";
import * as Comlink from "comlink/dist/esm/comlink.mjs";
import { nodeEndpoint } from "../store/worker/endpoint.js";
import { spawnModuleWorker } from "../store/worker/spawn.js";

interface Slot<Api> {
  worker: Worker;
  remote: Comlink.Remote<Api>;
}

export class WorkerPool<Api> {
  private readonly idle: Slot<Api>[] = [];
  private readonly waiting: ((slot: Slot<Api>) => void)[] = [];
  private readonly all: Slot<Api>[] = [];

  /** `entry`: the worker module's URL without extension (see spawnModuleWorker). */
  constructor(
    entry: URL,
    readonly size: number,
  ) {
    for (let i = 0; i < size; i++) {
      const worker = spawnModuleWorker(entry);
      const slot = { worker, remote: Comlink.wrap<Api>(nodeEndpoint(worker)) };
      this.all.push(slot);
      this.idle.push(slot);
    }
  }

  /** Run `fn` on the next idle worker. */
  async run<T>(fn: (remote: Comlink.Remote<Api>) => Promise<T>): Promise<T> {
    const slot =
      this.idle.pop() ?? (await new Promise<Slot<Api>>((resolve) => this.waiting.push(resolve)));
    try {
      return await fn(slot.remote);
    } finally {
      const next = this.waiting.shift();
      if (next) next(slot);
      else this.idle.push(slot);
    }
  }

  /** Run `fn` on every worker at once (e.g. to hand each the data all its calls share). */
  each<T>(fn: (remote: Comlink.Remote<Api>) => Promise<T>): Promise<T[]> {
    return Promise.all(this.all.map((s) => fn(s.remote)));
  }

  async close(): Promise<void> {
    for (const s of this.all) s.remote[Comlink.releaseProxy]();
    await Promise.all(this.all.map((s) => s.worker.terminate()));
  }
}
