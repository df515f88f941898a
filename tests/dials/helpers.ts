// Shared by the DIALS tests: fixture paths, tolerant comparisons, Debian's python with DIALS.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures");
export const fixture = (name: string): string => path.join(FIXTURES, name);
export const readJson = (name: string): unknown =>
  JSON.parse(fs.readFileSync(fixture(name), "utf8"));

export const PYTHON = process.env["STAGELAB_SYSTEM_PYTHON"] || "/usr/bin/python3";

let dialsChecked: string | null | undefined;
/** Why DIALS's python cannot be used, or null when it can. */
export function dialsUnavailable(): string | null {
  if (dialsChecked === undefined) {
    const r = spawnSync(PYTHON, ["-c", "import dials, dxtbx, msgpack"], { encoding: "utf8" });
    dialsChecked =
      r.status === 0
        ? null
        : `${PYTHON} cannot import dials/dxtbx/msgpack (${(r.stderr || r.error?.message || "").trim().split("\n").at(-1)})`;
  }
  return dialsChecked;
}

/** Runs python code (stdin) and returns its stdout parsed as JSON. */
export function python(code: string, args: string[] = []): unknown {
  const r = spawnSync(PYTHON, ["-", ...args], {
    input: code,
    encoding: "utf8",
    cwd: FIXTURES,
    maxBuffer: 64 << 20,
  });
  assert.equal(r.status, 0, `python failed:\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** describe_dials.py's description of files, paths relative to `base`. */
export function describeWithDials(base: string, files: string[]): Record<string, unknown> {
  return python(fs.readFileSync(fixture("describe_dials.py"), "utf8"), [base, ...files]) as Record<
    string,
    unknown
  >;
}

export function tmpDir(): { dir: string; done: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-dials-"));
  return { dir, done: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Relative 1e-12 per value, scaled by the largest magnitude of the vector (so near-zero
 * components of a unit vector compare absolutely). */
export function assertClose(
  actual: ArrayLike<number> | number,
  expected: ArrayLike<number> | number,
  what: string,
  rel = 1e-12,
): void {
  const a = typeof actual === "number" ? [actual] : Array.from(actual);
  const e = typeof expected === "number" ? [expected] : Array.from(expected);
  assert.equal(a.length, e.length, `${what}: length ${a.length} != ${e.length}`);
  const scale = Math.max(...e.map(Math.abs), Number.MIN_VALUE);
  a.forEach((x, i) => {
    const y = e[i]!;
    assert.ok(
      Math.abs(x - y) <= rel * scale,
      `${what}[${i}]: ${x} != ${y} (diff ${x - y}, allowed ${rel * scale})`,
    );
  });
}
