export type { Cell, DatasetName, BackendChoice, TrainerChoice, InitScheme, TrainSettings, MeasureSettings, StabilizationSettings, DataSource } from './types.js';
export { DATASETS, BACKENDS, NATIVE_TFJS_PACKAGES, TRAINERS, DEFAULT_TRAIN, DEFAULT_MEASURE } from './types.js';
/** Version written into result files and manifests. */
export const HESSWEEP_VERSION = '0.3.0';
export { canonicalJson, cellIdentity, cellId } from './canonical.js';
export type { ResultRow, StageSeconds, RunContext, RequestedContext } from './result.js';
export { identityColumns, failedRow, NO_STAGE_SECONDS } from './result.js';
export type { SweepSpec, GridAxes } from './spec.js';
export { SPEC_KEYS, GRID_KEYS, TRAIN_KEYS, MEASURE_KEYS, MEASURE_SETTING_KEYS, STABILIZATION_KEYS, SYNTHETIC_KEYS, DEFAULT_SEEDS, SWEEP_NAME_PATTERN, SWEEP_NAME_MAX, sweepNameProblem } from './spec.js';
export { SpecError } from './errors.js';
export { parseSpec, readSpec, cellFromFlags, specHash, specSettingsHash, type ParseOptions } from './validate.js';
export { DATASET_SIZES, SYNTHETIC_DEFAULTS, trainingSetSize, datasetShape, dataSourceFor } from './datasets.js';
export { makeCell, cellCost, pointCost, parseWhere, WHERE_FIELDS, type GridPoint } from './expand.js';
export { planGrid, expandGrid, GridPlan, type PlanSource } from './plan.js';
export { SETTINGS, SETTING_NAMES, isRequired, parameterCount, type Setting, type SettingName, type Check } from './settings.js';
export { LIMITS, FLOAT32_MAX } from './limits.js';
export { editDistance, closest, didYouMean } from './suggest.js';
export { processAlive } from './host.js';
export { cellMemory, formatBytes, MEMORY_MODEL, PRODUCT_PASS_FLOATS, HUTCHINSON_BATCH, type MemoryEstimate, type CurvatureEngineName } from './memory.js';
