export { runSweep, SweepError, type SweepPlan, type SweepOptions, type SweepProgress, type SweepOutcome } from './coordinator.js';
export { sweepPaths, readManifest, scanDone, partFiles, type Manifest, type CellStatus } from './sweep-dir.js';
