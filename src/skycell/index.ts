// PS1 skycell pipeline pieces (issue 9): Gaussian PSF convolution, Zarr I/O.
export * from "./convolve.js";
export * from "./zarr.js";
export * from "./asinh.js";
