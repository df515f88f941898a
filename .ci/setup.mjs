// Set-up steps shared by `npm start`, `npm test` and `npm run bench`.
//
// Plain ESM with Node builtins only: these run before `npm install`. Every step is
// idempotent, quick when already done, and prints one line saying what it does.

import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { lookup } from "node:dns/promises";
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { delimiter, dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

/** Repository root (the parent of .ci/). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Debian's own python with h5py, numpy and scipy: used to write reference fixtures. */
export const SYSTEM_PYTHON = "/usr/bin/python3";

/** Debian packages the test suite (and the benchmarks) need. */
export const TEST_APT = Object.freeze([
  "python3-h5py",
  "python3-numpy",
  "python3-scipy",
  "python3-venv",
  "python3-jupyter-client",
  "python3-jupyter-kernel-test",
  "chromium",
  // Independent references for the diffuse-scattering stages: dxtbx/DIALS (and dials.stills_process),
  // pyFAI, xraylib, fabio (CBF), cctbx, zarr.
  "dials",
  "python3-pyfai",
  "python3-xraylib",
  "python3-fabio",
  "python3-cctbx",
  "python3-zarr",
  "python3-msgpack",
]);

/**
 * Debian packages `npm start` needs: none while a python3 on PATH can create venvs
 * (ensureVenv installs python3-venv by itself only when none can).
 */
export const START_APT = Object.freeze([]);

/** The Python packages of the project venv (.venv/). */
export const VENV_REQUIREMENTS = Object.freeze([
  "jupyterlab==4.6.4",
  "ipywidgets==8.1.9",
  "jupyter_server==2.21.1",
  "ipykernel==7.4.0",
  "nbclient==0.11.0",
  "nbformat==5.11.1",
  "jupyter_client==8.10.0",
  "h5py==3.16.0",
  "numpy==2.4.6",
]);

export const VENV_DIR = join(ROOT, ".venv");
const STAMP = join(VENV_DIR, ".stagelab-stamp");
const PIP_LOG = join(VENV_DIR, "pip-install.log");

function say(message) {
  console.log(`[stagelab] ${message}`);
}

/** Run a command with inherited stdio; throw if it fails. */
function run(cmd, args, options = {}) {
  const result = spawnSync(cmd, args, { stdio: "inherit", cwd: ROOT, ...options });
  if (result.error) throw new Error(`${cmd} could not be started: ${result.error.message}`);
  if (result.status !== 0) {
    throw new Error(
      `\`${[cmd, ...args].join(" ")}\` failed (exit ${result.status ?? result.signal})`,
    );
  }
  return result;
}

/** Run a command quietly; return {ok, stdout, stderr}. */
function probe(cmd, args, options = {}) {
  const result = spawnSync(cmd, args, { encoding: "utf8", cwd: ROOT, ...options });
  return {
    ok: !result.error && result.status === 0,
    stdout: result.stdout ?? "",
    stderr: result.stderr ?? "",
  };
}

function mtimeMs(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
}

// ---------------------------------------------------------------------------------------
// node_modules

/** `npm ci` when node_modules is missing or older than package-lock.json. */
export async function ensureNodeModules() {
  const lock = join(ROOT, "package-lock.json");
  const installed = join(ROOT, "node_modules", ".package-lock.json");
  const installedAt = mtimeMs(installed);
  if (installedAt >= 0 && installedAt >= mtimeMs(lock)) {
    say("node_modules: up to date");
    return;
  }
  const why = installedAt < 0 ? "node_modules missing" : "package-lock.json changed";
  say(`node_modules: ${why}, running npm ci`);
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  run(npm, ["ci", "--no-audit", "--no-fund"]);
}

// ---------------------------------------------------------------------------------------
// Debian packages

let aptUpdated = false;

/** The Debian packages of `packages` that are not installed. */
export function missingAptPackages(packages) {
  return packages.filter((name) => {
    const r = probe("dpkg-query", ["-W", "-f=${Status}", name]);
    return !(r.ok && /\binstall ok installed\b/.test(r.stdout));
  });
}

/**
 * Install the missing ones of `packages` with apt-get when root; otherwise throw with the
 * exact command to run.
 */
export async function ensureApt(packages) {
  if (packages.length === 0) return;
  if (!existsSync("/usr/bin/dpkg-query")) {
    say(`apt: not a Debian system, assuming ${packages.join(" ")} are provided`);
    return;
  }
  const missing = missingAptPackages(packages);
  if (missing.length === 0) {
    say(`apt: ${packages.join(" ")} installed`);
    return;
  }
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  if (!isRoot) {
    throw new Error(
      `Missing Debian packages: ${missing.join(" ")}\n` +
        `Install them with:\n  sudo apt-get update && ` +
        `sudo apt-get install -y --no-install-recommends ${missing.join(" ")}`,
    );
  }
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  say(`apt: installing ${missing.join(" ")}`);
  if (!aptUpdated) {
    run("apt-get", ["-o", "DPkg::Lock::Timeout=600", "update", "-qq"], {
      env,
      stdio: ["ignore", "inherit", "inherit"],
    });
    aptUpdated = true;
  }
  run(
    "apt-get",
    [
      "-o",
      "DPkg::Lock::Timeout=600",
      "install",
      "-y",
      "-qq",
      "--no-install-recommends",
      ...missing,
    ],
    {
      env,
      stdio: ["ignore", "inherit", "inherit"],
    },
  );
  const still = missingAptPackages(missing);
  if (still.length > 0) throw new Error(`apt-get did not install: ${still.join(" ")}`);
}

// ---------------------------------------------------------------------------------------
// Python venv

function canMakeVenv(python) {
  return probe(python, ["-c", "import venv, ensurepip"]).ok;
}

/** Every python3 on PATH (in order), then Debian's. */
function pythonCandidates() {
  const seen = new Set();
  const out = [];
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, "python3");
    if (existsSync(candidate) && !seen.has(candidate)) {
      seen.add(candidate);
      out.push(candidate);
    }
  }
  if (!seen.has(SYSTEM_PYTHON)) out.push(SYSTEM_PYTHON);
  return out;
}

