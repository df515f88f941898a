// FftExplorer in the real JupyterLab on the stagelab kernel: a small bigFT cache
// (tests/ui/fixtures/fftcache.mjs: scan 16 x 16, crop 8 x 8, blocks of 4 x 4 pixels) with 3 of
// its 4 blocks written by a writer kept open in the kernel shows as four panels, the pending
// block hatched and counted; the readout shows the values the kernel computes; a click in the
// overview picks the scan frequency (the sub-selection follows), a click in the sub-selection
// the detector pixel (amplitude and phase follow); a rectangle drag and a toggle click make
// the mask (the kernel's explorer.mask agrees, the overview averages it); the last block
// completing reaches the view; "Proceed" runs the cell's callback (its error shows as text,
// then it succeeds and explorer.proceeded resolves); file-controlled text stays text.

import { expect, test } from "@jupyterlab/galata";
import type { Locator } from "@playwright/test";
import { join } from "node:path";
import { ROOT } from "../../.ci/setup.mjs";
import {
  ARTIFACTS,
  HOSTILE,
  captureConsoleOnFailure,
  expectNothingInjected,
  screenshot,
  stagelabNotebook,
  tempDirPerTest,
} from "./helpers.js";

test.use({ serverFiles: "off" });

const FIXTURE = join(ROOT, "tests", "ui", "fixtures", "fftcache.mjs");

const consoleLines = captureConsoleOnFailure();
const tempDir = tempDirPerTest("fftexplorer");

/** CSS position (relative to the canvas) of the centre of display pixel (c, r). */
async function pixelPoint(canvas: Locator, c: number, r: number) {
  const { cols, rows } = await canvas.evaluate((el: HTMLCanvasElement) => ({
    cols: Number(el.dataset.cols),
    rows: Number(el.dataset.rows),
  }));
  const box = (await canvas.boundingBox())!;
  return { x: ((c + 0.5) / cols) * box.width, y: ((r + 0.5) / rows) * box.height };
}

/** A checksum of the RGBA bytes on a canvas. */
function checksum(canvas: Locator): Promise<number> {
  return canvas.evaluate((el: HTMLCanvasElement) => {
    const px = el.getContext("2d")!.getImageData(0, 0, el.width, el.height).data;
    let sum = 0;
    for (let i = 0; i < px.length; i++) sum = (sum * 31 + px[i]! * (1 + (i % 4))) % 1e9;
    return sum;
  });
}

