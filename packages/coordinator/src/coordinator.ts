import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { HESSWEEP_VERSION, cellId, failedRow, specSettingsHash, type GridPlan, type GridPoint, type ResultRow, type SweepSpec } from '@hessweep/grid';
import type { CellTask, ExhaustedCell, Queue, ResultDelivery } from '@hessweep/queue';
import {
  acquireSweepLock, cellStates, damagedPartsError, describeCause, readManifest, removeTemps, scanParts, StorageError, SweepOwnedError,
  SweepStoreError, sweepPaths, writeManifest, writeResultFile, type CellState, type LockOwner, type Manifest, type SweepPaths,
} from '@hessweep/results';
import { SweepCompaction } from './compaction.js';

/** A refusal the user can act on (changed spec, bad results directory): one message, exit code 2. */
export class SweepError extends Error {
  override name = 'SweepError';
}

export interface SweepPlan {
  sweep: string;
  /** Every cell of the spec, in run order: a compact plan, each cell made when its task is. */
  grid: GridPlan;
  spec: Record<string, unknown>;
  specHash: string;
  settingsHash: string;
}

export interface SweepOptions {
  out: string;
  /** What this process is, for the directory lock (shown to a second process that is refused). */
  command?: string;
  /** Run only the cells at these grid points (a `--where` slice); default all. */
  include?: (point: GridPoint) => boolean;
  /** Rerun cells whose last row is `failed`. */
  retryFailed?: boolean;
  /** Accept a spec whose settings differ from the manifest's. */
  force?: boolean;
  /** Lease of the directory lock (default 60 s; tests shorten it). */
  lockLeaseMs?: number;
  /**
   * Called before each part is written; throws when this process no longer holds the sweep elsewhere (the
   * NATS coordinator's hold): the part is neither written nor acknowledged, and the run stops with that error.
   */
  confirmHold?: () => Promise<void>;
  onNote?: (message: string) => void;
  onProgress?: (progress: SweepProgress) => void;
}

export interface SweepProgress {
  /** Cells this run is responsible for. */
  total: number;
  ok: number;
  failed: number;
  /** Cells already done before this run (skipped). */
  skipped: number;
  startedAt: number;
  /** The row that just arrived, if any. */
  row?: ResultRow;
}

export interface SweepOutcome {
  sweep: string;
  dir: string;
  total: number;
  skipped: number;
  ok: number;
  failed: number;
  /** Cells neither skipped nor finished: the run was stopped before them. */
  remaining: number;
  parts: number;
}

/**
 * Plans a sweep against what its results directory already holds, queues the cells that are not done,
 * and turns result rows into Arrow part files until every queued cell has a row.
 *
 * Guarantees: one process writes a sweep directory at a time (its lock); a row is acked only once the part
 * holding it is durable, and a cell is written at most once per run and never again once it is ok, so a
 * crash at any point loses no written row and duplicates none. Damaged or foreign part files are refused
 * before anything runs. When a part cannot be written (disk full, read-only, I/O error) or the lock is lost,
 * the run stops at once with that error: rows not yet on disk stay unacknowledged (NATS delivers them again)
 * or are computed again by the next run.
 */
