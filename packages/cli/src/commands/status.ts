import type { Argv } from 'yargs';
import { join } from 'node:path';
import { cellId, expandGrid, type SweepSpec } from '@hessweep/grid';
import { readManifest } from '@hessweep/coordinator';
import { readResultDir } from '@hessweep/results';
import { UsageError } from '../errors.js';

export function statusOptions(y: Argv) {
  return y
    .positional('dir', { type: 'string', demandOption: true, describe: 'a sweep directory (<out>/<name>)' })
    .option('json', { type: 'boolean', default: false, describe: 'one JSON object on stdout' })
    .option('limit', { type: 'number', default: 20, describe: 'missing and failed cells listed at most' });
}

type StatusArgs = Awaited<ReturnType<typeof statusOptions>['argv']>;

/** Per-state counts of a sweep directory against its spec, and which cells are missing or failed. */
export async function statusCommand(args: StatusArgs): Promise<number> {
  const manifest = await readManifest(join(args.dir, 'manifest.json'));
  if (!manifest) throw new UsageError(`${args.dir}: no manifest.json here; give the sweep's directory, <out>/<name>`);
  const cells = expandGrid(manifest.spec as SweepSpec);
  const rows = new Map<string, { status: 'ok' | 'failed'; error: string | null; attempt: number }>();
  for await (const row of readResultDir(join(args.dir, 'parts'))) {
    if (row.status === 'ok' || !rows.has(row.cell_id)) rows.set(row.cell_id, { status: row.status, error: row.error, attempt: row.attempt });
  }
  const describe = (i: number) => {
    const c = cells[i];
    return { cell_id: cellId(c), dataset: c.dataset, width: c.width, depth: c.depth, seed: c.seed, sample_size: c.sample_size };
  };
  const missing: ReturnType<typeof describe>[] = [];
  const failed: (ReturnType<typeof describe> & { error: string | null })[] = [];
  let ok = 0;
  cells.forEach((cell, i) => {
    const row = rows.get(cellId(cell));
    if (!row) missing.push(describe(i));
    else if (row.status === 'ok') ok++;
    else failed.push({ ...describe(i), error: row.error });
  });
  const report = { sweep: manifest.sweep, cells: cells.length, ok, failed: failed.length, missing: missing.length, updated: manifest.updated };
  if (args.json) {
    process.stdout.write(`${JSON.stringify({ ...report, missing_cells: missing, failed_cells: failed })}\n`);
    return 0;
  }
  const line = (c: ReturnType<typeof describe>) => `  ${c.cell_id}  ${c.dataset} width ${c.width} depth ${c.depth} seed ${c.seed} m ${c.sample_size}`;
  const out = [`sweep ${report.sweep}: ${report.cells} cells — ${ok} ok, ${failed.length} failed, ${missing.length} missing (last run ${report.updated})`];
  if (failed.length) out.push('failed:', ...failed.slice(0, args.limit).map((c) => `${line(c)}: ${c.error}`));
  if (missing.length) out.push('missing:', ...missing.slice(0, args.limit).map(line));
  if (failed.length + missing.length > 2 * args.limit) out.push(`(lists cut at ${args.limit}; --limit N or --json for all)`);
  process.stdout.write(`${out.join('\n')}\n`);
  return 0;
}
