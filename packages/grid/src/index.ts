export type { Cell, DatasetName, BackendChoice, InitScheme, TrainSettings, MeasureSettings, DataSource } from './types.js';
export { DATASETS, BACKENDS, DEFAULT_TRAIN, DEFAULT_MEASURE } from './types.js';
export { canonicalJson, cellIdentity, cellId } from './canonical.js';
export type { ResultRow, StageSeconds, RunContext } from './result.js';
export { identityColumns, failedRow, NO_STAGE_SECONDS } from './result.js';