export async function runSweep(queue: Queue, plan: SweepPlan, options: SweepOptions): Promise<SweepOutcome> {
  const paths = sweepPaths(join(options.out, plan.sweep));
  const stop = new AbortController();
  const lock = await setUp(paths.dir, 'create it', async () => {
    await mkdir(paths.parts, { recursive: true });
    return acquireSweepLock(paths, {
      command: options.command ?? `hessweep ${plan.sweep}`,
      leaseMs: options.lockLeaseMs,
      onNote: options.onNote,
      onLost: (holder) => stop.abort(lockLost(paths.dir, holder)),
    });
  });
  try {
    const done = await prepare(paths, plan, options);
    const { wanted, queued, ok, failed } = selectCells(plan.grid, done, options);
    const skipped = ok + failed;
    const progress: SweepProgress = { total: wanted, ok, failed, skipped, startedAt: Date.now() };
    if (skipped) options.onNote?.(`${skipped} of ${wanted} cells already have rows; running the other ${queued.length}`);
    options.onProgress?.({ ...progress });
    /** Ids of the queued cells, added as their tasks are made. */
    const todo = new Set<string>();

    // A writer stalled past its lease (suspended, swapped out) may have been replaced before its heartbeats
    // noticed: it checks before each part, or it would write rows its successor writes too, or acknowledge
    // rows its successor waits for.
    const confirm = async () => {
      if (!(await lock.held())) throw stop.signal.reason;
      await options.confirmHold?.();
    };
    const compaction = new SweepCompaction(paths.parts, { confirm, expectedRows: plan.grid.size, onNote: options.onNote });
    const writer = new PartWriter(paths.parts, { sweep: plan.sweep, specHash: plan.specHash, version: HESSWEEP_VERSION }, confirm, compaction, (error) => stop.abort(error));
    try {
      if (queued.length > 0) {
        const recorded = new Set<string>();
        // Rows are written while a large grid is still being queued; the run is over once every cell was
        // queued and each has its row.
        const allQueued = new AbortController();
        let enqueued = false;
        queue.enqueue(tasksOf(plan, queued, todo), stepNotes(options.onNote, 'queueing', queued.length)).then(
          () => {
            enqueued = true;
            if (recorded.size === todo.size) allQueued.abort();
          },
          (error: Error) => stop.abort(error),
        );
        for await (const event of untilAborted(queue.results(plan.sweep), AbortSignal.any([stop.signal, allQueued.signal]))) {
          const delivery = event.type === 'row' ? event : exhaustedRow(plan.sweep, event);
          const id = delivery.row.cell_id;
          if (!todo.has(id)) {
            // A stray row: its cell had a row before this run, or is not in the plan.
            await delivery.ack();
            continue;
          }
          if (recorded.has(id)) {
            // A redelivered row: dropped once the first row of its cell is on disk. Acked before that, it would
            // be lost with the first should that never be written (a full disk, a coordinator taken over).
            writer.addDuplicate(delivery);
            continue;
          }
          recorded.add(id);
          writer.add(delivery);
          progress[delivery.row.status]++;
          options.onProgress?.({ ...progress, row: delivery.row });
          if (enqueued && recorded.size === todo.size) break;
        }
      }
    } finally {
      await writer.close();
      await compaction.settle();
    }
    if (stop.signal.aborted) throw stop.signal.reason;
    if (wanted === progress.ok + progress.failed) await compaction.finish();
    return {
      sweep: plan.sweep,
      dir: paths.dir,
      total: wanted,
      skipped,
      ok: progress.ok,
      failed: progress.failed,
      remaining: wanted - progress.ok - progress.failed,
      parts: writer.parts,
    };
  } finally {
    await lock.release();
  }
}

/**
 * A step before any cell runs: a file-system error there means the directory given cannot serve as this
 * sweep's (a file in the way, read-only, no permission), which is the operator's to fix: a SweepStoreError.
 */
async function setUp<T>(dir: string, action: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    if (error instanceof StorageError) throw new SweepStoreError(`cannot use ${dir} for results: ${error.message}`);
    if ((error as NodeJS.ErrnoException).code !== undefined) throw new SweepStoreError(`cannot use ${dir} for results: cannot ${action}: ${describeCause(error)}`);
    throw error;
  }
}

function lockLost(dir: string, holder: LockOwner | null): SweepOwnedError {
  const by = holder ? `pid ${holder.pid} on ${holder.host}` : 'someone who removed its lock file';
  return new SweepOwnedError(`${dir}: stopped: its lock was taken over by ${by} (this process's heartbeat lapsed); rows already written are kept`);
}

/**
 * Checks the manifest against the plan, refuses damaged or foreign parts, removes temp files of killed
 * writers, writes the updated manifest, and returns the state of every cell that has a row.
 */
