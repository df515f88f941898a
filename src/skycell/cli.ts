#!/usr/bin/env node
/**
 * The PS1 pipeline from a terminal (the seed's run_modern_sliding_window_pipeline):
 *
 *   node src/dist/skycell/cli.js --data-root data --sector 20 --camera 3 --ccd 3 [--sigma 60]
 *     [--workers N] [--pad 480] [--overlap 480] [--edge-exclusion 10] [--projections-limit N]
 *     [--gather-timeout-s 300] [--fresh] [--json]
 *
 * A progress bar on stderr (row, rows done, MP/s, queue depths). SIGINT or SIGTERM stops it
 * gracefully: the workers stop, the saver finishes what it holds, the output stays consistent,
 * and the next run resumes; a second signal exits at once. Exit status: 0 done, 3 done with
 * failed cells, 130/143 stopped by SIGINT/SIGTERM, 1 error.
 */
import { parseArgs } from "node:util";
import { runSkycellPipeline, type SkycellProgress } from "./pipeline.js";

const { values } = parseArgs({
  options: {
    "data-root": { type: "string" },
    sector: { type: "string" },
    camera: { type: "string" },
    ccd: { type: "string" },
    sigma: { type: "string" },
    workers: { type: "string" },
    pad: { type: "string" },
    overlap: { type: "string" },
    "edge-exclusion": { type: "string" },
    "projections-limit": { type: "string" },
    "gather-timeout-s": { type: "string" },
    fresh: { type: "boolean" },
    json: { type: "boolean" },
  },
});

const num = (k: keyof typeof values): number | undefined => {
  const v = values[k];
  if (v === undefined || typeof v === "boolean") return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) {
    process.stderr.write(`--${k}: not a number: ${v}\n`);
    process.exit(1);
  }
  return n;
};

if (!values["data-root"] || !values.sector || !values.camera || !values.ccd) {
  process.stderr.write("usage: cli.js --data-root DIR --sector S --camera C --ccd D [options]\n");
  process.exit(1);
}

const stop = new AbortController();
let stoppedBy: NodeJS.Signals | undefined;
for (const sig of ["SIGINT", "SIGTERM"] as const)
  process.on(sig, () => {
    if (stoppedBy) process.exit(sig === "SIGINT" ? 130 : 143);
    stoppedBy = sig;
    process.stderr.write(`\n${sig}: stopping after the saver finishes (again to quit now)\n`);
    stop.abort();
  });

const bar = (p: SkycellProgress): string => {
  const width = 24;
  const filled = Math.round((width * p.rowsDone) / Math.max(1, p.rowsTotal));
  const q = p.queues;
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}] rows ${p.rowsDone}/${p.rowsTotal} | projection ${p.projection} row ${p.row} ${p.phase} | ${p.megapixelsPerSecond.toFixed(2)} MP/s | workers ${q.workers.running} busy, ${q.workers.queued} waiting | ahead ${q.ahead} save ${q.save}${p.failed ? ` | ${p.failed} failed` : ""}`;
};

try {
  const gather = num("gather-timeout-s");
  const report = await runSkycellPipeline({
    dataRoot: values["data-root"],
    sector: num("sector")!,
    camera: num("camera")!,
    ccd: num("ccd")!,
    psfSigmaPx: num("sigma"),
    workers: num("workers"),
    padPx: num("pad"),
    overlapPx: num("overlap"),
    edgeExclusionPx: num("edge-exclusion"),
    projectionsLimit: num("projections-limit"),
    gatherTimeoutMs: gather === undefined ? undefined : gather * 1000,
    fresh: values.fresh ?? false,
    signal: stop.signal,
    onProgress: (p) => {
      if (values.json) process.stdout.write(`${JSON.stringify({ progress: p })}\n`);
      else process.stderr.write(`\r${bar(p)}\x1b[K`);
    },
  });
  if (values.json) process.stdout.write(`${JSON.stringify({ report })}\n`);
  else {
    process.stderr.write("\n");
    for (const f of report.failed)
      process.stderr.write(
        `failed: ${f.name} (${f.stage}${f.padding ? ", padding" : ""}): ${f.message}\n`,
      );
    process.stderr.write(
      `${report.aborted ? "stopped" : "done"}: ${report.rowsDone}/${report.rowsTotal} rows (${report.rowsSkipped} already done), ${report.cellsWritten} cells, ${report.megapixels.toFixed(2)} MP in ${report.seconds.toFixed(1)} s -> ${report.outputDir}\n`,
    );
  }
  process.exitCode = stoppedBy
    ? stoppedBy === "SIGINT"
      ? 130
      : 143
    : report.failed.some((f) => !f.padding)
      ? 3
      : 0;
} catch (e) {
  process.stderr.write(`\n${(e as Error).name}: ${(e as Error).message}\n`);
  process.exitCode = 1;
}
