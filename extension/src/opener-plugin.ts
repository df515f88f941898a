/**
 * "Open in H5View" for HDF5 files in the file browser (context menu and command palette).
 */
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from "@jupyterlab/application";
import { MainAreaWidget } from "@jupyterlab/apputils";
import { IFileBrowserFactory } from "@jupyterlab/filebrowser";

export const HDF5_EXTENSIONS = [".h5", ".hdf5", ".hdf", ".nxs", ".emd"];
const COMMAND = "stagelab:open-h5view";

export const openerPlugin: JupyterFrontEndPlugin<void> = {
  id: "@stagelab/jupyterlab:h5view-opener",
  description: "Opens HDF5 files from the file browser in H5View.",
  requires: [IFileBrowserFactory],
  autoStart: true,
  activate: (app: JupyterFrontEnd, browsers: IFileBrowserFactory): void => {
    app.docRegistry.addFileType({
      name: "hdf5",
      displayName: "HDF5 file",
      extensions: HDF5_EXTENSIONS,
      contentType: "file",
      fileFormat: "base64",
      mimeTypes: ["application/x-hdf5"],
    });
    app.commands.addCommand(COMMAND, {
      label: "Open in H5View",
      caption: "Browse this HDF5 file live (a stagelab kernel reads it)",
      execute: async (args) => {
        const path =
          (args.path as string | undefined) ??
          browsers.tracker.currentWidget?.selectedItems().next()?.value?.path;
        if (!path) return;
        const { H5FilePanel } = await import("./h5view/opener.js");
        const widget = new MainAreaWidget({ content: new H5FilePanel(app.serviceManager, path) });
        widget.title.label = path.split("/").pop() ?? path;
        app.shell.add(widget, "main");
      },
    });
    app.contextMenu.addItem({
      command: COMMAND,
      selector: '.jp-DirListing-item[data-file-type="hdf5"]',
      rank: 1,
    });
  },
};
