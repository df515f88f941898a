// Types for .ci/setup.mjs (plain ESM so it runs before `npm install`).

/** Repository root. */
export declare const ROOT: string;
/** Debian's python with h5py, numpy and scipy (reference fixtures). */
export declare const SYSTEM_PYTHON: "/usr/bin/python3";
/** Debian packages the tests and benchmarks need. */
export declare const TEST_APT: readonly string[];
/** Debian packages `npm start` needs. */
export declare const START_APT: readonly string[];
/** Pinned requirements of .venv/. */
export declare const VENV_REQUIREMENTS: readonly string[];
/** Absolute path of .venv/. */
export declare const VENV_DIR: string;

export declare function ensureNodeModules(): Promise<void>;
export declare function missingAptPackages(packages: readonly string[]): string[];
export declare function ensureApt(packages: readonly string[]): Promise<void>;
export declare function ensureVenv(): Promise<{ python: string; jupyter: string }>;
export declare function ensureBuild(): Promise<void>;

/** .venv/share/jupyter/kernels/stagelab (where ensureKernelspec writes kernel.json). */
export declare const KERNELSPEC_DIR: string;
/** Register the stagelab kernel with the venv's Jupyter (after ensureBuild). */
export declare function ensureKernelspec(): Promise<void>;

export interface JupyterEnv {
  JUPYTER_CONFIG_DIR: string;
  JUPYTER_DATA_DIR: string;
  JUPYTER_RUNTIME_DIR: string;
  IPYTHONDIR: string;
  JUPYTER_PATH: string;
  JUPYTER_PLATFORM_DIRS: string;
}
/** Jupyter/IPython dirs inside `root` (default .cache/jupyter/); merge into process.env. */
export declare function jupyterEnv(root?: string): JupyterEnv;

/** Files under `dir` (relative to ROOT, "/"-separated) whose names end with `suffix`. */
export declare function findFiles(dir: string, suffix: string): string[];
/** The files starting with one of the path prefixes (all when none). */
export declare function filterByPrefix(
  files: readonly string[],
  prefixes: readonly string[],
): string[];

/** extension/labextension (the prebuilt @stagelab/jupyterlab extension). */
export declare const EXTENSION_BUILD_DIR: string;
/** .venv/share/jupyter/labextensions/@stagelab/jupyterlab. */
export declare const EXTENSION_INSTALL_DIR: string;
/** Link (or copy) the built extension into the venv's JupyterLab (after ensureBuild). */
export declare function ensureExtension(): Promise<void>;
/** npm packages, Debian packages, venv, build, extension and kernelspec, in order. */
export declare function prepare(
  aptPackages: readonly string[],
): Promise<{ python: string; jupyter: string }>;
