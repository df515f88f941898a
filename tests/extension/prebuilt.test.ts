// extension/labextension/ is committed (Binder installs it without building anything), so it
// must be exactly what the sources build to. `npm test` builds before testing: if the build
// changed the committed bundle, it was stale.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const git = (...args: string[]) => spawnSync("git", args, { cwd: root, encoding: "utf8" });

test("the committed prebuilt extension matches its sources", (t) => {
  if (git("rev-parse", "--is-inside-work-tree").stdout.trim() !== "true") {
    t.skip("not a git checkout");
    return;
  }
  const changed = git("status", "--porcelain", "--", "extension/labextension").stdout.trim();
  assert.equal(
    changed,
    "",
    `extension/labextension differs from the build of extension/src: run \`npm run build\` and commit it\n${changed}`,
  );
});
