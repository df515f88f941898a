// Build the prebuilt (federated) JupyterLab extension from npm packages alone:
//
//   1. tsc -b                      extension/src -> extension/lib
//   2. @jupyter/builder (rspack)   extension/lib -> extension/labextension/ (package.json +
//                                  static/remoteEntry.<hash>.js + chunks + the worker chunk)
//
// Step 2 is what `jupyter labextension build` / `jupyter-builder build` run underneath:
//   node node_modules/@jupyter/builder/lib/build-labextension.js \
//     --core-package-file node_modules/@jupyterlab/core-meta/core.package.json extension
// (@jupyter/builder has no bin of its own; @jupyterlab/core-meta's core.package.json is
// JupyterLab 4.6.4's own application package.json: its shared and singleton packages.)
//
// Usage: node extension/scripts/build.mjs [--development]   (npm run build -w extension)

import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { HASH_FILE, sourceHash } from "./source-hash.mjs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const EXTENSION = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(EXTENSION, "package.json"));
const development = process.argv.includes("--development");

function run(what, args) {
  const result = spawnSync(process.execPath, args, { cwd: EXTENSION, stdio: "inherit" });
  if (result.error) throw new Error(`${what} could not be started: ${result.error.message}`);
  if (result.status !== 0) {
    console.error(`[stagelab] extension: ${what} failed (exit ${result.status ?? result.signal})`);
    process.exit(result.status || 1);
  }
}

// The committed prebuilt bundle is kept as long as its sources are unchanged: module ids
// depend on where the repository sits, so rebuilding identical sources elsewhere would
// change every file name for nothing.
const ROOT = resolve(EXTENSION, "..");
const hash = sourceHash(ROOT, EXTENSION);
const hashFile = join(EXTENSION, "labextension", HASH_FILE);
const force = process.argv.includes("--force") || development;
if (
  !force &&
  existsSync(hashFile) &&
  readFileSync(hashFile, "utf8").trim() === hash &&
  existsSync(join(EXTENSION, "labextension", "package.json"))
) {
  console.log("[stagelab] extension: labextension/ up to date with its sources");
  process.exit(0);
}

// typescript's own tsc: node_modules/.bin/tsc may be another package's (tslab ships one).
run("tsc", [require.resolve("typescript/bin/tsc"), "-b", EXTENSION]);

const builder = require.resolve("@jupyter/builder/lib/build-labextension.js");
const corePackageFile = require.resolve("@jupyterlab/core-meta/core.package.json");
// The builder prints rspack's full stats; keep the build quiet unless it fails.
const result = spawnSync(
  process.execPath,
  [
    builder,
    ...(development ? ["--development"] : []),
    "--core-package-file",
    corePackageFile,
    EXTENSION,
  ],
  { cwd: EXTENSION, encoding: "utf8", maxBuffer: 64 << 20 },
);
if (result.error || result.status !== 0) {
  process.stdout.write(result.stdout ?? "");
  process.stderr.write(result.stderr ?? "");
  console.error(
    `[stagelab] extension: @jupyter/builder failed (exit ${result.status ?? result.error?.message})`,
  );
  process.exit(result.status || 1);
}
writeFileSync(hashFile, hash + "\n");
const summary = /Rspack [\d.]+ compiled [^\n]*/.exec(result.stdout ?? "")?.[0];
console.log(`[stagelab] extension: labextension/ built${summary ? ` (${summary})` : ""}`);
