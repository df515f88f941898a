/**
 * Runs a Python unittest module against the stagelab kernel (real jupyter_client over
 * ZeroMQ, Debian's python3) and turns each Python test into a node:test subtest.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { TestContext } from "node:test";
import assert from "node:assert/strict";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..");
export const systemPython = process.env.STAGELAB_SYSTEM_PYTHON ?? "/usr/bin/python3";

/** A temp prefix with the kernelspec and empty Jupyter dirs, so $HOME is never touched. */
export function kernelEnv(): { env: NodeJS.ProcessEnv; dir: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-kernel-"));
  const prefix = path.join(dir, "prefix");
  const r = spawnSync(
    process.execPath,
    [path.join(root, "kernel", "dist", "main.js"), "install", "--prefix", prefix],
    { encoding: "utf8" },
  );
  assert.equal(r.status, 0, r.stderr);
  const tsPkg = JSON.parse(
    fs.readFileSync(
      path.join(root, "node_modules", "@tslab", "typescript-for-tslab", "package.json"),
      "utf8",
    ),
  ) as { version: string };
  return {
    dir,
    env: {
      ...process.env,
      JUPYTER_PATH: path.join(prefix, "share", "jupyter"),
      JUPYTER_DATA_DIR: path.join(dir, "data"),
      JUPYTER_RUNTIME_DIR: path.join(dir, "runtime"),
      JUPYTER_CONFIG_DIR: path.join(dir, "config"),
      IPYTHONDIR: path.join(dir, "ipython"),
      STAGELAB_EXPECT_TS_VERSION: tsPkg.version,
    },
  };
}

export async function runPythonSuite(t: TestContext, module: string): Promise<void> {
  const { env, dir } = kernelEnv();
  try {
    const r = spawnSync(systemPython, [path.join(here, "run_suite.py"), module], {
      cwd: here,
      env,
      encoding: "utf8",
      timeout: 600_000,
    });
    const out = `${r.stdout}\n${r.stderr}`;
    const results = r.stdout
      .split("\n")
      .filter((l) => l.includes("STAGELAB_RESULT "))
      .map(
        (l) =>
          JSON.parse(l.slice(l.indexOf("STAGELAB_RESULT ") + "STAGELAB_RESULT ".length)) as {
            name: string;
            status: string;
            detail: string;
          },
      );
    assert.ok(results.length > 0, `no test results from ${module}:\n${out}`);
    const ran = Number(/Ran (\d+) tests?/.exec(r.stderr)?.[1] ?? NaN);
    assert.equal(
      new Set(results.map((x) => x.name)).size,
      ran,
      `every test of ${module} reports a result:\n${out}`,
    );
    for (const { name, status, detail } of results) {
      await t.test(name.split(".").slice(-2).join("."), (st) => {
        if (status === "skip") {
          st.skip(detail);
          return;
        }
        assert.equal(status, "ok", detail);
      });
    }
    assert.equal(r.status, 0, out);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
