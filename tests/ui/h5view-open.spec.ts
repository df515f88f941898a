// H5View from the file browser: "Open in H5View" on an .h5 file opens a main-area panel
// whose own stagelab kernel reads the file (nothing is downloaded into the page).

import { expect, test } from "@jupyterlab/galata";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { STAGELAB, ensureStagelabKernel, screenshot } from "./helpers.js";

test.use({ serverFiles: "off" });

const SYSTEM_PYTHON = process.env.STAGELAB_SYSTEM_PYTHON ?? "/usr/bin/python3";

test("an .h5 file opens in H5View from the file browser's context menu", async ({
  page,
  tmpPath,
}) => {
  await ensureStagelabKernel(page, STAGELAB);
  const dir = mkdtempSync(join(tmpdir(), "stagelab-h5open-"));
  try {
    const local = join(dir, "scan.h5");
    const made = spawnSync(
      SYSTEM_PYTHON,
      [
        "-c",
        "import sys, h5py, numpy as np\nwith h5py.File(sys.argv[1], 'w') as f:\n    f.create_dataset('detector/image', data=np.arange(64.0 * 48).reshape(64, 48))\n",
        local,
      ],
      { encoding: "utf8" },
    );
    expect(made.status, made.stderr).toBe(0);
    await page.contents.uploadContent(
      readFileSync(local).toString("base64"),
      "base64",
      `${tmpPath}/scan.h5`,
    );
    await page.filebrowser.openDirectory(tmpPath);
    const item = page.locator(".jp-DirListing-item", { hasText: "scan.h5" });
    await expect(item).toHaveAttribute("data-file-type", "hdf5");
    await item.click({ button: "right" });
    await page.getByRole("menuitem", { name: "Open in H5View" }).click();
    const view = page.locator(".stagelab-h5file .stagelab-h5view");
    await expect(view).toBeVisible({ timeout: 60_000 });
    await expect(view.locator(".sl-h5-tree")).toContainText("image");
    await expect(view.locator(".sl-h5-image canvas")).toBeVisible();
    await screenshot(page, "h5view-from-file-browser");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
