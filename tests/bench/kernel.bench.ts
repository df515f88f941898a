/**
 * Kernel start-up (start to kernel_info_reply) and trivial-cell latency (execute_request to
 * execute_reply for `1 + 1`), stagelab against ipykernel, side by side in one run.
 *
 *   npm run bench -- tests/bench/kernel      (STAGELAB_BENCH_STARTS, STAGELAB_BENCH_CELLS)
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { kernelEnv } from "../kernel/python-suite.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const venvPython =
  process.env.STAGELAB_VENV_PYTHON ?? path.join(here, "..", "..", ".venv", "bin", "python");
const starts = process.env.STAGELAB_BENCH_STARTS ?? "5";
const cells = process.env.STAGELAB_BENCH_CELLS ?? "100";

const { env, dir } = kernelEnv();
try {
  // The venv's jupyter_client knows both kernels (ipykernel is in the venv).
  const r = spawnSync(venvPython, [path.join(here, "kernel_bench.py"), starts, cells], {
    env,
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(r.stderr);
  const line = r.stdout.split("\n").find((l) => l.includes("BENCH_JSON "));
  if (!line) throw new Error(`no result from kernel_bench.py:\n${r.stdout}\n${r.stderr}`);
  const res = JSON.parse(line.slice(line.indexOf("BENCH_JSON ") + "BENCH_JSON ".length)) as Record<
    string,
    { startup_s: number[]; cell_ms: number[] }
  >;
  const q = (xs: number[], p: number) =>
    [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
  const py = res.python3!;
  const sl = res.stagelab!;
  console.log(`kernel benchmark: ${starts} start-ups, ${cells} trivial cells per kernel\n`);
  console.log("| measure | stagelab | ipykernel | ratio (stagelab / ipykernel) |");
  console.log("| --- | --- | --- | --- |");
  console.log(
    `| start-up to kernel_info_reply (median) | ${q(sl.startup_s, 0.5).toFixed(2)} s | ${q(py.startup_s, 0.5).toFixed(2)} s | ${(q(sl.startup_s, 0.5) / q(py.startup_s, 0.5)).toFixed(2)}x |`,
  );
  console.log(
    `| trivial cell p50 | ${q(sl.cell_ms, 0.5).toFixed(1)} ms | ${q(py.cell_ms, 0.5).toFixed(1)} ms | ${(q(sl.cell_ms, 0.5) / q(py.cell_ms, 0.5)).toFixed(2)}x |`,
  );
  console.log(
    `| trivial cell p95 | ${q(sl.cell_ms, 0.95).toFixed(1)} ms | ${q(py.cell_ms, 0.95).toFixed(1)} ms | ${(q(sl.cell_ms, 0.95) / q(py.cell_ms, 0.95)).toFixed(2)}x |`,
  );
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
