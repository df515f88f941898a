/** What the models of the `@stagelab/widgets` module share. */
import { MODULE_NAME, MODULE_VERSION } from "../version.js";

/** The model and view names and module of a model: the start of its defaults(). */
export function widgetNames(modelName: string, viewName: string): Backbone.ObjectHash {
  return {
    _model_name: modelName,
    _model_module: MODULE_NAME,
    _model_module_version: MODULE_VERSION,
    _view_name: viewName,
    _view_module: MODULE_NAME,
    _view_module_version: MODULE_VERSION,
  };
}

/** The state every view of a file another process may write has (kernel: FollowState). */
export const FOLLOW_DEFAULTS: Readonly<Backbone.ObjectHash> = {
  following: false,
  poll_ms: 500,
  sequence: 0,
  file_state: "",
  error: "",
};
