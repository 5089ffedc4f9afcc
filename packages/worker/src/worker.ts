import { hostname } from 'node:os';
import { failedRow, type BackendChoice, type ResultRow } from '@hessweep/grid';
import type { Delivery, Queue } from '@hessweep/queue';
import { CellThread, ThreadLostError } from './cell-thread.js';
import type { CellRequest } from './protocol.js';

export interface WorkerOptions {
  /** Cells computed at once, each on its own thread. */
  slots: number;
  /** Deliveries of a cell before it is recorded as failed, unless the queue says otherwise per delivery. */
  maxAttempts: number;
  backend: BackendChoice;
  /** Recorded in every row. */
  name?: string;
  /** How often a running cell tells the queue it is alive. */
  heartbeatMs?: number;
  onEvent?: (event: WorkerEvent) => void;
  /** Where cells run; default one worker thread per slot. Tests pass runners that need no thread. */
  createRunner?: () => CellRunner;
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
  /** A finished cell's row could not be published (server unreachable): the cell will be delivered again. */
  | { type: 'dropped'; delivery: Delivery; error: string };

/**
 * Pulls cells from a queue into `slots` threads: one cell per slot at a time (a prefetched cell's lease
 * would run while it waits), a heartbeat while it runs, the row published before the ack. A cell that
 * throws is nak'ed for another attempt, and after `maxAttempts` published as a failed row.
 */
export class Worker {
  private readonly stopping = new AbortController();
  private readonly threads: CellRunner[];
  private abandoned = false;

  constructor(
    private readonly queue: Queue,
    private readonly options: WorkerOptions,
  ) {
    this.threads = Array.from({ length: options.slots }, options.createRunner ?? (() => new CellThread()));
  }

  /** Runs until the queue closes or `stop` is called; resolves when every slot has finished. */
  async run(): Promise<void> {
    try {
      await Promise.all(this.threads.map((thread) => this.slot(thread)));
    } finally {
      await Promise.all(this.threads.map((thread) => thread.terminate()));
    }
  }

  /**
   * `drain`: take no more cells, let running ones finish and publish. `abandon`: also stop running cells
   * now; they are neither acked nor published, so the queue hands them out again.
   */
  stop(mode: 'drain' | 'abandon'): void {
    this.stopping.abort();
    if (mode === 'abandon') {
      this.abandoned = true;
      for (const thread of this.threads) void thread.terminate();
    }
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

  private async slot(thread: CellRunner): Promise<void> {
    const { maxAttempts, backend, heartbeatMs = 5000, onEvent } = this.options;
    const name = this.options.name ?? `${hostname()}:${process.pid}`;
    for (;;) {
      const delivery = await this.queue.next(this.stopping.signal);
      if (!delivery) return;
      const { task, attempt } = delivery;
      const attempts = delivery.maxAttempts && delivery.maxAttempts > 0 ? delivery.maxAttempts : maxAttempts;
      const context = { sweep: task.sweep, worker: name, attempt, backend };
      onEvent?.({ type: 'start', delivery });
      const heartbeat = setInterval(() => delivery.working(), delivery.leaseMs ? Math.min(heartbeatMs, delivery.leaseMs / 3) : heartbeatMs);
      try {
        let row: ResultRow;
        try {
          row = await thread.run({ cell: task.cell, context });
        } catch (error) {
          if (error instanceof ThreadLostError && this.abandoned) return;
          const message = (error as Error).message;
          if (attempt < attempts) {
            await delivery.nak();
            onEvent?.({ type: 'retry', delivery, error: message });
            continue;
          }
          row = failedRow(task.cell, { ...context, backend: String(backend) }, message);
        }
        if (!(await this.publish(row, delivery))) continue;
        await delivery.ack();
        onEvent?.(row.status === 'ok' ? { type: 'done', delivery, row } : { type: 'failed', delivery, error: row.error ?? '' });
      } finally {
        clearInterval(heartbeat);
      }
    }
  }
}

/**
 * A runner that computes nothing: each cell gets an `ok` row with its identity and null measurements at once.
 * For measuring and testing the orchestration itself (queue, workers, coordinator, part files).
 */
export function dryRunner(): CellRunner {
  return {
    run: async ({ cell, context }) => ({ ...failedRow(cell, { ...context, backend: 'none' }, ''), status: 'ok', error: null }),
    terminate: async () => {},
  };
}
