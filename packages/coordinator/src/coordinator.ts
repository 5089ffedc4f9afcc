import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { HESSWEEP_VERSION, cellId, specSettingsHash, type Cell, type ResultRow, type SweepSpec } from '@hessweep/grid';
import type { CellTask, Queue, ResultDelivery } from '@hessweep/queue';
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
  /** Every cell of the spec, in run order. */
  cells: Cell[];
  spec: Record<string, unknown>;
  specHash: string;
  settingsHash: string;
}

export interface SweepOptions {
  out: string;
  /** What this process is, for the directory lock (shown to a second process that is refused). */
  command?: string;
  /** Run only these cells of the plan (a `--where` slice); default all. */
  include?: (cell: Cell) => boolean;
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
    const wanted = plan.cells.filter((cell) => options.include?.(cell) ?? true);
    const todo = new Map<string, Cell>();
    let skipped = 0;
    const progress: SweepProgress = { total: wanted.length, ok: 0, failed: 0, skipped: 0, startedAt: Date.now() };
    for (const cell of wanted) {
      const id = cellId(cell);
      const state: CellState | undefined = done.get(id);
      if (state === 'ok' || (state === 'failed' && !options.retryFailed)) {
        skipped++;
        progress[state]++;
      } else {
        todo.set(id, cell);
      }
    }
    progress.skipped = skipped;
    if (skipped) options.onNote?.(`${skipped} of ${wanted.length} cells already have rows; running the other ${todo.size}`);
    options.onProgress?.({ ...progress });

    // A writer stalled past its lease (suspended, swapped out) may have been replaced before its heartbeats
    // noticed: it checks before each part, or it would write rows its successor writes too, or acknowledge
    // rows its successor waits for.
    const confirm = async () => {
      if (!(await lock.held())) throw stop.signal.reason;
      await options.confirmHold?.();
    };
    const compaction = new SweepCompaction(paths.parts, { confirm, expectedRows: plan.cells.length, onNote: options.onNote });
    const writer = new PartWriter(paths.parts, { sweep: plan.sweep, specHash: plan.specHash, version: HESSWEEP_VERSION }, confirm, compaction, (error) => stop.abort(error));
    try {
      if (todo.size > 0) {
        await queue.enqueue(tasksOf(plan.sweep, todo));
        const recorded = new Set<string>();
        for await (const delivery of untilAborted(queue.results(plan.sweep), stop.signal)) {
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
          if (recorded.size === todo.size) break;
        }
      }
    } finally {
      await writer.close();
      await compaction.settle();
    }
    if (stop.signal.aborted) throw stop.signal.reason;
    if (wanted.length === progress.ok + progress.failed) await compaction.finish();
    return {
      sweep: plan.sweep,
      dir: paths.dir,
      total: wanted.length,
      skipped,
      ok: progress.ok,
      failed: progress.failed,
      remaining: wanted.length - progress.ok - progress.failed,
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
    cell_count: plan.cells.length,
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

function* tasksOf(sweep: string, cells: Map<string, Cell>): Generator<CellTask> {
  for (const [cellId, cell] of cells) yield { sweep, cellId, cell };
}

/** `source` until `signal` aborts (then the loop ends without waiting for the next item). */
async function* untilAborted<T>(source: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  const aborted = new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
  aborted.catch(() => undefined);
  try {
    while (!signal.aborted) {
      const next = await Promise.race([iterator.next(), aborted]).catch((error) => {
        if (signal.aborted) return { done: true as const, value: undefined };
        throw error;
      });
      if (next.done) return;
      yield next.value;
    }
  } finally {
    // Not awaited: a generator's return waits for its pending next, which may never come.
    void iterator.return?.();
  }
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
