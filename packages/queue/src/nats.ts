import {
  AckPolicy,
  DiscardPolicy,
  JSONCodec,
  RetentionPolicy,
  StorageType,
  nanos,
  type Consumer,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type KV,
  type NatsConnection,
  type Subscription,
} from 'nats';
import { failedRow, type ResultRow } from '@hessweep/grid';
import type { CellTask, Delivery, Queue, ResultDelivery } from './types.js';

export const CELLS_STREAM = 'HESSWEEP_CELLS';
export const RESULTS_STREAM = 'HESSWEEP_RESULTS';
export const SWEEPS_BUCKET = 'hessweep_sweeps';
export const WORKERS_BUCKET = 'hessweep_workers';
/** Which coordinator holds each sweep (ownership.ts); only coordinators use it. */
export const OWNERS_BUCKET = 'hessweep_owners';

const cellsSubject = (sweep: string, cellId = '*') => `hessweep.${sweep}.cells.${cellId}`;
const resultsSubject = (sweep: string, cellId = '*') => `hessweep.${sweep}.results.${cellId}`;
const cellsConsumer = (sweep: string) => `cells-${sweep}`;
const resultsConsumer = (sweep: string) => `results-${sweep}`;

/** A sweep's entry in the sweeps bucket: what `status` shows and what workers look for. */
export interface SweepRecord {
  sweep: string;
  state: 'running' | 'done' | 'cancelled';
  total: number;
  ok: number;
  failed: number;
  max_attempts: number;
  started: string;
  updated: string;
}

/** A worker's entry in the workers bucket, refreshed while it runs; the bucket's TTL forgets dead workers. */
export interface WorkerRecord {
  name: string;
  slots: number;
  busy: number;
  done: number;
  sweeps: string[];
  seen: string;
}

export interface NatsQueueOptions {
  /**
   * Create the streams and buckets where missing, and bring their replica count to `replicas` (the
   * coordinator). Otherwise bind to existing ones (workers, status, cancel), so that a worker started first
   * never creates them with its own defaults.
   */
  create?: boolean;
  /** Stream and bucket replicas (3 on a 3-node cluster); with `create`. */
  replicas?: number;
  /** Serve only this sweep (workers); default every running sweep in the sweeps bucket. */
  sweep?: string;
  /** How long each pull waits for a cell before looking at other sweeps. */
  pullWaitMs?: number;
}

export interface SweepSetup {
  /** Deliveries of a cell before it is recorded as failed. */
  maxAttempts: number;
  /** Lease of a delivered cell; workers extend it while the cell runs. */
  ackWaitMs: number;
  total: number;
}

const json = JSONCodec();

/** Cell publications awaiting the server's acknowledgement at once while enqueueing. */
const ENQUEUE_IN_FLIGHT = 512;

/** How long a stopping worker keeps trying to publish a finished row before it drops it for redelivery. */
const STOPPING_PUBLISH_MS = 10_000;
/** How long one publication waits for the server's acknowledgement (the client's default). */
const PUBLISH_TIMEOUT_MS = 5000;

/** The streams a worker or a status query binds to are not there: no coordinator has created them. */
export class NoStreamsError extends Error {
  override name = 'NoStreamsError';
}

function isNotFound(error: unknown): boolean {
  const e = error as { code?: string; api_error?: { code?: number }; message?: string };
  return e.code === '404' || e.api_error?.code === 404 || /not found/i.test(e.message ?? '');
}

/**
 * The distributed engine on NATS JetStream (2.9+). Cells: stream HESSWEEP_CELLS, WorkQueue retention, one
 * subject per cell (`hessweep.<sweep>.cells.<cell>`) holding at most one message with discard-new-per-subject,
 * so re-publishing a queued cell is refused by the server; a durable pull consumer per sweep with explicit
 * acks, AckWait extended by heartbeats and MaxDeliver = attempts. Results: stream HESSWEEP_RESULTS, one
 * subject per cell, a durable consumer per sweep that the coordinator acks once the row is on disk.
 * Sweeps and workers are listed in KV buckets. A cell that exhausts its deliveries without a worker
 * reporting it (the worker died each time) is turned into a failed row from the max-deliveries advisory.
 */
