import type { ResultRow } from '@hessweep/grid';
import type { CellTask, Delivery, Queue, SweepEvent } from './types.js';

/** A FIFO of any length with O(1) removal at the front (Array.shift copies the whole array). */
class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    // Compacted once the consumed front is half of the array: amortised O(1).
    if (this.head * 2 >= this.items.length && this.head > 1024) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

/** A FIFO whose consumers wait for the next item; `end()` releases them with `undefined`. */
class Channel<T> {
  private readonly items = new Fifo<T>();
  private readonly waiting: ((item: T | undefined) => void)[] = [];
  private ended = false;

  push(item: T): void {
    const waiter = this.waiting.shift();
    if (waiter) waiter(item);
    else this.items.push(item);
  }

  take(signal?: AbortSignal): Promise<T | undefined> {
    if (signal?.aborted) return Promise.resolve(undefined);
    if (this.items.length > 0) return Promise.resolve(this.items.shift());
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const waiter = (item: T | undefined) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(item);
      };
      const onAbort = () => {
        this.waiting.splice(this.waiting.indexOf(waiter), 1);
        resolve(undefined);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  /** The first item if one is waiting, without waiting. */
  poll(): T | undefined {
    return this.items.shift();
  }

  end(): void {
    this.ended = true;
    for (const waiter of this.waiting.splice(0)) waiter(undefined);
  }
}

/**
 * The embedded engine: cells and results in memory, for a coordinator and workers in one process.
 * A nak'ed cell goes to the back of the queue with its attempt count raised.
 */
export class InProcessQueue implements Queue {
  private readonly cells = new Channel<{ task: CellTask; attempt: number }>();
  /** Keys of cells queued or leased, so that enqueue is idempotent. */
  private readonly live = new Set<string>();
  private readonly resultChannels = new Map<string, Channel<ResultRow>>();
  closed = false;
  private deliveries = 0;

  async enqueue(tasks: Iterable<CellTask>, onProgress?: (looked: number) => void): Promise<number> {
    let added = 0;
    let looked = 0;
    for (const task of tasks) {
      if (++looked % 10_000 === 0) onProgress?.(looked);
      const key = `${task.sweep}.${task.cellId}`;
      if (this.live.has(key) || this.closed) continue;
      this.live.add(key);
      this.cells.push({ task, attempt: 1 });
      added++;
    }
    onProgress?.(looked);
    return added;
  }

  async *pull(max: number, signal?: AbortSignal): AsyncIterable<Delivery> {
    // A turn of the event loop per pull, as a real engine's delivery takes: a worker whose cells finish
    // without I/O (a dry run) would otherwise hand cells round in promise callbacks alone and starve every
    // file write and signal until the queue ran dry (the coordinator then held every row in memory).
    await new Promise<void>((resolve) => setImmediate(resolve));
    let item = await this.cells.take(signal);
    for (let taken = 0; item && taken < max; taken++) {
      yield this.delivery(item);
      if (taken + 1 < max) item = signal?.aborted ? undefined : this.cells.poll();
    }
  }

  private delivery(item: { task: CellTask; attempt: number }): Delivery {
    const key = `${item.task.sweep}.${item.task.cellId}`;
    let settled = false;
    const settle = () => {
      if (settled) throw new Error(`cell ${key}: delivery already acked or nak'ed`);
      settled = true;
    };
    return {
      task: item.task,
      id: String(++this.deliveries),
      attempt: item.attempt,
      working: () => {},
      ack: async () => {
        settle();
        this.live.delete(key);
      },
      nak: async () => {
        settle();
        if (this.closed) this.live.delete(key);
        else this.cells.push({ task: item.task, attempt: item.attempt + 1 });
      },
    };
  }

  async publishResult(row: ResultRow, _deliveryId: string): Promise<void> {
    this.channel(row.sweep).push(row);
  }

  async *results(sweep: string): AsyncIterable<SweepEvent> {
    const channel = this.channel(sweep);
    for (;;) {
      const row = await channel.take();
      if (!row) return;
      yield { type: 'row', row, ack: async () => {} };
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.cells.end();
    for (const channel of this.resultChannels.values()) channel.end();
  }

  private channel(sweep: string): Channel<ResultRow> {
    let channel = this.resultChannels.get(sweep);
    if (!channel) {
      channel = new Channel<ResultRow>();
      if (this.closed) channel.end();
      this.resultChannels.set(sweep, channel);
    }
    return channel;
  }
}
