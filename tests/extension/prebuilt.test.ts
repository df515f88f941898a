// extension/labextension/ is committed (Binder installs it without building anything), with
// the hash of the sources it was built from. It must be current: the hash of today's sources
// equals the committed one, and git sees no change in the bundle.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { HASH_FILE, sourceHash } from "../../extension/scripts/source-hash.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const extension = path.join(root, "extension");

test("the committed prebuilt extension is built from today's sources", (t) => {
  const committed = readFileSync(path.join(extension, "labextension", HASH_FILE), "utf8").trim();
  assert.equal(
    committed,
    sourceHash(root, extension),
    "extension sources changed since labextension/ was built: run `npm run build` and commit extension/labextension",
  );
  if (spawnSync("git", ["rev-parse", "--is-inside-work-tree"], { cwd: root }).status !== 0) {
    t.diagnostic("not a git checkout: the git check is skipped");
    return;
  }
  const changed = spawnSync("git", ["status", "--porcelain", "--", "extension/labextension"], {
    cwd: root,
    encoding: "utf8",
  }).stdout.trim();
  assert.equal(changed, "", `extension/labextension is not committed as built:\n${changed}`);
});
