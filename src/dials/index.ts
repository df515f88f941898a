/** DIALS files without DIALS: experiment lists (.expt) and reflection tables (.refl). */

export { DialsError, DialsFormatError, DialsColumnError } from "./errors.js";
export {
  parseExperimentList,
  readExperimentList,
  serializeExperimentList,
  writeExperimentList,
  dxtbxExtras,
  type ParseExperimentListOptions,
} from "./experiment-list.js";
export {
  ReflectionTable,
  parseReflectionTable,
  readReflectionTable,
  serializeReflectionTable,
  writeReflectionTable,
  selectExperiment,
  columnLength,
  REFLECTION_TABLE_MAGIC,
  REFLECTION_TABLE_VERSION,
  type BBox,
  type Column,
  type ColumnOf,
  type ColumnType,
  type ParseOptions,
  type RawColumn,
  type ReflectionTableData,
  type SerializeOptions,
  type Shoebox,
} from "./reflection-table.js";
