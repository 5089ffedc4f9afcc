import type { Argv } from 'yargs';
import { existsSync, statSync } from 'node:fs';
import { planGrid, type SweepSpec } from '@hessweep/grid';
import type { Manifest, PartScan, SweepPaths } from '@hessweep/results';
import { UsageError } from '../errors.js';
import type { NatsQueue, SweepRecord, WorkerRecord } from '@hessweep/queue';
import { checkSweepName, natsConnectionOptions, natsOptionsFrom } from '../nats-options.js';
import { describeProgress } from '../sweep-progress.js';

export function statusOptions(y: Argv) {
  return natsConnectionOptions(y)
    .positional('target', { type: 'string', describe: 'a sweep directory (<out>/<name>), or with --nats a sweep name (default: all)' })
    .option('json', { type: 'boolean', default: false, describe: 'one JSON object on stdout' })
    .option('quarantine', { type: 'boolean', default: false, describe: 'move damaged or foreign part files into <dir>/quarantine/ (their cells run again on the next resume)' })
    .option('limit', { type: 'number', default: 20, describe: 'missing and failed cells (with --nats: workers) listed at most' });
}

type StatusArgs = Awaited<ReturnType<typeof statusOptions>['argv']>;

export async function statusCommand(args: StatusArgs): Promise<number> {
  if (args.nats) return natsStatus(args);
  if (!args.target) throw new UsageError('give a sweep directory (<out>/<name>), or --nats URL for the sweeps on a NATS server');
  return directoryStatus({ ...args, dir: args.target });
}

/**
 * Per-state counts of a sweep directory against its spec, which cells are missing or failed (the row standing
 * for each cell by the store's rule), and which part files cannot be used. Exit 2 while such files remain;
 * `--quarantine` moves them aside.
 */
async function directoryStatus(args: StatusArgs & { dir: string }): Promise<number> {
  if (!existsSync(args.dir) || !statSync(args.dir).isDirectory()) throw new UsageError(`${args.dir}: no such directory; give a sweep directory, <out>/<name>`);
  const { describeOwner, inspectLock, quarantineParts, readConsistently, readManifest, SweepOwnedError, sweepPaths } = await import('@hessweep/results');
  const paths = sweepPaths(args.dir);
  const manifest = await readManifest(paths.manifest);
  if (!manifest) throw new UsageError(`${args.dir}: no manifest.json here; give the sweep's directory, <out>/<name>`);
  const lock = await inspectLock(paths);
  const { scan, rows } = await readConsistently(args.dir, () => winningCells(paths, manifest));
  let quarantined: string[] = [];
  if (args.quarantine && scan.damaged.length > 0) {
    if (lock?.live && lock.owner) throw new SweepOwnedError(`not quarantining while ${args.dir} is being written by ${describeOwner(lock.owner)}`);
    quarantined = await quarantineParts(paths, scan.damaged);
  }
  const damaged = args.quarantine ? [] : scan.damaged;

  const grid = planGrid(manifest.spec as unknown as SweepSpec);
  const describe = (i: number, cell_id: string) => ({ cell_id, ...grid.pointAt(i) });
  const missing: ReturnType<typeof describe>[] = [];
  const failed: (ReturnType<typeof describe> & { error: string | null })[] = [];
  let ok = 0;
  for (let i = 0; i < grid.size; i++) {
    const id = grid.idAt(i);
    const row = rows.get(id);
    if (!row) missing.push(describe(i, id));
    else if (row.ok) ok++;
    else failed.push({ ...describe(i, id), error: row.error });
  }
  const owner = lock?.live && lock.owner ? describeOwner(lock.owner) : null;
  const report = { sweep: manifest.sweep, cells: grid.size, ok, failed: failed.length, missing: missing.length, updated: manifest.updated, writer: owner };
  const damagedList = damaged.map((d) => ({ file: d.name, reason: d.reason }));
  if (args.json) {
    process.stdout.write(`${JSON.stringify({ ...report, missing_cells: missing, failed_cells: failed, damaged_files: damagedList, quarantined })}\n`);
    return damaged.length > 0 ? 2 : 0;
  }
  const line = (c: ReturnType<typeof describe>) => `  ${c.cell_id}  ${c.dataset} width ${c.width} depth ${c.depth} seed ${c.seed} m ${c.sample_size}`;
  const out = [`sweep ${report.sweep}: ${report.cells} cells — ${ok} ok, ${failed.length} failed, ${missing.length} missing (last run ${report.updated})`];
  if (owner) out.push(`being written by ${owner}`);
  if (failed.length) out.push('failed:', ...failed.slice(0, args.limit).map((c) => `${line(c)}: ${c.error}`));
  if (missing.length) out.push('missing:', ...missing.slice(0, args.limit).map(line));
  if (failed.length + missing.length > 2 * args.limit) out.push(`(lists cut at ${args.limit}; --limit N or --json for all)`);
  if (damaged.length) {
    out.push(`damaged or foreign part files (not counted; \`hessweep status ${args.dir} --quarantine\` moves them aside):`);
    out.push(...damaged.map((d) => `  ${d.name}: ${d.reason}`));
  }
  if (quarantined.length) out.push(`moved ${quarantined.length} part file(s) into ${paths.quarantine}; their cells run again on the next resume`);
  process.stdout.write(`${out.join('\n')}\n`);
  return damaged.length > 0 ? 2 : 0;
}

