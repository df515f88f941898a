// H5View in the real JupyterLab on the stagelab kernel: a file that a second process keeps
// appending to shows its new rows within a second, datasets switch between a Vega-Lite line
// and a canvas image, the dark theme applies, and hostile names and attributes in a file are
// shown as text while no script of theirs runs.

import { expect, test } from "@jupyterlab/galata";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../../.ci/setup.mjs";
import {
  NotebookSession,
  STAGELAB,
  ensureStagelabKernel,
  recordConsole,
  screenshot,
} from "./helpers.js";

test.use({ serverFiles: "off" });

const SYSTEM_PYTHON = process.env.STAGELAB_SYSTEM_PYTHON ?? "/usr/bin/python3";

let dir = "";
let writer: ChildProcess | undefined;

test.beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "stagelab-h5view-ui-"));
});

test.afterEach(() => {
  writer?.kill("SIGKILL");
  writer = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/** Rows shown for a dataset in the tree, e.g. "float64 [37]" -> 37. */
async function rowsInTree(page: import("@playwright/test").Page, name: string): Promise<number> {
  const meta = page.locator(`.sl-h5-tree li[data-path$="/${name}"] .sl-h5-meta`);
  const text = (await meta.textContent()) ?? "";
  return Number(/\[(\d+)/.exec(text)?.[1] ?? NaN);
}

test("H5View follows a file another process is writing", async ({ page }) => {
  const lines = recordConsole(page);
  await ensureStagelabKernel(page, STAGELAB);
  const file = join(dir, "live.h5");
  writer = spawn(
    process.execPath,
    [join(ROOT, "tests", "kernel", "live_writer.mjs"), file, "400", "100"],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  await new Promise<void>((resolve) => writer!.stdout!.once("data", () => resolve()));

  const nb = await NotebookSession.start(page, STAGELAB);
  await nb.run(
    `import { h5view } from "@stagelab/kernel";\nawait h5view(${JSON.stringify(file)}, { select: "/live/line", pollMs: 200 })`,
  );
  const view = page.locator(".stagelab-h5view");
  await expect(view).toBeVisible({ timeout: 60_000 });
  await expect(view.locator(".sl-h5-status")).toHaveText(/live/);
  await expect(view.locator(".sl-h5-line canvas")).toBeVisible();

  // New committed rows reach the view: the tree's extent grows (latency: tests/bench/h5view).
  const first = await rowsInTree(page, "line");
  await expect
    .poll(() => rowsInTree(page, "line"), { timeout: 5_000, intervals: [200] })
    .toBeGreaterThan(first);
  const second = await rowsInTree(page, "line");
  await expect
    .poll(() => rowsInTree(page, "line"), { timeout: 3_000, intervals: [100] })
    .toBeGreaterThan(second);

  // An N-d dataset shows as an image of the newest frame, with a slider for axis 0.
  await page.locator('.sl-h5-tree li[data-path="/live/frames"]').click();
  const canvas = view.locator(".sl-h5-image canvas");
  await expect(canvas).toBeVisible();
  await expect(view.locator('.sl-h5-sliders input[type="range"]')).toHaveCount(1);
  const box = await canvas.boundingBox();
  expect(box && box.width > 20 && box.height > 10).toBeTruthy();
  // Its 2-d Fourier amplitude, computed in the compute worker.
  await view
    .locator("select")
    .filter({ has: page.locator('option[value="fft"]') })
    .selectOption("fft");
  await expect(canvas).toHaveAttribute("aria-label", /^\|FFT\| of \/live\/frames/);
  await view
    .locator("select")
    .filter({ has: page.locator('option[value="fft"]') })
    .selectOption("data");
  await expect(canvas).toHaveAttribute("aria-label", /^\/live\/frames/);
  await canvas.hover({ position: { x: 5, y: 5 } });
  await expect(view.locator(".sl-h5-readout")).toHaveText(/^\[0, 0\] = \d+/);

  // Keyboard: the tree is a WAI-ARIA tree.
  await page.locator('.sl-h5-tree li[data-path="/live/frames"]').focus();
  await page.keyboard.press("ArrowDown");
  await page.keyboard.press("Enter");
  await expect(page.locator('.sl-h5-tree li[aria-selected="true"]')).toHaveAttribute(
    "data-path",
    "/live/line",
  );

  await screenshot(page, "h5view-live-light");
  const lightBg = await view.evaluate((el) => getComputedStyle(el).backgroundColor);
  await page.theme.setDarkTheme();
  const darkBg = await view.evaluate((el) => getComputedStyle(el).backgroundColor);
  expect(darkBg).not.toBe(lightBg);
  await screenshot(page, "h5view-live-dark");
  await page.theme.setLightTheme();
  // JupyterLab's debugger panel throws "No active debugger session" after executions on any
  // kernel without a debugger: not ours to fix, and not an error of the view.
  const pageErrors = lines().filter(
    (l) => l.startsWith("[pageerror]") && !l.includes("No active debugger session"),
  );
  expect(pageErrors).toEqual([]);
});

test("H5View shows hostile names and attributes as text", async ({ page }) => {
  await ensureStagelabKernel(page, STAGELAB);
  const file = join(dir, "hostile.h5");
  const made = spawnSync(
    SYSTEM_PYTHON,
    [
      "-c",
      "import sys, h5py, numpy as np\n" +
        "with h5py.File(sys.argv[1], 'w') as f:\n" +
        "    g = f.create_group('<img src=x onerror=\"window.__pwned=1\">')\n" +
        "    d = g.create_dataset('<svg onload=\"window.__pwned=2\">', data=np.arange(12.0).reshape(3, 4))\n" +
        "    d.attrs['<b onmouseover=\"window.__pwned=3\">note</b>'] = '<img src=y onerror=\"window.__pwned=4\">'\n",
      file,
    ],
    { encoding: "utf8" },
  );
  expect(made.status, made.stderr).toBe(0);
  let dialogs = 0;
  page.on("dialog", (d) => {
    dialogs++;
    void d.dismiss();
  });
  const nb = await NotebookSession.start(page, STAGELAB);
  await nb.run(`import { h5view } from "@stagelab/kernel";\nawait h5view(${JSON.stringify(file)})`);
  const view = page.locator(".stagelab-h5view");
  await expect(view).toBeVisible({ timeout: 60_000 });
  await expect(view.locator(".sl-h5-tree")).toContainText('<img src=x onerror="window.__pwned=1">');
  await expect(view.locator(".sl-h5-tree")).toContainText('<svg onload="window.__pwned=2">');
  await expect(view.locator(".sl-h5-attrs")).toContainText(
    '<img src=y onerror="window.__pwned=4">',
  );
  await view.locator(".sl-h5-attrs").hover();
  expect(await view.locator("img, script, b").count()).toBe(0);
  expect(
    await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned),
  ).toBeUndefined();
  expect(dialogs).toBe(0);
  await screenshot(page, "h5view-hostile");
});
