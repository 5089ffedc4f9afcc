export { runSweep, SweepError, type SweepPlan, type SweepOptions, type SweepProgress, type SweepOutcome } from './coordinator.js';
export { SweepRecordKeeper } from './sweep-record.js';
