/**
 * The kernel side of the Jupyter widget protocol 2.1.0.
 *
 * A model is a comm with target `jupyter.widget`, opened with `{state, buffer_paths}` and
 * metadata `{version: "2.1.0"}`. Binary values (ArrayBuffer, typed arrays) are cut out of
 * the state at `buffer_paths` and travel as message buffers. The frontend sends `update`
 * (we apply it and answer `echo_update` so every view agrees), `request_state` (we send
 * the full state) and `custom`; the kernel sends `update` and `custom`.
 */
import type { Comm, CommMessage } from "../comm.js";
import { kernelApi } from "../kernel-api.js";
import { DISPLAY_SYMBOL, type MimeBundle } from "../format.js";

export const PROTOCOL_VERSION = "2.1.0";
export const CONTROLS_MODULE = "@jupyter-widgets/controls";
export const BASE_MODULE = "@jupyter-widgets/base";
export const MODULE_VERSION = "2.0.0";

/**
 * The `_model_module_version` / `_view_module_version` a model asks for when not given:
 * MODULE_VERSION for the @jupyter-widgets modules, any version ("*", as ipywidgets' own
 * `Widget` does) for other modules such as @stagelab/widgets. The frontend's widget manager
 * matches it as a semver range against the version the module registered with (a bare
 * "2.0.0" would mean ^2.0.0 and miss a module at 0.1.0).
 */
export function defaultModuleVersion(module: string): string {
  return module.startsWith("@jupyter-widgets/") ? MODULE_VERSION : "*";
}

export type WidgetState = Record<string, unknown>;
type Path = (string | number)[];

/** Replace binary leaves with null and return them with their paths. */
export function extractBuffers(state: WidgetState): {
  state: WidgetState;
  buffers: Uint8Array[];
  paths: Path[];
} {
  const buffers: Uint8Array[] = [];
  const paths: Path[] = [];
  const walk = (v: unknown, path: Path): unknown => {
    if (v instanceof ArrayBuffer) {
      buffers.push(new Uint8Array(v));
      paths.push(path);
      return null;
    }
    if (ArrayBuffer.isView(v)) {
      buffers.push(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
      paths.push(path);
      return null;
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, [...path, i]));
    if (v && typeof v === "object" && !(v instanceof Widget)) {
      const o: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) o[k] = walk(x, [...path, k]);
      return o;
    }
    return v instanceof Widget ? v.ref : v;
  };
  const out = walk(state, []) as WidgetState;
  return { state: out, buffers, paths };
}

/** Put received buffers back at their paths. */
export function insertBuffers(
  state: WidgetState,
  paths: Path[],
  buffers: Uint8Array[],
): WidgetState {
  paths.forEach((p, i) => {
    let obj: Record<string | number, unknown> = state;
    for (let k = 0; k < p.length - 1; k++) obj = obj[p[k]!] as Record<string | number, unknown>;
    obj[p[p.length - 1]!] = buffers[i];
  });
  return state;
}

export type ChangeHandler<S extends WidgetState> = (change: {
  name: keyof S & string;
  old: unknown;
  new: unknown;
  owner: Widget<S>;
}) => void;

export class Widget<S extends WidgetState = WidgetState> {
  readonly comm: Comm;
  protected state: S;
  private readonly observers: { names: Set<string> | "all"; fn: ChangeHandler<S> }[] = [];
  private readonly customHandlers: ((content: unknown, buffers: Uint8Array[]) => void)[] = [];

  constructor(
    model: {
      modelName: string;
      modelModule: string;
      viewName: string | null;
      viewModule: string;
      /** Semver range of modelModule; default: defaultModuleVersion(modelModule). */
      modelModuleVersion?: string;
      /** Semver range of viewModule; default: defaultModuleVersion(viewModule). */
      viewModuleVersion?: string;
    },
    state: S,
  ) {
    this.state = {
      _model_name: model.modelName,
      _model_module: model.modelModule,
      _model_module_version: model.modelModuleVersion ?? defaultModuleVersion(model.modelModule),
      _view_name: model.viewName,
      _view_module: model.viewModule,
      _view_module_version: model.viewModuleVersion ?? defaultModuleVersion(model.viewModule),
      _view_count: null,
      ...state,
    };
    const { state: wire, buffers, paths } = extractBuffers(this.state);
    this.comm = kernelApi().comms.open(
      "jupyter.widget",
      { state: wire, buffer_paths: paths },
      { version: PROTOCOL_VERSION },
      buffers,
    );
    this.comm.onMsg((m) => this.handle(m));
    registry.set(this.comm.commId, this as unknown as Widget);
    this.comm.onClose(() => registry.delete(this.comm.commId));
  }

  get modelId(): string {
    return this.comm.commId;
  }

