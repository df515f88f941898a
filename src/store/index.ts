export {
  StoreWriter,
  DatasetWriter,
  defaultChunks,
  type DatasetSpec,
  type WriterOptions,
  type CommitInfo,
  type OpenOptions,
} from "./writer.js";
export {
  StoreReader,
  type StoreArray,
  type DatasetInfo,
  type AxisSelection,
  type TreeNode,
  type ReaderOptions,
} from "./reader.js";
export { inspectSameRun } from "./same-run.js";
export { rebuildFromCommitted, type RecoveryReport } from "./recover.js";
export {
  DTYPES,
  itemBytes,
  isDType,
  type DType,
  type TypedArray,
  type TypedArrayFor,
} from "./dtype.js";
export { type Compression } from "./compression.js";
export { type Provenance } from "./provenance.js";
export { type Attrs, type AttrValue, type JsonValue } from "./h5file.js";
export { lockPathFor, liveWriter } from "./lock.js";
export * from "./errors.js";
export {
  AsyncStoreReader,
  AsyncStoreWriter,
  StoreThread,
  sharedStoreThread,
} from "./worker/store-client.js";
