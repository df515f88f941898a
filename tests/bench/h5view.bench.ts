/**
 * H5View latency: slice updates on a 4096x4096 float32 dataset (the view's request to the last
 * byte of the answer, through the real kernel and ZeroMQ), and live increments (a row's commit
 * in another process to its arrival at the client). p50/p95.
 *
 *   npm run bench -- tests/bench/h5view      (STAGELAB_BENCH_READS, STAGELAB_BENCH_SECONDS)
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { kernelEnv, systemPython } from "../kernel/python-suite.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const { env, dir } = kernelEnv();
try {
  const reads = process.env.STAGELAB_BENCH_READS ?? "60";
  const seconds = process.env.STAGELAB_BENCH_SECONDS ?? "8";
  const r = spawnSync(systemPython, [path.join(here, "h5view_bench.py"), dir, reads, seconds], {
    env,
    encoding: "utf8",
    timeout: 600_000,
  });
  const line = r.stdout.split("\n").find((l) => l.includes("BENCH_JSON "));
  if (!line) throw new Error(`no result:\n${r.stdout}\n${r.stderr}`);
  const res = JSON.parse(line.slice(line.indexOf("BENCH_JSON ") + 11)) as {
    slice_ms: number[];
    live_ms: number[];
  };
  const q = (xs: number[], p: number) =>
    [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
  console.log(
    `H5View latency: ${res.slice_ms.length} slice reads, ${res.live_ms.length} live rows\n`,
  );
  console.log("| measure | p50 | p95 | goal |");
  console.log("| --- | --- | --- | --- |");
  console.log(
    `| slice update, 4096x4096 float32 (512x512 shown) | ${q(res.slice_ms, 0.5).toFixed(1)} ms | ${q(res.slice_ms, 0.95).toFixed(1)} ms | p95 < 100 ms |`,
  );
  console.log(
    `| new committed row to client (poll 100 ms) | ${q(res.live_ms, 0.5).toFixed(0)} ms | ${q(res.live_ms, 0.95).toFixed(0)} ms | < 1 s |`,
  );
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