  /** How other models refer to this one in their state. */
  get ref(): string {
    return `IPY_MODEL_${this.modelId}`;
  }

  get<K extends keyof S>(key: K): S[K] {
    return this.state[key];
  }

  /** Change state here and in every view. */
  set(patch: Partial<S>): void {
    const changed = this.apply(patch);
    if (Object.keys(changed).length === 0) return;
    const { state, buffers, paths } = extractBuffers(changed);
    this.comm.send({ method: "update", state, buffer_paths: paths }, buffers);
  }

  /** Call `fn` when any of `names` (or any key) changes, from the kernel or a view. */
  observe(fn: ChangeHandler<S>, names?: (keyof S & string)[]): this {
    this.observers.push({ names: names ? new Set(names) : "all", fn });
    return this;
  }

  onCustom(fn: (content: unknown, buffers: Uint8Array[]) => void): this {
    this.customHandlers.push(fn);
    return this;
  }

  /** A custom message to the views. */
  sendCustom(
    content: Record<string, unknown>,
    buffers: (ArrayBuffer | ArrayBufferView)[] = [],
  ): void {
    this.comm.send({ method: "custom", content }, buffers);
  }

  /** Full state as sent on the wire (used by request_state and the widget.control target). */
  wireState(): { state: WidgetState; buffers: Uint8Array[]; paths: Path[] } {
    return extractBuffers(this.state);
  }

  close(): void {
    this.comm.close();
    registry.delete(this.modelId);
  }

  [DISPLAY_SYMBOL](): MimeBundle {
    return {
      "application/vnd.jupyter.widget-view+json": {
        model_id: this.modelId,
        version_major: 2,
        version_minor: 0,
      },
      "text/plain": this.toString(),
    };
  }

  toString(): string {
    const name = String(this.state._model_name).replace(/Model$/, "");
    const v = (this.state as WidgetState).value;
    return v === undefined ? `${name}()` : `${name}(value=${JSON.stringify(v)})`;
  }

  private apply(patch: Partial<S>): Partial<S> {
    const changed: Partial<S> = {};
    for (const [k, v] of Object.entries(patch) as [keyof S & string, unknown][]) {
      const old = this.state[k];
      if (old === v) continue;
      (this.state as WidgetState)[k] = v;
      (changed as WidgetState)[k] = v;
      for (const o of this.observers) {
        if (o.names === "all" || o.names.has(k)) o.fn({ name: k, old, new: v, owner: this });
      }
    }
    return changed;
  }

  /** Hook for subclasses: map an incoming view update before it is applied. */
  protected fromView(patch: WidgetState): Partial<S> {
    return patch as Partial<S>;
  }

  private handle(m: CommMessage): void {
    const data = m.data as {
      method?: string;
      state?: WidgetState;
      buffer_paths?: Path[];
      content?: unknown;
    };
    switch (data.method) {
      case "update": {
        const incoming = insertBuffers(
          { ...(data.state ?? {}) },
          data.buffer_paths ?? [],
          m.buffers,
        );
        // Echo first (2.1.0): every view, including the sender, converges on this state.
        this.comm.send(
          { method: "echo_update", state: data.state ?? {}, buffer_paths: data.buffer_paths ?? [] },
          m.buffers,
        );
        this.apply(this.fromView(incoming));
        break;
      }
      case "request_state": {
        const { state, buffers, paths } = this.wireState();
        this.comm.send({ method: "update", state, buffer_paths: paths }, buffers);
        break;
      }
      case "custom":
        for (const h of this.customHandlers) h(data.content, m.buffers);
        break;
      default:
        break;
    }
  }
}

/** Every live widget model of this kernel, by model id (for `jupyter.widget.control`). */
export const registry = new Map<string, Widget>();

/**
 * The `jupyter.widget.control` target: a frontend asks for every model's state at once
 * (e.g. after a page reload) instead of one request_state per model.
 */
export function registerWidgetControl(): void {
  kernelApi().comms.registerTarget("jupyter.widget.control", (comm) => {
    comm.onMsg((m) => {
      if ((m.data as { method?: string }).method !== "request_states") return;
      const states: Record<string, WidgetState> = {};
      const bufferPaths: Record<string, Path[]> = {};
      const buffers: Uint8Array[] = [];
      for (const [id, w] of registry) {
        const s = w.wireState();
        states[id] = s.state;
        bufferPaths[id] = s.paths.map((p) => [...p]);
        // Buffers are numbered globally: paths are [model_id, ...path] in ipywidgets' format.
        buffers.push(...s.buffers);
      }
      const flatPaths: Path[] = [];
      for (const [id, paths] of Object.entries(bufferPaths))
        for (const p of paths) flatPaths.push([id, ...p]);
      comm.send({ method: "update_states", states, buffer_paths: flatPaths }, buffers);
    });
  });
}
