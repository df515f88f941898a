// Unit checks of the set-up helpers in .ci/setup.mjs.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  ROOT,
  START_APT,
  SYSTEM_PYTHON,
  TEST_APT,
  VENV_DIR,
  VENV_REQUIREMENTS,
  filterByPrefix,
  findFiles,
  jupyterEnv,
  missingAptPackages,
} from "../../.ci/setup.mjs";

test("jupyterEnv keeps Jupyter's dirs inside the given root", () => {
  const root = mkdtempSync(join(tmpdir(), "stagelab-env-"));
  try {
    const env = jupyterEnv(root);
    for (const key of [
      "JUPYTER_CONFIG_DIR",
      "JUPYTER_DATA_DIR",
      "JUPYTER_RUNTIME_DIR",
      "IPYTHONDIR",
    ] as const) {
      assert.ok(env[key].startsWith(root + "/"), `${key}=${env[key]}`);
      assert.ok(statSync(env[key]).isDirectory());
    }
    assert.equal(env.JUPYTER_PATH, join(VENV_DIR, "share", "jupyter"));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("the default jupyterEnv lives in the gitignored .cache/", () => {
  assert.equal(jupyterEnv().JUPYTER_CONFIG_DIR, join(ROOT, ".cache", "jupyter", "config"));
});

test("apt package lists and pinned venv requirements", () => {
  assert.equal(SYSTEM_PYTHON, "/usr/bin/python3");
  for (const name of [
    "python3-h5py",
    "python3-numpy",
    "python3-scipy",
    "python3-venv",
    "chromium",
  ]) {
    assert.ok(TEST_APT.includes(name), name);
  }
  assert.ok(START_APT.every((name) => TEST_APT.includes(name)));
  assert.ok(VENV_REQUIREMENTS.includes("jupyterlab==4.6.4"));
  assert.ok(VENV_REQUIREMENTS.includes("ipywidgets==8.1.9"));
  assert.ok(
    VENV_REQUIREMENTS.every((req) => /^[A-Za-z0-9_.-]+==[0-9][^=\s]*$/.test(req)),
    "all pinned",
  );
});

test("missingAptPackages reports a package that is not installed", () => {
  assert.deepEqual(missingAptPackages(["stagelab-no-such-package"]), ["stagelab-no-such-package"]);
});

test("findFiles and filterByPrefix select test files by path prefix", () => {
  const files = findFiles("tests", ".test.ts");
  assert.ok(files.includes("tests/setup/scripts.test.ts"), files.join(", "));
  assert.ok(files.every((f) => f.startsWith("tests/") && f.endsWith(".test.ts")));
  const setupOnly = filterByPrefix(files, ["tests/setup"]);
  assert.ok(setupOnly.length > 0 && setupOnly.every((f) => f.startsWith("tests/setup/")));
  assert.deepEqual(filterByPrefix(files, []), files);
  assert.deepEqual(filterByPrefix(files, ["./tests/setup/scripts.test.ts"]), [
    "tests/setup/scripts.test.ts",
  ]);
});
