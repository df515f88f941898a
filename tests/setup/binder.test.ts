// binder/postBuild, run here exactly as Binder runs it (in a clean clone, into a fresh
// prefix), leaves a prefix whose JupyterLab lists our prebuilt extension and kernel.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const venvBin = path.join(root, ".venv", "bin");

test(
  "binder/postBuild installs the prebuilt extension and the kernel into a fresh prefix",
  { timeout: 600_000 },
  (t) => {
    if (spawnSync("git", ["rev-parse", "HEAD"], { cwd: root }).status !== 0) {
      t.skip("not a git checkout");
      return;
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stagelab-binder-"));
    try {
      const clone = path.join(dir, "repo");
      const prefix = path.join(dir, "prefix");
      let r = spawnSync("git", ["clone", "--quiet", "--local", root, clone], { encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
      const env = {
        ...process.env,
        STAGELAB_PREFIX: prefix,
        PATH: `${venvBin}${path.delimiter}${process.env.PATH}`,
      };
      r = spawnSync("bash", [path.join(clone, "binder", "postBuild")], {
        cwd: clone,
        env,
        encoding: "utf8",
        timeout: 540_000,
      });
      assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);

      const jupyterEnv = {
        ...process.env,
        JUPYTER_PATH: path.join(prefix, "share", "jupyter"),
        JUPYTER_CONFIG_DIR: path.join(dir, "config"),
        JUPYTER_DATA_DIR: path.join(dir, "data"),
        JUPYTER_RUNTIME_DIR: path.join(dir, "runtime"),
        NO_COLOR: "1",
      };
      const spec = JSON.parse(
        fs.readFileSync(
          path.join(prefix, "share", "jupyter", "kernels", "stagelab", "kernel.json"),
          "utf8",
        ),
      ) as { argv: string[]; display_name: string };
      assert.equal(spec.display_name, "TypeScript (stagelab)");
      assert.ok(spec.argv[1]!.startsWith(clone), spec.argv.join(" "));
      const ext = spawnSync(path.join(venvBin, "jupyter"), ["labextension", "list"], {
        env: jupyterEnv,
        encoding: "utf8",
      });
      // eslint-disable-next-line no-control-regex -- ANSI colour codes
      const listing = `${ext.stdout}${ext.stderr}`.replace(/\x1b\[[0-9;]*m/g, "");
      assert.match(
        listing,
        new RegExp(
          `${prefix.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}[\\s\\S]*@stagelab/jupyterlab v0\\.1\\.0 enabled\\s+OK`,
        ),
      );
      assert.ok(fs.existsSync(path.join(clone, "notebooks", "data", "demo.h5")));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);
