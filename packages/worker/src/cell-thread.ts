import { Worker as Thread } from 'node:worker_threads';
import type { ResultRow } from '@hessweep/grid';
import type { CellReply, CellRequest } from './protocol.js';

/** A cell threw: the message is the cell's error, to be retried or recorded. */
export class CellError extends Error {
  override name = 'CellError';
}

/** The thread was terminated or died while a cell ran. */
export class ThreadLostError extends Error {
  override name = 'ThreadLostError';
}

/**
 * One worker thread that runs cells one at a time. Compute happens off the main thread, so the process
 * that talks to the queue stays responsive (heartbeats, signals). A thread that dies is replaced on the next run.
 */
export class CellThread {
  private thread: Thread | null = null;
  private pending: { id: number; resolve: (row: ResultRow) => void; reject: (error: Error) => void } | null = null;
  private nextId = 0;

  /** `script` is the thread entry; only tests pass another (one that dies on cue). */
  constructor(private readonly script: URL = new URL('./thread.js', import.meta.url)) {}

  run(request: Omit<CellRequest, 'id'>): Promise<ResultRow> {
    if (this.pending) return Promise.reject(new Error('CellThread: one cell at a time'));
    const thread = this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending = { id, resolve, reject };
      thread.postMessage({ ...request, id } satisfies CellRequest);
    });
  }

  /** Stops the thread; a running cell rejects with ThreadLostError. */
  async terminate(): Promise<void> {
    const thread = this.thread;
    this.thread = null;
    if (thread) await thread.terminate();
    this.fail(new ThreadLostError('worker thread terminated while the cell ran'));
  }

  private start(): Thread {
    if (this.thread) return this.thread;
    const thread = new Thread(this.script);
    thread.on('message', (reply: CellReply) => {
      const pending = this.pending;
      if (!pending || pending.id !== reply.id) return;
      this.pending = null;
      if (reply.row) pending.resolve(reply.row);
      else pending.reject(new CellError(reply.error));
    });
    thread.on('error', (error) => {
      this.thread = null;
      this.fail(new CellError(`worker thread crashed: ${error.message}`));
    });
    thread.on('exit', (code) => {
      if (this.thread === thread) this.thread = null;
      this.fail(new ThreadLostError(`worker thread exited with code ${code} while the cell ran`));
    });
    this.thread = thread;
    return thread;
  }

  private fail(error: Error): void {
    const pending = this.pending;
    this.pending = null;
    pending?.reject(error);
  }
}
