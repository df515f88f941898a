/**
 * Worker threads for the block math of steps 2 and 3 (the main thread reads and writes the
 * files, the workers transform). Each call takes the next idle worker; a caller holding more
 * blocks than workers waits in line. Closing ends the threads.
 */
import type { Worker } from "node:worker_threads";
import * as Comlink from "comlink/dist/esm/comlink.mjs";
import { nodeEndpoint } from "../store/worker/endpoint.js";
import { spawnModuleWorker } from "../store/worker/spawn.js";
import type { ComputeThreadApi } from "./compute-thread.js";

interface Slot {
  worker: Worker;
  remote: Comlink.Remote<ComputeThreadApi>;
}

export class ComputePool {
  private readonly idle: Slot[] = [];
  private readonly waiting: ((slot: Slot) => void)[] = [];
  private readonly all: Slot[] = [];

  constructor(readonly size: number) {
    for (let i = 0; i < size; i++) {
      const worker = spawnModuleWorker(new URL("./compute-thread", import.meta.url));
      const slot = { worker, remote: Comlink.wrap<ComputeThreadApi>(nodeEndpoint(worker)) };
      this.all.push(slot);
      this.idle.push(slot);
    }
  }

  private async run<T>(fn: (remote: Comlink.Remote<ComputeThreadApi>) => Promise<T>): Promise<T> {
    const slot =
      this.idle.pop() ?? (await new Promise<Slot>((resolve) => this.waiting.push(resolve)));
    try {
      return await fn(slot.remote);
    } finally {
      const next = this.waiting.shift();
      if (next) next(slot);
      else this.idle.push(slot);
    }
  }

  /** bigFTOfBlock in a worker; `data` is transferred (unusable afterwards). */
  bigFT(data: Float64Array, scanY: number, scanX: number, pixels: number): Promise<Float64Array> {
    return this.run((r) => r.bigFT(Comlink.transfer(data, [data.buffer]), scanY, scanX, pixels));
  }

  /** correlationsOfBlock in a worker; `bigFT` is transferred, `reference` copied. */
  correlations(
    bigFT: Float64Array,
    scanY: number,
    scanX: number,
    pixels: number,
    reference: Float64Array,
    subtractMean: boolean,
  ): Promise<Float64Array> {
    return this.run((r) =>
      r.correlations(
        Comlink.transfer(bigFT, [bigFT.buffer]),
        scanY,
        scanX,
        pixels,
        reference,
        subtractMean,
      ),
    );
  }

  async close(): Promise<void> {
    for (const s of this.all) s.remote[Comlink.releaseProxy]();
    await Promise.all(this.all.map((s) => s.worker.terminate()));
  }
}
