/** Relative scaling and merging of diffuse observations (plan Modules 3.S.3 and 3.S.4). */
export * from "./relative.js";
export * from "./merge.js";
export * from "./errors.js";
export * from "./observations.js";
