// The stock @jupyter-widgets/controls render in the real JupyterLab of .venv/ and sync both
// ways: a slider made in the kernel shows up, moving it in the browser changes the kernel's
// value, and setting the value in the kernel moves the slider. Button clicks and Dropdown
// selections made in the browser reach the kernel.
//
// Each kernel under test gives the code for the same steps: ipykernel ("python3", the
// reference that shows the test itself is right) and our TypeScript kernel ("stagelab").

import { expect, test } from "@jupyterlab/galata";
import {
  NotebookSession,
  PYTHON,
  STAGELAB,
  kernelspecNames,
  captureConsoleOnFailure,
  screenshot,
  type KernelUnderTest,
} from "./helpers.js";

interface SliderScenario {
  kernel: KernelUnderTest;
  /** Makes an IntSlider(value=3, min=0, max=10) named `s` and displays it. */
  create: string;
  /** Shows s.value (printed or as the cell's result). */
  print: string;
  /** When set, `print` must give an execute_result (not a printed stream). */
  printIsResult?: boolean;
  /** Sets s.value to 7. */
  setTo7: string;
}

interface ControlsScenario {
  kernel: KernelUnderTest;
  /** Makes a Button "Go" named `b` whose clicks count up `clicks`, and displays it. */
  button: string;
  /** Shows the number of clicks; `clicksAfterTwo` is its output after two clicks. */
  printClicks: string;
  clicksAfterTwo: string;
  /** Makes a Dropdown of "a", "b", "c" (value "a") named `d` and displays it. */
  dropdown: string;
  /** Shows d.value; `valueC` is its output once "c" is selected. */
  printValue: string;
  valueC: string;
}

const SCENARIOS: SliderScenario[] = [
  {
    kernel: PYTHON,
    create: "import ipywidgets as w; s = w.IntSlider(value=3, min=0, max=10); s",
    print: "print(s.value)",
    setTo7: "s.value = 7",
  },
  {
    kernel: STAGELAB,
    create:
      'import { widgets } from "@stagelab/kernel";\n' +
      "const s = new widgets.IntSlider({ value: 3, min: 0, max: 10 });\n" +
      "s",
    print: "s.value",
    printIsResult: true,
    setTo7: "s.value = 7",
  },
];

const CONTROLS: ControlsScenario[] = [
  {
    kernel: PYTHON,
    button:
      "import ipywidgets as w; clicks = [0]; b = w.Button(description='Go'); " +
      "b.on_click(lambda _: clicks.__setitem__(0, clicks[0] + 1)); b",
    printClicks: "print(clicks[0])",
    clicksAfterTwo: "2",
    dropdown: "d = w.Dropdown(options=['a', 'b', 'c'], value='a'); d",
    printValue: "print(d.value)",
    valueC: "c",
  },
  {
    kernel: STAGELAB,
    button:
      'import { widgets } from "@stagelab/kernel";\n' +
      'const b = new widgets.Button({ description: "Go" });\n' +
      "let clicks = 0;\n" +
      "b.onClick(() => clicks++);\n" +
      "b",
    printClicks: "clicks",
    clicksAfterTwo: "2",
    dropdown: 'const d = new widgets.Dropdown({ options: ["a", "b", "c"], value: "a" });\nd',
    printValue: "d.value",
    valueC: '"c"',
  },
];

test.use({ serverFiles: "off" });

// What went wrong in the browser is the first thing to look at when a widget does not render
// or sync: every failing test gets the browser console as browser-console.txt beside its
// trace. (On kernels without a debugger, such as stagelab, JupyterLab's debugger extension
// logs "No active debugger session" page errors after each execution: that is noise.)
captureConsoleOnFailure();

for (const scenario of SCENARIOS) {
  const { kernel } = scenario;

  test.describe(`widgets on ${kernel.name}`, () => {
    test("IntSlider renders and syncs both ways", async ({ page }) => {
      expect(await kernelspecNames(page)).toContain(kernel.name);
      const nb = await test.step("new notebook", () => NotebookSession.start(page, kernel));

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
      const printed = await nb.run(scenario.print);
      if (scenario.printIsResult) await expect(await nb.executeResult(printed)).toHaveText("4");
      expect(await nb.outputText(printed)).toEqual(["4"]);

      // Kernel -> browser: setting the value moves the slider.
      await nb.run(scenario.setTo7);
      await expect(readout).toHaveText("7");
      await expect(handle).toHaveAttribute("aria-valuenow", /^7(\.0+)?$/);

      await slider.scrollIntoViewIfNeeded();
      await screenshot(page, `widgets-${kernel.name}-slider`);
    });
  });
}

for (const scenario of CONTROLS) {
  const { kernel } = scenario;

  test.describe(`widgets on ${kernel.name}`, () => {
    test("Button clicks and Dropdown selection reach the kernel", async ({ page }) => {
      expect(await kernelspecNames(page)).toContain(kernel.name);
      const nb = await test.step("new notebook", () => NotebookSession.start(page, kernel));

      // Button: two clicks in the browser, two calls of the kernel's handler.
      const made = await nb.run(scenario.button);
      const button = (await nb.output(made)).locator("button.jupyter-widgets.widget-button");
      await expect(button).toBeVisible();
      await expect(button).toHaveText("Go");
      await button.click();
      await button.click();
      const clicks = await nb.run(scenario.printClicks);
      expect(await nb.outputText(clicks)).toEqual([scenario.clicksAfterTwo]);

      // Dropdown: "c" chosen in the browser is the kernel's value.
      const shown = await nb.run(scenario.dropdown);
      const select = (await nb.output(shown)).locator(".jupyter-widgets.widget-dropdown select");
      await expect(select).toBeVisible();
      await expect(select).toHaveValue("a");
      await select.selectOption("c");
      await expect(select).toHaveValue("c");
      const value = await nb.run(scenario.printValue);
      expect(await nb.outputText(value)).toEqual([scenario.valueC]);

      await select.scrollIntoViewIfNeeded();
      await screenshot(page, `widgets-${kernel.name}-button-dropdown`);
    });
  });
}
