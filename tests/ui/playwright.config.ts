// Playwright configuration for the galata UI tests: the real JupyterLab of .venv/ driven by
// Debian's Chromium (/usr/bin/chromium; Playwright's own browsers are never downloaded).
//
//   npx playwright test -c tests/ui/playwright.config.ts     (.ci/test.mjs does this)
//
// Environment:
//   STAGELAB_UI_PORT          Jupyter server port (default 8888)
//   STAGELAB_LABEXTENSIONS    extra prebuilt lab extension dirs, ":"-separated
//   STAGELAB_UI_JSON          where to write Playwright's JSON report (optional)
//   STAGELAB_UI_KEEP          keep the temp dir (server root, Jupyter dirs) after the run
//   STAGELAB_CHROMIUM         browser executable (default /usr/bin/chromium)
//   JUPYTER_PATH              extra Jupyter data dirs (e.g. with more kernelspecs); the venv's
//                             share/jupyter is always added

import { defineConfig, type ReporterDescription } from "@playwright/test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { ROOT, VENV_DIR, jupyterEnv } from "../../.ci/setup.mjs";

const ARTIFACTS = join(ROOT, "test-artifacts", "ui");
const SERVER_LOG = join(ARTIFACTS, "jupyter-server.log");
mkdirSync(ARTIFACTS, { recursive: true });

function shellQuote(arg: string): string {
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

// The config is evaluated again in every worker process; values chosen here go through
// process.env, which the workers inherit, so that all of them agree.
const isRunner = !process.env.STAGELAB_UI_TMP;
process.env.STAGELAB_UI_PORT ??= "8888";
process.env.STAGELAB_UI_TMP ??= mkdtempSync(join(tmpdir(), "stagelab-ui-"));
const port = Number(process.env.STAGELAB_UI_PORT);
const tmp = process.env.STAGELAB_UI_TMP;
const serverRoot = join(tmp, "root");
mkdirSync(serverRoot, { recursive: true });
if (isRunner && !process.env.STAGELAB_UI_KEEP) {
  // The runner process removes the temp dir when it exits: after the web server has stopped
  // (a globalTeardown would run while the server is still up).
  process.once("exit", () => rmSync(tmp, { recursive: true, force: true }));
}

const jupyter = jupyterEnv(join(tmp, "jupyter"));
const jupyterPath = [
  ...(process.env.JUPYTER_PATH ?? "").split(delimiter).filter(Boolean),
  jupyter.JUPYTER_PATH,
]
  .filter((dir, i, all) => all.indexOf(dir) === i)
  .join(delimiter);

const reporter: ReporterDescription[] = [["list"]];
if (process.env.STAGELAB_UI_JSON) {
  reporter.push(["json", { outputFile: process.env.STAGELAB_UI_JSON }]);
}

export default defineConfig({
  // galata's defaults (@jupyterlab/galata/lib/playwright-config), adjusted below.
  reportSlowTests: null,
  testDir: ".",
  testMatch: "**/*.spec.ts",
  outputDir: join(ARTIFACTS, "results"),
  reporter,
  timeout: 120_000,
  // A safety net for `npm test`: the whole UI run (one test takes ~20 s) stops after 4 minutes.
  globalTimeout: 900_000,
  expect: { timeout: 15_000 },
  // One JupyterLab server for all tests; keep the browser load light on small machines.
  workers: 1,
  fullyParallel: false,
  retries: 0,
  forbidOnly: true,
  use: {
    viewport: { width: 1024, height: 768 },
    baseURL: `http://localhost:${port}`,
    browserName: "chromium",
    trace: "retain-on-failure",
    video: "off",
    screenshot: "only-on-failure",
    launchOptions: {
      executablePath: process.env.STAGELAB_CHROMIUM ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
      ],
    },
  },
  webServer: {
    // The server's log goes to test-artifacts/ui/jupyter-server.log (overwritten each run).
    command: [
      "exec",
      ...[
        join(VENV_DIR, "bin", "jupyter"),
        "lab",
        "--config",
        join(ROOT, "tests", "ui", "jupyter_server_test_config.py"),
        "--allow-root",
        "--no-browser",
      ].map(shellQuote),
      ">",
      shellQuote(SERVER_LOG),
      "2>&1",
    ].join(" "),
    cwd: ROOT,
    url: `http://localhost:${port}/lab`,
    reuseExistingServer: false,
    timeout: 120_000,
    stdout: "ignore",
    stderr: "ignore",
    gracefulShutdown: { signal: "SIGTERM", timeout: 10_000 },
    env: {
      ...(process.env as Record<string, string>),
      ...jupyter,
      JUPYTER_PATH: jupyterPath,
      STAGELAB_UI_ROOT: serverRoot,
      STAGELAB_UI_PORT: String(port),
      JUPYTERLAB_GALATA_ROOT_DIR: serverRoot,
      PYTHONWARNINGS: "ignore",
    },
  },
});
