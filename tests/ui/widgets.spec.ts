// The stock @jupyter-widgets/controls render in the real JupyterLab of .venv/ and sync both
// ways: a slider made in the kernel shows up, moving it in the browser changes the kernel's
// value, and setting the value in the kernel moves the slider.
//
// Each kernel under test gives the code for the same three steps; a TypeScript kernel
// ("stagelab") only needs another entry in SCENARIOS.

import { expect, test } from "@jupyterlab/galata";
import {
  NotebookSession,
  PYTHON,
  kernelspecNames,
  screenshot,
  type KernelUnderTest,
} from "./helpers.js";

interface SliderScenario {
  kernel: KernelUnderTest;
  /** Makes an IntSlider(value=3, min=0, max=10) named `s` and displays it. */
  create: string;
  /** Prints s.value. */
  print: string;
  /** Sets s.value to 7. */
  setTo7: string;
}

const SCENARIOS: SliderScenario[] = [
  {
    kernel: PYTHON,
    create: "import ipywidgets as w; s = w.IntSlider(value=3, min=0, max=10); s",
    print: "print(s.value)",
    setTo7: "s.value = 7",
  },
];

test.use({ serverFiles: "off" });

for (const scenario of SCENARIOS) {
  const { kernel } = scenario;

  test.describe(`widgets on ${kernel.name}`, () => {
    test("IntSlider renders and syncs both ways", async ({ page }) => {
      expect(await kernelspecNames(page)).toContain(kernel.name);
      const nb = await NotebookSession.start(page, kernel);

      // Kernel -> browser: the widget view renders in the output.
      const created = await nb.run(scenario.create);
      const slider = (await nb.output(created)).locator(".jupyter-widgets.widget-slider");
      await expect(slider).toBeVisible();
      const readout = slider.locator(".widget-readout");
      await expect(readout).toHaveText("3");

      // Browser -> kernel: one step right with the keyboard on the slider handle.
      const handle = slider.locator(".noUi-handle");
      await handle.focus();
      await handle.press("ArrowRight");
      await expect(readout).toHaveText("4");
      expect(await nb.runText(scenario.print)).toEqual(["4"]);

      // Kernel -> browser: setting the value moves the slider.
      await nb.run(scenario.setTo7);
      await expect(readout).toHaveText("7");
      await expect(handle).toHaveAttribute("aria-valuenow", /^7(\.0+)?$/);

      await slider.scrollIntoViewIfNeeded();
      await screenshot(page, `widgets-${kernel.name}-slider`);
    });
  });
}
