/** Pure helpers for array viewers (browser-safe: no Node or DOM APIs). */
export * from "./colormap.js";
export * from "./stats.js";
export * from "./plan.js";
export * from "./parts.js";
export { view as typedView, itemBytes, DTYPES, type DType } from "../store/dtype.js";
export * from "./fft.js";
export * from "./decode.js";
export * from "./voxel-map.js";
