/**
 * What cell-side libraries (display, input, comms, widgets) need from the running kernel.
 * Held under a global symbol so every copy of this package that a cell may load reaches
 * the one kernel of the process.
 */
import type { CommManager } from "./comm.js";
import type { MimeBundle } from "./format.js";

export interface DisplayOptions {
  /** Makes the output updatable: later displays with `update: true` replace it. */
  displayId?: string;
  update?: boolean;
  metadata?: Record<string, unknown>;
}

export interface KernelApi {
  comms: CommManager;
  display(bundle: MimeBundle, opts?: DisplayOptions): void;
  clearOutput(wait: boolean): void;
  input(prompt: string, password: boolean): Promise<string>;
  /** Aborts at the next kernel interrupt (then a fresh signal takes its place). */
  interruptSignal(): AbortSignal;
}

const KEY = Symbol.for("stagelab.kernel");

export function setKernelApi(api: KernelApi): void {
  (globalThis as Record<symbol, unknown>)[KEY] = api;
}

export function kernelApi(): KernelApi {
  const api = (globalThis as Record<symbol, unknown>)[KEY] as KernelApi | undefined;
  if (!api)
    throw new Error(
      "not running inside the stagelab kernel: display, input, comms and widgets need it",
    );
  return api;
}