/** The parts of a sweep directory and the row standing for each cell (its state and error). */
async function winningCells(paths: SweepPaths, manifest: Manifest): Promise<{ scan: PartScan; rows: Map<string, { ok: boolean; error: string | null }> }> {
  const { findWinners, ROW_LOST, ROW_OK, scanParts, utf8At, utf8Bytes, winningBatches } = await import('@hessweep/results');
  const scan = await scanParts(paths.parts, { sweep: manifest.sweep, specHashes: manifest.spec_hashes });
  const rows = new Map<string, { ok: boolean; error: string | null }>();
  for await (const { batch, mask } of winningBatches(scan.parts, await findWinners(scan.parts), ['cell_id', 'error'])) {
    const ids = batch.columns.get('cell_id')!;
    const errors = batch.columns.get('error')!;
    const [idBytes, errorBytes] = [utf8Bytes(ids), utf8Bytes(errors)];
    for (let j = 0; j < batch.numRows; j++) {
      if (mask[j] !== ROW_LOST) rows.set(utf8At(ids, idBytes, j)!, { ok: mask[j] === ROW_OK, error: utf8At(errors, errorBytes, j) });
    }
  }
  return { scan, rows };
}

/** Sweeps on a NATS server: counts per state from the coordinator's record and the queue, workers seen, rate, ETA. */
async function natsStatus(args: StatusArgs): Promise<number> {
  if (args.target !== undefined) checkSweepName(args.target, 'status --nats');
  const { closeNats, connectNats, NatsQueue } = await import('@hessweep/queue');
  const nc = await connectNats(await natsOptionsFrom(args, 'hessweep-status'));
  try {
    const queue = await NatsQueue.open(nc);
    const records = args.target ? [await queue.sweeps.get(args.target)] : await queue.sweeps.list();
    const sweeps = [];
    for (const record of records) {
      if (!record) throw new UsageError(`no sweep named "${args.target}" on this NATS server`);
      sweeps.push({ ...record, queue: await queue.queueState(record.sweep) });
    }
    const workers = await queue.workers.list();
    if (args.json) {
      process.stdout.write(`${JSON.stringify({ sweeps, workers })}\n`);
      return 0;
    }
    const lines: string[] = [];
    for (const s of sweeps as (SweepRecord & { queue: Awaited<ReturnType<NatsQueue['queueState']>> })[]) {
      const progress = describeProgress({ total: s.total, ok: s.ok, failed: s.failed, skipped: 0, startedAt: Date.parse(s.started) }, Date.parse(s.updated));
      lines.push(`sweep ${s.sweep} [${s.state}]: ${progress}`);
      if (s.queue) lines.push(`  queue: ${s.queue.pending} waiting, ${s.queue.leased} running, ${s.queue.redelivered} redelivered`);
    }
    if (sweeps.length === 0) lines.push('no sweeps on this server');
    lines.push(...describeWorkers(workers, args.limit));
    process.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  } finally {
    await closeNats(nc);
  }
}

/** Workers summed up in one line, then the first `limit` by name: a thousand workers stay readable. */
function describeWorkers(workers: WorkerRecord[], limit: number): string[] {
  const sum = (field: 'slots' | 'busy' | 'done') => workers.reduce((total, w) => total + w[field], 0);
  const lines = [`workers seen in the last minute: ${workers.length}` + (workers.length ? ` (${sum('busy')}/${sum('slots')} slots busy, ${sum('done')} cells done)` : '')];
  const shown = [...workers].sort((a, b) => a.name.localeCompare(b.name)).slice(0, limit);
  for (const w of shown) lines.push(`  ${w.name}: ${w.busy}/${w.slots} busy, ${w.done} cells done, last seen ${w.seen}`);
  if (workers.length > shown.length) lines.push(`  … and ${workers.length - shown.length} more (--limit N, or --json for all)`);
  return lines;
}
