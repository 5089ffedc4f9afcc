import { hostname } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { cellMemory, failedRow, formatBytes, type BackendChoice, type Cell, type ResultRow, type TrainerChoice } from '@hessweep/grid';
import { settleWithin, type Delivery, type Queue, type WorkerRecord } from '@hessweep/queue';
import { CellThread, ThreadLostError } from './cell-thread.js';
import { MemoryBudget, curvatureEngineFor } from './memory.js';
import type { CellRequest } from './protocol.js';

export interface WorkerOptions {
  /** Cells computed at once, each on its own thread. */
  slots: number;
  /** Deliveries of a cell before it is recorded as failed, unless the queue says otherwise per delivery. */
  maxAttempts: number;
  backend: BackendChoice;
  /** Default `auto` (the fused step except on `tensorflow`). */
  trainer?: TrainerChoice;
  /** Recorded in every row. */
  name?: string;
  /** How often running cells tell the queue they are alive (at least three times per lease). */
  heartbeatMs?: number;
  /** Where the worker announces itself while it runs (`status` lists it); none by default. */
  directory?: WorkerDirectory;
  /** How often its entry there is refreshed. */
  presenceMs?: number;
  onEvent?: (event: WorkerEvent) => void;
  /** A pull failed in a way the queue did not absorb itself; the worker pulls again half a second later. */
  onPullError?: (error: Error) => void;
  /** Where cells run; default one worker thread per slot. Tests pass runners that need no thread. */
  createRunner?: () => CellRunner;
  /** Bytes the running cells may use together (see `MemoryBudget`); default no limit. */
  memory?: number;
  /** A cell's peak memory in bytes; default `cellMemory` for this worker's backend. Tests pass their own. */
  estimate?: (cell: Cell) => number;
}

/** Runs one cell at a time; `terminate` stops a running cell with ThreadLostError. */
export interface CellRunner {
  run(request: Omit<CellRequest, 'id'>): Promise<ResultRow>;
  terminate(): Promise<void>;
}

export type WorkerEvent =
  | { type: 'start'; delivery: Delivery }
  | { type: 'done'; delivery: Delivery; row: ResultRow }
  | { type: 'retry'; delivery: Delivery; error: string }
  | { type: 'failed'; delivery: Delivery; error: string }
  /** A cell needs more memory than the worker has for all its cells: given back for another worker. */
  | { type: 'declined'; delivery: Delivery; needed: number; budget: number }
  /** A cell fits the worker's memory but not what running cells leave free: it waits for them, its lease kept. */
  | { type: 'waiting'; delivery: Delivery; needed: number; free: number }
  /** A finished cell's row could not be published (server unreachable): the cell will be delivered again. */
  | { type: 'dropped'; delivery: Delivery; error: string };

/** How long a stopping worker waits for its directory entry to be removed. */
const GOODBYE_MS = 2000;

/** Where a worker announces itself (the NATS workers bucket): refreshed while it runs, removed when it stops. */
export interface WorkerDirectory {
  put(key: string, record: WorkerRecord): Promise<void>;
  delete(key: string): Promise<void>;
}

/**
 * Pulls cells from a queue into `slots` runners: each pull asks for as many cells as there are free slots,
 * never more (a prefetched cell's lease would run while it waits). A finished cell frees its slot at once;
 * its row is published while the next cell runs, and the cell is acked once the row is. One timer keeps the
 * leases of every running, waiting or publishing cell alive. A cell that throws is nak'ed for another
 * attempt, and after `maxAttempts` published as a failed row.
 *
 * Memory: each cell reserves its estimated peak (`estimate`) in the worker's `MemoryBudget`. A thread's tfjs
 * heap only grows, so the reservation stays with the runner after its cell ends: a runner holds the largest
 * estimate of the cells its thread ran, and a later cell on it reserves only what exceeds that. Memory comes
 * back by ending threads, and only when a cell needs it: idle runners' threads first, then each runner's
 * whose cell ends while a cell waits. A cell larger than the whole budget is given back (`declined`) and, on
 * its last attempt, failed with the memory it needs. Pulls ask for no more cells than the memory left could
 * hold at the size of the smallest cell seen.
 */