async function findBasePython() {
  for (const python of pythonCandidates()) {
    if (canMakeVenv(python)) return python;
  }
  // Debian's python3 makes venvs once python3-venv is installed.
  await ensureApt(["python3-venv"]);
  if (canMakeVenv(SYSTEM_PYTHON)) return SYSTEM_PYTHON;
  throw new Error("No python3 that can create a venv (tried PATH and /usr/bin/python3).");
}

/**
 * Extra pip options for a machine whose main package index cannot be reached but local
 * mirrors are configured: without them pip retries the index for every package.
 */
async function offlinePipOptions(python) {
  const config = probe(python, ["-m", "pip", "config", "list"]).stdout;
  const mirrors = /file:\/\/|find-links/.test(config);
  if (!mirrors) return [];
  let indexUrl = /^(?:global|:env:|install)\.index-url='([^']+)'/m.exec(config)?.[1];
  if (!indexUrl) {
    indexUrl = probe(python, [
      "-c",
      "from pip._internal.models.index import PyPI; print(PyPI.simple_url)",
    ]).stdout.trim();
  }
  let host;
  try {
    host = new URL(indexUrl).hostname;
  } catch {
    return [];
  }
  if (!host) return [];
  try {
    await lookup(host);
    return [];
  } catch {
    return ["--retries", "0", "--timeout", "15"];
  }
}

/**
 * The repo's package.json says "type": "module", which would make Node load the CommonJS
 * scripts that Python packages in .venv ship (jupyter_builder's yarn.js) as ES modules.
 * A package.json at the venv root gives them their own package scope.
 */
function shieldFromRootPackageJson() {
  const path = join(VENV_DIR, "package.json");
  if (!existsSync(path)) {
    writeFileSync(path, '{ "private": true, "type": "commonjs" }\n');
  }
}

/**
 * Create .venv/ with JupyterLab and friends (pinned in VENV_REQUIREMENTS). Re-runs skip pip
 * while .venv/.stagelab-stamp holds the same requirement list.
 * @returns {Promise<{python: string, jupyter: string}>}
 */
