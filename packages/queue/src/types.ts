import type { Cell, ResultRow } from '@hessweep/grid';

/** One cell of one sweep, as it travels from the coordinator to a worker. */
export interface CellTask {
  sweep: string;
  cellId: string;
  cell: Cell;
}

/** A cell handed to a worker slot; it stays leased until acked or nak'ed. */
export interface Delivery {
  readonly task: CellTask;
  /** Unique to this delivery of this queuing of the cell: keys the result's publication. */
  readonly id: string;
  /** 1 on the first delivery, +1 on every redelivery. */
  readonly attempt: number;
  /** Deliveries the engine allows this cell, when the engine sets it (NATS: the consumer's MaxDeliver). */
  readonly maxAttempts?: number;
  /** How long the lease lasts without a heartbeat, when the engine has leases. */
  readonly leaseMs?: number;
  /** Keeps the lease alive while the cell runs (engines with lease timeouts redeliver otherwise). */
  working(): void;
  /** The cell is done: its result row (or final failure row) has been published. */
  ack(): Promise<void>;
  /** Give the cell back for another attempt. */
  nak(): Promise<void>;
}

/** A published result row; acked by the coordinator once the part file holding it is durable. */
export interface ResultDelivery {
  readonly type: 'row';
  readonly row: ResultRow;
  ack(): Promise<void>;
}

/**
 * A cell that used up its deliveries without any worker reporting it (each one died or lost its lease): the
 * coordinator records it as failed, then acks, which takes the cell out of the queue.
 */
export interface ExhaustedCell {
  readonly type: 'exhausted';
  readonly task: CellTask;
  readonly deliveries: number;
  ack(): Promise<void>;
}

/** What a sweep's coordinator reads from the queue. */
export type SweepEvent = ResultDelivery | ExhaustedCell;

/**
 * The work queue between coordinator and workers: the same code drives the in-process engine (embedded
 * sweeps) and NATS JetStream (distributed sweeps). At-least-once: a row may arrive twice, so consumers
 * key results by cell id.
 */
export interface Queue {
  /**
   * Queues the tasks not already queued or leased (idempotent per sweep and cell id); returns how many were
   * new. `tasks` is read once, in order, so a large grid can be generated as it is queued; `onProgress` is
   * called with the number of tasks looked at so far.
   */
  enqueue(tasks: Iterable<CellTask>, onProgress?: (looked: number) => void): Promise<number>;
  /**
   * Cells for up to `max` free worker slots, each yielded as it arrives: never more than `max` (a cell must
   * not wait in a buffer while its lease runs). Waits for the first; ends after `max`, when the engine's pull
   * wait passes without more, once the queue is closed, or when `signal` aborts.
   */
  pull(max: number, signal?: AbortSignal): AsyncIterable<Delivery>;
  /**
   * Publishes a cell's row; `deliveryId` is that of the delivery it answers (retries of one publication are
   * deduplicated by it). `signal` aborts while the worker stops: an engine that cannot publish then gives up
   * soon, and the unacknowledged cell is delivered again.
   */
  publishResult(row: ResultRow, deliveryId: string, signal?: AbortSignal): Promise<void>;
  /** Result rows (and exhausted cells) of one sweep in arrival order; ends when the queue is closed and every row was handed out. */
  results(sweep: string): AsyncIterable<SweepEvent>;
  /** Whether `close` was called. */
  readonly closed: boolean;
  /** No more work: waiting and future `next` calls return null, result streams end once drained. */
  close(): Promise<void>;
}