export class Worker {
  private readonly stopping = new AbortController();
  private readonly threads: CellRunner[];
  private readonly idle: CellRunner[];
  private abandoned = false;
  /** Cells asked for by open pulls and not yet delivered. */
  private requested = 0;
  private pulls = 0;
  private pumpScheduled = false;
  /** Deliveries waiting for memory, computing or publishing: their leases are kept alive. */
  private readonly leased = new Set<Delivery>();
  private readonly tasks = new Set<Promise<void>>();
  private readonly record: WorkerRecord;
  private readonly name: string;
  private heartbeat: { timer: NodeJS.Timeout; everyMs: number } | null = null;
  private finished: (() => void) | null = null;
  private readonly budget: MemoryBudget;
  private readonly estimate: (cell: Cell) => number;
  /** Bytes reserved for each runner's thread: the largest estimate among the cells it ran since it started. */
  private readonly held = new Map<CellRunner, number>();
  /** The smallest estimate of the cells that fit the budget, seen so far. */
  private smallest = Infinity;

  constructor(
    private readonly queue: Queue,
    private readonly options: WorkerOptions,
  ) {
    this.threads = Array.from({ length: options.slots }, options.createRunner ?? (() => new CellThread()));
    this.idle = [...this.threads];
    this.name = options.name ?? `${hostname()}:${process.pid}`;
    this.record = { name: this.name, slots: options.slots, busy: 0, done: 0, sweeps: [], seen: '' };
    this.budget = new MemoryBudget(options.memory ?? Infinity);
    const engine = curvatureEngineFor(options.backend);
    this.estimate = options.estimate ?? ((cell) => cellMemory(cell, engine).total);
  }

  /** Runs until the queue closes or `stop` is called; resolves when every cell taken has been published or given back. */
  async run(): Promise<void> {
    const presence = this.startPresence();
    try {
      await presence.registered;
      await new Promise<void>((resolve) => {
        this.finished = resolve;
        this.pump();
      });
      await Promise.all(this.tasks);
    } finally {
      if (this.heartbeat) clearInterval(this.heartbeat.timer);
      await presence.stop();
      await Promise.all(this.threads.map((thread) => thread.terminate()));
    }
  }

  /**
   * `drain`: take no more cells, let running ones finish and publish. `abandon`: also stop running cells
   * now; they are neither acked nor published, so the queue hands them out again. Either way cells still
   * waiting for memory are given back (nak).
   */
  stop(mode: 'drain' | 'abandon'): void {
    this.stopping.abort();
    if (mode === 'abandon') {
      this.abandoned = true;
      for (const thread of this.threads) void thread.terminate();
    }
    this.checkFinished();
  }

  private get ending(): boolean {
    return this.stopping.signal.aborted || this.queue.closed;
  }

