// Shared by the DIALS tests: fixture paths, tolerant comparisons, Debian's python with DIALS.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Column, ReflectionTable, Shoebox } from "../../src/dials/index.js";

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

/* eslint-disable @typescript-eslint/no-explicit-any -- DIALS descriptions are untyped JSON */
/** DIALS flex array class -> our column type. */
export const FLEX_TYPE: Record<string, string> = {
  bool: "bool",
  int: "int",
  size_t: "std::size_t",
  double: "double",
  std_string: "std::string",
  vec2_double: "vec2<double>",
  vec3_double: "vec3<double>",
  mat3_double: "mat3<double>",
  int6: "int6",
  miller_index: "cctbx::miller::index<>",
  shoebox: "Shoebox<>",
};

/** The column's rows as plain JS values, in describe_dials.py's form. */
export function tableRows(col: Column): unknown[] {
  switch (col.type) {
    case "raw":
      throw new Error("raw column");
    case "bool":
      return [...col.data].map(Boolean);
    case "std::string":
      return col.data;
    case "Shoebox<>":
      return col.data.map((s: Shoebox) => ({
        panel: s.panel,
        bbox: s.bbox,
        ...(s.data
          ? { data: [...s.data], mask: [...s.mask!], background: [...s.background!] }
          : {}),
      }));
    default: {
      const w = {
        "vec2<double>": 2,
        "vec3<double>": 3,
        "mat3<double>": 9,
        int6: 6,
        "cctbx::miller::index<>": 3,
      }[col.type as string];
      const data = [...col.data];
      if (!w) return data;
      return Array.from({ length: data.length / w }, (_, i) => data.slice(i * w, (i + 1) * w));
    }
  }
}

/** Every decoded column equals DIALS's values exactly (doubles are bit patterns in the file). */
export function assertTableMatchesDials(t: ReflectionTable, exp: any): void {
  assert.equal(t.nrows, exp.nrows);
  assert.deepEqual(
    Object.fromEntries([...t.identifiers].map(([k, v]) => [String(k), v])),
    exp.identifiers,
  );
  assert.deepEqual([...t.columns.keys()].sort(), Object.keys(exp.columns).sort());
  for (const [name, x] of Object.entries<any>(exp.columns)) {
    const col = t.column(name);
    if (col.type === "raw") {
      assert.equal(col.typeName, FLEX_TYPE[x.flex], `${name} type`);
      continue;
    }
    assert.equal(col.type, FLEX_TYPE[x.flex], `${name} type`);
    assert.deepEqual(tableRows(col), x.values, `column ${name}`);
  }
}
