/** Experimental geometry in dxtbx conventions: models, panels, crystals, corrections. */
export * from "./models.js";
export * from "./vec3.js";
export * from "./panel.js";
export * from "./crystal.js";
export * from "./corrections.js";
export * from "./attenuation.js";
