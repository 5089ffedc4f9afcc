export type { CellTask, Delivery, ExhaustedCell, Queue, ResultDelivery, SweepEvent } from './types.js';
export { InProcessQueue } from './memory.js';
export { closeNats, settleWithin, connectNats, natsOptionsFromEnv, NatsConnectError, type NatsOptions } from './connection.js';
export { keepOnHealthyServer, type ServerHealthOptions } from './server-health.js';
export { NatsQueue, type NatsQueueOptions, type SweepSetup } from './nats.js';
export { CELLS_STREAM, RESULTS_STREAM, SWEEPS_BUCKET, WORKERS_BUCKET, OWNERS_BUCKET, NoStreamsError } from './streams.js';
export { SweepRegistry, WorkerRegistry, type SweepRecord, type WorkerRecord } from './registries.js';
export { claimSweep, describeSweepOwner, SweepClaimedError, type SweepOwner, type SweepClaim, type ClaimOptions } from './ownership.js';
