import { JSONCodec, type JetStreamManager, type KV, type NatsConnection } from 'nats';
import type { ResultRow } from '@hessweep/grid';
import { EventChannel } from './channel.js';
import { PipelinedPublisher } from './publisher.js';
import { PullInbox, type PulledMessage, type PullError } from './pulls.js';
import { SweepRegistry, WorkerRegistry, type SweepRecord } from './registries.js';
import {
  CELLS_STREAM, OWNERS_BUCKET, RESULTS_STREAM, cellsConsumer, cellsSubject, createStreams, createSweepConsumers, exhaustedAdvisory, isNotFound,
  requireStreams, resultsConsumer, resultsSubject, type ConsumerSetup,
} from './streams.js';
import type { CellTask, Delivery, Queue, SweepEvent } from './types.js';

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

export interface SweepSetup extends ConsumerSetup {
  total: number;
}

const json = JSONCodec();

/** What a worker needs of a sweep's cells consumer: its deliveries per cell and its lease. */
type CellsLease = { maxDeliver: number; ackWaitMs: number };

/** Cell publications awaiting the server's acknowledgement at once while enqueueing. */
const ENQUEUE_IN_FLIGHT = 512;
/** How long a stopping worker keeps trying to publish a finished row before it drops it for redelivery. */
const STOPPING_PUBLISH_MS = 10_000;
/** How long one publication waits for the server's acknowledgement (the client's default). */
const PUBLISH_TIMEOUT_MS = 5000;
/** How often a worker re-reads which sweeps are running (an idle one sooner, to pick up a new sweep fast). */
const SWEEPS_REFRESH_MS = 5000;
const IDLE_SWEEPS_REFRESH_MS = 1500;
/** The coordinator's pulls of rows: up to 512 at once (a part's worth at high rates), each waiting up to 5 s. */
const ROWS_PER_PULL = 512;
const ROWS_WAIT_MS = 5000;

/**
 * The distributed engine on NATS JetStream (2.9+), the dispatch side: cells in and out of the cells stream
 * (streams.ts sets them up), rows through the results stream, the sweep and worker registries (KV). Workers
 * pull cells in batches sized by their free slots; the coordinator consumes rows in batches and learns of
 * cells that used up their deliveries from the server's advisory.
 */
export class NatsQueue implements Queue {
  private readonly leases = new Map<string, CellsLease>();
  private readonly stops = new Set<() => void>();
  private sweepsCache: { at: number; sweeps: string[]; refreshMs: number } = { at: 0, sweeps: [], refreshMs: 0 };
  /** Of the running sweeps last read, those with cells waiting (several sweeps only). */
  private withWork: { of: NatsQueue['sweepsCache']; sweeps: string[] } | null = null;
  private turn = 0;
  private readonly publisher: PipelinedPublisher;
  private readonly pulls: PullInbox;
  closed = false;

  private constructor(
    readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    readonly sweeps: SweepRegistry,
    readonly workers: WorkerRegistry,
    private readonly options: NatsQueueOptions,
    /** The owners bucket; opened by coordinators (`create`) only. */
    readonly owners: KV | null = null,
  ) {
    this.publisher = new PipelinedPublisher(nc);
    this.pulls = new PullInbox(nc);
  }

  /** Binds to the streams and buckets, creating them first with `options.create`. */
  static async open(nc: NatsConnection, options: NatsQueueOptions = {}): Promise<NatsQueue> {
    const jsm = await nc.jetstreamManager();
    const js = nc.jetstream();
    if (!options.create) {
      await requireStreams(jsm);
      return new NatsQueue(nc, jsm, await SweepRegistry.open(js, jsm, null), await WorkerRegistry.open(js, jsm, null), options);
    }
    const replicas = options.replicas ?? 1;
    await createStreams(jsm, replicas);
    const sweeps = await SweepRegistry.open(js, jsm, { replicas });
    const workers = await WorkerRegistry.open(js, jsm, { replicas });
    const owners = await js.views.kv(OWNERS_BUCKET, { history: 1, replicas });
    return new NatsQueue(nc, jsm, sweeps, workers, options, owners);
  }

