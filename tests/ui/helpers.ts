// Reusable galata helpers for the UI tests: a notebook on a given kernel, run code cells one
// after another, read their outputs, save screenshots into test-artifacts/ui/.

import { test, type IJupyterLabPageFixture } from "@jupyterlab/galata";
import { expect, type Locator } from "@playwright/test";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ROOT, VENV_DIR, jupyterEnv } from "../../.ci/setup.mjs";

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

/** File-controlled text the viewer tests write into files: it must stay text (see expectNothingInjected). */
export const HOSTILE = '<img src=x onerror="window.__pwned=1">';

/** The kernelspec names the running Jupyter server offers. */
export async function kernelspecNames(page: IJupyterLabPageFixture): Promise<string[]> {
  const response = await page.request.get("api/kernelspecs");
  expect(response.ok(), `GET /api/kernelspecs: ${response.status()}`).toBe(true);
  const body = (await response.json()) as { kernelspecs: Record<string, unknown> };
  return Object.keys(body.kernelspecs);
}

/** The bits of JupyterLab's NotebookPanel the helpers use inside the page. */
interface NotebookPanelLike {
  content?: {
    model?: {
      cells: {
        length: number;
        get(i: number): {
          type: string;
          sharedModel: { getSource(): string; setSource(source: string): void };
        };
      };
      sharedModel: { insertCell(index: number, cell: { cell_type: "code"; source: string }): void };
    };
  };
}

/**
 * A notebook open in JupyterLab, running `kernel`. `run()` puts code into the next cell and
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

  /**
   * Put `source` into the next cell and run it (Shift+Enter; waits until it has executed).
   * The source goes straight into the notebook model: typing it through the editor costs
   * seconds per cell (and auto-indent can change it), and the editor is not under test here.
   */
  async run(source: string): Promise<number> {
    const index = this.next;
    const title = `cell ${index}: ${source.split("\n").at(-1)}`;
    return test.step(title, async () => {
      expect(await this.setSource(index, source), `could not enter cell ${index}`).toBe(true);
      expect(await this.source(index), `source of cell ${index}`).toBe(source);
      expect(await this.page.notebook.runCell(index), `could not run cell ${index}`).toBe(true);
      this.next = index + 1;
      return index;
    });
  }

  /** Set the source of code cell `index`, or append a code cell when `index` is one past the end. */
  private async setSource(index: number, source: string): Promise<boolean> {
    return this.page.evaluate(
      ({ index, source }) => {
        const app = (
          window as unknown as { galata: { app: { shell: { currentWidget: unknown } } } }
        ).galata.app;
        const model = (app.shell.currentWidget as NotebookPanelLike | null)?.content?.model;
        if (!model) return false;
        if (index === model.cells.length) {
          model.sharedModel.insertCell(index, { cell_type: "code", source });
          return true;
        }
        const cell = index < model.cells.length ? model.cells.get(index) : undefined;
        if (cell?.type !== "code") return false;
        cell.sharedModel.setSource(source);
        return true;
      },
      { index, source },
    );
  }

  /** The source of cell `index` as the notebook model holds it (null when there is none). */
  async source(index: number): Promise<string | null> {
    return this.page.evaluate((i) => {
      const app = (window as unknown as { galata: { app: { shell: { currentWidget: unknown } } } })
        .galata.app;
      const model = (app.shell.currentWidget as NotebookPanelLike | null)?.content?.model;
      return model && i < model.cells.length ? model.cells.get(i).sharedModel.getSource() : null;
    }, index);
  }

  /** The output area of cell `index` (a Locator: use with expect(...) to wait). */
  async output(index: number): Promise<Locator> {
    const cell = await this.page.notebook.getCellLocator(index);
    expect(cell, `no cell ${index}`).not.toBeNull();
    return cell!.locator(".jp-Cell-outputArea");
  }

  /**
   * The execute_result outputs of cell `index` (what a cell's last expression displays; not
   * print()/console.log streams): a Locator for expect(...).toHaveText.
   */
  async executeResult(index: number): Promise<Locator> {
    return (await this.output(index)).locator(".jp-OutputArea-executeResult .jp-OutputArea-output");
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

  /** A value of the kernel, through JSON (a cell's string result shows JSON-quoted). */
  async json(expr: string): Promise<unknown> {
    return JSON.parse(JSON.parse((await this.runText(`JSON.stringify(${expr})`))[0]!) as string);
  }
}