export async function ensureVenv() {
  const python = join(VENV_DIR, "bin", "python");
  const jupyter = join(VENV_DIR, "bin", "jupyter");
  const wanted = VENV_REQUIREMENTS.join("\n") + "\n";
  const healthy = existsSync(python) && probe(python, ["-c", "import sys"]).ok;
  if (healthy && existsSync(STAMP) && readFileSync(STAMP, "utf8") === wanted) {
    shieldFromRootPackageJson();
    say("venv: .venv up to date");
    return { python, jupyter };
  }
  const started = Date.now();
  if (!healthy) {
    if (existsSync(VENV_DIR)) rmSync(VENV_DIR, { recursive: true, force: true });
    const base = await findBasePython();
    say(`venv: creating .venv with ${base} and installing ${VENV_REQUIREMENTS.join(" ")}`);
    run(base, ["-m", "venv", VENV_DIR]);
  } else {
    say(`venv: updating .venv to ${VENV_REQUIREMENTS.join(" ")}`);
  }
  rmSync(STAMP, { force: true });
  const args = [
    "-m",
    "pip",
    "install",
    "--disable-pip-version-check",
    "--no-input",
    ...(await offlinePipOptions(python)),
    ...VENV_REQUIREMENTS,
  ];
  const result = spawnSync(python, args, { cwd: ROOT, encoding: "utf8", maxBuffer: 64 << 20 });
  writeFileSync(PIP_LOG, `${result.stdout ?? ""}\n${result.stderr ?? ""}`);
  if (result.error || result.status !== 0) {
    const tail = `${result.stdout ?? ""}\n${result.stderr ?? ""}`.trim().split("\n").slice(-25);
    throw new Error(`pip install into .venv failed (log: ${PIP_LOG}):\n${tail.join("\n")}`);
  }
  shieldFromRootPackageJson();
  writeFileSync(STAMP, wanted);
  say(`venv: ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { python, jupyter };
}

// ---------------------------------------------------------------------------------------
// Build and Jupyter environment

/** `npm run build` (tsc -b: incremental, cheap when up to date). */
export async function ensureBuild() {
  say("build: npm run build (tsc -b src)");
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  run(npm, ["run", "--silent", "build"]);
}

/** Where `ensureKernelspec` registers the stagelab kernel: the venv's share/jupyter. */
export const KERNELSPEC_DIR = join(VENV_DIR, "share", "jupyter", "kernels", "stagelab");
const KERNELSPEC_STAMP = join(VENV_DIR, ".stagelab-kernelspec-stamp");

/**
 * Register our TypeScript kernel ("TypeScript (stagelab)") with the venv's Jupyter:
 * `node kernel/dist/main.js install --sys-prefix` (after ensureBuild and ensureVenv), which
 * writes .venv/share/jupyter/kernels/stagelab/kernel.json. Skipped while that file runs this
 * Node binary on this checkout's kernel/dist/main.js and .venv/.stagelab-kernelspec-stamp
 * says it was written by the current kernel/dist/install.js (by content: `tsc -b` rewrites
 * unchanged outputs).
 */
export async function ensureKernelspec() {
  const main = join(ROOT, "kernel", "dist", "main.js");
  const installer = join(ROOT, "kernel", "dist", "install.js");
  const specFile = join(KERNELSPEC_DIR, "kernel.json");
  if (!existsSync(main) || !existsSync(installer)) {
    throw new Error(`kernelspec: kernel/dist/ is not built (${main} missing)`);
  }
  const wanted = JSON.stringify({
    node: process.execPath,
    installer: createHash("sha256").update(readFileSync(installer)).digest("hex"),
  });
  const readSpec = () => {
    try {
      return JSON.parse(readFileSync(specFile, "utf8"));
    } catch {
      return undefined;
    }
  };
  const spec = readSpec();
  if (
    spec?.argv?.[0] === process.execPath &&
    spec?.argv?.[1] === main &&
    existsSync(KERNELSPEC_STAMP) &&
    readFileSync(KERNELSPEC_STAMP, "utf8") === wanted
  ) {
    say("kernelspec: stagelab up to date in .venv");
    return;
  }
  say("kernelspec: installing stagelab into .venv (node kernel/dist/main.js install --sys-prefix)");
  rmSync(KERNELSPEC_STAMP, { force: true });
  rmSync(specFile, { force: true });
  // VIRTUAL_ENV decides which venv `install` writes to: always ours.
  const result = spawnSync(process.execPath, [main, "install", "--sys-prefix"], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, VIRTUAL_ENV: VENV_DIR },
  });
  // The installer reports some failures on stderr but still exits 0: check what it wrote.
  if (result.error || result.status !== 0 || readSpec()?.argv?.[1] !== main) {
    const output = `${result.stdout ?? ""}${result.stderr ?? ""}`.trim();
    throw new Error(
      `kernelspec: \`node kernel/dist/main.js install --sys-prefix\` did not write ${specFile}` +
        (output ? `:\n${output}` : ""),
    );
  }
  writeFileSync(KERNELSPEC_STAMP, wanted);
}

/**
 * Environment variables that keep Jupyter's config, data, runtime and IPython dirs inside
 * `root` (default: the gitignored .cache/jupyter/ of the repo) instead of $HOME. The venv's
 * share/jupyter stays on JUPYTER_PATH so its kernels and lab extensions are found.
 * Merge into process.env yourself: `{ ...process.env, ...jupyterEnv(dir) }`.
 * @param {string} [root]
 * @returns {Record<string, string>}
 */
