/**
 * What the two CubeFit widgets (PrefitSnapshot, FitDashboard) share: reading datasets of a
 * CubeFit file as float64, the cube's sizes from the root attribute `dims` and the datasets'
 * shapes, a queue that keeps reader work in order (a refresh must not land between reads), and
 * custom messages whose typed arrays travel as binary buffers (the widget protocol's
 * buffer_paths, put back with @jupyter-widgets/base `put_buffers` in the view).
 */
import { AsyncStoreReader, cubefit, type DatasetInfo } from "@stagelab/core";
import { extractBuffers } from "../widgets/widget.js";

export type CubeDims = cubefit.CubeDims;

/** The dataset's info, or undefined when the file has no dataset there. */
export async function datasetInfo(
  reader: AsyncStoreReader,
  ds: string,
): Promise<DatasetInfo | undefined> {
  try {
    return await reader.info(ds);
  } catch (e) {
    if ((e as Error).name === "DatasetNotFoundError") return undefined;
    throw e;
  }
}

/** A read as float64 (any real dtype). */
export async function readFloat64(
  reader: AsyncStoreReader,
  ds: string,
  selection?: Parameters<AsyncStoreReader["read"]>[1],
): Promise<Float64Array> {
  const a = await reader.read(ds, selection);
  if (a.data instanceof Float64Array) return a.data;
  return Float64Array.from(a.data as ArrayLike<number | bigint>, Number);
}

/** The root attribute `dims` ({nSpat, nLSpec, nTSpec, nVel, nComp, nPop}), what of it parses. */
export function parseDims(v: unknown): Partial<CubeDims> {
  let x = v;
  if (typeof x === "string") {
    try {
      x = JSON.parse(x);
    } catch {
      return {};
    }
  }
  if (!x || typeof x !== "object") return {};
  const out: Partial<CubeDims> = {};
  for (const k of ["nSpat", "nLSpec", "nTSpec", "nVel", "nComp", "nPop"] as const) {
    const n = Number((x as Record<string, unknown>)[k]);
    if (Number.isInteger(n) && n > 0) out[k] = n;
  }
  return out;
}

/** Runs async work one piece at a time, in order; a failure does not stop later work. */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/**
 * Send `content` as a custom message of `widget`, its typed arrays (at any depth) cut out as
 * binary buffers; `buffer_paths` in the content says where they go back.
 */
export function sendPacked(
  widget: {
    comm: { isClosed: boolean };
    sendCustom(content: Record<string, unknown>, buffers: ArrayBufferView[]): void;
  },
  content: Record<string, unknown>,
): void {
  if (widget.comm.isClosed) return;
  const { state, buffers, paths } = extractBuffers(content);
  widget.sendCustom({ ...state, buffer_paths: paths }, buffers);
}

/** `n` indices spread evenly over [0, size) (distinct; fewer when size is smaller). */
export function spread(size: number, n: number): number[] {
  if (size <= 0 || n <= 0) return [];
  if (n === 1) return [0];
  const out = new Set<number>();
  for (let i = 0; i < n; i++) out.add(Math.round((i * (size - 1)) / (n - 1)));
  return [...out];
}

/** An integer index in [0, size) (negative counts from the end); RangeError otherwise. */
export function checkIndex(what: string, v: unknown, size: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < -size || n >= size)
    throw new RangeError(`${what} must be an integer in [0, ${size}), got ${JSON.stringify(v)}`);
  return n < 0 ? n + size : n;
}
