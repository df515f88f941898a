/**
 * H5View from the file browser: "Open in H5View" on an HDF5 file starts a stagelab kernel
 * for a panel of its own, runs `h5view(file)` there, and shows the widget through a small
 * widget manager bound to that kernel (the notebook's manager only serves notebooks). The
 * file is read by the kernel through the store, never downloaded into the page.
 */
import { ManagerBase } from "@jupyter-widgets/base-manager";
import {
  shims,
  type DOMWidgetView,
  type IClassicComm,
  type WidgetModel,
  type WidgetView,
} from "@jupyter-widgets/base";
import type { Kernel, KernelMessage, ServiceManager, Session } from "@jupyterlab/services";
import { Panel } from "@lumino/widgets";
import { MODULE_NAME } from "../version.js";

const WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json";

/** Widget manager for one kernel and one panel. */
class PanelWidgetManager extends ManagerBase {
  constructor(private readonly kernel: Kernel.IKernelConnection) {
    super();
    kernel.registerCommTarget(this.comm_target_name, async (comm, msg) => {
      await this.handle_comm_open(
        new shims.services.Comm(comm),
        msg as unknown as Parameters<ManagerBase["handle_comm_open"]>[1],
      );
    });
  }

  protected async loadClass(
    className: string,
    moduleName: string,
  ): Promise<typeof WidgetModel | typeof WidgetView> {
    const module: Record<string, unknown> =
      moduleName === MODULE_NAME
        ? await import("../widgets/index.js")
        : moduleName === "@jupyter-widgets/base"
          ? await import("@jupyter-widgets/base")
          : {};
    const cls = module[className];
    if (!cls)
      throw new Error(`class ${className} of ${moduleName} is not available in an H5View panel`);
    return cls as typeof WidgetModel;
  }

  protected async _create_comm(
    target: string,
    modelId?: string,
    data?: object,
    metadata?: object,
    buffers?: ArrayBuffer[] | ArrayBufferView[],
  ): Promise<IClassicComm> {
    const comm = this.kernel.createComm(target, modelId);
    if (data || metadata) comm.open(data as never, metadata as never, buffers);
    return new shims.services.Comm(comm);
  }

  protected async _get_comm_info(): Promise<object> {
    const reply = await this.kernel.requestCommInfo({ target_name: this.comm_target_name });
    return reply.content.status === "ok" ? reply.content.comms : {};
  }
}

export class H5FilePanel extends Panel {
  private session: Session.ISessionConnection | undefined;

  constructor(
    private readonly services: ServiceManager.IManager,
    readonly path: string,
  ) {
    super();
    this.addClass("stagelab-h5file");
    this.title.label = path.split("/").pop() ?? path;
    this.title.caption = path;
    this.title.closable = true;
    this.node.tabIndex = -1;
    const status = document.createElement("div");
    status.className = "stagelab-h5file-status";
    status.textContent = `Starting a stagelab kernel for ${path}…`;
    this.node.appendChild(status);
    void this.start(status);
  }

  private async start(status: HTMLElement): Promise<void> {
    try {
      this.session = await this.services.sessions.startNew({
        path: `${this.path}.h5view`,
        name: this.title.label,
        type: "h5view",
        kernel: { name: "stagelab" },
      });
      const kernel = this.session.kernel;
      if (!kernel) throw new Error("the kernel did not start");
      const manager = new PanelWidgetManager(kernel);
      const name = this.path.split("/").pop() ?? this.path;
      let modelId = "";
      const future = kernel.requestExecute({
        code: `import { h5view } from "@stagelab/kernel";\nawait h5view(${JSON.stringify(name)})`,
        store_history: false,
      });
      future.onIOPub = (msg: KernelMessage.IIOPubMessage) => {
        const content = msg.content as {
          data?: Record<string, { model_id?: string }>;
          evalue?: string;
        };
        const view = content.data?.[WIDGET_VIEW_MIME];
        if (view?.model_id) modelId = view.model_id;
        if (msg.header.msg_type === "error")
          status.textContent = `Cannot open ${this.path}: ${content.evalue ?? ""}`;
      };
      await future.done;
      if (!modelId) return;
      const model = await manager.get_model(modelId);
      const view = (await manager.create_view(model)) as DOMWidgetView;
      status.remove();
      this.addWidget(view.luminoWidget);
    } catch (e) {
      status.textContent = `Cannot open ${this.path}: ${(e as Error).message}`;
    }
  }

  override dispose(): void {
    if (this.isDisposed) return;
    void this.session?.shutdown();
    super.dispose();
  }
}