export function jupyterEnv(root = join(ROOT, ".cache", "jupyter")) {
  const env = {
    JUPYTER_CONFIG_DIR: join(root, "config"),
    JUPYTER_DATA_DIR: join(root, "data"),
    JUPYTER_RUNTIME_DIR: join(root, "runtime"),
    IPYTHONDIR: join(root, "ipython"),
    JUPYTER_PATH: join(VENV_DIR, "share", "jupyter"),
    JUPYTER_PLATFORM_DIRS: "1",
  };
  for (const key of [
    "JUPYTER_CONFIG_DIR",
    "JUPYTER_DATA_DIR",
    "JUPYTER_RUNTIME_DIR",
    "IPYTHONDIR",
  ]) {
    mkdirSync(env[key], { recursive: true });
  }
  return env;
}

// ---------------------------------------------------------------------------------------
// Finding test and bench files

/** All files under `dir` (relative to ROOT, with "/") whose name ends with `suffix`. */
export function findFiles(dir, suffix) {
  const out = [];
  const walk = (abs) => {
    let entries;
    try {
      entries = readdirSync(abs, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (entry.name === "node_modules" || entry.name.startsWith(".")) continue;
      const path = join(abs, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile() && entry.name.endsWith(suffix)) {
        out.push(relative(ROOT, path).split(sep).join("/"));
      }
    }
  };
  walk(join(ROOT, dir));
  return out.sort();
}

/** Keep the files that start with one of the prefixes (all files when there are none). */
export function filterByPrefix(files, prefixes) {
  if (prefixes.length === 0) return files;
  const norm = prefixes.map((p) => relative(ROOT, resolve(ROOT, p)).split(sep).join("/"));
  return files.filter((f) => norm.some((p) => p === "" || f.startsWith(p)));
}

// ---------------------------------------------------------------------------------------
// The JupyterLab extension (extension/, built by ensureBuild into extension/labextension/)

import { cpSync, lstatSync, readlinkSync, symlinkSync } from "node:fs";

/** extension/labextension: the prebuilt (federated) @stagelab/jupyterlab extension. */
export const EXTENSION_BUILD_DIR = join(ROOT, "extension", "labextension");

/** Where `ensureExtension` installs it: the venv's share/jupyter/labextensions. */
export const EXTENSION_INSTALL_DIR = join(
  VENV_DIR,
  "share",
  "jupyter",
  "labextensions",
  "@stagelab",
  "jupyterlab",
);

/**
 * Install the prebuilt extension into the venv's JupyterLab (after ensureBuild and
 * ensureVenv): .venv/share/jupyter/labextensions/@stagelab/jupyterlab becomes a symlink to
 * extension/labextension, as `jupyter labextension develop` does, so every later build is live
 * on the next page load. Where symlinks cannot be made, the directory is copied instead (and
 * copied again on every call). `jupyter labextension list` then shows
 * `@stagelab/jupyterlab v0.1.0 enabled OK`.
 */
export async function ensureExtension() {
  const built = join(EXTENSION_BUILD_DIR, "package.json");
  let meta;
  try {
    meta = JSON.parse(readFileSync(built, "utf8"));
  } catch {
    throw new Error(`extension: ${built} missing (did \`npm run build\` run?)`);
  }
  const entry = meta?.jupyterlab?._build?.load;
  if (typeof entry !== "string" || !existsSync(join(EXTENSION_BUILD_DIR, entry))) {
    throw new Error(
      `extension: ${built} names no built remoteEntry (jupyterlab._build.load: ${entry})`,
    );
  }
  const dest = EXTENSION_INSTALL_DIR;
  let current;
  try {
    current = lstatSync(dest);
  } catch {
    current = undefined;
  }
  const linked =
    current?.isSymbolicLink() && resolve(dirname(dest), readlinkSync(dest)) === EXTENSION_BUILD_DIR;
  if (linked) {
    say(`extension: ${meta.name} ${meta.version} linked into .venv`);
    return;
  }
  if (current) rmSync(dest, { recursive: true, force: true });
  mkdirSync(dirname(dest), { recursive: true });
  try {
    symlinkSync(EXTENSION_BUILD_DIR, dest, "dir");
    say(`extension: linked ${relative(ROOT, dest)} -> extension/labextension`);
  } catch (err) {
    cpSync(EXTENSION_BUILD_DIR, dest, { recursive: true });
    say(
      `extension: copied extension/labextension to ${relative(ROOT, dest)} ` +
        `(no symlink: ${err instanceof Error ? err.message : err})`,
    );
  }
}

/**
 * Everything the commands need before they run, in order: npm packages, Debian packages,
 * the venv, the build, the extension and the kernelspec linked into the venv.
 * Returns the venv's python and jupyter.
 */
export async function prepare(aptPackages) {
  await ensureNodeModules();
  await ensureApt(aptPackages);
  const venv = await ensureVenv();
  await ensureBuild();
  await ensureExtension();
  await ensureKernelspec();
  return venv;
}
