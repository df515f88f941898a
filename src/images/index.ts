export {
  parseCbf,
  parseCbfHeader,
  readCbf,
  readCbfSync,
  encodeCbf,
  writeCbf,
  writeCbfSync,
  isPilatusLayout,
  type CbfImage,
  type CbfImageInput,
  type CbfBinaryInfo,
  type CbfElementType,
  type CbfCompression,
  type ParseCbfOptions,
  type EncodeCbfOptions,
} from "./cbf.js";
export { parseMiniCbfHeader, formatMiniCbfLines, type MiniCbfHeader } from "./minicbf-header.js";
export { decodeByteOffset, encodeByteOffset, byteOffsetSize } from "./byte-offset.js";
export {
  openNexusStack,
  type NexusStack,
  type NexusStackOptions,
  type FrameArray,
  type ImageDType,
} from "./nexus.js";
export {
  openImageSource,
  readStillImage,
  splitPanels,
  type ImageSource,
  type ImageSourceOptions,
  type StillImage,
  type RawImage,
} from "./source.js";
export * from "./errors.js";
