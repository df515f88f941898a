/**
 * Runs cells with tslab's executor (type-checking, completion, inspection, top-level await),
 * capturing what tslab would print instead: the last expression's value becomes an
 * execute_result, compile diagnostics and exceptions become a proper `error` (ename, evalue,
 * traceback without kernel-internal frames).
 */
import { expandShorthandProperties } from "./shorthand.js";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  cellCompilerSettings,
  installCompilerOptions,
  tslabRequire,
  getTs,
  type CellCompilerSettings,
} from "./typescript.js";
import { CellModules, findPackageDir } from "./modules.js";

export interface CellError {
  ename: string;
  evalue: string;
  traceback: string[];
}

export type CellOutcome =
  { ok: true; hasValue: boolean; value: unknown } | { ok: false; error: CellError };

interface TslabExecutor {
  execute(src: string): Promise<boolean>;
  inspect(src: string, pos: number): { displayParts?: { text: string }[] } | undefined;
  complete(src: string, pos: number): { start: number; end: number; candidates: string[] };
  interrupt(): void;
  close(): void;
}

const RED = "\u001b[0;31m";
const RESET = "\u001b[0m";

/** Paths of the kernel's own packages, so cells type-check imports of them from anywhere. */
function stagelabPaths(): Record<string, string[]> {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const kernelDts = path.join(here, "public.d.ts");
  const out: Record<string, string[]> = { "@stagelab/kernel": [kernelDts] };
  for (const [name, rel] of [
    ["@stagelab/core", "dist/index.d.ts"],
    ["h5wasm", "src/hdf5_hl.d.ts"],
  ] as const) {
    const pkg = findPackageDir(name, here);
    if (pkg) out[name] = [path.join(pkg, rel)];
  }
  return out;
}

export class CellExecutor {
  private settingsCache: CellCompilerSettings | undefined;
  private executor: TslabExecutor | undefined;
  private modules: CellModules;
  private collecting:
    { value?: unknown; hasValue: boolean; diagnostics: string[]; thrown?: unknown[] } | undefined;

  constructor(
    private readonly cwd: string,
    kernelImport: (spec: string) => Promise<unknown>,
  ) {
    this.modules = new CellModules(cwd, kernelImport);
  }

  /** The compiler options cells get (strict, the project's tsconfig.json, stagelab paths). */
  get settings(): CellCompilerSettings {
    this.settingsCache ??= cellCompilerSettings(this.cwd, stagelabPaths());
    return this.settingsCache;
  }

  /** Build the TypeScript program (the slow part of start-up); idempotent. */
  warm(): TslabExecutor {
    if (this.executor) return this.executor;
    installCompilerOptions(this.settings);
    const { createConverter } = tslabRequire("tslab/dist/converter.js") as {
      createConverter: (o: object) => { close(): void };
    };
    const { createExecutor } = tslabRequire("tslab/dist/executor.js") as {
      createExecutor: (root: string, convs: object, console: object) => TslabExecutor;
    };
    let node: { close(): void } | undefined;
    let browser: { close(): void } | undefined;
    const convs = {
      get node() {
        return (node ??= createConverter({ isJS: false, isBrowser: false }));
      },
      get browser() {
        return (browser ??= createConverter({ isJS: false, isBrowser: true }));
      },
      close() {
        node?.close();
        browser?.close();
      },
    };
    void convs.node;
    const sink = {
      log: (v: unknown) => {
        if (this.collecting) {
          this.collecting.value = v;
          this.collecting.hasValue = true;
        }
      },
      error: (first: unknown, ...rest: unknown[]) => {
        if (!this.collecting) return;
        if (typeof first === "string" && first.startsWith("%s%d:%d - %s")) {
          const [file, line, col, text] = rest as [string, number, number, unknown];
          this.collecting.diagnostics.push(
            `${file && !file.includes("__tslab__") ? file : ""}${line}:${col} - ${flattenMessage(text)}`,
          );
        } else {
          (this.collecting.thrown ??= []).push(first);
        }
      },
    };
    this.executor = createExecutor(this.cwd, convs, sink);
    const g = globalThis as unknown as { __tslab__: { require: (id: string) => unknown } };
    g.__tslab__.require = this.modules.wrapRequire(g.__tslab__.require);
    return this.executor;
  }

  private innerRequire(): (id: string) => unknown {
    return (globalThis as unknown as { __tslab__: { require: (id: string) => unknown } }).__tslab__
      .require;
  }

  async run(src: string, executionCount: number): Promise<CellOutcome> {
    const ex = this.warm();
    this.collecting = { hasValue: false, diagnostics: [] };
    try {
      try {
        await this.modules.preload(src, this.innerRequire());
      } catch (e) {
        return { ok: false, error: errorFromThrown(e, executionCount) };
      }
      const ok = await ex.execute(expandShorthandProperties(src));
      const c = this.collecting;
      if (c.diagnostics.length) return { ok: false, error: compileError(c.diagnostics) };
      if (!ok || c.thrown?.length)
        return { ok: false, error: errorFromThrown(c.thrown?.[0], executionCount) };
      return { ok: true, hasValue: c.hasValue, value: c.value };
    } finally {
      this.collecting = undefined;
    }
  }

  interrupt(): void {
    this.executor?.interrupt();
  }

  complete(src: string, pos: number): { start: number; end: number; candidates: string[] } {
    return this.warm().complete(src, pos);
  }

  inspect(src: string, pos: number): string | undefined {
    const info = this.warm().inspect(src, pos);
    if (!info) return undefined;
    const { printQuickInfo } = tslabRequire("tslab/dist/inspect.js") as {
      printQuickInfo: (i: unknown) => string;
    };
    return printQuickInfo(info);
  }

  close(): void {
    this.executor?.close();
  }
}

function flattenMessage(m: unknown): string {
  if (typeof m === "string") return m;
  if (m && typeof m === "object" && "messageText" in m)
    return getTs().flattenDiagnosticMessageText(m, "\n");
  return String(m);
}

function compileError(diagnostics: string[]): CellError {
  return {
    ename: "CompileError",
    evalue: diagnostics[0] ?? "TypeScript reported an error",
    traceback: [
      `${RED}TypeScript found ${diagnostics.length} error${diagnostics.length > 1 ? "s" : ""}:${RESET}`,
      ...diagnostics,
    ],
  };
}

const INTERNAL_FRAME =
  /\(node:|at node:|\/tslab\/dist\/|\/kernel\/dist\/|@stagelab\/kernel\/dist\/|node_modules\/tslab\//;

export function errorFromThrown(e: unknown, executionCount: number): CellError {
  if (e instanceof Error) {
    let ename = e.name || e.constructor?.name || "Error";
    if (/^(Script execution (was )?interrupted|Interrupted asynchronously)/.test(e.message))
      ename = "InterruptError";
    const frames = (e.stack ?? "")
      .split("\n")
      .filter((l) => /^\s+at /.test(l))
      .filter((l) => !INTERNAL_FRAME.test(l))
      .map((l) => l.replace(/evalmachine\.<anonymous>/g, `Cell[${executionCount}]`));
    return {
      ename,
      evalue: e.message,
      traceback: [`${RED}${ename}${RESET}: ${e.message}`, ...frames],
    };
  }
  const text = typeof e === "string" ? e : safeInspect(e);
  return { ename: "Thrown", evalue: text, traceback: [`${RED}Uncaught${RESET} ${text}`] };
}

function safeInspect(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}
