export {
  Widget,
  registry,
  extractBuffers,
  insertBuffers,
  PROTOCOL_VERSION,
  type WidgetState,
  type ChangeHandler,
} from "./widget.js";
export {
  IntSlider,
  FloatSlider,
  Dropdown,
  Button,
  Text,
  Label,
  Layout,
  Style,
  type SliderOptions,
} from "./controls.js";
