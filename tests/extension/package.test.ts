// extension/: the widget module version the plugin registers is the package's version, and
// the built labextension/ is what JupyterLab loads (prebuilt: package.json + remoteEntry).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { MODULE_NAME, MODULE_VERSION } from "../../extension/src/version.js";

const EXTENSION = resolve(dirname(fileURLToPath(import.meta.url)), "../../extension");
const pkg = JSON.parse(readFileSync(join(EXTENSION, "package.json"), "utf8")) as {
  name: string;
  version: string;
  dependencies: Record<string, string>;
  jupyterlab: {
    extension: string;
    outputDir: string;
    sharedPackages: Record<string, { bundled?: boolean; singleton?: boolean } | false>;
  };
};

test("MODULE_VERSION is the extension's version", () => {
  assert.equal(MODULE_NAME, "@stagelab/widgets");
  assert.equal(MODULE_VERSION, pkg.version);
});

test("@jupyter-widgets/base is shared as a singleton and not bundled", () => {
  const base = pkg.jupyterlab.sharedPackages["@jupyter-widgets/base"];
  assert.ok(base);
  assert.equal(base.bundled, false);
  assert.equal(base.singleton, true);
  assert.match(pkg.dependencies["@jupyter-widgets/base"] ?? "", /^6\.0\./);
});

test("the build wrote labextension/ with package.json and a remoteEntry", () => {
  const out = join(EXTENSION, pkg.jupyterlab.outputDir);
  const built = JSON.parse(readFileSync(join(out, "package.json"), "utf8")) as {
    name: string;
    version: string;
    jupyterlab: { _build?: { load?: string; extension?: string } };
  };
  assert.equal(built.name, "@stagelab/jupyterlab");
  assert.equal(built.version, pkg.version);
  const load = built.jupyterlab._build?.load ?? "";
  assert.match(load, /^static\/remoteEntry\.[0-9a-f]+\.js$/);
  assert.ok(existsSync(join(out, load)), `${load} missing`);
  assert.equal(built.jupyterlab._build?.extension, "./extension");
  // The compute worker is its own chunk next to the remoteEntry.
  const statics = readdirSync(join(out, "static"));
  assert.ok(
    statics.some((f) => /^stagelab-compute\.[0-9a-f]+\.js$/.test(f)),
    `no worker chunk in ${statics.join(", ")}`,
  );
  // @jupyter-widgets/base (with backbone, jquery and lodash) comes from the page
  // (jupyterlab-manager's share), never from our bundle; vega and vega-lite (~1.2 MB) are
  // ours, loaded only with the first chart.
  const js = statics.filter((f) => f.endsWith(".js"));
  for (const f of js) {
    const text = readFileSync(join(out, "static", f), "utf8");
    assert.ok(!/Backbone\.VERSION|jQuery\.fn/.test(text), `${f} bundles backbone or jquery`);
  }
  const jsBytes = js.reduce((sum, f) => sum + statSync(join(out, "static", f)).size, 0);
  assert.ok(jsBytes < 2_500_000, `static/*.js hold ${jsBytes} bytes: something big got bundled`);
});
