export { Worker, dryRunner, type WorkerOptions, type WorkerEvent, type CellRunner } from './worker.js';
export type { CellRequest } from './protocol.js';
export { CellThread, CellError, ThreadLostError } from './cell-thread.js';
export { MemoryBudget, OverBudgetError, curvatureEngineFor, memoryLimit, WORKER_RESERVE, type MemorySources } from './memory.js';
