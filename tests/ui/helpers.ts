// Reusable galata helpers for the UI tests: a notebook on a given kernel, run code cells one
// after another, read their outputs, save screenshots into test-artifacts/ui/.

import type { IJupyterLabPageFixture } from "@jupyterlab/galata";
import { expect, type Locator } from "@playwright/test";
import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** test-artifacts/ui/ of the repository (gitignored). */
export const ARTIFACTS = resolve(
  dirname(fileURLToPath(import.meta.url)),
  "../../test-artifacts/ui",
);

/** A kernel the UI tests can run on. */
export interface KernelUnderTest {
  /** Kernelspec name, e.g. "python3" or "stagelab". */
  name: string;
  /** Kernelspec display name shown in JupyterLab, e.g. "Python 3 (ipykernel)". */
  displayName: string;
}

export const PYTHON: KernelUnderTest = { name: "python3", displayName: "Python 3 (ipykernel)" };
export const STAGELAB: KernelUnderTest = {
  name: "stagelab",
  displayName: "TypeScript (stagelab)",
};

/** The kernelspec names the running Jupyter server offers. */
export async function kernelspecNames(page: IJupyterLabPageFixture): Promise<string[]> {
  const response = await page.request.get("api/kernelspecs");
  expect(response.ok(), `GET /api/kernelspecs: ${response.status()}`).toBe(true);
  const body = (await response.json()) as { kernelspecs: Record<string, unknown> };
  return Object.keys(body.kernelspecs);
}

/**
 * A notebook open in JupyterLab, running `kernel`. `run()` types code into the next cell and
 * executes it; cells are numbered from 0 in the order they were run.
 */
export class NotebookSession {
  private next = 0;

  private constructor(
    readonly page: IJupyterLabPageFixture,
    readonly name: string,
    readonly kernel: string,
  ) {}

  /**
   * Create a notebook (File > New > Notebook, picking `kernel` in the kernel dialog), wait until
   * its kernel is idle.
   */
  static async start(
    page: IJupyterLabPageFixture,
    kernel: string | KernelUnderTest,
    name?: string,
  ): Promise<NotebookSession> {
    const kernelName = typeof kernel === "string" ? kernel : kernel.name;
    const fileName = name ?? `${kernelName}-${Date.now()}.ipynb`;
    const created = await page.notebook.createNew(fileName, { kernel: kernelName });
    expect(created, `notebook ${fileName} on kernel ${kernelName} was not created`).toBe(fileName);
    await expect(page.locator("#jp-main-statusbar").getByText("Idle")).toBeVisible({
      timeout: 60_000,
    });
    return new NotebookSession(page, fileName, kernelName);
  }

  /** Type `source` into the next cell and run it (waits until it has executed). */
  async run(source: string): Promise<number> {
    const index = this.next;
    const cells = await this.page.notebook.getCellCount();
    const ok =
      index < cells
        ? await this.page.notebook.setCell(index, "code", source)
        : await this.page.notebook.addCell("code", source);
    expect(ok, `could not enter cell ${index}`).toBe(true);
    expect(await this.page.notebook.runCell(index), `could not run cell ${index}`).toBe(true);
    this.next = index + 1;
    return index;
  }

  /** The output area of cell `index` (a Locator: use with expect(...) to wait). */
  async output(index: number): Promise<Locator> {
    const cell = await this.page.notebook.getCellLocator(index);
    expect(cell, `no cell ${index}`).not.toBeNull();
    return cell!.locator(".jp-Cell-outputArea");
  }

  /** The text of each output of cell `index` (plain text, trimmed). */
  async outputText(index: number): Promise<string[]> {
    const texts = (await this.page.notebook.getCellTextOutput(index)) ?? [];
    return texts.map((text) => text.trim());
  }

  /** Run `source` and return the text of its outputs. */
  async runText(source: string): Promise<string[]> {
    return this.outputText(await this.run(source));
  }
}

/** Save a full-window screenshot as test-artifacts/ui/<name>.png; returns the path. */
export async function screenshot(page: IJupyterLabPageFixture, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path });
  return path;
}
