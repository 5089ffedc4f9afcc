export {
  RESULT_SCHEMA_VERSION, META_VERSION, META_SPEC_HASH, META_SCHEMA_VERSION, COLUMNS, COLUMN_NAMES, arrowType, resultSchema,
} from './schema.js';
export type { ColumnKind, ColumnName, ResultMeta } from './schema.js';
export { ResultFileError, ResultRowError } from './errors.js';
export { validateRow, toTable, writeResultFile } from './writer.js';
export { writeFileAtomic } from './atomic.js';
export { readResultFile, readResultDir, decodeResultFile, checkResultSchema, isPartFileName } from './reader.js';
export type { ResultFile } from './reader.js';
