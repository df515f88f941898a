/**
 * tslab's TypeScript (its fork of TS 5.0.4), with stagelab's compiler options.
 *
 * tslab hard-codes its compiler options (strict off, Node10 resolution, no tsconfig). We
 * keep tslab unforked: before its converter loads, the shared TypeScript module in
 * require.cache is replaced by a proxy whose createWatchCompilerHost merges our options
 * (strict by default, the project's tsconfig.json, bundler resolution so ESM packages'
 * "exports" maps resolve, and paths to stagelab's own packages).
 */
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

// The TypeScript fork's API surface we touch, typed loosely: it is tslab's private copy.
/* eslint-disable @typescript-eslint/no-explicit-any */
export type TS = any;

export const tslabRequire = createRequire(createRequire(import.meta.url).resolve("tslab"));
const tsPath = tslabRequire.resolve("@tslab/typescript-for-tslab");

let tsModule: TS | undefined;

/** The TypeScript module, loaded on first use: parsing it costs ~0.3 s of kernel start-up. */
export function getTs(): TS {
  tsModule ??= tslabRequire(tsPath);
  return tsModule;
}

/** The version of tslab's TypeScript, without loading the compiler. */
export function tsVersion(): string {
  const pkg = path.join(path.dirname(tsPath), "..", "package.json");
  for (const p of [pkg, path.join(path.dirname(tsPath), "package.json")]) {
    try {
      const v = JSON.parse(fs.readFileSync(p, "utf8")) as { name?: string; version?: string };
      if (v.name === "@tslab/typescript-for-tslab" && v.version) return v.version;
    } catch {
      /* try the next location */
    }
  }
  return String(getTs().version);
}

/** Type-checking options a project's tsconfig.json may set for cells. */
const USER_OPTION_KEYS = [
  "strict",
  "noImplicitAny",
  "strictNullChecks",
  "strictFunctionTypes",
  "strictBindCallApply",
  "strictPropertyInitialization",
  "noImplicitThis",
  "useUnknownInCatchVariables",
  "alwaysStrict",
  "noUnusedLocals",
  "noUnusedParameters",
  "exactOptionalPropertyTypes",
  "noImplicitReturns",
  "noFallthroughCasesInSwitch",
  "noUncheckedIndexedAccess",
  "noImplicitOverride",
  "noPropertyAccessFromIndexSignature",
  "allowUnreachableCode",
  "allowUnusedLabels",
  "experimentalDecorators",
  "emitDecoratorMetadata",
  "types",
  "typeRoots",
  "paths",
  "baseUrl",
];

export interface CellCompilerSettings {
  /** The tsconfig.json that was honoured, if any. */
  tsconfig: string | undefined;
  options: Record<string, unknown>;
}

export function findTsconfig(fromDir: string): string | undefined {
  for (let dir = path.resolve(fromDir); ; dir = path.dirname(dir)) {
    const f = path.join(dir, "tsconfig.json");
    if (fs.existsSync(f)) return f;
    if (path.dirname(dir) === dir) return undefined;
  }
}

export function cellCompilerSettings(
  cwd: string,
  stagelabPaths: Record<string, string[]>,
): CellCompilerSettings {
  const ts = getTs();
  const options: Record<string, unknown> = {
    strict: true,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    allowImportingTsExtensions: false,
  };
  const tsconfig = process.env.STAGELAB_TSCONFIG ?? findTsconfig(cwd);
  if (tsconfig) {
    const read = ts.readConfigFile(tsconfig, ts.sys.readFile);
    if (!read.error) {
      const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, path.dirname(tsconfig));
      for (const k of USER_OPTION_KEYS) if (k in parsed.options) options[k] = parsed.options[k];
    }
  }
  options.paths = { ...stagelabPaths, ...((options.paths as Record<string, string[]>) ?? {}) };
  return { tsconfig, options };
}

let installed = false;

/** Install the options proxy; must run before tslab's converter module is first required. */
export function installCompilerOptions(settings: CellCompilerSettings): void {
  if (installed) return;
  installed = true;
  const ts = getTs();
  const original = ts.createWatchCompilerHost;
  const patched = new Proxy(ts, {
    get(target, key) {
      if (key === "createWatchCompilerHost") {
        return (rootFiles: string[], options: Record<string, unknown>, ...rest: unknown[]) =>
          original(rootFiles, { ...options, ...settings.options }, ...rest);
      }
      return target[key];
    },
  });
  const cached = tslabRequire.cache[tsPath];
  if (!cached) throw new Error("internal: TypeScript module not in require cache");
  cached.exports = patched;
}
