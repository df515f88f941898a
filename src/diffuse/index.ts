/** Diffuse scattering from stills: masks, per-pixel extraction and corrections, the stage. */
export * from "./masks.js";
export * from "./bragg-mask.js";
export * from "./extract-panel.js";
export * from "./extract-stills.js";
export * from "./pixel-list.js";
export * from "./detector-view.js";
export * from "./errors.js";
export * from "./merge-stage.js";
export * from "./pipeline.js";
