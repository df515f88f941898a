/**
 * ESM imports in cells.
 *
 * tslab compiles cells to CommonJS, so `import` (and `import()`) become `require()`, which
 * cannot load ESM-only packages such as h5wasm or @stagelab/core. Before a cell runs we find
 * its module specifiers, load the ESM ones with a real dynamic import, and answer the cell's
 * `require` for them from that cache (as a namespace marked __esModule so default imports
 * keep their meaning). Resolution starts at the notebook's directory, then falls back to the
 * kernel's own packages, so @stagelab/core works in every cell without set-up.
 */
import fs from "node:fs";
import path from "node:path";
import { builtinModules } from "node:module";
import { pathToFileURL } from "node:url";
import { getTs } from "./typescript.js";

type Require = ((id: string) => unknown) & { resolve?: (id: string) => string };

const ESM_ERRORS = new Set([
  "ERR_REQUIRE_ESM",
  "ERR_PACKAGE_PATH_NOT_EXPORTED",
  "ERR_REQUIRE_ASYNC_MODULE",
  "ERR_MODULE_NOT_FOUND",
]);

export class CellModules {
  private readonly esm = new Map<string, unknown>();

  constructor(
    private readonly cwd: string,
    /** The kernel's own import(), resolving from the kernel package. */
    private readonly kernelImport: (spec: string) => Promise<unknown>,
  ) {}

  /** Wrap the cell `require` so preloaded ESM modules are served from the cache. */
  wrapRequire(inner: Require): Require {
    const esm = this.esm;
    const wrapped = ((id: string) => (esm.has(id) ? esm.get(id) : inner(id))) as Require;
    wrapped.resolve = inner.resolve;
    return wrapped;
  }

  /** Load every ESM module the cell imports (statically or with a literal import()). */
  async preload(src: string, inner: Require): Promise<void> {
    const info = getTs().preProcessFile(src, true, true);
    for (const { fileName: spec } of info.importedFiles as { fileName: string }[]) {
      if (this.esm.has(spec) || isBuiltin(spec)) continue;
      if (spec.startsWith(".") && /\.(ts|tsx)$/.test(spec)) continue; // tslab compiles local TS files
      const local =
        spec.startsWith(".") || spec.startsWith("/")
          ? path.resolve(this.cwd, spec)
          : resolvePackage(spec, this.cwd);
      if (!(local && isEsmFile(local))) {
        try {
          inner(spec);
          continue; // CommonJS: the cell's require loads it
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code ?? "";
          if (!ESM_ERRORS.has(code) && code !== "MODULE_NOT_FOUND") throw e;
        }
      }
      const ns = local ? await import(pathToFileURL(local).href) : await this.kernelImport(spec);
      this.esm.set(spec, { __esModule: true, ...(ns as object) });
    }
  }
}

/** Is this file an ES module by Node's rules (.mjs, or .js under "type": "module")? */
function isEsmFile(file: string): boolean {
  if (file.endsWith(".mjs")) return true;
  if (file.endsWith(".cjs") || !fs.existsSync(file)) return false;
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    const pj = path.join(dir, "package.json");
    if (fs.existsSync(pj))
      return (JSON.parse(fs.readFileSync(pj, "utf8")) as { type?: string }).type === "module";
    if (path.dirname(dir) === dir) return false;
  }
}

function isBuiltin(spec: string): boolean {
  return spec.startsWith("node:") || builtinModules.includes(spec.split("/")[0]!);
}

const CONDITIONS = ["node", "import", "default"];

/** The directory of an installed package, searching node_modules upward from `fromDir`. */
export function findPackageDir(name: string, fromDir: string): string | undefined {
  for (let dir = path.resolve(fromDir); ; dir = path.dirname(dir)) {
    const pkgDir = path.join(dir, "node_modules", name);
    if (fs.existsSync(path.join(pkgDir, "package.json"))) return pkgDir;
    if (path.dirname(dir) === dir) return undefined;
  }
}

/** Node's ESM resolution of a bare specifier from a directory, or undefined if not found there. */
export function resolvePackage(spec: string, fromDir: string): string | undefined {
  const parts = spec.split("/");
  const name = spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!;
  const sub = "." + spec.slice(name.length);
  const pkgDir = findPackageDir(name, fromDir);
  if (!pkgDir) return undefined;
  const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, "package.json"), "utf8")) as {
    exports?: unknown;
    main?: string;
  };
  const target =
    pkg.exports !== undefined
      ? resolveExports(pkg.exports, sub)
      : sub === "."
        ? (pkg.main ?? "index.js")
        : sub;
  return target ? path.join(pkgDir, target) : undefined;
}

function resolveExports(exp: unknown, sub: string): string | undefined {
  if (typeof exp === "string" || Array.isArray(exp))
    return sub === "." ? pickTarget(exp) : undefined;
  const map = exp as Record<string, unknown>;
  const keys = Object.keys(map);
  if (!keys.some((k) => k.startsWith("."))) return sub === "." ? pickTarget(map) : undefined;
  if (sub in map) return pickTarget(map[sub]);
  for (const k of keys) {
    const star = k.indexOf("*");
    if (star < 0) continue;
    const [pre, post] = [k.slice(0, star), k.slice(star + 1)];
    if (sub.startsWith(pre) && sub.endsWith(post) && sub.length >= k.length - 1) {
      const t = pickTarget(map[k]);
      return t?.replace("*", sub.slice(pre.length, sub.length - post.length));
    }
  }
  return undefined;
}

function pickTarget(t: unknown): string | undefined {
  if (typeof t === "string") return t;
  if (Array.isArray(t)) {
    for (const x of t) {
      const r = pickTarget(x);
      if (r) return r;
    }
    return undefined;
  }
  if (t && typeof t === "object") {
    for (const [cond, v] of Object.entries(t)) {
      if (CONDITIONS.includes(cond)) {
        const r = pickTarget(v);
        if (r) return r;
      }
    }
  }
  return undefined;
}
