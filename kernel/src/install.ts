/**
 * Register the kernelspec. Default prefix: the project venv (`.venv` beside the repo root,
 * or $VIRTUAL_ENV), since that is the JupyterLab `npm start` runs; `--user` and
 * `--sys-prefix` follow Jupyter's own meaning; `--prefix DIR` writes DIR/share/jupyter.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "..", "..");

function jupyterDataDirs(python: string): { user: string; sysPrefix: string } {
  const out = execFileSync(
    python,
    ["-c", "import sys, jupyter_core.paths as p; print(p.jupyter_data_dir()); print(sys.prefix)"],
    { encoding: "utf8" },
  );
  const [user, prefix] = out.trim().split("\n");
  return { user: user!, sysPrefix: path.join(prefix!, "share", "jupyter") };
}

export function installKernelspec(args: string[]): string {
  const venv = process.env.VIRTUAL_ENV ?? path.join(repoRoot, ".venv");
  const python = path.join(venv, "bin", "python");
  let dataDir: string;
  const prefixAt = args.indexOf("--prefix");
  if (prefixAt >= 0) {
    const prefix = args[prefixAt + 1];
    if (!prefix) throw new Error("--prefix needs a directory");
    dataDir = path.join(path.resolve(prefix), "share", "jupyter");
  } else if (args.includes("--user")) {
    dataDir = fs.existsSync(python)
      ? jupyterDataDirs(python).user
      : path.join(os.homedir(), ".local", "share", "jupyter");
  } else {
    if (!fs.existsSync(python))
      throw new Error(`no Python venv at ${venv}: run npm start (or pass --user / --prefix)`);
    dataDir = jupyterDataDirs(python).sysPrefix;
  }
  const dest = path.join(dataDir, "kernels", "stagelab");
  fs.mkdirSync(dest, { recursive: true });
  const spec = {
    argv: [process.execPath, path.join(here, "main.js"), "--connection-file", "{connection_file}"],
    display_name: "TypeScript (stagelab)",
    language: "typescript",
    interrupt_mode: "signal",
    env: {},
    metadata: { debugger: false },
  };
  fs.writeFileSync(path.join(dest, "kernel.json"), JSON.stringify(spec, null, 2) + "\n");
  return dest;
}