export class NatsQueue implements Queue {
  private readonly consumers = new Map<string, { consumer: Consumer; maxDeliver: number; ackWaitMs: number }>();
  private readonly open = new Set<ConsumerMessages>();
  private readonly subscriptions = new Set<Subscription>();
  private sweepsCache: { at: number; sweeps: string[] } = { at: 0, sweeps: [] };
  private turn = 0;
  private closed = false;

  private constructor(
    readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    readonly sweeps: KV,
    readonly workers: KV,
    private readonly options: NatsQueueOptions,
    /** The owners bucket; opened by coordinators (`create`) only. */
    readonly owners: KV | null = null,
  ) {}

  /** Binds to the streams and buckets, creating them first with `options.create`. */
  static async open(nc: NatsConnection, options: NatsQueueOptions = {}): Promise<NatsQueue> {
    const jsm = await nc.jetstreamManager();
    const js = nc.jetstream();
    if (!options.create) {
      for (const stream of [CELLS_STREAM, RESULTS_STREAM, `KV_${SWEEPS_BUCKET}`, `KV_${WORKERS_BUCKET}`]) {
        try {
          await jsm.streams.info(stream);
        } catch (error) {
          if (isNotFound(error)) throw new NoStreamsError(`stream ${stream} does not exist on this NATS server yet: no hessweep coordinator has run here`);
          throw error;
        }
      }
      const sweeps = await js.views.kv(SWEEPS_BUCKET, { bindOnly: true });
      const workers = await js.views.kv(WORKERS_BUCKET, { bindOnly: true });
      return new NatsQueue(nc, js, jsm, sweeps, workers, options);
    }
    const replicas = options.replicas ?? 1;
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
    const sweeps = await js.views.kv(SWEEPS_BUCKET, { history: 1, replicas });
    const workers = await js.views.kv(WORKERS_BUCKET, { history: 1, replicas, ttl: 60_000 });
    const owners = await js.views.kv(OWNERS_BUCKET, { history: 1, replicas });
    return new NatsQueue(nc, js, jsm, sweeps, workers, options, owners);
  }

  /** Creates the sweep's consumers and marks it running, so that workers start pulling its cells; returns the record written. */
  async prepareSweep(sweep: string, setup: SweepSetup): Promise<SweepRecord> {
    await ensureConsumer(this.jsm, CELLS_STREAM, {
      durable_name: cellsConsumer(sweep),
      filter_subject: cellsSubject(sweep),
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(setup.ackWaitMs),
      max_deliver: setup.maxAttempts,
      max_ack_pending: 10_000,
    });
    await ensureConsumer(this.jsm, RESULTS_STREAM, {
      durable_name: resultsConsumer(sweep),
      filter_subject: resultsSubject(sweep),
      ack_policy: AckPolicy.Explicit,
      // Rows in flight when a connection drops come back after this; the coordinator acks within a part write.
      ack_wait: nanos(15_000),
      max_ack_pending: 20_000,
    });
    const now = new Date().toISOString();
    const previous = await this.sweepRecord(sweep);
    const record: SweepRecord = {
      sweep,
      state: 'running',
      total: setup.total,
      ok: previous?.ok ?? 0,
      failed: previous?.failed ?? 0,
      max_attempts: setup.maxAttempts,
      started: previous?.state === 'running' ? previous.started : now,
      updated: now,
    };
    await this.putSweep(record);
    return record;
  }

  async sweepRecord(sweep: string): Promise<SweepRecord | null> {
    const entry = await this.sweeps.get(sweep);
    return entry && entry.value.length > 0 ? (json.decode(entry.value) as SweepRecord) : null;
  }

  async putSweep(record: SweepRecord): Promise<void> {
    await this.sweeps.put(record.sweep, json.encode(record));
  }

