// .ci/setup.mjs ensureExtension: the venv's JupyterLab sees extension/labextension.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { join } from "node:path";
import {
  EXTENSION_BUILD_DIR,
  EXTENSION_INSTALL_DIR,
  VENV_DIR,
  ensureExtension,
} from "../../.ci/setup.mjs";

test("ensureExtension installs labextension/ into .venv (idempotently)", async () => {
  assert.equal(
    EXTENSION_INSTALL_DIR,
    join(VENV_DIR, "share", "jupyter", "labextensions", "@stagelab", "jupyterlab"),
  );
  await ensureExtension();
  await ensureExtension();
  const meta = JSON.parse(readFileSync(join(EXTENSION_INSTALL_DIR, "package.json"), "utf8")) as {
    name: string;
    jupyterlab: { _build: { load: string } };
  };
  assert.equal(meta.name, "@stagelab/jupyterlab");
  assert.ok(existsSync(join(EXTENSION_INSTALL_DIR, meta.jupyterlab._build.load)));
  // A link (the usual case) resolves to the build; a copy holds the same remoteEntry.
  if (realpathSync(EXTENSION_INSTALL_DIR) !== realpathSync(EXTENSION_BUILD_DIR)) {
    assert.ok(existsSync(join(EXTENSION_BUILD_DIR, meta.jupyterlab._build.load)));
  }
});
