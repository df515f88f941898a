/**
 * One shared compute worker for all views of the page (lazily started on first use).
 */
import { wrap, type Remote } from "comlink";
import type { ComputeApi } from "./compute.worker.js";

let remote: Remote<ComputeApi> | undefined;

/** The page's compute worker (a comlink proxy: every call returns a Promise). */
export function computeWorker(): Remote<ComputeApi> {
  if (!remote) {
    // This exact `new Worker(new URL("...", import.meta.url))` form is what makes the
    // bundler emit the worker as a separate chunk and load it from the extension's public path.
    const worker = new Worker(new URL("./compute.worker.js", import.meta.url), {
      name: "stagelab-compute",
    });
    remote = wrap<ComputeApi>(worker);
  }
  return remote;
}