  /** Stops a sweep: its queued cells are purged and workers stop pulling it. */
  async cancelSweep(sweep: string): Promise<number> {
    const record = await this.sweepRecord(sweep);
    if (record) await this.putSweep({ ...record, state: 'cancelled', updated: new Date().toISOString() });
    const purged = await this.jsm.streams.purge(CELLS_STREAM, { filter: cellsSubject(sweep, '>') });
    return purged.purged;
  }

  /** Cells queued and leased, from the sweep's consumer. */
  async queueState(sweep: string): Promise<{ pending: number; leased: number; redelivered: number } | null> {
    try {
      const info = await this.jsm.consumers.info(CELLS_STREAM, cellsConsumer(sweep));
      return { pending: info.num_pending, leased: info.num_ack_pending, redelivered: info.num_redelivered };
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  /**
   * Publishes the cells that are neither queued nor waiting as results: a cell whose message is still in
   * the stream is refused by the server (one message per subject), and one whose result is in the results
   * stream (finished while no coordinator was reading) is skipped. No message id: the server's duplicate
   * window would silently drop a cell queued again minutes after its results were deleted; the
   * one-message-per-subject rule already keeps a cell from being queued twice.
   */
  async enqueue(tasks: Iterable<CellTask>, onProgress?: (looked: number) => void): Promise<number> {
    const pendingResults = new Map<string, Set<string>>();
    const inFlight = new Set<Promise<void>>();
    let added = 0;
    let looked = 0;
    let failure: unknown = null;
    const publish = async (task: CellTask) => {
      try {
        await this.js.publish(cellsSubject(task.sweep, task.cellId), json.encode(task));
        added++;
      } catch (error) {
        // Still queued or leased: one message per subject, the server refuses the second (JSStreamStoreFailedError 10077).
        if ((error as { api_error?: { err_code?: number } }).api_error?.err_code !== 10077) failure ??= error;
      }
    };
    for (const task of tasks) {
      if (failure) break;
      looked++;
      if (!pendingResults.has(task.sweep)) pendingResults.set(task.sweep, await this.cellsWithResults(task.sweep));
      if (pendingResults.get(task.sweep)!.has(task.cellId)) continue;
      const publication: Promise<void> = publish(task).finally(() => inFlight.delete(publication));
      inFlight.add(publication);
      // Tasks are taken from the grid only as fast as the server takes them: a million-cell grid is never a
      // million pending publications.
      if (inFlight.size >= ENQUEUE_IN_FLIGHT) await Promise.race(inFlight);
      if (looked % 10_000 === 0) onProgress?.(looked);
    }
    await Promise.all(inFlight);
    if (failure) throw failure;
    onProgress?.(looked);
    return added;
  }

  private async cellsWithResults(sweep: string): Promise<Set<string>> {
    const info = await this.jsm.streams.info(RESULTS_STREAM, { subjects_filter: resultsSubject(sweep) });
    return new Set(Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(subject.lastIndexOf('.') + 1)));
  }

  async next(signal?: AbortSignal): Promise<Delivery | null> {
    while (!this.closed && !signal?.aborted) {
      try {
        const delivery = await this.pull(signal);
        if (delivery !== undefined) return delivery;
      } catch (error) {
        // A restarting server or a leader election: the client reconnects by itself; ask again shortly.
        if (this.closed) return null;
        this.onTransientError?.(error as Error);
        await sleep(500, signal);
      }
    }
    return null;
  }

  /** Called with errors that a retry absorbs (a worker logs them). */
  onTransientError?: (error: Error) => void;

  /** One round of looking for a cell: a delivery, null when stopping, undefined to look again. */
  private async pull(signal?: AbortSignal): Promise<Delivery | null | undefined> {
    const sweeps = await this.sweepsWithWork();
    if (sweeps.length === 0) {
      await sleep(500, signal);
      return undefined;
    }
    const sweep = sweeps[this.turn++ % sweeps.length];
    const bound = await this.consumer(CELLS_STREAM, cellsConsumer(sweep));
    if (!bound) return undefined;
    let msg: JsMsg | null;
    try {
      // One sweep: a long poll answers as soon as a cell is queued. Several: short pulls, taking turns.
      const expires = this.options.pullWaitMs ?? (sweeps.length > 1 ? 1000 : 5000);
      msg = await withTimeout(bound.consumer.next({ expires }), expires + 3000);
    } catch (error) {
      if (error instanceof PullTimeout) {
        // The pull went unanswered (its consumer's leader was lost): bind afresh and pull again.
        this.consumers.delete(cellsConsumer(sweep));
        return undefined;
      }
      if (!isNotFound(error)) throw error;
      this.consumers.delete(cellsConsumer(sweep));
      return undefined;
    }
    if (!msg) return undefined;
    if (signal?.aborted || this.closed) {
      msg.nak();
      return null;
    }
    return this.delivery(msg, bound.maxDeliver, bound.ackWaitMs);
  }

  /**
   * The sweeps worth pulling from: with one sweep (or `options.sweep`) that one; with several, those whose
   * consumer has cells waiting, so that idle sweeps cost a cheap info request, not a pull timeout each.
   */
  private async sweepsWithWork(): Promise<string[]> {
    const sweeps = await this.activeSweeps();
    if (sweeps.length <= 1) return sweeps;
    const waiting = await Promise.all(
      sweeps.map(async (sweep) => {
        const bound = await this.consumer(CELLS_STREAM, cellsConsumer(sweep));
        if (!bound) return false;
        try {
          const info = await bound.consumer.info(false);
          return info.num_pending > 0 || info.num_redelivered > 0 || info.num_ack_pending > 0;
        } catch (error) {
          if (isNotFound(error)) return false;
          throw error;
        }
      }),
    );
    return sweeps.filter((_, i) => waiting[i]);
  }

  private delivery(msg: JsMsg, maxAttempts: number, leaseMs: number): Delivery {
    const task = json.decode(msg.data) as CellTask;
    return {
      task,
      // The queued message's sequence tells this queuing of the cell from an earlier one (results deleted, cell queued again).
      id: `${msg.info.streamSequence}.${msg.info.deliveryCount}`,
      attempt: msg.info.deliveryCount,
      maxAttempts,
      leaseMs,
      working: () => msg.working(),
      // The row is already published (and acknowledged by the server); should this ack be lost, the cell is
      // redelivered and its second row dropped by cell id: not worth a round trip per cell.
      ack: async () => msg.ack(),
      nak: async () => msg.nak(),
    };
  }

  /**
   * Publishes a row, retrying through reconnects and leader elections (the message id, one per delivery,
   * dedups the retries): for up to a minute, or, once `signal` aborts (the worker is stopping), for at most
   * STOPPING_PUBLISH_MS more, tries included. Past that the row is dropped with an error: its cell was never
   * acked, so it is delivered again.
   */
  async publishResult(row: ResultRow, deliveryId: string, signal?: AbortSignal): Promise<void> {
    const started = Date.now();
    let stoppingDeadline: number | null = null;
    for (;;) {
      if (signal?.aborted) stoppingDeadline ??= Date.now() + STOPPING_PUBLISH_MS;
      const deadline = stoppingDeadline ?? started + 60_000;
      const timeout = Math.max(500, Math.min(PUBLISH_TIMEOUT_MS, deadline - Date.now()));
      try {
        await this.js.publish(resultsSubject(row.sweep, row.cell_id), json.encode(row), { msgID: `${row.sweep}.${row.cell_id}.${deliveryId}`, timeout });
        return;
      } catch (error) {
        if (this.nc.isClosed() || Date.now() >= deadline) throw error;
        this.onTransientError?.(error as Error);
        await sleep(Math.min(500, deadline - Date.now()));
      }
    }
  }

  async *results(sweep: string): AsyncIterable<ResultDelivery> {
    const bound = await this.consumer(RESULTS_STREAM, resultsConsumer(sweep));
    if (!bound) throw new Error(`sweep ${sweep} has no results consumer; prepareSweep first`);
    await this.watchExhausted(sweep);
    // Short pulls: a pull lost with a cluster node is noticed (missed heartbeats) and renewed within seconds.
    const messages = await bound.consumer.consume({ max_messages: 256, expires: 5000 });
    this.open.add(messages);
    try {
      for await (const msg of messages) {
        yield { row: json.decode(msg.data) as ResultRow, ack: async () => msg.ack() };
      }
    } finally {
      messages.stop();
      this.open.delete(messages);
    }
  }

  /**
   * A cell delivered MaxDeliver times without an ack (its worker died every time) stays in a WorkQueue
   * stream, undeliverable: record it as a failed row through the results stream, then delete it.
   */
  private async watchExhausted(sweep: string): Promise<void> {
    const subscription = this.nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${CELLS_STREAM}.${cellsConsumer(sweep)}`);
    this.subscriptions.add(subscription);
    void (async () => {
      for await (const advisory of subscription) {
        try {
          const { stream_seq: seq, deliveries } = json.decode(advisory.data) as { stream_seq: number; deliveries: number };
          const stored = await this.jsm.streams.getMessage(CELLS_STREAM, { seq });
          const task = json.decode(stored.data) as CellTask;
          const context = { sweep, worker: 'coordinator', attempt: deliveries, backend: 'unknown' };
          await this.publishResult(failedRow(task.cell, context, `no worker finished the cell in ${deliveries} deliveries (each worker died or timed out)`), `${seq}.${deliveries}`);
          await this.jsm.streams.deleteMessage(CELLS_STREAM, seq);
        } catch (error) {
          if (!isNotFound(error)) throw error;
        }
      }
    })();
  }

  private async consumer(stream: string, name: string): Promise<{ consumer: Consumer; maxDeliver: number; ackWaitMs: number } | null> {
    const known = this.consumers.get(name);
    if (known) return known;
    try {
      const consumer = await this.js.consumers.get(stream, name);
      const { config } = await consumer.info(true);
      const bound = { consumer, maxDeliver: config.max_deliver ?? -1, ackWaitMs: (config.ack_wait ?? 30e9) / 1e6 };
      this.consumers.set(name, bound);
      return bound;
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  /**
   * The sweeps a worker serves: the given one, or those marked running in the bucket, re-read every 2 s
   * (every 0.5 s while there are none).
   * When the bucket cannot be read (after a node loss, 2.9 answers some KV requests only after a timeout)
   * the last known list is kept, so that pulling goes on meanwhile.
   */
  private async activeSweeps(): Promise<string[]> {
    if (this.options.sweep) return [this.options.sweep];
    // An idle worker looks again soon, so that a new sweep is picked up within half a second.
    const maxAge = this.sweepsCache.sweeps.length > 0 ? 2000 : 500;
    if (Date.now() - this.sweepsCache.at < maxAge) return this.sweepsCache.sweeps;
    try {
      const sweeps: string[] = [];
      for (const key of await keysOf(this.sweeps)) {
        const record = await this.sweepRecord(key);
        if (record?.state === 'running') sweeps.push(key);
      }
      this.sweepsCache = { at: Date.now(), sweeps };
    } catch (error) {
      if (this.sweepsCache.at === 0) throw error;
      this.onTransientError?.(error as Error);
      this.sweepsCache = { ...this.sweepsCache, at: Date.now() };
    }
    return this.sweepsCache.sweeps;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const messages of this.open) messages.stop();
    for (const subscription of this.subscriptions) subscription.unsubscribe();
  }
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

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Every key of a bucket. The keys iterator must be drained before other requests are awaited: awaiting
 * inside its loop ends it after the first key (nats.js 2.29).
 */
export async function keysOf(kv: KV): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of await kv.keys()) keys.push(key);
  return keys;
}

class PullTimeout extends Error {}

/** `promise`, or a PullTimeout after `ms` (the late result, if any, is dropped: its lease runs out and it is redelivered). */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new PullTimeout(`no answer to a pull in ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
