import { join } from 'node:path';
import { HESSWEEP_VERSION, cellId, type Cell, type ResultRow } from '@hessweep/grid';
import type { Queue, ResultDelivery } from '@hessweep/queue';
import { writeResultFile } from '@hessweep/results';
import { ensureDir, readManifest, removeStrayTemps, scanDone, sweepPaths, writeManifest, type CellStatus, type Manifest } from './sweep-dir.js';

/** A refusal the user can act on (changed spec, bad results directory): one message, exit code 2. */
export class SweepError extends Error {
  override name = 'SweepError';
}

export interface SweepPlan {
  sweep: string;
  /** Every cell of the spec, in run order. */
  cells: Cell[];
  spec: unknown;
  specHash: string;
  settingsHash: string;
}

export interface SweepOptions {
  out: string;
  /** Run only these cells of the plan (a `--where` slice); default all. */
  include?: (cell: Cell) => boolean;
  /** Rerun cells whose last row is `failed`. */
  retryFailed?: boolean;
  /** Accept a spec whose settings differ from the manifest's. */
  force?: boolean;
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
 * and turns result rows into Arrow part files until every queued cell has a row. A row is acked only once
 * the part holding it is on disk (temp name, fsync, rename), and a cell is written at most once per run
 * and never again once it is ok, so a crash at any point loses no written row and duplicates none.
 */
export async function runSweep(queue: Queue, plan: SweepPlan, options: SweepOptions): Promise<SweepOutcome> {
  const paths = sweepPaths(options.out, plan.sweep);
  await ensureDir(paths.parts);
  await checkManifest(paths.manifest, plan, options);
  const stray = await removeStrayTemps(paths.parts);
  if (stray.length) options.onNote?.(`removed ${stray.length} unfinished temp file(s) left by an interrupted run: ${stray.join(', ')}`);

  const done = await scanDone(paths.parts);
  const wanted = plan.cells.filter((cell) => options.include?.(cell) ?? true);
  const todo = new Map<string, Cell>();
  let skipped = 0;
  for (const cell of wanted) {
    const id = cellId(cell);
    const status: CellStatus | undefined = done.get(id);
    if (status === 'ok' || (status === 'failed' && !options.retryFailed)) skipped++;
    else todo.set(id, cell);
  }
  if (skipped) options.onNote?.(`${skipped} of ${wanted.length} cells already have rows; running the other ${todo.size}`);

  const progress: SweepProgress = { total: wanted.length, ok: 0, failed: 0, skipped, startedAt: Date.now() };
  for (const cell of wanted) {
    const status = done.get(cellId(cell));
    if (status === 'ok') progress.ok++;
    else if (status === 'failed' && !options.retryFailed) progress.failed++;
  }
  options.onProgress?.({ ...progress });
  const writer = new PartWriter(paths.parts, plan.specHash);
  if (todo.size > 0) {
    await queue.enqueue([...todo].map(([id, cell]) => ({ sweep: plan.sweep, cellId: id, cell })));
    const recorded = new Set<string>();
    for await (const delivery of queue.results(plan.sweep)) {
      const id = delivery.row.cell_id;
      if (!todo.has(id) || recorded.has(id)) {
        // A redelivered or stray row: its cell is already on disk (or not ours); drop it.
        await delivery.ack();
        continue;
      }
      recorded.add(id);
      writer.add(delivery);
      if (delivery.row.status === 'ok') progress.ok++;
      else progress.failed++;
      options.onProgress?.({ ...progress, row: delivery.row });
      if (recorded.size === todo.size) break;
    }
  }
  await writer.close();
  const finished = progress.ok + progress.failed;
  return {
    sweep: plan.sweep,
    dir: paths.dir,
    total: wanted.length,
    skipped,
    ok: progress.ok,
    failed: progress.failed,
    remaining: wanted.length - finished,
    parts: writer.parts,
  };
}

async function checkManifest(path: string, plan: SweepPlan, options: SweepOptions): Promise<void> {
  const existing = await readManifest(path);
  const now = new Date().toISOString();
  if (existing && existing.settings_hash !== plan.settingsHash && !options.force) {
    throw new SweepError(
      `the spec of sweep "${plan.sweep}" changed since ${existing.updated} (training or measurement settings differ from ${path}); ` +
        'use a new sweep name, or --force to run it under this name anyway (the existing rows stay)',
    );
  }
  if (existing && existing.spec_hash !== plan.specHash) options.onNote?.(`the grid of sweep "${plan.sweep}" changed; running only the cells that have no row yet`);
  const manifest: Manifest = {
    sweep: plan.sweep,
    spec: plan.spec,
    spec_hash: plan.specHash,
    settings_hash: plan.settingsHash,
    cell_count: plan.cells.length,
    versions: { hessweep: HESSWEEP_VERSION, node: process.version },
    created: existing?.created ?? now,
    updated: now,
  };
  await writeManifest(path, manifest);
}

/**
 * Writes rows as they come, batching naturally: while one part is being written and fsynced, new rows
 * wait and go together into the next. Each delivery is acked after its part is durable.
 */
class PartWriter {
  parts = 0;
  private buffer: ResultDelivery[] = [];
  private writing: Promise<void> | null = null;
  private sequence = 0;
  private failure: Error | null = null;

  constructor(
    private readonly dir: string,
    private readonly specHash: string,
  ) {}

  add(delivery: ResultDelivery): void {
    if (this.failure) throw this.failure;
    this.buffer.push(delivery);
    if (!this.writing) this.writing = this.drain();
  }

  async close(): Promise<void> {
    while (this.writing) await this.writing;
    if (this.failure) throw this.failure;
  }

  private async drain(): Promise<void> {
    try {
      while (this.buffer.length > 0) {
        const batch = this.buffer;
        this.buffer = [];
        const name = `part-${Date.now().toString().padStart(14, '0')}-${process.pid}-${String(this.sequence++).padStart(6, '0')}.arrow`;
        await writeResultFile(join(this.dir, name), batch.map((d) => d.row), { specHash: this.specHash, version: HESSWEEP_VERSION });
        this.parts++;
        await Promise.all(batch.map((d) => d.ack()));
      }
    } catch (error) {
      this.failure = error as Error;
    } finally {
      this.writing = null;
    }
  }
}
