export {
  RESULT_SCHEMA_VERSION, READABLE_SCHEMA_VERSIONS, META_VERSION, META_SWEEP, META_SPEC_HASH, META_SCHEMA_VERSION, META_BATCHES_CRC, META_MERGED_FROM,
  COLUMNS, COLUMN_NAMES, arrowType, resultSchema,
} from './schema.js';
export type { ColumnKind, ColumnName, ResultMeta } from './schema.js';
export { ResultFileError, PartGoneError, ResultRowError, StorageError, SweepStoreError, SweepOwnedError, describeCause } from './errors.js';
export { validateRow, toTable, encodeResultFile, writeResultFile, writeResultBatches } from './writer.js';
export { writeFileAtomic } from './atomic.js';
export { readResultFile, decodeResultFile, checkResultSchema, tableRows, withCurrentTypes } from './reader.js';
export type { ResultFile } from './reader.js';
export { IpcFileReader, utf8At, utf8Bytes, validity, type ColumnBatch } from './ipc.js';
export { readManifest, writeManifest, validateManifest, type Manifest } from './manifest.js';
export {
  sweepPaths, isPartFileName, isMergedPartName, mergedPartName, listPartNames, readConsistently, scanParts, partFileProblem, damagedPartsError, quarantineParts,
  removeTemps, openSweepForReading, findWinners, WinnerTable, hashBytes, winningBatches, readColumns, readListRows, readPartTable, cellStates,
  ROW_LOST, ROW_OK, ROW_FAILED,
} from './store.js';
export type { SweepPaths, DamagedPart, PartScan, PartExpectation, SweepReadView, Winners, Superseded, WinningBatch, CellState } from './store.js';
export { acquireSweepLock, inspectLock, describeOwner, type LockOwner, type LockOptions, type SweepLock } from './lock.js';
export {
  compactParts, planCompaction, targetRows, type CompactOptions, type CompactionProgress, type CompactionResult, type PartInfo, type PlanOptions, type PlanPart,
} from './compact.js';
export { DEFAULT_COMPACTION_POLICY, type CompactionPolicy } from './compaction-policy.js';
