// Shared plumbing for the store tests: temp dirs, child processes (node helpers that import
// the built library, Python/h5py scripts), and a check that the build the children import
// is not older than the sources the tests compile.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const HELPERS = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HELPERS, "../../..");
export const PYTHON = process.env["STAGELAB_SYSTEM_PYTHON"] || "/usr/bin/python3";

/** A fresh directory under the system temp dir; remove it with the returned function. */
export function makeTempDir(tag: string): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `stagelab-${tag}-`));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Child processes import src/dist/index.js (no tsx start-up cost), the tests import the
 * sources through tsx: both must be the same code. Fail loudly when the build is stale,
 * i.e. a source is newer than the last `tsc -b src` (its build info; tsc does not rewrite
 * outputs whose content did not change, so their times say nothing).
 */
export function assertBuildFresh(): void {
  const srcDir = path.join(ROOT, "src");
  const buildInfo = path.join(srcDir, "dist", "tsconfig.tsbuildinfo");
  if (!fs.existsSync(path.join(srcDir, "dist", "index.js")) || !fs.existsSync(buildInfo)) {
    throw new Error("src/dist is missing: run `npx tsc -b src` first");
  }
  const built = fs.statSync(buildInfo).mtimeMs;
  const stale: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== "dist" && e.name !== "node_modules") walk(p);
      } else if (e.name.endsWith(".ts") && fs.statSync(p).mtimeMs > built + 1) {
        stale.push(path.relative(ROOT, p));
      }
    }
  };
  walk(srcDir);
  if (stale.length) {
    throw new Error(`src/dist is older than ${stale.join(", ")}: run \`npx tsc -b src\` first`);
  }
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  ms: number;
}

/** Run a command to completion (killed with SIGKILL after `timeoutMs`). */
export function run(
  cmd: string,
  args: string[],
  opts: { timeoutMs?: number; input?: string } = {},
): Promise<RunResult> {
  const t0 = Date.now();
  const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"], cwd: ROOT });
  let stdout = "";
  let stderr = "";
  let timedOut = false;
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  child.stdin.end(opts.input ?? "");
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, opts.timeoutMs ?? 60_000);
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut, ms: Date.now() - t0 });
    });
  });
}

/** Run a node helper script from this folder (it imports the built library). */
export function runNode(
  script: string,
  args: string[],
  opts: { timeoutMs?: number } = {},
): Promise<RunResult> {
  return run(process.execPath, [path.join(HELPERS, script), ...args], opts);
}

/** Run a Python helper script from this folder with the system python (h5py, numpy). */
export function runPython(
  script: string,
  args: string[],
  opts: { timeoutMs?: number } = {},
): Promise<RunResult> {
  return run(PYTHON, [path.join(HELPERS, script), ...args], opts);
}

/** The last line of stdout parsed as JSON; fails with the child's output when it is not. */
export function lastJson<T = unknown>(
  r: Pick<RunResult, "stdout" | "stderr"> & Partial<RunResult>,
  what: string,
): T {
  const line = r.stdout.trim().split("\n").at(-1) ?? "";
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new Error(
      `${what}: no JSON result (exit ${r.code ?? "?"}, signal ${r.signal ?? "none"}${r.timedOut ? ", timed out" : ""})\n` +
        `stdout: ${r.stdout.slice(-2000)}\nstderr: ${r.stderr.slice(-4000)}`,
    );
  }
}

/** Every stdout line that parses as JSON (a killed child may leave a partial last line). */
export function jsonLines<T = Record<string, unknown>>(stdout: string): T[] {
  const out: T[] = [];
  for (const line of stdout.split("\n")) {
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      /* partial or empty line */
    }
  }
  return out;
}

/** A long-running child whose stdout lines are collected as they arrive. */
export class LiveChild {
  readonly child: ChildProcess;
  stdout = "";
  stderr = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: { test: (s: string) => boolean; resolve: () => void }[] = [];

  constructor(cmd: string, args: string[]) {
    // stdin stays open (a pipe) until the child ends or closeStdin(): helpers may wait on it.
    this.child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"], cwd: ROOT });
    this.child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      this.stdout += d;
      this.waiters = this.waiters.filter((w) =>
        w.test(this.stdout) ? (w.resolve(), false) : true,
      );
    });
    this.child.stderr!.setEncoding("utf8").on("data", (d: string) => (this.stderr += d));
    this.exited = new Promise((resolve) =>
      this.child.on("close", (code, signal) => resolve({ code, signal })),
    );
  }

  static node(script: string, args: string[]): LiveChild {
    return new LiveChild(process.execPath, [path.join(HELPERS, script), ...args]);
  }

  static python(script: string, args: string[]): LiveChild {
    return new LiveChild(PYTHON, [path.join(HELPERS, script), ...args]);
  }

  /** Resolves when stdout so far satisfies `test`; rejects if the child exits first or on timeout. */
  waitFor(test: (stdout: string) => boolean, timeoutMs: number, what: string): Promise<void> {
    if (test(this.stdout)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `timed out waiting for ${what}\nstdout: ${this.stdout.slice(-1000)}\nstderr: ${this.stderr.slice(-2000)}`,
            ),
          ),
        timeoutMs,
      );
      this.waiters.push({
        test,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
      void this.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        if (test(this.stdout)) resolve();
        else
          reject(
            new Error(
              `child exited (${code ?? signal}) before ${what}\nstdout: ${this.stdout.slice(-1000)}\nstderr: ${this.stderr.slice(-2000)}`,
            ),
          );
      });
    });
  }

  closeStdin(): void {
    this.child.stdin?.end();
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}

/** Node's assert.deepEqual does not compare typed arrays of different classes by value. */
export function plain(v: unknown): unknown {
  if (typeof v === "bigint") return `${v}n`;
  if (ArrayBuffer.isView(v) && !(v instanceof DataView))
    return Array.from(v as unknown as ArrayLike<unknown>, plain);
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === "object")
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}
