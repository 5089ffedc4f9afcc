import type { Argv } from 'yargs';
import { DEFAULT_BY, GROUP_FIELDS, type GroupField } from '@hessweep/analysis/types';
import { UsageError } from '../errors.js';

export const AGGREGATE_FORMATS = ['table', 'csv', 'arrow', 'json'] as const;

export function aggregateOptions(y: Argv) {
  return y
    .positional('dir', { type: 'string', demandOption: true, describe: 'a sweep directory (<out>/<name>) holding parts/part-*.arrow' })
    .option('by', {
      type: 'string',
      default: DEFAULT_BY.join(','),
      describe: `group cells by these fields, comma-separated (of ${GROUP_FIELDS.join(', ')})`,
    })
    .option('format', {
      type: 'string',
      choices: AGGREGATE_FORMATS,
      default: 'table' as (typeof AGGREGATE_FORMATS)[number],
      describe: 'what to print: a table, the CSV or JSON summary, or (arrow) the path of summary.arrow',
    });
}

type AggregateArgs = Awaited<ReturnType<typeof aggregateOptions>['argv']>;

/** The --by list as grouping fields; an unknown field is a usage error naming the valid ones. */
export function parseBy(text: string): GroupField[] {
  const fields = text.split(',').map((f) => f.trim()).filter((f) => f !== '');
  const bad = fields.filter((f) => !(GROUP_FIELDS as readonly string[]).includes(f));
  if (bad.length > 0) throw new UsageError(`--by: unknown field${bad.length > 1 ? 's' : ''} ${bad.join(', ')}; valid fields: ${GROUP_FIELDS.join(', ')}`);
  if (fields.length === 0) throw new UsageError(`--by: give at least one of ${GROUP_FIELDS.join(', ')}`);
  const repeated = fields.find((f, i) => fields.indexOf(f) !== i);
  if (repeated) throw new UsageError(`--by: ${repeated} given twice`);
  return fields as GroupField[];
}

/**
 * Aggregates a sweep over seeds (or --by groups): writes summary.arrow and summary.csv beside its parts,
 * then prints the table (default), the CSV, JSON (NaN as null), or with --format arrow the summary's path.
 */
export async function aggregateCommand(args: AggregateArgs): Promise<number> {
  const by = parseBy(args.by);
  const { aggregate, formatTable, summaryCsv, writeSummary } = await import('@hessweep/analysis');
  const result = await aggregate(args.dir, by);
  const files = await writeSummary(args.dir, result);
  switch (args.format) {
    case 'arrow':
      process.stdout.write(`${files.arrow}\n`);
      break;
    case 'csv':
      process.stdout.write(summaryCsv(result));
      break;
    case 'json':
      process.stdout.write(`${JSON.stringify({ dir: args.dir, by: result.by, cells: result.cells, parts: result.parts, files, groups: result.rows, failed: result.failed })}\n`);
      break;
    default:
      process.stdout.write(formatTable(result));
      process.stderr.write(`wrote ${files.arrow} and ${files.csv}\n`);
  }
  return 0;
}
