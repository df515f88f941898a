/**
 * A trivial widget proving the path kernel -> comm -> widget manager -> this extension:
 * shows the model's `text` (as text, never as HTML), follows changes to it, sends
 * `{event: "clicked"}` to the kernel on click, and runs one histogram in the compute worker
 * (its total count lands in `data-worker-count`).
 */
import { DOMWidgetModel, DOMWidgetView, type ISerializers } from "@jupyter-widgets/base";
import { MODULE_NAME, MODULE_VERSION } from "../version.js";
import { computeWorker } from "../workers/index.js";
import { widgetNames } from "../shared/model.js";

export class HelloModel extends DOMWidgetModel {
  static override serializers: ISerializers = { ...DOMWidgetModel.serializers };

  static model_name = "HelloModel";
  static model_module = MODULE_NAME;
  static model_module_version = MODULE_VERSION;
  static view_name = "HelloView";
  static view_module = MODULE_NAME;
  static view_module_version = MODULE_VERSION;

  override defaults(): Backbone.ObjectHash {
    return {
      ...super.defaults(),
      ...widgetNames(HelloModel.model_name, HelloModel.view_name),
      text: "",
    };
  }
}

/** Samples for the worker check: 0..999, so every one of them is counted. */
const WORKER_SAMPLES = Float32Array.from({ length: 1000 }, (_, i) => i);

export class HelloView extends DOMWidgetView {
  private textNode: HTMLSpanElement | undefined;

  override render(): void {
    this.el.classList.add("stagelab-hello");
    this.el.setAttribute("role", "button");
    this.el.tabIndex = 0;
    this.textNode = document.createElement("span");
    this.textNode.className = "stagelab-hello-text";
    this.el.appendChild(this.textNode);
    this.el.addEventListener("click", this.onClick);
    this.el.addEventListener("keydown", this.onKey);
    this.update();
    void this.checkWorker();
  }

  /** Called by the base view on every model change. */
  override update(options?: unknown): void {
    if (this.textNode) this.textNode.textContent = String(this.model.get("text") ?? "");
    super.update(options);
  }

  override remove(): this {
    this.el.removeEventListener("click", this.onClick);
    this.el.removeEventListener("keydown", this.onKey);
    return super.remove();
  }

  private readonly onClick = (): void => {
    this.send({ event: "clicked" });
  };

  private readonly onKey = (event: KeyboardEvent): void => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      this.onClick();
    }
  };

  private async checkWorker(): Promise<void> {
    try {
      const counts = await computeWorker().histogram(WORKER_SAMPLES, 10);
      const total = counts.reduce((sum, n) => sum + n, 0);
      this.el.dataset.workerCount = String(total);
      this.el.dataset.workerBins = String(counts.length);
    } catch (err) {
      this.el.dataset.workerError = err instanceof Error ? err.message : String(err);
      console.error("stagelab: compute worker failed", err);
    }
  }
}