  /** Creates the sweep's consumers and marks it running, so that workers start pulling its cells; returns the record written. */
  async prepareSweep(sweep: string, setup: SweepSetup): Promise<SweepRecord> {
    await createSweepConsumers(this.jsm, sweep, setup);
    const now = new Date().toISOString();
    const previous = await this.sweeps.get(sweep);
    const record: SweepRecord = {
      sweep,
      state: 'running',
      total: setup.total,
      ok: previous?.ok ?? 0,
      failed: previous?.failed ?? 0,
      max_attempts: setup.maxAttempts,
      lease_ms: setup.ackWaitMs,
      started: previous?.state === 'running' ? previous.started : now,
      updated: now,
    };
    await this.sweeps.put(sweep, record);
    return record;
  }

  /** Stops a sweep: its queued cells are purged and workers stop pulling it. */
  async cancelSweep(sweep: string): Promise<number> {
    const record = await this.sweeps.get(sweep);
    if (record) await this.sweeps.put(sweep, { ...record, state: 'cancelled', updated: new Date().toISOString() });
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
        await this.publisher.publish(cellsSubject(task.sweep, task.cellId), json.encode(task), { timeoutMs: PUBLISH_TIMEOUT_MS });
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

  /**
   * One pull of up to `max` cells from one running sweep (taking turns between sweeps), its cells yielded as
   * they arrive. Errors that a retry absorbs (a restarting server, a leader election) end the pull after a
   * short pause, reported through `onTransientError`; a refusal (too many pulls waiting) only pauses.
   */
  async *pull(max: number, signal?: AbortSignal): AsyncIterable<Delivery> {
    if (this.closed || signal?.aborted) return;
    let lease: CellsLease | null = null;
    let sweep = '';
    let several = false;
    try {
      const sweeps = await this.sweepsWithWork();
      if (sweeps.length === 0) {
        await sleep(IDLE_SWEEPS_REFRESH_MS, signal);
        return;
      }
      several = sweeps.length > 1;
      sweep = sweeps[this.turn++ % sweeps.length];
      lease = await this.cellsLease(sweep);
    } catch (error) {
      if (this.closed) return;
      this.onTransientError?.(error as Error);
      await sleep(500, signal);
      return;
    }
    if (!lease) {
      // Its consumer is gone (the sweep was cancelled or removed): look again after the sweeps are re-read.
      await sleep(IDLE_SWEEPS_REFRESH_MS, signal);
      return;
    }
    // One sweep: a long poll answers as soon as a cell is queued. Several: short pulls, taking turns.
    const expires = this.options.pullWaitMs ?? (several ? 1000 : 5000);
    try {
      for await (const msg of this.pulls.pull(CELLS_STREAM, cellsConsumer(sweep), max, expires, signal)) {
        if (signal?.aborted || this.closed) msg.nak();
        else yield this.delivery(msg, lease.maxDeliver, lease.ackWaitMs);
      }
    } catch (error) {
      if (this.closed || signal?.aborted) return;
      const code = (error as PullError).code;
      if (code === '404') {
        // The consumer is gone (the sweep cancelled or removed): look again after the sweeps are re-read.
        this.leases.delete(sweep);
        await sleep(IDLE_SWEEPS_REFRESH_MS, signal);
        return;
      }
      // Refused, or unanswered (2.9 does not answer pulls waiting on a consumer it deletes, nor those lost
      // with a leader): pull again after a pause. Other errors are worth a line in the worker's log.
      if (code !== '409' && code !== 'TIMEOUT') this.onTransientError?.(error as Error);
      await pauseAfterRefusal(signal);
    }
  }

  /** Called with errors that a retry absorbs (a worker logs them). */
  onTransientError?: (error: Error) => void;

  /**
   * The sweeps worth pulling from: with one sweep (or `options.sweep`) that one; with several, those whose
   * consumer had cells waiting when the list was last read, so that idle sweeps do not hold pulls until they
   * expire. Asked with the list, not per pull: a consumer's info costs the server time in proportion to the
   * cells queued (one subject each), and a thousand workers asking per pull stalled it.
   */
  private async sweepsWithWork(): Promise<string[]> {
    const sweeps = await this.activeSweeps();
    if (sweeps.length <= 1) return sweeps;
    const of = this.sweepsCache;
    if (this.withWork?.of === of) return this.withWork.sweeps;
    const waiting = await Promise.all(
      sweeps.map(async (sweep) => {
        try {
          const info = await this.jsm.consumers.info(CELLS_STREAM, cellsConsumer(sweep));
          return info.num_pending > 0 || info.num_redelivered > 0 || info.num_ack_pending > 0;
        } catch (error) {
          if (isNotFound(error)) return false;
          throw error;
        }
      }),
    );
    this.withWork = { of, sweeps: sweeps.filter((_, i) => waiting[i]) };
    return this.withWork.sweeps;
  }

  private delivery(msg: PulledMessage, maxAttempts: number, leaseMs: number): Delivery {
    const task = json.decode(msg.data) as CellTask;
    return {
      task,
      // The queued message's sequence tells this queuing of the cell from an earlier one (results deleted, cell queued again).
      id: `${msg.streamSequence}.${msg.deliveryCount}`,
      attempt: msg.deliveryCount,
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
   * acked, so it is delivered again. Publications of one worker are pipelined on its connection.
   */
  async publishResult(row: ResultRow, deliveryId: string, signal?: AbortSignal): Promise<void> {
    const started = Date.now();
    let stoppingDeadline: number | null = null;
    for (;;) {
      if (signal?.aborted) stoppingDeadline ??= Date.now() + STOPPING_PUBLISH_MS;
      const deadline = stoppingDeadline ?? started + 60_000;
      const timeoutMs = Math.max(500, Math.min(PUBLISH_TIMEOUT_MS, deadline - Date.now()));
      try {
        await this.publisher.publish(resultsSubject(row.sweep, row.cell_id), json.encode(row), { msgID: `${row.sweep}.${row.cell_id}.${deliveryId}`, timeoutMs });
        return;
      } catch (error) {
        if (this.nc.isClosed() || Date.now() >= deadline) throw error;
        this.onTransientError?.(error as Error);
        await sleep(Math.min(500, deadline - Date.now()));
      }
    }
  }

  /**
   * The sweep's rows, pulled in batches, and its exhausted cells: a cell delivered MaxDeliver times without
   * an ack (its worker died every time) stays in a WorkQueue stream, undeliverable; the server's advisory
   * names it, and acking the event deletes it once the coordinator has recorded it as failed.
   */
  async *results(sweep: string): AsyncIterable<SweepEvent> {
    await this.jsm.consumers.info(RESULTS_STREAM, resultsConsumer(sweep)).catch((error) => {
      throw isNotFound(error) ? new Error(`sweep ${sweep} has no results consumer; prepareSweep first`) : error;
    });
    const events = new EventChannel<SweepEvent>();
    const stopEvents = () => events.end();
    this.stops.add(stopEvents);
    const advisories = this.nc.subscribe(exhaustedAdvisory(sweep), {
      callback: (error, advisory) => {
        if (error) return; // the subscription ends with the connection; a lost advisory leaves its cell leased (known limit)
        const { stream_seq: seq, deliveries } = json.decode(advisory.data) as { stream_seq: number; deliveries: number };
        this.exhaustedCell(seq, deliveries).then((event) => event && events.push(event), (failure: Error) => this.onTransientError?.(failure));
      },
    });
    const stopped = new AbortController();
    void this.pullRows(sweep, events, stopped.signal).finally(() => events.end());
    try {
      yield* events;
    } finally {
      this.stops.delete(stopEvents);
      advisories.unsubscribe();
      stopped.abort();
    }
  }

  /**
   * The sweep's rows into `events`, one pull of up to 512 after another (each waiting up to 5 s), until
   * `signal`. Raw pulls on the connection's one inbox, as the workers' (pulls.ts): a pull the server never
   * answers (its leader lost in a partition) is given up a second after its wait and pulled again. nats.js's
   * `consume` could stop pulling for good after a reconnect during a leader change (seen in the partition
   * tests: rows waiting, no pull open, the coordinator idle).
   */
  private async pullRows(sweep: string, events: EventChannel<SweepEvent>, signal: AbortSignal): Promise<void> {
    while (!signal.aborted && !this.closed) {
      try {
        for await (const msg of this.pulls.pull(RESULTS_STREAM, resultsConsumer(sweep), ROWS_PER_PULL, ROWS_WAIT_MS, signal)) {
          events.push({ type: 'row', row: json.decode(msg.data) as ResultRow, ack: async () => msg.ack() });
        }
      } catch (error) {
        if (signal.aborted || this.closed) return;
        // Refused or unanswered (a leader moving): pull again after a pause; anything else is worth a line.
        const code = (error as PullError).code;
        if (code !== '409' && code !== 'TIMEOUT') this.onTransientError?.(error as Error);
        await pauseAfterRefusal(signal);
      }
    }
  }

  /** The exhausted cell at `seq` as an event, or null when it is gone already (recorded by an earlier coordinator). */
  private async exhaustedCell(seq: number, deliveries: number): Promise<SweepEvent | null> {
    try {
      const stored = await this.jsm.streams.getMessage(CELLS_STREAM, { seq });
      const task = json.decode(stored.data) as CellTask;
      return {
        type: 'exhausted',
        task,
        deliveries,
        ack: async () => {
          await this.jsm.streams.deleteMessage(CELLS_STREAM, seq).catch((error) => {
            if (!isNotFound(error)) throw error;
          });
        },
      };
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  /**
   * The sweep's deliveries per cell and lease, from its record in the sweeps bucket (one cheap read), or for a
   * record written before it held the lease, from the consumer; null when the sweep's consumer is gone.
   * Not from the consumer each time: its info costs the server time in proportion to the cells queued, and a
   * thousand workers binding at once while a large grid was queueing stalled it.
   */
  private async cellsLease(sweep: string): Promise<CellsLease | null> {
    const known = this.leases.get(sweep);
    if (known) return known;
    const record = await this.sweeps.get(sweep);
    let lease: CellsLease;
    if (record?.lease_ms) lease = { maxDeliver: record.max_attempts, ackWaitMs: record.lease_ms };
    else {
      try {
        const { config } = await this.jsm.consumers.info(CELLS_STREAM, cellsConsumer(sweep));
        lease = { maxDeliver: config.max_deliver ?? -1, ackWaitMs: (config.ack_wait ?? 30e9) / 1e6 };
      } catch (error) {
        if (isNotFound(error)) return null;
        throw error;
      }
    }
    this.leases.set(sweep, lease);
    return lease;
  }

  /**
   * The sweeps a worker serves: the given one, or those marked running in the sweeps bucket, re-read every
   * SWEEPS_REFRESH_MS, sooner (IDLE_SWEEPS_REFRESH_MS) while none is running: a thousand idle workers asking
   * every half second kept a server busy answering them. When the bucket cannot be read (after a node loss, 2.9 answers some KV requests only after a
   * timeout) the last known list is kept, so that pulling goes on meanwhile.
   */
  private async activeSweeps(): Promise<string[]> {
    if (this.options.sweep) return [this.options.sweep];
    if (Date.now() - this.sweepsCache.at < this.sweepsCache.refreshMs) return this.sweepsCache.sweeps;
    try {
      const sweeps = await this.sweeps.running();
      // Spread over workers (± 25 %), so that a thousand of them do not ask together.
      const refreshMs = (sweeps.length > 0 ? SWEEPS_REFRESH_MS : IDLE_SWEEPS_REFRESH_MS) * (0.75 + Math.random() / 2);
      this.sweepsCache = { at: Date.now(), sweeps, refreshMs };
    } catch (error) {
      if (this.sweepsCache.at === 0) throw error;
      this.onTransientError?.(error as Error);
      this.sweepsCache = { ...this.sweepsCache, at: Date.now() };
    }
    return this.sweepsCache.sweeps;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.pulls.close();
    for (const stop of this.stops) stop();
  }
}

/**
 * The pause before pulling again after a pull the server refused or lost: spread over 0.25-0.75 s, or a
 * thousand workers retrying at once would keep the server busy refusing them.
 */
function pauseAfterRefusal(signal?: AbortSignal): Promise<void> {
  return sleep(250 + Math.random() * 500, signal);
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
