/**
 * Pieces the widget views build their toolbars from: labelled controls and buttons, controls
 * bound to a model key, the header of a view that follows a file another process writes
 * (file name, status, follow/pause button), and a readout of named fields. Text is set with
 * textContent only.
 */
import type { DOMWidgetView } from "@jupyter-widgets/base";

/** A label with a control, for toolbars (`cls` its class, when given). */
export function labelled(text: string, control: HTMLElement, cls?: string): HTMLLabelElement {
  const l = document.createElement("label");
  if (cls) l.className = cls;
  l.append(document.createTextNode(`${text} `), control);
  return l;
}

export function button(
  text: string,
  cls: string,
  title: string,
  fn: () => void,
): HTMLButtonElement {
  const b = document.createElement("button");
  b.textContent = text;
  b.className = `${cls} jupyter-button`;
  b.title = title;
  b.addEventListener("click", fn);
  return b;
}

/** Set `key` of the view's model and sync it to the kernel. */
export function setState(view: DOMWidgetView, key: string, value: unknown): void {
  view.model.set(key, value);
  view.touch();
}

/** A control that sets `key` of the view's model when it changes (a checkbox: its checked state). */
export function bindControl(
  view: DOMWidgetView,
  control: HTMLInputElement | HTMLSelectElement,
  key: string,
): void {
  control.addEventListener("change", () =>
    setState(
      view,
      key,
      control instanceof HTMLInputElement && control.type === "checkbox"
        ? control.checked
        : control.value,
    ),
  );
}

/**
 * The header of a view following a file: a title, the status ("error: …", "● live", "paused"
 * or the file's state, from the model's error / following / file_state) and a button that
 * flips the model's `following`. Classes `<prefix>-header`, `-file`, `-status`, `-follow`
 * (and the shared sl-header, sl-status).
 */
export class FollowHeader {
  readonly el = document.createElement("div");
  readonly status = document.createElement("span");
  readonly button = document.createElement("button");

  /** `extra` stands between the title and the status; `resume` labels the button while paused. */
  constructor(
    private readonly view: DOMWidgetView,
    prefix: string,
    title: string,
    extra: HTMLElement[] = [],
    private readonly resume = "follow",
  ) {
    this.el.className = `sl-header ${prefix}-header`;
    const t = document.createElement("span");
    t.className = `${prefix}-file`;
    t.textContent = title;
    this.status.className = `sl-status ${prefix}-status`;
    this.status.setAttribute("aria-live", "polite");
    this.button.className = `${prefix}-follow jupyter-button`;
    this.button.addEventListener("click", () =>
      setState(view, "following", !view.model.get("following")),
    );
    this.el.append(t, ...extra, this.status, this.button);
  }

  /** Status and button from the model; returns whether the view follows the file. */
  render(): boolean {
    const model = this.view.model;
    const state = String(model.get("file_state") ?? "");
    const following = Boolean(model.get("following"));
    const err = String(model.get("error") ?? "");
    this.status.textContent = err
      ? `error: ${err}`
      : following
        ? "● live"
        : state === "writing"
          ? "paused"
          : state;
    this.button.textContent = following ? "pause" : this.resume;
    this.button.disabled = state !== "writing" && !following;
    return following;
  }

  /** A failed request (until the model's state next renders). */
  error(message: unknown): void {
    this.status.textContent = `error: ${String(message ?? "request failed")}`;
  }
}

/**
 * A readout of named fields ("key value" pairs, `–` until set): classes `<prefix>-field`,
 * `-key` and `-value` (and the shared sl-fields, sl-key); each value carries its key as
 * `data-field`.
 */
export function buildFields(
  readout: HTMLElement,
  prefix: string,
  fields: readonly (readonly [key: string, name: string])[],
): void {
  readout.classList.add("sl-fields");
  for (const [key, name] of fields) {
    const item = document.createElement("span");
    item.className = `${prefix}-field`;
    const k = document.createElement("span");
    k.className = `sl-key ${prefix}-key`;
    k.textContent = name;
    const v = document.createElement("span");
    v.className = `${prefix}-value`;
    v.dataset.field = key;
    v.textContent = "–";
    item.append(k, document.createTextNode(" "), v);
    readout.appendChild(item);
  }
}

/** Set a field of a readout built by buildFields (`raw`: its value as `data-raw`). */
export function setField(readout: HTMLElement, key: string, text: string, raw?: string): void {
  const el = readout.querySelector<HTMLElement>(`[data-field="${key}"]`);
  if (!el) return;
  el.textContent = text;
  if (raw !== undefined) el.dataset.raw = raw;
  else delete el.dataset.raw;
}