async function prepare(paths: SweepPaths, plan: SweepPlan, options: SweepOptions): Promise<Map<string, CellState>> {
  const existing = await readManifest(paths.manifest);
  if (existing && existing.sweep !== plan.sweep) {
    throw new SweepStoreError(`${paths.manifest} is the manifest of sweep "${existing.sweep}", not "${plan.sweep}"`);
  }
  // The stored spec is checked against its hash, so its settings can be hashed again by today's rule: a
  // manifest written when the rule counted more (backend, before 0.2) is not mistaken for a changed spec.
  const changed = existing !== null && existing.settings_hash !== plan.settingsHash && settingsHashOf(existing.spec) !== plan.settingsHash;
  if (changed && !options.force) {
    throw new SweepError(
      `the spec of sweep "${plan.sweep}" changed since ${existing.updated} (training or measurement settings differ from ${paths.manifest}); ` +
        'use a new sweep name, or --force to run it under this name anyway (the existing rows stay)',
    );
  }
  const scan = await scanParts(paths.parts, { sweep: plan.sweep, specHashes: existing?.spec_hashes });
  if (scan.damaged.length > 0) throw damagedPartsError(paths.dir, scan.damaged);
  if (scan.temps.length > 0) {
    await removeTemps(paths.parts, scan.temps);
    options.onNote?.(`removed ${scan.temps.length} unfinished temp file(s) left by an interrupted run: ${scan.temps.join(', ')}`);
  }
  if (existing && existing.spec_hash !== plan.specHash) options.onNote?.(`the grid of sweep "${plan.sweep}" changed; running only the cells that have no row yet`);
  const now = new Date().toISOString();
  // Every spec this directory ran under: what a part of this sweep may carry.
  const history = existing?.spec_hashes ?? [...(existing ? [existing.spec_hash] : []), ...scan.specHashes];
  const manifest: Manifest = {
    sweep: plan.sweep,
    spec: plan.spec,
    spec_hash: plan.specHash,
    spec_hashes: [...new Set([...history, plan.specHash])],
    settings_hash: plan.settingsHash,
    cell_count: plan.grid.size,
    versions: { hessweep: HESSWEEP_VERSION, node: process.version },
    created: existing?.created ?? now,
    updated: now,
  };
  await setUp(paths.dir, 'write its manifest', () => writeManifest(paths.manifest, manifest));
  return cellStates(scan.parts);
}

/** The settings hash of a manifest's stored spec by today's rule; undefined for a spec not of today's shape. */
function settingsHashOf(spec: Record<string, unknown>): string | undefined {
  try {
    return specSettingsHash(spec as unknown as SweepSpec);
  } catch {
    return undefined;
  }
}

/** The failed row the coordinator records for a cell that used up its deliveries; acking it takes the cell out of the queue. */
function exhaustedRow(sweep: string, cell: ExhaustedCell): ResultDelivery {
  const context = { cellId: cell.task.cellId, sweep, worker: 'coordinator', attempt: cell.deliveries, backend: 'unknown' };
  const error = `no worker finished the cell in ${cell.deliveries} deliveries (each worker died or timed out)`;
  return { type: 'row', row: failedRow(cell.task.cell, context, error), ack: cell.ack };
}

/**
 * The cells of the plan this run is responsible for (`include`), and of those the indices to queue: the cells
 * without a row, or with a failed one when retrying. Cell ids are computed only when there are rows to
 * check them against (a first run queues without them).
 */
function selectCells(grid: GridPlan, done: Map<string, CellState>, options: SweepOptions): { wanted: number; queued: Uint32Array; ok: number; failed: number } {
  const queued = new Uint32Array(grid.size);
  const counts = { wanted: 0, queued: 0, ok: 0, failed: 0 };
  const note = stepNotes(options.onNote, 'checking against the rows on disk', grid.size);
  for (let i = 0; i < grid.size; i++) {
    if (i % 10_000 === 0) note(i);
    if (options.include && !options.include(grid.pointAt(i))) continue;
    counts.wanted++;
    const state = done.size > 0 ? done.get(grid.idAt(i)) : undefined;
    if (state === 'ok' || (state === 'failed' && !options.retryFailed)) counts[state]++;
    else queued[counts.queued++] = i;
  }
  note(grid.size);
  return { wanted: counts.wanted, queued: queued.subarray(0, counts.queued), ok: counts.ok, failed: counts.failed };
}

/** The tasks of the cells at `indices`, each made as the queue reads it; each id is added to `ids`. */
function* tasksOf(plan: SweepPlan, indices: Uint32Array, ids: Set<string>): Generator<CellTask> {
  for (const i of indices) {
    const cell = plan.grid.cellAt(i);
    const id = cellId(cell);
    ids.add(id);
    yield { sweep: plan.sweep, cellId: id, cell };
  }
}

/**
 * Progress of a long step as notes, `<what>: N of TOTAL cells`, every few seconds: the first only once the
 * step has taken that long (a small grid gets none), and a last one at the end of a step that got any.
 */
