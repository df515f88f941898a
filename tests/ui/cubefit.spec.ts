// The CubeFit widgets in the real JupyterLab on the stagelab kernel, on files the cells write
// with tests/ui/fixtures/cubefit.mjs (a writer kept open in the kernel):
//   PrefitSnapshot: a file with 5 of its 12 HyperCube tiles done shows four panels whose
//   captions carry what the chart holds (rows, sums, pending pairs: equal to the kernel's
//   values); spaxel and component pickers change the panels; the remaining tiles arrive while
//   the snapshot follows the file; PNG and SVG export save an image and a drawing.
//   FitDashboard: two fit groups overlaid; live rows arrive by changesets (no re-render) while a
//   timer appends; pause stops them and resume brings the rows written meanwhile; the x axis
//   (epoch / time) and log toggles redraw; the hover readout names the row under the pointer;
//   the solution's masses equal the kernel's; export works. File-controlled text stays text.

import { expect, test } from "@jupyterlab/galata";
import type { Download, Locator } from "@playwright/test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../../.ci/setup.mjs";
import {
  ARTIFACTS,
  HOSTILE,
  captureConsoleOnFailure,
  expectNothingInjected,
  stagelabNotebook,
  tempDirPerTest,
} from "./helpers.js";

test.use({ serverFiles: "off", acceptDownloads: true });

const FIXTURE = join(ROOT, "tests", "ui", "fixtures", "cubefit.mjs");

const consoleLines = captureConsoleOnFailure();
const tempDir = tempDirPerTest("cubefit");

/** Click an export button and return the saved file's bytes. */
async function exported(
  page: { waitForEvent(event: "download"): Promise<Download> },
  button: Locator,
): Promise<Buffer> {
  const download: Promise<Download> = page.waitForEvent("download");
  await button.click();
  const d = await download;
  return readFileSync((await d.path())!);
}

