// Our own JupyterLab extension (@stagelab/jupyterlab, extension/) in the real JupyterLab of
// .venv/: it is installed and enabled, registers the @stagelab/widgets module with the stock
// widget manager, and its HelloView renders a kernel-side model made on the stagelab kernel:
// the text shows as text (never HTML), clicks reach the kernel as custom messages, state
// changes from the kernel show up, and the view's compute web worker (its own chunk in
// labextension/static/) loads from the extension's public path and answers.

import { expect, test } from "@jupyterlab/galata";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { ROOT, VENV_DIR } from "../../.ci/setup.mjs";
import {
  NotebookSession,
  STAGELAB,
  ensureStagelabKernel,
  captureConsoleOnFailure,
  screenshot,
  serverJupyterEnv,
} from "./helpers.js";

/** `jupyter labextension list` of the venv, with the server's Jupyter dirs; ANSI codes removed. */
function labextensionList(): { status: number | null; text: string } {
  const result = spawnSync(join(VENV_DIR, "bin", "jupyter"), ["labextension", "list"], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, ...serverJupyterEnv(), NO_COLOR: "1", PYTHONWARNINGS: "ignore" },
  });
  // It prints the list on stderr or stdout depending on the version; colours as ANSI codes.
  // eslint-disable-next-line no-control-regex -- stripping ANSI colour codes
  const text = `${result.stdout}${result.stderr}`.replace(/\x1b\[[0-9;]*m/g, "");
  return { status: result.status, text };
}

const HELLO_CELL =
  'import { widgets } from "@stagelab/kernel";\n' +
  "class Hello extends widgets.Widget { constructor(text: string) { super({ " +
  'modelName: "HelloModel", modelModule: "@stagelab/widgets", viewName: "HelloView", ' +
  'viewModule: "@stagelab/widgets" }, { text }); } }\n' +
  'const h = new Hello("<img src=x onerror=alert(1)>hi"); let clicks = 0; ' +
  "h.onCustom(() => clicks++); h";

const HOSTILE_TEXT = "<img src=x onerror=alert(1)>hi";

test.use({ serverFiles: "off" });

const consoleLines = captureConsoleOnFailure();

test.describe("@stagelab/jupyterlab extension", () => {
  test("is enabled; HelloView renders text, sends clicks, follows state, runs its worker", async ({
    page,
  }) => {
    const dialogs: string[] = [];
    page.on("dialog", (dialog) => {
      dialogs.push(`${dialog.type()}: ${dialog.message()}`);
      void dialog.dismiss();
    });
    // What the page fetches from our extension (the worker chunk among it).
    const fetched: string[] = [];
    page.on("response", (response) => {
      if (response.url().includes("/lab/extensions/@stagelab/jupyterlab/")) {
        fetched.push(`${response.status()} ${response.url()}`);
      }
    });

    await test.step("jupyter labextension list shows it enabled", () => {
      const { status, text } = labextensionList();
      expect(status, text).toBe(0);
      expect(text).toMatch(/@stagelab\/jupyterlab v0\.1\.0 enabled\s+OK/);
      expect(text).toMatch(/@jupyter-widgets\/jupyterlab-manager v5\.0\.16 enabled\s+OK/);
    });

    // The page loaded our remoteEntry (JupyterLab lists federated extensions in its config).
    const federated = await page.evaluate(() => {
      const el = document.getElementById("jupyter-config-data");
      const config = JSON.parse(el?.textContent ?? "{}") as {
        federated_extensions?: { name: string; load: string }[];
      };
      return (config.federated_extensions ?? []).map((e) => e.name);
    });
    expect(federated).toContain("@stagelab/jupyterlab");

    await ensureStagelabKernel(page, STAGELAB);
    const nb = await test.step("new notebook", () => NotebookSession.start(page, STAGELAB));

    // Kernel -> browser: the view renders the text as text.
    const made = await nb.run(HELLO_CELL);
    const output = await nb.output(made);
    const hello = output.locator(".stagelab-hello");
    await expect(hello).toBeVisible();
    await expect(hello).toHaveText(HOSTILE_TEXT);
    await expect(output.locator("img")).toHaveCount(0);

    // The compute worker ran once (1000 samples into 10 bins) and was served from our
    // extension's static dir.
    await expect(hello).toHaveAttribute("data-worker-count", "1000");
    await expect(hello).toHaveAttribute("data-worker-bins", "10");
    expect(await hello.getAttribute("data-worker-error")).toBeNull();
    expect(
      fetched.some((line) =>
        /^200 .*\/lab\/extensions\/@stagelab\/jupyterlab\/static\/stagelab-compute\.[0-9a-f]+\.js/.test(
          line,
        ),
      ),
      `worker chunk not fetched; fetched:\n${fetched.join("\n")}`,
    ).toBe(true);

    await hello.scrollIntoViewIfNeeded();
    await screenshot(page, "extension-hello-text");

    // Browser -> kernel: a click is a custom message {event: "clicked"}.
    await hello.click();
    const clicks = await nb.run("clicks");
    expect(await nb.outputText(clicks)).toEqual(["1"]);

    // Kernel -> browser: a state change updates the view.
    await nb.run('h.set({ text: "changed" })');
    await expect(hello).toHaveText("changed");
    await expect(hello).toHaveAttribute("data-worker-count", "1000");

    await hello.scrollIntoViewIfNeeded();
    await screenshot(page, "extension-hello");

    // Nothing ran the text as HTML: no alert() fired, no widget errors in the console.
    expect(dialogs).toEqual([]);
    const errors = consoleLines().filter(
      (line) => /^\[(error|pageerror)\]/.test(line) && /widget|stagelab|worker/i.test(line),
    );
    expect(errors).toEqual([]);
  });
});