/**
 * Record the browser console (and uncaught page errors) from now on: widget managers report
 * rejected or unknown models there. Returns the lines so far (call it again at the end).
 */
export function recordConsole(page: IJupyterLabPageFixture): () => string[] {
  const lines: string[] = [];
  page.on("console", (message) => lines.push(`[${message.type()}] ${message.text()}`));
  page.on("pageerror", (error) => lines.push(`[pageerror] ${error.stack ?? error.message}`));
  return () => [...lines];
}

/** Save a full-window screenshot as test-artifacts/ui/<name>.png; returns the path. */
export async function screenshot(page: IJupyterLabPageFixture, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

/** The Jupyter dirs of the server under test (playwright.config.ts: STAGELAB_UI_TMP/jupyter). */
export function serverJupyterEnv(): Record<string, string> {
  const tmp = process.env.STAGELAB_UI_TMP;
  if (!tmp) throw new Error("STAGELAB_UI_TMP is not set: run through playwright.config.ts");
  return { ...jupyterEnv(join(tmp, "jupyter")) };
}

/**
 * Make sure the server offers the stagelab kernel. .ci/test.mjs registers it in .venv
 * (ensureKernelspec); when it is not there (a bare `npx playwright test`), register it in the
 * server's own JUPYTER_DATA_DIR, whose kernels/ the server lists afresh on every request.
 */
export async function ensureStagelabKernel(
  page: Parameters<typeof kernelspecNames>[0],
  kernel: KernelUnderTest,
): Promise<void> {
  if ((await kernelspecNames(page)).includes(kernel.name)) return;
  const env = serverJupyterEnv();
  const result = spawnSync(
    process.execPath,
    [join(ROOT, "kernel", "dist", "main.js"), "install", "--user"],
    { cwd: ROOT, encoding: "utf8", env: { ...process.env, ...env, VIRTUAL_ENV: VENV_DIR } },
  );
  expect(result.status, `kernel install --user:\n${result.stdout}${result.stderr}`).toBe(0);
  expect(await kernelspecNames(page)).toContain(kernel.name);
  await page.reload(); // the page's kernelspec list
  await page.waitForSelector("#jupyterlab-splash", { state: "detached" });
}

/**
 * Record the browser console of every test in this file, and on failure save it as
 * browser-console.txt beside the trace (attached to the report). Returns a reader of the
 * current test's lines.
 */
export function captureConsoleOnFailure(): () => string[] {
  let lines: () => string[] = () => [];
  test.beforeEach(({ page }) => {
    lines = recordConsole(page);
  });
  // eslint-disable-next-line no-empty-pattern -- Playwright wants the fixtures destructured
  test.afterEach(async ({}, testInfo) => {
    if (testInfo.status !== testInfo.expectedStatus) {
      const path = testInfo.outputPath("browser-console.txt");
      writeFileSync(path, lines().join("\n") + "\n");
      await testInfo.attach("browser-console", { path, contentType: "text/plain" });
    }
  });
  return () => lines();
}

/**
 * A notebook on the stagelab kernel (registered first when the server lacks it), and the
 * number of dialogs the page opened from now on (each is dismissed).
 */
export async function stagelabNotebook(
  page: IJupyterLabPageFixture,
): Promise<{ nb: NotebookSession; dialogs: () => number }> {
  await ensureStagelabKernel(page, STAGELAB);
  let dialogs = 0;
  page.on("dialog", (d) => {
    dialogs++;
    void d.dismiss();
  });
  return { nb: await NotebookSession.start(page, STAGELAB), dialogs: () => dialogs };
}

/**
 * File-controlled text stayed text: no injected handler ran (window.__pwned, see HOSTILE), no
 * dialog opened, no uncaught page error (`lines`: from captureConsoleOnFailure).
 */
export async function expectNothingInjected(
  page: IJupyterLabPageFixture,
  dialogs: number,
  lines: string[],
): Promise<void> {
  expect(
    await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned),
  ).toBeUndefined();
  expect(dialogs).toBe(0);
  const pageErrors = lines.filter(
    (l) => l.startsWith("[pageerror]") && !l.includes("No active debugger session"),
  );
  expect(pageErrors).toEqual([]);
}

/**
 * A fresh temp dir for each test of this file (stagelab-<name>-ui-…), removed after it.
 * Returns a reader of the current test's dir.
 */
export function tempDirPerTest(name: string): () => string {
  let dir = "";
  test.beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), `stagelab-${name}-ui-`));
  });
  test.afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  return () => dir;
}
