export type { Cell, DatasetName, BackendChoice, InitScheme, TrainSettings, MeasureSettings, DataSource } from './types.js';
export { DATASETS, BACKENDS, DEFAULT_TRAIN, DEFAULT_MEASURE } from './types.js';
/** Version written into result files and manifests. */
export const HESSWEEP_VERSION = '0.1.0';
export { canonicalJson, cellIdentity, cellId } from './canonical.js';
export type { ResultRow, StageSeconds, RunContext } from './result.js';
export { identityColumns, failedRow, NO_STAGE_SECONDS } from './result.js';
