// VoxelView in the real JupyterLab on the stagelab kernel: a small synthetic ASU-only map
// (tests/ui/fixtures/voxelmap.mjs, Laue group mmm, ndiv 2) written by a writer kept open in the
// kernel shows as three planes with data; hovering a known voxel reads out its hkl, |q|, d, I,
// σ and n_obs; a click in one plane moves the other two; expanding the ASU fills the other
// octants with the mates' values; colormap and log switches recolour; a commit from a second
// cell reaches the view; file-controlled text stays text.

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

const FIXTURE = join(ROOT, "tests", "ui", "fixtures", "voxelmap.mjs");
/** The fixture's intensity at sub-Miller n (ASU n >= 0). */
const intensityAt = (n: number[], scale = 1) => scale * (1 + n[0]! + 10 * n[1]! + 100 * n[2]!);

const consoleLines = captureConsoleOnFailure();
const tempDir = tempDirPerTest("voxelview");

interface CanvasState {
  cols: number;
  rows: number;
  xStart: number;
  xStep: number;
  yStart: number;
  yStep: number;
  index: number;
  painted: string;
  /** Pixels on the canvas, those with alpha > 0, and a checksum of all RGBA bytes. */
  size: number;
  opaque: number;
  checksum: number;
}

function canvasState(canvas: Locator): Promise<CanvasState> {
  return canvas.evaluate((el: HTMLCanvasElement) => {
    const d = el.dataset;
    const ctx = el.getContext("2d")!;
    const px = ctx.getImageData(0, 0, el.width, el.height).data;
    let opaque = 0;
    let checksum = 0;
    for (let i = 0; i < px.length; i += 4) {
      if (px[i + 3]! > 0) opaque++;
      checksum =
        (checksum * 31 + px[i]! * 7 + px[i + 1]! * 13 + px[i + 2]! * 17 + px[i + 3]!) % 1e9;
    }
    return {
      cols: Number(d.cols),
      rows: Number(d.rows),
      xStart: Number(d.xStart),
      xStep: Number(d.xStep),
      yStart: Number(d.yStart),
      yStep: Number(d.yStep),
      index: Number(d.index),
      painted: d.painted ?? "",
      size: el.width * el.height,
      opaque,
      checksum,
    };
  });
}

/** CSS-pixel position of the centre of the voxel (nx, ny) on a plane's canvas. */
async function voxelPoint(
  canvas: Locator,
  nx: number,
  ny: number,
): Promise<{ x: number; y: number }> {
  const s = await canvasState(canvas);
  const box = (await canvas.boundingBox())!;
  const c = (nx - s.xStart) / s.xStep;
  const r = (ny - s.yStart) / s.yStep;
  return { x: ((c + 0.5) / s.cols) * box.width, y: ((r + 0.5) / s.rows) * box.height };
}

/** The RGBA colour drawn at voxel (nx, ny). */
async function voxelColour(canvas: Locator, nx: number, ny: number): Promise<number[]> {
  const { x, y } = await voxelPoint(canvas, nx, ny);
  return canvas.evaluate(
    (el: HTMLCanvasElement, at) => {
      const k = el.width / el.getBoundingClientRect().width;
      return Array.from(
        el.getContext("2d")!.getImageData(Math.floor(at.x * k), Math.floor(at.y * k), 1, 1).data,
      );
    },
    { x, y },
  );
}

