// `npm start`: set everything up, then open JupyterLab on notebooks/.
// Extra arguments go to `jupyter lab`, e.g. `npm start -- --no-browser --port 8899`.

import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { constants } from "node:os";
import { join } from "node:path";
import { ROOT, jupyterEnv, prepare, START_APT } from "./setup.mjs";

async function ensureDemoData() {
  const script = join(ROOT, ".ci", "demo-data.mjs");
  const dataDir = join(ROOT, "notebooks", "data");
  if (!existsSync(script)) {
    console.log("[stagelab] demo data: .ci/demo-data.mjs not there yet, skipping");
    return;
  }
  if (existsSync(join(dataDir, ".complete"))) {
    console.log("[stagelab] demo data: notebooks/data up to date");
    return;
  }
  console.log("[stagelab] demo data: writing notebooks/data");
  const r = spawnSync(process.execPath, [script, "notebooks/data"], {
    cwd: ROOT,
    stdio: "inherit",
  });
  if (r.status !== 0) throw new Error(`.ci/demo-data.mjs failed (exit ${r.status ?? r.signal})`);
}

async function main() {
  const { jupyter } = await prepare(START_APT);
  await ensureDemoData();

  // New notebooks and consoles get the stagelab kernel.
  const args = [
    "lab",
    `--notebook-dir=${join(ROOT, "notebooks")}`,
    "--MappingKernelManager.default_kernel_name=stagelab",
  ];
  // Jupyter refuses to run as root without this (containers, CI).
  if (typeof process.getuid === "function" && process.getuid() === 0) args.push("--allow-root");
  args.push(...process.argv.slice(2));
  console.log(`[stagelab] starting: jupyter ${args.join(" ")}`);

  const child = spawn(jupyter, args, {
    cwd: ROOT,
    stdio: "inherit",
    env: { ...process.env, ...jupyterEnv() },
  });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.on(signal, () => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    });
  }
  child.on("error", (err) => {
    console.error(`[stagelab] could not start jupyter: ${err.message}`);
    process.exit(1);
  });
  child.on("exit", (code, signal) => {
    process.exit(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 1));
  });
}

main().catch((err) => {
  console.error(`[stagelab] ${err instanceof Error ? err.message : err}`);
  process.exit(1);
});
