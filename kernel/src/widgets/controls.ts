/**
 * Standard controls, rendered by the stock @jupyter-widgets/controls 2.0 views (ipywidgets 8).
 * Each creates its Layout and Style models first, as ipywidgets does, since the views
 * expect both to exist.
 */
import { BASE_MODULE, CONTROLS_MODULE, Widget, type WidgetState } from "./widget.js";

export class Layout extends Widget {
  constructor(state: WidgetState = {}) {
    super(
      {
        modelName: "LayoutModel",
        modelModule: BASE_MODULE,
        viewName: "LayoutView",
        viewModule: BASE_MODULE,
      },
      state,
    );
  }
}

export class Style extends Widget {
  constructor(modelName: string, state: WidgetState = {}) {
    super(
      { modelName, modelModule: CONTROLS_MODULE, viewName: "StyleView", viewModule: BASE_MODULE },
      { description_width: "", ...state },
    );
  }
}

interface DescribedOptions {
  description?: string;
  disabled?: boolean;
  tooltip?: string | null;
}

function control<S extends WidgetState>(
  name: string,
  styleModel: string,
  state: S,
): [{ modelName: string; modelModule: string; viewName: string; viewModule: string }, S] {
  const layout = new Layout();
  const style = new Style(styleModel);
  return [
    {
      modelName: `${name}Model`,
      modelModule: CONTROLS_MODULE,
      viewName: `${name}View`,
      viewModule: CONTROLS_MODULE,
    },
    {
      _dom_classes: [],
      description: "",
      description_allow_html: false,
      disabled: false,
      tabbable: null,
      tooltip: null,
      layout: layout.ref,
      style: style.ref,
      ...state,
    },
  ];
}

export interface SliderOptions<T extends number> extends DescribedOptions {
  value?: T;
  min?: T;
  max?: T;
  step?: T;
  continuousUpdate?: boolean;
  orientation?: "horizontal" | "vertical";
  readout?: boolean;
  readoutFormat?: string;
}

interface SliderState extends WidgetState {
  value: number;
  min: number;
  max: number;
  step: number;
}

function sliderState(
  o: SliderOptions<number>,
  defaults: { max: number; step: number; format: string },
): SliderState {
  return {
    value: o.value ?? 0,
    min: o.min ?? 0,
    max: o.max ?? defaults.max,
    step: o.step ?? defaults.step,
    description: o.description ?? "",
    disabled: o.disabled ?? false,
    continuous_update: o.continuousUpdate ?? true,
    orientation: o.orientation ?? "horizontal",
    readout: o.readout ?? true,
    readout_format: o.readoutFormat ?? defaults.format,
    behavior: "drag-tap",
  };
}

export class IntSlider extends Widget<SliderState> {
  constructor(o: SliderOptions<number> = {}) {
    super(
      ...control(
        "IntSlider",
        "SliderStyleModel",
        sliderState(o, { max: 100, step: 1, format: "d" }),
      ),
    );
  }
  get value(): number {
    return this.get("value");
  }
  set value(v: number) {
    this.set({ value: Math.round(v) });
  }
}

export class FloatSlider extends Widget<SliderState> {
  constructor(o: SliderOptions<number> = {}) {
    super(
      ...control(
        "FloatSlider",
        "SliderStyleModel",
        sliderState(o, { max: 10, step: 0.1, format: ".2f" }),
      ),
    );
  }
  get value(): number {
    return this.get("value");
  }
  set value(v: number) {
    this.set({ value: v });
  }
}

interface DropdownState extends WidgetState {
  _options_labels: string[];
  index: number | null;
}

export class Dropdown<T = string> extends Widget<DropdownState> {
  private readonly values: T[];
  constructor(o: DescribedOptions & { options: (T | [string, T])[]; value?: T }) {
    const pairs = o.options.map((x) => (Array.isArray(x) ? x : [String(x), x]) as [string, T]);
    const index =
      o.value === undefined ? (pairs.length ? 0 : null) : pairs.findIndex(([, v]) => v === o.value);
    super(
      ...control("Dropdown", "DescriptionStyleModel", {
        _options_labels: pairs.map(([l]) => l),
        index: index === -1 ? null : index,
        description: o.description ?? "",
        disabled: o.disabled ?? false,
      }),
    );
    this.values = pairs.map(([, v]) => v);
  }
  get value(): T | undefined {
    const i = this.get("index");
    return i === null ? undefined : this.values[i];
  }
  set value(v: T | undefined) {
    const i = this.values.indexOf(v as T);
    this.set({ index: i < 0 ? null : i });
  }
  get label(): string | undefined {
    const i = this.get("index");
    return i === null ? undefined : this.get("_options_labels")[i];
  }
}

export class Button extends Widget {
  private readonly clickHandlers: ((b: Button) => void)[] = [];
  constructor(
    o: DescribedOptions & {
      buttonStyle?: "" | "primary" | "success" | "info" | "warning" | "danger";
      icon?: string;
    } = {},
  ) {
    super(
      ...control("Button", "ButtonStyleModel", {
        description: o.description ?? "",
        disabled: o.disabled ?? false,
        button_style: o.buttonStyle ?? "",
        icon: o.icon ?? "",
        tooltip: o.tooltip ?? null,
      }),
    );
    this.onCustom((content) => {
      if ((content as { event?: string })?.event === "click")
        for (const h of this.clickHandlers) h(this);
    });
  }
  onClick(fn: (b: Button) => void): this {
    this.clickHandlers.push(fn);
    return this;
  }
  override toString(): string {
    return `Button(description=${JSON.stringify(this.get("description"))})`;
  }
}

export class Text extends Widget {
  private readonly submitHandlers: ((t: Text) => void)[] = [];
  constructor(
    o: DescribedOptions & { value?: string; placeholder?: string; continuousUpdate?: boolean } = {},
  ) {
    super(
      ...control("Text", "TextStyleModel", {
        value: o.value ?? "",
        placeholder: o.placeholder ?? "\u200b",
        description: o.description ?? "",
        disabled: o.disabled ?? false,
        continuous_update: o.continuousUpdate ?? true,
      }),
    );
    this.onCustom((content) => {
      if ((content as { event?: string })?.event === "submit")
        for (const h of this.submitHandlers) h(this);
    });
  }
  get value(): string {
    return this.get("value") as string;
  }
  set value(v: string) {
    this.set({ value: v });
  }
  onSubmit(fn: (t: Text) => void): this {
    this.submitHandlers.push(fn);
    return this;
  }
}

export class Label extends Widget {
  constructor(value = "") {
    super(...control("Label", "LabelStyleModel", { value }));
  }
  set value(v: string) {
    this.set({ value: v });
  }
}
