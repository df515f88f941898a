/**
 * CubeFit (seed 003): a disk-backed spectral HyperCube models[s, c, p, l] and a global fit of
 * one non-negative weight vector x[C * P] that explains every spaxel's spectrum.
 */
export * from "./layout.js";
