export type { Cell, DatasetName, BackendChoice, InitScheme, TrainSettings, MeasureSettings, DataSource } from './types.js';
export { DATASETS, BACKENDS, DEFAULT_TRAIN, DEFAULT_MEASURE } from './types.js';
export { canonicalJson, cellIdentity, cellId } from './canonical.js';
export type { ResultRow, StageSeconds } from './result.js';
