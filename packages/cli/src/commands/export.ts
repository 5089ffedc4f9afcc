import type { Argv } from 'yargs';
import { EXPORT_FORMATS, type ExportFormat } from '@hessweep/analysis/types';

export function exportOptions(y: Argv) {
  return y
    .positional('dir', { type: 'string', demandOption: true, describe: 'a sweep directory (<out>/<name>) holding parts/part-*.arrow' })
    .option('to', { type: 'string', choices: EXPORT_FORMATS, demandOption: true, describe: 'parquet (lists kept) or csv (lists ;-joined)' })
    .option('out', { type: 'string', describe: 'file to write (default: <dir>/export.parquet or <dir>/export.csv)' });
}

type ExportArgs = Awaited<ReturnType<typeof exportOptions>['argv']>;

/** Writes every cell of a sweep (deduplicated: a cell's last ok row, else its last failure) to one Parquet or CSV file. */
export async function exportCommand(args: ExportArgs): Promise<number> {
  const { exportSweep } = await import('@hessweep/analysis');
  const result = await exportSweep(args.dir, args.to as ExportFormat, args.out);
  process.stdout.write(`${result.path}: ${result.rows} rows from ${result.parts} part files\n`);
  return 0;
}
