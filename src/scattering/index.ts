/**
 * Scattering factors and absolute scaling for the diffuse pipeline (seed 001, Phase 4):
 * WK1995 form factors, Hubbell incoherent scattering, unit-cell inventories, and the
 * Krogh-Moe / Norman absolute scale.
 */
export * from "./errors.js";
export * from "./form-factors.js";
export * from "./incoherent.js";
export * from "./composition.js";
export * from "./absolute-scale.js";
