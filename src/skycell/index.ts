// PS1 skycell pipeline pieces (issue 9): Gaussian PSF convolution, Zarr I/O.
export * from "./convolve.js";
export * from "./convolve-fft.js";
export * from "./zarr.js";
export * from "./asinh.js";
export * from "./dataset.js";
export * from "./config.js";
export * from "./geometry.js";
export * from "./output.js";
export * from "./plan.js";
export * from "./pipeline.js";
