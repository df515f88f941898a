// JupyterLab from the project venv serves notebooks/ (what `npm start` opens).

import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { ROOT, VENV_DIR, jupyterEnv } from "../../.ci/setup.mjs";

const jupyter = join(VENV_DIR, "bin", "jupyter");
const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const killGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // already gone
    }
  };
  killGroup("SIGTERM");
  const done = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
  if (!done) {
    killGroup("SIGKILL");
    await exited;
  }
}

test(
  "jupyter lab from .venv serves notebooks/ with the python3 kernel",
  { timeout: 120_000 },
  async () => {
    assert.ok(existsSync(jupyter), `${jupyter} missing: run npm test (it creates .venv)`);
    const tmp = mkdtempSync(join(tmpdir(), "stagelab-jupyter-"));
    const env = { ...process.env, ...jupyterEnv(tmp) };
    const port = await freePort();
    const token = randomBytes(16).toString("hex");
    const args = [
      "lab",
      "--no-browser",
      `--port=${port}`,
      "--ServerApp.ip=127.0.0.1",
      "--ServerApp.port_retries=0",
      `--ServerApp.token=${token}`,
      `--notebook-dir=${join(ROOT, "notebooks")}`,
    ];
    if (isRoot) args.push("--allow-root");
    const child = spawn(jupyter, args, {
      cwd: ROOT,
      env,
      detached: true, // own process group, so the finally can stop the server and its kernels
      stdio: ["ignore", "pipe", "pipe"],
    });
    let log = "";
    child.stdout!.on("data", (chunk: Buffer) => (log += chunk.toString()));
    child.stderr!.on("data", (chunk: Buffer) => (log += chunk.toString()));

    const base = `http://127.0.0.1:${port}`;
    const headers = { Authorization: `token ${token}` };
    const get = (path: string) => fetch(`${base}${path}`, { headers });

    try {
      const deadline = Date.now() + 60_000;
      for (;;) {
        assert.equal(child.exitCode, null, `jupyter lab exited early:\n${log}`);
        try {
          const status = await get("/api/status");
          if (status.ok) break;
        } catch {
          // not listening yet
        }
        assert.ok(Date.now() < deadline, `jupyter lab did not answer /api/status in 60 s:\n${log}`);
        await sleep(250);
      }

      const contents = (await (await get("/api/contents")).json()) as {
        content: { name: string }[];
      };
      const names = contents.content.map((entry) => entry.name);
      assert.ok(names.includes("00-getting-started.ipynb"), `notebooks/ lists ${names.join(", ")}`);

      const specs = (await (await get("/api/kernelspecs")).json()) as {
        kernelspecs: Record<string, unknown>;
      };
      assert.ok("python3" in specs.kernelspecs, `kernelspecs: ${Object.keys(specs.kernelspecs)}`);

      const lab = await get("/lab");
      assert.equal(lab.status, 200);
      assert.match(await lab.text(), /JupyterLab/);

      const extensions = spawnSync(jupyter, ["labextension", "list"], {
        cwd: ROOT,
        env,
        encoding: "utf8",
        timeout: 60_000,
      });
      assert.equal(extensions.status, 0, `jupyter labextension list:\n${extensions.stderr}`);
    } finally {
      await stop(child);
      rmSync(tmp, { recursive: true, force: true });
    }
  },
);

test(".ci/run runs the README's test command", () => {
  const script = readFileSync(join(ROOT, ".ci", "run"), "utf8");
  assert.match(script, /^npm test$/m);
  assert.match(script, /set -euo pipefail/);
});
