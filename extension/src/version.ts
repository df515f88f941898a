/**
 * The widget module this extension registers with the Jupyter widget manager. Kernel-side
 * models name it in `_model_module` / `_view_module`; the manager matches their
 * `_model_module_version` (a semver range) against MODULE_VERSION.
 */
export const MODULE_NAME = "@stagelab/widgets";

/** Always the version of extension/package.json (a unit test checks). */
export const MODULE_VERSION = "0.1.0";
