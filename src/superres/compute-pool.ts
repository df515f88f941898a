/**
 * Worker threads for the block math of steps 2 and 3 (the main thread reads and writes the
 * files, the workers transform). Each call takes the next idle worker; a caller holding more
 * blocks than workers waits in line. Closing ends the threads.
 */
import * as Comlink from "comlink/dist/esm/comlink.mjs";
import { WorkerPool } from "../parallel/worker-pool.js";
import type { ComputeThreadApi } from "./compute-thread.js";
import type { BandCut } from "./blocks.js";
import type { PixelArray } from "./input.js";

export class ComputePool {
  private readonly pool: WorkerPool<ComputeThreadApi>;

  constructor(readonly size: number) {
    this.pool = new WorkerPool<ComputeThreadApi>(
      new URL("./compute-thread", import.meta.url),
      size,
    );
  }

  /**
   * bigFTOfBand in a worker, one array per cut; `data` (any pixel type: the worker widens it)
   * is transferred (unusable afterwards).
   */
  bigFT(
    data: PixelArray,
    scanY: number,
    scanX: number,
    rows: number,
    width: number,
    cuts: BandCut[],
  ): Promise<Float64Array[]> {
    return this.pool.run((r) =>
      r.bigFT(Comlink.transfer(data, [data.buffer]), scanY, scanX, rows, width, cuts),
    );
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
    return this.pool.run((r) =>
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

  close(): Promise<void> {
    return this.pool.close();
  }
}
