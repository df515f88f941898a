/**
 * The JupyterLab plugin: registers the `@stagelab/widgets` module with the widget manager
 * of `@jupyter-widgets/jupyterlab-manager` (ipywidgets 8), which then creates our models and
 * views for kernel-side widgets whose `_model_module` / `_view_module` name it.
 */
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from "@jupyterlab/application";
import { IJupyterWidgetRegistry } from "@jupyter-widgets/base";
import { MODULE_NAME, MODULE_VERSION } from "./version.js";
import { openerPlugin } from "./opener-plugin.js";

const widgetsPlugin: JupyterFrontEndPlugin<void> = {
  id: "@stagelab/jupyterlab:widgets",
  description: "Registers the @stagelab/widgets widget module (HelloModel/HelloView, ...).",
  requires: [IJupyterWidgetRegistry],
  autoStart: true,
  activate: (_app: JupyterFrontEnd, registry: IJupyterWidgetRegistry): void => {
    registry.registerWidget({
      name: MODULE_NAME,
      version: MODULE_VERSION,
      // The widget classes (and what they import) load only when a model needs them.
      exports: () => import("./widgets/index.js"),
    });
  },
};

export default [widgetsPlugin, openerPlugin];
