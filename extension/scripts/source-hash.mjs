// The hash of everything the prebuilt bundle is built from: the extension's sources, styles
// and config, the core viewer modules it bundles, and the lockfile (dependency versions).
// labextension/ is committed with this hash beside it (for Binder, which builds nothing):
// the build is skipped while the hash matches, and a test fails when sources moved on.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";

export const HASH_FILE = "stagelab-source.sha256";

function files(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...files(p));
    else if (statSync(p).isFile()) out.push(p);
  }
  return out;
}

/** `root` is the repository root; `extension` the extension folder. */
export function sourceHash(root, extension) {
  const inputs = [
    ...files(join(extension, "src")),
    ...files(join(extension, "style")),
    ...files(join(root, "src", "viewer")),
    join(extension, "package.json"),
    join(extension, "tsconfig.json"),
    join(root, "package-lock.json"),
  ].sort();
  const h = createHash("sha256");
  for (const f of inputs) {
    h.update(relative(root, f));
    h.update("\0");
    h.update(readFileSync(f));
    h.update("\0");
  }
  return h.digest("hex");
}
