import { AckPolicy, DiscardPolicy, RetentionPolicy, StorageType, nanos, type JetStreamManager } from 'nats';

/**
 * Where hessweep keeps its state on a NATS server, and how it is created: the two work streams, their
 * per-sweep consumers, and the names of the KV buckets. Only this module knows the subjects.
 */
export const CELLS_STREAM = 'HESSWEEP_CELLS';
export const RESULTS_STREAM = 'HESSWEEP_RESULTS';
export const SWEEPS_BUCKET = 'hessweep_sweeps';
export const WORKERS_BUCKET = 'hessweep_workers';
/** Which coordinator holds each sweep (ownership.ts); only coordinators use it. */
export const OWNERS_BUCKET = 'hessweep_owners';

/** Health probes of long-lived clients (server-health.ts): one small write per client every few seconds, kept in memory for a minute. */
export const HEALTH_STREAM = 'HESSWEEP_HEALTH';
export const healthSubject = (client: string) => `hessweep.health.${client}`;

export const cellsSubject = (sweep: string, cellId = '*') => `hessweep.${sweep}.cells.${cellId}`;
export const resultsSubject = (sweep: string, cellId = '*') => `hessweep.${sweep}.results.${cellId}`;
export const cellsConsumer = (sweep: string) => `cells-${sweep}`;
export const resultsConsumer = (sweep: string) => `results-${sweep}`;
/** The server's advisory for a cell delivered MaxDeliver times without an ack. */
export const exhaustedAdvisory = (sweep: string) => `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${CELLS_STREAM}.${cellsConsumer(sweep)}`;

/** Workers pulling one sweep's cells at once, at most (a pull request each; set when the consumer is created). */
const MAX_WAITING_PULLS = 16_384;

/** How long a worker's entry in the workers bucket stands without a refresh. */
export const WORKER_TTL_MS = 60_000;

/** The streams a worker or a status query binds to are not there: no coordinator has created them. */
export class NoStreamsError extends Error {
  override name = 'NoStreamsError';
}

export function isNotFound(error: unknown): boolean {
  const e = error as { code?: string; api_error?: { code?: number }; message?: string };
  return e.code === '404' || e.api_error?.code === 404 || /not found/i.test(e.message ?? '');
}

/** A workers' or status client's check that a coordinator has created the streams and buckets. */
export async function requireStreams(jsm: JetStreamManager): Promise<void> {
  for (const stream of [CELLS_STREAM, RESULTS_STREAM, `KV_${SWEEPS_BUCKET}`, `KV_${WORKERS_BUCKET}`]) {
    try {
      await jsm.streams.info(stream);
    } catch (error) {
      if (isNotFound(error)) throw new NoStreamsError(`stream ${stream} does not exist on this NATS server yet: no hessweep coordinator has run here`);
      throw error;
    }
  }
}

/**
 * The coordinator's set-up. Cells: WorkQueue retention, one subject per cell holding at most one message
 * with discard-new-per-subject, so that re-publishing a queued cell is refused by the server. Results: one
 * subject per cell, WorkQueue retention (a row leaves the stream once the coordinator has it on disk).
 */
export async function createStreams(jsm: JetStreamManager, replicas: number): Promise<void> {
  await ensureStream(jsm, {
    name: CELLS_STREAM,
    subjects: ['hessweep.*.cells.*'],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    num_replicas: replicas,
    max_msgs_per_subject: 1,
    discard: DiscardPolicy.New,
    discard_new_per_subject: true,
  });
  await ensureStream(jsm, {
    name: RESULTS_STREAM,
    subjects: ['hessweep.*.results.*'],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    num_replicas: replicas,
  });
  await ensureStream(jsm, {
    name: HEALTH_STREAM,
    subjects: [healthSubject('*')],
    storage: StorageType.Memory,
    num_replicas: replicas,
    max_msgs_per_subject: 1,
    max_age: nanos(60_000),
  });
}

export interface ConsumerSetup {
  /** Deliveries of a cell before it is recorded as failed. */
  maxAttempts: number;
  /** Lease of a delivered cell; workers extend it while the cell runs. */
  ackWaitMs: number;
}

/**
 * A sweep's two durable pull consumers with explicit acks: cells (AckWait extended by heartbeats,
 * MaxDeliver = attempts) and results (acked by the coordinator once the row is on disk).
 */
export async function createSweepConsumers(jsm: JetStreamManager, sweep: string, setup: ConsumerSetup): Promise<void> {
  await ensureConsumer(jsm, CELLS_STREAM, {
    durable_name: cellsConsumer(sweep),
    filter_subject: cellsSubject(sweep),
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(setup.ackWaitMs),
    max_deliver: setup.maxAttempts,
    max_ack_pending: 10_000,
    // Pull requests waiting at once: one per worker (the server's default, 512, refuses the 513th worker's
    // pull at once, and a thousand workers would then spin on refusals).
    max_waiting: MAX_WAITING_PULLS,
  });
  await ensureConsumer(jsm, RESULTS_STREAM, {
    durable_name: resultsConsumer(sweep),
    filter_subject: resultsSubject(sweep),
    ack_policy: AckPolicy.Explicit,
    // Rows in flight when a connection drops come back after this; the coordinator acks within a part write.
    ack_wait: nanos(15_000),
    max_ack_pending: 20_000,
  });
}

/** Creates the stream, or brings an existing one to the configured replica count. */
async function ensureStream(jsm: JetStreamManager, config: Parameters<JetStreamManager['streams']['add']>[0]): Promise<void> {
  let existing;
  try {
    existing = await jsm.streams.info(config.name!);
  } catch (error) {
    if (!isNotFound(error)) throw error;
    await jsm.streams.add(config);
    return;
  }
  if ((existing.config.num_replicas ?? 1) !== config.num_replicas) {
    await jsm.streams.update(config.name!, { ...existing.config, num_replicas: config.num_replicas });
  }
}

async function ensureConsumer(jsm: JetStreamManager, stream: string, config: Parameters<JetStreamManager['consumers']['add']>[1]): Promise<void> {
  try {
    await jsm.consumers.info(stream, config.durable_name!);
    await jsm.consumers.update(stream, config.durable_name!, { ack_wait: config.ack_wait, max_deliver: config.max_deliver });
  } catch (error) {
    if (!isNotFound(error)) throw error;
    await jsm.consumers.add(stream, config);
  }
}