test("FftExplorer: linked panels, readout, mask drawing, live blocks and proceed", async ({
  page,
}) => {
  const dir = tempDir();
  const { nb, dialogs } = await stagelabNotebook(page);
  await nb.run(
    'import { fftExplorer, type FftSelection } from "@stagelab/kernel";\n' +
      `import * as fx from ${JSON.stringify(FIXTURE)};\n` +
      `const c = await fx.writeFftCache(${JSON.stringify(dir)}, { blocks: 3, dataset: ${JSON.stringify(HOSTILE)} });\n` +
      "const picked: FftSelection[] = [];\n" +
      "let failOnce = true;\n" +
      "const ex = await fftExplorer(c.file, { pollMs: 200, onProceed: async (s) => {\n" +
      "  picked.push(s);\n" +
      "  if (failOnce) { failOnce = false; throw new Error('<b>correlate</b> is not ready'); }\n" +
      "  return 'correlations started'; } });\n" +
      "ex",
  );
  const view = page.locator(".stagelab-fftexplorer");
  await expect(view).toBeVisible({ timeout: 60_000 });
  const canvas = (name: string) => view.locator(`canvas.sl-fx-image[data-panel="${name}"]`);
  const [overview, detector, amplitude, phase] = ["overview", "detector", "amplitude", "phase"].map(
    canvas,
  ) as [Locator, Locator, Locator, Locator];
  await expect(view.locator("canvas.sl-fx-image")).toHaveCount(4);
  await expect(view.locator(".sl-fx-blocks")).toHaveText("3 of 4 blocks complete");
  await expect(view.locator(".sl-fx-status")).toHaveText(/live/);
  for (const c of [overview, detector, amplitude, phase])
    await expect(c).toHaveAttribute("data-painted", /^\d+:0,0:4,4:64$/);
  // Block 3 (crop rows and columns 4..7) is pending: 16 sub-selection pixels, and the whole
  // amplitude and phase of pixel (4, 4), which lies in it.
  await expect(detector).toHaveAttribute("data-pending", "16");
  await expect(amplitude).toHaveAttribute("data-pending", "256");
  await expect(overview).toHaveAttribute("data-averaged", "48");
  await expect(overview).toHaveAttribute("data-rows", "16");
  await expect(detector).toHaveAttribute("data-cols", "8");
  // Step 3 needs the whole bigFT: "Proceed" waits for the last block.
  await expect(view.locator(".sl-fx-proceed")).toBeDisabled();

  // The readout shows the kernel's values (display pixel (c, r) of the shifted overview).
  const readout = view.locator(".sl-fx-readout");
  const field = (name: string) => readout.locator(`[data-field="${name}"]`);
  const kernelValue = async (panel: string, i: number) =>
    Number(await nb.json(`(await ex.panels()).${panel}.values[${i}]`));
  await overview.hover({ position: await pixelPoint(overview, 11, 5) });
  await expect(field("q")).toHaveText("(13, 3)"); // row 5 of 16 is qy = -3, column 11 qx = 3
  await expect(field("freq")).toHaveText("(-0.1875, 0.1875)");
  const shown = Number(await field("value").getAttribute("data-raw"));
  expect(shown).toBeCloseTo(await kernelValue("overview", 5 * 16 + 11), 3);
  await detector.hover({ position: await pixelPoint(detector, 6, 6) });
  await expect(field("k")).toHaveText("(6, 6) in mask");
  await expect(field("value")).toHaveText("pending");

  // A click in the overview picks the scan frequency: the sub-selection follows.
  await overview.click({ position: await pixelPoint(overview, 11, 5) });
  await expect(detector).toHaveAttribute("data-painted", /^\d+:13,3:4,4:64$/);
  await expect(view.locator('.sl-fx-panel[data-panel="detector"] .sl-fx-title')).toHaveText(
    "Sub-selection: |FT| at q = (-3, 3)",
  );
  expect(await nb.json("ex.selection.scanFrequency")).toEqual([13, 3]);
  await detector.hover({ position: await pixelPoint(detector, 2, 1) });
  expect(Number(await field("value").getAttribute("data-raw"))).toBeCloseTo(
    await kernelValue("detector", 1 * 8 + 2),
    3,
  );
  // A click in the sub-selection picks the detector pixel: amplitude and phase follow.
  await detector.click({ position: await pixelPoint(detector, 2, 1) });
  await expect(amplitude).toHaveAttribute("data-painted", /^\d+:13,3:1,2:64$/);
  await expect(phase).toHaveAttribute("data-painted", /^\d+:13,3:1,2:64$/);
  await expect(amplitude).toHaveAttribute("data-pending", "0");
  await phase.hover({ position: await pixelPoint(phase, 8, 8) });
  await expect(field("q")).toHaveText("(0, 0)");
  expect(Number(await field("value").getAttribute("data-raw"))).toBeCloseTo(
    await kernelValue("phase", 8 * 16 + 8),
    4,
  );

  // Draw the mask: a rectangle over crop rows 1..3, columns 1..4 replaces nothing but adds to
  // "clear"; the toggle tool then takes pixel (1, 1) out again.
  await view.locator(".sl-fx-mask-clear").click();
  await expect(overview).toHaveAttribute("data-painted", /:0$/);
  await expect(overview).toHaveAttribute("data-averaged", "0");
  const box = (await detector.boundingBox())!;
  const from = await pixelPoint(detector, 1, 1);
  const to = await pixelPoint(detector, 4, 3);
  await page.mouse.move(box.x + from.x, box.y + from.y);
  await page.mouse.down();
  await page.mouse.move(box.x + to.x, box.y + to.y, { steps: 6 });
  await page.mouse.up();
  await expect(view.locator(".sl-fx-mask-count")).toHaveText("12 of 64 pixels in the mask");
  await expect(overview).toHaveAttribute("data-painted", /:12$/);
  await expect(overview).toHaveAttribute("data-averaged", "12");
  await view.locator(".sl-fx-tool select").selectOption("toggle");
  await detector.click({ position: await pixelPoint(detector, 1, 1) });
  await expect(overview).toHaveAttribute("data-painted", /:11$/);
  const mask = (await nb.json("Array.from(ex.mask)")) as number[];
  const want = Array.from({ length: 64 }, (_, i) => {
    const [r, c] = [Math.floor(i / 8), i % 8];
    return r >= 1 && r <= 3 && c >= 1 && c <= 4 && !(r === 1 && c === 1) ? 1 : 0;
  });
  expect(mask).toEqual(want);
  await overview.hover({ position: await pixelPoint(overview, 8, 8) });
  expect(Number(await field("value").getAttribute("data-raw"))).toBeCloseTo(
    await kernelValue("overview", 8 * 16 + 8),
    2,
  );

  await view.scrollIntoViewIfNeeded();
  await view.screenshot({ path: join(ARTIFACTS, "fftexplorer-widget.png") });

  // Colormap and log scale recolour the magnitudes.
  let before = await checksum(overview);
  await view.locator(".sl-fx-colormap select").selectOption("magma");
  await expect.poll(() => checksum(overview)).not.toBe(before);
  before = await checksum(overview);
  await view.locator(".sl-fx-log input").uncheck();
  await expect.poll(() => checksum(overview)).not.toBe(before);

  // The last block completes while the explorer follows.
  await nb.run("c.writeBlocks()");
  await expect(view.locator(".sl-fx-blocks")).toHaveText("4 of 4 blocks complete", {
    timeout: 10_000,
  });
  await expect(detector).toHaveAttribute("data-pending", "0");
  await expect(view.locator(".sl-fx-proceed")).toBeEnabled();
  await nb.run("c.close()");
  await expect(view.locator(".sl-fx-status")).toHaveText("complete");

  // Proceed: the callback's error is text; the second press succeeds.
  const proceedText = view.locator(".sl-fx-proceed-status");
  await view.locator(".sl-fx-proceed").click();
  await expect(proceedText).toHaveText("error: <b>correlate</b> is not ready");
  await view.locator(".sl-fx-proceed").click();
  await expect(proceedText).toHaveText("done: correlations started");
  await nb.run("const s = await ex.proceeded;");
  const sel = await nb.json(
    "{ q: s.scanFrequency, k: s.detectorPixel, n: s.mask.reduce((a, b) => a + b, 0), calls: picked.length }",
  );
  expect(sel).toEqual({ q: [13, 3], k: [1, 1], n: 11, calls: 2 });
  await screenshot(page, "fftexplorer");

  // File-controlled text is text.
  await expect(view.locator(".sl-fx-meta")).toContainText(HOSTILE);
  expect(await view.locator("img, script, b").count()).toBe(0);
  await expectNothingInjected(page, dialogs(), consoleLines());
});
