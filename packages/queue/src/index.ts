export type { CellTask, Delivery, Queue, ResultDelivery } from './types.js';
export { InProcessQueue } from './memory.js';
export { closeNats, settleWithin, connectNats, natsOptionsFromEnv, NatsConnectError, type NatsOptions } from './connection.js';
export { NatsQueue, NoStreamsError, keysOf, CELLS_STREAM, RESULTS_STREAM, SWEEPS_BUCKET, WORKERS_BUCKET, OWNERS_BUCKET, type NatsQueueOptions, type SweepSetup, type SweepRecord, type WorkerRecord } from './nats.js';
export { claimSweep, describeSweepOwner, SweepClaimedError, type SweepOwner, type SweepClaim, type ClaimOptions } from './ownership.js';