function stepNotes(onNote: ((message: string) => void) | undefined, what: string, total: number, everyMs = 2000): (done: number) => void {
  let last = Date.now();
  let noted: number | undefined;
  return (done) => {
    const due = Date.now() - last >= everyMs || (noted !== undefined && done === total);
    if (!onNote || !due || done === noted) return;
    last = Date.now();
    noted = done;
    onNote(`${what}: ${done.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} cells`);
  };
}

/** `source` until `signal` aborts (then the loop ends without waiting for the next item). */
async function* untilAborted<T>(source: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  try {
    while (!signal.aborted) {
      const next = await nextUnlessAborted(iterator, signal);
      if (next.done) return;
      yield next.value;
    }
  } finally {
    // Not awaited: a generator's return waits for its pending next, which may never come.
    void iterator.return?.();
  }
}

/**
 * The iterator's next item, or done once `signal` aborts. The abort listener lives for one item only: racing
 * each item against one abort promise for the whole run left a reaction on that promise per item, and each
 * kept its item reachable (a sweep held every row it had written, about 1 kB a cell, until it ended).
 */
function nextUnlessAborted<T>(iterator: AsyncIterator<T>, signal: AbortSignal): Promise<IteratorResult<T>> {
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve({ done: true, value: undefined });
    signal.addEventListener('abort', onAbort, { once: true });
    iterator.next().then(
      (next) => {
        signal.removeEventListener('abort', onAbort);
        resolve(next);
      },
      (error) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) resolve({ done: true, value: undefined });
        else reject(error);
      },
    );
  });
}

/**
 * Writes rows as they come, batching naturally: while one part is being written and fsynced, new rows
 * wait and go together into the next. Each delivery is acked after its part is durable, and so is each
 * duplicate of a row in it. A failed write is reported once through `onFailure`; its rows, any after
 * it, and their duplicates are neither written nor acked.
 */
class PartWriter {
  parts = 0;
  private buffer: ResultDelivery[] = [];
  private writing: Promise<void> | null = null;
  private sequence = 0;
  private failure: Error | null = null;
  /** Cells whose row is on disk. */
  private readonly durable = new Set<string>();
  /** Duplicates of rows not yet on disk, by cell id: acked when their cell's row is. */
  private readonly duplicates = new Map<string, ResultDelivery[]>();

  constructor(
    private readonly dir: string,
    private readonly meta: { sweep: string; specHash: string; version: string },
    /** Throws when this process may no longer write the sweep. */
    private readonly confirm: () => Promise<void>,
    /** Takes turns with the part writes (compaction.ts). */
    private readonly compaction: SweepCompaction,
    private readonly onFailure: (error: Error) => void,
  ) {}

  add(delivery: ResultDelivery): void {
    if (this.failure) return;
    this.buffer.push(delivery);
    if (!this.writing) this.writing = this.drain();
  }

  /** Another delivery of a row already added: acked once that row is durable, never if it is not written. */
  addDuplicate(delivery: ResultDelivery): void {
    const id = delivery.row.cell_id;
    if (this.durable.has(id)) void delivery.ack();
    else if (!this.failure) this.duplicates.set(id, [...(this.duplicates.get(id) ?? []), delivery]);
  }

  async close(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async drain(): Promise<void> {
    try {
      while (this.buffer.length > 0 && !this.failure) {
        const batch = this.buffer;
        this.buffer = [];
        await this.compaction.exclusive(async () => {
          await this.confirm();
          const name = `part-${Date.now().toString().padStart(14, '0')}-${process.pid}-${String(this.sequence++).padStart(6, '0')}.arrow`;
          await writeResultFile(join(this.dir, name), batch.map((d) => d.row), this.meta);
        });
        this.parts++;
        this.compaction.partWritten();
        const ids = batch.map((d) => d.row.cell_id);
        for (const id of ids) this.durable.add(id);
        await Promise.all([...batch, ...ids.flatMap((id) => this.duplicates.get(id) ?? [])].map((d) => d.ack()));
        for (const id of ids) this.duplicates.delete(id);
      }
    } catch (error) {
      this.failure =
        error instanceof StorageError
          ? new StorageError(error.path, error.action, error.cause, 'the sweep stopped; rows already on disk are kept, the others are computed (or delivered) again when it runs again after the fault is fixed')
          : (error as Error);
      this.buffer = [];
      this.duplicates.clear();
      this.onFailure(this.failure);
    } finally {
      this.writing = null;
    }
  }
}