  /** Opens a pull for the free slots not yet asked for; frees within one turn of the event loop share a pull. */
  private pump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      const wanted = this.wanted();
      if (wanted > 0 && !this.ending) void this.pullInto(wanted);
      this.checkFinished();
    });
  }

  /**
   * Cells to ask for: free runners not yet asked for, and no more than the memory left (free, less what waiting
   * cells asked for, plus what idle runners hold and would give back) holds cells of the smallest size seen.
   */
  private wanted(): number {
    const available = this.budget.free - this.budget.waiting + this.idle.reduce((sum, runner) => sum + (this.held.get(runner) ?? 0), 0);
    const fit = this.smallest === Infinity ? Infinity : Math.floor(available / this.smallest);
    return Math.min(this.idle.length, fit) - this.requested;
  }

  private async pullInto(max: number): Promise<void> {
    this.requested += max;
    this.pulls++;
    let delivered = 0;
    try {
      for await (const delivery of this.queue.pull(max, this.stopping.signal)) {
        delivered++;
        this.requested--;
        this.track(this.work(delivery, this.takeRunner()));
      }
    } catch (error) {
      // Engines report what a retry absorbs themselves; anything else ends this pull, and the next one retries.
      this.options.onPullError?.(error as Error);
      await delay(500);
    } finally {
      this.requested -= max - delivered;
      this.pulls--;
      this.pump();
    }
  }

  /** The idle runner that holds the most memory: the one most likely to need no more for its next cell. */
  private takeRunner(): CellRunner {
    let best = this.idle.length - 1;
    for (let i = 0; i < this.idle.length; i++) if ((this.held.get(this.idle[i]) ?? 0) > (this.held.get(this.idle[best]) ?? 0)) best = i;
    return this.idle.splice(best, 1)[0];
  }

  private track(task: Promise<void>): void {
    this.tasks.add(task);
    void task.finally(() => {
      this.tasks.delete(task);
      this.checkFinished();
    });
  }

  /** Ends `run` once no more cells will be taken and none is running or publishing. */
  private checkFinished(): void {
    if (this.finished && this.ending && this.pulls === 0 && this.tasks.size === 0) this.finished();
  }

  /** Runs one delivered cell on `runner`, publishes its row, acks it. */
  private async work(delivery: Delivery, runner: CellRunner): Promise<void> {
    const { task, attempt } = delivery;
    const context = { cellId: task.cellId, sweep: task.sweep, worker: this.name, attempt, backend: this.options.backend, trainer: this.options.trainer };
    this.lease(delivery);
    try {
      const row = await this.compute(delivery, runner, context);
      if (row === null || !(await this.publish(row, delivery))) return;
      await delivery.ack();
      this.record.done++;
      this.options.onEvent?.(row.status === 'ok' ? { type: 'done', delivery, row } : { type: 'failed', delivery, error: row.error ?? '' });
    } finally {
      this.leased.delete(delivery);
    }
  }

  /**
   * The row of a delivered cell, computed on `runner` once its memory is reserved, or failed on its last
   * attempt; null when the cell was given back (for another attempt, or abandoned). The runner is free again
   * (while the row is published) once this returns.
   */
  private async compute(delivery: Delivery, runner: CellRunner, context: CellRequest['context']): Promise<ResultRow | null> {
    const { task } = delivery;
    try {
      const needed = this.estimate(task.cell);
      if (needed > this.budget.total) {
        const budget = this.budget.total;
        const error = `needs about ${formatBytes(needed)} of memory (estimated from its shape), more than the ${formatBytes(budget)} this worker has for its cells: run it on workers with more memory (--memory)`;
        return await this.retryOrFail(delivery, context, error, { type: 'declined', delivery, needed, budget });
      }
      this.smallest = Math.min(this.smallest, needed);
      if (!(await this.reserve(runner, needed, delivery))) return null;
      this.record.busy++;
      if (!this.record.sweeps.includes(task.sweep)) this.record.sweeps.push(task.sweep);
      this.options.onEvent?.({ type: 'start', delivery });
      try {
        return await runner.run({ cell: task.cell, context });
      } catch (error) {
        if (error instanceof ThreadLostError && this.abandoned) return null;
        const message = (error as Error).message;
        return await this.retryOrFail(delivery, context, message, { type: 'retry', delivery, error: message });
      } finally {
        this.record.busy--;
      }
    } finally {
      // A cell waits for memory: this thread's goes back now, not when the runner is next needed.
      if (this.budget.waiting > 0) this.endThread(runner);
      // The slot is free while the row is published.
      if (!this.abandoned) {
        this.idle.push(runner);
        this.pump();
      }
    }
  }

  /** A cell that did not produce a row on this delivery: nak'ed for another attempt (`event`, null), or its failed row on its last. */
  private async retryOrFail(delivery: Delivery, context: CellRequest['context'], error: string, event: WorkerEvent): Promise<ResultRow | null> {
    const attempts = delivery.maxAttempts && delivery.maxAttempts > 0 ? delivery.maxAttempts : this.options.maxAttempts;
    if (delivery.attempt < attempts) {
      await delivery.nak();
      this.options.onEvent?.(event);
      return null;
    }
    return failedRow(delivery.task.cell, { ...context, backend: String(this.options.backend) }, error);
  }

  /**
   * Reserves what `runner` needs beyond what its thread holds to run a cell of `needed` bytes: at once if free
   * (after ending idle threads if that frees enough), else after waiting for running cells. A worker that
   * stops while the cell waits gives it back (nak): false.
   */
  private async reserve(runner: CellRunner, needed: number, delivery: Delivery): Promise<boolean> {
    const held = this.held.get(runner) ?? 0;
    const extra = Math.max(0, needed - held);
    if (!this.budget.tryReserve(extra)) {
      for (const idle of this.idle) this.endThread(idle);
      if (!this.budget.tryReserve(extra)) {
        this.options.onEvent?.({ type: 'waiting', delivery, needed, free: this.budget.free });
        try {
          await this.budget.reserve(extra, this.stopping.signal);
        } catch {
          await delivery.nak();
          return false;
        }
      }
    }
    this.held.set(runner, held + extra);
    return true;
  }

  /** Ends `runner`'s thread, which gives its heap back, and releases what was reserved for it; the next cell starts a new one. */
  private endThread(runner: CellRunner): void {
    const held = this.held.get(runner) ?? 0;
    if (held === 0) return;
    this.held.set(runner, 0);
    this.budget.release(held);
    void runner.terminate();
  }

  /**
   * Publishes a finished cell's row. A queue that cannot publish gives up after its retries (soon, while the
   * worker stops); the row is then dropped, reported as an event, and the cell, never acked, is delivered
   * again: false.
   */
  private async publish(row: ResultRow, delivery: Delivery): Promise<boolean> {
    try {
      await this.queue.publishResult(row, delivery.id, this.stopping.signal);
      return true;
    } catch (error) {
      this.options.onEvent?.({ type: 'dropped', delivery, error: (error as Error).message });
      return false;
    }
  }

  /** Keeps `delivery`'s lease alive with one timer for all leases, ticking at least three times per lease. */
  private lease(delivery: Delivery): void {
    this.leased.add(delivery);
    const everyMs = Math.min(this.options.heartbeatMs ?? 5000, delivery.leaseMs ? delivery.leaseMs / 3 : Infinity);
    if (this.heartbeat && this.heartbeat.everyMs <= everyMs) return;
    if (this.heartbeat) clearInterval(this.heartbeat.timer);
    const timer = setInterval(() => {
      for (const leased of this.leased) leased.working();
    }, everyMs);
    timer.unref();
    this.heartbeat = { timer, everyMs };
  }

  /**
   * Announces the worker in `options.directory`, refreshed every `presenceMs` from a random offset (a
   * thousand workers started together do not write together), and removed when it stops.
   */
  private startPresence(): { registered: Promise<void>; stop: () => Promise<void> } {
    const directory = this.options.directory;
    if (!directory) return { registered: Promise.resolve(), stop: async () => {} };
    const key = workerKey(this.name);
    const everyMs = this.options.presenceMs ?? 10_000;
    // The record is written as it is, best effort: it only feeds `status`, and its TTL forgets a worker that stops writing.
    const put = () => directory.put(key, { ...this.record, seen: new Date().toISOString() }).catch(() => undefined);
    let interval: NodeJS.Timeout | undefined;
    const first = setTimeout(() => {
      void put();
      interval = setInterval(put, everyMs);
    }, Math.random() * everyMs);
    return {
      registered: put(),
      stop: async () => {
        clearTimeout(first);
        clearInterval(interval);
        // Bounded: a worker stopping because its server is gone must not wait for it (the TTL forgets the entry).
        await settleWithin(directory.delete(key), GOODBYE_MS);
      },
    };
  }
}

/** A worker name as a key of the workers' directory: what a NATS KV key may not hold replaced. */
export function workerKey(name: string): string {
  return name.replace(/[^A-Za-z0-9_=-]/g, '_');
}

/**
 * A runner that computes nothing: each cell gets an `ok` row with its identity and null measurements at once.
 * For measuring and testing the orchestration itself (queue, workers, coordinator, part files).
 */
export function dryRunner(): CellRunner {
  return {
    run: async ({ cell, context }) => Object.assign(failedRow(cell, { ...context, backend: 'none' }, ''), { status: 'ok' as const, error: null }),
    terminate: async () => {},
  };
}
