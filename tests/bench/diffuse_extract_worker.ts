// Worker for tests/bench/diffuse-extract.bench.ts: runs extractPanel on its share of the panels
// (raw and mask in SharedArrayBuffers, one ExtractWorkspace per panel) when told to.
import { parentPort, workerData } from "node:worker_threads";
import {
  extractPanel,
  ExtractWorkspace,
  type ExtractPanelOptions,
} from "../../src/diffuse/extract-panel.js";
import type { Beam, Panel } from "../../src/geometry/models.js";

interface Job {
  beam: Beam;
  options: Omit<ExtractPanelOptions, "panelIndex" | "stillId">;
  panels: { index: number; panel: Panel; raw: SharedArrayBuffer; mask: SharedArrayBuffer }[];
}
const job = workerData as Job;
const inputs = job.panels.map((p) => ({
  ...p,
  raw: new Float64Array(p.raw),
  mask: new Uint8Array(p.mask),
}));
const workspaces = inputs.map(() => new ExtractWorkspace());

parentPort!.on("message", (msg: "run" | "result" | "exit") => {
  if (msg === "exit") process.exit(0);
  const t0 = performance.now();
  const out = inputs.map((p, w) =>
    extractPanel(p.panel, job.beam, p.raw, p.mask, {
      ...job.options,
      panelIndex: p.index,
      stillId: 0,
      workspace: workspaces[w]!,
    }),
  );
  if (msg === "run")
    parentPort!.postMessage({
      count: out.reduce((s, c) => s + c.count, 0),
      seconds: (performance.now() - t0) / 1000,
    });
  // Copies of the columns (the workspace views are reused), for the comparison with numpy.
  else
    parentPort!.postMessage(
      out.map((c) => ({ index: c.panel[0], intensity: c.intensity.slice(), count: c.count })),
    );
});