test("VoxelView: linked planes, readout, ASU expansion, colours and live commits", async ({
  page,
}) => {
  const dir = tempDir();
  const file = join(dir, "map.h5");
  const { nb, dialogs } = await stagelabNotebook(page);
  await nb.run(
    'import { voxelView } from "@stagelab/kernel";\n' +
      `import * as fx from ${JSON.stringify(FIXTURE)};\n` +
      `const live = await fx.writeVoxelMap(${JSON.stringify(file)}, { units: ${JSON.stringify(HOSTILE)} });\n` +
      `await voxelView(${JSON.stringify(file)}, { pollMs: 200, symmetry: fx.symmetry })`,
  );
  const view = page.locator(".stagelab-voxelview");
  await expect(view).toBeVisible({ timeout: 60_000 });
  await expect(view.locator(".sl-vx-status")).toHaveText(/live/);
  const hk = view.locator('.sl-vx-plane[data-plane="hk"] canvas.sl-vx-image');
  const hl = view.locator('.sl-vx-plane[data-plane="hl"] canvas.sl-vx-image');
  const kl = view.locator('.sl-vx-plane[data-plane="kl"] canvas.sl-vx-image');
  await expect(view.locator("canvas.sl-vx-image")).toHaveCount(3);

  // Three planes through the stored ASU (h 0..4, k 0..3, l 0..2 in steps of 1/2), with data.
  for (const canvas of [hk, hl, kl]) {
    await expect(canvas).toHaveAttribute("data-painted", /^0:false:/);
    expect((await canvasState(canvas)).opaque).toBeGreaterThan(100);
  }
  expect(await canvasState(hk)).toMatchObject({ cols: 9, rows: 7, xStart: 0, yStart: 6 });
  await expect(view.locator('.sl-vx-plane[data-plane="hk"] .sl-vx-xticks')).toContainText("4");
  await expect(view.locator('.sl-vx-plane[data-plane="hk"] .sl-vx-plane-title')).toHaveText(
    "h-k plane at l = 0",
  );

  // Hover readout at h 1.5, k 1, l 0 (n = [3, 2, 0]).
  const readout = view.locator(".sl-vx-readout");
  const field = (name: string) => readout.locator(`[data-field="${name}"]`);
  await hk.hover({ position: await voxelPoint(hk, 3, 2) });
  await expect(field("h")).toHaveText("1.5");
  await expect(field("k")).toHaveText("1");
  await expect(field("l")).toHaveText("0");
  await expect(field("I")).toHaveText(String(intensityAt([3, 2, 0])));
  await expect(field("sigma")).toHaveText("0.5");
  await expect(field("n_obs")).toHaveText("2");
  // q = B·hkl with B = diag(1/10, 1/20, 1/30): |q| = sqrt(0.15² + 0.05²), d = 1/|q|.
  await expect(field("q")).toHaveText("0.15811");
  await expect(field("d")).toHaveText("6.3246");

  // A click in the h-k plane moves the k-l plane to h = 2 and the h-l plane to k = 1.
  const slider = (axis: string) => view.locator(`.sl-vx-slider[data-axis="${axis}"] input`);
  await hk.click({ position: await voxelPoint(hk, 4, 2) });
  await expect(slider("h")).toHaveValue("4");
  await expect(slider("k")).toHaveValue("2");
  await expect(slider("l")).toHaveValue("0");
  await expect(view.locator('.sl-vx-slider[data-axis="h"] span')).toHaveText(/^h = 2 /);
  await expect(kl).toHaveAttribute("data-painted", /^4:false:/);
  await expect(hl).toHaveAttribute("data-painted", /^2:false:/);
  await expect(view.locator('.sl-vx-plane[data-plane="kl"] .sl-vx-plane-title')).toHaveText(
    "k-l plane at h = 2",
  );
  // ...and a slider moves its plane.
  await slider("l").fill("2");
  await expect(hk).toHaveAttribute("data-painted", /^2:false:/);
  await hk.hover({ position: await voxelPoint(hk, 1, 1) });
  await expect(field("l")).toHaveText("1");
  await expect(field("I")).toHaveText(String(intensityAt([1, 1, 2])));

  // Expanding the ASU: the planes cover ±max index and every octant shows its mate.
  await view.locator(".sl-vx-expand input").check();
  await expect(hk).toHaveAttribute("data-painted", /^2:true:\d+:-8:17$/);
  const full = await canvasState(hk);
  expect(full).toMatchObject({ cols: 17, rows: 13, xStart: -8, yStart: 6 });
  expect(full.opaque).toBe(full.size); // no empty octant left
  for (const [h, k] of [
    [-3, -2],
    [-3, 2],
    [3, -2],
  ]) {
    const mate = await voxelColour(hk, h!, k!);
    expect(mate[3]).toBe(255);
    expect(mate).toEqual(await voxelColour(hk, 3, 2));
  }
  await hk.hover({ position: await voxelPoint(hk, -3, -2) });
  await expect(field("h")).toHaveText("-1.5");
  await expect(field("k")).toHaveText("-1");
  await expect(field("I")).toHaveText(String(intensityAt([3, 2, 2])));

  // Colormap and log scale recolour the planes.
  let before = (await canvasState(hk)).checksum;
  await view.locator(".sl-vx-colormap select").selectOption("magma");
  await expect.poll(async () => (await canvasState(hk)).checksum).not.toBe(before);
  before = (await canvasState(hk)).checksum;
  await view.locator(".sl-vx-log input").check();
  await expect.poll(async () => (await canvasState(hk)).checksum).not.toBe(before);
  before = (await canvasState(hk)).checksum;
  await view.locator(".sl-vx-colormap select").selectOption("coolwarm");
  await view.locator(".sl-vx-log input").uncheck();
  await expect.poll(async () => (await canvasState(hk)).checksum).not.toBe(before);
  // Diverging: the limits centre on 0.
  const limit = async (which: string) =>
    Number(await view.locator(`.sl-vx-${which} input`).inputValue());
  await expect.poll(async () => (await limit("min")) + (await limit("max"))).toBe(0);
  expect(await limit("max")).toBeGreaterThan(0);
  await view.locator(".sl-vx-colormap select").selectOption("viridis");
  await screenshot(page, "voxelview-expanded");
  await view.screenshot({ path: join(ARTIFACTS, "voxelview-widget.png") });

  // A commit from another cell reaches the view (intensities x4).
  const painted = (await canvasState(hk)).painted;
  await nb.run("live.update(4)");
  await expect
    .poll(async () => (await canvasState(hk)).painted, { timeout: 10_000 })
    .not.toBe(painted);
  await hk.hover({ position: await voxelPoint(hk, 2, 3) });
  await hk.hover({ position: await voxelPoint(hk, -2, 3) });
  await expect(field("I")).toHaveText(String(intensityAt([2, 3, 2], 4)));
  await nb.run("live.close()");
  await expect(view.locator(".sl-vx-status")).toHaveText("complete");

  // File-controlled text is text.
  await expect(view.locator(".sl-vx-meta")).toContainText(HOSTILE);
  expect(await view.locator("img, script").count()).toBe(0);
  await expectNothingInjected(page, dialogs(), consoleLines());
});
