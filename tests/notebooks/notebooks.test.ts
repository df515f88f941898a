// Every notebook in notebooks/ runs top to bottom with the stagelab kernel (nbclient from the
// project venv, headless), in a scratch copy so the repository is not written to.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { kernelEnv } from "../kernel/python-suite.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const jupyter = path.join(root, ".venv", "bin", "jupyter");
const notebooks = fs
  .readdirSync(path.join(root, "notebooks"))
  .filter((f) => f.endsWith(".ipynb"))
  .sort();

test("notebooks/ holds notebooks", () => assert.ok(notebooks.length > 0));

for (const name of notebooks) {
  test(`notebook ${name} runs without errors`, { timeout: 600_000 }, () => {
    const { env, dir } = kernelEnv();
    try {
      const work = path.join(dir, "notebooks");
      fs.cpSync(path.join(root, "notebooks"), work, {
        recursive: true,
        filter: (src) => !src.includes(`${path.sep}data`),
      });
      const out = path.join(dir, `executed-${name}`);
      const r = spawnSync(jupyter, ["execute", "--timeout=300", `--output=${out}`, name], {
        cwd: work,
        env,
        encoding: "utf8",
        timeout: 600_000,
      });
      assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
      const nb = JSON.parse(fs.readFileSync(out, "utf8")) as {
        cells: {
          cell_type: string;
          outputs?: { output_type: string; ename?: string; evalue?: string }[];
        }[];
      };
      const errors = nb.cells.flatMap((c) =>
        (c.outputs ?? []).filter((o) => o.output_type === "error"),
      );
      assert.deepEqual(errors, []);
      // Executed notebooks keep a static form of every widget for readers without a kernel.
      for (const c of nb.cells) {
        for (const o of (c.outputs ?? []) as { data?: Record<string, unknown> }[]) {
          if (o.data?.["application/vnd.jupyter.widget-view+json"])
            assert.ok(o.data["text/plain"], `a widget output without a text fallback in ${name}`);
        }
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}
