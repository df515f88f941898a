// notebooks/00-store-basics.ipynb runs on the venv's python3 kernel against a small demo file.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ROOT, SYSTEM_PYTHON, VENV_DIR, jupyterEnv } from "../../scripts/setup.mjs";

const systemPython = process.env.STAGELAB_SYSTEM_PYTHON ?? SYSTEM_PYTHON;
const jupyter = join(VENV_DIR, "bin", "jupyter");

const WRITE_DEMO = `
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "w") as f:
    f.attrs["stagelab_version"] = "0.0.0-test"
    f.create_dataset("scan/frames", data=np.zeros((3, 4, 5), dtype="uint16"))
    f.create_dataset("scan/positions", data=np.arange(3.0))
`;

type Output = { text?: string | string[]; ename?: string; evalue?: string };

test(
  "00-store-basics.ipynb lists the demo datasets, frames and version",
  { timeout: 120_000 },
  () => {
    const tmp = mkdtempSync(join(tmpdir(), "stagelab-nb-"));
    try {
      mkdirSync(join(tmp, "work", "data"), { recursive: true });
      const demo = spawnSync(
        systemPython,
        ["-c", WRITE_DEMO, join(tmp, "work", "data", "demo.h5")],
        {
          encoding: "utf8",
        },
      );
      assert.equal(demo.status, 0, `writing the demo file with ${systemPython}:\n${demo.stderr}`);
      const notebook = join(tmp, "work", "00-store-basics.ipynb");
      copyFileSync(join(ROOT, "notebooks", "00-store-basics.ipynb"), notebook);

      const run = spawnSync(jupyter, ["execute", "--inplace", notebook], {
        cwd: join(tmp, "work"),
        env: { ...process.env, ...jupyterEnv(join(tmp, "jupyter")) },
        encoding: "utf8",
        timeout: 100_000,
      });
      assert.equal(run.status, 0, `jupyter execute:\n${run.stderr}`);

      const executed = JSON.parse(readFileSync(notebook, "utf8")) as {
        cells: { outputs?: Output[] }[];
      };
      const outputs = executed.cells.flatMap((cell) => cell.outputs ?? []);
      assert.deepEqual(
        outputs.filter((o) => o.ename).map((o) => `${o.ename}: ${o.evalue}`),
        [],
      );
      const text = outputs.map((o) => [o.text ?? ""].flat().join("")).join("");
      assert.match(text, /2 dataset\(s\)/);
      assert.match(text, /\/scan\/frames\n/);
      assert.match(text, /\/scan\/frames: \(3, 4, 5\) uint16/);
      assert.match(text, /stagelab_version: 0\.0\.0-test/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  },
);
