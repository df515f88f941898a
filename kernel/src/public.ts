/**
 * What notebook cells import: `import { display, widgets, input, comms } from "@stagelab/kernel"`.
 */
import { kernelApi } from "./kernel-api.js";
import type { Buffers, Comm, TargetHandler } from "./comm.js";

export {
  display,
  newDisplay,
  clearOutput,
  progress,
  DisplayHandle,
  ProgressBar,
} from "./display.js";
export { DISPLAY_SYMBOL, formatValue, type MimeBundle } from "./format.js";
export { Comm, type CommMessage, type TargetHandler } from "./comm.js";
export * as widgets from "./widgets/index.js";

/**
 * An AbortSignal that fires when the user interrupts the kernel (the stop button): pass it to
 * a stage (`{ signal: interruptSignal() }`) so its background work stops with the cell.
 */
export function interruptSignal(): AbortSignal {
  return kernelApi().interruptSignal();
}

/** Ask the user for a line of text (a stdin input_request to the frontend). */
export function input(prompt = ""): Promise<string> {
  return kernelApi().input(prompt, false);
}

/** Like input(), but the frontend hides what is typed. */
export function password(prompt = ""): Promise<string> {
  return kernelApi().input(prompt, true);
}

export const comms = {
  /** Handle comms the frontend opens to `target`. */
  registerTarget(target: string, handler: TargetHandler): void {
    kernelApi().comms.registerTarget(target, handler);
  },
  unregisterTarget(target: string): void {
    kernelApi().comms.unregisterTarget(target);
  },
  /** Open a comm from the kernel to a frontend target. */
  open(
    target: string,
    data: Record<string, unknown> = {},
    buffers: Buffers = [],
    metadata: Record<string, unknown> = {},
  ): Comm {
    return kernelApi().comms.open(target, data, metadata, buffers);
  },
};
export { h5view, H5View, type H5ViewOptions, type TreeEntry } from "./viewers/h5view.js";
export { voxelView, VoxelView, type VoxelViewOptions } from "./viewers/voxelview.js";
export {
  fftExplorer,
  FftExplorer,
  type FftExplorerOptions,
  type FftSelection,
} from "./viewers/fftexplorer.js";
export { prefitSnapshot, PrefitSnapshot, type PrefitOptions } from "./viewers/prefit.js";
export {
  fitDashboard,
  FitDashboard,
  type FitDashboardOptions,
  type RunSpec,
} from "./viewers/fitdash.js";
