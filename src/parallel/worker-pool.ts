/**
 * A fixed set of worker threads running one module each, called through comlink. Each call
 * takes the next idle worker; callers holding more work than workers wait in line. The
 * compute pools of the stages (super-resolution blocks, CubeFit HyperCube tiles, skycell
 * reads) are thin typed wrappers over this one.
 *
 * A call may carry a time limit: past it the call fails with WorkerTimeoutError and its
 * worker, which may be stuck (a hung read, say), is terminated and replaced, so the pool
 * keeps its size. An urgent call waits ahead of the others: a stage on the critical path (a
 * convolution the assembler waits for) is not queued behind work read ahead.
 */
import type { Worker } from "node:worker_threads";
import * as Comlink from "comlink/dist/esm/comlink.mjs";
import { nodeEndpoint } from "../store/worker/endpoint.js";
import { spawnModuleWorker } from "../store/worker/spawn.js";

interface Slot<Api> {
  worker: Worker;
  remote: Comlink.Remote<Api>;
}

export class WorkerTimeoutError extends Error {
  override readonly name = "WorkerTimeoutError";
  constructor(
    readonly what: string,
    readonly timeoutMs: number,
  ) {
    super(`${what} took longer than ${timeoutMs} ms; its worker thread was replaced`);
  }
}

/** How a call runs: its time limit (and what to name in the error), and whether it is urgent. */
export interface RunOptions {
  timeoutMs?: number;
  what?: string;
  urgent?: boolean;
}

export class WorkerPool<Api> {
  private readonly idle: Slot<Api>[] = [];
  /** Urgent calls first, then the rest, each in order of arrival. */
  private readonly waiting: ((slot: Slot<Api>) => void)[] = [];
  private urgentWaiting = 0;
  private readonly all: Slot<Api>[] = [];
  private running = 0;
  private readonly cancels = new Set<() => void>();

  /** `entry`: the worker module's URL without extension (see spawnModuleWorker). */
  constructor(
    private readonly entry: URL,
    readonly size: number,
  ) {
    for (let i = 0; i < size; i++) this.idle.push(this.spawn());
  }

  /** Calls waiting for a worker, and calls running. */
  get depth(): { queued: number; running: number } {
    return { queued: this.waiting.length, running: this.running };
  }

  /** Run `fn` on the next idle worker (failing after `timeoutMs`, if given). */
  async run<T>(fn: (remote: Comlink.Remote<Api>) => Promise<T>, opts: RunOptions = {}): Promise<T> {
    let slot = this.idle.pop() ?? (await this.wait(opts.urgent === true));
    this.running++;
    let timer: NodeJS.Timeout | undefined;
    let cancel: (() => void) | undefined;
    try {
      // Settles when the pool closes under the call (its worker will never answer).
      const closed = new Promise<never>((_, reject) => {
        cancel = () => reject(new Error(`the worker pool was closed during the call`));
        this.cancels.add(cancel);
      });
      const timedOut = new Promise<never>((_, reject) => {
        const { timeoutMs } = opts;
        if (timeoutMs === undefined) return;
        timer = setTimeout(() => {
          const stuck = slot;
          slot = this.spawn();
          this.all.splice(this.all.indexOf(stuck), 1);
          void stuck.worker.terminate();
          reject(new WorkerTimeoutError(opts.what ?? "a worker call", timeoutMs));
        }, timeoutMs);
      });
      return await Promise.race([fn(slot.remote), timedOut, closed]);
    } finally {
      clearTimeout(timer);
      this.cancels.delete(cancel!);
      this.running--;
      const next = this.waiting.shift();
      if (this.urgentWaiting > 0) this.urgentWaiting--;
      if (next) next(slot);
      else this.idle.push(slot);
    }
  }

  /** The next worker to come free: urgent callers are served before the others. */
  private wait(urgent: boolean): Promise<Slot<Api>> {
    return new Promise((resolve) => {
      if (urgent) this.waiting.splice(this.urgentWaiting++, 0, resolve);
      else this.waiting.push(resolve);
    });
  }

  /** Run `fn` on every worker at once (e.g. to hand each the data all its calls share). */
  each<T>(fn: (remote: Comlink.Remote<Api>) => Promise<T>): Promise<T[]> {
    return Promise.all(this.all.map((s) => fn(s.remote)));
  }

  /**
   * End the threads; calls still running fail. A thread busy in a call is told to stop but
   * not waited for: one blocked in a system call (a read on a hung file system) ends only
   * when the call returns.
   */
  async close(): Promise<void> {
    for (const cancel of this.cancels) cancel();
    for (const s of this.all) s.remote[Comlink.releaseProxy]();
    await Promise.all(
      this.all.map((s) => {
        const ending = s.worker.terminate();
        return this.idle.includes(s) ? ending : undefined;
      }),
    );
  }

  private spawn(): Slot<Api> {
    const worker = spawnModuleWorker(this.entry);
    const slot = { worker, remote: Comlink.wrap<Api>(nodeEndpoint(worker)) };
    this.all.push(slot);
    return slot;
  }
}