test("CubeFit: prefit snapshot and live fit dashboard", async ({ page }) => {
  const dir = tempDir();
  const { nb, dialogs } = await stagelabNotebook(page);

  // ---- PrefitSnapshot -------------------------------------------------------------------------
  await nb.run(
    'import { prefitSnapshot, fitDashboard } from "@stagelab/kernel";\n' +
      `import * as cf from ${JSON.stringify(FIXTURE)};\n` +
      `const c = await cf.writeCubeFit(${JSON.stringify(dir)}, { tilesDone: 5, fitGroups: [], templateMeta: ${JSON.stringify(HOSTILE)} });\n` +
      "const pf = await prefitSnapshot(c.file, { pollMs: 200 });\n" +
      "const sum = (a: ArrayLike<number>[]) => a.reduce((s, v) => s + Array.from(v).reduce((x, y) => x + y, 0), 0);\n" +
      "const pstats = async () => { const p = await pf.panels(); return {" +
      " spectra: sum(p.spectra.values), templates: sum(p.templates.values), losvd: sum([p.losvd.values])," +
      " models: sum(p.models.values), pending: p.models.pairs.filter((q) => !q.done).length," +
      " spaxel: pf.get('spaxel'), component: pf.get('component') }; };\n" +
      "pf",
  );
  const pv = page.locator(".stagelab-prefit");
  await expect(pv).toBeVisible({ timeout: 60_000 });
  await expect(pv.locator(".sl-pf-tiles")).toHaveText("5 of 12 tiles done");
  await expect(pv.locator(".sl-cf-status")).toHaveText(/live/);
  await expect(pv).toHaveAttribute("data-draws", /^[1-9]/);
  await expect(pv.locator(".sl-cf-chart canvas")).toHaveCount(1);
  const info = (name: string) => pv.locator(`.sl-pf-info[data-panel="${name}"]`);
  await expect(info("spectra")).toHaveAttribute("data-spaxels", "0,2,5,7");
  // Masked pixels (5 of 48) are shaded, not drawn: 4 spectra x 43 pixels.
  await expect(info("spectra")).toHaveAttribute("data-rows", String(4 * 43));
  await expect(info("spectra")).toHaveAttribute("data-masked-pixels", "5");
  await expect(info("templates")).toHaveAttribute("data-populations", "0,1,2,3");
  // 13 velocity bins 100 km/s apart reach +-650 km/s = 21.7 template pixels (dlog 1e-4): the
  // builder's kernel covers k = -22..22.
  await expect(info("losvd")).toHaveAttribute("data-kernel-points", "45");
  const panels = async () => (await nb.json("await pstats()")) as Record<string, number>;
  let want = await panels();
  for (const name of ["spectra", "templates", "losvd", "models"])
    expect(Number(await info(name).getAttribute("data-sum"))).toBeCloseTo(want[name]!, 6);
  await expect(info("models")).toHaveAttribute("data-pending", String(want.pending));
  expect(want.pending).toBeGreaterThan(0);
  const yDomain = (await info("spectra").getAttribute("data-y-domain"))!.split(",").map(Number);
  expect(yDomain[1]).toBeLessThan(50); // the masked spikes do not drive the limits

  // Selection: the spaxel and the component.
  await pv.locator(".sl-pf-spaxel input").fill("3");
  await pv.locator(".sl-pf-spaxel input").press("Enter");
  await expect(info("spectra")).toHaveAttribute("data-spaxels", "3,0,2,5");
  await expect(info("losvd")).toHaveAttribute("data-spaxel", "3");
  await pv.locator(".sl-pf-component select").selectOption("2");
  await expect(info("losvd")).toHaveAttribute("data-component", "2");
  await expect(info("models")).toHaveAttribute("data-pairs", /^3,2;/);
  await expect(pv).toHaveAttribute("data-busy", "false");
  want = await panels();
  expect([want.spaxel, want.component]).toEqual([3, 2]);
  expect(Number(await info("losvd").getAttribute("data-sum"))).toBeCloseTo(want.losvd!, 6);

  // The builder finishes: the remaining tiles arrive while following.
  await nb.run("c.writeTiles();\nc.close();");
  await expect(pv.locator(".sl-pf-tiles")).toHaveText("12 of 12 tiles done", { timeout: 10_000 });
  await expect(info("models")).toHaveAttribute("data-pending", "0");
  await expect(pv.locator(".sl-cf-status")).toHaveText("complete");
  want = await panels();
  expect(Number(await info("models").getAttribute("data-sum"))).toBeCloseTo(want.models!, 6);

  // Export: a PNG image and an SVG drawing.
  const png = await exported(page, pv.locator(".sl-cf-export-png"));
  expect(png.subarray(1, 4).toString("latin1")).toBe("PNG");
  await expect(pv.locator(".sl-cf-card")).toHaveAttribute("data-export-head", /^data:image\/png/);
  const svg = (await exported(page, pv.locator(".sl-cf-export-svg"))).toString("utf8");
  expect(svg.startsWith("<svg")).toBe(true);
  expect(svg).toContain("Observed spectra");
  await expect(pv.locator(".sl-cf-meta")).toContainText(HOSTILE);
  await pv.scrollIntoViewIfNeeded();
  await pv.screenshot({ path: join(ARTIFACTS, "cubefit-prefit.png") });

  // ---- FitDashboard ---------------------------------------------------------------------------
  await nb.run(
    `const f = await cf.writeCubeFit(${JSON.stringify(dir)}, { name: "fit.h5", fitRows: 4, fitGroups: ["/Fit", "/Fit_b"], fitLabels: [${JSON.stringify(HOSTILE)}, "lr=0.1"], keepOpen: true });\n` +
      'const fd = await fitDashboard(f.file, { groups: ["/Fit", "/Fit_b"], pollMs: 150 });\n' +
      "fd",
  );
  const fv = page.locator(".stagelab-fitdash");
  await expect(fv).toBeVisible({ timeout: 30_000 });
  await expect(fv.locator(".sl-fd-run")).toHaveCount(2);
  await expect(fv.locator(".sl-fd-run").first()).toContainText(HOSTILE);
  await expect(fv).toHaveAttribute("data-draws", /^[1-9]/);
  await expect(fv).toHaveAttribute("data-rows", "8");
  const metrics = fv.locator('.sl-cf-card[data-chart="metrics"]');
  const draws = await fv.getAttribute("data-draws");

  // Live rows while a timer appends (one row per group every 150 ms, up to 12).
  await nb.run("f.live(150, 12);");
  await expect(fv.locator('.sl-fd-run[data-run="1"]')).toHaveAttribute("data-rows", "12", {
    timeout: 15_000,
  });
  await expect(fv).toHaveAttribute("data-rows", "24");
  await expect(metrics).toHaveAttribute("data-rows", String(24 * 8));
  await expect(metrics).toHaveAttribute("data-changes", /^[1-9]/);
  expect(await fv.getAttribute("data-draws")).toBe(draws); // changesets, not re-renders

  // Pause: rows written meanwhile wait; resume brings them.
  await fv.locator(".sl-cf-follow").click();
  await expect(fv.locator(".sl-cf-status")).toHaveText("paused");
  const paused = (await nb.json(
    "{ following: fd.get('following'), best: fd.best.map((b) => b && b.row) }",
  )) as { following: boolean; best: number[] };
  expect(paused.following).toBe(false);
  // The best-so-far marker: the row of the smallest val_rmse, per run.
  for (const run of [0, 1])
    await expect(fv.locator(`.sl-fd-run[data-run="${run}"]`)).toHaveAttribute(
      "data-best-row",
      String(paused.best[run]),
    );
  await nb.run("f.appendMetrics(3);");
  await page.waitForTimeout(600);
  await expect(fv).toHaveAttribute("data-rows", "24");
  await fv.locator(".sl-cf-follow").click();
  await expect(fv).toHaveAttribute("data-rows", "30", { timeout: 10_000 });
  await expect(fv.locator(".sl-cf-status")).toHaveText(/live/);

  // Axis toggles redraw; the kernel's state follows.
  await fv.locator(".sl-fd-x select").selectOption("time_sec");
  await expect(fv).toHaveAttribute("data-x-axis", "time_sec");
  await expect(fv).not.toHaveAttribute("data-draws", draws!);
  await fv.locator(".sl-fd-logy input").check();
  await expect(fv).toHaveAttribute("data-log-y", "true");
  const k = (await nb.json(
    "{ axis: [fd.get('x_axis'), fd.get('log_y')], masses: Array.from((await fd.solution()).masses) }",
  )) as { axis: unknown[]; masses: number[] };
  expect(k.axis).toEqual(["time_sec", true]);

  // Hover: the readout names the row nearest the pointer (the first chart, its middle).
  const canvas = metrics.locator(".sl-cf-chart canvas");
  const box = (await canvas.boundingBox())!;
  const readout = fv.locator(".sl-cf-readout");
  for (const [fx, fy] of [
    [0.2, 0.12],
    [0.25, 0.15],
    [0.3, 0.1],
  ]) {
    await canvas.hover({ position: { x: box.width * fx!, y: box.height * fy! } });
    if ((await readout.getAttribute("data-active")) === "true") break;
  }
  await expect(readout).toHaveAttribute("data-active", "true");
  await expect(readout).toContainText(/row \d+ · epoch/);

  // The solution by component: masses equal the kernel's; x_best on request.
  const masses = k.masses;
  const shown = fv.locator(".sl-fd-solution-info");
  await expect(shown).toHaveAttribute("data-which", "x_latest");
  const got = (await shown.getAttribute("data-masses"))!.split(",").map(Number);
  expect(got.length).toBe(3);
  got.forEach((m, i) => expect(m).toBeCloseTo(masses[i]!, 9));
  await fv.locator(".sl-fd-which select").selectOption("x_best");
  await expect(shown).toHaveAttribute("data-which", "x_best");

  // Export the metrics chart.
  const mpng = await exported(page, metrics.locator(".sl-cf-export-png"));
  expect(mpng.subarray(1, 4).toString("latin1")).toBe("PNG");
  const msvg = (await exported(page, metrics.locator(".sl-cf-export-svg"))).toString("utf8");
  expect(msvg.startsWith("<svg")).toBe(true);
  expect(msvg).toContain("val_rmse");

  await nb.run("f.close()");
  await expect(fv.locator(".sl-cf-status")).toHaveText("complete", { timeout: 10_000 });
  await fv.scrollIntoViewIfNeeded();
  await fv.screenshot({ path: join(ARTIFACTS, "cubefit-fitdash.png") });

  // File-controlled text is text.
  expect(await page.locator(".stagelab-cubefit img, .stagelab-cubefit script").count()).toBe(0);
  await expectNothingInjected(page, dialogs(), consoleLines());
});
